"""axe-core, the accessibility rules engine (npm dev dependency, `make web`), run in a page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REQUIRE_SERVICES

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def axe_script() -> Path:
    """The script, or a skip (a failure under LIVESHOP_REQUIRE_SERVICES=1) without it."""
    if not AXE.exists():
        reason = f"{AXE} is missing: `make web` installs axe-core from npm"
        if REQUIRE_SERVICES:
            pytest.fail(f"LIVESHOP_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return AXE


async def violations(page: Any, axe: Path | None = None) -> list[str]:
    """What axe finds on the page as it is now (WCAG 2.1 A and AA, best practices): one line
    per rule and element, with the colours and ratio of a contrast failure."""
    await page.add_script_tag(path=str(axe or axe_script()))
    result = await page.evaluate(
        "(tags) => axe.run(document, { runOnly: { type: 'tag', values: tags } })", TAGS
    )
    found = []
    for rule in result["violations"]:
        for node in rule["nodes"]:
            target = " ".join(str(t) for t in node["target"])
            checks = node.get("any") or node.get("all") or [{}]
            data = checks[0].get("data")
            detail = f" {data}" if rule["id"] == "color-contrast" and data else ""
            found.append(f"{rule['id']} ({rule['impact']}): {target}: {rule['help']}{detail}")
    return found
