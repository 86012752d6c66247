"""docs/api.md's table of roles × endpoint families, kept true: every route of the OpenAPI
document belongs to exactly one family of the page, and each family's rule holds when the
route is called anonymously, as a fan (who holds no other role) and, for admin-only families,
as an admin. Resource ids in paths are those of a real live session of another anchor, so a
"staff" route is refused for the fan because of who it is, not because the room is missing."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.live.conftest import Room, live_room  # noqa: F401  (the fixture)

API_MD = Path(__file__).resolve().parents[1] / "docs" / "api.md"
ROLES = ("Anonymous", "Fan", "Anchor", "Merchant", "Operator", "Admin")
RULES = {"public", "signed-in", "role", "staff", "signature", "hook-secret", "capability"}
UNKNOWN_ID = "01aaaaaaaaaaaaaaaaaaaaaaaa"
SIGN_IN_CODES = {"auth.required", "auth.invalid_token", "auth.forbidden"}


@dataclass(frozen=True)
class Family:
    name: str
    rule: str
    cells: dict[str, str]
    routes: frozenset[tuple[str, str]]


def _families() -> list[Family]:
    """The table under '## Who may do what' and the route list of each family below it."""
    text = API_MD.read_text()
    section = text.split("## Who may do what", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, dict[str, str]]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 2 + len(ROLES):
            continue
        if cells[0] in ("Family", "") or set(cells[0]) <= {"-", ":"}:
            continue
        name, rule = cells[0].strip("*"), cells[1].strip("`")
        rows[name] = (rule, dict(zip(ROLES, cells[2:], strict=True)))
    routes: dict[str, set[tuple[str, str]]] = {}
    bullets = section.replace("\n  ", " ")  # a bullet's continuation lines
    for match in re.finditer(r"^- \*\*(.+?)\*\*: (.+)$", bullets, re.MULTILINE):
        found = re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`]*)`", match.group(2))
        routes.setdefault(match.group(1), set()).update(found)
    assert rows, "docs/api.md has no '## Who may do what' table"
    assert set(rows) == set(routes), "every family of the table lists its routes, and only they"
    return [
        Family(name, rule, cells, frozenset(routes[name])) for name, (rule, cells) in rows.items()
    ]


def _operations(app: Any) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        for method in ops
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_every_family_row_is_well_formed() -> None:
    for family in _families():
        assert family.rule.split(":")[0] in RULES, family
        for role, cell in family.cells.items():
            assert cell in {"yes", "own", "staff", "members", "—"}, (family.name, role, cell)
        refused_anonymous = family.cells["Anonymous"] == "—"
        assert refused_anonymous == (
            family.rule not in {"public", "signature", "hook-secret", "capability"}
        ), family.name


def test_every_route_has_exactly_one_family(app: Any) -> None:
    seen: dict[tuple[str, str], str] = {}
    for family in _families():
        for route in family.routes:
            assert route not in seen, f"{route} is in {seen[route]!r} and {family.name!r}"
            seen[route] = family.name
    operations = _operations(app)
    assert operations - set(seen) == set(), "routes without an authorization rule in docs/api.md"
    assert set(seen) - operations == set(), "docs/api.md lists routes the API does not have"


def _body_for(schema: dict[str, Any] | None, spec: dict[str, Any], depth: int = 0) -> Any:
    """A small body that satisfies the shape of ``schema`` (required fields only), so that a
    refusal is about who asks and not about what was sent."""
    if not schema or depth > 6:
        return {}
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return _body_for(spec["components"]["schemas"][name], spec, depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _body_for(options[0], spec, depth + 1)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {
            name: _body_for(props[name], spec, depth + 1) for name in schema.get("required", [])
        }
    if kind == "array":
        return [_body_for(schema.get("items"), spec, depth + 1)] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return 1
    if kind == "boolean":
        return True
    if schema.get("format") == "date-time":
        return "2026-01-01T00:00:00Z"
    if schema.get("format") == "email":
        return "someone@example.com"
    length = max(int(schema.get("minLength", 1)), 1)
    return UNKNOWN_ID if length <= 26 <= int(schema.get("maxLength", 64)) else "x" * length


def _request_body(spec: dict[str, Any], method: str, path: str) -> Any:
    operation = spec["paths"][path][method.lower()]
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return _body_for(schema, spec) if schema is not None else None


def _required_query(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation = spec["paths"][path][method.lower()]
    return {
        p["name"]: _body_for(p.get("schema"), spec)
        for p in operation.get("parameters", [])
        if p.get("in") == "query" and p.get("required")
    }


def _code(response: Any) -> str:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return ""
    return str(response.json().get("code", ""))


async def _call(
    client: Any, spec: dict[str, Any], method: str, path: str, room: Room, headers: dict[str, str]
) -> Any:
    concrete = path.replace("{session_id}", room.id)
    concrete = re.sub(r"\{[^}]+\}", UNKNOWN_ID, concrete)
    body = _request_body(spec, method, path)
    return await client.request(
        method,
        concrete,
        json=body,
        params=_required_query(spec, method, path),
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )


async def test_each_family_rule_holds_for_anonymous_and_fan_callers(
    app: Any,
    client: Any,
    live_room: Room,  # noqa: F811
    make_account: Any,
) -> None:
    spec = app.openapi()
    fan = await make_account("fan")
    admin = await make_account("admin")
    broken: list[str] = []
    for family in _families():
        for method, path in sorted(family.routes):
            if (method, path) == ("POST", "/auth/signout"):
                continue  # it would sign the fan out for the rest of the walk
            anonymous = await _call(client, spec, method, path, live_room, {})
            secret = family.rule in {"signature", "hook-secret"}
            if family.cells["Anonymous"] == "—" and _code(anonymous) != "auth.required":
                broken.append(f"{method} {path}: anonymous got {anonymous.status_code}, not 401")
            if family.cells["Anonymous"] != "—" and _code(anonymous) in SIGN_IN_CODES:
                broken.append(f"{method} {path}: anonymous refused ({_code(anonymous)})")
            if secret and anonymous.status_code not in (400, 401, 403):
                broken.append(f"{method} {path}: no signature, yet {anonymous.status_code}")
            as_fan = await _call(client, spec, method, path, live_room, fan.headers)
            if family.cells["Fan"] == "—":
                # refused for who it is: 403; or 404 when the path names a resource out of scope
                allowed = {403, 404} if "{" in path.replace("{session_id}", "") else {403}
                if as_fan.status_code not in allowed:
                    broken.append(
                        f"{method} {path}: a fan got {as_fan.status_code} {as_fan.text[:80]}"
                    )
            elif _code(as_fan) in SIGN_IN_CODES:
                broken.append(f"{method} {path}: a signed-in fan got {_code(as_fan)}")
            if family.rule == "role:admin":
                as_admin = await _call(client, spec, method, path, live_room, admin.headers)
                if as_admin.status_code in (401, 403):
                    broken.append(f"{method} {path}: an admin got {as_admin.status_code}")
    assert broken == [], "\n".join(broken)


async def test_each_role_is_refused_where_its_column_says_so(
    app: Any,
    client: Any,
    live_room: Room,  # noqa: F811
    make_account: Any,
) -> None:
    """Where a row says `—` for the anchor, merchant or operator column, an account holding
    only that role is refused (403, or 404 for a resource out of its scope) — e.g. an anchor
    offers no deals and a merchant accepts none."""
    spec = app.openapi()
    callers = {
        role: await make_account(role.lower()) for role in ("Anchor", "Merchant", "Operator")
    }
    broken: list[str] = []
    for family in _families():
        for role, caller in callers.items():
            if family.cells[role] != "—":
                continue
            for method, path in sorted(family.routes):
                if (method, path) == ("POST", "/auth/signout"):
                    continue
                response = await _call(client, spec, method, path, live_room, caller.headers)
                allowed = {403, 404} if "{" in path.replace("{session_id}", "") else {403}
                if response.status_code not in allowed:
                    broken.append(
                        f"{method} {path}: {role.lower()} got {response.status_code} "
                        f"{response.text[:80]}"
                    )
    assert broken == [], "\n".join(broken)
