"""Live video latency benchmark, runnable alone: ``python bench/video.py [--seconds S] ...``.

The implementation lives in the installed package (``liveshop.benchmarks.video``) so that
``liveshop bench video`` works from any directory; this file is the same command.
"""

from __future__ import annotations

import sys

from liveshop.cli import app

if __name__ == "__main__":
    app(["bench", "video", *sys.argv[1:]], prog_name="python bench/video.py")
