// The period and filters of the managers' reports, kept in the route's query
// (#/outcomes?from=…&to=…&team=…) so a view can be bookmarked, shared and
// gone back to.  Shared by the outcomes, people-behind-a-figure and reach screens.
import { api, ApiError } from '../lib/api.js';
import { COHORTS, TOPICS, label } from '../lib/codes.js';
import { h } from '../lib/dom.js';
import { addDays, formatDate, todayYmd } from '../lib/format.js';
import { FILTER_KEYS, pick } from '../lib/report.js';
import { href, navigate } from '../lib/router.js';
import { loadTeams, teamName } from '../lib/teams.js';
import { loadVenues } from '../lib/venues.js';
import { errorSummary, formErrors } from './errors.js';
import { dateField, dateValue, selectField, setDate } from './fields.js';

const ymd = (y, m, d) => new Date(Date.UTC(y, m - 1, d)).toISOString().slice(0, 10);

/** Named periods ending today (London): [label, from, to]. */
export function periods(today = todayYmd()) {
  const [y, m, d] = today.split('-').map(Number);
  const q = Math.floor((m - 1) / 3); // this calendar quarter, 0-3
  const pq = q === 0 ? [y - 1, 3] : [y, q - 1];
  const fy = m >= 4 ? y : y - 1;
  const names = ['January to March', 'April to June', 'July to September', 'October to December'];
  return [
    ['Last 3 months', addDays(ymd(y, m - 3, d), 1), today],
    ['Last 12 months', addDays(ymd(y - 1, m, d), 1), today],
    [`This financial year (from April ${fy})`, ymd(fy, 4, 1), today],
    [`${names[pq[1]]} ${pq[0]}`, ymd(pq[0], pq[1] * 3 + 1, 1), addDays(ymd(pq[0], pq[1] * 3 + 4, 1), -1)],
  ];
}

/** The report parameters of a route query, with the default period (the last 12 months). */
export function reportParams(query) {
  const p = pick(query, FILTER_KEYS);
  if (!p.from || !p.to) {
    const [, from, to] = periods()[1];
    p.from = from;
    p.to = to;
  }
  return p;
}

const items = (b) => (b && b.items) || [];
const soft = (p) => p.catch((e) => {
  if (!(e instanceof ApiError)) throw e;
  return [];
});

/** Teams, venues, coaches and programmes for the drop-downs (what cannot be loaded is left out). */
export async function loadFilterData(signal) {
  const [teams, venues, users, programmes] = await Promise.all([
    soft(loadTeams()), soft(loadVenues()), soft(api.users({}, { signal }).then(items)), soft(api.programmes({ signal }).then(items)),
  ]);
  return { teams, venues, coaches: users.filter((u) => u.role === 'coach' || u.role === 'lead'), programmes };
}

function names(p, data) {
  const find = (list, id, key = 'name') => (list.find((x) => x.id === id) || {})[key] || 'an unknown one';
  return [
    p.team ? teamName(p.team) : 'All teams',
    p.venue ? `venue: ${find(data.venues, p.venue)}` : null,
    p.coach ? `coach: ${find(data.coaches, p.coach, 'display_name')}` : null,
    p.programme ? `programme: ${find(data.programmes, p.programme)}` : null,
    p.topic ? `topic: ${label(TOPICS, p.topic)}` : null,
    p.cohort ? `cohort: ${label(COHORTS, p.cohort)}` : null,
  ].filter(Boolean);
}

/** "27 Nov 2025 to 26 Nov 2026 · All teams · coach: …" */
export function describeParams(p, data) {
  return [`${formatDate(p.from)} to ${formatDate(p.to)}`, ...names(p, data)].join(' · ');
}

/**
 * The filter panel: what is shown, quick periods, and a form to change them.
 * keep: other query values of the route (e.g. split) carried along.
 */
