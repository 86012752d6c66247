"""Adaptive bitrate (LIVESHOP_VIDEO_ABR): the nginx config it renders, and nginx accepts it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from liveshop.config import Settings
from liveshop.video import nginx

TOOLS = nginx.Tools(
    nginx="/usr/sbin/nginx",
    rtmp_module="/usr/lib/nginx/modules/ngx_rtmp_module.so",
    rtmp_static=False,
    ffmpeg="/usr/bin/ffmpeg",
    ffprobe="/usr/bin/ffprobe",
)


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(var_dir=tmp_path / "var", secret_key="k" * 40, **overrides)


def _render(settings: Settings, tools: nginx.Tools = TOOLS) -> str:
    layout = nginx.Layout.of(settings)
    layout.make()
    return nginx.render(settings, tools, layout)


def test_abr_is_off_by_default_and_the_config_has_no_transcoder(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.video_abr is False
    conf = _render(settings)
    assert "exec_push" not in conf and "hls_variant" not in conf
    assert "application hls" not in conf
    assert conf.count("hls on;") == 1


def test_abr_transcodes_each_publish_into_renditions_with_a_master_playlist(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, video_abr=True, rtmp_port=19350, hls_fragment_seconds=2)
    layout = nginx.Layout.of(settings)
    conf = _render(settings)
    live, hls = conf.split("application live {", 1)[1].split("application hls {", 1)
    # the published stream is recorded as it is, not written as HLS: the renditions are
    assert "record all;" in live and "hls off;" in live and "hls on;" not in live
    (exec_line,) = [line.strip() for line in live.splitlines() if "exec_push" in line]
    assert "-i rtmp://127.0.0.1:19350/live/$name " in exec_line
    for v in nginx.ABR_VARIANTS:
        assert f"scale=-2:{v.height} " in exec_line
        assert f" rtmp://127.0.0.1:19350/hls/${{name}}{v.suffix} " in exec_line
        assert f"hls_variant {v.suffix} BANDWIDTH={v.bandwidth};" in hls
    assert "expr:gte(t,n_forced*2)" in exec_line  # a keyframe every 2 s fragment
    assert exec_line.endswith(f"2>>{layout.logs / 'abr.log'};")
    # only the transcoder on this machine publishes renditions; they go where the playback
    # URL points (/hls/<session id>.m3u8 is their master playlist)
    assert "allow publish 127.0.0.1;\n            deny publish all;" in hls
    assert f"hls_path {layout.hls};" in hls and "hls_nested off;" in hls
    assert "on_publish" not in hls


def test_nginx_accepts_the_abr_config(tmp_path: Path) -> None:
    tools = nginx.find_tools()
    if tools.nginx is None or (tools.rtmp_module is None and not tools.rtmp_static):
        reason = f"nginx with the RTMP module is not installed (`{nginx.INSTALL_HINT}`)"
        if os.environ.get("LIVESHOP_REQUIRE_SERVICES") == "1":
            pytest.fail(f"LIVESHOP_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    settings = _settings(tmp_path, video_abr=True)
    conf = nginx.write_config(settings, tools)
    layout = nginx.Layout.of(settings)
    test = [*nginx.command(tools, conf, layout)[:-2], "-t"]
    checked = subprocess.run(test, capture_output=True, text=True, timeout=30, check=False)
    assert checked.returncode == 0, checked.stderr
