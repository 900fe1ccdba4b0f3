// Caseload: the people assigned to me, follow-ups due or overdue, and
// outcome measure reviews due.  Long lists are shown a page at a time.
import { api } from '../lib/api.js';
import { add, fill, h, tag } from '../lib/dom.js';
import { displayName, formatDate, formatWhen } from '../lib/format.js';
import { shortName } from '../lib/measures.js';
import { session } from '../lib/session.js';
import { loadError } from '../components/errors.js';
import { listOf } from './personData.js';

const PAGE = 25;
const enc = encodeURIComponent;
const STATE = { overdue: ['Overdue', 'red'], due: ['Due', 'yellow'], scheduled: ['Scheduled', 'blue'] };

const nameLink = (p) => h('a', { class: 'nhsuk-link cb-row-link', href: `#/people/${enc(p.id || p.participant_id)}`, text: displayName(p) || 'No name' });

/** A table that shows PAGE rows and a "Show more" button. */
function pagedTable({ id, caption, cols, items, row, empty }) {
  if (!items.length) return h('p', { class: 'cb-muted', text: empty });
  const tbody = h('tbody', { class: 'nhsuk-table__body', role: 'rowgroup' });
  const tableEl = h('table', { class: 'nhsuk-table cb-table-stack', id, role: 'table' },
    h('caption', { class: 'nhsuk-table__caption nhsuk-table__caption--s', text: caption }),
    h('thead', { class: 'nhsuk-table__head', role: 'rowgroup' }, h('tr', { class: 'nhsuk-table__row', role: 'row' },
      cols.map((c) => h('th', { class: 'nhsuk-table__header', scope: 'col', role: 'columnheader', text: c })))),
    tbody);
  const more = h('button', { class: 'nhsuk-button nhsuk-button--secondary', type: 'button' });
  const live = h('p', { class: 'nhsuk-u-visually-hidden', 'aria-live': 'polite' });
  let shown = 0;
  function page() {
    const next = items.slice(shown, shown + PAGE);
    const trs = next.map((it) => h('tr', { class: 'nhsuk-table__row', role: 'row' },
      row(it).map((c, i) => h('td', { class: 'nhsuk-table__cell', role: 'cell', 'data-label': cols[i] }, c))));
    trs.forEach((tr) => tbody.appendChild(tr));
    shown += next.length;
    more.hidden = shown >= items.length;
    more.textContent = `Show ${Math.min(PAGE, items.length - shown)} more of ${items.length - shown}`;
    return trs;
  }
  more.addEventListener('click', () => {
    const trs = page();
    live.textContent = `${trs.length} more shown`;
    const a = trs[0] && trs[0].querySelector('a');
    if (a) a.focus();
  });
  page();
  return h('div', null, tableEl, live, more);
}

export const caseloadView = {
  title: 'Caseload',
  async render(ctx) {
    const out = h('div', { 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading…' }));
    add(ctx.main, h('h1', { text: 'Caseload' }),
      h('nav', { class: 'cb-jump', 'aria-label': 'On this page' }, h('ul', { class: 'cb-jump__list' },
        [['follow-ups', 'Follow-ups'], ['reviews', 'Reviews due'], ['my-caseload', 'My caseload']]
          .map(([a, t]) => h('li', null, h('a', { class: 'nhsuk-link', href: `#${a}`, text: t }))))),
      out);
    const o = { signal: ctx.signal };
    const [cl, fu, rv] = await Promise.all([
      listOf(api.caseload({}, o)), listOf(api.followUps({ within_days: 7 }, o)), listOf(api.reviewsDue({}, o)),
    ]);
    if (!ctx.isCurrent()) return {};
    out.removeAttribute('aria-busy');
    const me = session.user || {};

    const follow = fu.body ? [...(fu.body.overdue || []).map((x) => ({ ...x, state: 'overdue' })), ...(fu.body.due || []).map((x) => ({ ...x, state: 'due' }))] : [];
    const rows = {
      follow: (x) => [nameLink(x), h('span', { class: 'cb-nowrap', text: formatDate(x.next_follow_up, { short: true }) }), tag(...STATE[x.state]),
        x.last_contact_at ? formatWhen(x.last_contact_at, { short: true }) : '—',
        h('a', { class: 'nhsuk-link cb-row-link', href: `#/people/${enc(x.id)}/contact?type=phone` }, 'Record a contact', h('span', { class: 'nhsuk-u-visually-hidden', text: ` for ${displayName(x)}` }))],
      review: (x) => [nameLink(x), shortName(x.instrument), formatWhen(x.baseline_at, { short: true }), `${x.weeks_since} weeks`,
        h('a', { class: 'nhsuk-link cb-row-link', href: `#/people/${enc(x.id)}/contact` }, 'Record a review', h('span', { class: 'nhsuk-u-visually-hidden', text: ` for ${displayName(x)}` }))],
      mine: (x) => [nameLink(x), x.last_contact_at ? formatWhen(x.last_contact_at, { short: true }) : 'None yet',
        x.next_follow_up ? formatDate(x.next_follow_up, { short: true }) : '—',
        x.follow_up_state ? tag(...STATE[x.follow_up_state]) : '—'],
    };
    const overdue = follow.filter((x) => x.state === 'overdue').length;
    fill(out, 
      h('ul', { class: 'cb-counts', 'aria-label': 'Summary' },
        [[overdue, 'Follow-ups overdue'], [follow.length - overdue, 'Due in 7 days'], [rv.items.length, 'Reviews due'], [cl.items.length, 'On my caseload']]
          .map(([n, t]) => h('li', { class: 'cb-count' }, h('span', { class: 'cb-count__n', text: String(n) }), h('span', { class: 'cb-count__label', text: t })))),
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
          items: rv.items, row: rows.review, empty: 'No reviews are due.',
        })),
      h('section', { id: 'my-caseload', tabindex: '-1', 'aria-labelledby': 'cl-h' },
        h('h2', { id: 'cl-h', text: 'My caseload' }),
        cl.error ? loadError(cl.error, 'Your caseload') : pagedTable({
          id: 'caseload-table', caption: `People assigned to ${me.display_name || 'you'}`, cols: ['Name', 'Last contact', 'Next follow-up', 'State'],
          items: cl.items, row: rows.mine, empty: 'No one is assigned to you. Tick “Add them to my caseload” when you register someone.',
        })));
    return {};
  },
};
