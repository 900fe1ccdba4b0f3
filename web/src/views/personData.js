// Loading a person's record, with what is still waiting on this tablet
// applied on top (shown as "not sent yet").
import { api, ApiError } from '../lib/api.js';
import { outbox } from '../lib/outbox.js';

const KIND_OF_URL = /^\/api\/([a-z-]+)$/;

/** This person's writes still on the tablet: { creates: {kind: [body+meta]}, patches: [entry] }. */
export async function pendingFor(participantId) {
  const entries = await outbox.entries();
  const creates = {};
  const patches = [];
  let person = null;
  for (const e of entries) {
    if (e.method === 'POST' && e.url === '/api/participants' && e.body && e.body.id === participantId) {
      person = { ...e.body, status: 'active', pending: true, failed: e.state === 'failed' };
      continue;
    }
    if (e.participant_id !== participantId && !(e.body && e.body.participant_id === participantId)) continue;
    const m = KIND_OF_URL.exec(e.url);
    if (e.method === 'POST' && m && e.body) {
      (creates[m[1]] = creates[m[1]] || []).push({ ...e.body, pending: true, failed: e.state === 'failed', created_at: e.created_at });
    } else if (e.method === 'PATCH') {
      patches.push(e);
    }
  }
  return { person, creates, patches };
}

/** GET the participant, falling back to a registration still on the tablet. */
export async function loadPerson(id, signal) {
  let p = null;
  let error = null;
  try {
    p = await api.participant(id, { signal });
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    error = err;
  }
  const pending = await pendingFor(id);
  if (!p && pending.person) p = pending.person;
  if (!p) throw error;
  for (const e of pending.patches) {
    if (e.url === `/api/participants/${encodeURIComponent(id)}` && e.body) p = { ...p, ...e.body, pendingChange: true };
  }
  return p;
}

/** A list GET that may fail on its own: { items, error }. */
export async function listOf(promise) {
  try {
    const body = await promise;
    return { items: (body && body.items) || [], error: null, body };
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return { items: [], error: err };
  }
}

/** Apply pending creates and patches of a kind to a list from the server. */
export function merge(items, kind, pending) {
  const out = items.map((i) => ({ ...i }));
  const ids = new Set(out.map((i) => i.id));
  for (const c of pending.creates[kind] || []) if (!ids.has(c.id)) out.unshift(c);
  for (const e of pending.patches) {
    const m = new RegExp(`^/api/${kind}/([^/]+)$`).exec(e.url);
    if (!m) continue;
    const hit = out.find((i) => i.id === decodeURIComponent(m[1]));
    if (hit) Object.assign(hit, e.body, { pending: true });
  }
  return out;
}
