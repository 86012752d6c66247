"""Browser tests: Playwright driving Debian's Chromium (never a downloaded browser) against a
real server in the test's loop (the live room's ``live_server``)."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from liveshop.config import Settings
from tests.conftest import REQUIRE_SERVICES
from tests.live.conftest import LiveServer, live_room, open_room
from tests.servers import bound_socket, serve

__all__ = ["browser", "live_room", "live_server", "open_room", "screenshot_dir", "settings"]

CHROMIUM = os.environ.get("LIVESHOP_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True}


@pytest.fixture
def app_socket() -> Iterator[socket.socket]:
    """The server's socket, bound first: the settings' public URL (payment pages, their
    return to the room) must be the address the browser uses."""
    with bound_socket() as sock:
        yield sock


@pytest.fixture
def settings(settings: Settings, app_socket: socket.socket) -> Settings:
    port = int(app_socket.getsockname()[1])
    return settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}", "port": port})


@pytest.fixture
async def live_server(app: FastAPI, app_socket: socket.socket) -> AsyncIterator[LiveServer]:
    async with serve(app, app_socket) as served:
        yield LiveServer(served.host, served.port)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (a stat, once)
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(f"LIVESHOP_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def screenshot_dir() -> Path:
    path = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
