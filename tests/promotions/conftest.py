"""The live room fixtures (a real server, room clients, a live session) for promotions."""

from tests.live.conftest import live_room, live_server, open_room

__all__ = ["live_room", "live_server", "open_room"]
