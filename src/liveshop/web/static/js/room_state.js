// The room reducer, as the page runs it: applyEvent(state, event) is what the page does with
// each room event. It mirrors src/liveshop/live/state.py step for step, and is held to the
// same rule (tests/web/test_room_state_js.py): a snapshot with every later event applied
// equals a fresh snapshot. Every step is idempotent: a resumed page may see an event whose
// effect its snapshot already holds.

import { applyPromotion } from "./common.js";

export const MAX_CHAT = 50;
export const MAX_ANNOUNCEMENTS = 5;

const byAtThenId = (a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export function applyEvent(state, event) {
  switch (event.type) {
    case "product.pinned": state.pinned = event.item; break;
    case "product.unpinned":
      if (state.pinned && state.pinned.id === event.item_id) state.pinned = null;
      break;
    case "showcase.updated": {
      state.showcase = event.showcase;
      if (state.pinned) state.pinned = event.showcase.find((i) => i.id === state.pinned.id) ?? null;
      break;
    }
    case "announcement": {
      const rest = (state.announcements ?? []).filter((a) => a.id !== event.announcement.id);
      state.announcements = [...rest, event.announcement].sort(byAtThenId).slice(-MAX_ANNOUNCEMENTS);
      break;
    }
    case "session.live": case "session.updated": state.session = event.session; break;
    case "session.ended": state.session = event.session; state.pinned = null; break;
    case "stream.online": case "stream.offline": state.stream = event.stream; break;
    case "chat": {
      if (!state.chat) break;
      const { seq, ...message } = event;
      state.chat = [...state.chat.filter((m) => m.id !== message.id), message].slice(-MAX_CHAT);
      break;
    }
    case "chat.deleted":
      if (state.chat) state.chat = state.chat.filter((m) => m.id !== event.id);
      break;
    case "counters": { const { seq, ...counters } = event; state.counters = counters; break; }
    default: {
      const promotions = applyPromotion(state.promotions ?? [], event);
      if (promotions !== null) state.promotions = promotions;
    }
  }
  return state;
}
