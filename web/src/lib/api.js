// The only place the app talks to the server.  JSON in and out, the session
// cookie sent by the browser (same-origin), and the CSRF token on every
// state-changing request.
//
// Reads (GET) go through the service worker, which falls back to the last
// copy it saw when the field server cannot be reached; such responses carry
// the X-Coachbox-Cached-At header and are reported to connectivity.
//
// Writes to records go through the outbox (outbox.js): stored in IndexedDB
// first, sent in order with an Idempotency-Key, creates with a client-minted
// UUIDv7 id.  They resolve to { queued, data } - see outbox.send().

import { connectivity } from './connectivity.js';
import { outbox } from './outbox.js';
import { uuidv7 } from './uuid.js';

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
let csrfOwner = null; // the user id the token was issued to
let onUnauthorized = null;

export function setCsrfToken(token, owner = null) {
  csrfToken = token || null;
  csrfOwner = csrfToken ? owner : null;
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

const offlineError = () => new ApiError(0, { code: 'offline', message: 'The coachbox server could not be reached.' });

async function request(method, url, body, { signal, quiet401 = false, headers: extra = null, timeout = 0, text = false, background = false } = {}) {
  const headers = { Accept: 'application/json', ...(extra || {}) };
  // A screen's automatic refresh is not the coach's activity: it must not keep
  // an unattended tablet's session alive past the idle timeout.
  if (background) headers['X-CB-Background'] = '1';
  let timer = null;
  let ctl = null;
  if (timeout) {
    ctl = new AbortController();
    timer = setTimeout(() => ctl.abort(), timeout);
    if (signal) signal.addEventListener('abort', () => ctl.abort(), { once: true });
  }
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', signal: ctl ? ctl.signal : signal };
  if (body !== undefined && body !== null) {
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
    clearTimeout(timer);
    if (err && err.name === 'AbortError' && signal && signal.aborted) throw err; // the page moved on
    connectivity.reportOffline();
    throw offlineError();
  }
  clearTimeout(timer);

  const cachedAt = res.headers.get('X-Coachbox-Cached-At');
  if (cachedAt) connectivity.reportStale(cachedAt);
  else connectivity.reportOnline();

  const data = text && res.ok ? await res.text() : await readJson(res);
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

/**
 * A state-changing request sent now (not queued).  Retries once if the CSRF
 * token went stale (the session was renewed in another tab) - but only as the
 * same user: if the browser's session now belongs to someone else (this tab
 * was left showing A while B signed in in another), nothing is sent and this
 * tab is signed out as for a 401.  opts.owner: the user the write belongs to
 * (an outbox entry's), when not this tab's user.
 */
export async function mutate(method, url, body, opts = {}) {
  const owner = opts.owner || csrfOwner;
  try {
    return await request(method, url, body, opts);
  } catch (err) {
    if (err instanceof ApiError && err.status === 403 && err.code === 'csrf' && !opts.retried) {
      const me = await request('GET', '/api/me', undefined, { quiet401: true }).catch(() => null);
      if (me && me.csrf_token && me.user && owner && me.user.id === owner) {
        setCsrfToken(me.csrf_token, me.user.id);
        return request(method, url, body, { ...opts, retried: true });
      }
      if (me && me.user) {
        const other = new ApiError(401, { code: 'unauthenticated', message: 'Someone else has signed in on this tablet.' });
        if (onUnauthorized) onUnauthorized(other);
        throw other;
      }
    }
    throw err;
  }
}

// The outbox sends each write with its own idempotency key, as its own user.
outbox.setSender((entry) =>
  mutate(entry.method, entry.url, entry.body, { headers: { 'Idempotency-Key': entry.key }, timeout: 20000, owner: entry.user }));

/**
 * A write to a record, through the outbox.  For a create, an id is minted
 * when the body has none.  Resolves to { queued, data, entry }.
 */
export function write(method, url, body, { label = '', participantId = null, meta = null } = {}) {
  return outbox.send({ method, url, body, label, participantId, meta });
}

/** Create a record (opts: { label, meta } or just the label). */
export function create(kind, body, opts = {}) {
  const { label = '', meta = null, participantId = null } = typeof opts === 'string' ? { label: opts } : opts;
  const b = { id: uuidv7(), ...body };
  return write('POST', `/api/${kind}`, b, { label, participantId: b.participant_id || participantId, meta }).then((r) => ({
    ...r,
    data: r.data || b,
    id: b.id,
  }));
}

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== '') u.set(k, String(v));
  }
  return u.toString();
}

