// The merchant console and the admin page: tables read from the merchant / admin APIs with
// the signed-in user's token (the API decides what the user may see and do). Commands that
// move money or stock carry an Idempotency-Key; a problem's `code` becomes a readable message.

import {
  $, TOKEN_KEY, authHeaders, config, decimal, keyFor, money, settled, signIn, switchLanguage, t, toMinor,
  whoAmI,
} from "./common.js";

// The translated name of a code (a status, a movement kind); the code itself when unknown.
const named = (prefix, code) => config.messages[`${prefix}.${code}`] ?? code;
const shortId = (id) => id.slice(-8);
const when = (iso) => (iso ? new Date(iso).toLocaleString(config.lang) : "");
const signed = (n) => (n > 0 ? `+${n}` : String(n));

// An answer that is not 2xx: the problem's status, stable `code` and `detail`.
class Problem extends Error {
  constructor(status, code, detail, body = {}) {
    super(detail);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { ...authHeaders(), "content-type": "application/json", ...(options.headers ?? {}) },
  });
  if (!response.ok) {
    let body = {};
    try { body = await response.json(); } catch { /* not json */ }
    throw new Problem(response.status, body.code ?? "", String(body.detail ?? body.title ?? response.status), body);
  }
  return response.status === 204 ? null : response.json();
}

// A known problem code has its own message; anything else shows the API's detail.
function errorText(error) {
  const known = `office.error.${error.code}`;
  if (error.code && config.messages[known]) {
    const status = error.body?.order_status;
    return t(known, { detail: error.message, status: status ? named("office.order_status", status) : "" });
  }
  return t("office.error.generic", { detail: error.message });
}


// Run a command; its result, or null after showing the problem in `errorEl`.
async function command(path, { method = "POST", body, idempotent = false, errorEl = $("error"), form = null } = {}) {
  const text = body === undefined ? undefined : JSON.stringify(body);
  const intent = `${method} ${path} ${text ?? ""}`;
  const submit = form?.querySelector("button[type=submit]");
  errorEl.textContent = "";
  $("notice").textContent = "";
  if (submit) submit.disabled = true;
  try {
    const result = await api(path, {
      method, body: text, headers: idempotent ? { "idempotency-key": keyFor(intent) } : {},
    });
    settled(intent);
    return result ?? {};
  } catch (error) {
    errorEl.textContent = errorText(error);
    return null;
  } finally {
    if (submit) submit.disabled = false;
  }
}

