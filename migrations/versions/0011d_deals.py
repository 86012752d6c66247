"""deals: merchants' offers to anchors, the deals anchors accepted, the ledger of their shares;
who funds a coupon (and its wallet budget), and what an order's merchant receives

Revision ID: 0011d_deals
Revises: 0010
Create Date: 2026-12-03 07:16:02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011d_deals"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "deal_offers",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("product_id", sa.String(length=26), nullable=False),
        sa.Column("created_by", sa.String(length=26), nullable=False),
        sa.Column("open_to_all", sa.Boolean(), nullable=False),
        sa.Column("floor_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("stock_share", sa.Integer(), nullable=False),
        sa.Column("prize_units", sa.Integer(), nullable=False),
        sa.Column("coupon_budget_minor", sa.BigInteger(), nullable=False),
        sa.Column("commission_bps", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "commission_bps >= 0 AND commission_bps <= 10000",
            name=op.f("ck_deal_offers_commission_bps"),
        ),
        sa.CheckConstraint(
            "coupon_budget_minor >= 0", name=op.f("ck_deal_offers_coupon_budget_non_negative")
        ),
        sa.CheckConstraint(
            "floor_price_minor >= 0", name=op.f("ck_deal_offers_floor_non_negative")
        ),
        sa.CheckConstraint(
            "prize_units >= 0", name=op.f("ck_deal_offers_prize_units_non_negative")
        ),
        sa.CheckConstraint(
            "stock_share >= 0", name=op.f("ck_deal_offers_stock_share_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["accounts.id"], name=op.f("fk_deal_offers_created_by_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_deal_offers_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_deal_offers_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_offers")),
    )
    with op.batch_alter_table("deal_offers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deal_offers_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_deal_offers_product_id"), ["product_id"], unique=False)
        batch_op.create_index(
            "ix_deal_offers_status_valid_until", ["status", "valid_until"], unique=False
        )

    op.create_table(
        "deal_offer_targets",
        sa.Column("offer_id", sa.String(length=26), nullable=False),
        sa.Column("anchor_id", sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(
            ["anchor_id"],
            ["accounts.id"],
            name=op.f("fk_deal_offer_targets_anchor_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["deal_offers.id"],
            name=op.f("fk_deal_offer_targets_offer_id_deal_offers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("offer_id", "anchor_id", name=op.f("pk_deal_offer_targets")),
    )
    with op.batch_alter_table("deal_offer_targets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deal_offer_targets_anchor_id"), ["anchor_id"], unique=False
        )

    op.create_table(
        "deals",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("offer_id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("anchor_id", sa.String(length=26), nullable=False),
        sa.Column("product_id", sa.String(length=26), nullable=False),
        sa.Column("floor_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("stock_share", sa.Integer(), nullable=False),
        sa.Column("stock_used", sa.Integer(), nullable=False),
        sa.Column("prize_units", sa.Integer(), nullable=False),
        sa.Column("prize_used", sa.Integer(), nullable=False),
        sa.Column("coupon_budget_minor", sa.BigInteger(), nullable=False),
        sa.Column("coupon_budget_used_minor", sa.BigInteger(), nullable=False),
        sa.Column("commission_bps", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.Column("accepted_by", sa.String(length=26), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_by", sa.String(length=26), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "coupon_budget_used_minor >= 0 AND coupon_budget_used_minor <= coupon_budget_minor",
            name=op.f("ck_deals_coupon_budget_within"),
        ),
        sa.CheckConstraint(
            "prize_used >= 0 AND prize_used <= prize_units", name=op.f("ck_deals_prizes_within")
        ),
        sa.CheckConstraint(
            "stock_used >= 0 AND stock_used <= stock_share", name=op.f("ck_deals_stock_within")
        ),
        sa.ForeignKeyConstraint(
            ["anchor_id"], ["accounts.id"], name=op.f("fk_deals_anchor_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_deals_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["deal_offers.id"], name=op.f("fk_deals_offer_id_deal_offers")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_deals_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deals")),
        sa.UniqueConstraint("offer_id", "anchor_id", name=op.f("uq_deals_offer_id_anchor_id")),
    )
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deals_anchor_id"), ["anchor_id"], unique=False)
        batch_op.create_index("ix_deals_merchant_id_id", ["merchant_id", "id"], unique=False)
        batch_op.create_index(
            "uq_deals_active_anchor_product",
            ["anchor_id", "product_id"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "deal_uses",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("deal_id", sa.String(length=26), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_deal_uses_amount_not_zero")),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name=op.f("fk_deal_uses_deal_id_deals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_uses")),
    )
    with op.batch_alter_table("deal_uses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deal_uses_deal_id"), ["deal_id"], unique=False)
        batch_op.create_index("ix_deal_uses_kind_source", ["kind", "source"], unique=False)

    with op.batch_alter_table("coupon_templates", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("funded_by", sa.String(length=16), server_default="merchant", nullable=False)
        )
        batch_op.add_column(sa.Column("funder_id", sa.String(length=26), nullable=True))
        batch_op.add_column(sa.Column("deal_id", sa.String(length=26), nullable=True))
        batch_op.add_column(sa.Column("budget_minor", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("budget_used_minor", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("budget_refunded_minor", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_coupon_templates_deal_id_deals"), "deals", ["deal_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_coupon_templates_funder_id_accounts"), "accounts", ["funder_id"], ["id"]
        )
        batch_op.create_check_constraint(
            op.f("ck_coupon_templates_budget_within"),
            "budget_used_minor >= 0 AND budget_refunded_minor >= 0 AND (budget_minor IS NULL "
            "OR budget_used_minor + budget_refunded_minor <= budget_minor)",
        )
    # what existed: a merchant's coupon is the merchant's; the others were nobody's, i.e. the
    # platform's (an admin's, or an anchor's from before funding was checked)
    op.execute("UPDATE coupon_templates SET funded_by = 'platform' WHERE merchant_id IS NULL")

    with op.batch_alter_table("coupon_redemptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("funded_by", sa.String(length=16), server_default="merchant", nullable=False)
        )
    op.execute(
        "UPDATE coupon_redemptions SET funded_by = 'platform' WHERE template_id IN "
        "(SELECT id FROM coupon_templates WHERE funded_by = 'platform')"
    )

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "merchant_discount_minor", sa.BigInteger(), server_default="0", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column(
                "merchant_receives_minor", sa.BigInteger(), server_default="0", nullable=False
            )
        )
    # orders so far: every discount counted against the merchant (nobody else paid it)
    op.execute(
        "UPDATE orders SET merchant_discount_minor = discount_minor, "
        "merchant_receives_minor = subtotal_minor + shipping_minor - discount_minor"
    )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("merchant_receives_minor")
        batch_op.drop_column("merchant_discount_minor")

    with op.batch_alter_table("coupon_redemptions", schema=None) as batch_op:
        batch_op.drop_column("funded_by")

    with op.batch_alter_table("coupon_templates", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_coupon_templates_budget_within"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_coupon_templates_funder_id_accounts"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_coupon_templates_deal_id_deals"), type_="foreignkey"
        )
        batch_op.drop_column("ended_at")
        batch_op.drop_column("budget_refunded_minor")
        batch_op.drop_column("budget_used_minor")
        batch_op.drop_column("budget_minor")
        batch_op.drop_column("deal_id")
        batch_op.drop_column("funder_id")
        batch_op.drop_column("funded_by")

    with op.batch_alter_table("deal_uses", schema=None) as batch_op:
        batch_op.drop_index("ix_deal_uses_kind_source")
        batch_op.drop_index(batch_op.f("ix_deal_uses_deal_id"))

    op.drop_table("deal_uses")
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_deals_active_anchor_product",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index("ix_deals_merchant_id_id")
        batch_op.drop_index(batch_op.f("ix_deals_anchor_id"))

    op.drop_table("deals")
    with op.batch_alter_table("deal_offer_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deal_offer_targets_anchor_id"))

    op.drop_table("deal_offer_targets")
    with op.batch_alter_table("deal_offers", schema=None) as batch_op:
        batch_op.drop_index("ix_deal_offers_status_valid_until")
        batch_op.drop_index(batch_op.f("ix_deal_offers_product_id"))
        batch_op.drop_index(batch_op.f("ix_deal_offers_merchant_id"))

    op.drop_table("deal_offers")
