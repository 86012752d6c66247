"""Video fixtures: the live room's (a live session, a real server, room clients)."""

from tests.live.conftest import live_room, live_server, open_room

__all__ = ["live_room", "live_server", "open_room"]
