"""``liveshop video``: the nginx-rtmp config and process (docs/streaming.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from liveshop.config import ConfigError, Settings
from liveshop.video import nginx

video_app = typer.Typer(help="Live video: nginx-rtmp ingest and HLS.", no_args_is_help=True)
console = Console()


def _settings() -> Settings:
    try:
        return Settings()
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _tools() -> nginx.Tools:
    tools = nginx.find_tools()
    if tools.nginx is None or (tools.rtmp_module is None and not tools.rtmp_static):
        console.print(
            f"[red]missing:[/red] {', '.join(tools.missing)}; install with `{nginx.INSTALL_HINT}`"
        )
        raise typer.Exit(1)
    return tools


@video_app.command("config")
def config(
    out: Annotated[Path | None, typer.Option(help="Write here instead of var/video.")] = None,
) -> None:
    """Write the nginx config for the current settings (everything under var/video)."""
    settings = _settings()
    path = nginx.write_config(settings, _tools(), out)
    console.print(f"wrote {path}")
    console.print(f"RTMP server URL: {settings.rtmp_url}")
    console.print(f"HLS: {settings.hls_url}/hls/<session id>.m3u8")


@video_app.command("run")
def run() -> None:
    """Write the config and run nginx in the foreground (Ctrl-C stops it)."""
    settings = _settings()
    tools = _tools()
    conf = nginx.write_config(settings, tools)
    layout = nginx.Layout.of(settings)
    argv = nginx.command(tools, conf, layout)
    console.print(f"nginx-rtmp: rtmp on :{settings.rtmp_port}, HLS on :{settings.hls_port}")
    os.execv(argv[0], argv)
