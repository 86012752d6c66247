"""wallet (balances, ledger) and red envelopes (pots, grabs)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 11:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wallet_balances",
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "balance_minor >= 0", name=op.f("ck_wallet_balances_balance_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_wallet_balances_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "currency", name=op.f("pk_wallet_balances")),
    )
    op.create_table(
        "wallet_entries",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("ref", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor <> 0", name=op.f("ck_wallet_entries_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_wallet_entries_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_entries")),
        sa.UniqueConstraint(
            "account_id", "kind", "ref", name=op.f("uq_wallet_entries_account_id_kind_ref")
        ),
    )
    with op.batch_alter_table("wallet_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_wallet_entries_account_currency_id",
            ["account_id", "currency", "id"],
            unique=False,
        )

    op.create_table(
        "red_envelopes",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("session_id", sa.String(length=26), nullable=False),
        sa.Column("funder_id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("eligibility", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grabbed_count", sa.Integer(), nullable=False),
        sa.Column("grabbed_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("pieces", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("count >= 1", name=op.f("ck_red_envelopes_count_positive")),
        sa.CheckConstraint(
            "amount_minor >= count", name=op.f("ck_red_envelopes_amount_covers_count")
        ),
        sa.CheckConstraint(
            "grabbed_count <= count", name=op.f("ck_red_envelopes_grabbed_count_within")
        ),
        sa.CheckConstraint(
            "grabbed_minor + refunded_minor <= amount_minor",
            name=op.f("ck_red_envelopes_paid_within"),
        ),
        sa.ForeignKeyConstraint(
            ["funder_id"], ["accounts.id"], name=op.f("fk_red_envelopes_funder_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_red_envelopes_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_red_envelopes_session_id_live_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_red_envelopes")),
    )
    with op.batch_alter_table("red_envelopes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_red_envelopes_session_id"), ["session_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_red_envelopes_status"), ["status"], unique=False)

    op.create_table(
        "red_envelope_grabs",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("envelope_id", sa.String(length=26), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("piece", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor >= 1", name=op.f("ck_red_envelope_grabs_amount_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_red_envelope_grabs_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["envelope_id"],
            ["red_envelopes.id"],
            name=op.f("fk_red_envelope_grabs_envelope_id_red_envelopes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_red_envelope_grabs")),
        sa.UniqueConstraint(
            "envelope_id", "account_id", name=op.f("uq_red_envelope_grabs_envelope_id_account_id")
        ),
        sa.UniqueConstraint(
            "envelope_id", "seq", name=op.f("uq_red_envelope_grabs_envelope_id_seq")
        ),
    )
    with op.batch_alter_table("red_envelope_grabs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_red_envelope_grabs_account_id"), ["account_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("red_envelope_grabs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_red_envelope_grabs_account_id"))
    op.drop_table("red_envelope_grabs")
    with op.batch_alter_table("red_envelopes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_red_envelopes_status"))
        batch_op.drop_index(batch_op.f("ix_red_envelopes_session_id"))
    op.drop_table("red_envelopes")
    with op.batch_alter_table("wallet_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_wallet_entries_account_currency_id")
    op.drop_table("wallet_entries")
    op.drop_table("wallet_balances")
