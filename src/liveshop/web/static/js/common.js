// What every page's module shares: the page's config and messages, money, the signed-in
// token, Idempotency-Keys, the promotions reducer and keyed list drawing.

export const config = JSON.parse(document.getElementById("config").textContent);
export const $ = (id) => document.getElementById(id);
export const TOKEN_KEY = "liveshop_token";
export const token = () => localStorage.getItem(TOKEN_KEY);
export const authHeaders = () => ({ authorization: `Bearer ${token()}` });
export const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);

// The page's message `key` in its language, `{name}` filled from `values`.
export function t(key, values = {}) {
  const text = config.messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

// 4990 -> "49.90" (integer minor units, no floating point)
export function decimal(minor) {
  const abs = Math.abs(minor);
  return `${minor < 0 ? "-" : ""}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

// 4990, "CNY" -> "49.90 CNY"
export const money = (minor, currency) => `${decimal(minor)} ${currency}`;

// "49", "49.9", "49.90", "49,90" -> 4990 (exact: no floating point); null when not a price
export function toMinor(text) {
  const match = /^(\d{1,10})(?:[.,](\d{1,2}))?$/.exec(String(text).trim());
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] ?? "").padEnd(2, "0"));
}

// The room's open promotions after `event` (mirrors liveshop.live.state): a new list in id
// order, or null when the event is not about promotions.
export function applyPromotion(promotions, event) {
  const without = (id) => promotions.filter((p) => p.id !== id);
  const put = (promotion) => [...without(promotion.id), promotion];
  const update = (id, changes) => promotions.map((p) => (p.id === id ? { ...p, ...changes } : p));
  let next;
  switch (event.type) {
    case "flash.countdown": case "flash.open": next = put(event.sale); break;
    case "flash.stock": next = update(event.sale_id, { left: event.left }); break;
    case "flash.sold_out": next = update(event.sale_id, { left: 0 }); break;
    case "flash.closed": next = without(event.sale_id); break;
    case "coupon.drop": next = put(event.drop); break;
    case "coupon.drop_ended": next = without(event.drop_id); break;
    case "red_envelope.open": next = put(event.envelope); break;
    case "red_envelope.result": next = without(event.result.id); break;
    case "raffle.open": next = put(event.raffle); break;
    case "raffle.closed": case "raffle.result": next = without(event.raffle_id); break;
    default: return null;
  }
  return next.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

// Draw `items` into `list`, one node per key, keeping the nodes that stay: a node is moved
// only when its place changed, so a button that has the keyboard focus keeps it while the
// list changes around it (new chat lines, a pin). `make(item)` builds a node; `update(node,
// item)`, when given, refreshes one that stays.
export function reconcile(list, items, keyOf, make, update = null) {
  const existing = new Map();
  for (const node of list.children) if (node.dataset.key !== undefined) existing.set(node.dataset.key, node);
  const wanted = items.map((item) => {
    const k = String(keyOf(item));
    let node = existing.get(k);
    if (node) { existing.delete(k); if (update) update(node, item); } else { node = make(item); node.dataset.key = k; }
    return node;
  });
  for (const node of [...list.children]) if (!wanted.includes(node)) node.remove();
  wanted.forEach((node, i) => {
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] ?? null);
  });
}
