"""Flash-sale benchmark, runnable alone: ``python bench/flash_sale.py [--mode cluster] ...``.

The implementation lives in the installed package (``liveshop.benchmarks.flash``) so that
``liveshop bench flash-sale`` works from any directory; this file is the same command.
"""

from __future__ import annotations

import sys

from liveshop.cli import app

if __name__ == "__main__":
    app(["bench", "flash-sale", *sys.argv[1:]], prog_name="python bench/flash_sale.py")
