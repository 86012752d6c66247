// The viewer's promotions in the live room: flash sales, coupon drops, red envelopes and
// raffles from the snapshot's `promotions` and the room events (docs/protocol.md), plus a
// Follow button for the anchor. Everything that moves money or stock goes over HTTP with a
// fresh Idempotency-Key. live.js emits "room:snapshot" (detail = state) and "room:event"
// (detail = {event, state}) on window; its reducer (room_state.js) keeps `state.promotions`.

import { $, authHeaders, config, money, postOnce, problemOf, t, token, whoAmI } from "./common.js";

const ADDRESS_KEY = "liveshop_address";
const ADDRESS_FIELDS = ["recipient", "phone", "line1", "city"];
const MAX_COUNTDOWN = 300; // seconds: a sale's countdown is 10..300 s (flash-sales.md)
const root = $("promotions");

let promotions = []; // this room's open promotions, in id order (as the server keeps them)
let anchorId = null;
let me = null; // {id, display_name} when signed in
const cards = new Map(); // promotion id -> {el, promo, kind, refs, ended}

// -- small helpers --------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

const signedIn = () => Boolean(token());

const post = postOnce;
const get = (path) => fetch(path, { headers: authHeaders() });

// A known problem code has its own message; anything else is the generic one.
function errorText(problem) {
  const known = `promo.error.${problem.code}`;
  if (problem.code && config.messages[known]) return t(known);
  return t("error.generic", { detail: problem.detail });
}

function say(card, text, tone = "info") {
  card.refs.msg.textContent = text;
  card.refs.msg.dataset.tone = tone;
  if (card === popupCard) drawPopup();
}

function askSignIn(card) {
  say(card, t("promo.sign_in"), "error");
  $("signin-error").textContent = t("promo.sign_in");
  $("signin-email")?.focus();
}

let room = null; // the room's state (live.js's): the showcase names the coupon's products

// -- flash sales ----------------------------------------------------------------------------

function secondsTo(iso) {
  const left = Math.ceil((Date.parse(iso) - Date.now()) / 1000);
  return left > MAX_COUNTDOWN ? null : Math.max(0, left); // null: the clocks disagree
}

function savedAddress() {
  try {
    const saved = JSON.parse(localStorage.getItem(ADDRESS_KEY) ?? "null");
    return saved && ADDRESS_FIELDS.every((f) => saved[f]) ? saved : null;
  } catch {
    return null;
  }
}

function addressForm(card) {
  const id = card.promo.id;
  const inputs = {};
  const autocomplete = { recipient: "name", phone: "tel", line1: "street-address", city: "address-level2" };
  const form = el("form", { class: "promo-address", hidden: true, "aria-label": t("promo.flash.address") });
  form.append(el("p", { class: "promo-hint", text: t("promo.flash.address") }));
  for (const field of ADDRESS_FIELDS) {
    inputs[field] = el("input", {
      id: `promo-${id}-${field}`, name: field, required: true, maxlength: "200",
      autocomplete: autocomplete[field], type: field === "phone" ? "tel" : "text",
    });
    form.append(el("label", { for: inputs[field].id, text: `${t(`checkout.${field}`)} ` }, inputs[field]));
  }
  card.refs.formSubmit = el("button", { type: "submit", class: "buy", text: t("promo.flash.address_buy") });
  form.append(card.refs.formSubmit);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const address = {};
    for (const field of ADDRESS_FIELDS) address[field] = inputs[field].value.trim();
    localStorage.setItem(ADDRESS_KEY, JSON.stringify(address));
    (soldOut(card) ? joinWaitlist : buy)(card, address);
  });
  card.refs.inputs = inputs;
  return form;
}

function showAddressForm(card) {
  card.refs.formSubmit.textContent = t(soldOut(card) ? "promo.flash.address_wait" : "promo.flash.address_buy");
  const saved = JSON.parse(localStorage.getItem(ADDRESS_KEY) ?? "{}") ?? {};
  for (const field of ADDRESS_FIELDS) card.refs.inputs[field].value = saved[field] ?? "";
  card.refs.form.hidden = false;
  card.refs.inputs.recipient.focus();
}

