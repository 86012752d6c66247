"""fans: follows of anchors, fan groups and their members

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fan_follows",
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("anchor_id", sa.String(length=26), nullable=False),
        sa.Column("followed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("account_id <> anchor_id", name=op.f("ck_fan_follows_not_self")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_fan_follows_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["anchor_id"],
            ["accounts.id"],
            name=op.f("fk_fan_follows_anchor_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "anchor_id", name=op.f("pk_fan_follows")),
    )
    with op.batch_alter_table("fan_follows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fan_follows_anchor_id"), ["anchor_id"], unique=False)

    op.create_table(
        "fan_groups",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("anchor_id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["anchor_id"],
            ["accounts.id"],
            name=op.f("fk_fan_groups_anchor_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fan_groups")),
        sa.UniqueConstraint("anchor_id", "name", name=op.f("uq_fan_groups_anchor_id_name")),
    )

    op.create_table(
        "fan_group_members",
        sa.Column("group_id", sa.String(length=26), nullable=False),
        sa.Column("account_id", sa.String(length=26), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_fan_group_members_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["fan_groups.id"],
            name=op.f("fk_fan_group_members_group_id_fan_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "account_id", name=op.f("pk_fan_group_members")),
    )
    with op.batch_alter_table("fan_group_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fan_group_members_account_id"), ["account_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("fan_group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fan_group_members_account_id"))

    op.drop_table("fan_group_members")
    op.drop_table("fan_groups")
    with op.batch_alter_table("fan_follows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fan_follows_anchor_id"))

    op.drop_table("fan_follows")
