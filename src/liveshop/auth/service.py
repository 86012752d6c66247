"""Accounts, roles and tokens: plain async functions, session first."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth.models import Account, AccountRole, ApiToken, OperatorAssignment
from liveshop.auth.passwords import Passwords
from liveshop.auth.schemas import AccountOut, Role
from liveshop.errors import Problem, conflict, invalid, not_found

TOKEN_PREFIX = "lst_"


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in account behind a request."""

    account_id: str
    email: str
    display_name: str
    roles: frozenset[str]
    token_id: str | None = None

    def has(self, role: str) -> bool:
        return role in self.roles

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def get(session: AsyncSession, *, account_id: str) -> Account | None:
    return await session.get(Account, account_id)


async def get_or_raise(session: AsyncSession, *, account_id: str) -> Account:
    account = await get(session, account_id=account_id)
    if account is None:
        raise not_found("account.not_found", "no such account")
    return account


async def get_by_email(session: AsyncSession, *, email: str) -> Account | None:
    result = await session.execute(select(Account).where(Account.email == normalize_email(email)))
    return result.scalar_one_or_none()


async def roles_of(session: AsyncSession, *, account_id: str) -> list[str]:
    result = await session.execute(
        select(AccountRole.role)
        .where(AccountRole.account_id == account_id)
        .order_by(AccountRole.role)
    )
    return list(result.scalars())


async def to_out(session: AsyncSession, account: Account) -> AccountOut:
    roles = await roles_of(session, account_id=account.id)
    return AccountOut(
        id=account.id,
        email=account.email,
        display_name=account.display_name,
        roles=roles,
        is_active=account.is_active,
        created_at=account.created_at,
    )


async def create(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    display_name: str,
    roles: tuple[Role, ...] = ("fan",),
    passwords: Passwords,
    now: datetime,
) -> Account:
    """Create an account with ``roles``; a taken email is a 409."""
    email = normalize_email(email)
    if await get_by_email(session, email=email) is not None:
        raise conflict("account.email_taken", "an account with this email already exists")
    account = Account(
        email=email,
        password_hash=await passwords.hash(password),
        display_name=display_name,
        is_active=True,
        created_at=now,
    )
    session.add(account)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise conflict("account.email_taken", "an account with this email already exists") from exc
    for role in dict.fromkeys(roles):
        session.add(AccountRole(account_id=account.id, role=role))
    await session.flush()
    return account


async def grant_role(session: AsyncSession, *, account_id: str, role: Role) -> None:
    await get_or_raise(session, account_id=account_id)
    if role not in await roles_of(session, account_id=account_id):
        session.add(AccountRole(account_id=account_id, role=role))
        await session.flush()


async def revoke_role(session: AsyncSession, *, account_id: str, role: Role) -> None:
    await get_or_raise(session, account_id=account_id)
    await session.execute(
        delete(AccountRole).where(AccountRole.account_id == account_id, AccountRole.role == role)
    )


async def set_active(
    session: AsyncSession, *, account_id: str, active: bool, actor_id: str
) -> Account:
    """Deactivate (or reactivate) an account: while inactive its tokens are refused and it
    cannot sign in. An admin cannot deactivate itself (409 ``account.self_deactivation``)."""
    if not active and account_id == actor_id:
        raise conflict("account.self_deactivation", "an admin cannot deactivate itself")
    account = await get_or_raise(session, account_id=account_id)
    if account.is_active != active:
        account.is_active = active
        await session.flush()
    return account


async def is_active_anchor(session: AsyncSession, *, account_id: str) -> bool:
    """The account is active and holds the anchor role now (read from the database)."""
    row = await session.execute(
        select(Account.id)
        .join(AccountRole, AccountRole.account_id == Account.id)
        .where(Account.id == account_id, Account.is_active.is_(True), AccountRole.role == "anchor")
    )
    return row.first() is not None


async def authenticate(
    session: AsyncSession, *, email: str, password: str, passwords: Passwords
) -> Account | None:
    """The account if email and password match an active account, else None."""
    account = await get_by_email(session, email=email)
    ok = await passwords.verify(account.password_hash if account else None, password)
    if account is None or not ok or not account.is_active:
        return None
    if passwords.needs_rehash(account.password_hash):
        account.password_hash = await passwords.hash(password)
    return account


