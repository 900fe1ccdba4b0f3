// The signed-in user and CSRF token, recovered from GET /api/me on start; and
// a sign-out the server has not heard of yet (signOutDebt).

import { api, ApiError, setCsrfToken } from './api.js';

const listeners = new Set();
let current = null; // { user, csrf_token, idle_timeout_s }

function emit() {
  for (const fn of listeners) fn(current && current.user);
}

const OWED_KEY = 'cb-signout-owed';

/**
 * A sign-out made while the server could not be reached.  The session cookie
 * is HttpOnly: the page cannot remove it, so until the server has ended that
 * session the app must not resume it - the next person to pick up the tablet
 * would be signed in as the last.  Kept in localStorage (all tabs, reloads);
 * paid by ending the session on the server, or by anyone signing in (the
 * server ends the session a browser's old cookie named, at every sign-in).
 */
export const signOutDebt = {
  get owed() {
    try {
      return localStorage.getItem(OWED_KEY) === '1';
    } catch {
      return false;
    }
  },
  set() {
    try {
      localStorage.setItem(OWED_KEY, '1');
    } catch {
      /* private mode: nothing to remember it in */
    }
  },
  clear() {
    try {
      localStorage.removeItem(OWED_KEY);
    } catch {
      /* as above */
    }
  },
  /** End the server session the cookie still names.  Resolves to true once none is left. */
  async pay() {
    if (!signOutDebt.owed) return true;
    try {
      // Straight to the server: a saved copy (the service worker's) says nothing
      // about whether the session is still alive.
      const me = await fetch('/api/me', { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } });
      if (me.headers.get('X-Coachbox-Cached-At')) return false;
      if (me.status === 401) {
        signOutDebt.clear();
        return true;
      }
      if (!me.ok) return false;
      const body = await me.json();
      const out = await fetch('/api/logout', {
        method: 'POST', credentials: 'same-origin', cache: 'no-store',
        headers: { Accept: 'application/json', 'Content-Type': 'application/json', 'X-CSRF-Token': body.csrf_token },
        body: '{}',
      });
      if (out.headers.get('X-Coachbox-Cached-At')) return false;
      if (out.ok || out.status === 401) {
        signOutDebt.clear();
        return true;
      }
    } catch {
      /* still unreachable */
    }
    return false;
  },
};

export const session = {
  get user() {
    return current && current.user;
  },
  /** The server's idle timeout in ms (30 minutes until it has said). */
  get idleMs() {
    const s = current && Number(current.idle_timeout_s);
    return s > 0 ? s * 1000 : 30 * 60 * 1000;
  },
  subscribe(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
  set(body) {
    if (!body || !body.user) throw new Error('bad session body');
    current = { user: body.user, csrf_token: body.csrf_token, idle_timeout_s: body.idle_timeout_s };
    setCsrfToken(body.csrf_token, body.user.id);
    signOutDebt.clear(); // a sign-in ended whatever session the old cookie named
    emit();
  },
  clear() {
    current = null;
    setCsrfToken(null);
    emit();
  },
  /** On start: who is signed in?  Resolves to the user or null. */
  async restore() {
    if (signOutDebt.owed) {
      // Signed out while the server was unreachable: never resume that session.
      await signOutDebt.pay();
      session.clear();
      return null;
    }
    try {
      session.set(await api.me());
      return current.user;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      session.clear();
      return null;
    }
  },
};
