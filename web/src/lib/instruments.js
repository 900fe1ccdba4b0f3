// The server's description of every outcome measure (GET /api/measures/instruments).
import { api } from './api.js';

let promise = null;
let byId = new Map();

export function loadInstruments() {
  if (!promise) {
    promise = api.instruments().then((body) => {
      const items = (body && body.items) || [];
      byId = new Map(items.map((i) => [i.id, i]));
      return items;
    }).catch((err) => {
      promise = null;
      throw err;
    });
  }
  return promise;
}

export function instrument(id) {
  return byId.get(id) || null;
}

/** The licence notice to show wherever the scale is shown, or null. */
export function noticeOf(id, result) {
  if (result && result.notice) return result.notice;
  const i = byId.get(id);
  if (i && i.notice) return i.notice;
  if (id === 'swemwbs') return 'SWEMWBS © University of Warwick';
  if (id === 'wemwbs') return 'WEMWBS © University of Warwick';
  return null;
}
