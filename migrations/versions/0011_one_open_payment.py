"""one open payment per order

An order has at most one payment awaiting the buyer (status ``requires_action``): a partial
unique index, beside the order's row lock that payment starts take. Payments left open beside
another by the old race are marked failed first (the buyer never paid them: a success event
for one of them is refunded as a late payment).

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE payments SET status = 'failed' WHERE status = 'requires_action' AND id NOT IN "
        "(SELECT MIN(id) FROM payments WHERE status = 'requires_action' GROUP BY order_id)"
    )
    op.create_index(
        "uq_payments_one_open_per_order",
        "payments",
        ["order_id"],
        unique=True,
        sqlite_where=sa.text("status = 'requires_action'"),
        postgresql_where=sa.text("status = 'requires_action'"),
    )


def downgrade() -> None:
    op.drop_index("uq_payments_one_open_per_order", table_name="payments")