export function filterPanel({ path, params, data, keep = {} }) {
  const go = (p) => href(path, { ...keep, ...p });
  const quick = periods().map(([text, from, to]) => {
    const current = params.from === from && params.to === to;
    return h('li', null, h('a', { class: 'nhsuk-link', href: go({ ...params, from, to }), 'aria-current': current ? 'true' : null }, text));
  });

  const summary = errorSummary();
  const from = dateField({ id: 'f-from', legend: 'From', hint: 'For example, 1 4 2026' });
  const to = dateField({ id: 'f-to', legend: 'To' });
  setDate(from, params.from);
  setDate(to, params.to);
  const opt = (all, list, text) => [{ value: '', text: all }, ...list.map((x) => ({ value: x.id, text: text(x) }))];
  const selects = [
    selectField({ id: 'f-team', name: 'team', label: 'Neighbourhood team', options: opt('All teams', data.teams, (t) => t.name), value: params.team || '' }),
    selectField({ id: 'f-venue', name: 'venue', label: 'Venue', options: opt('All venues', data.venues, (v) => `${v.name}${v.team ? ` (${teamName(v.team)})` : ''}`), value: params.venue || '' }),
    selectField({ id: 'f-coach', name: 'coach', label: 'Coach', options: opt('All coaches', data.coaches, (u) => `${u.display_name}${u.disabled ? ' (account disabled)' : ''}`), value: params.coach || '' }),
    selectField({ id: 'f-programme', name: 'programme', label: 'Group programme', options: opt('All programmes', data.programmes, (p) => `${p.name}${p.team ? ` (${teamName(p.team)})` : ''}`), value: params.programme || '' }),
    selectField({ id: 'f-topic', name: 'topic', label: 'Topic', options: [{ value: '', text: 'All topics' }, ...TOPICS], value: params.topic || '' }),
    selectField({ id: 'f-cohort', name: 'cohort', label: 'Cohort', options: [{ value: '', text: 'Everyone' }, ...COHORTS], value: params.cohort || '' }),
  ];
  const errors = formErrors(summary, [from, to, ...selects], { from: 'f-from', to: 'f-to' });
  const form = h('form', { class: 'cb-filters__form', novalidate: true, 'aria-label': 'Period and filters' },
    summary.el,
    h('div', { class: 'cb-row' }, from.el, to.el),
    h('div', { class: 'cb-filters__grid' }, selects.map((s) => s.el)),
    h('div', { class: 'cb-actions' },
      h('button', { class: 'nhsuk-button', type: 'submit', text: 'Show figures' }),
      h('a', { class: 'nhsuk-link cb-filters__clear', href: go({ from: params.from, to: params.to }), text: 'Clear the filters' })));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const problems = [];
    const f = dateValue(from, 'The start date');
    const t = dateValue(to, 'The end date');
    if (f.error) problems.push({ field: 'f-from', text: f.error, parts: f.parts });
    if (t.error) problems.push({ field: 'f-to', text: t.error, parts: t.parts });
    if (!f.error && !t.error && t.ymd < f.ymd) problems.push({ field: 'f-to', text: 'The end date must be the same as or after the start date', parts: ['day', 'month', 'year'] });
    if (problems.length) {
      errors.show(problems);
      return;
    }
    const p = { from: f.ymd, to: t.ymd };
    for (const s of selects) if (s.value()) p[s.name] = s.value();
    navigate(go(p));
  });
  const active = ['team', 'venue', 'coach', 'programme', 'topic', 'cohort'].some((k) => params[k]);
  return h('div', { class: 'cb-filters' },
    h('p', { class: 'cb-filters__now' }, h('strong', { text: 'Showing: ' }), describeParams(params, data)),
    h('nav', { class: 'cb-jump cb-filters__quick', 'aria-label': 'Periods' }, h('ul', { class: 'cb-jump__list' }, quick)),
    h('details', { class: 'nhsuk-details cb-filters__more', open: active || null },
      h('summary', { class: 'nhsuk-details__summary' }, h('span', { class: 'nhsuk-details__summary-text', text: 'Change the dates or filter by team, venue, coach, programme, topic or cohort' })),
      h('div', { class: 'nhsuk-details__text' }, form)));
}