function buildFlash(card) {
  const r = card.refs;
  r.title = el("div", { class: "promo-title" });
  r.price = el("div", { class: "promo-price" });
  r.timer = el("p", { class: "promo-timer" });
  r.barFill = el("span");
  r.bar = el("div", { class: "promo-bar", role: "progressbar", "aria-valuemin": "0" }, r.barFill);
  r.left = el("p", { class: "promo-left" });
  r.action = el("button", { type: "button", class: "buy promo-action", onclick: () => startBuy(card) });
  r.form = addressForm(card);
  return [el("div", { class: "promo-label", text: t("promo.flash.label") }), r.title, r.price,
    r.timer, r.bar, r.left, r.action, r.form];
}

const soldOut = (card) => card.promo.left <= 0 && card.promo.status === "open";

function drawFlash(card) {
  const sale = card.promo;
  const r = card.refs;
  const status = card.ended ? "ended" : soldOut(card) ? "sold_out" : sale.status;
  card.el.dataset.status = status;
  r.title.textContent = sale.title;
  r.price.replaceChildren(
    el("span", { class: "price", text: money(sale.price_minor, sale.currency) }), " ",
    el("s", { text: money(sale.list_price_minor, sale.currency) }),
  );
  const counting = sale.status === "countdown" && !card.ended;
  r.timer.hidden = !counting;
  if (counting) {
    const seconds = secondsTo(sale.opens_at);
    r.timer.textContent = seconds === null ? t("promo.flash.soon")
      : seconds > 0 ? t("promo.flash.countdown", { seconds }) : t("promo.flash.opening");
  }
  r.bar.setAttribute("aria-valuemax", String(sale.quantity));
  r.bar.setAttribute("aria-valuenow", String(sale.left));
  r.bar.setAttribute("aria-label", t("promo.flash.left", { left: sale.left, quantity: sale.quantity }));
  r.barFill.style.width = `${sale.quantity ? (100 * sale.left) / sale.quantity : 0}%`;
  r.left.textContent = t("promo.flash.left", { left: sale.left, quantity: sale.quantity });
  // sold out: the fan may wait in line for units an unpaid order gives back
  if (card.granted) {
    r.action.textContent = t("promo.flash.pay_now");
    r.action.disabled = card.busy;
  } else if (status === "sold_out") {
    r.action.textContent = card.waiting
      ? t("promo.flash.waiting", { position: card.waiting }) : t("promo.flash.join_waitlist");
    r.action.disabled = Boolean(card.waiting) || card.busy;
  } else {
    r.action.textContent = t("promo.flash.buy");
    r.action.disabled = status !== "open" || card.busy;
  }
  if (status === "ended" && !card.granted) r.action.disabled = true;
  if (status === "ended") r.form.hidden = true;
}

function startBuy(card) {
  if (card.granted) { pay(card, card.granted); return; }
  if (!signedIn()) { askSignIn(card); return; }
  const address = savedAddress();
  if (!address) { showAddressForm(card); return; }
  (soldOut(card) ? joinWaitlist : buy)(card, address);
}

// The sandbox pay page, which comes back to the room with the order's status.
async function toPayment(card, orderId) {
  const payment = await post(`/orders/${orderId}/payments`, {
    return_url: `/live/${config.session_id}?order=${orderId}`,
  });
  if (!payment.ok) { say(card, errorText(await problemOf(payment)), "error"); return; }
  location.assign((await payment.json()).pay_url);
}

async function pay(card, orderId) {
  if (card.busy) return;
  card.busy = true; draw(card);
  try {
    await toPayment(card, orderId);
  } catch (error) {
    say(card, t("error.generic", { detail: String(error) }), "error");
  } finally {
    card.busy = false; draw(card);
  }
}

async function joinWaitlist(card, address) {
  if (card.busy) return;
  card.busy = true; draw(card);
  try {
    const response = await post(`/flash-sales/${card.promo.id}/waitlist`, { shipping_address: address });
    if (response.status === 401) { askSignIn(card); return; }
    if (!response.ok) {
      const problem = await problemOf(response);
      say(card, errorText(problem), "error");
      if (response.status === 422) showAddressForm(card);
      return;
    }
    card.refs.form.hidden = true;
    card.waiting = (await response.json()).position;
    say(card, t("promo.flash.waitlisted", { position: card.waiting }), "ok");
  } catch (error) {
    say(card, t("error.generic", { detail: String(error) }), "error");
  } finally {
    card.busy = false; draw(card);
  }
}

