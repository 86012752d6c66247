"""store credit: wallet top-ups, store credit on orders, refunds split between card and wallet

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wallet_top_ups",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_intent_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("pay_url", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_wallet_top_ups_amount_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_wallet_top_ups_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_top_ups")),
        sa.UniqueConstraint(
            "provider_intent_id", name=op.f("uq_wallet_top_ups_provider_intent_id")
        ),
    )
    with op.batch_alter_table("wallet_top_ups", schema=None) as batch_op:
        batch_op.create_index("ix_wallet_top_ups_account_id_id", ["account_id", "id"], unique=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("wallet_minor", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("wallet_refunded_minor", sa.BigInteger(), server_default="0", nullable=False)
        )

    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("wallet_minor", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.alter_column("payment_id", existing_type=sa.String(length=26), nullable=True)
        batch_op.alter_column(
            "provider_refund_id", existing_type=sa.String(length=64), nullable=True
        )


def downgrade() -> None:
    # Refunds made only of store credit have no card part to keep: drop them first.
    op.execute("DELETE FROM refunds WHERE payment_id IS NULL OR provider_refund_id IS NULL")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.alter_column(
            "provider_refund_id", existing_type=sa.String(length=64), nullable=False
        )
        batch_op.alter_column("payment_id", existing_type=sa.String(length=26), nullable=False)
        batch_op.drop_column("wallet_minor")

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("wallet_refunded_minor")
        batch_op.drop_column("wallet_minor")

    with op.batch_alter_table("wallet_top_ups", schema=None) as batch_op:
        batch_op.drop_index("ix_wallet_top_ups_account_id_id")

    op.drop_table("wallet_top_ups")
