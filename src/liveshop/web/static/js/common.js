// What every page's module shares: the page's config and messages, money, the signed-in
// token, Idempotency-Keys, the promotions reducer and keyed list drawing.

export const config = JSON.parse(document.getElementById("config").textContent);
export const $ = (id) => document.getElementById(id);
export const TOKEN_KEY = "liveshop_token";
export const token = () => localStorage.getItem(TOKEN_KEY);
export const authHeaders = () => ({ authorization: `Bearer ${token()}` });
export const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);

// One Idempotency-Key per intended command (method, path and body): sent again (a retry after
// a network error or a refusal, a second click) it carries the same key, so the server applies
// it once (a refusal stores nothing there: the retry is tried afresh); after a 2xx the same
// command again is a new one with a new key.
const intents = new Map();
export function keyFor(intent) {
  if (!intents.has(intent)) intents.set(intent, newKey());
  return intents.get(intent);
}
export const settled = (intent) => intents.delete(intent);

// POST a command with its Idempotency-Key (above) and the signed-in token; the response.
export async function postOnce(path, body) {
  const text = body === undefined ? undefined : JSON.stringify(body);
  const intent = `POST ${path} ${text ?? ""}`;
  const headers = { ...authHeaders(), "idempotency-key": keyFor(intent) };
  if (text !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method: "POST", headers, body: text });
  if (response.ok) settled(intent);
  return response;
}

// A problem+json answer as {code, detail} (the status when the body is not one).
export async function problemOf(response) {
  try {
    const body = await response.json();
    return { code: body.code ?? "", detail: body.detail ?? body.code ?? String(response.status) };
  } catch {
    return { code: "", detail: String(response.status) };
  }
}

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

// -- the signed-in account (every page has #signin, #signout, #who and #lang) ---------------

// The signed-in account, or null; a token the server no longer knows is dropped. The page's
// account box says who it is.
export async function whoAmI() {
  const response = token() ? await fetch("/auth/me", { headers: authHeaders() }) : null;
  const me = response?.ok ? await response.json() : null;
  if (!me && token()) localStorage.removeItem(TOKEN_KEY);
  $("signin").hidden = Boolean(me);
  $("signout").hidden = !me;
  $("who").textContent = me ? t("auth.signed_in_as", { name: me.display_name }) : "";
  return me;
}

// Sign in (or up, with `display_name`) and keep the token; the response (not ok: refused).
export async function signIn(credentials, { signUp = false } = {}) {
  const response = await fetch(signUp ? "/auth/signup" : "/auth/signin", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(credentials),
  });
  if (response.ok) localStorage.setItem(TOKEN_KEY, (await response.clone().json()).token);
  return response;
}

// The language switch: remembered in the cookie, the page drawn again in it.
export function switchLanguage(lang) {
  document.cookie = `liveshop_lang=${lang}; path=/; max-age=31536000; samesite=lax`;
  const params = new URLSearchParams(location.search);
  params.set("lang", lang);
  location.search = params.toString();
}

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