// Units an unpaid order gave back became an order for this fan (a personal notice).
function onFlashNotice(notice) {
  if (notice.code !== "waitlist.granted") return;
  const card = cards.get(notice.sale_id);
  if (!card) return;
  card.granted = notice.order_id;
  card.waiting = null;
  card.done = true; // the card stays (with its pay button) if the sale closes
  say(card, t("promo.flash.granted"), "ok");
  draw(card);
  card.refs.action.focus();
}

// After a (re)join: this fan's place in line, or an order the line already gave them.
async function loadMyFlash(card) {
  const response = await get(`/flash-sales/${card.promo.id}/me`);
  if (!response.ok) return;
  const mine = await response.json();
  if (mine.waitlist_outcome === null && mine.waitlist_position) card.waiting = mine.waitlist_position;
  const granted = mine.buys.find((b) => b.from_waitlist && b.status === "live");
  if (mine.waitlist_outcome === "granted" && granted) { card.granted = granted.order_id; card.done = true; }
  draw(card);
}

async function buy(card, address) {
  if (card.busy) return;
  card.busy = true; draw(card);
  say(card, t("promo.flash.buying"));
  try {
    const response = await post(`/flash-sales/${card.promo.id}/buy`, { shipping_address: address });
    if (response.status === 401) { askSignIn(card); return; }
    if (!response.ok) {
      const problem = await problemOf(response);
      say(card, errorText(problem), "error");
      if (response.status === 422) showAddressForm(card); // the address did not validate
      return;
    }
    card.refs.form.hidden = true;
    const order = await response.json();
    say(card, t("promo.flash.bought"), "ok");
    await toPayment(card, order.order_id);
  } catch (error) {
    say(card, t("error.generic", { detail: String(error) }), "error");
  } finally {
    card.busy = false; draw(card);
  }
}

// -- coupon drops ---------------------------------------------------------------------------

function couponTerms(coupon) {
  const off = coupon.kind === "percent"
    ? t("promo.coupon.percent", { percent: coupon.percent_off })
    : t("promo.coupon.fixed", { amount: money(coupon.amount_off_minor, coupon.currency) });
  const parts = [off];
  if (coupon.cap_minor !== null) parts.push(t("promo.coupon.cap", { amount: money(coupon.cap_minor, coupon.currency) }));
  if (coupon.min_spend_minor > 0) parts.push(t("promo.coupon.min_spend", { amount: money(coupon.min_spend_minor, coupon.currency) }));
  if (coupon.scope === "skus") {
    const covered = new Set(coupon.sku_ids);
    const titles = [...new Set((room?.showcase ?? []).filter((i) => covered.has(i.sku_id)).map((i) => i.title))];
    parts.push(titles.length
      ? t("promo.coupon.on_items", { items: titles.join(", ") })
      : t("promo.coupon.on_some_items"));
  }
  if (coupon.live_session_only) parts.push(t("promo.coupon.live_only"));
  return parts.join(" · ");
}

function buildCoupon(card) {
  const r = card.refs;
  r.title = el("div", { class: "promo-title" });
  r.terms = el("p", { class: "promo-terms" });
  r.action = el("button", { type: "button", class: "buy promo-action", text: t("promo.coupon.claim"), onclick: () => claim(card) });
  return [el("div", { class: "promo-label", text: t("promo.coupon.label") }), r.title, r.terms, r.action];
}

function drawCoupon(card) {
  const drop = card.promo;
  card.el.dataset.status = card.ended ? "ended" : card.done ? "claimed" : "open";
  card.refs.title.textContent = drop.coupon.title;
  card.refs.terms.textContent = couponTerms(drop.coupon);
  card.refs.action.disabled = card.busy || card.done || card.ended;
  if (popupCard === card) drawPopup();
}

// A drop that arrives while watching pops up over the video (the card stays in the list):
// Claim or close it; it goes when the drop ends, and a few seconds after a claim.
let popupCard = null;
let popupTimer = null;

function openPopup(card) {
  popupCard = card;
  $("coupon-popup").hidden = false;
  drawPopup();
}

function closePopup() {
  const hadFocus = $("coupon-popup").contains(document.activeElement);
  popupCard = null;
  clearTimeout(popupTimer);
  $("coupon-popup").hidden = true;
  if (hadFocus) $("chat-input").focus(); // not lost to the page's top
}

