"""Pages for people: the landing page and the viewer's live room (``/live/{session_id}``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from liveshop import __version__
from liveshop.catalog import service as catalog_service
from liveshop.deps import RuntimeDep, SessionDep
from liveshop.live import service as live_service
from liveshop.web.templating import page

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, session: SessionDep) -> Response:
    """The landing page: who is live now (watch, console), what is coming, the replays, and
    what is on sale."""
    products, _ = await catalog_service.list_products(session, published_only=True, limit=24)
    sessions = {
        status: (await live_service.list_sessions(session, status=status, limit=12))[0]
        for status in ("live", "scheduled", "ended")
    }
    return page(
        request,
        "index.html",
        config={},
        products=products,
        version=__version__,
        live=sessions["live"],
        scheduled=sessions["scheduled"],
        ended=sessions["ended"],
    )


@router.get("/live/{session_id}", response_class=HTMLResponse)
async def live_room(
    request: Request, session_id: str, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """The viewer's live room: the page, then everything over the room WebSocket."""
    live = await live_service.get_or_raise(session, session_id=session_id)
    config = {"session_id": live.id, "like_max": runtime.settings.like_max_per_message}
    return page(request, "live.html", config=config, session_title=live.title)


@router.get("/console/sessions/{session_id}", response_class=HTMLResponse)
async def console(request: Request, session_id: str, session: SessionDep) -> Response:
    """The anchor's and operators' console: the page; who may act is the API's answer (the
    page signs in with the same token as the viewer page, then calls the session's APIs)."""
    live = await live_service.get_or_raise(session, session_id=session_id)
    config = {"session_id": live.id, "anchor_id": live.anchor_id}
    return page(request, "console.html", config=config, session_title=live.title)
