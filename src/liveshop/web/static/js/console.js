// The anchor's / operator's console: the session's HTTP APIs for commands, the room
// WebSocket (docs/protocol.md) for what happens: chat to moderate, counters, promotions.
// Who may act is the API's answer: a 403 shows its message instead of the console.

import {
  $, TOKEN_KEY, authHeaders, config, keyFor, money, reconcile, settled, signIn, switchLanguage, t, toMinor,
  token, whoAmI,
} from "./common.js";
import { applyEvent } from "./room_state.js";

const SID = config.session_id;
const MUTE_SECONDS = 600;

function toast(text, isError = false) {
  const el = $("toast");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

async function api(method, path, body, { idempotent = false } = {}) {
  const headers = authHeaders();
  const text = body === undefined ? undefined : JSON.stringify(body);
  const intent = `${method} ${path} ${text ?? ""}`;
  if (text !== undefined) headers["content-type"] = "application/json";
  if (idempotent) headers["idempotency-key"] = keyFor(intent); // a retry reuses it
  const response = await fetch(path, { method, headers, body: text });
  if (response.ok) settled(intent);
  let data = null;
  if (response.status !== 204) {
    try { data = await response.json(); } catch { data = null; }
  }
  return { ok: response.ok, status: response.status, data };
}

function detailOf(result) {
  const d = result.data;
  if (!d) return String(result.status);
  if (typeof d.detail === "string") return d.detail;
  if (Array.isArray(d.detail)) return d.detail.map((e) => e.msg ?? JSON.stringify(e)).join("; ");
  if (Array.isArray(d.errors)) return d.errors.map((e) => e.message ?? e.msg ?? JSON.stringify(e)).join("; ");
  return d.code ?? d.title ?? String(result.status);
}

// Run a command; toast its outcome; the result (or null on failure).
async function command(method, path, body, options) {
  const result = await api(method, path, body, options);
  if (!result.ok) { toast(t("error.generic", { detail: detailOf(result) }), true); return null; }
  toast(t("console.saved"));
  return result;
}

// -- state ----------------------------------------------------------------------------------

let state = { session: null, stream: null, pinned: null, showcase: [], chat: [], promotions: [], counters: null };
let rundown = [];
let chatTimes = [];


// -- drawing --------------------------------------------------------------------------------

function button(text, label, onClick, className = "") {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  if (label) b.setAttribute("aria-label", label);
  if (className) b.className = className;
  b.addEventListener("click", onClick);
  return b;
}

function drawSession() {
  const session = state.session;
  if (!session) return;
  $("session-title").textContent = session.title;
  $("session-status").textContent = t("console.session_status", { status: t(`console.status.${session.status}`) });
  $("session-status").dataset.status = session.status;
  $("go-live").disabled = session.status !== "scheduled";
  $("end-session").disabled = session.status === "ended";
}

function drawStream(stream) {
  if (stream.server_url !== undefined) {
    $("stream-server").value = stream.server_url;
    $("stream-key").value = stream.stream_key;
  }
  $("stream-status").textContent = t("console.stream.status", { status: t(`console.stream.${stream.status}`) });
  $("stream-status").dataset.status = stream.status;
}

function drawRundown() {
  const pinnedId = state.pinned ? state.pinned.id : null;
  const list = $("rundown");
  if (!rundown.length) {
    const li = document.createElement("li");
    li.textContent = t("console.rundown.empty");
    list.replaceChildren(li);
  } else {
    list.replaceChildren(...rundown.map((item) => {
      const li = document.createElement("li");
      li.dataset.id = item.id;
      const text = document.createElement("span");
      text.textContent = `${item.title} — ${money(item.live_price_minor, item.currency)}`;
      li.append(text);
      if (item.id === pinnedId) {
        li.className = "current";
        const badge = document.createElement("strong");
        badge.textContent = ` ${t("console.pinned")} `;
        li.append(badge, button(t("console.unpin"), null, unpin, "unpin"));
      } else {
        li.append(button(t("console.pin"), t("console.pin_label", { title: item.title }), () => pin(item.id), "pin"));
      }
      return li;
    }));
  }
  for (const select of document.querySelectorAll(".item-select")) {
    const current = select.value;
    select.replaceChildren(...rundown.map((item) => {
      const option = document.createElement("option");
      option.value = item.id;
      option.textContent = `${item.title} (${money(item.live_price_minor, item.currency)})`;
      return option;
    }));
    if (rundown.some((i) => i.id === current)) select.value = current;
  }
  const first = rundown.find((i) => i.id === $("flash-item").value) ?? rundown[0];
  $("flash-price-label").textContent = t("console.flash.price", { currency: first ? first.currency : "CNY" });
  const currency = couponCurrency() ?? "CNY";
  $("coupon-amount-label").textContent = t("console.coupon.amount", { currency });
  $("coupon-cap-label").textContent = t("console.coupon.cap", { currency });
  $("coupon-min-spend-label").textContent = t("console.coupon.min_spend", { currency });
  $("coupon-budget-label").textContent = t("console.coupon.budget", { currency });
  drawCouponSkus();
}

// The products a "selected products" coupon may cover: the rundown's SKUs (ticks kept).
function drawCouponSkus() {
  const list = $("coupon-sku-list");
  const ticked = new Set([...list.querySelectorAll("input:checked")].map((i) => i.value));
  const skus = [...new Map(rundown.map((item) => [item.sku_id, item])).values()];
  list.replaceChildren(...skus.map((item) => {
    const label = document.createElement("label");
    label.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = item.sku_id;
    box.checked = ticked.has(item.sku_id);
    label.append(box, document.createTextNode(` ${item.title}`));
    return label;
  }));
}

function drawCouponForm() {
  const percent = $("coupon-kind").value === "percent";
  $("coupon-amount-field").hidden = percent;
  $("coupon-percent-field").hidden = !percent;
  $("coupon-cap-field").hidden = !percent;
  $("coupon-skus").hidden = $("coupon-scope").value !== "skus";
}

function drawPromotions() {
  const list = $("promotions");
  if (!state.promotions.length) {
    const li = document.createElement("li");
    li.textContent = t("console.promotions.none");
    list.replaceChildren(li);
    return;
  }
  list.replaceChildren(...state.promotions.map((p) => {
    const li = document.createElement("li");
    li.dataset.id = p.id;
    li.dataset.kind = p.kind;
    if (p.kind === "flash_sale") {
      li.textContent = t("console.promo.flash_sale", {
        title: p.title, price: money(p.price_minor, p.currency), left: p.left, quantity: p.quantity, status: p.status,
      });
    } else if (p.kind === "coupon_drop") {
      const c = p.coupon;
      let off = c.kind === "percent"
        ? t("console.coupon.percent_off", { percent: c.percent_off })
        : money(c.amount_off_minor, c.currency);
      if (c.cap_minor !== null) off += ` ${t("console.coupon.capped", { cap: money(c.cap_minor, c.currency) })}`;
      if (c.scope === "skus") off += ` ${t("console.coupon.on_skus", { count: c.sku_ids.length })}`;
      if (c.live_session_only) off += ` ${t("console.coupon.live_only_short")}`;
      li.textContent = t("console.promo.coupon_drop", {
        title: c.title, off, min: money(c.min_spend_minor, c.currency), quota: p.quota,
        until: new Date(p.ends_at).toLocaleTimeString(document.documentElement.lang || undefined),
      });
    } else if (p.kind === "red_envelope") {
      li.textContent = t("console.promo.red_envelope", { amount: money(p.amount_minor, p.currency), count: p.count });
    } else {
      li.textContent = t("console.promo.raffle", { title: p.title, winners: p.winners_count });
    }
    return li;
  }));
}

function chatItem(message) {
  const li = document.createElement("li");
  li.dataset.id = message.id;
  const name = message.user.name;
  const text = document.createElement("span");
  text.className = "text";
  const who = document.createElement("b");
  who.textContent = `${name}: `;
  text.append(who, document.createTextNode(message.text));
  const actions = document.createElement("span");
  actions.className = "actions";
  actions.append(
    button(t("console.chat.delete"), t("console.chat.delete_label", { name }), () => deleteMessage(message.id), "delete"),
    button(t("console.chat.mute"), t("console.chat.mute_label", { name }), () => sanction(message.user, "mute"), "mute"),
    button(t("console.chat.ban"), t("console.chat.ban_label", { name }), () => sanction(message.user, "ban"), "ban danger"),
  );
  li.append(text, actions);
  return li;
}

function drawChat() {
  const list = $("mod-chat");
  if (!state.chat.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = t("console.chat.empty");
    list.replaceChildren(li);
    return;
  }
  reconcile(list, [...state.chat].reverse(), (m) => m.id, chatItem); // newest first
}

function commentsPerMinute() {
  const now = Date.now();
  chatTimes = chatTimes.filter((at) => now - at < 60_000);
  return chatTimes.length;
}

function drawMetrics() {
  const c = state.counters ?? { online: 0, unique: 0, peak: 0, likes: 0 };
  $("m-online").textContent = c.online;
  $("m-unique").textContent = c.unique;
  $("m-peak").textContent = c.peak;
  $("m-likes").textContent = c.likes;
  $("m-cpm").textContent = commentsPerMinute();
}

// -- the chart (uPlot when it loaded; the numbers work without it) --------------------------

const series = [[], [], []]; // time (s), online, comments per minute
let chart = null;

function sample() {
  if (!state.counters) return;
  series[0].push(Math.floor(Date.now() / 1000));
  series[1].push(state.counters.online);
  series[2].push(commentsPerMinute());
  if (series[0].length > 360) for (const s of series) s.shift();
  drawMetrics();
  if (!window.uPlot) { $("chart-fallback").hidden = false; return; }
  if (series[0].length < 2) return;
  try {
    if (!chart) {
      chart = new window.uPlot({
        width: Math.max(260, $("chart").clientWidth || 320),
        height: 160,
        series: [{}, { label: t("console.chart.online"), stroke: "#d32f2f" }, { label: t("console.chart.cpm"), stroke: "#2d7ff9" }],
      }, series, $("chart"));
    } else {
      chart.setData(series);
    }
  } catch {
    $("chart-fallback").hidden = false;
  }
}

// -- the socket -----------------------------------------------------------------------------

let socket = null;
let retry = 0;
let lastSeq = null;

function onEvent(event) {
  const promotions = state.promotions;
  applyEvent(state, event); // the room's reducer, as the viewer's page runs it
  switch (event.type) {
    case "counters": drawMetrics(); break;
    case "chat": chatTimes.push(Date.now()); drawChat(); drawMetrics(); break;
    case "chat.deleted": drawChat(); break;
    case "product.pinned": case "product.unpinned": drawRundown(); break;
    case "showcase.updated": loadRundown(); break;
    case "session.live": case "session.updated": drawSession(); break;
    case "session.ended": drawSession(); drawRundown(); break;
    case "stream.online": case "stream.offline": drawStream(event.stream); break;
    default: if (state.promotions !== promotions) drawPromotions(); break;
  }
}

function connect() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/rooms/${SID}`;
  socket = new WebSocket(url);
  socket.onopen = () => socket.send(JSON.stringify({ type: "hello", token: token(), last_seq: lastSeq, staff: true }));
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.type === "snapshot") {
      const s = data.snapshot;
      state = { ...state, ...s, promotions: s.promotions ?? [], chat: s.chat ?? [] };
      lastSeq = data.seq; retry = 0;
      drawSession(); drawRundown(); drawChat(); drawPromotions(); drawMetrics();
      if (s.stream) drawStream(s.stream);
      document.body.dataset.ready = "1";
      socket.send(JSON.stringify({ type: "ping" })); // the pong tells the server's time
    } else if (data.type === "resume") {
      for (const event of data.events) onEvent(event);
      state.counters = data.counters; lastSeq = data.seq; retry = 0; drawMetrics();
    } else if (data.type === "pong") {
      const at = Date.parse(data.at);
      if (!Number.isNaN(at)) clockOffset = at - Date.now();
    } else if (data.type === "error") {
      toast(data.detail ?? data.code, true);
    } else if (Array.isArray(data.events)) {
      for (const event of data.events) onEvent(event);
      if (data.seq !== undefined && data.seq !== null) lastSeq = data.seq;
    }
  };
  socket.onclose = (event) => {
    if (event.code === 4004 || event.code === 4003) return;
    retry += 1;
    setTimeout(connect, Math.min(10000, 500 * 2 ** Math.min(retry, 5)));
  };
}

// -- commands -------------------------------------------------------------------------------

async function loadStream() {
  const result = await api("GET", `/live/sessions/${SID}/stream`);
  if (result.ok) drawStream(result.data);
  return result;
}

async function loadRundown() {
  const result = await api("GET", `/live/sessions/${SID}/rundown`);
  if (result.ok) { rundown = result.data.items; drawRundown(); }
}

async function loadWords() {
  const result = await api("GET", `/moderation/banned-words?session_id=${SID}`);
  const list = $("words");
  if (!result.ok) {
    const li = document.createElement("li");
    li.className = "error";
    li.textContent = t("error.generic", { detail: detailOf(result) });
    list.replaceChildren(li);
    return;
  }
  if (!result.data.length) {
    const li = document.createElement("li");
    li.textContent = t("console.words.empty");
    list.replaceChildren(li);
    return;
  }
  list.replaceChildren(...result.data.map((word) => {
    const li = document.createElement("li");
    li.dataset.id = word.id;
    li.append(document.createTextNode(`${word.word} `), button(
      t("console.words.remove"), t("console.words.remove_label", { word: word.word }),
      async () => { if (await command("DELETE", `/moderation/banned-words/${word.id}?session_id=${SID}`)) loadWords(); },
    ));
    return li;
  }));
}

async function pin(itemId) {
  const result = await command("POST", `/live/sessions/${SID}/pin`, { item_id: itemId });
  if (result) { state.pinned = result.data.item; drawRundown(); }
}

async function unpin() {
  const result = await command("POST", `/live/sessions/${SID}/unpin`);
  if (result) { state.pinned = null; drawRundown(); }
}

async function deleteMessage(id) {
  if (await command("DELETE", `/live/sessions/${SID}/chat/${encodeURIComponent(id)}`)) {
    state.chat = state.chat.filter((m) => m.id !== id);
    drawChat();
  }
}

async function sanction(user, kind) {
  if (kind === "ban" && !window.confirm(t("console.chat.ban_confirm", { name: user.name }))) return;
  const body = { account_id: user.id, kind, duration_seconds: kind === "mute" ? MUTE_SECONDS : null, reason: "" };
  if (await command("POST", `/live/sessions/${SID}/sanctions`, body)) {
    toast(t(kind === "mute" ? "console.chat.muted" : "console.chat.banned", { name: user.name }));
  }
}

const intOf = (id) => Number.parseInt($(id).value, 10);

async function openFlashSale(event) {
  event.preventDefault();
  const price = toMinor($("flash-price").value);
  if (price === null || price <= 0) { toast(t("console.flash.bad_price"), true); $("flash-price").focus(); return; }
  const body = {
    item_id: $("flash-item").value,
    price_minor: price,
    quantity: intOf("flash-quantity"),
    per_user_limit: intOf("flash-per-user"),
    countdown_seconds: intOf("flash-countdown"),
    duration_seconds: intOf("flash-duration"),
  };
  const result = await command("POST", `/live/sessions/${SID}/flash-sales`, body, { idempotent: true });
  if (result) {
    const sale = result.data;
    toast(t("console.flash.opened", { title: sale.title, left: sale.left, quantity: sale.quantity, status: sale.status }));
    applyEvent(state, { type: "flash.countdown", sale });
    drawPromotions();
  }
}

async function launchEnvelope(event) {
  event.preventDefault();
  const amount = toMinor($("envelope-amount").value);
  if (amount === null || amount <= 0) { toast(t("console.flash.bad_price"), true); $("envelope-amount").focus(); return; }
  const body = { amount_minor: amount, count: intOf("envelope-count"), delay_seconds: intOf("envelope-delay") };
  await command("POST", `/live/sessions/${SID}/red-envelopes`, body, { idempotent: true });
}

async function launchRaffle(event) {
  event.preventDefault();
  const keyword = $("raffle-keyword").value.trim();
  const body = {
    title: $("raffle-title").value.trim(),
    item_id: $("raffle-item").value,
    entry_seconds: intOf("raffle-seconds"),
    winners_count: intOf("raffle-winners"),
    ...(keyword ? { eligibility: "keyword", keyword } : {}),
  };
  await command("POST", `/live/sessions/${SID}/raffles`, body, { idempotent: true });
}

// A coupon drop: a template for this session (its managers issue them), then the drop.
// The template a failed drop left behind is reused when the same terms are submitted again.
const couponCurrency = () => (rundown.length ? rundown[0].currency : null);
let couponTemplate = null; // { terms, id }
let clockOffset = 0; // the server's clock minus this browser's (from the room's pong), ms
let dropping = false;

async function dropCoupon(event) {
  event.preventDefault();
  if (dropping) return;
  const kind = $("coupon-kind").value;
  const off = {};
  if (kind === "percent") {
    const percentText = $("coupon-percent").value.trim();
    const percent = /^\d{1,3}$/.test(percentText) ? Number(percentText) : NaN;
    if (!(percent >= 1 && percent <= 100)) {
      toast(t("console.coupon.bad_percent"), true); $("coupon-percent").focus(); return;
    }
    const capText = $("coupon-cap").value.trim();
    const cap = capText === "" ? null : toMinor(capText);
    if (cap === null ? capText !== "" : cap <= 0) {
      toast(t("console.coupon.bad_cap"), true); $("coupon-cap").focus(); return;
    }
    Object.assign(off, { percent_off: percent, cap_minor: cap });
  } else {
    const amount = toMinor($("coupon-amount").value);
    if (amount === null || amount <= 0) {
      toast(t("console.coupon.bad_amount"), true); $("coupon-amount").focus(); return;
    }
    off.amount_off_minor = amount;
  }
  const scope = $("coupon-scope").value;
  const skuIds = [...$("coupon-sku-list").querySelectorAll("input:checked")].map((i) => i.value);
  if (scope === "skus" && !skuIds.length) {
    toast(t("console.coupon.pick_skus"), true);
    const first = $("coupon-sku-list").querySelector("input");
    if (first) first.focus();
    return;
  }
  const minText = $("coupon-min-spend").value.trim();
  const minSpend = minText === "" ? 0 : toMinor(minText);
  if (minSpend === null) {
    toast(t("console.coupon.bad_min_spend"), true); $("coupon-min-spend").focus(); return;
  }
  const currency = couponCurrency();
  const quota = intOf("coupon-quota");
  const days = intOf("coupon-valid-days");
  // The coupons are funded from your wallet: a budget set aside when the coupon is issued
  // (by default what every coupon can take off), the rest back when it ends.
  const budgetText = $("coupon-budget").value.trim();
  const most = kind === "percent" ? off.cap_minor : off.amount_off_minor;
  const budget = budgetText === "" ? (most ? most * quota : null) : toMinor(budgetText);
  if (budget === null || !(budget > 0)) {
    toast(t(budgetText === "" ? "console.coupon.need_budget" : "console.coupon.bad_budget"), true);
    $("coupon-budget").focus(); return;
  }
  const body = {
    title: $("coupon-title").value.trim(),
    kind,
    ...off,
    min_spend_minor: minSpend,
    scope,
    ...(scope === "skus" ? { sku_ids: skuIds } : {}),
    live_session_only: $("coupon-live-only").checked,
    stackable: $("coupon-stackable").checked,
    quota,
    per_user_limit: intOf("coupon-per-user"),
    eligibility: $("coupon-followers").checked ? "followers" : "everyone",
    session_id: SID,
    funded_by: "wallet",
    budget_minor: budget,
    ...(currency ? { currency } : {}),
  };
  const terms = JSON.stringify([body, days]);
  const submit = $("coupon-form").querySelector("button[type=submit]");
  dropping = true; submit.disabled = true;
  try {
    let templateId = couponTemplate && couponTemplate.terms === terms ? couponTemplate.id : null;
    if (!templateId) {
      const validUntil = new Date(Date.now() + clockOffset + days * 86_400_000).toISOString();
      const created = await api("POST", "/coupon-templates", { ...body, valid_until: validUntil }, { idempotent: true });
      if (!created.ok) {
        const short = created.data && created.data.code === "wallet.insufficient_funds";
        toast(short ? t("console.coupon.short_wallet") : t("error.generic", { detail: detailOf(created) }), true);
        return;
      }
      templateId = created.data.id;
      couponTemplate = { terms, id: templateId };
    }
    const drop = { template_id: templateId, quota, duration_seconds: intOf("coupon-duration") };
    const result = await command("POST", `/live/sessions/${SID}/coupon-drops`, drop, { idempotent: true });
    if (result) {
      couponTemplate = null;
      toast(t("console.coupon.dropped", { title: result.data.coupon.title, quota: result.data.quota }));
      applyEvent(state, { type: "coupon.drop", drop: result.data });
      drawPromotions();
    }
  } finally {
    dropping = false; submit.disabled = false;
  }
}

async function copy(inputId, button) {
  const value = $(inputId).value;
  try { await navigator.clipboard.writeText(value); } catch {
    const input = $(inputId); const type = input.type; input.type = "text"; input.select();
    document.execCommand("copy"); input.type = type;
  }
  button.dataset.copied = "1";
  toast(t("console.stream.copied"));
}

// -- start ----------------------------------------------------------------------------------

let started = false;

async function open() {
  const stream = await loadStream();
  if (!stream.ok) {
    $("console").hidden = true;
    $("forbidden").hidden = false;
    $("forbidden").textContent = t("console.forbidden", { detail: detailOf(stream) });
    return;
  }
  $("forbidden").hidden = true;
  $("console").hidden = false;
  if (started) return;
  started = true;
  await Promise.all([loadRundown(), loadWords()]);
  connect();
  setInterval(sample, 2000);
  loadSales();
  setInterval(loadSales, 5000);
}

// Orders, GMV and conversion (paying buyers / unique viewers) of this session.
async function loadSales() {
  const result = await api("GET", `/live/sessions/${config.session_id}/sales`);
  if (!result.ok) return;
  const sales = result.data;
  for (const id of ["m-orders", "m-gmv", "m-conversion"]) $(id).removeAttribute("title");
  $("m-orders").textContent = `${sales.paid_orders} / ${sales.orders}`;
  $("m-gmv").textContent = sales.gmv.length
    ? sales.gmv.map((g) => money(g.gmv_minor, g.currency)).join(" + ") : money(0, "CNY");
  $("m-conversion").textContent = `${(sales.conversion * 100).toFixed(1)}%`;
  $("m-orders").dataset.paid = String(sales.paid_orders);
}

async function signedIn() {
  const me = await whoAmI();
  if (me) await open();
  else { $("console").hidden = true; $("forbidden").hidden = true; }
}

async function submitSignIn(event) {
  event.preventDefault();
  $("signin-error").textContent = "";
  const response = await signIn({ email: $("signin-email").value, password: $("signin-password").value });
  if (!response.ok) { $("signin-error").textContent = t("auth.failed"); return; }
  if (started) location.reload(); else await signedIn();
}

function start() {
  $("signin").addEventListener("submit", submitSignIn);
  $("signout").addEventListener("click", () => { localStorage.removeItem(TOKEN_KEY); location.reload(); });
  $("lang").addEventListener("change", (event) => switchLanguage(event.target.value));
  $("copy-server").addEventListener("click", (e) => copy("stream-server", e.currentTarget));
  $("copy-key").addEventListener("click", (e) => copy("stream-key", e.currentTarget));
  $("show-key").addEventListener("change", (e) => { $("stream-key").type = e.target.checked ? "text" : "password"; });
  $("rotate-key").addEventListener("click", async () => {
    if (!window.confirm(t("console.stream.rotate_confirm"))) return;
    const result = await command("POST", `/live/sessions/${SID}/stream/rotate-key`);
    if (result) drawStream(result.data);
  });
  $("go-live").addEventListener("click", async () => {
    const result = await command("POST", `/live/sessions/${SID}/start`);
    if (result) { state.session = { ...state.session, status: result.data.status }; drawSession(); }
  });
  $("end-session").addEventListener("click", async () => {
    if (!window.confirm(t("console.end_confirm"))) return;
    const result = await command("POST", `/live/sessions/${SID}/end`);
    if (result) { state.session = { ...state.session, status: result.data.status }; drawSession(); }
  });
  $("announce-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("announce-text").value.trim();
    if (!text) return;
    if (await command("POST", `/live/sessions/${SID}/announcements`, { text })) $("announce-text").value = "";
  });
  $("flash-form").addEventListener("submit", openFlashSale);
  $("flash-item").addEventListener("change", drawRundown);
  $("envelope-form").addEventListener("submit", launchEnvelope);
  $("raffle-form").addEventListener("submit", launchRaffle);
  $("coupon-form").addEventListener("submit", dropCoupon);
  $("coupon-kind").addEventListener("change", drawCouponForm);
  $("coupon-scope").addEventListener("change", drawCouponForm);
  drawCouponForm();
  $("word-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const word = $("word-input").value.trim();
    if (!word) return;
    if (await command("POST", `/moderation/banned-words?session_id=${SID}`, { word })) {
      $("word-input").value = "";
      loadWords();
    }
  });
  signedIn();
}

start();