// After a command: draw the page again, say what happened, put the focus back somewhere useful.
async function afterChange(notice, focusKey) {
  await load();
  if (notice) $("notice").textContent = notice;
  if (!focusKey) return;
  // the row may be gone (the orders filter): then the open order detail, if any
  const target = document.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`)
    ?? (config.kind === "merchant" && !$("order-detail").hidden ? $("order-detail") : null);
  target?.focus();
}

async function change(path, options, notice) {
  const done = await command(path, options);
  if (done) await afterChange(notice);
  return Boolean(done);
}

function cell(content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content); else td.textContent = String(content ?? "");
  return td;
}

// rows: arrays of cells, or { cells, data } (data: the row's data-* attributes)
function fill(tableId, rows) {
  const body = $(tableId).querySelector("tbody");
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell(t("office.empty"));
    td.colSpan = $(tableId).querySelectorAll("th").length;
    tr.append(td);
    body.replaceChildren(tr);
    return;
  }
  body.replaceChildren(...rows.map((row) => {
    const tr = document.createElement("tr");
    const { cells, data } = Array.isArray(row) ? { cells: row, data: {} } : row;
    Object.assign(tr.dataset, data);
    tr.append(...cells.map(cell));
    return tr;
  }));
}

function button(text, { label, focus, secondary = false, onClick }) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  if (label) b.setAttribute("aria-label", label);
  if (focus) b.dataset.focus = focus;
  if (secondary) b.className = "secondary";
  b.addEventListener("click", onClick);
  return b;
}

function element(tag, text, className) {
  const el = document.createElement(tag);
  if (text !== undefined) el.textContent = text;
  if (className) el.className = className;
  return el;
}

// Options of a select, keeping what was chosen when it is still there.
function options(select, entries) {
  const chosen = select.value;
  select.replaceChildren(...entries.map(([id, name]) => new Option(name, id)));
  if (entries.some(([id]) => id === chosen)) select.value = chosen;
}

// -- the merchant console -------------------------------------------------------------------

const state = { me: null, skuNames: {}, warehouses: {}, orders: {}, detailId: null, loads: 0 };
const REFUNDABLE = new Set(["paid", "shipped", "delivered", "completed"]);
const refundLeft = (o) => (REFUNDABLE.has(o.status) ? o.total_minor - o.refunded_minor : 0);

async function merchant() {
  const generation = ++state.loads;
  const status = $("order-status").value;
  const [products, orders, sessions, warehouses] = await Promise.all([
    api("/merchant/products?limit=100"),
    api(`/merchant/orders?limit=100${status ? `&status=${encodeURIComponent(status)}` : ""}`),
    api("/merchant/live-sessions?limit=50"), api("/merchant/warehouses"),
  ]);
  const skuIds = products.items.flatMap((p) => p.skus.map((s) => s.id)).slice(0, 100);
  const query = skuIds.map((id) => `sku_id=${encodeURIComponent(id)}`).join("&");
  const stock = skuIds.length ? await api(`/merchant/stock?${query}`) : [];
  if (generation !== state.loads) return; // a later load draws the page
  state.warehouses = Object.fromEntries(warehouses.map((w) => [w.id, `${w.code} · ${w.city}`]));
  state.skuNames = {};
  fill("products", products.items.map((p) => productRow(p)));
  const skus = Object.entries(state.skuNames);
  const places = Object.entries(state.warehouses);
  for (const id of ["rc-sku", "aj-sku", "mv-sku"]) options($(id), skus);
  for (const id of ["rc-warehouse", "aj-warehouse"]) options($(id), places);
  fill("stock", stock.map((s) => [
    state.skuNames[s.sku_id] ?? s.sku_id, state.warehouses[s.warehouse_id] ?? s.warehouse_id, s.on_hand, s.reserved, s.available,
  ]));
  state.orders = Object.fromEntries(orders.items.map((o) => [o.id, o]));
  fill("orders", orders.items.map((o) => ({
    data: { order: o.id, status: o.status },
    cells: [
      shortId(o.id), named("office.order_status", o.status), money(o.total_minor, o.currency),
      o.refunded_minor ? money(o.refunded_minor, o.currency) : "", o.live_session_id ?? "", orderActions(o),
    ],
  })));
  fill("sessions", sessions.items.map((s) => {
    const link = document.createElement("a");
    link.href = `/live/${s.id}`; link.textContent = t("office.open_room");
    return [s.title, s.status, link];
  }));
  await movements();
  if (state.detailId) await showOrder(state.detailId, { focus: false });
}

function productRow(p) {
  const list = element("ul", undefined, "skus");
  for (const s of p.skus) {
    state.skuNames[s.id] = `${p.title} / ${s.code}`;
    const item = element("li");
    item.append(element("span", `${s.code} ${money(s.price_minor, s.currency)}`, "sku-price"));
    if (s.list_price_minor) {
      const was = element("s", money(s.list_price_minor, s.currency));
      was.title = t("office.list_price");
      item.append(" ", was);
    }
    const attributes = formatAttributes(s.attributes);
    if (attributes) item.append(" ", element("span", attributes, "muted"));
    if (!s.is_active) item.append(" ", element("span", t("office.sku_inactive"), "badge"));
    item.append(" ", button(t("office.edit"), {
      label: t("office.edit_sku.label", { code: s.code, product: p.title }),
      focus: `edit-sku:${s.id}`, secondary: true, onClick: () => openSku(p, s),
    }));
    list.append(item);
  }
  const publish = p.status !== "published";
  const toggleText = t(publish ? "office.publish" : "office.unpublish");
  const actions = element("span", undefined, "row-actions");
  actions.append(
    button(toggleText, {
      label: `${toggleText}: ${p.title}`,
      onClick: () => change(`/merchant/products/${p.id}/${publish ? "publish" : "unpublish"}`, { method: "POST" }),
    }),
    button(t("office.add_sku"), {
      label: t("office.add_sku.label", { product: p.title }), focus: `add-sku:${p.id}`,
      secondary: true, onClick: () => openSku(p, null),
    }),
  );
  return { data: { product: p.id }, cells: [p.title, named("office.product_status", p.status), list, actions] };
}

function orderActions(o) {
  const order = shortId(o.id);
  const actions = element("span", undefined, "row-actions");
  actions.append(button(t("office.details"), {
    label: t("office.details.label", { order }), focus: `details:${o.id}`, secondary: true,
    onClick: () => showOrder(o.id),
  }));
  if (o.status === "paid") {
    actions.append(button(t("office.ship"), { label: t("office.ship.label", { order }), focus: `ship:${o.id}`, onClick: () => openShip(o) }));
  }
  if (o.status === "shipped") {
    actions.append(button(t("office.deliver"), {
      label: t("office.deliver.label", { order }), focus: `deliver:${o.id}`,
      onClick: async () => {
        const done = await command(`/merchant/orders/${o.id}/deliver`, { idempotent: true });
        if (done) await afterChange(t("office.notice.delivered", { order }), `details:${o.id}`);
      },
    }));
  }
  if (o.status === "pending_payment" || o.status === "paid") {
    actions.append(button(t("office.cancel"), { label: t("office.cancel.label", { order }), focus: `cancel:${o.id}`, onClick: () => openCancel(o) }));
  }
  if (refundLeft(o) > 0) {
    actions.append(button(t("office.refund"), { label: t("office.refund.label", { order }), focus: `refund:${o.id}`, onClick: () => openRefund(o) }));
  }
  return actions;
}

// The ledger of the SKU chosen under "Recent movements", newest first.
async function movements() {
  const sku = $("mv-sku").value;
  if (!sku) { fill("movements", []); return; }
  const page = await api(`/merchant/stock/movements?sku_id=${encodeURIComponent(sku)}&limit=20`);
  fill("movements", page.items.map((m) => ({
    data: { kind: m.kind },
    cells: [
      when(m.created_at), state.warehouses[m.warehouse_id] ?? m.warehouse_id, named("office.movement", m.kind),
      signed(m.on_hand_delta), signed(m.reserved_delta), m.order_id ? shortId(m.order_id) : "", m.note,
    ],
  })));
}

function actor(actorId, order) {
  if (actorId === null) return t("office.actor.system");
  if (actorId === order.buyer_id) return t("office.actor.buyer");
  if (state.me && actorId === state.me.id) return t("office.actor.you");
  return t("office.actor.staff");
}

// The order's detail under the orders table: facts, lines, status history, refunds.
async function showOrder(id, { focus = true } = {}) {
  let order, history, refunds;
  try {
    [order, history, refunds] = await Promise.all(
      [`/merchant/orders/${id}`, `/merchant/orders/${id}/history`, `/merchant/orders/${id}/refunds`].map((path) => api(path)),
    );
  } catch (error) {
    $("error").textContent = errorText(error);
    return;
  }
  state.detailId = id;
  const c = order.currency;
  const a = order.shipping_address;
  $("od-title").textContent = t("office.detail.title", { order: shortId(order.id) });
  const facts = [
    ["office.detail.id", order.id],
    ["office.status", named("office.order_status", order.status)],
    ["office.detail.recipient", `${a.recipient ?? ""} ${a.phone ?? ""}`.trim()],
    ["office.detail.address", [a.line1, a.line2, a.city, a.region, a.postal_code, a.country].filter(Boolean).join(", ")],
    ["office.detail.subtotal", money(order.subtotal_minor, c)],
    ["office.detail.discount", order.discount_minor ? money(-order.discount_minor, c) : ""],
    ["office.detail.shipping", money(order.shipping_minor, c)],
    ["office.total", money(order.total_minor, c)],
    // a discount an anchor's wallet or the platform funded is not the merchant's loss
    ["office.detail.others_funded", order.discount_minor > order.merchant_discount_minor
      ? money(order.discount_minor - order.merchant_discount_minor, c) : ""],
    ["office.detail.receives", money(order.merchant_receives_minor, c)],
    ["office.detail.wallet", order.wallet_minor ? money(order.wallet_minor, c) : ""],
    ["office.refunded", money(order.refunded_minor, c)],
    ["office.ship.carrier", order.carrier ?? ""],
    ["office.ship.tracking", order.tracking_number ?? ""],
    ["office.detail.cancel_reason", order.cancel_reason ?? ""],
    ["office.session", order.live_session_id ?? ""],
    ["office.detail.placed", when(order.created_at)],
    ["office.detail.paid", when(order.paid_at)],
    ["office.detail.shipped", when(order.shipped_at)],
    ["office.detail.delivered", when(order.delivered_at)],
    ["office.detail.completed", when(order.completed_at)],
    ["office.detail.closed", when(order.closed_at)],
  ].filter(([, value]) => value);
  $("od-facts").replaceChildren(...facts.flatMap(([key, value]) => [element("dt", t(key)), element("dd", value)]));
  $("od-facts").querySelectorAll("dd").forEach((dd, i) => { dd.dataset.fact = facts[i][0].split(".").pop(); });
  fill("od-lines", order.lines.map((l) => [
    l.title, l.sku_code, money(l.unit_price_minor, c), l.quantity, money(l.line_total_minor, c),
  ]));
  fill("od-history", history.map((h) => [
    when(h.created_at),
    `${h.from_status ? `${named("office.order_status", h.from_status)} → ` : ""}${named("office.order_status", h.to_status)}`,
    actor(h.actor_id, order), h.note,
  ]));
  fill("od-refunds", refunds.map((r) => [
    when(r.created_at), money(r.amount_minor, r.currency), money(r.card_minor, r.currency),
    money(r.wallet_minor, r.currency), named("office.refund_status", r.status), r.reason,
  ]));
  $("order-detail").hidden = false;
  if (focus) $("order-detail").focus();
}

// -- dialogs --------------------------------------------------------------------------------

function openDialog(dialog, focus) {
  dialog.querySelector(".error").textContent = "";
  dialog.showModal();
  focus?.focus();
}

// "size=M; color=red" <-> { size: "M", color: "red" }; null when it is not that shape
export function parseAttributes(text) {
  const attributes = {};
  for (const part of text.split(/[;,；，\n]/)) {
    if (!part.trim()) continue;
    const match = /^\s*([^=:：]+?)\s*[=:：]\s*(.+?)\s*$/.exec(part);
    if (!match) return null;
    attributes[match[1]] = match[2];
  }
  return Object.keys(attributes).length > 10 ? null : attributes;
}
const formatAttributes = (attributes) => Object.entries(attributes ?? {}).map(([k, v]) => `${k}=${v}`).join("; ");

let skuTarget = null; // { product, sku } (sku null: a new SKU of the product)

function openSku(product, sku) {
  skuTarget = { product, sku };
  $("sku-title").textContent = sku
    ? t("office.edit_sku.title", { code: sku.code, product: product.title })
    : t("office.add_sku.title", { product: product.title });
  $("sku-code").value = sku?.code ?? "";
  $("sku-code").readOnly = Boolean(sku);
  $("sku-price").value = sku ? decimal(sku.price_minor) : "";
  $("sku-list-price").value = sku?.list_price_minor ? decimal(sku.list_price_minor) : "";
  $("sku-attributes").value = sku ? formatAttributes(sku.attributes) : "";
  $("sku-active-row").hidden = !sku;
  $("sku-active").checked = sku ? sku.is_active : true;
  openDialog($("sku-dialog"), sku ? $("sku-price") : $("sku-code"));
}

async function saveSku(event) {
  event.preventDefault();
  const { product, sku } = skuTarget;
  const error = $("sku-error");
  const refuse = (key, input) => { error.textContent = t(key); input.focus(); };
  const price = toMinor($("sku-price").value);
  if (!price) return refuse("office.bad_price", $("sku-price"));
  const listText = $("sku-list-price").value.trim();
  const listPrice = listText ? toMinor(listText) : null;
  if (listText && !listPrice) return refuse("office.bad_list_price", $("sku-list-price"));
  const attributes = parseAttributes($("sku-attributes").value);
  if (!attributes) return refuse("office.bad_attributes", $("sku-attributes"));
  const body = sku
    ? { price_minor: price, list_price_minor: listPrice, attributes, is_active: $("sku-active").checked }
    : { code: $("sku-code").value.trim(), price_minor: price, list_price_minor: listPrice, attributes };
  const done = await command(sku ? `/merchant/skus/${sku.id}` : `/merchant/products/${product.id}/skus`, {
    method: sku ? "PATCH" : "POST", body, idempotent: true, errorEl: error, form: event.target,
  });
  if (!done) return;
  $("sku-dialog").close();
  const notice = sku ? "office.notice.sku_saved" : "office.notice.sku_added";
  await afterChange(t(notice, { code: done.code, price: money(done.price_minor, done.currency) }), `edit-sku:${done.id}`);
}

let orderTarget = null; // the order a ship / refund / cancel dialog is about

function openShip(order) {
  orderTarget = order;
  $("ship-title").textContent = t("office.ship.title", { order: shortId(order.id) });
  $("ship-tracking").value = "";
  openDialog($("ship-dialog"), $("ship-carrier"));
}

async function ship(event) {
  event.preventDefault();
  const order = orderTarget;
  const carrier = $("ship-carrier").value.trim();
  const tracking = $("ship-tracking").value.trim();
  if (!carrier || !tracking) {
    $("ship-error").textContent = t("office.ship.missing");
    (carrier ? $("ship-tracking") : $("ship-carrier")).focus();
    return;
  }
  const done = await command(`/merchant/orders/${order.id}/ship`, {
    body: { carrier, tracking_number: tracking }, idempotent: true, errorEl: $("ship-error"), form: event.target,
  });
  if (!done) return;
  $("ship-dialog").close();
  await afterChange(t("office.notice.shipped", { order: shortId(order.id), carrier, tracking }), `details:${order.id}`);
}

function openRefund(order) {
  orderTarget = order;
  const left = refundLeft(order);
  $("refund-title").textContent = t("office.refund.title", { order: shortId(order.id) });
  $("refund-left").textContent = t("office.refund.left", { amount: money(left, order.currency) });
  $("refund-amount").value = decimal(left);
  $("refund-reason").value = "";
  openDialog($("refund-dialog"), $("refund-amount"));
  $("refund-amount").select();
}

async function refund(event) {
  event.preventDefault();
  const order = orderTarget;
  const amount = toMinor($("refund-amount").value);
  if (!amount) {
    $("refund-error").textContent = t("office.bad_amount");
    $("refund-amount").focus();
    return;
  }
  const done = await command(`/merchant/orders/${order.id}/refunds`, {
    body: { amount_minor: amount, reason: $("refund-reason").value.trim() },
    idempotent: true, errorEl: $("refund-error"), form: event.target,
  });
  if (!done) return;
  $("refund-dialog").close();
  await afterChange(
    t("office.notice.refunded", { order: shortId(order.id), amount: money(done.amount_minor, done.currency) }),
    `details:${order.id}`,
  );
}

function openCancel(order) {
  orderTarget = order;
  $("cancel-title").textContent = t("office.cancel.title", { order: shortId(order.id) });
  $("cancel-warning").textContent = order.status === "paid"
    ? t("office.cancel.paid", { amount: money(order.total_minor - order.refunded_minor, order.currency) })
    : t("office.cancel.unpaid");
  $("cancel-reason").value = "";
  openDialog($("cancel-dialog"), $("cancel-reason"));
}

async function cancel(event) {
  event.preventDefault();
  const order = orderTarget;
  const done = await command(`/merchant/orders/${order.id}/cancel`, {
    body: { reason: $("cancel-reason").value.trim() }, idempotent: true, errorEl: $("cancel-error"), form: event.target,
  });
  if (!done) return;
  $("cancel-dialog").close();
  await afterChange(t("office.notice.cancelled", { order: shortId(order.id) }), `details:${order.id}`);
}

// -- the admin page -------------------------------------------------------------------------

const ROLES = ["admin", "merchant", "anchor", "operator", "fan"];

async function admin() {
  const accounts = await api("/admin/accounts?limit=100");
  fill("accounts", accounts.items.map((a) => {
    const roles = document.createElement("span");
    for (const role of a.roles) {
      const revoke = document.createElement("button");
      revoke.type = "button"; revoke.textContent = t("office.revoke", { role });
      revoke.addEventListener("click", () => change(`/admin/accounts/${a.id}/roles/${role}`, { method: "DELETE" }));
      roles.append(revoke, " ");
    }
    const form = document.createElement("form");
    const select = document.createElement("select");
    select.setAttribute("aria-label", `${t("office.grant")}: ${a.email}`);
    select.append(...ROLES.filter((r) => !a.roles.includes(r)).map((r) => new Option(r, r)));
    const grant = document.createElement("button");
    grant.type = "submit"; grant.textContent = t("office.grant.button");
    form.append(select, " ", grant);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      change(`/admin/accounts/${a.id}/roles`, { method: "POST", body: { role: select.value } });
    });
    return [a.email, a.display_name, roles, form];
  }));
}

function forms() {
  if (config.kind !== "merchant") return;
  $("new-product").addEventListener("submit", async (event) => {
    event.preventDefault();
    const price = toMinor($("np-price").value);
    if (!price) { $("error").textContent = t("office.bad_price"); $("np-price").focus(); return; }
    const done = await command("/merchant/products", {
      body: { title: $("np-title").value, skus: [{ code: $("np-code").value, price_minor: price }] },
      idempotent: true, form: event.target,
    });
    if (!done) return;
    event.target.reset();
    await afterChange(t("office.notice.product_created", { title: done.title }));
  });
  $("receipt").addEventListener("submit", async (event) => {
    event.preventDefault();
    const sku = $("rc-sku").value;
    const done = await command("/merchant/stock/receipts", {
      body: { sku_id: sku, warehouse_id: $("rc-warehouse").value, quantity: Number($("rc-quantity").value) },
      idempotent: true, form: event.target,
    });
    if (!done) return;
    $("rc-quantity").value = "";
    $("mv-sku").value = sku;
    await afterChange(t("office.notice.received", { quantity: done.on_hand_delta, sku: state.skuNames[sku] ?? sku }));
  });
  $("adjust").addEventListener("submit", async (event) => {
    event.preventDefault();
    const delta = Number($("aj-delta").value);
    if (!Number.isInteger(delta) || delta === 0) {
      $("error").textContent = t("office.adjust.bad_delta");
      $("aj-delta").focus();
      return;
    }
    const sku = $("aj-sku").value;
    const done = await command("/merchant/stock/adjustments", {
      body: { sku_id: sku, warehouse_id: $("aj-warehouse").value, delta, note: $("aj-note").value.trim() },
      idempotent: true, form: event.target,
    });
    if (!done) return;
    $("aj-delta").value = "";
    $("aj-note").value = "";
    $("mv-sku").value = sku;
    await afterChange(t("office.notice.adjusted", { delta: signed(done.on_hand_delta), sku: state.skuNames[sku] ?? sku }));
  });
  $("movements-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try { await movements(); } catch (error) { $("error").textContent = errorText(error); }
  });
  $("mv-sku").addEventListener("change", () => $("movements-form").requestSubmit());
  $("order-filter").addEventListener("submit", (event) => event.preventDefault());
  $("order-status").addEventListener("change", () => load());
  $("od-close").addEventListener("click", () => {
    const id = state.detailId;
    state.detailId = null;
    $("order-detail").hidden = true;
    document.querySelector(`[data-focus="${CSS.escape(`details:${id}`)}"]`)?.focus();
  });
  $("sku-form").addEventListener("submit", saveSku);
  $("ship-form").addEventListener("submit", ship);
  $("refund-form").addEventListener("submit", refund);
  $("cancel-form").addEventListener("submit", cancel);
  for (const dialog of document.querySelectorAll("dialog")) {
    dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
  }
}

async function load() {
  $("error").textContent = "";
  try {
    await (config.kind === "merchant" ? merchant() : admin());
    document.body.dataset.ready = "1";
  } catch (error) {
    $("error").textContent = error instanceof Problem && (error.status === 401 || error.status === 403)
      ? `${t("office.need_sign_in")} (${error.message})`
      : errorText(error);
  }
}

async function signedIn() {
  state.me = await whoAmI();
  if (state.me) await load();
}

$("signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await signIn({ email: $("signin-email").value, password: $("signin-password").value });
  if (!response.ok) { $("signin-error").textContent = t("auth.failed"); return; }
  signedIn(); // the forms are wired once, below (wiring them again would send every command twice)
});
$("signout").addEventListener("click", () => { localStorage.removeItem(TOKEN_KEY); location.reload(); });
$("lang").addEventListener("change", (event) => switchLanguage(event.target.value));
forms();
signedIn();
