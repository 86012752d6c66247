// The viewer's live room: the WebSocket protocol of docs/protocol.md, drawn on the page.
// State = the snapshot, then every event applied in order (the reducer mirrors
// src/liveshop/live/state.py); a dropped socket reconnects with the last seq.

import {
  $, TOKEN_KEY, authHeaders, config, money, postOnce, problemOf, reconcile, signIn, switchLanguage, t, whoAmI,
} from "./common.js";
import { applyEvent } from "./room_state.js";

// -- drawing ------------------------------------------------------------------------------

let state = null;
let lastSeq = null;
let hls = null;

function drawCounters() {
  const c = state.counters ?? { online: 0, likes: 0 };
  $("online").textContent = t("live.online", { count: c.online });
  $("likes").textContent = t("live.likes", { count: c.likes });
}

function drawPinned() {
  const item = replay ? replayItem : state.pinned;
  $("pinned").hidden = !item;
  if (!item) return;
  $("pinned-title").textContent = item.title;
  $("pinned-price").textContent = replay
    ? `${t("live.replay_price")} ${money(item.price_minor, item.currency)}`
    : `${t("live.price")} ${money(item.live_price_minor, item.currency)}`;
  const listed = replay ? item.list_price_minor !== item.price_minor : true;
  $("pinned-list").textContent = listed ? money(item.list_price_minor, item.currency) : "";
  $("pinned-image").src = item.image_url ?? "";
  $("pinned-image").hidden = !item.image_url;
  $("pinned-buy").dataset.sku = item.sku_id;
}

function drawBag() {
  const items = state.showcase ?? [];
  $("bag-open").textContent = t("live.bag", { count: items.length });
  const current = (item) => Boolean(state.pinned && state.pinned.id === item.id);
  // a Buy button keeps the keyboard focus while the anchor pins another product
  reconcile($("bag-items"), items, (item) => `${item.id}:${item.live_price_minor}`, (item) => {
    const li = document.createElement("li");
    li.textContent = `${item.title} — ${money(item.live_price_minor, item.currency)} `;
    li.classList.toggle("current", current(item));
    const buy = document.createElement("button");
    buy.type = "button"; buy.className = "buy"; buy.textContent = t("live.buy");
    buy.addEventListener("click", () => { $("bag").close(); openCheckout(item.sku_id); });
    li.append(buy);
    return li;
  }, (li, item) => li.classList.toggle("current", current(item)));
}

function chatLine(message) {
  const li = document.createElement("li");
  li.dataset.id = message.id;
  const who = document.createElement("b");
  who.textContent = `${message.user.name}: `;
  li.append(who, document.createTextNode(message.text));
  return li;
}

function drawChat() {
  $("chat").replaceChildren(...state.chat.map(chatLine));
  $("chat").scrollTop = $("chat").scrollHeight;
}

function barrage(message) {
  if (!$("barrage-on").checked) return;
  const li = chatLine(message);
  li.style.top = `${10 + Math.random() * 60}%`;
  $("barrage").append(li);
  setTimeout(() => li.remove(), 8000);
}

function drawAnnouncement() {
  const last = (state.announcements ?? []).at(-1);
  $("announcement").hidden = !last;
  if (last) $("announcement").textContent = `${t("live.announcement")}: ${last.text}`;
}

// -- the replay of an ended session: its video (VOD) and the pin timeline in video time ------

let replay = null; // GET /live/sessions/{id}/replay when ready
let replayItem = null; // the product card at the video's current time

async function loadReplay() {
  if (replay || state.session.status !== "ended") return;
  const response = await fetch(`/live/sessions/${config.session_id}/replay`);
  const body = response.ok ? await response.json() : null;
  if (!body || body.status !== "ready") return;
  replay = body;
  document.body.dataset.replay = "1";
  $("poster").hidden = true;
  const video = $("video");
  video.controls = true;
  if (window.Hls && window.Hls.isSupported()) {
    hls = new window.Hls();
    hls.loadSource(body.playback_url);
    hls.attachMedia(video);
  } else {
    video.src = body.playback_url;
  }
  video.addEventListener("timeupdate", followTimeline);
  video.addEventListener("seeked", followTimeline);
  video.play().catch(() => {});
}

function followTimeline() {
  const ms = $("video").currentTime * 1000;
  const entry = replay.timeline.find((e) => e.from_ms <= ms && ms < e.to_ms);
  const next = entry ? { ...entry.item, price_minor: entry.price_minor } : null;
  if ((next && next.id) !== (replayItem && replayItem.id)) {
    replayItem = next;
    drawPinned();
  }
}