async def issue_token(
    session: AsyncSession, *, account_id: str, now: datetime, ttl: timedelta
) -> tuple[str, ApiToken]:
    """A new opaque token (returned once, stored hashed)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        account_id=account_id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    await session.flush()
    return token, row


async def principal_for_token(
    session: AsyncSession, *, token: str, now: datetime
) -> Principal | None:
    """The principal of a valid (known, unexpired, unrevoked, active) token."""
    if not token_shape_ok(token):
        return None
    token_hash = hash_token(token)
    found = await principals_by_hash(session, token_hashes=[token_hash], now=now)
    return found[token_hash][0] if token_hash in found else None


def token_shape_ok(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and len(token) <= 128


async def principals_by_hash(
    session: AsyncSession, *, token_hashes: Sequence[str], now: datetime
) -> dict[str, tuple[Principal, datetime]]:
    """The valid tokens among ``token_hashes``: hash -> (principal, token expiry).

    One statement (the roles joined in): every signed-in request that misses the token
    cache comes here (batched by ``TokenLoader``), so it stays off the ORM."""
    rows = (
        await session.execute(
            select(
                ApiToken.token_hash,
                ApiToken.id,
                ApiToken.expires_at,
                ApiToken.revoked_at,
                Account.id,
                Account.email,
                Account.display_name,
                Account.is_active,
                AccountRole.role,
            )
            .join(Account, Account.id == ApiToken.account_id)
            .outerjoin(AccountRole, AccountRole.account_id == Account.id)
            .where(ApiToken.token_hash.in_(list(token_hashes)))
        )
    ).all()
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    found: dict[str, tuple[Principal, datetime]] = {}
    for token_hash, group in grouped.items():
        _, token_id, expires_at, revoked_at, account_id, email, name, is_active, _ = group[0]
        if revoked_at is not None or expires_at <= now or not is_active:
            continue
        roles = frozenset(row[8] for row in group if row[8] is not None)
        found[token_hash] = Principal(account_id, email, name, roles, token_id), expires_at
    return found


async def revoke_token(session: AsyncSession, *, token_id: str, now: datetime) -> None:
    token = await session.get(ApiToken, token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = now
        await session.flush()


async def list_accounts(
    session: AsyncSession, *, cursor: str | None, limit: int, email_contains: str | None = None
) -> tuple[list[Account], str | None]:
    query = select(Account).order_by(Account.id).limit(limit + 1)
    if cursor:
        query = query.where(Account.id > cursor)
    if email_contains:
        query = query.where(Account.email.contains(email_contains.lower()))
    rows = list((await session.execute(query)).scalars())
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


async def assign_operator(
    session: AsyncSession, *, operator_id: str, anchor_id: str, now: datetime
) -> None:
    """Let ``operator_id`` work the sessions of ``anchor_id``."""
    if "operator" not in await roles_of(session, account_id=operator_id):
        raise invalid("auth.not_an_operator", "the account is not an operator", "operator_id")
    if "anchor" not in await roles_of(session, account_id=anchor_id):
        raise invalid("auth.not_an_anchor", "the account is not an anchor", "anchor_id")
    existing = await session.get(OperatorAssignment, (operator_id, anchor_id))
    if existing is None:
        session.add(
            OperatorAssignment(operator_id=operator_id, anchor_id=anchor_id, created_at=now)
        )
        await session.flush()


async def anchors_of_operator(session: AsyncSession, *, operator_id: str) -> list[str]:
    result = await session.execute(
        select(OperatorAssignment.anchor_id).where(OperatorAssignment.operator_id == operator_id)
    )
    return list(result.scalars())


async def can_act_for_anchor(
    session: AsyncSession, *, principal: Principal, anchor_id: str
) -> bool:
    """The anchor itself (while it holds the anchor role), an operator assigned to it, or an
    admin. The principal's roles are those read for this request: a revoked anchor is
    refused on its own sessions from its next request on."""
    if principal.is_admin:
        return True
    if principal.account_id == anchor_id:
        return principal.has("anchor")
    if not principal.has("operator"):
        return False
    return anchor_id in await anchors_of_operator(session, operator_id=principal.account_id)


def require_role(principal: Principal, *roles: str) -> None:
    if principal.is_admin or any(principal.has(r) for r in roles):
        return
    raise Problem(403, "auth.forbidden", f"this needs the role {' or '.join(roles)}")
