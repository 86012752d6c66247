"""Back-office pages: the merchant console (``/console/merchant``) and the admin page
(``/console/admin``). Server-rendered shells; their module reads the merchant/admin APIs
with the signed-in user's token, so every rule (merchant scope, admin only) is the API's."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from liveshop.web.templating import page

router = APIRouter(include_in_schema=False)


def _page(request: Request, kind: str) -> Response:
    return page(request, "backoffice.html", config={"kind": kind}, kind=kind)


@router.get("/console/merchant", response_class=HTMLResponse)
async def merchant_console(request: Request) -> Response:
    """Products and SKUs, stock per warehouse, orders, and the live sessions the merchant's
    products appear in."""
    return _page(request, "merchant")


@router.get("/console/admin", response_class=HTMLResponse)
async def admin_console(request: Request) -> Response:
    """Accounts and their roles (grant, revoke)."""
    return _page(request, "admin")
