"""The nginx (with the RTMP module) that ingests and serves the video: config and process.

``liveshop video config`` writes ``var/video/nginx.conf``; ``liveshop video run`` starts
nginx in the foreground with it. Everything nginx writes (pid, logs, temp files, HLS
fragments, recordings) stays under ``var/video``: no system path, no root needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from liveshop.config import Settings
from liveshop.video.service import UPDATE_SECONDS

MODULE_CANDIDATES = (
    "/usr/lib/nginx/modules/ngx_rtmp_module.so",
    "/usr/share/nginx/modules/ngx_rtmp_module.so",
    "/usr/lib64/nginx/modules/ngx_rtmp_module.so",
    "/usr/local/nginx/modules/ngx_rtmp_module.so",
)
INSTALL_HINT = "apt-get install nginx libnginx-mod-rtmp ffmpeg"


@dataclass(frozen=True, slots=True)
class Tools:
    nginx: str | None
    rtmp_module: str | None  # None with a static build (or when missing: see ``missing``)
    rtmp_static: bool
    ffmpeg: str | None
    ffprobe: str | None

    @property
    def missing(self) -> list[str]:
        gone = [name for name in ("nginx", "ffmpeg", "ffprobe") if getattr(self, name) is None]
        if self.nginx is not None and self.rtmp_module is None and not self.rtmp_static:
            gone.append("the nginx RTMP module (libnginx-mod-rtmp)")
        return gone

    @property
    def ready(self) -> bool:
        return not self.missing


def find_tools() -> Tools:
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/nginx/sbin/nginx") if os.access(p, os.X_OK)),
        None,
    )
    module = next((p for p in MODULE_CANDIDATES if Path(p).is_file()), None)
    static = False
    if nginx is not None and module is None:
        probe = subprocess.run([nginx, "-V"], capture_output=True, text=True, check=False)
        static = "rtmp" in (probe.stderr + probe.stdout)
    return Tools(
        nginx=nginx,
        rtmp_module=module,
        rtmp_static=static,
        ffmpeg=shutil.which("ffmpeg"),
        ffprobe=shutil.which("ffprobe"),
    )


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the video files live (all under ``var/video``)."""

    root: Path

    @classmethod
    def of(cls, settings: Settings) -> Layout:
        return cls(settings.video_dir.resolve())

    @property
    def conf(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def hls(self) -> Path:
        return self.root / "hls"

    @property
    def recordings(self) -> Path:
        return self.root / "rec"

    @property
    def replays(self) -> Path:
        return self.root / "replays"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def temp(self) -> Path:
        return self.root / "tmp"

    def make(self) -> None:
        for path in (self.root, self.hls, self.recordings, self.replays, self.logs, self.temp):
            path.mkdir(parents=True, exist_ok=True)


def _seconds(value: float) -> str:
    return f"{int(value * 1000)}ms"


@dataclass(frozen=True, slots=True)
class AbrVariant:
    """One rendition of the adaptive bitrate ladder (``LIVESHOP_VIDEO_ABR``)."""

    suffix: str  # of the rendition's stream name: <session id><suffix>
    height: int
    video_kbps: int
    audio_kbps: int

    @property
    def bandwidth(self) -> int:
        """The master playlist's BANDWIDTH (bits/s): the peak rate, with ~5 % for the
        container."""
        return (self.video_kbps + self.audio_kbps) * 1050


ABR_VARIANTS = (
    AbrVariant("_720p", 720, 2500, 128),
    AbrVariant("_480p", 480, 1000, 96),
    AbrVariant("_240p", 240, 350, 64),
)
ABR_APP = "hls"  # the RTMP application the renditions are pushed to


def abr_command(settings: Settings, tools: Tools, layout: Layout) -> list[str]:
    """What nginx runs (``exec_push``) for each publish with ``LIVESHOP_VIDEO_ABR`` on: one
    ffmpeg that plays the published stream from ``live`` and pushes every rendition to
    ``hls``, keyframes every fragment (``$name`` is the session id; nginx-rtmp's ``2>>``
    appends ffmpeg's errors to var/video/logs/abr.log)."""
    source = f"rtmp://127.0.0.1:{settings.rtmp_port}"
    keyframes = f"expr:gte(t,n_forced*{settings.hls_fragment_seconds:g})"
    argv = [tools.ffmpeg or "ffmpeg", "-hide_banner", "-loglevel", "error"]
    argv += ["-i", f"{source}/live/$name"]
    for v in ABR_VARIANTS:
        argv += ["-map", "0:v:0", "-map", "0:a:0?", "-vf", f"scale=-2:{v.height}"]
        argv += ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"]
        argv += ["-pix_fmt", "yuv420p", "-force_key_frames", keyframes, "-sc_threshold", "0"]
        argv += ["-b:v", f"{v.video_kbps}k", "-maxrate", f"{v.video_kbps}k"]
        argv += ["-bufsize", f"{v.video_kbps * 2}k"]
        argv += ["-c:a", "aac", "-b:a", f"{v.audio_kbps}k", "-ar", "44100"]
        argv += ["-f", "flv", f"{source}/{ABR_APP}/${{name}}{v.suffix}"]
    return [*argv, f"2>>{layout.logs / 'abr.log'}"]


def render(settings: Settings, tools: Tools, layout: Layout) -> str:
    """The nginx.conf for these settings."""
    hooks = f"{settings.hooks_base_url}/video/hooks/{settings.hook_secret}"
    load = f"load_module {tools.rtmp_module};\n" if tools.rtmp_module else ""
    # nginx started by root runs its workers as "nobody", who could not write under var/:
    # run them as the owner of var/video instead
    user = ""
    if os.geteuid() == 0:
        import pwd

        owner = pwd.getpwuid(layout.root.stat().st_uid).pw_name
        user = f"user {owner};\n"
    record = (
        f"""
            record all;
            record_path {layout.recordings};
            record_unique on;
            record_suffix .flv;
            on_record_done {hooks}/record_done;"""
        if settings.video_record
        else "\n            record off;"
    )
    cors = """
            add_header Access-Control-Allow-Origin * always;
            add_header Access-Control-Allow-Methods "GET, HEAD, OPTIONS" always;
            add_header Access-Control-Allow-Headers "Range" always;
            add_header Access-Control-Expose-Headers "Content-Length, Content-Range" always;
            if ($request_method = OPTIONS) { return 204; }"""
    types = """
            types {
                application/vnd.apple.mpegurl m3u8;
                video/mp2t ts;
            }"""
    hls = f"""
            hls on;
            hls_path {layout.hls};
            hls_fragment {_seconds(settings.hls_fragment_seconds)};
            hls_playlist_length {_seconds(settings.hls_playlist_seconds)};
            hls_cleanup on;
            # fragments named by time: a reconnecting encoder never reuses a name (CDNs
            # cache fragments for good)
            hls_fragment_naming system;"""
    live_hls, abr_app = hls, ""
    if settings.video_abr:
        # the published stream is not written as HLS: ffmpeg transcodes it into the
        # renditions of application hls, whose master playlist is <session id>.m3u8, the same
        # playback URL (the recording keeps the source)
        live_hls = f"""
            # adaptive bitrate (LIVESHOP_VIDEO_ABR): the renditions go to application {ABR_APP}
            hls off;
            exec_push {" ".join(abr_command(settings, tools, layout))};"""
        variants = "".join(
            f"\n            hls_variant {v.suffix} BANDWIDTH={v.bandwidth};" for v in ABR_VARIANTS
        )
        abr_app = f"""

        application {ABR_APP} {{
            live on;
            # only the transcoder above publishes here
            allow publish 127.0.0.1;
            deny publish all;
            allow play 127.0.0.1;
            deny play all;
{hls}
            hls_nested off;{variants}
        }}"""
    return f"""# written by `liveshop video config`: edit the LIVESHOP_* settings, not this file
{load}{user}worker_processes 1;
pid {layout.root / "nginx.pid"};
error_log {layout.logs / "error.log"} warn;

events {{
    worker_connections 4096;
}}

rtmp {{
    server {{
        listen {settings.video_listen}:{settings.rtmp_port};
        chunk_size 4096;

        application live {{
            live on;
            # viewers watch HLS; RTMP playback only from this machine (tests, tools)
            allow play 127.0.0.1;
            deny play all;

            notify_method post;
            on_publish {hooks}/publish;
            on_publish_done {hooks}/publish_done;
            # a heartbeat while publishing (a stream not heard of for 30 s goes offline);
            # the hook always answers 2xx, so nginx never drops a publisher because of it
            on_update {hooks}/update;
            notify_update_timeout {UPDATE_SECONDS}s;
            # a publisher that stopped sending is dropped, so its encoder can reconnect
            drop_idle_publisher 10s;
{record}
{live_hls}
        }}{abr_app}
    }}
}}

http {{
    access_log off;
    sendfile on;
    default_type application/octet-stream;
    client_body_temp_path {layout.temp / "body"};
    proxy_temp_path {layout.temp / "proxy"};
    fastcgi_temp_path {layout.temp / "fastcgi"};
    uwsgi_temp_path {layout.temp / "uwsgi"};
    scgi_temp_path {layout.temp / "scgi"};

    server {{
        listen {settings.video_listen}:{settings.hls_port};

        location /hls/ {{
            log_not_found off;  # players polling before the stream starts
            alias {layout.hls}/;{types}
            add_header Cache-Control "no-cache" always;{cors}
        }}

        location /replays/ {{
            log_not_found off;
            alias {layout.replays}/;{types}
            add_header Cache-Control "public, max-age=3600" always;{cors}
        }}
    }}
}}
"""


def write_config(settings: Settings, tools: Tools, out: Path | None = None) -> Path:
    layout = Layout.of(settings)
    layout.make()
    path = out or layout.conf
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(settings, tools, layout))
    return path


def command(tools: Tools, conf: Path, layout: Layout) -> list[str]:
    """nginx in the foreground with this config (``-e``: its early errors under var/ too)."""
    assert tools.nginx is not None
    return [
        tools.nginx,
        "-p",
        str(layout.root),
        "-e",
        str(layout.logs / "error.log"),
        "-c",
        str(conf),
        "-g",
        "daemon off;",
    ]


def start(settings: Settings, tools: Tools) -> subprocess.Popen[bytes]:
    """Write the config and start nginx (in the background, for the demo and tests)."""
    layout = Layout.of(settings)
    conf = write_config(settings, tools)
    check = subprocess.run(
        [*command(tools, conf, layout)[:-2], "-t"], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise RuntimeError(f"nginx rejected {conf}:\n{check.stderr}")
    return subprocess.Popen(command(tools, conf, layout), stdin=subprocess.DEVNULL)
