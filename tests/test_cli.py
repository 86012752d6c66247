"""The ``liveshop`` command and the demo seed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from liveshop import __version__
from liveshop.auth.models import Account
from liveshop.catalog.models import Product, Sku
from liveshop.cli import app
from liveshop.clock import FrozenClock
from liveshop.db import create_engine, create_sessionmaker
from liveshop.inventory import service as inventory
from liveshop.inventory.models import Stock, StockMovement, Warehouse
from liveshop.seed import DEMO_PASSWORD, demo_email, seed_demo


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "cli.db"
    monkeypatch.setenv("LIVESHOP_DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    monkeypatch.setenv("LIVESHOP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LIVESHOP_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("LIVESHOP_ARGON2_MEMORY_COST_KIB", "64")
    monkeypatch.delenv("LIVESHOP_REDIS_URL", raising=False)
    return db


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"liveshop {__version__}"


def test_db_upgrade_twice_then_admin_create(cli_env: Path):
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(app, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert "up to date" in result.output
    created = runner.invoke(
        app, ["admin", "create", "--email", "root@example.com", "--password", "long enough pw"]
    )
    assert created.exit_code == 0, created.output
    assert "admin created" in created.output
    again = runner.invoke(
        app, ["admin", "create", "--email", "root@example.com", "--password", "long enough pw"]
    )
    assert again.exit_code == 0 and "role granted" in again.output
    bad = runner.invoke(app, ["admin", "create", "--email", "nope", "--password", "x"])
    assert bad.exit_code == 2 and "invalid input" in bad.output


def test_production_without_a_secret_key_is_refused(cli_env: Path, monkeypatch):
    monkeypatch.setenv("LIVESHOP_ENV", "production")
    monkeypatch.delenv("LIVESHOP_SECRET_KEY", raising=False)
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "configuration error" in result.output


async def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as s:
            counts = {}
            for model in (Account, Product, Sku, Warehouse, Stock, StockMovement):
                counts[model.__name__] = (
                    await s.execute(select(func.count()).select_from(model))
                ).scalar_one()
            assert await inventory.verify_ledger(s) == []
            warehouses = (await s.execute(select(Warehouse.city))).scalars().all()
            return {**counts, "cities": len(set(warehouses))}
    finally:
        await engine.dispose()


async def test_the_demo_seed_is_idempotent(settings):
    now = FrozenClock().now()
    first = await seed_demo(settings, now=now)
    assert first.created
    before = await _counts(settings.database_url)
    second = await seed_demo(settings, now=now)
    assert not second.created
    assert second.account_ids == first.account_ids
    assert second.product_ids == first.product_ids
    assert await _counts(settings.database_url) == before
    assert before["Product"] >= 3 and before["cities"] >= 3 and before["StockMovement"] > 0
    assert (demo_email("fan1"), DEMO_PASSWORD, "fan") in first.logins


async def test_the_demo_operator_is_funded_once_by_a_seeded_top_up(settings):
    from liveshop.seed import DEMO_OPERATOR_CREDIT_MINOR
    from liveshop.wallet import service as wallet
    from liveshop.wallet.models import WalletEntry, WalletTopUp

    now = FrozenClock().now()
    data = await seed_demo(settings, now=now)
    await seed_demo(settings, now=now)
    operator = data.account_ids["operator"]
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as s:
            held = await wallet.balance(s, account_id=operator, currency="CNY")
            assert held == DEMO_OPERATOR_CREDIT_MINOR
            assert await wallet.verify(s) == []
            kinds = (
                await s.execute(select(WalletEntry.kind).where(WalletEntry.account_id == operator))
            ).scalars()
            assert list(kinds) == ["top_up"]
            [top_up] = (await s.execute(select(WalletTopUp))).scalars().all()
            assert (top_up.provider, top_up.status) == ("seed", "succeeded")
    finally:
        await engine.dispose()
