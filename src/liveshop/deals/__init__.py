"""Deals: a merchant's consent to let anchors sell its goods, and on what terms.

A merchant publishes an *offer* on one of its products (open to every anchor, or to the anchors
it names): a floor price, a stock share (units the anchor may put into flash sales), prize units
(units it may give away as raffle prizes), a coupon budget (discounts the merchant funds on the
anchor's coupons), a commission and a validity window. An anchor that accepts it gets a *deal*
with those terms frozen, until the merchant ends it or it runs out of validity.

``deals.consent`` is what the live room, flash sales, raffles and coupons call before they use
another merchant's goods; the shares are counters kept by guarded UPDATEs and a ledger
(``deal_uses``) of every unit and minor unit taken and given back.
"""
