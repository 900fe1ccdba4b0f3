// Managers: who the service reaches and how outcomes differ between groups
// (neighbourhood team, deprivation, age, sex, ethnic group, cohort, ...).
// Small numbers are suppressed as the API does for published figures.
import { api, ApiError } from '../lib/api.js';
import { add, fill, h, tag, vh } from '../lib/dom.js';
import { SPLITS, change, count, countText, groupText, isHidden, isNum, pct } from '../lib/report.js';
import { href } from '../lib/router.js';
import { loadTeams } from '../lib/teams.js';
import { barChart, cellBar } from '../components/bars.js';
import { loadError } from '../components/errors.js';
import { filterPanel, loadFilterData, reportParams } from '../components/filters.js';
import { dataTable, scrollBox } from '../components/table.js';

const few = (v, threshold) => isHidden(v) || (isNum(v) && v > 0 && v < threshold);

function representation(r) {
  if (!isNum(r)) return '—';
  const words = r < 0.8 ? ['Under-represented', 'orange'] : r > 1.25 ? ['Over-represented', 'blue'] : ['In line', 'white'];
  return h('span', { class: 'cb-rep' }, `${r.toFixed(2)} `, tag(...words));
}

function groupCell(split, key, seen, threshold) {
  return h('span', { class: 'cb-group' }, h('span', { text: groupText(split, key) }),
    few(seen, threshold) ? tag('Few people', 'yellow') : seen === 0 ? tag('No one seen', 'grey') : null);
}