function drawPopup() {
  const card = popupCard;
  if (card.ended) { closePopup(); return; }
  $("coupon-popup-title").textContent = card.promo.coupon.title;
  $("coupon-popup-terms").textContent = couponTerms(card.promo.coupon);
  $("coupon-popup-claim").disabled = card.done;
  $("coupon-popup-claim").setAttribute("aria-disabled", String(Boolean(card.busy)));
  $("coupon-popup-msg").textContent = card.refs.msg.textContent;
  $("coupon-popup-msg").dataset.tone = card.refs.msg.dataset.tone ?? "";
  if (card.done && !popupTimer) {
    popupTimer = setTimeout(() => { popupTimer = null; if (popupCard === card) closePopup(); }, 4000);
  }
}

async function claim(card) {
  if (!signedIn()) { askSignIn(card); return; }
  if (card.busy) return;
  card.busy = true; draw(card);
  try {
    const response = await post(`/coupon-drops/${card.promo.id}/claim`);
    if (response.status === 401) { askSignIn(card); return; }
    if (!response.ok) { say(card, errorText(await problemOf(response)), "error"); return; }
    card.done = true;
    say(card, t("promo.coupon.claimed", { title: card.promo.coupon.title }), "ok");
  } catch (error) {
    say(card, t("error.generic", { detail: String(error) }), "error");
  } finally {
    card.busy = false; draw(card);
  }
}

// -- red envelopes --------------------------------------------------------------------------

function buildEnvelope(card) {
  const r = card.refs;
  r.title = el("div", { class: "promo-title" });
  r.timer = el("p", { class: "promo-timer" });
  r.action = el("button", { type: "button", class: "buy promo-action", text: t("promo.envelope.grab"), onclick: () => grab(card) });
  return [el("div", { class: "promo-label", text: t("promo.envelope.label") }), r.title, r.timer, r.action];
}

function drawEnvelope(card) {
  const pot = card.promo;
  const seconds = secondsTo(pot.opens_at);
  const waiting = !card.ended && seconds !== null && seconds > 0;
  card.el.dataset.status = card.ended ? "ended" : card.done ? "grabbed" : waiting ? "countdown" : "open";
  card.refs.title.textContent = t("promo.envelope.title", {
    name: pot.funder?.name ?? "", amount: money(pot.amount_minor, pot.currency), count: pot.count,
  });
  card.refs.timer.hidden = !waiting;
  if (waiting) card.refs.timer.textContent = t("promo.envelope.countdown", { seconds });
  card.refs.action.disabled = card.busy || card.done || card.ended;
}

async function grab(card) {
  if (!signedIn()) { askSignIn(card); return; }
  if (card.busy) return;
  card.busy = true; draw(card);
  try {
    const response = await post(`/red-envelopes/${card.promo.id}/grab`);
    if (response.status === 401) { askSignIn(card); return; }
    if (!response.ok) { say(card, errorText(await problemOf(response)), "error"); return; }
    const won = await response.json();
    card.done = true;
    card.refs.msg.dataset.amount = String(won.amount_minor);
    say(card, t("promo.envelope.won", { amount: money(won.amount_minor, won.currency) }), "ok");
  } catch (error) {
    say(card, t("error.generic", { detail: String(error) }), "error");
  } finally {
    card.busy = false; draw(card);
  }
}

// -- raffles --------------------------------------------------------------------------------

function buildRaffle(card) {
  const r = card.refs;
  r.title = el("div", { class: "promo-title" });
  r.prize = el("p", { class: "promo-terms" });
  r.hint = el("p", { class: "promo-hint" });
  r.action = el("button", { type: "button", class: "buy promo-action", text: t("promo.raffle.enter"), onclick: () => enter(card) });
  r.result = el("div", { class: "promo-result" });
  return [el("div", { class: "promo-label", text: t("promo.raffle.label") }), r.title, r.prize,
    r.hint, r.action, r.result];
}

