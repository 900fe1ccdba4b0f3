// The offline outbox: every write goes through here.
//
// A write is first stored in IndexedDB (so nothing typed is lost if the
// tablet sleeps, drops Wi-Fi or reloads), then sent.  Writes are sent one at
// a time, oldest first, each with its own Idempotency-Key (minted when it was
// queued and reused on every attempt), and creates carry a client-minted
// UUIDv7 id.  So a write whose answer was lost can be sent again safely: the
// server either replays its stored answer or, for a create, says 409 on `id`
// (the record exists), which counts as done.  So does 409
// `idempotency_key_stale`: the write was done when its key was first
// answered, but what this account may see has changed since (a person moved
// to another team, the account's team or role changed), so the server does
// not show its answer again; sending it again would never succeed, and
// nothing typed is lost (the server has it).
//
// - Server unreachable, 5xx, 429, 401: the write stays queued; sending stops
//   (order matters: a contact must not overtake the new person it is about)
//   and is retried with backoff, on `online`, when the page becomes visible,
//   when any read reaches the server, after signing in, and on load.
// - Any other 4xx is permanent.  If the person is still on the form that made
//   the write (a "waiter"), the write is dropped from the queue and the error
//   goes back to the form, which still holds what they typed.  Otherwise the
//   write is kept as "failed" with the server's message, for the Sync screen
//   (try again or discard); later writes carry on.
// - Writes belong to the account that made them and are only sent while that
//   account is signed in (a session and CSRF token are per account).

import { connectivity } from './connectivity.js';
import { uuidv7 } from './uuid.js';

const DB_NAME = 'coachbox';
const STORE = 'outbox';
const WAIT_MS = 8000; // a form waits this long for its write before calling it queued
const RETRY_MIN_MS = 2000;
const RETRY_MAX_MS = 30000;

let dbPromise = null;
let sender = null; // async (entry) => data, throws ApiError
let userId = null;
let flushing = null;
let again = false;
let retryTimer = null;
let retryDelay = RETRY_MIN_MS;
let lastError = null;
let lastSentAt = null;
const waiters = new Map(); // seq -> resolve
const listeners = new Set();
let counts = { pending: 0, failed: 0, others: 0 };

function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      if (typeof indexedDB === 'undefined') {
        reject(new Error('IndexedDB is not available'));
        return;
      }
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: 'seq', autoIncrement: true });
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error('IndexedDB is blocked'));
    }).catch((err) => {
      dbPromise = null;
      throw err;
    });
  }
  return dbPromise;
}

async function tx(mode, fn) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const store = t.objectStore(STORE);
    let result;
    const r = fn(store);
    if (r) r.onsuccess = () => { result = r.result; };
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error('IndexedDB transaction aborted'));
  });
}

const dbAdd = (entry) => tx('readwrite', (s) => s.add(entry));
const dbPut = (entry) => tx('readwrite', (s) => s.put(entry));
const dbDel = (seq) => tx('readwrite', (s) => s.delete(seq));
const dbAll = () => tx('readonly', (s) => s.getAll()).then((all) => (all || []).sort((a, b) => a.seq - b.seq));

async function recount() {
  let all = [];
  try {
    all = await dbAll();
  } catch {
    /* no IndexedDB: nothing is ever queued */
  }
  const mine = all.filter((e) => e.user === userId);
  counts = {
    pending: mine.filter((e) => e.state === 'pending').length,
    failed: mine.filter((e) => e.state === 'failed').length,
    others: all.length - mine.length,
  };
  emit();
  return all;
}

function emit(event = null) {
  const snapshot = outbox.state;
  for (const fn of listeners) {
    try {
      fn(snapshot, event);
    } catch (err) {
      console.error(err);
    }
  }
}

function settle(seq, outcome) {
  const w = waiters.get(seq);
  if (w) {
    waiters.delete(seq);
    w(outcome);
  }
}

/** Worth trying again later (as opposed to the server refusing the write). */
function transient(err) {
  const s = err && typeof err.status === 'number' ? err.status : 0;
  // 409 idempotency_key_in_progress: an earlier attempt of this very write is still
  // being handled (it timed out here, not there); retrying gets its answer.
  const inProgress = s === 409 && err.code === 'idempotency_key_in_progress';
  return s === 0 || s === 401 || s === 408 || s === 429 || s >= 500 || inProgress;
}

function describe(err) {
  return {
    status: err && typeof err.status === 'number' ? err.status : 0,
    code: (err && err.code) || 'error',
    message: (err && err.message) || String(err),
    field: (err && err.field) || null,
    at: new Date().toISOString(),
  };
}

function scheduleRetry() {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => {
    retryTimer = null;
    flush();
  }, retryDelay);
  retryDelay = Math.min(RETRY_MAX_MS, retryDelay * 2);
}

