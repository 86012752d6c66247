"""Video fixtures: the live room's (a live session, a real server, room clients); and small
helpers for the anchor's stream settings and nginx-rtmp's hook calls."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from liveshop.deps import Runtime
from tests.conftest import Actor
from tests.live.conftest import live_room, live_server, open_room

__all__ = ["live_room", "live_server", "open_room"]


async def schedule_session(
    client: httpx.AsyncClient, runtime: Runtime, anchor: Actor, *, title: str = "Tea tasting"
) -> str:
    """A scheduled session of ``anchor`` (an hour from now), through the API."""
    when = runtime.clock.now() + timedelta(hours=1)
    response = await client.post(
        "/live/sessions",
        json={"title": title, "scheduled_at": when.isoformat()},
        headers=anchor.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "scheduled"
    return str(response.json()["id"])


async def get_stream(client: httpx.AsyncClient, session_id: str, actor: Actor) -> dict[str, Any]:
    """The anchor's ingest settings and the stream's state (asserting a 200)."""
    response = await client.get(f"/live/sessions/{session_id}/stream", headers=actor.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def session_status(client: httpx.AsyncClient, session_id: str) -> str:
    response = await client.get(f"/live/sessions/{session_id}")
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def key_of(stream: dict[str, Any]) -> str:
    """The secret in an OBS stream key ``<session id>?key=<secret>``."""
    name, sep, key = str(stream["stream_key"]).partition("?key=")
    assert sep and name == stream["session_id"] and key, stream["stream_key"]
    return key


async def hook(client: httpx.AsyncClient, secret: str, call: str, **fields: str) -> httpx.Response:
    """What nginx-rtmp sends: a form-encoded POST to ``/video/hooks/{secret}/{call}``."""
    form = {"app": "live", "flashver": "FMLE/3.0", "tcurl": "rtmp://127.0.0.1/live", **fields}
    return await client.post(f"/video/hooks/{secret}/{call}", data=form)