function drawStage() {
  const session = state.session;
  $("anchor-name").textContent = `${session.anchor.display_name} · ${session.title}`;
  if (replay) { $("poster").hidden = true; return; }
  if (session.status === "ended") loadReplay();
  const stream = state.stream ?? { status: "idle" };
  const playing = session.status === "live" && stream.status === "online" && stream.playback_url;
  $("poster").hidden = Boolean(playing);
  $("poster-text").textContent =
    session.status === "ended" ? t("live.ended")
      : session.status === "scheduled" ? t("live.scheduled") : t("live.offline");
  const video = $("video");
  if (playing && video.dataset.src !== stream.playback_url) {
    video.dataset.src = stream.playback_url;
    if (hls) { hls.destroy(); hls = null; }
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({ liveSyncDurationCount: 2 });
      hls.loadSource(stream.playback_url);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = stream.playback_url;
    }
    video.play().catch(() => {});
  } else if (!playing && video.dataset.src) {
    delete video.dataset.src;
    if (hls) { hls.destroy(); hls = null; }
    video.removeAttribute("src");
  }
}

function drawAll() {
  drawStage(); drawCounters(); drawPinned(); drawBag(); drawChat(); drawAnnouncement();
}

// Other modules of the page (promotions, ...) listen to "room:snapshot" and "room:event"
// on window: detail = the state, or {event, state}.
function emit(name, detail) { window.dispatchEvent(new CustomEvent(name, { detail })); }

function onEvent(event) {
  applyEvent(state, event);
  emit("room:event", { event, state });
  switch (event.type) {
    case "counters": drawCounters(); break;
    case "chat": drawChat(); barrage(event); break;
    case "chat.deleted": drawChat(); break;
    case "product.pinned": case "product.unpinned": case "showcase.updated":
      drawPinned(); drawBag(); break;
    case "announcement": drawAnnouncement(); break;
    default: drawStage(); drawPinned(); break;
  }
}

// -- the socket ---------------------------------------------------------------------------

let socket = null;
let retry = 0;
let rejoining = false;

function rejoin() {
  document.body.dataset.ready = "0";
  lastSeq = null; // a fresh snapshot: who "you" are changed
  rejoining = true;
  socket.close();
}