const enc = encodeURIComponent;

// ---- endpoints ----

export const api = {
  login: (username, password) =>
    request('POST', '/api/login', { username, password }, { quiet401: true }),
  me: (opts = {}) => request('GET', '/api/me', undefined, { quiet401: true, ...opts }),
  logout: () => mutate('POST', '/api/logout', {}, { timeout: 8000 }),
  changePassword: (current_password, new_password) =>
    mutate('POST', '/api/me/password', { current_password, new_password }, { timeout: 20000 }),
  teams: (opts) => get('/api/teams', opts),
  venues: (opts) => get('/api/venues', opts),
  instruments: (opts) => get('/api/measures/instruments', opts),

  searchParticipants: ({ q = '', limit = 20, cursor = null } = {}, opts) =>
    get(`/api/participants?${qs({ q, limit, cursor })}`, opts),
  participant: (id, opts) => get(`/api/participants/${enc(id)}`, opts),
  createParticipant: (p, opts) => create('participants', p, opts),
  updateParticipant: (id, patch, label) =>
    write('PATCH', `/api/participants/${enc(id)}`, patch, { label, participantId: id }),
  /** Likely existing records (may 404 on a server without the check). */
  matches: (p) => mutate('POST', '/api/participants/matches', p, { timeout: 8000 }),

  /** A participant's records of one kind, newest first. */
  records: (participantId, kind, opts) => get(`/api/participants/${enc(participantId)}/${kind}`, opts),
  timeline: (participantId, opts) => get(`/api/participants/${enc(participantId)}/timeline`, opts),
  createRecord: (kind, body, opts) => create(kind, body, opts),
  updateRecord: (kind, id, patch, { label, participantId, meta } = {}) =>
    write('PATCH', `/api/${kind}/${enc(id)}`, patch, { label, participantId, meta }),

  queue: (params, opts) => get(`/api/queue?${qs(params || {})}`, opts),
  callCheckin: (id, { label, participantId, meta } = {}) =>
    write('POST', `/api/checkins/${enc(id)}/call`, undefined, { label, participantId, meta }),

  caseload: (params, opts) => get(`/api/caseload?${qs(params || {})}`, opts),
  followUps: (params, opts) => get(`/api/follow-ups?${qs(params || {})}`, opts),
  reviewsDue: (params, opts) => get(`/api/reviews-due?${qs(params || {})}`, opts),

  programmes: (opts) => get('/api/programmes', opts),
  programme: (id, opts) => get(`/api/programmes/${enc(id)}`, opts),
  programmeSessions: (id, opts) => get(`/api/programmes/${enc(id)}/group-sessions`, opts),
  programmeEnrolments: (id, opts) => get(`/api/programmes/${enc(id)}/enrolments`, opts),
  programmeFollowUps: (id, opts) => get(`/api/programmes/${enc(id)}/follow-ups`, opts),
  schedule: (id, body, label) => write('POST', `/api/programmes/${enc(id)}/schedule`, body, { label }),
  groupSession: (id, opts) => get(`/api/group-sessions/${enc(id)}`, opts),
  register: (sessionId, opts) => get(`/api/group-sessions/${enc(sessionId)}/register`, opts),
  saveRegister: (sessionId, body, { label, meta } = {}) =>
    write('PUT', `/api/group-sessions/${enc(sessionId)}/register`, body, { label, meta }),

  syncStatus: (opts) => get('/api/sync/status', opts),
  syncNow: () => mutate('POST', '/api/sync/now', undefined, { timeout: 8000 }),
  conflicts: (params, opts) => get(`/api/conflicts?${qs(params || {})}`, opts),
  resolveConflict: (id, patch, label) => write('PATCH', `/api/conflicts/${enc(id)}`, patch, { label }),

  // Managers (central)
  users: (params, opts) => get(`/api/users?${qs(params || {})}`, opts),
  sites: (opts) => get('/api/sites', opts),
  /** Not queued: revoking is done on central, now or not at all. */
  revokeSite: (id) => mutate('POST', `/api/sites/${enc(id)}/revoke`, undefined, { timeout: 15000 }),
  /** outcomes, outcomes/records, reach, data-quality */
  report: (name, params, opts) => get(`/api/reports/${name}?${qs(params || {})}`, opts),
  quarterlyUrl: (params) => `/api/exports/quarterly.csv?${qs(params)}`,
  quarterlyCsv: (params, opts) => get(`/api/exports/quarterly.csv?${qs(params)}`, { ...opts, text: true }),
};
