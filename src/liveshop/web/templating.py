from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from liveshop.web import i18n

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


def page(request: Request, template: str, *, config: dict[str, Any], **context: Any) -> Response:
    """A page in the request's language: ``t`` (the translator), the language switch's
    choices, and ``config`` (for the page's module) with the language and its catalog. A
    ``?lang=`` choice is remembered in the cookie."""
    lang = i18n.pick(request)
    translate = i18n.Translator(lang)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "t": translate,
            "lang": lang,
            "languages": i18n.LANGUAGES,
            "config": {**config, "lang": lang, "messages": translate.messages},
            **context,
        },
    )
    if request.query_params.get("lang") == lang:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax")
    return response
