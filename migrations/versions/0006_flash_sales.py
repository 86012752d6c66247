"""flash sales: sales, reservations (accepted buys), waitlist

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flash_sales",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("session_id", sa.String(length=26), nullable=False),
        sa.Column("item_id", sa.String(length=26), nullable=False),
        sa.Column("sku_id", sa.String(length=26), nullable=False),
        sa.Column("product_id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("list_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("per_user_limit", sa.Integer(), nullable=False),
        sa.Column("payment_window_seconds", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=26), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["live_rundown_items.id"],
            name=op.f("fk_flash_sales_item_id_live_rundown_items"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_flash_sales_session_id_live_sessions"),
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_flash_sales_sku_id_skus")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_sales")),
    )
    with op.batch_alter_table("flash_sales", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flash_sales_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_flash_sales_status"), ["status"], unique=False)

    op.create_table(
        "flash_reservations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("sale_id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=26), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("from_waitlist", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["sale_id"], ["flash_sales.id"], name=op.f("fk_flash_reservations_sale_id_flash_sales")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_reservations")),
        sa.UniqueConstraint("order_id", name=op.f("uq_flash_reservations_order_id")),
    )
    with op.batch_alter_table("flash_reservations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_flash_reservations_sale_status", ["sale_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_flash_reservations_status_expires_at", ["status", "expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_flash_reservations_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "flash_waitlist",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("sale_id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("shipping_address", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reservation_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sale_id"], ["flash_sales.id"], name=op.f("fk_flash_waitlist_sale_id_flash_sales")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_waitlist")),
        sa.UniqueConstraint("sale_id", "user_id", name=op.f("uq_flash_waitlist_sale_id_user_id")),
    )
    with op.batch_alter_table("flash_waitlist", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flash_waitlist_sale_id"), ["sale_id"], unique=False)


def downgrade() -> None:
    op.drop_table("flash_waitlist")
    op.drop_table("flash_reservations")
    op.drop_table("flash_sales")
