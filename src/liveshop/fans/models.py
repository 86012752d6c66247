"""Tables of the fans domain: who follows which anchor, fan groups and their members.

Both membership tables key on the pair, so a concurrent second follow or join cannot make
a duplicate row: the loser gets an IntegrityError that the service turns into success.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from liveshop.db import Base, UTCDateTime, id_column


class Follow(Base):
    """``account_id`` follows the anchor ``anchor_id``; unfollowing deletes the row."""

    __tablename__ = "fan_follows"
    __table_args__ = (CheckConstraint("account_id <> anchor_id", name="not_self"),)

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    anchor_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    followed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FanGroup(Base):
    """A fan group of an anchor; its name is unique among the anchor's groups."""

    __tablename__ = "fan_groups"
    __table_args__ = (UniqueConstraint("anchor_id", "name"),)

    id: Mapped[str] = id_column()
    anchor_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FanGroupMember(Base):
    """``account_id`` is a member of the fan group ``group_id``."""

    __tablename__ = "fan_group_members"

    group_id: Mapped[str] = mapped_column(
        ForeignKey("fan_groups.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
