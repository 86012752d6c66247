from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from liveshop.auth import ratelimit
from liveshop.auth import service as auth_service
from liveshop.auth.schemas import (
    AccountOut,
    AccountPage,
    OperatorAssignmentIn,
    Role,
    RoleChange,
    SignIn,
    SignUp,
    TokenOut,
)
from liveshop.deps import (
    AdminPrincipal,
    CurrentPrincipal,
    RuntimeDep,
    SessionDep,
    bearer_token,
    client_ip,
)
from liveshop.errors import Problem

router = APIRouter(tags=["auth"])


@router.post("/auth/signup", status_code=201, response_model=TokenOut)
async def sign_up(body: SignUp, session: SessionDep, runtime: RuntimeDep) -> TokenOut:
    """Create a fan account and sign it in."""
    now = runtime.clock.now()
    account = await auth_service.create(
        session,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        passwords=runtime.passwords,
        now=now,
    )
    token, row = await auth_service.issue_token(
        session,
        account_id=account.id,
        now=now,
        ttl=timedelta(seconds=runtime.settings.token_ttl_seconds),
    )
    out = await auth_service.to_out(session, account)
    await session.commit()
    return TokenOut(token=token, expires_at=row.expires_at, account=out)


@router.post(
    "/auth/signin",
    response_model=TokenOut,
    responses={429: {"description": "auth.rate_limited"}},
)
async def sign_in(
    body: SignIn, request: Request, session: SessionDep, runtime: RuntimeDep
) -> TokenOut:
    """Exchange email and password for a bearer token. Attempts are counted before the
    password is checked, per client IP and per (account, client IP): over either limit, 429
    ``auth.rate_limited`` with ``Retry-After``."""
    settings = runtime.settings
    ip = client_ip(request)
    await ratelimit.count_attempt(runtime.counters, settings, email=body.email, ip=ip)
    account = await auth_service.authenticate(
        session, email=body.email, password=body.password, passwords=runtime.passwords
    )
    if account is None:
        raise Problem(401, "auth.invalid_credentials", "wrong email or password")
    await ratelimit.record_success(runtime.counters, email=body.email, ip=ip)
    now = runtime.clock.now()
    token, row = await auth_service.issue_token(
        session, account_id=account.id, now=now, ttl=timedelta(seconds=settings.token_ttl_seconds)
    )
    out = await auth_service.to_out(session, account)
    await session.commit()
    return TokenOut(token=token, expires_at=row.expires_at, account=out)


@router.post("/auth/signout", status_code=204)
async def sign_out(
    request: Request, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Revoke the token used for this request."""
    assert principal.token_id is not None
    await auth_service.revoke_token(session, token_id=principal.token_id, now=runtime.clock.now())
    await session.commit()
    if (token := bearer_token(request)) is not None:
        await runtime.invalidation.token_revoked(auth_service.hash_token(token))
    return Response(status_code=204)


@router.get("/auth/me", response_model=AccountOut)
async def me(principal: CurrentPrincipal, session: SessionDep) -> AccountOut:
    account = await auth_service.get_or_raise(session, account_id=principal.account_id)
    return await auth_service.to_out(session, account)


@router.get("/admin/accounts", response_model=AccountPage)
async def list_accounts(
    _: AdminPrincipal,
    session: SessionDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    email: str | None = None,
) -> AccountPage:
    rows, next_cursor = await auth_service.list_accounts(
        session, cursor=cursor, limit=limit, email_contains=email
    )
    return AccountPage(
        items=[await auth_service.to_out(session, a) for a in rows], next_cursor=next_cursor
    )


@router.post("/admin/accounts/{account_id}/roles", response_model=AccountOut)
async def grant_role(
    account_id: str, body: RoleChange, _: AdminPrincipal, session: SessionDep, runtime: RuntimeDep
) -> AccountOut:
    await auth_service.grant_role(session, account_id=account_id, role=body.role)
    await session.commit()
    await runtime.invalidation.account_changed(account_id)
    account = await auth_service.get_or_raise(session, account_id=account_id)
    return await auth_service.to_out(session, account)


@router.delete("/admin/accounts/{account_id}/roles/{role}", response_model=AccountOut)
async def revoke_role(
    account_id: str, role: Role, _: AdminPrincipal, session: SessionDep, runtime: RuntimeDep
) -> AccountOut:
    await auth_service.revoke_role(session, account_id=account_id, role=role)
    await session.commit()
    await runtime.invalidation.account_changed(account_id)
    account = await auth_service.get_or_raise(session, account_id=account_id)
    return await auth_service.to_out(session, account)


@router.post(
    "/admin/accounts/{account_id}/deactivate",
    response_model=AccountOut,
    responses={409: {"description": "account.self_deactivation"}},
)
async def deactivate_account(
    account_id: str, principal: AdminPrincipal, session: SessionDep, runtime: RuntimeDep
) -> AccountOut:
    """The account can no longer sign in and its tokens are refused (on every node: its
    cached principals are dropped); its data stays. An admin cannot deactivate itself."""
    account = await auth_service.set_active(
        session, account_id=account_id, active=False, actor_id=principal.account_id
    )
    await session.commit()
    await runtime.invalidation.account_changed(account_id)
    return await auth_service.to_out(session, account)


@router.post("/admin/accounts/{account_id}/activate", response_model=AccountOut)
async def activate_account(
    account_id: str, principal: AdminPrincipal, session: SessionDep, runtime: RuntimeDep
) -> AccountOut:
    """Undo a deactivation: its unexpired, unrevoked tokens work again."""
    account = await auth_service.set_active(
        session, account_id=account_id, active=True, actor_id=principal.account_id
    )
    await session.commit()
    await runtime.invalidation.account_changed(account_id)
    return await auth_service.to_out(session, account)


@router.post("/admin/operator-assignments", status_code=204)
async def assign_operator(
    body: OperatorAssignmentIn, _: AdminPrincipal, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Assign an operator to an anchor (the operator may then work its sessions)."""
    await auth_service.assign_operator(
        session, operator_id=body.operator_id, anchor_id=body.anchor_id, now=runtime.clock.now()
    )
    await session.commit()
    return Response(status_code=204)
