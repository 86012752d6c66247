"""Who may enter a raffle: its eligibility rule, checked at the entry.

- ``everyone``: any signed-in account.
- ``keyword``: the fan chatted the keyword (case-insensitive, anywhere in the message) in the
  session's room during the entry window, in a message no moderator deleted; read from the
  room event log (``live_room_events``, types ``chat`` and ``chat.deleted``), so flush the log
  writer first (``LiveRooms.flush_log``).
- ``bought_in_session``: the fan has an order bought in this session (``live_session_id``) that
  is paid or later; a raffle prize (source ``raffle``) is not a purchase.
- ``follower``: the fan follows the session's anchor (``fans``), at the entry.
- ``fan_group``: the fan is in one of the anchor's fan groups (``fans``), at the entry.

The anchor and the session's operators (and admins) never enter their own raffles.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth.service import Principal
from liveshop.errors import Problem, forbidden
from liveshop.fans import service as fans_service
from liveshop.live import service as live_service
from liveshop.live.models import RoomEvent
from liveshop.live.moderation_service import can_moderate
from liveshop.orders.models import Order
from liveshop.orders.service import PAID_OR_LATER
from liveshop.promotions.raffles.models import Raffle

MAX_KEYWORD_MESSAGES = 500


def _not_eligible(detail: str) -> Problem:
    return forbidden(detail, code="raffle.not_eligible")


async def check_eligible(session: AsyncSession, *, raffle: Raffle, principal: Principal) -> None:
    """403 ``raffle.not_eligible`` unless ``principal`` may enter (managers never may).

    ``keyword`` reads the room event log: flush it first (``LiveRooms.flush_log``).
    """
    live = await live_service.get_or_raise(session, session_id=raffle.session_id)
    if await can_moderate(
        session, principal=principal, anchor_id=live.anchor_id, session_id=live.id
    ):
        raise _not_eligible("the anchor and the session's operators cannot enter its raffles")
    account_id = principal.account_id
    if raffle.eligibility == "keyword":
        keyword = (raffle.keyword or "").casefold()
        result = await session.execute(
            select(RoomEvent.payload)
            .where(
                RoomEvent.session_id == raffle.session_id,
                RoomEvent.account_id == account_id,
                RoomEvent.type == "chat",
                RoomEvent.at >= raffle.opened_at,
                RoomEvent.at < raffle.closes_at,
            )
            .order_by(RoomEvent.id.desc())
            .limit(MAX_KEYWORD_MESSAGES)
        )
        said = [p for p in result.scalars() if keyword in str(p.get("text", "")).casefold()]
        if said:  # a message a moderator deleted does not count
            deleted = await session.execute(
                select(RoomEvent.payload).where(
                    RoomEvent.session_id == raffle.session_id,
                    RoomEvent.type == "chat.deleted",
                    RoomEvent.at >= raffle.opened_at,
                )
            )
            gone = {p.get("id") for p in deleted.scalars()}
            said = [p for p in said if p.get("id") not in gone]
        if not said:
            raise _not_eligible(f"chat {raffle.keyword!r} in the room during the raffle to enter")
    elif raffle.eligibility == "bought_in_session":
        # The orders domain offers no such query; a read of its table, nothing more.
        result = await session.execute(
            select(Order.id)
            .where(
                Order.buyer_id == account_id,
                Order.live_session_id == raffle.session_id,
                Order.status.in_(PAID_OR_LATER),
                Order.source != "raffle",
            )
            .limit(1)
        )
        if result.first() is None:
            raise _not_eligible("only fans who bought (and paid) in this session may enter")
    elif raffle.eligibility == "follower":
        if not await fans_service.is_follower(
            session, account_id=account_id, anchor_id=live.anchor_id
        ):
            raise _not_eligible("only the anchor's followers may enter: follow the anchor")
    elif raffle.eligibility == "fan_group":
        if not await fans_service.is_fan_group_member(
            session, account_id=account_id, anchor_id=live.anchor_id
        ):
            raise _not_eligible("only members of the anchor's fan groups may enter")
    elif raffle.eligibility != "everyone":
        raise _not_eligible(f"eligibility {raffle.eligibility!r} is not available")
