"""Red envelopes: funded pots split among the first grabbers (in-process and Redis gate), paid
into wallets."""
