// Venues rarely change: fetch once per session and share.
import { api } from './api.js';

let promise = null;
let byId = new Map();

export function loadVenues() {
  if (!promise) {
    promise = api
      .venues()
      .then((body) => {
        const items = (body && Array.isArray(body.items) ? body.items : []).filter((v) => v && v.id);
        byId = new Map(items.map((v) => [v.id, v]));
        return items;
      })
      .catch((err) => {
        promise = null;
        throw err;
      });
  }
  return promise;
}

export function venueName(id) {
  if (!id) return '';
  const v = byId.get(id);
  return (v && v.name) || '';
}

export function resetVenues() {
  promise = null;
  byId = new Map();
}
