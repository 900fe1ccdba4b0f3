// Teams rarely change: fetch once per session and share.
import { api } from './api.js';

let promise = null;
let byId = new Map();

export function loadTeams() {
  if (!promise) {
    promise = api
      .teams()
      .then((body) => {
        const items = (body && Array.isArray(body.items) ? body.items : []).filter((t) => t && t.id);
        byId = new Map(items.map((t) => [t.id, t]));
        return items;
      })
      .catch((err) => {
        promise = null; // try again next time
        throw err;
      });
  }
  return promise;
}

export function teamName(id) {
  if (!id) return '';
  const t = byId.get(id);
  return (t && t.name) || id;
}

export function resetTeams() {
  promise = null;
  byId = new Map();
}
