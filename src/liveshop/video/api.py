"""Live video over HTTP: nginx-rtmp's hooks, and the anchor's ingest settings.

The hooks (``/video/hooks/{secret}/...``) are called by the configured nginx only: the
secret (``LIVESHOP_VIDEO_HOOK_SECRET``) is part of the callback URL that ``liveshop video
config`` writes, and a call without it is refused (403, ``video.bad_hook_secret``), so
nobody else can flip a session's stream state through them. nginx-rtmp sends its
notifications form-encoded; any 4xx refuses a publish, a 3xx renames the stream.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel

from liveshop.deps import CurrentPrincipal, Runtime, RuntimeDep, SessionDep
from liveshop.errors import Problem, forbidden, invalid
from liveshop.live import service as live_service
from liveshop.video import flows
from liveshop.video import service as video
from liveshop.video.models import VideoStream

router = APIRouter(tags=["video"])
MAX_HOOK_BODY = 8 * 1024


class StreamOut(BaseModel):
    """What an anchor enters in OBS (Settings > Stream: Service "Custom", Server, Stream Key)
    and the stream's state."""

    session_id: str
    server_url: str
    stream_key: str
    status: str
    playback_url: str
    online_at: str | None
    offline_at: str | None
    publishes: int
    key_rotated_at: str | None


def _stream_out(runtime: Runtime, stream: VideoStream) -> StreamOut:
    return StreamOut(
        session_id=stream.session_id,
        server_url=runtime.settings.rtmp_url,
        stream_key=video.obs_stream_key(stream),
        status=stream.status,
        playback_url=video.playback_url(runtime.settings, stream.session_id),
        online_at=live_service.iso(stream.online_at),
        offline_at=live_service.iso(stream.offline_at),
        publishes=stream.publishes,
        key_rotated_at=live_service.iso(stream.key_rotated_at),
    )


@router.get("/live/sessions/{session_id}/stream", response_model=StreamOut)
async def get_stream(
    session_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> StreamOut:
    """The ingest settings (server URL + stream key) and the stream's state: the anchor,
    its operators and admins only."""
    live = await live_service.get_or_raise(session, session_id=session_id)
    await live_service.require_manager(session, principal=principal, live=live)
    stream = await video.ensure_stream(session, live=live, now=runtime.clock.now())
    await session.commit()
    return _stream_out(runtime, stream)


@router.post("/live/sessions/{session_id}/stream/rotate-key", response_model=StreamOut)
async def rotate_key(
    session_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> StreamOut:
    """A new stream key; the old one is refused from now on."""
    live = await live_service.get_or_raise(session, session_id=session_id, lock=True)
    await live_service.require_manager(session, principal=principal, live=live)
    now = runtime.clock.now()
    stream = await video.ensure_stream(session, live=live, now=now)
    video.rotate_key(stream, now=now)
    await session.commit()
    return _stream_out(runtime, stream)


# -- nginx-rtmp's hooks ---------------------------------------------------------------------

Secret = Annotated[str, Path(max_length=200)]


async def _form(request: Request, secret: str, runtime: Runtime) -> dict[str, str]:
    if not hmac.compare_digest(secret.encode(), runtime.settings.hook_secret.encode()):
        raise forbidden("this hook URL is not the configured one", "video.bad_hook_secret")
    body = await request.body()
    if len(body) > MAX_HOOK_BODY:
        raise invalid("video.bad_hook", "the notification is too large", "body")
    try:
        fields = parse_qs(body.decode("ascii"), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise invalid("video.bad_hook", "send application/x-www-form-urlencoded", "body") from exc
    form = {name: values[0] for name, values in fields.items()}
    form.update({k: v for k, v in request.query_params.items() if k not in form})
    if not form.get("name"):
        raise invalid("video.bad_hook", "name (the stream name) is required", "name")
    return form


@router.post(
    "/video/hooks/{secret}/publish",
    status_code=204,
    responses={403: {"description": "video.bad_hook_secret, video.unknown_key, ..."}},
)
async def hook_publish(secret: Secret, request: Request, runtime: RuntimeDep) -> Response:
    """``on_publish`` (``name`` = session id, ``key`` = the secret from the stream key's
    arguments): 204 accepts, 403 refuses (the encoder's connection fails)."""
    form = await _form(request, secret, runtime)
    if form.get("app", "live") != "live":
        raise Problem(403, "video.unknown_app", "publish to the application 'live'")
    await flows.on_publish(
        runtime, name=form["name"], key=form.get("key", ""), client_id=form.get("clientid", "")
    )
    return Response(status_code=204)


@router.post("/video/hooks/{secret}/publish_done", status_code=204)
async def hook_publish_done(secret: Secret, request: Request, runtime: RuntimeDep) -> Response:
    """``on_publish_done``: the stream goes offline; the session's grace begins."""
    form = await _form(request, secret, runtime)
    await flows.on_publish_done(runtime, name=form["name"], client_id=form.get("clientid", ""))
    return Response(status_code=204)
