// Today: the drop-in queue at this venue.  Check someone in, call them,
// mark them seen or left; waiting times and counts.  Writes go through the
// outbox, so the queue keeps working (optimistically) with no connection.
import { api, ApiError } from '../lib/api.js';
import { add, clear, fill, h, tag } from '../lib/dom.js';
import { flash } from '../lib/flash.js';
import { displayName, formatMinutes, formatTime, formatDate, todayYmd } from '../lib/format.js';
import { outbox } from '../lib/outbox.js';
import { session } from '../lib/session.js';
import { settings } from '../lib/settings.js';
import { notificationBanner } from '../components/banner.js';
import { apiErrorText, loadError } from '../components/errors.js';
import { personSearch } from '../components/personSearch.js';

const REFRESH_MS = 30000;
const STATUS = {
  waiting: ['Waiting', 'yellow'],
  with_coach: ['With a coach', 'blue'],
  seen: ['Seen', 'green'],
  left: ['Left', 'grey'],
};

/** Apply this account's writes still waiting on the tablet to the queue. */
function withPending(items, entries, me) {
  const byId = new Map(items.map((i) => [i.id, { ...i }]));
  const today = todayYmd();
  for (const e of entries) {
    if (e.method === 'POST' && e.url === '/api/checkins' && e.body && !byId.has(e.body.id)) {
      if (todayYmd(new Date(e.body.arrived_at)) !== today) continue;
      const m = e.meta || {};
      byId.set(e.body.id, {
        id: e.body.id, participant_id: e.body.participant_id, given_name: m.given_name || '', family_name: m.family_name || '',
        preferred_name: m.preferred_name || null, arrived_at: e.body.arrived_at, status: 'waiting', reason: e.body.reason || null,
        venue: e.body.venue || null, venue_name: m.venue_name || null, coach: null, pending: true,
      });
    }
    const call = /^\/api\/checkins\/([^/]+)\/call$/.exec(e.url);
    if (call && byId.has(decodeURIComponent(call[1]))) {
      const it = byId.get(decodeURIComponent(call[1]));
      if (it.status === 'waiting') Object.assign(it, { status: 'with_coach', coach: { id: me.id, display_name: me.display_name }, pending: true });
    }
    const patch = /^\/api\/checkins\/([^/]+)$/.exec(e.url);
    if (e.method === 'PATCH' && patch && byId.has(decodeURIComponent(patch[1])) && e.body && e.body.status) {
      Object.assign(byId.get(decodeURIComponent(patch[1])), { status: e.body.status, pending: true });
    }
  }
  return [...byId.values()].sort((a, b) => Date.parse(a.arrived_at) - Date.parse(b.arrived_at));
}

function countsOf(items) {
  const c = { waiting: 0, with_coach: 0, seen: 0, left: 0 };
  for (const i of items) if (c[i.status] !== undefined) c[i.status] += 1;
  return c;
}

