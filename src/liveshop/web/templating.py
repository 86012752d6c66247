from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def money(amount_minor: int, currency: str) -> str:
    """Integer minor units as a display string (two decimals; JPY-like currencies aside)."""
    if currency in {"JPY", "KRW"}:
        return f"{amount_minor} {currency}"
    sign = "-" if amount_minor < 0 else ""
    units, cents = divmod(abs(amount_minor), 100)
    return f"{sign}{units}.{cents:02d} {currency}"


templates.env.filters["money"] = money