export const reachView = {
  title: 'Reach and inequalities',
  async render(ctx) {
    const params = reportParams(ctx.query);
    const split = SPLITS.some(([s]) => s === ctx.query.get('split')) ? ctx.query.get('split') : 'team';
    const out = h('div', { 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading…' }));
    add(ctx.main, h('h1', { text: 'Reach and inequalities' }),
      h('p', { class: 'cb-lead', text: 'Who the service sees, compared with the local population, and how outcomes differ between groups.' }),
      out);
    const o = { signal: ctx.signal };
    const q = { ...params, split, suppress: 1 };
    let reach = null;
    let outc = null;
    let err = null;
    const fail = (e) => { if (!(e instanceof ApiError)) throw e; err = err || e; };
    const [data] = await Promise.all([
      loadFilterData(ctx.signal),
      loadTeams().catch(() => null),
      api.report('reach', q, o).then((b) => { reach = b; }, fail),
      api.report('outcomes', q, o).then((b) => { outc = b; }, fail),
    ]);
    if (!ctx.isCurrent()) return {};
    out.removeAttribute('aria-busy');

    const splitNav = h('nav', { class: 'cb-splits', 'aria-label': 'Split the figures by' },
      h('h2', { class: 'nhsuk-heading-s cb-splits__title', text: 'Split by' }),
      h('ul', { class: 'cb-jump__list' }, SPLITS.map(([s, text]) => h('li', null, s === split
        ? h('a', { class: 'nhsuk-link cb-splits__current', href: href('/reach', { ...params, split: s }), 'aria-current': 'true', text })
        : h('a', { class: 'nhsuk-link', href: href('/reach', { ...params, split: s }), text })))));
    const panel = filterPanel({ path: '/reach', params, data, keep: { split } });
    if (err) {
      fill(out, panel, splitNav, loadError(err, 'The reach report'));
      return {};
    }
    const threshold = reach.small_number_threshold || 5;
    const link = (v, figure, key) => (isNum(v) && v > 0
      ? h('a', { class: 'nhsuk-link cb-row-link', href: href('/outcomes/people', { ...params, split, group: key, figure, from_screen: 'reach' }) },
        countText(v), vh(` – list the people in ${groupText(split, key)}`))
      : count(v));
    const pop = reach.population_total !== null && reach.population_total !== undefined;
    const maxSeen = Math.max(0, ...reach.groups.map((g) => (isNum(g.engaged) ? g.engaged : 0)));

    const reachCols = ['Group', 'People seen', 'Share of people seen', ...(pop ? ['Share of residents', 'Seen per 1,000 residents', 'Representation'] : [])];
    const reachRows = reach.groups.map((g) => ({
      attrs: few(g.engaged, threshold) ? { class: 'cb-row--few' } : {},
      cells: [
        groupCell(split, g.key, g.engaged, threshold),
        h('span', { class: 'cb-withbar' }, h('span', { class: 'cb-withbar__n' }, link(g.engaged, 'people_seen', g.key)), cellBar(g.engaged, maxSeen)),
        pct(g.share),
        ...(pop ? [pct(g.population_share), isNum(g.rate_per_1000) ? g.rate_per_1000.toFixed(1) : '—', representation(g.representation)] : []),
      ],
    }));
    const series = pop ? ['Share of people seen', 'Share of residents'] : ['Share of people seen'];
    const chart = barChart({
      title: `Share of people seen${pop ? ' and of residents' : ''}, by ${SPLITS.find((s) => s[0] === split)[1].toLowerCase()}`,
      series, text: pct,
      rows: reach.groups.map((g) => ({ label: groupText(split, g.key), values: pop ? [isNum(g.share) ? g.share : null, isNum(g.population_share) ? g.population_share : null] : [isNum(g.share) ? g.share : null] })),
    });

    const byKey = new Map((outc.groups || []).map((g) => [g.key, g.figures]));
    const outCols = ['Group', 'People seen', 'Contacts', 'Group attendance', 'Onward referrals', 'SWEMWBS pairs', 'Mean SWEMWBS change', 'Wellbeing improved', 'Goals fully achieved', '4-week quits'];
    const outRows = reach.groups.map((g) => {
      const f = byKey.get(g.key);
      if (!f) return [groupText(split, g.key), ...outCols.slice(1).map(() => '—')];
      return {
        attrs: few(f.people_seen, threshold) ? { class: 'cb-row--few' } : {},
        cells: [
          groupCell(split, g.key, f.people_seen, threshold),
          link(f.people_seen, 'people_seen', g.key),
          link(f.contacts.total, 'contacts.total', g.key),
          pct(f.group_attendance.rate),
          link(f.referrals.total, 'referrals.total', g.key),
          link(f.swemwbs.pairs, 'swemwbs.pairs', g.key),
          change(f.swemwbs.mean_change),
          pct(f.swemwbs.improved_share),
          pct(f.goals.fully_achieved_share),
          link(f.smoking.quits_self_reported, 'smoking.quits_self_reported', g.key),
        ],
      };
    });
    const improved = (outc.groups || []).filter((g) => isNum(g.figures.swemwbs.improved_share));

    fill(out,
      panel,
      splitNav,
      h('div', { class: 'nhsuk-inset-text' }, h('p', {
        text: `Numbers from 1 to ${threshold - 1} are shown as “<${threshold}”, and shares and means based on them are left out, as in published returns. Groups with few people are highlighted.`,
      })),
      h('section', { class: 'cb-section', id: 'reach', 'aria-labelledby': 'reach-h' },
        h('h2', { class: 'cb-section__title', id: 'reach-h', text: 'Who the service reaches' }),
        h('p', null, 'People seen in the period: ', h('strong', null, count(reach.engaged)), '.'),
        split === 'cohort' ? h('p', { class: 'cb-muted', text: 'Cohorts overlap (a veteran who is also a carer is in both), so the groups do not add up to the total.' }) : null,
        pop ? h('p', { class: 'cb-muted', text: 'Representation is the share of people seen divided by the share of residents: 1.00 means in proportion. Under 0.80 is marked under-represented, over 1.25 over-represented.' }) : null,
        pop ? null : h('p', { class: 'cb-muted', text: 'No population figures are loaded for this split, so the service cannot be compared with the local population. An administrator can load them with “coachbox import population”.' }),
        scrollBox('People seen by group', dataTable({ caption: 'People seen, by group', cols: reachCols, rows: reachRows, id: 'reach-table', stack: false, extraClass: 'cb-table-wide' })),
        chart),
      h('section', { class: 'cb-section', id: 'by-group', 'aria-labelledby': 'by-group-h' },
        h('h2', { class: 'cb-section__title', id: 'by-group-h', text: 'Outcomes by group' }),
        h('p', { class: 'cb-muted', text: 'Wellbeing improved: the share of people with a SWEMWBS baseline and follow-up whose score rose by 3 points or more. Goals fully achieved: the share of goals with an outcome.' }),
        scrollBox('Outcomes by group', dataTable({ caption: 'Outcomes, by group', cols: outCols, rows: outRows, id: 'outcomes-by-group', stack: false, extraClass: 'cb-table-wide' })),
        improved.length
          ? barChart({ title: 'Wellbeing meaningfully improved (SWEMWBS), by group', text: pct, rows: improved.map((g) => ({ label: groupText(split, g.key), values: [g.figures.swemwbs.improved_share] })) })
          : h('p', { class: 'cb-muted', text: 'No group has enough people with SWEMWBS scores at baseline and follow-up to show a share.' })));
    return {};
  },
};