function drawRaffle(card) {
  const raffle = card.promo;
  card.el.dataset.status = card.result ? "drawn" : card.ended ? "ended" : card.done ? "entered" : "open";
  card.refs.title.textContent = raffle.title;
  card.refs.prize.textContent = t("promo.raffle.prize", { title: raffle.prize?.title ?? "", count: raffle.winners_count });
  card.refs.hint.hidden = raffle.eligibility !== "keyword";
  if (raffle.eligibility === "keyword") card.refs.hint.textContent = t("promo.raffle.keyword", { keyword: raffle.keyword });
  card.refs.action.hidden = card.ended;
  card.refs.action.disabled = card.busy || card.done;
  const result = card.result;
  card.refs.result.hidden = !result;
  if (result) {
    const mine = me && result.winners.some((w) => w.id === me.id);
    const names = result.winners.map((w) => w.name).join(", ");
    card.refs.result.replaceChildren(
      el("p", { class: "promo-winners", text: result.winners.length
        ? t("promo.raffle.winners", { names }) : t("promo.raffle.no_winners") }),
      mine ? el("p", { class: "promo-won", text: t("promo.raffle.you_won") }) : null,
      el("a", { class: "promo-proof", href: `/raffles/${raffle.id}/proof`, target: "_blank", rel: "noopener", text: t("promo.raffle.proof") }),
    );
  }
}

async function enter(card) {
  if (!signedIn()) { askSignIn(card); return; }
  if (card.busy) return;
  card.busy = true; draw(card);
  try {
    const response = await post(`/raffles/${card.promo.id}/enter`);
    if (response.status === 401) { askSignIn(card); return; }
    if (!response.ok) { say(card, errorText(await problemOf(response)), "error"); return; }
    card.done = true;
    say(card, t("promo.raffle.entered"), "ok");
  } catch (error) {
    say(card, t("error.generic", { detail: String(error) }), "error");
  } finally {
    card.busy = false; draw(card);
  }
}

// -- the cards ------------------------------------------------------------------------------

const KINDS = {
  flash_sale: { build: buildFlash, draw: drawFlash },
  coupon_drop: { build: buildCoupon, draw: drawCoupon },
  red_envelope: { build: buildEnvelope, draw: drawEnvelope },
  raffle: { build: buildRaffle, draw: drawRaffle },
};

// While its request is out a card's action is only marked busy (aria-disabled; the actions
// ignore a second press), not disabled: disabling the focused button would drop the keyboard
// focus to the top of the page.
function draw(card) {
  KINDS[card.kind].draw(card);
  const action = card.refs.action;
  if (!action) return;
  if (card.busy) action.disabled = false;
  action.setAttribute("aria-disabled", String(Boolean(card.busy)));
}

function makeCard(promo) {
  const card = { promo, kind: promo.kind, refs: {}, ended: false, busy: false, done: false };
  card.refs.msg = el("p", { class: "promo-msg", role: "status" });
  card.refs.dismiss = el("button", {
    type: "button", class: "promo-dismiss", hidden: true, "aria-label": t("promo.dismiss"), text: "✕",
    onclick: () => { card.el.remove(); cards.delete(promo.id); },
  });
  card.el = el("article", {
    class: `promo promo-${promo.kind.replace("_", "-")}`, "data-kind": promo.kind, "data-id": promo.id,
  }, card.refs.dismiss, ...KINDS[promo.kind].build(card), card.refs.msg);
  return card;
}

// A card whose promotion left the list stays while it has something to tell this viewer
// (a coupon claimed, an amount won, a raffle's result), with a button to dismiss it.
function keepsAfterEnd(card) {
  return card.done || Boolean(card.result) || (card.kind === "raffle" && !card.ended);
}

function sync() {
  const listed = new Set();
  for (const promo of promotions) {
    if (!KINDS[promo.kind]) continue;
    listed.add(promo.id);
    let card = cards.get(promo.id);
    if (!card) { card = makeCard(promo); cards.set(promo.id, card); }
    card.promo = promo;
    card.ended = false;
    card.refs.dismiss.hidden = true;
    draw(card);
  }
  for (const [id, card] of cards) {
    if (listed.has(id)) continue;
    if (!card.ended && keepsAfterEnd(card)) {
      card.ended = true;
      card.refs.dismiss.hidden = false;
      if (!card.refs.msg.textContent) say(card, t("promo.ended"));
      draw(card);
    } else if (!card.ended) {
      card.el.remove(); cards.delete(id);
    }
  }
  const order = [...cards.values()].sort((a, b) => (a.promo.id < b.promo.id ? -1 : 1));
  // Move nodes only when the order changed: moving a node takes the keyboard focus off it.
  const same = order.length === root.children.length && order.every((c, i) => root.children[i] === c.el);
  if (!same) root.replaceChildren(...order.map((c) => c.el));
}

