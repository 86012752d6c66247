"""coupons: templates, drops in live sessions, held coupons, redemptions by orders

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupon_templates",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("issuer_id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=True),
        sa.Column("session_id", sa.String(length=26), nullable=True),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("amount_off_minor", sa.BigInteger(), nullable=False),
        sa.Column("percent_off", sa.Integer(), nullable=False),
        sa.Column("cap_minor", sa.BigInteger(), nullable=True),
        sa.Column("min_spend_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("scope_merchant_id", sa.String(length=26), nullable=True),
        sa.Column("sku_ids", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("live_session_only", sa.Boolean(), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("claimed_count", sa.Integer(), nullable=False),
        sa.Column("per_user_limit", sa.Integer(), nullable=False),
        sa.Column("eligibility", sa.String(length=16), nullable=False),
        sa.Column("stackable", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "claimed_count >= 0 AND claimed_count <= quota",
            name=op.f("ck_coupon_templates_claimed_within"),
        ),
        sa.CheckConstraint(
            "per_user_limit >= 1", name=op.f("ck_coupon_templates_per_user_limit_positive")
        ),
        sa.CheckConstraint("quota >= 1", name=op.f("ck_coupon_templates_quota_positive")),
        sa.ForeignKeyConstraint(
            ["issuer_id"], ["accounts.id"], name=op.f("fk_coupon_templates_issuer_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_coupon_templates_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_coupon_templates_session_id_live_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_templates")),
    )
    with op.batch_alter_table("coupon_templates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coupon_templates_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_coupon_templates_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "coupon_drops",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("template_id", sa.String(length=26), nullable=False),
        sa.Column("session_id", sa.String(length=26), nullable=False),
        sa.Column("created_by", sa.String(length=26), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("claimed_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "claimed_count >= 0 AND claimed_count <= quota",
            name=op.f("ck_coupon_drops_claimed_within"),
        ),
        sa.CheckConstraint("quota >= 1", name=op.f("ck_coupon_drops_quota_positive")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["accounts.id"], name=op.f("fk_coupon_drops_created_by_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_coupon_drops_session_id_live_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["coupon_templates.id"],
            name=op.f("fk_coupon_drops_template_id_coupon_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_drops")),
    )
    with op.batch_alter_table("coupon_drops", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coupon_drops_session_id"), ["session_id"], unique=False
        )
        batch_op.create_index("ix_coupon_drops_status_ends_at", ["status", "ends_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_coupon_drops_template_id"), ["template_id"], unique=False
        )

    op.create_table(
        "coupons",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("template_id", sa.String(length=26), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("drop_id", sa.String(length=26), nullable=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.String(length=26), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("number >= 1", name=op.f("ck_coupons_number_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_coupons_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["drop_id"], ["coupon_drops.id"], name=op.f("fk_coupons_drop_id_coupon_drops")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_coupons_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["coupon_templates.id"],
            name=op.f("fk_coupons_template_id_coupon_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
        sa.UniqueConstraint(
            "template_id",
            "account_id",
            "number",
            name=op.f("uq_coupons_template_id_account_id_number"),
        ),
    )
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.create_index("ix_coupons_account_status", ["account_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_coupons_order_id"), ["order_id"], unique=False)

    op.create_table(
        "coupon_redemptions",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("order_id", sa.String(length=26), nullable=False),
        sa.Column("coupon_id", sa.String(length=26), nullable=False),
        sa.Column("template_id", sa.String(length=26), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("per_line_minor", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "amount_minor >= 0", name=op.f("ck_coupon_redemptions_amount_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_coupon_redemptions_coupon_id_coupons")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_coupon_redemptions_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_redemptions")),
    )
    with op.batch_alter_table("coupon_redemptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coupon_redemptions_coupon_id"), ["coupon_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_coupon_redemptions_order_id"), ["order_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("coupon_redemptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupon_redemptions_order_id"))
        batch_op.drop_index(batch_op.f("ix_coupon_redemptions_coupon_id"))

    op.drop_table("coupon_redemptions")
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupons_order_id"))
        batch_op.drop_index("ix_coupons_account_status")

    op.drop_table("coupons")
    with op.batch_alter_table("coupon_drops", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupon_drops_template_id"))
        batch_op.drop_index("ix_coupon_drops_status_ends_at")
        batch_op.drop_index(batch_op.f("ix_coupon_drops_session_id"))

    op.drop_table("coupon_drops")
    with op.batch_alter_table("coupon_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupon_templates_session_id"))
        batch_op.drop_index(batch_op.f("ix_coupon_templates_merchant_id"))

    op.drop_table("coupon_templates")
