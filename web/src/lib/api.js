// The only place the app talks to the server.  JSON in and out, the session
// cookie sent by the browser (same-origin), and the CSRF token on every
// state-changing request.
//
// Reads (GET) go through the service worker, which falls back to the last
// copy it saw when the field server cannot be reached; such responses carry
// the X-Coachbox-Cached-At header and are reported to connectivity.
//
// Writes go through mutate().  Later, an offline outbox (IndexedDB, client
// minted IDs, idempotency keys) slots in there without the views changing.

import { connectivity } from './connectivity.js';

export class ApiError extends Error {
  constructor(status, { code = 'error', message = '', field = null, retryAfter = null } = {}) {
    super(message || `Request failed (${status})`);
    this.name = 'ApiError';
    this.status = status; // 0 when the server could not be reached
    this.code = code;
    this.field = field || null;
    this.retryAfter = retryAfter; // seconds, for 429
  }

  get offline() {
    return this.status === 0;
  }
}

let csrfToken = null;
let onUnauthorized = null;

export function setCsrfToken(token) {
  csrfToken = token || null;
}

/** Called with the ApiError when a signed-in request gets 401. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

function retryAfterSeconds(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, Math.ceil((when - Date.now()) / 1000));
}

async function readJson(res) {
  const type = res.headers.get('Content-Type') || '';
  if (!type.includes('json')) return null;
  try {
    return await res.json();
  } catch {
    return null;
  }
}

async function request(method, url, body, { signal, quiet401 = false } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', signal };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && url !== '/api/login' && csrfToken) {
    headers['X-CSRF-Token'] = csrfToken;
  }

  let res;
  try {
    res = await fetch(url, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    connectivity.reportOffline();
    throw new ApiError(0, { code: 'offline', message: 'The coachbox server could not be reached.' });
  }

  const cachedAt = res.headers.get('X-Coachbox-Cached-At');
  if (cachedAt) connectivity.reportStale(cachedAt);
  else connectivity.reportOnline();

  const data = await readJson(res);
  if (res.ok) return data;

  const e = (data && data.error) || {};
  const error = new ApiError(res.status, {
    code: e.code || 'error',
    message: e.message || '',
    field: e.field || null,
    retryAfter: res.status === 429 ? retryAfterSeconds(res.headers.get('Retry-After')) : null,
  });
  if (res.status === 401 && !quiet401 && onUnauthorized) onUnauthorized(error);
  throw error;
}

export function get(url, opts) {
  return request('GET', url, undefined, opts);
}

/** A state-changing request.  Retries once if the CSRF token went stale. */
export async function mutate(method, url, body, opts = {}) {
  try {
    return await request(method, url, body, opts);
  } catch (err) {
    if (err instanceof ApiError && err.status === 403 && err.code === 'csrf' && !opts.retried) {
      const me = await request('GET', '/api/me', undefined, { quiet401: true }).catch(() => null);
      if (me && me.csrf_token) {
        setCsrfToken(me.csrf_token);
        return request(method, url, body, { ...opts, retried: true });
      }
    }
    throw err;
  }
}

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined) u.set(k, String(v));
  }
  return u.toString();
}

// ---- endpoints ----

export const api = {
  login: (username, password) =>
    request('POST', '/api/login', { username, password }, { quiet401: true }),
  me: () => request('GET', '/api/me', undefined, { quiet401: true }),
  logout: () => mutate('POST', '/api/logout', {}),
  teams: (opts) => get('/api/teams', opts),
  searchParticipants: ({ q = '', limit = 20, cursor = null } = {}, opts) =>
    get(`/api/participants?${qs({ q, limit, cursor })}`, opts),
  participant: (id, opts) => get(`/api/participants/${encodeURIComponent(id)}`, opts),
  createParticipant: (p) => mutate('POST', '/api/participants', p),
  updateParticipant: (id, patch) => mutate('PATCH', `/api/participants/${encodeURIComponent(id)}`, patch),
  encounters: (participantId, opts) =>
    get(`/api/participants/${encodeURIComponent(participantId)}/encounters`, opts),
  createEncounter: (e) => mutate('POST', '/api/encounters', e),
};
