// The signed-in user and CSRF token, recovered from GET /api/me on start.

import { api, ApiError, setCsrfToken } from './api.js';

const listeners = new Set();
let current = null; // { user, csrf_token }

function emit() {
  for (const fn of listeners) fn(current && current.user);
}

export const session = {
  get user() {
    return current && current.user;
  },
  subscribe(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
  set(body) {
    if (!body || !body.user) throw new Error('bad session body');
    current = { user: body.user, csrf_token: body.csrf_token };
    setCsrfToken(body.csrf_token);
    emit();
  },
  clear() {
    current = null;
    setCsrfToken(null);
    emit();
  },
  /** On start: who is signed in?  Resolves to the user or null. */
  async restore() {
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
