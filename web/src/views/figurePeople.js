// Managers: the people behind one figure of the outcomes report
// (GET /api/reports/outcomes/records), each opening their record.
import { api, ApiError } from '../lib/api.js';
import { add, fill, h } from '../lib/dom.js';
import { formatDate } from '../lib/format.js';
import { FILTER_KEYS, figureText, groupText, pick, splitText } from '../lib/report.js';
import { href } from '../lib/router.js';
import { loadTeams, teamName } from '../lib/teams.js';
import { loadError } from '../components/errors.js';
import { describeParams, loadFilterData, reportParams } from '../components/filters.js';
import { pagedTable } from '../components/table.js';

export const figurePeopleView = {
  title: 'People behind a figure',
  async render(ctx) {
    const q = ctx.query;
    const params = reportParams(q);
    const figure = q.get('figure') || '';
    const split = q.get('split') || '';
    const group = q.get('group') || '';
    const from = q.get('from_screen') === 'reach' ? '/reach' : '/outcomes';
    const backQuery = { ...pick(q, FILTER_KEYS), ...(from === '/reach' && split ? { split } : {}) };
    const what = figureText(figure);
    const out = h('div', { 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading…' }));
    add(ctx.main,
      h('a', { class: 'nhsuk-back-link', href: href(from, backQuery), text: from === '/reach' ? 'Reach and inequalities' : 'Outcomes' }),
      h('h1', null, h('span', { class: 'nhsuk-caption-l', text: 'People behind a figure' }), ` ${what}`),
      out);
    const apiParams = { ...params, figure, limit: 5000 };
    if (split) apiParams.split = split;
    if (group) apiParams.group = group;
    let rep = null;
    let err = null;
    const [data] = await Promise.all([
      loadFilterData(ctx.signal),
      loadTeams().catch(() => null),
      api.report('outcomes/records', apiParams, { signal: ctx.signal }).then((b) => { rep = b; }, (e) => { if (!(e instanceof ApiError)) throw e; err = e; }),
    ]);
    if (!ctx.isCurrent()) return {};
    out.removeAttribute('aria-busy');
    if (err) {
      fill(out, loadError(err, 'The list of people'));
      return {};
    }
    const n = rep.count;
    fill(out,
      h('p', { class: 'cb-filters__now' }, h('strong', { text: 'Period and filters: ' }), describeParams(params, data),
        split && group ? ` · ${splitText(split)}: ${groupText(split, group)}` : ''),
      h('p', { class: 'cb-lead', id: 'people-count' },
        `${n} ${n === 1 ? 'person' : 'people'}. `,
        h('span', { class: 'cb-muted', text: 'A person is listed once however many contacts, referrals or goals they had.' })),
      rep.truncated ? h('div', { class: 'nhsuk-inset-text' }, h('p', { text: `Only the first ${rep.items.length} are listed, by name. Narrow the period or filters to see the rest.` })) : null,
      pagedTable({
        id: 'people-table', caption: 'People, by family name', cols: ['Name', 'Date of birth', 'Team'],
        items: rep.items,
        row: (p) => [
          h('a', { class: 'nhsuk-link cb-row-link', href: `#/people/${encodeURIComponent(p.id)}`, text: `${p.given_name} ${p.family_name}`.trim() || 'No name' }),
          formatDate(p.date_of_birth, { short: true }),
          teamName(p.team),
        ],
        empty: 'No one is behind this figure.',
      }));
    return {};
  },
};
