"""The database layer: SQLite pragmas, UTC round trips, migrations are idempotent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from liveshop import migrate
from liveshop.auth.models import Account
from liveshop.db import create_engine


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_datetimes_come_back_aware_in_utc(session):
    shanghai = timezone(timedelta(hours=8))
    when = datetime(2026, 5, 1, 20, 0, tzinfo=shanghai)
    session.add(
        Account(
            email="t@example.com",
            password_hash="x",
            display_name="t",
            is_active=True,
            created_at=when,
        )
    )
    await session.commit()
    session.expunge_all()
    got = (await session.execute(select(Account.created_at))).scalar_one()
    assert got == when
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)
    assert got.hour == 12


async def test_naive_datetimes_are_refused(session):
    session.add(
        Account(
            email="n@example.com",
            password_hash="x",
            display_name="n",
            is_active=True,
            created_at=datetime(2026, 1, 1),
        )
    )
    with pytest.raises(Exception, match="naive datetime"):
        await session.commit()


def test_upgrade_twice_changes_nothing(database_url):
    migrate.upgrade(database_url)
    migrate.upgrade(database_url)


async def test_foreign_keys_are_enforced(session):
    from liveshop.auth.models import AccountRole

    session.add(AccountRole(account_id="does-not-exist", role="fan"))
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        await session.commit()
