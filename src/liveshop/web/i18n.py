"""Message catalogs for the pages: English and Simplified Chinese, switchable in the page.

Every piece of UI text is a key in ``messages/<part>.<lang>.json`` (one file per part of the
site, merged; the same keys in every language, a test checks). The language is the ``lang``
query parameter, else the ``liveshop_lang`` cookie the switch sets, else the browser's
``Accept-Language``, else English. The page's scripts get the same catalog (``messages`` in
the page), so text they draw is translated too.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from starlette.requests import Request

LANGUAGES = {"en": "English", "zh-CN": "简体中文"}
DEFAULT = "en"
COOKIE = "liveshop_lang"
MESSAGES_DIR = Path(__file__).parent / "messages"


@cache
def catalog(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted(MESSAGES_DIR.glob(f"*.{lang}.json")):
        part: dict[str, str] = json.loads(path.read_text("utf-8"))
        clash = set(part) & set(merged)
        if clash:
            raise ValueError(f"{path.name}: keys defined twice: {sorted(clash)}")
        merged.update(part)
    return merged


def pick(request: Request) -> str:
    for candidate in (request.query_params.get("lang"), request.cookies.get(COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    accept = request.headers.get("accept-language", "").lower()
    for part in accept.split(","):
        tag = part.split(";", 1)[0].strip()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT


class Translator:
    """``t("key", name=...)`` in templates: the text, with ``{name}`` filled in."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.messages = catalog(lang)

    def __call__(self, key: str, **values: object) -> str:
        text = self.messages.get(key) or catalog(DEFAULT).get(key) or key
        return text.format(**values) if values else text
