"""Sign-up, sign-in, tokens (hashed, expiring, revocable), roles and admin."""

from __future__ import annotations

from sqlalchemy import select

from liveshop.auth.models import ApiToken
from liveshop.auth.service import hash_token


async def signup(client, email="mei@example.com", password="s3cret-pass", name="Mei"):
    return await client.post(
        "/auth/signup", json={"email": email, "password": password, "display_name": name}
    )


async def test_sign_up_then_sign_in_and_see_yourself(client):
    created = await signup(client)
    assert created.status_code == 201, created.text
    assert created.json()["account"]["roles"] == ["fan"]
    signed_in = await client.post(
        "/auth/signin", json={"email": "MEI@example.com", "password": "s3cret-pass"}
    )
    assert signed_in.status_code == 200
    token = signed_in.json()["token"]
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["email"] == "mei@example.com"


async def test_tokens_are_stored_hashed(client, session):
    token = (await signup(client)).json()["token"]
    rows = list((await session.execute(select(ApiToken))).scalars())
    assert [r.token_hash for r in rows] == [hash_token(token)]
    assert token not in {r.token_hash for r in rows}


async def test_duplicate_email_is_409(client):
    await signup(client)
    again = await signup(client, email="Mei@Example.com")
    assert again.status_code == 409
    assert again.json()["code"] == "account.email_taken"


async def test_wrong_password_is_401_invalid_credentials(client):
    await signup(client)
    r = await client.post("/auth/signin", json={"email": "mei@example.com", "password": "nope"})
    assert r.status_code == 401
    assert r.json()["code"] == "auth.invalid_credentials"
    unknown = await client.post("/auth/signin", json={"email": "x@example.com", "password": "nope"})
    assert unknown.json()["code"] == "auth.invalid_credentials"


async def test_sign_out_revokes_the_token(client):
    token = (await signup(client)).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.post("/auth/signout", headers=headers)).status_code == 204
    r = await client.get("/auth/me", headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "auth.invalid_token"


async def test_tokens_expire(client, clock, runtime):
    token = (await signup(client)).json()["token"]
    clock.advance(seconds=runtime.settings.token_ttl_seconds + 1)
    r = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.json()["code"] == "auth.invalid_token"


async def test_garbage_token_is_401(client):
    r = await client.get("/auth/me", headers={"Authorization": "Bearer lst_garbage"})
    assert r.status_code == 401
    assert (await client.get("/auth/me")).json()["code"] == "auth.required"


async def test_validation_errors_name_the_field(client):
    r = await client.post(
        "/auth/signup", json={"email": "not-an-email", "password": "short", "display_name": ""}
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"email", "password", "display_name"}


async def test_admin_grants_roles_and_others_cannot(client, make_account):
    admin = await make_account("admin")
    fan = await make_account("fan")
    denied = await client.post(
        f"/admin/accounts/{fan.id}/roles", json={"role": "anchor"}, headers=fan.headers
    )
    assert denied.status_code == 403
    granted = await client.post(
        f"/admin/accounts/{fan.id}/roles", json={"role": "anchor"}, headers=admin.headers
    )
    assert sorted(granted.json()["roles"]) == ["anchor", "fan"]
    revoked = await client.delete(f"/admin/accounts/{fan.id}/roles/anchor", headers=admin.headers)
    assert revoked.json()["roles"] == ["fan"]
    bad = await client.post(
        f"/admin/accounts/{fan.id}/roles", json={"role": "emperor"}, headers=admin.headers
    )
    assert bad.status_code == 422
    missing = await client.post(
        "/admin/accounts/nope/roles", json={"role": "fan"}, headers=admin.headers
    )
    assert missing.status_code == 404


async def test_operator_acts_only_for_assigned_anchors(client, runtime, make_account):
    from liveshop.auth import service as auth_service

    admin = await make_account("admin")
    operator = await make_account("operator")
    anchor, other_anchor = await make_account("anchor"), await make_account("anchor")
    r = await client.post(
        "/admin/operator-assignments",
        json={"operator_id": operator.id, "anchor_id": anchor.id},
        headers=admin.headers,
    )
    assert r.status_code == 204
    not_operator = await client.post(
        "/admin/operator-assignments",
        json={"operator_id": anchor.id, "anchor_id": anchor.id},
        headers=admin.headers,
    )
    assert not_operator.status_code == 422
    async with runtime.sessionmaker() as s:
        principal = await auth_service.principal_for_token(
            s, token=operator.token, now=runtime.clock.now()
        )
        assert principal is not None
        assert await auth_service.can_act_for_anchor(s, principal=principal, anchor_id=anchor.id)
        assert not await auth_service.can_act_for_anchor(
            s, principal=principal, anchor_id=other_anchor.id
        )