async function runOnce() {
  if (!userId || !sender) return;
  let all;
  try {
    all = await dbAll();
  } catch {
    return;
  }
  const items = all.filter((e) => e.user === userId && e.state === 'pending');
  for (let i = 0; i < items.length; i++) {
    const e = items[i];
    if (e.user !== userId) return; // signed out meanwhile
    let data;
    try {
      data = await sender(e);
    } catch (err) {
      if (err && err.name === 'AbortError' && !('status' in err)) err.status = 0;
      if (transient(err)) {
        lastError = describe(err);
        e.attempts = (e.attempts || 0) + 1;
        e.last_error = lastError;
        await dbPut(e).catch(() => {});
        // Everything after this one waits too (order matters).
        for (const seq of [...waiters.keys()]) settle(seq, { queued: true });
        if (err.status !== 401) scheduleRetry();
        await recount();
        return;
      }
      if (err.status === 409 && e.create && err.field === 'id') {
        data = null; // the record exists: an earlier attempt got through
      } else if (err.status === 409 && err.code === 'idempotency_key_stale') {
        data = null; // an earlier attempt got through; its answer is no longer ours to see
      } else if (waiters.has(e.seq)) {
        await dbDel(e.seq).catch(() => {});
        settle(e.seq, { error: err });
        await recount();
        continue;
      } else {
        e.state = 'failed';
        e.error = describe(err);
        await dbPut(e).catch(() => {});
        await recount();
        emit({ type: 'failed', entry: e });
        continue;
      }
    }
    await dbDel(e.seq).catch(() => {});
    lastSentAt = new Date().toISOString();
    lastError = null;
    retryDelay = RETRY_MIN_MS;
    settle(e.seq, { data, sent: true });
    await recount();
    emit({ type: 'sent', entry: e, data });
  }
}

function withLock(fn) {
  if (typeof navigator !== 'undefined' && navigator.locks && navigator.locks.request) {
    // Two tabs must not send the same queue at once.
    return navigator.locks.request('coachbox-outbox', fn);
  }
  return fn();
}

/** Send what is waiting, in order.  Safe to call any time. */
export function flush() {
  if (flushing) {
    again = true;
    return flushing;
  }
  flushing = withLock(async () => {
    do {
      again = false;
      await runOnce();
    } while (again);
  })
    .catch((err) => console.error('outbox', err))
    .finally(() => {
      flushing = null;
    });
  return flushing;
}

export const outbox = {
  get state() {
    return { ...counts, lastError, lastSentAt, userId };
  },
  subscribe(fn) {
    listeners.add(fn);
    fn(outbox.state, null);
    return () => listeners.delete(fn);
  },
  /** How writes are sent: async (entry) => response data; throws ApiError. */
  setSender(fn) {
    sender = fn;
  },
  /** The signed-in account (null when signed out); sends what it left waiting. */
  async setUser(id) {
    userId = id || null;
    retryDelay = RETRY_MIN_MS;
    await recount();
    if (userId) flush();
  },
  flush,
  /**
   * Queue a write and try to send it.  Resolves to
   *   { queued: false, data }  sent (data: the server's answer, or the body
   *                            for a create that turned out to exist already
   *                            or a write whose answer is stale)
   *   { queued: true, entry }  kept on the tablet, to be sent later
   * and rejects with the ApiError if the server refused it (4xx).
   */
  async send({ method, url, body, label = '', participantId = null, meta = null }) {
    const entry = {
      user: userId,
      method,
      url,
      body: body === undefined ? null : body,
      key: uuidv7(),
      created_at: new Date().toISOString(),
      label,
      meta,
      participant_id: participantId || (body && body.participant_id) || null,
      create: method === 'POST' && !!(body && body.id),
      state: 'pending',
      attempts: 0,
    };
    let seq;
    try {
      seq = await dbAdd(entry);
    } catch {
      // No IndexedDB (a locked-down browser): send directly, as before.
      return { queued: false, data: await sender(entry) };
    }
    entry.seq = seq;
    const outcome = new Promise((resolve) => {
      waiters.set(seq, resolve);
      setTimeout(() => settle(seq, { queued: true }), WAIT_MS);
    });
    await recount();
    flush();
    const r = await outcome;
    if (r.error) throw r.error;
    if (r.queued) return { queued: true, entry };
    return { queued: false, data: r.data || entry.body };
  },
  /** This account's writes still on the tablet (pending and failed), oldest first. */
  async entries() {
    try {
      return (await dbAll()).filter((e) => e.user === userId);
    } catch {
      return [];
    }
  },
  async retry(seq) {
    const all = await dbAll();
    const e = all.find((x) => x.seq === seq && x.user === userId);
    if (!e) return;
    e.state = 'pending';
    delete e.error;
    await dbPut(e);
    await recount();
    return flush();
  },
  async discard(seq) {
    const all = await dbAll();
    const e = all.find((x) => x.seq === seq && x.user === userId);
    if (!e) return;
    await dbDel(seq);
    await recount();
  },
};

if (typeof window !== 'undefined') {
  window.addEventListener('online', () => flush());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && counts.pending) flush();
  });
  // Any read that reaches the server means writes can go too.
  let wasOnline = connectivity.state.online;
  connectivity.subscribe((s) => {
    if (s.online && !wasOnline && counts.pending) flush();
    wasOnline = s.online;
  });
}
