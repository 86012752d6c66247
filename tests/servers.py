"""The app on a real loopback port, for the tests that need real sockets (WebSocket clients, a
browser, nginx's hooks): uvicorn runs in the test's event loop, so it shares the app, its
lifespan and its frozen clock with the in-process ``client`` fixture.

``serve(app)`` picks a free port itself. When something must know the port before the server
starts (the settings' public URL, nginx.conf), bind a socket first with ``bound_socket()``
and hand it to ``serve(app, sock)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from liveshop.realtime.ws_protocol import WS_PROTOCOL

LOOPBACK = "127.0.0.1"
STARTUP_WITHIN = 5.0  # seconds for uvicorn to start listening
STARTUP_POLL = 0.01
SHUTDOWN_WITHIN = 10.0  # seconds for it to close its connections and stop


def bound_socket() -> socket.socket:
    """A TCP socket bound to a free port on 127.0.0.1, not listening yet (``serve`` makes it
    listen). The caller closes it; it is its own context manager."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, 0))
    except BaseException:
        sock.close()
        raise
    return sock


def free_port() -> int:
    """A port free on both 127.0.0.1 and ::1 (for servers such as nginx that listen on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as v4:
            v4.bind((LOOPBACK, 0))
            port = int(v4.getsockname()[1])
            try:
                with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as v6:
                    v6.bind(("::1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port")


@dataclass(frozen=True)
class Served:
    """Where ``serve`` listens, and the uvicorn server itself (its connections, for tests that
    look at them)."""

    host: str
    port: int
    server: uvicorn.Server

    @property
    def http_base(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def serve(
    app: FastAPI, sock: socket.socket | None = None, *, ws: str = WS_PROTOCOL
) -> AsyncIterator[Served]:
    """uvicorn serving ``app`` on ``sock`` (or on a free port of 127.0.0.1) with the app's
    lifespan off (the test's runtime owns it) and the WebSocket protocol ``ws`` (the app's own
    by default). Yields once the server listens; on exit it stops the server and waits for it."""
    config = uvicorn.Config(
        app,
        host=LOOPBACK,
        port=0,
        lifespan="off",
        log_level="warning",
        access_log=False,
        ws=ws,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=None if sock is None else [sock]))
    try:
        for _ in range(int(STARTUP_WITHIN / STARTUP_POLL)):
            if server.started or task.done():
                break
            await asyncio.sleep(STARTUP_POLL)
        assert server.started, "uvicorn did not start"
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        yield Served(str(host), int(port), server)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=SHUTDOWN_WITHIN)
