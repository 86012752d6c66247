"""orders: source (checkout or a promotion) and the live session an order was bought in

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 11:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), server_default="checkout", nullable=False)
        )
        batch_op.add_column(sa.Column("live_session_id", sa.String(length=26), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_orders_live_session_id"), ["live_session_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_live_session_id"))
        batch_op.drop_column("live_session_id")
        batch_op.drop_column("source")
