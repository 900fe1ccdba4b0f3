// Whether the field server is reachable, and whether what is on screen came
// from the service worker's saved copy.  The header's status bar listens, and
// the outbox sends what is waiting when the server is seen again.

const listeners = new Set();

const state = {
  online: typeof navigator === 'undefined' ? true : navigator.onLine !== false,
  staleSince: null, // ISO time of the oldest saved copy shown since going offline
};

function emit() {
  for (const fn of listeners) fn({ ...state });
}

export const connectivity = {
  get state() {
    return { ...state };
  },
  subscribe(fn) {
    listeners.add(fn);
    fn({ ...state });
    return () => listeners.delete(fn);
  },
  reportOnline() {
    if (state.online && !state.staleSince) return;
    state.online = true;
    state.staleSince = null;
    emit();
  },
  reportOffline() {
    if (!state.online) return;
    state.online = false;
    emit();
  },
  reportStale(cachedAt) {
    const changed = state.online || !state.staleSince || cachedAt < state.staleSince;
    state.online = false;
    if (!state.staleSince || cachedAt < state.staleSince) state.staleSince = cachedAt;
    if (changed) emit();
  },
};

if (typeof window !== 'undefined') {
  window.addEventListener('offline', () => connectivity.reportOffline());
  // 'online' only means a network exists; the next request confirms the server.
}
