// Managers (central): the field servers - when each last synced, what it
// last reported waiting to send, and revoking one (with a confirmation).
import { api, ApiError } from '../lib/api.js';
import { add, fill, focusEl, h, tag } from '../lib/dom.js';
import { flash } from '../lib/flash.js';
import { ago, formatDateTime } from '../lib/format.js';
import { navigate } from '../lib/router.js';
import { loadTeams, teamName } from '../lib/teams.js';
import { notificationBanner } from '../components/banner.js';
import { apiErrorText, loadError } from '../components/errors.js';

const DAY = 86400000;

function row(k, v) {
  return h('div', { class: 'nhsuk-summary-list__row' },
    h('dt', { class: 'nhsuk-summary-list__key', text: k }), h('dd', { class: 'nhsuk-summary-list__value' }, v));
}

/** When the site last completed a sync round (central's last_sync_at), or else when it last
 *  sent changes (last_seen_at, from servers older than last_sync_at). */
export const lastSync = (s) => s.last_sync_at || s.last_seen_at || null;

/** [words, tag colour] for a site's state. */
export function siteState(s, now = Date.now()) {
  if (s.revoked) return ['Revoked', 'red'];
  if (!s.enrolled_at) return ['Not enrolled yet', 'grey'];
  const last = lastSync(s);
  if (!last) return ['Never synced', 'orange'];
  if (now - Date.parse(last) > DAY) return ['Not synced for over a day', 'orange'];
  if (s.oldest_pending_at && now - Date.parse(s.oldest_pending_at) > DAY) return ['Changes waiting over a day', 'orange'];
  return ['Syncing', 'green'];
}

const when = (t) => (t ? `${formatDateTime(t)} (${ago(t)})` : null);

function siteCard(s) {
  const id = `site-${s.id}`;
  const action = h('div', { class: 'cb-site__action' });
  const msg = h('p', { class: 'nhsuk-error-message cb-inline-msg', 'aria-live': 'polite' });

  function confirm() {
    const heading = h('h3', { class: 'nhsuk-warning-callout__label' },
      h('span', { role: 'text' }, h('span', { class: 'nhsuk-u-visually-hidden', text: 'Important: ' }), `Revoke ${s.name}?`));
    const yes = h('button', { class: 'nhsuk-button nhsuk-button--warning cb-act', type: 'button', text: `Yes, revoke ${s.name}` });
    const no = h('button', { class: 'nhsuk-button nhsuk-button--secondary cb-act', type: 'button', text: 'Cancel' });
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      no.disabled = true;
      msg.textContent = '';
      try {
        await api.revokeSite(s.id);
        flash.set({ heading: `${s.name} has been revoked`, text: 'It can no longer sync. It deletes the records it holds the next time it contacts central.' });
        navigate(location.hash);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        msg.textContent = apiErrorText(err);
        yes.disabled = false;
        no.disabled = false;
      }
    });
    no.addEventListener('click', () => {
      idle();
      focusEl(action.querySelector('button'));
    });
    const waiting = typeof s.pending_reported === 'number' && s.pending_reported > 0;
    fill(action, h('div', { class: 'nhsuk-warning-callout cb-confirm' }, heading,
      h('p', { text: 'It will no longer be able to sync. The next time it contacts central it deletes every record it holds, its accounts and its credentials. This cannot be undone: to use it again, add it as a new site.' }),
      waiting ? h('p', null, h('strong', { text: `It last reported ${s.pending_reported} ${s.pending_reported === 1 ? 'change' : 'changes'} not yet sent to central. They will be lost.` })) : null,
      h('div', { class: 'cb-actions' }, yes, no), msg));
    focusEl(heading);
  }
  function idle() {
    fill(action, s.revoked ? null : h('button', { class: 'nhsuk-button nhsuk-button--secondary cb-act', type: 'button', onclick: confirm },
      'Revoke', h('span', { class: 'nhsuk-u-visually-hidden', text: ` ${s.name}` })));
  }
  idle();
  const [state, colour] = siteState(s);
  return h('li', { class: ['cb-site', s.revoked && 'cb-site--revoked'], id },
    h('h2', { class: 'nhsuk-heading-m cb-site__name', id: `${id}-h` }, s.name, ' ', tag(state, colour)),
    h('dl', { class: 'nhsuk-summary-list' },
      row('Teams', (s.teams || []).map(teamName).join(', ') || '—'),
      row('Last synced', when(lastSync(s)) || (s.enrolled_at ? 'Never' : s.revoked ? 'Never enrolled' : 'Not enrolled yet: its one-time code has not been used')),
      row('Last sent changes', when(s.last_seen_at) || 'Never'),
      row('Changes waiting to reach central', `${s.pending_reported || 0}${s.last_seen_at ? ' (as it last reported)' : ''}`),
      row('Oldest change waiting', s.oldest_pending_at ? `Made ${when(s.oldest_pending_at)}` : 'None'),
      s.enrolled_at ? row('Enrolled', formatDateTime(s.enrolled_at)) : null,
      s.revoked ? row('Revoked', s.revoked_at ? formatDateTime(s.revoked_at) : 'Yes') : null),
    action);
}

export const sitesView = {
  title: 'Sites',
  async render(ctx) {
    const message = flash.take();
    const out = h('div', { 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading…' }));
    const banner = message ? notificationBanner({ heading: message.heading, text: message.text }) : null;
    add(ctx.main, banner, h('h1', { text: 'Sites' }),
      h('p', { class: 'cb-lead', text: 'The field servers at the venues, and how up to date central is with each.' }), out);
    let sites = null;
    let err = null;
    await Promise.all([
      loadTeams().catch(() => null),
      api.sites({ signal: ctx.signal }).then((b) => { sites = (b && b.items) || []; }, (e) => { if (!(e instanceof ApiError)) throw e; err = e; }),
    ]);
    if (!ctx.isCurrent()) return {};
    out.removeAttribute('aria-busy');
    if (err) {
      fill(out, err.status === 404 ? h('p', { text: 'Sites are managed on central. This is a field server.' }) : loadError(err, 'The list of sites'));
      return {};
    }
    const states = sites.map((s) => siteState(s)[0]);
    const n = (w) => states.filter((x) => x === w).length;
    const live = sites.length - n('Revoked');
    sites.sort((a, b) => (a.revoked - b.revoked) || a.name.localeCompare(b.name));
    fill(out,
      h('ul', { class: 'cb-counts', 'aria-label': 'Summary' },
        [[live, 'Sites in use'], [n('Syncing'), 'Syncing'], [live - n('Syncing'), 'Need a look'], [n('Revoked'), 'Revoked']]
          .map(([c, text]) => h('li', { class: 'cb-count' }, h('span', { class: 'cb-count__n', text: String(c) }), h('span', { class: 'cb-count__label', text })))),
      sites.length
        ? h('ul', { class: 'cb-sites' }, sites.map(siteCard))
        : h('p', { text: 'No field servers have been added. An administrator adds one with “coachbox site add”.' }));
    return { focus: banner };
  },
};
