"""A real liveshop server for a benchmark: its own database and var dir, started as a
subprocess (``uvicorn --factory liveshop.app:create_app_from_env``), measured from ``/proc``."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from liveshop.realtime.ws_protocol import WS_PROTOCOL

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (``/proc/<pid>/stat`` utime + stime)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_kb(pid: int) -> int:
    """Resident set size of a process in KiB (``VmRSS`` of ``/proc/<pid>/status``)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def server_env(workdir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVESHOP_")}
    env.update(
        LIVESHOP_DATABASE_URL=f"sqlite+aiosqlite:///{workdir}/bench.db",
        LIVESHOP_VAR_DIR=str(workdir / "var"),
        LIVESHOP_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def prepare_database(env: Mapping[str, str], log: IO[str]) -> None:
    """``liveshop db upgrade`` and ``liveshop db seed-demo`` with the server's environment."""
    for args in (["db", "upgrade"], ["db", "seed-demo"]):
        subprocess.run(
            [sys.executable, "-m", "liveshop", *args],
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=300,
        )


@dataclass
class Server:
    """One server subprocess; ``stop()`` sends SIGINT, then SIGKILL after a grace period."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _log: IO[str] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_kb(self) -> int:
        return rss_kb(self.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, grace: float = 10.0) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


def ws_compression(env: Mapping[str, str]) -> bool:
    """``LIVESHOP_WS_COMPRESSION`` of a server environment, parsed as the settings parse it."""
    from pydantic import TypeAdapter

    return TypeAdapter(bool).validate_python(env.get("LIVESHOP_WS_COMPRESSION") or False)


def uvicorn_args(env: Mapping[str, str], port: int) -> list[str]:
    """The uvicorn command line of a benchmark server (as ``liveshop serve`` runs it: the
    lean WebSocket protocol, and the ``LIVESHOP_WS_COMPRESSION`` setting decides
    permessage-deflate)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "liveshop.app:create_app_from_env",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--ws-per-message-deflate",
        "true" if ws_compression(env) else "false",
        "--ws",
        WS_PROTOCOL,
    ]


def start_server(env: Mapping[str, str], log_path: Path, *, timeout: float = 60.0) -> Server:
    """Start uvicorn on a free loopback port and wait until ``/healthz`` answers."""
    port = free_port()
    log = log_path.open("a")
    process = subprocess.Popen(
        uvicorn_args(env, port),
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(process, port, log_path, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            server.stop()
            raise RuntimeError(f"the server exited at start:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"the server did not answer /healthz in {timeout:.0f} s")
