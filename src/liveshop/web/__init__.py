"""Server-rendered pages in English and Simplified Chinese: the home page, the viewer's live
room and replays, the session console, the merchant console and the admin page (templates/,
static/ JS modules; docs/web.md)."""