function onRaffleResult(event) {
  const card = cards.get(event.raffle_id);
  if (!card) return;
  card.result = event;
  card.ended = true;
  card.refs.dismiss.hidden = false;
  draw(card);
}

function onRaffleClosed(event) {
  const card = cards.get(event.raffle_id);
  if (!card) return;
  card.ended = true;
  card.refs.dismiss.hidden = false;
  say(card, t("promo.raffle.closed", { count: event.entrants_count }));
  draw(card);
}

// -- follow the anchor ----------------------------------------------------------------------

const follow = el("button", { id: "follow", type: "button", class: "follow", hidden: true, "aria-pressed": "false" });
const followMsg = el("span", { id: "follow-msg", class: "promo-msg", role: "status" });
let following = false;

function drawFollow() {
  follow.hidden = !anchorId || (me && me.id === anchorId);
  follow.textContent = following ? t("promo.unfollow") : t("promo.follow");
  follow.setAttribute("aria-pressed", following ? "true" : "false");
  follow.dataset.following = following ? "1" : "0";
}

async function loadFollow() {
  if (!anchorId) return;
  following = false;
  if (signedIn()) {
    const response = await fetch(`/anchors/${anchorId}`, { headers: authHeaders() });
    if (response.ok) following = Boolean((await response.json()).following);
  }
  drawFollow();
}

async function toggleFollow() {
  followMsg.textContent = "";
  if (!signedIn()) {
    followMsg.textContent = t("promo.sign_in");
    $("signin-error").textContent = t("promo.sign_in");
    $("signin-email")?.focus();
    return;
  }
  follow.disabled = true;
  try {
    const response = await fetch(`/anchors/${anchorId}/follow`, {
      method: following ? "DELETE" : "POST", headers: authHeaders(),
    });
    if (!response.ok) { followMsg.textContent = errorText(await problemOf(response)); return; }
    following = !following;
    followMsg.textContent = following ? t("promo.followed") : t("promo.unfollowed");
  } finally {
    follow.disabled = false; drawFollow();
  }
}



// -- wiring ---------------------------------------------------------------------------------

follow.addEventListener("click", toggleFollow);
$("anchor-name").after(follow, followMsg);

window.addEventListener("room:snapshot", async (e) => {
  const state = e.detail;
  room = state;
  promotions = [...(state.promotions ?? [])];
  state.promotions = promotions;
  anchorId = state.session?.anchor?.id ?? null;
  sync();
  me = await whoAmI(); // the socket rejoins after a sign-in / sign-out: who is this now?
  await loadFollow();
  for (const card of cards.values()) {
    if (card.kind === "flash_sale" && !me) { card.waiting = null; card.granted = null; }
    if (card.kind === "flash_sale" && me && !card.ended && card.promo.left <= 0) await loadMyFlash(card);
    draw(card);
  }
});

$("coupon-popup-claim").addEventListener("click", async () => {
  const card = popupCard;
  if (!card) return;
  const focused = document.activeElement === $("coupon-popup-claim");
  await claim(card);
  if (popupCard === card && card.done && focused) $("coupon-popup-close").focus(); // Claim is done
});
$("coupon-popup-close").addEventListener("click", closePopup);
$("coupon-popup").addEventListener("keydown", (e) => { if (e.key === "Escape") closePopup(); });

window.addEventListener("room:notice", (e) => {
  if (e.detail.type === "flash.notice") onFlashNotice(e.detail);
});

window.addEventListener("room:event", (e) => {
  const { event, state } = e.detail;
  room = state;
  if (event.type === "raffle.closed") onRaffleClosed(event);
  if (event.type === "raffle.result") onRaffleResult(event);
  if (state.promotions !== promotions) { // the room's reducer (room_state.js) changed them
    promotions = state.promotions;
    sync();
  }
  if (event.type === "coupon.drop" && cards.has(event.drop.id) && !cards.get(event.drop.id).done) {
    openPopup(cards.get(event.drop.id));
  }
});

setInterval(() => {
  for (const card of cards.values()) {
    if (card.kind === "flash_sale" || card.kind === "red_envelope") draw(card);
  }
}, 1000);
