// coachbox service worker (served at /sw.js, scope /).
//
// - App shell (index.html, hashed JS/CSS/icons, manifest): precached at
//   install, served cache-first, so the app starts with no network.  The list
//   and version are baked in by build.mjs, so every new build is a new worker.
// - API reads (GET /api/...): network first; the last good copy is kept and
//   served, marked with X-Coachbox-Cached-At, when the field server cannot be
//   reached (or is too slow to answer).
// - API writes go straight to the network.  The page's outbox (lib/outbox.js)
//   keeps them in IndexedDB first, with client-minted ids and idempotency
//   keys, and replays them in order; a worker cannot hold a session's CSRF
//   token, so replay happens in the page (on load, on `online`, on a timer).
// - The saved API copies are personal data: they are dropped on sign-in,
//   sign-out and whenever the server says the session is gone - and once the
//   server has not been heard from for longer than its idle timeout (then the
//   session has ended there too: a tablet kept offline after its account was
//   disabled, or after its coach was signed out everywhere, shows nothing).

/* global __CB_SHELL__, __CB_VERSION__ */
const VERSION = __CB_VERSION__;
const SHELL = __CB_SHELL__;
const SHELL_CACHE = `cb-shell-${VERSION}`;
const API_CACHE = 'cb-api-v1';
const NETWORK_TIMEOUT_MS = 8000;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: 'reload', credentials: 'same-origin' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('cb-shell-') && k !== SHELL_CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'clear-api-cache') {
    event.waitUntil(caches.delete(API_CACHE));
  }
});

function dropApiCache() {
  contactSaved = 0;
  return caches.delete(API_CACHE).catch(() => false);
}

// When the server last answered anything (ms), kept with the copies so it
// outlives this worker; written at most every 10 s.
const CONTACT_KEY = '/__cb/last-contact';
const DEFAULT_IDLE_MS = 30 * 60 * 1000;
let lastContact = 0;
let contactSaved = 0;

function noteContact() {
  lastContact = Date.now();
  if (lastContact - contactSaved < 10000) return null;
  contactSaved = lastContact;
  return caches.open(API_CACHE).then((c) => c.put(CONTACT_KEY, new Response(String(lastContact)))).catch(() => {});
}

// How long since the server last answered: the kept mark (it outlives this
// worker), else this worker's own; never heard from, forever.
async function sinceContact() {
  const r = await caches.match(CONTACT_KEY, { cacheName: API_CACHE });
  const kept = r ? Number(await r.text()) || 0 : 0;
  return Date.now() - (kept || lastContact);
}

// The server's idle timeout, from the saved /api/me (it says), else 30 minutes.
async function idleMs() {
  try {
    const me = await caches.match('/api/me', { cacheName: API_CACHE, ignoreVary: true });
    const s = me ? Number((await me.json()).idle_timeout_s) : 0;
    return s > 0 ? s * 1000 : DEFAULT_IDLE_MS;
  } catch {
    return DEFAULT_IDLE_MS;
  }
}

// A saved copy, or nothing if it has outlived the session that fetched it:
// then every copy goes and the page is told the session has ended (401).
async function savedCopy(request) {
  const copy = await caches.match(request, { cacheName: API_CACHE, ignoreVary: true });
  if (!copy) return null;
  if ((await sinceContact()) <= (await idleMs())) return copy;
  await dropApiCache();
  return new Response(JSON.stringify({ error: { code: 'unauthenticated', message: 'Your session has ended: the coachbox server has not been reached for longer than the idle timeout.' } }), {
    status: 401, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
  });
}

async function saveCopy(request, response) {
  const headers = new Headers(response.headers);
  headers.set('X-Coachbox-Cached-At', new Date().toISOString());
  const body = await response.arrayBuffer();
  const cache = await caches.open(API_CACHE);
  await cache.put(request, new Response(body, { status: response.status, statusText: response.statusText, headers }));
}

async function apiRead(event) {
  const request = event.request;
  const network = fetch(request);
  // Keep or drop the saved copy.  Registered before anything else reads the
  // response, so the clone happens before the page consumes the body.
  event.waitUntil(
    network
      .then((response) => {
        const noted = noteContact();
        if (response.status === 200) return Promise.all([noted, saveCopy(request, response.clone())]);
        if (response.status === 401) return dropApiCache();
        if (response.status === 403 || response.status === 404) {
          return caches.open(API_CACHE).then((c) => c.delete(request, { ignoreVary: true }));
        }
        return null;
      })
      .catch(() => {}),
  );
  const saved = () => savedCopy(request);

  // Slow network: after a while, answer from the saved copy if there is one
  // (the network request still completes and refreshes it).
  let timer;
  const slow = new Promise((resolve) => {
    timer = setTimeout(() => resolve(saved()), NETWORK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([network, slow.then((copy) => copy || network)]);
  } catch {
    const copy = await saved();
    return copy || Response.error();
  } finally {
    clearTimeout(timer);
  }
}

async function shell(request, key) {
  const cache = await caches.open(SHELL_CACHE);
  const hit = await cache.match(key);
  if (hit) return hit;
  return fetch(request);
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;

  if (url.pathname.startsWith('/api/')) {
    if (url.pathname.startsWith('/api/exports/')) return; // downloads: straight to the network, never kept
    if (request.method === 'GET') {
      event.respondWith(apiRead(event));
    } else if (url.pathname === '/api/login' || url.pathname === '/api/logout') {
      // A new session (or none): the saved copies belong to the old one.  The
      // answer to a sign-in is the new session's /api/me: it is kept at once,
      // so the app starts with no connection even if the link drops a moment
      // after signing in.  (Cloned before the page can read the body.)
      const signIn = url.pathname === '/api/login';
      const answered = fetch(request).then((response) => ({ response, copy: signIn && response.ok ? response.clone() : null }));
      event.respondWith(answered.then((a) => a.response));
      event.waitUntil(
        answered
          .then(({ response, copy }) => {
            if (!response.ok) return null;
            return dropApiCache().then(() => {
              contactSaved = 0; // the mark went with the copies: write it again
              return Promise.all([noteContact(), copy ? saveCopy(new Request(new URL('/api/me', self.location.origin)), copy) : null]);
            });
          })
          .catch(() => {}),
      );
    }
    return; // other writes: straight to the network
  }

  if (request.method !== 'GET') return;
  if (request.mode === 'navigate' && (url.pathname === '/' || url.pathname === '/index.html')) {
    event.respondWith(shell(request, '/index.html'));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(shell(request, url.pathname));
  }
});