function connect() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/rooms/${config.session_id}`;
  socket = new WebSocket(url);
  socket.onopen = () => {
    socket.send(JSON.stringify({ type: "hello", token: localStorage.getItem(TOKEN_KEY), last_seq: lastSeq }));
  };
  socket.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.type === "snapshot") {
      state = data.snapshot; lastSeq = data.seq; retry = 0;
      $("reconnect").hidden = true; drawAll(); emit("room:snapshot", state);
      document.body.dataset.ready = "1";
    } else if (data.type === "resume") {
      for (const event of data.events) { applyEvent(state, event); emit("room:event", { event, state }); }
      state.counters = data.counters; lastSeq = data.seq; retry = 0;
      $("reconnect").hidden = true; drawAll(); emit("room:snapshot", state);
      document.body.dataset.ready = "1";
    } else if (data.type === "error") {
      $("chat-error").textContent = data.code.endsWith("sign_in_required") ? t("live.chat.sign_in") : data.detail;
    } else if (Array.isArray(data.events)) {
      for (const event of data.events) onEvent(event);
      if (data.seq !== undefined && data.seq !== null) lastSeq = data.seq;
    } else {
      emit("room:notice", data); // personal messages (a waitlist notice, ...) for the modules
    }
  };
  socket.onclose = () => {
    if (rejoining) { rejoining = false; connect(); return; } // signed in or out: join again now
    $("reconnect").hidden = false;
    retry += 1;
    setTimeout(connect, Math.min(10000, 500 * 2 ** Math.min(retry, 5)));
  };
}

// -- actions ------------------------------------------------------------------------------

let pendingLikes = 0;
function like() {
  pendingLikes += 1;
  const heart = document.createElement("span");
  heart.textContent = "❤";
  heart.style.left = `${40 + Math.random() * 50}%`;
  $("hearts").append(heart);
  setTimeout(() => heart.remove(), 1500);
}
setInterval(() => {
  if (pendingLikes && socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type: "like", count: Math.min(pendingLikes, config.like_max) }));
    pendingLikes = 0;
  }
}, 500);

let signingUp = false;

function toggleSignUp() {
  signingUp = !signingUp;
  $("signup-name-label").hidden = !signingUp;
  $("signup-name").required = signingUp;
  $("signin-submit").textContent = t(signingUp ? "auth.sign_up" : "auth.sign_in");
  $("signup-toggle").textContent = t(signingUp ? "auth.sign_in_instead" : "auth.sign_up_instead");
  $("signin-password").autocomplete = signingUp ? "new-password" : "current-password";
}

async function submitSignIn(event) {
  event.preventDefault();
  $("signin-error").textContent = "";
  const credentials = { email: $("signin-email").value, password: $("signin-password").value };
  if (signingUp) credentials.display_name = $("signup-name").value;
  const response = await signIn(credentials, { signUp: signingUp });
  if (!response.ok) {
    $("signin-error").textContent = signingUp
      ? t("auth.signup_failed", { detail: await problem(response) }) : t("auth.failed");
    return;
  }
  await whoAmI();
  rejoin(); // join again, signed in
}

// -- buying: an order in this session (its live price), paid on the payment page, back here

const ADDRESS_KEY = "liveshop_address";

export function openCheckout(skuId) {
  if (!localStorage.getItem(TOKEN_KEY)) {
    $("signin-error").textContent = t("checkout.sign_in");
    $("signin-email").focus();
    return;
  }
  const item = (state.showcase ?? []).find((i) => i.sku_id === skuId);
  const price = replay && replayItem && replayItem.sku_id === skuId
    ? replayItem.price_minor : item && item.live_price_minor;
  $("checkout-item").textContent = item ? `${item.title} — ${money(price, item.currency)}` : "";
  $("checkout-form").dataset.sku = skuId;
  const saved = JSON.parse(localStorage.getItem(ADDRESS_KEY) ?? "{}");
  for (const field of ["recipient", "phone", "line1", "city"]) $(`ship-${field}`).value = saved[field] ?? "";
  $("checkout-error").textContent = "";
  $("checkout").showModal();
}

const problem = async (response) => (await problemOf(response)).detail;

async function placeOrder(event) {
  event.preventDefault();
  const address = {};
  for (const field of ["recipient", "phone", "line1", "city"]) address[field] = $(`ship-${field}`).value.trim();
  localStorage.setItem(ADDRESS_KEY, JSON.stringify(address));
  const order = await postOnce("/orders", {
    lines: [{ sku_id: $("checkout-form").dataset.sku, quantity: 1 }],
    shipping_address: address,
    live_session_id: config.session_id,
  });
  if (!order.ok) { $("checkout-error").textContent = t("error.generic", { detail: await problem(order) }); return; }
  const { id } = await order.json();
  const payment = await postOnce(`/orders/${id}/payments`, { return_url: `/live/${config.session_id}?order=${id}` });
  if (!payment.ok) { $("checkout-error").textContent = t("error.generic", { detail: await problem(payment) }); return; }
  location.assign((await payment.json()).pay_url);
}

async function showOrder(orderId, tries = 0) {
  const response = await fetch(`/orders/${orderId}`, { headers: authHeaders() });
  if (!response.ok) return;
  const order = await response.json();
  $("order-status").hidden = false;
  $("order-status").textContent = t("order.status", { id: order.id.slice(-6), status: t(`order.status.${order.status}`) });
  $("order-status").dataset.status = order.status;
  if (order.status === "pending_payment" && tries < 30) setTimeout(() => showOrder(orderId, tries + 1), 1000);
}

function start() {
  $("pinned-buy").addEventListener("click", () => openCheckout($("pinned-buy").dataset.sku));
  $("checkout-form").addEventListener("submit", placeOrder);
  $("checkout-cancel").addEventListener("click", () => $("checkout").close());
  const returned = new URLSearchParams(location.search).get("order");
  if (returned) showOrder(returned);
  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("chat-input").value.trim();
    if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
    $("chat-error").textContent = "";
    socket.send(JSON.stringify({ type: "chat", text }));
    $("chat-input").value = "";
  });
  $("like").addEventListener("click", like);
  $("bag-open").addEventListener("click", () => $("bag").showModal());
  $("bag-close").addEventListener("click", () => $("bag").close());
  $("signin").addEventListener("submit", submitSignIn);
  $("signup-toggle").addEventListener("click", toggleSignUp);
  $("signout").addEventListener("click", () => { localStorage.removeItem(TOKEN_KEY); whoAmI(); rejoin(); });
  $("lang").addEventListener("change", (event) => switchLanguage(event.target.value));
  whoAmI();
  connect();
}

start();
