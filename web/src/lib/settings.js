// Settings kept on this tablet (not personal data): which venue it is at.
const KEY = 'coachbox.settings';

function load() {
  try {
    return JSON.parse(localStorage.getItem(KEY) || '{}') || {};
  } catch {
    return {};
  }
}

export const settings = {
  /** { id, name } of the venue this tablet is at, or null. */
  get venue() {
    const v = load().venue;
    return v && v.id ? v : null;
  },
  set venue(v) {
    const s = load();
    s.venue = v && v.id ? { id: v.id, name: v.name || '' } : null;
    try {
      localStorage.setItem(KEY, JSON.stringify(s));
    } catch {
      /* storage full or blocked: the setting lasts for this page only */
    }
  },
};
