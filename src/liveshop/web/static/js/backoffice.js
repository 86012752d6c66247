// The merchant console and the admin page: tables read from the merchant / admin APIs with
// the signed-in user's token (the API decides what the user may see and do).

const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "liveshop_token";

const t = (key, values = {}) =>
  (config.messages[key] ?? key).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
const money = (minor, currency) =>
  `${minor < 0 ? "-" : ""}${Math.floor(Math.abs(minor) / 100)}.${String(Math.abs(minor) % 100).padStart(2, "0")} ${currency}`;

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { authorization: `Bearer ${localStorage.getItem(TOKEN_KEY)}`, "content-type": "application/json", ...(options.headers ?? {}) },
  });
  if (!response.ok) {
    let detail = response.status;
    try { detail = (await response.json()).detail ?? detail; } catch { /* not json */ }
    throw new Error(String(detail));
  }
  return response.status === 204 ? null : response.json();
}

function cell(content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content); else td.textContent = String(content ?? "");
  return td;
}

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
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    tr.append(...cells.map(cell));
    return tr;
  }));
}

async function merchant() {
  const [products, orders, sessions] = await Promise.all([
    api("/merchant/products?limit=100"), api("/merchant/orders?limit=100"),
    api("/merchant/live-sessions?limit=50"),
  ]);
  const skuIds = products.items.flatMap((p) => p.skus.map((s) => s.id)).slice(0, 100);
  const query = skuIds.map((id) => `sku_id=${encodeURIComponent(id)}`).join("&");
  const stock = skuIds.length ? await api(`/merchant/stock?${query}`) : [];
  const warehouses = Object.fromEntries((await api("/merchant/warehouses")).map((w) => [w.id, `${w.code} · ${w.city}`]));
  const skuNames = {};
  fill("products", products.items.map((p) => {
    for (const s of p.skus) skuNames[s.id] = `${p.title} / ${s.code}`;
    const toggle = document.createElement("button");
    toggle.type = "button";
    const publish = p.status !== "published";
    toggle.textContent = t(publish ? "office.publish" : "office.unpublish");
    toggle.setAttribute("aria-label", `${toggle.textContent}: ${p.title}`);
    toggle.addEventListener("click", () =>
      change(`/merchant/products/${p.id}/${publish ? "publish" : "unpublish"}`, { method: "POST" }));
    return [p.title, p.status, p.skus.map((s) => `${s.code} ${money(s.price_minor, s.currency)}`).join(", "), toggle];
  }));
  $("rc-sku").replaceChildren(...Object.entries(skuNames).map(([id, name]) => new Option(name, id)));
  $("rc-warehouse").replaceChildren(...Object.entries(warehouses).map(([id, name]) => new Option(name, id)));
  fill("stock", stock.map((s) => [skuNames[s.sku_id] ?? s.sku_id, warehouses[s.warehouse_id] ?? s.warehouse_id, s.on_hand, s.reserved, s.available]));
  fill("orders", orders.items.map((o) => [o.id.slice(-8), o.status, money(o.total_minor, o.currency), o.live_session_id ?? ""]));
  fill("sessions", sessions.items.map((s) => {
    const link = document.createElement("a");
    link.href = `/live/${s.id}`; link.textContent = t("office.open_room");
    return [s.title, s.status, link];
  }));
}

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
      change(`/admin/accounts/${a.id}/roles`, { method: "POST", body: JSON.stringify({ role: select.value }) });
    });
    return [a.email, a.display_name, roles, form];
  }));
}

const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);

// "99.9" / "99.90" -> 9990, exactly (no floating point); null when it is not a price
export function toMinor(text) {
  const match = /^\s*(\d{1,10})(?:[.,](\d{1,2}))?\s*$/.exec(text);
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] ?? "0").padEnd(2, "0"));
}

function forms() {
  if (config.kind !== "merchant") return;
  $("new-product").addEventListener("submit", (event) => {
    event.preventDefault();
    const price = toMinor($("np-price").value);
    if (!price) { $("error").textContent = t("office.bad_price"); $("np-price").focus(); return; }
    change("/merchant/products", {
      method: "POST",
      headers: { "idempotency-key": newKey() },
      body: JSON.stringify({ title: $("np-title").value, skus: [{ code: $("np-code").value, price_minor: price }] }),
    }).then((ok) => { if (ok) event.target.reset(); });
  });
  $("receipt").addEventListener("submit", (event) => {
    event.preventDefault();
    change("/merchant/stock/receipts", {
      method: "POST",
      headers: { "idempotency-key": newKey() },
      body: JSON.stringify({
        sku_id: $("rc-sku").value, warehouse_id: $("rc-warehouse").value, quantity: Number($("rc-quantity").value),
      }),
    }).then((ok) => { if (ok) $("rc-quantity").value = ""; });
  });
}

async function change(path, options) {
  try { await api(path, options); await load(); return true; } catch (error) { $("error").textContent = error.message; return false; }
}

async function load() {
  $("error").textContent = "";
  try {
    await (config.kind === "merchant" ? merchant() : admin());
    document.body.dataset.ready = "1";
  } catch (error) {
    $("error").textContent = `${t("office.need_sign_in")} (${error.message})`;
  }
}

async function whoAmI() {
  const token = localStorage.getItem(TOKEN_KEY);
  const response = token ? await fetch("/auth/me", { headers: { authorization: `Bearer ${token}` } }) : null;
  const me = response && response.ok ? await response.json() : null;
  $("signin").hidden = Boolean(me);
  $("signout").hidden = !me;
  $("who").textContent = me ? t("auth.signed_in_as", { name: me.display_name }) : "";
  if (me) await load();
}

$("signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/auth/signin", {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: $("signin-email").value, password: $("signin-password").value }),
  });
  if (!response.ok) { $("signin-error").textContent = t("auth.failed"); return; }
  localStorage.setItem(TOKEN_KEY, (await response.json()).token);
  forms();
whoAmI();
});
$("signout").addEventListener("click", () => { localStorage.removeItem(TOKEN_KEY); location.reload(); });
$("lang").addEventListener("change", (event) => {
  document.cookie = `liveshop_lang=${event.target.value}; path=/; max-age=31536000; samesite=lax`;
  location.search = `?lang=${event.target.value}`;
});
forms();
whoAmI();
