"""Live video over HTTP: nginx-rtmp's hooks, and the anchor's ingest settings.

The hooks (``/video/hooks/{secret}/...``) are called by the configured nginx only: the
secret (``LIVESHOP_VIDEO_HOOK_SECRET``) is part of the callback URL that ``liveshop video
config`` writes, and a call without it is refused (403, ``video.bad_hook_secret``), so
nobody else can flip a session's stream state through them. nginx-rtmp sends its
notifications form-encoded; any 4xx refuses a publish.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from liveshop.catalog import service as catalog_service
from liveshop.deps import CurrentPrincipal, Runtime, RuntimeDep, SessionDep
from liveshop.errors import Problem, forbidden, invalid, not_found
from liveshop.live import service as live_service
from liveshop.live.events import ShowcaseItem
from liveshop.video import flows, replay
from liveshop.video import service as video
from liveshop.video.models import VideoReplay, VideoStream
from liveshop.video.nginx import Layout

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


@router.post("/video/hooks/{secret}/update", status_code=204)
async def hook_update(secret: Secret, request: Request, runtime: RuntimeDep) -> Response:
    """``on_update`` (every 10 s while publishing): the publisher is alive. A stream not
    heard of for 30 s goes offline (nginx stopped without saying so)."""
    form = await _form(request, secret, runtime)
    await flows.on_update(runtime, name=form["name"], client_id=form.get("clientid", ""))
    return Response(status_code=204)


@router.post("/video/hooks/{secret}/publish_done", status_code=204)
async def hook_publish_done(secret: Secret, request: Request, runtime: RuntimeDep) -> Response:
    """``on_publish_done``: the stream goes offline; the session's grace begins."""
    form = await _form(request, secret, runtime)
    await flows.on_publish_done(runtime, name=form["name"], client_id=form.get("clientid", ""))
    return Response(status_code=204)


@router.post("/video/hooks/{secret}/record_done", status_code=204)
async def hook_record_done(secret: Secret, request: Request, runtime: RuntimeDep) -> Response:
    """``on_record_done`` (``path``: the closed recording): kept for the session's replay."""
    form = await _form(request, secret, runtime)
    try:
        relative = replay.recording_path(Layout.of(runtime.settings), form.get("path", ""))
    except replay.RecordingRefused as exc:
        raise invalid("video.bad_recording", str(exc), "path") from exc
    async with runtime.sessionmaker() as session:
        kept = await replay.recorded(
            session,
            session_id=form["name"],
            relative=relative,
            client_id=form.get("clientid", ""),
            now=runtime.clock.now(),
        )
        await session.commit()
    if kept is None:
        raise not_found("live.session_not_found", "no such live session")
    return Response(status_code=204)


# -- replays --------------------------------------------------------------------------------


class TimelineEntryOut(BaseModel):
    pin_id: str
    item: ShowcaseItem
    price_minor: int  # bought from the replay: the merchant's replay price, else the list price
    from_ms: int
    to_ms: int


class ReplayOut(BaseModel):
    """An ended session's replay: ``none`` (nothing recorded), ``processing``, ``ready``
    (play ``playback_url``; show ``timeline[i].item`` while the video time is in
    ``[from_ms, to_ms)``) or ``failed``."""

    session_id: str
    status: str
    playback_url: str | None
    duration_ms: int
    timeline: list[TimelineEntryOut]


@router.get("/live/sessions/{session_id}/replay", response_model=ReplayOut)
async def get_replay(session_id: str, session: SessionDep, runtime: RuntimeDep) -> ReplayOut:
    """The replay and its pin timeline (public, like the room)."""
    await live_service.get_or_raise(session, session_id=session_id)
    row = await session.get(VideoReplay, session_id)
    items = []
    if row is not None and row.status == "ready":
        items = await replay.timeline(session, session_id=session_id, replay=row)
    return ReplayOut(
        **replay.replay_payload(runtime.settings, session_id, row),
        timeline=[TimelineEntryOut.model_validate(i) for i in items],
    )


class ReplayPriceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replay_price_minor: int | None = Field(ge=1, le=10**12)


class ReplayPriceOut(BaseModel):
    item_id: str
    sku_id: str
    replay_price_minor: int | None
    list_price_minor: int


@router.put(
    "/live/sessions/{session_id}/rundown/{item_id}/replay-price", response_model=ReplayPriceOut
)
async def put_replay_price(
    session_id: str,
    item_id: str,
    body: ReplayPriceIn,
    principal: CurrentPrincipal,
    session: SessionDep,
) -> ReplayPriceOut:
    """The price of a rundown product bought from the replay, set by its merchant (null:
    the list price, the default)."""
    line = await live_service.get_line_or_raise(session, session_id=session_id, item_id=item_id)
    scope = await catalog_service.merchant_scope(session, principal=principal)
    if scope is not None and line.product.merchant_id not in scope:
        raise forbidden("only the product's merchant sets its replay price", "video.not_merchant")
    line.item.replay_price_minor = body.replay_price_minor
    await session.commit()
    return ReplayPriceOut(
        item_id=line.item.id,
        sku_id=line.item.sku_id,
        replay_price_minor=line.item.replay_price_minor,
        list_price_minor=line.sku.price_minor,
    )
