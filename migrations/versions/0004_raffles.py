"""raffles: the raffle (committed seed), entries, winners and their prize orders

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "raffles",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("session_id", sa.String(length=26), nullable=False),
        sa.Column("item_id", sa.String(length=26), nullable=False),
        sa.Column("sku_id", sa.String(length=26), nullable=False),
        sa.Column("product_id", sa.String(length=26), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("eligibility", sa.String(length=24), nullable=False),
        sa.Column("keyword", sa.String(length=50), nullable=True),
        sa.Column("winners_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("server_seed", sa.String(length=64), nullable=False),
        sa.Column("commitment", sa.String(length=64), nullable=False),
        sa.Column("public_seed_source", sa.String(length=200), nullable=True),
        sa.Column("public_seed", sa.String(length=500), nullable=True),
        sa.Column("entrants_count", sa.Integer(), nullable=True),
        sa.Column("entrants_hash", sa.String(length=64), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["live_rundown_items.id"],
            name=op.f("fk_raffles_item_id_live_rundown_items"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["live_sessions.id"], name=op.f("fk_raffles_session_id_live_sessions")
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_raffles_sku_id_skus")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_raffles")),
    )
    with op.batch_alter_table("raffles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_raffles_session_id"), ["session_id"], unique=False)
        batch_op.create_index("ix_raffles_status_closes_at", ["status", "closes_at"], unique=False)

    op.create_table(
        "raffle_entries",
        sa.Column("raffle_id", sa.String(length=26), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_raffle_entries_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["raffle_id"],
            ["raffles.id"],
            name=op.f("fk_raffle_entries_raffle_id_raffles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("raffle_id", "account_id", name=op.f("pk_raffle_entries")),
    )
    op.create_table(
        "raffle_winners",
        sa.Column("raffle_id", sa.String(length=26), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("order_id", sa.String(length=26), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_raffle_winners_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["raffle_id"],
            ["raffles.id"],
            name=op.f("fk_raffle_winners_raffle_id_raffles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("raffle_id", "rank", name=op.f("pk_raffle_winners")),
        sa.UniqueConstraint(
            "raffle_id", "account_id", name=op.f("uq_raffle_winners_raffle_id_account_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("raffle_winners")
    op.drop_table("raffle_entries")
    with op.batch_alter_table("raffles", schema=None) as batch_op:
        batch_op.drop_index("ix_raffles_status_closes_at")
        batch_op.drop_index(batch_op.f("ix_raffles_session_id"))
    op.drop_table("raffles")
