"""Room fan-out benchmark, runnable alone: ``python bench/room.py [--viewers N] ...``.

The implementation lives in the installed package (``liveshop.benchmarks.room``) so that
``liveshop bench room`` works from any directory; this file is the same command.
"""

from __future__ import annotations

import sys

from liveshop.cli import app

if __name__ == "__main__":
    app(["bench", "room", *sys.argv[1:]], prog_name="python bench/room.py")
