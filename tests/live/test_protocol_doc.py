"""docs/protocol.md is the room protocol's document: it lists every event type the code has,
with its priority, and every client message; nothing more, nothing less."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from liveshop.live import events

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _section(title: str) -> str:
    text = PROTOCOL.read_text()
    start = text.index(title)
    following = re.search(r"\n#{2,3} ", text[start + len(title) :])
    return text[start : start + len(title) + (following.start() if following else len(text))]


def _table_rows(section: str) -> list[list[str]]:
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def _literal_types(union: object) -> set[str]:
    members = typing.get_args(typing.get_args(union)[0])
    found = set()
    for model in members:
        (kind,) = typing.get_args(model.model_fields["type"].annotation)
        found.add(kind)
    return found


def test_the_events_table_lists_every_event_type_of_the_code_with_its_priority() -> None:
    rows = _table_rows(_section("### Events"))
    documented = {row[0].strip("`"): row[1] for row in rows}
    assert set(documented) == set(events.EVENT_TYPES) == _literal_types(events.RoomEventModel)
    priority = {kind for kind, cell in documented.items() if cell == "yes"}
    assert priority == set(events.PRIORITY_TYPES)


def test_the_client_messages_table_lists_every_message_a_client_may_send() -> None:
    rows = _table_rows(_section("## Client messages"))
    documented = {row[0].strip("`") for row in rows}
    hello = "hello" in PROTOCOL.read_text()  # documented under "Joining"
    assert hello and documented | {"hello"} == _literal_types(events.ClientMessage)


def test_every_server_message_outside_frames_is_documented() -> None:
    text = PROTOCOL.read_text()
    for kind in ("snapshot", "resume", "error", "pong", "flash.notice"):
        assert f'"type": "{kind}"' in text or f"`{kind}`" in text, kind
