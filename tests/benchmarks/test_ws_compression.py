"""``LIVESHOP_WS_COMPRESSION``: off by default, passed to uvicorn as ``ws_per_message_deflate``
by ``liveshop serve`` and by the benchmark server; with it off a viewer that offers
permessage-deflate (as browsers do) gets plain frames."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from liveshop.benchmarks import room_wire
from liveshop.benchmarks.room import _server_settings
from liveshop.benchmarks.room_results import RoomBenchConfig
from liveshop.benchmarks.server import (
    prepare_database,
    server_env,
    start_server,
    uvicorn_args,
    ws_compression,
)
from liveshop.cli import app
from liveshop.config import Settings
from liveshop.realtime.ws_protocol import WS_PROTOCOL


def test_the_setting_is_off_by_default_and_parsed_as_a_bool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LIVESHOP_WS_COMPRESSION", raising=False)
    assert Settings().ws_compression is False
    monkeypatch.setenv("LIVESHOP_WS_COMPRESSION", "1")
    assert Settings().ws_compression is True


@pytest.mark.parametrize(("value", "expected"), [(None, False), ("0", False), ("true", True)])
def test_serve_passes_it_to_uvicorn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str | None, expected: bool
) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setenv("LIVESHOP_VAR_DIR", str(tmp_path))
    if value is None:
        monkeypatch.delenv("LIVESHOP_WS_COMPRESSION", raising=False)
    else:
        monkeypatch.setenv("LIVESHOP_WS_COMPRESSION", value)
    result = CliRunner().invoke(app, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert calls and calls[0]["ws_per_message_deflate"] is expected
    assert calls[0]["port"] == 8123
    assert calls[0]["ws"] == WS_PROTOCOL


def test_the_benchmark_server_gets_the_flag_from_its_environment(tmp_path: Path) -> None:
    def flag(env: dict[str, str]) -> str:
        args = uvicorn_args(env, 9000)
        return args[args.index("--ws-per-message-deflate") + 1]

    assert flag(server_env(tmp_path, {})) == "false"
    args = uvicorn_args(server_env(tmp_path, {}), 9000)
    assert args[args.index("--ws") + 1] == WS_PROTOCOL  # as `liveshop serve` runs it
    assert flag(server_env(tmp_path, {"LIVESHOP_WS_COMPRESSION": "1"})) == "true"
    assert ws_compression({"LIVESHOP_WS_COMPRESSION": "false"}) is False
    # the room bench decides it (--server-compression), whatever the caller's environment
    assert _server_settings("batched", RoomBenchConfig())["LIVESHOP_WS_COMPRESSION"] == "false"
    on = RoomBenchConfig(server_compression=True)
    assert _server_settings("naive", on)["LIVESHOP_WS_COMPRESSION"] == "true"


async def test_a_real_server_declines_deflate_by_default(tmp_path: Path) -> None:
    env = server_env(
        tmp_path, {"LIVESHOP_ARGON2_TIME_COST": "1", "LIVESHOP_ARGON2_MEMORY_COST_KIB": "64"}
    )
    log_path = tmp_path / "server.log"
    with log_path.open("a") as log:
        await asyncio.to_thread(prepare_database, env, log)
    server = await asyncio.to_thread(start_server, env, log_path)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            live = (await http.get("/live/sessions", params={"status": "live"})).json()["items"]
        messages: list[bytes] = []
        got = asyncio.Event()

        def on_message(data: bytes) -> None:
            messages.append(data)
            got.set()

        url = f"{server.ws_url}/ws/rooms/{live[0]['id']}"
        async with asyncio.timeout(30):
            client = await room_wire.connect(url, on_message, compression=True)
            client.send_text('{"type":"hello","token":null,"last_seq":null}')
            await got.wait()
        assert client.inflater is None  # the offer was declined: plain frames
        assert messages[0].startswith(b'{"type":"snapshot"')
        client.close()
    finally:
        await asyncio.to_thread(server.stop)
