// Caseload: the people assigned to me, follow-ups due or overdue, and
// outcome measure reviews due.  Long lists are shown a page at a time.
// Managers see the same lists for one coach or one team (views/caseloads.js).
import { api } from '../lib/api.js';
import { add, fill, h, tag } from '../lib/dom.js';
import { displayName, formatDate, formatWhen } from '../lib/format.js';
import { shortName } from '../lib/measures.js';
import { session } from '../lib/session.js';
import { loadError } from '../components/errors.js';
import { pagedTable } from '../components/table.js';
import { listOf } from './personData.js';

const enc = encodeURIComponent;
const STATE = { overdue: ['Overdue', 'red'], due: ['Due', 'yellow'], scheduled: ['Scheduled', 'blue'] };

const nameLink = (p) => h('a', { class: 'nhsuk-link cb-row-link', href: `#/people/${enc(p.id || p.participant_id)}`, text: displayName(p) || 'No name' });

/** True when the last contact is older than weeks (or there was none). */
export function noContactFor(x, weeks, now = Date.now()) {
  return !x.last_contact_at || now - Date.parse(x.last_contact_at) > weeks * 7 * 86400000;
}

/**
 * The caseload screen.  opts (managers): title, back {href, text}, team (lists
 * of that team), coach {id, display_name} (their caseload; false: none),
 * weeks (mark people with no contact for that long).
 */
export async function renderCaseload(ctx, { title = 'Caseload', back = null, team = null, coach = null, weeks = 0 } = {}) {
  const out = h('div', { 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading…' }));
  const mine = !coach && coach !== false;
  const clTitle = mine ? 'My caseload' : 'Caseload';
  add(ctx.main, back ? h('a', { class: 'nhsuk-back-link', href: back.href, text: back.text }) : null, h('h1', { text: title }),
    h('nav', { class: 'cb-jump', 'aria-label': 'On this page' }, h('ul', { class: 'cb-jump__list' },
      [['follow-ups', 'Follow-ups'], ['reviews', 'Reviews due'], coach !== false && ['my-caseload', clTitle]].filter(Boolean)
        .map(([a, t]) => h('li', null, h('a', { class: 'nhsuk-link', href: `#${a}`, text: t }))))),
    out);
  const o = { signal: ctx.signal };
  const t = team ? { team } : {};
  const [cl, fu, rv] = await Promise.all([
    coach === false ? { items: [] } : listOf(api.caseload(coach ? { coach: coach.id } : {}, o)),
    listOf(api.followUps({ within_days: 7, ...t }, o)), listOf(api.reviewsDue(t, o)),
  ]);
  if (!ctx.isCurrent()) return {};
  out.removeAttribute('aria-busy');
  const me = session.user || {};
  const theirs = (x) => !coach || x.assigned_coach === coach.id;

  const follow = fu.body ? [...(fu.body.overdue || []).map((x) => ({ ...x, state: 'overdue' })), ...(fu.body.due || []).map((x) => ({ ...x, state: 'due' }))].filter(theirs) : [];
  const reviews = rv.items.filter(theirs);
  const quiet = weeks ? cl.items.filter((x) => noContactFor(x, weeks)).length : 0;
  const rows = {
    follow: (x) => [nameLink(x), h('span', { class: 'cb-nowrap', text: formatDate(x.next_follow_up, { short: true }) }), tag(...STATE[x.state]),
      x.last_contact_at ? formatWhen(x.last_contact_at, { short: true }) : '—',
      h('a', { class: 'nhsuk-link cb-row-link', href: `#/people/${enc(x.id)}/contact?type=phone` }, 'Record a contact', h('span', { class: 'nhsuk-u-visually-hidden', text: ` for ${displayName(x)}` }))],
    review: (x) => [nameLink(x), shortName(x.instrument), formatWhen(x.baseline_at, { short: true }), `${x.weeks_since} weeks`,
      h('a', { class: 'nhsuk-link cb-row-link', href: `#/people/${enc(x.id)}/contact` }, 'Record a review', h('span', { class: 'nhsuk-u-visually-hidden', text: ` for ${displayName(x)}` }))],
    mine: (x) => [nameLink(x), x.last_contact_at ? formatWhen(x.last_contact_at, { short: true }) : 'None yet',
      x.next_follow_up ? formatDate(x.next_follow_up, { short: true }) : '—',
      h('span', { class: 'cb-tags' }, x.follow_up_state ? tag(...STATE[x.follow_up_state]) : (weeks ? null : '—'),
        weeks && noContactFor(x, weeks) ? tag(`No contact in ${weeks} weeks`, 'grey') : null)],
  };
  const overdue = follow.filter((x) => x.state === 'overdue').length;
  const counts = [[overdue, 'Follow-ups overdue'], [follow.length - overdue, 'Due in 7 days'], [reviews.length, 'Reviews due']];
  if (coach !== false) counts.push([cl.items.length, mine ? 'On my caseload' : 'On the caseload']);
  if (weeks && coach !== false) counts.push([quiet, `No contact in ${weeks} weeks`]);
  fill(out,
    h('ul', { class: ['cb-counts', counts.length === 5 && 'cb-counts--5'], 'aria-label': 'Summary' },
      counts.map(([n, text]) => h('li', { class: 'cb-count' }, h('span', { class: 'cb-count__n', text: String(n) }), h('span', { class: 'cb-count__label', text })))),
    h('section', { id: 'follow-ups', tabindex: '-1', 'aria-labelledby': 'fu-h' },
      h('h2', { id: 'fu-h', text: 'Follow-ups due' }),
      fu.error ? loadError(fu.error, 'Follow-ups') : pagedTable({
        id: 'follow-up-table', caption: fu.body ? `Overdue, or due by ${formatDate(fu.body.due_until)}` : 'Follow-ups',
        cols: ['Name', 'Follow-up date', 'State', 'Last contact', 'Action'], items: follow, row: rows.follow,
        empty: 'No follow-ups are due in the next 7 days.',
      })),
    h('section', { id: 'reviews', tabindex: '-1', 'aria-labelledby': 'rv-h' },
      h('h2', { id: 'rv-h', text: 'Reviews due' }),
      h('p', { class: 'cb-muted', text: `Measures whose baseline was ${rv.body ? rv.body.weeks : 12} weeks ago or more, with no review yet.` }),
      rv.error ? loadError(rv.error, 'Reviews due') : pagedTable({
        id: 'reviews-table', caption: 'Reviews due, oldest baseline first', cols: ['Name', 'Measure', 'Baseline', 'Since', 'Action'],
        items: reviews, row: rows.review, empty: 'No reviews are due.',
      })),
    coach === false ? null : h('section', { id: 'my-caseload', tabindex: '-1', 'aria-labelledby': 'cl-h' },
      h('h2', { id: 'cl-h', text: clTitle }),
      cl.error ? loadError(cl.error, mine ? 'Your caseload' : 'The caseload') : pagedTable({
        id: 'caseload-table', caption: `People assigned to ${mine ? me.display_name || 'you' : coach.display_name}`, cols: ['Name', 'Last contact', 'Next follow-up', 'State'],
        items: cl.items, row: rows.mine,
        empty: mine ? 'No one is assigned to you. Tick “Add them to my caseload” when you register someone.' : 'No one is assigned to this coach.',
      })));
  return {};
}

export const caseloadView = {
  title: 'Caseload',
  render: (ctx) => renderCaseload(ctx),
};
