"""Pages for people: the landing page (the live room and consoles come with later issues)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from liveshop import __version__
from liveshop.catalog import service as catalog_service
from liveshop.deps import SessionDep
from liveshop.web.templating import templates

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, session: SessionDep) -> Response:
    products, _ = await catalog_service.list_products(session, published_only=True, limit=24)
    return templates.TemplateResponse(
        request, "index.html", {"products": products, "version": __version__}
    )