export const todayView = {
  title: 'Today',
  async render(ctx) {
    const me = session.user || {};
    const venue = settings.venue;
    const showAll = ctx.query.get('venues') === 'all' || !venue;
    const message = flash.take();
    const live = h('p', { class: 'nhsuk-u-visually-hidden', 'aria-live': 'polite', id: 'queue-live' });
    const notice = h('div', { class: 'cb-notice' });
    const countsEl = h('ul', { class: 'cb-counts', 'aria-label': 'Queue counts' });
    const queueEl = h('div', { class: 'cb-queue', 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading the queue…' }));
    const h1 = h('h1', { class: 'cb-page-head__title' },
      h('span', { class: 'nhsuk-caption-l', text: `${formatDate(todayYmd())}${venue ? ` · ${venue.name}` : ''}` }), 'Today');

    let items = [];
    let loadedOnce = false;

    const reason = h('input', { class: 'nhsuk-input', id: 'checkin-reason', name: 'reason', type: 'text', autocomplete: 'off', maxlength: 200 });
    const search = personSearch({
      id: 'checkin-search',
      label: 'Check someone in',
      hint: 'Search by name, NHS number or date of birth',
      actionText: 'Check in',
      onPick: (p) => checkIn(p),
      extra: h('div', { class: 'nhsuk-form-group cb-reason' },
        h('label', { class: 'nhsuk-label', for: 'checkin-reason', text: 'Reason for visit (optional)' }),
        reason),
      footer: () => h('p', { class: 'cb-pick__footer' }, 'Not registered yet? ',
        h('a', { class: 'nhsuk-link', href: '#/people/new?then=checkin', text: 'Register a new person and check them in' })),
    });

    async function checkIn(p) {
      const already = items.find((i) => i.participant_id === p.id && (i.status === 'waiting' || i.status === 'with_coach'));
      if (already) {
        live.textContent = `${displayName(p)} is already in the queue.`;
        fill(notice, h('p', { class: 'nhsuk-error-message', text: `${displayName(p)} is already in the queue.` }));
        return;
      }
      const body = { participant_id: p.id, arrived_at: new Date().toISOString() };
      if (venue) body.venue = venue.id;
      if (reason.value.trim()) body.reason = reason.value.trim();
      try {
        const r = await api.createRecord('checkins', body, {
          label: `Check in ${displayName(p)}`,
          meta: { given_name: p.given_name, family_name: p.family_name, preferred_name: p.preferred_name, venue_name: venue ? venue.name : null },
        });
        reason.value = '';
        search.clear();
        const text = r.queued
          ? `${displayName(p)} checked in on this tablet. It will be sent when the server can be reached.`
          : `${displayName(p)} checked in.`;
        fill(notice, notificationBanner({ heading: text, title: 'Checked in' }));
        live.textContent = text;
        await refresh();
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        fill(notice, h('p', { class: 'nhsuk-error-message', text: apiErrorText(err, 'They could not be checked in. Try again.') }));
      }
    }

    async function act(item, kind) {
      const name = displayName(item);
      try {
        let r;
        if (kind === 'call') {
          r = await api.callCheckin(item.id, { label: `Call ${name}`, participantId: item.participant_id });
        } else {
          r = await api.updateRecord('checkins', item.id, { status: kind }, {
            label: `${kind === 'seen' ? 'Seen' : 'Left'}: ${name}`, participantId: item.participant_id,
          });
        }
        live.textContent = `${name}: ${kind === 'call' ? 'called, now with you' : kind === 'seen' ? 'marked as seen' : 'marked as left'}${r.queued ? ' (saved on this tablet, not sent yet)' : ''}.`;
        fill(notice, );
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        const text = err.status === 409
          ? `${name} has already been called by someone else, or seen.`
          : apiErrorText(err, 'That did not work. Try again.');
        fill(notice, h('p', { class: 'nhsuk-error-message', role: 'alert', text }));
      }
      await refresh();
    }

    function waited(item) {
      if (item.status !== 'waiting') return '';
      return formatMinutes((Date.now() - Date.parse(item.arrived_at)) / 60000);
    }

    function row(item) {
      const [st, colour] = STATUS[item.status] || [item.status, 'grey'];
      const name = displayName(item);
      const actions = [];
      if (item.status === 'waiting') {
        actions.push(h('button', { class: 'nhsuk-button cb-act', type: 'button', onclick: () => act(item, 'call') },
          'Call', h('span', { class: 'nhsuk-u-visually-hidden', text: ` ${name}` })));
      }
      if (item.status === 'with_coach') {
        actions.push(h('a', {
          class: 'nhsuk-button cb-act', role: 'button', draggable: 'false',
          href: `#/people/${encodeURIComponent(item.participant_id)}/contact?checkin=${encodeURIComponent(item.id)}&type=drop_in`,
        }, 'Record contact', h('span', { class: 'nhsuk-u-visually-hidden', text: ` for ${name}` })));
        actions.push(h('button', { class: 'nhsuk-button nhsuk-button--secondary cb-act', type: 'button', onclick: () => act(item, 'seen') },
          'Seen', h('span', { class: 'nhsuk-u-visually-hidden', text: ` ${name}` })));
      }
      if (item.status === 'waiting' || item.status === 'with_coach') {
        actions.push(h('button', { class: 'nhsuk-button nhsuk-button--secondary cb-act', type: 'button', onclick: () => act(item, 'left') },
          'Left', h('span', { class: 'nhsuk-u-visually-hidden', text: ` ${name}` })));
      }
      const coach = item.coach && item.status === 'with_coach'
        ? (item.coach.id === me.id ? 'With you' : `With ${item.coach.display_name || 'a coach'}`) : null;
      return h('li', { class: ['cb-queue__item', `cb-queue__item--${item.status}`], 'data-checkin': item.id },
        h('div', { class: 'cb-queue__who' },
          h('a', { class: 'nhsuk-link cb-queue__name', href: `#/people/${encodeURIComponent(item.participant_id)}`, text: name || 'Name not known yet' }),
          h('p', { class: 'cb-queue__meta' },
            `Arrived ${formatTime(item.arrived_at)}`,
            item.status === 'waiting' ? h('strong', { class: 'cb-queue__wait', text: ` · waiting ${waited(item)}` }) : null,
            showAll && item.venue_name ? ` · ${item.venue_name}` : null,
            coach ? ` · ${coach}` : null),
          item.reason ? h('p', { class: 'cb-queue__reason', text: item.reason }) : null),
        h('div', { class: 'cb-queue__status' },
          tag(st, colour),
          item.pending ? tag('Not sent yet', 'orange') : null),
        actions.length ? h('div', { class: 'cb-queue__actions' }, actions) : null);
    }

    function renderCounts(c) {
      clear(countsEl);
      for (const [key, text] of [['waiting', 'Waiting'], ['with_coach', 'With a coach'], ['seen', 'Seen'], ['left', 'Left']]) {
        countsEl.appendChild(h('li', { class: `cb-count cb-count--${key}` },
          h('span', { class: 'cb-count__n', text: String(c[key] || 0) }),
          h('span', { class: 'cb-count__label', text })));
      }
    }

    function renderQueue() {
      const active = items.filter((i) => i.status === 'waiting' || i.status === 'with_coach');
      const done = items.filter((i) => i.status === 'seen' || i.status === 'left');
      renderCounts(countsOf(items));
      const parts = [h('h2', { class: 'nhsuk-heading-m', id: 'queue-heading', text: 'Queue' })];
      if (!active.length) parts.push(h('p', { class: 'cb-muted', text: 'No one is waiting.' }));
      else parts.push(h('ol', { class: 'cb-queue__list', 'aria-labelledby': 'queue-heading' }, active.map(row)));
      if (done.length) {
        parts.push(h('details', { class: 'nhsuk-details' },
          h('summary', { class: 'nhsuk-details__summary' }, h('span', { class: 'nhsuk-details__summary-text', text: `Seen or left today (${done.length})` })),
          h('div', { class: 'nhsuk-details__text' }, h('ul', { class: 'cb-queue__list' }, done.map(row)))));
      }
      fill(queueEl, ...parts);
      queueEl.removeAttribute('aria-busy');
    }

    let inFlight = null;
    // background: the timer's refresh, not the coach's doing (it must not keep
    // the session of a tablet left on this screen alive).
    async function refresh({ background = false } = {}) {
      if (inFlight) return inFlight;
      inFlight = (async () => {
        let body = null;
        let error = null;
        try {
          body = await api.queue(showAll ? {} : { venue: venue.id }, { signal: ctx.signal, background });
        } catch (err) {
          if (ctx.signal.aborted) return; // the screen was left (or the coach signed out) meanwhile
          if (!(err instanceof ApiError)) throw err;
          error = err;
        }
        if (!ctx.isCurrent()) return;
        const entries = await outbox.entries();
        if (error && !loadedOnce) {
          items = withPending([], entries, me);
          if (!items.length) {
            fill(queueEl, loadError(error, 'The queue'));
            queueEl.removeAttribute('aria-busy');
            renderCounts(countsOf(items));
            return;
          }
        } else if (body) {
          loadedOnce = true;
          items = withPending(body.items || [], entries, me);
        } else {
          items = withPending(items.filter((i) => !i.pending), entries, me);
        }
        renderQueue();
      })().finally(() => {
        inFlight = null;
      });
      return inFlight;
    }

    add(ctx.main, 
      message ? notificationBanner({ heading: message.heading, text: message.text }) : null,
      h('div', { class: 'cb-page-head' }, h1,
        h('a', { class: 'nhsuk-button nhsuk-button--secondary cb-page-head__action', href: '#/people/new?then=checkin', role: 'button', draggable: 'false', text: 'Register a person' })),
      venue
        ? h('p', { class: 'cb-venue-line' }, showAll ? 'Showing every venue. ' : `Showing ${venue.name}. `,
          h('a', { class: 'nhsuk-link', href: showAll ? '#/today' : '#/today?venues=all', text: showAll ? `Show ${venue.name} only` : 'Show every venue' }))
        : h('div', { class: 'nhsuk-inset-text' }, h('p', null, 'This tablet has no venue set, so the queue shows every venue. ',
          h('a', { class: 'nhsuk-link', href: '#/settings', text: 'Choose the venue in Settings' }))),
      countsEl,
      h('div', { class: 'cb-today' },
        h('section', { class: 'cb-checkin', 'aria-label': 'Check in' }, search.el, notice),
        h('div', { class: 'cb-today__queue' }, live, queueEl)));
    renderCounts({});

    // Keep it fresh while it is on screen.
    const timer = setInterval(() => {
      if (!ctx.isCurrent()) return;
      if (document.visibilityState === 'visible') refresh({ background: true });
    }, REFRESH_MS);
    const tick = setInterval(() => {
      if (ctx.isCurrent() && items.some((i) => i.status === 'waiting')) {
        queueEl.querySelectorAll('.cb-queue__item--waiting').forEach((li) => {
          const it = items.find((i) => i.id === li.getAttribute('data-checkin'));
          const w = li.querySelector('.cb-queue__wait');
          if (it && w) w.textContent = ` · waiting ${waited(it)}`;
        });
      }
    }, 60000);
    const unsub = outbox.subscribe((s, ev) => {
      if (ev && ev.type === 'sent' && ctx.isCurrent()) refresh();
    });
    ctx.signal.addEventListener('abort', () => {
      clearInterval(timer);
      clearInterval(tick);
      unsub();
    });

    await refresh();
    return {};
  },
};
