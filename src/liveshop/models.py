"""Imports every domain's models so that Base.metadata knows all tables (Alembic, tests)."""

from liveshop.auth import models as auth_models
from liveshop.catalog import models as catalog_models
from liveshop.deals import models as deal_models
from liveshop.fans import models as fans_models
from liveshop.idempotency import IdempotencyRecord
from liveshop.inventory import models as inventory_models
from liveshop.live import models as live_models
from liveshop.orders import models as orders_models
from liveshop.payments import models as payments_models
from liveshop.promotions.coupons import models as coupon_models
from liveshop.promotions.envelopes import models as envelope_models
from liveshop.promotions.flash import models as flash_models
from liveshop.promotions.raffles import models as raffle_models
from liveshop.video import models as video_models
from liveshop.wallet import models as wallet_models

__all__ = [
    "IdempotencyRecord",
    "auth_models",
    "catalog_models",
    "coupon_models",
    "deal_models",
    "envelope_models",
    "fans_models",
    "flash_models",
    "inventory_models",
    "live_models",
    "orders_models",
    "payments_models",
    "raffle_models",
    "video_models",
    "wallet_models",
]
