// Managers: what the service did in a period, and what changed for the
// people it saw - contacts, group attendance, onward referrals, outcome
// measures (baseline to follow-up), stopping smoking and goals.  Every count
// opens the list of people behind it (views/figurePeople.js).
import { api, ApiError } from '../lib/api.js';
import { ATTENDANCE, ENCOUNTER_TYPES, REFERRAL_DESTINATIONS, REFERRAL_STATUSES } from '../lib/codes.js';
import { add, fill, h, vh } from '../lib/dom.js';
import { change, count, countText, figureText, isNum, mean, pct } from '../lib/report.js';
import { href } from '../lib/router.js';
import { barChart } from '../components/bars.js';
import { loadError } from '../components/errors.js';
import { filterPanel, loadFilterData, reportParams } from '../components/filters.js';
import { dataTable } from '../components/table.js';

const num = (v) => (isNum(v) ? v : null);

/** A count that opens the people behind it (when there are any to show). */
export function peopleLink(params, v, figure, extra = {}) {
  if (!isNum(v) || v <= 0) return count(v);
  return h('a', { class: 'nhsuk-link cb-row-link', href: href('/outcomes/people', { ...params, ...extra, figure }) },
    countText(v), vh(` – list the people: ${figureText(figure)}`));
}

function section(id, title, intro, ...children) {
  return h('section', { class: 'cb-section', id, 'aria-labelledby': `${id}-h`, tabindex: '-1' },
    h('h2', { class: 'cb-section__title', id: `${id}-h`, text: title }),
    intro ? h('p', { class: 'cb-muted', text: intro }) : null, children);
}

/** A two-column table of figures, with a chart beside it on wide screens. */
function figures(caption, rows, chart = null) {
  return h('div', { class: ['cb-fig', chart && 'cb-fig--chart'] },
    dataTable({ caption, cols: ['Figure', 'Number'], rows, extraClass: 'cb-fig__table' }), chart);
}

const none = (text) => h('p', { class: 'cb-empty', text });

function contactsSection(t, link) {
  const c = t.contacts;
  const types = ENCOUNTER_TYPES.filter((x) => x.value !== 'dna');
  return section('contacts', 'Contacts', 'Contacts with people in the period (group sessions are counted where a coach recorded one).',
    figures('Contacts by type', [
      ...types.map((x) => [x.text, link(c[x.value], `contacts.${x.value}`)]),
      [h('strong', { text: 'All contacts' }), h('strong', null, link(c.total, 'contacts.total'))],
      ['Did not attend (not counted above)', link(c.dna, 'contacts.dna')],
    ], barChart({ title: 'Contacts by type', rows: types.map((x) => ({ label: x.text, values: [num(c[x.value])] })), text: countText })));
}

function attendanceSection(t, link) {
  const a = t.group_attendance;
  const any = ATTENDANCE.some((x) => isNum(a[x.value]) ? a[x.value] > 0 : a[x.value]);
  return section('attendance', 'Group attendance', 'Places marked on the registers of group sessions that started in the period.',
    any ? figures('Group attendance', [
      ...ATTENDANCE.map((x) => [x.text, link(a[x.value], `group_attendance.${x.value}`)]),
      [h('strong', { text: 'Attendance rate' }), h('strong', { text: pct(a.rate) })],
    ], barChart({ title: 'Places on registers', rows: ATTENDANCE.map((x) => ({ label: x.text, values: [num(a[x.value])] })), text: countText }))
      : none('No registers were taken for group sessions in this period.'));
}

function referralsSection(t, link) {
  const r = t.referrals;
  const dests = REFERRAL_DESTINATIONS.filter((d) => { const v = r.by_destination[d.value].total; return isNum(v) ? v > 0 : v; });
  const cols = ['Referred to', 'All', ...REFERRAL_STATUSES.map((s) => s.text)];
  const row = (name, o, path) => [name, link(o.total, `${path}.total`), ...REFERRAL_STATUSES.map((s) => link(o[s.value], `${path}.${s.value}`))];
  return section('referrals', 'Onward referrals', 'Referrals sent in the period, by where to and their status now.',
    dests.length ? [
      h('div', { class: 'cb-scroll', role: 'region', 'aria-label': 'Onward referrals by destination', tabindex: '0' },
        dataTable({
          caption: 'Onward referrals by destination and status', cols,
          rows: [
            ...dests.map((d) => row(d.text, r.by_destination[d.value], `referrals.by_destination.${d.value}`)),
            [h('strong', { text: 'All destinations' }), h('strong', null, link(r.total, 'referrals.total')),
              ...REFERRAL_STATUSES.map((s) => h('strong', null, link(r.by_status[s.value], `referrals.by_status.${s.value}`)))],
          ],
        })),
      barChart({ title: 'Onward referrals by destination', rows: dests.map((d) => ({ label: d.text, values: [num(r.by_destination[d.value].total)] })), text: countText }),
    ] : none('No onward referrals were sent in this period.'));
}

const noPairs = () => none('No one had both a baseline and a review or exit score for this in the period.');
const hasPairs = (x) => (isNum(x.pairs) ? x.pairs > 0 : !!x.pairs);

function swemwbsSection(t, link, rep) {
  const s = t.swemwbs;
  const shift = [['Meaningfully improved', 'improved'], ['No meaningful change', 'no_meaningful_change'], ['Meaningfully declined', 'declined']];
  return section('swemwbs', 'Wellbeing (SWEMWBS)',
    `People with a baseline and a later review or exit score in the period. A change of ${rep.swemwbs_meaningful_change || 3} points or more is meaningful. SWEMWBS © University of Warwick.`,
    hasPairs(s) ? figures('SWEMWBS, baseline to follow-up', [
      ['People with both scores', link(s.pairs, 'swemwbs.pairs')],
      ['Mean at baseline', mean(s.baseline_mean, 2)],
      ['Mean at follow-up', mean(s.followup_mean, 2)],
      [h('strong', { text: 'Mean change' }), h('strong', { text: change(s.mean_change) })],
      ...shift.map(([text, k]) => [text, link(s[k], `swemwbs.${k}`)]),
      [h('strong', { text: 'Share meaningfully improved' }), h('strong', { text: pct(s.improved_share) })],
    ], barChart({ title: 'Change in wellbeing (people)', rows: shift.map(([label, k]) => ({ label, values: [num(s[k])] })), text: countText }))
      : noPairs());
}

const ONS = [['life_satisfaction', 'Life satisfaction'], ['worthwhile', 'Things done are worthwhile'], ['happiness', 'Happy yesterday'],
  ['anxiety', 'Anxious yesterday (lower is better)']];

function onsSection(t, link) {
  const o = t.ons4;
  return section('ons4', 'Personal wellbeing (ONS4)', 'Mean scores out of 10 at baseline and follow-up, for people with both.',
    hasPairs(o) ? [
      h('p', null, 'People with both scores: ', link(o.pairs, 'ons4.pairs')),
      h('div', { class: 'cb-fig cb-fig--chart' },
        dataTable({
          caption: 'ONS4 means by question', cols: ['Question', 'Baseline', 'Follow-up', 'Change'], extraClass: 'cb-fig__table',
          rows: ONS.map(([k, text]) => [text, mean(o[k].baseline_mean, 2), mean(o[k].followup_mean, 2), change(o[k].mean_change)]),
        }),
        barChart({ title: 'Mean change by question (a fall in anxiety is an improvement)', rows: ONS.map(([k, label]) => ({ label, values: [num(o[k].mean_change)] })), text: change })),
    ] : noPairs());
}

function gppaqSection(t, link) {
  const g = t.gppaq;
  const shift = [['More active', 'moved_up'], ['No change', 'no_change'], ['Less active', 'moved_down']];
  return section('gppaq', 'Physical activity (GPPAQ)', 'The Physical Activity Index (1 inactive to 4 active) at baseline and follow-up.',
    hasPairs(g) ? figures('GPPAQ, baseline to follow-up', [
      ['People with both scores', link(g.pairs, 'gppaq.pairs')],
      ['Mean index at baseline', mean(g.baseline_mean, 2)],
      ['Mean index at follow-up', mean(g.followup_mean, 2)],
      [h('strong', { text: 'Mean change' }), h('strong', { text: change(g.mean_change) })],
      ...shift.map(([text, k]) => [text, link(g[k], `gppaq.${k}`)]),
    ], barChart({ title: 'Change in activity level (people)', rows: shift.map(([label, k]) => ({ label, values: [num(g[k])] })), text: countText }))
      : noPairs());
}

function weightSection(t, link) {
  const rows = [['BMI', t.bmi, 'bmi', 1], ['Weight (kg)', t.weight_kg, 'weight_kg', 1]];
  return section('weight', 'BMI and weight', 'Means at baseline and follow-up, for people with both.',
    hasPairs(t.bmi) ? h('div', { class: 'cb-scroll', role: 'region', 'aria-label': 'BMI and weight', tabindex: '0' }, dataTable({
      caption: 'BMI and weight, baseline to follow-up', cols: ['Measure', 'People', 'Baseline', 'Follow-up', 'Change'],
      rows: rows.map(([text, x, k, dp]) => [text, link(x.pairs, `${k}.pairs`), mean(x.baseline_mean, dp), mean(x.followup_mean, dp), change(x.mean_change, dp)]),
    })) : noPairs());
}

function auditSection(t, link) {
  const a = t.audit_c;
  return section('audit-c', 'Alcohol (AUDIT-C)', 'Scores 0 to 12; 5 or more is positive (go on to the full AUDIT).',
    hasPairs(a) ? figures('AUDIT-C, baseline to follow-up', [
      ['People with both scores', link(a.pairs, 'audit_c.pairs')],
      ['Mean at baseline', mean(a.baseline_mean, 2)],
      ['Mean at follow-up', mean(a.followup_mean, 2)],
      [h('strong', { text: 'Mean change' }), h('strong', { text: change(a.mean_change) })],
      ['Positive at baseline', link(a.positive_at_baseline, 'audit_c.positive_at_baseline')],
      ['Positive at follow-up', link(a.positive_at_followup, 'audit_c.positive_at_followup')],
    ], barChart({ title: 'People scoring positive', rows: [['At baseline', a.positive_at_baseline], ['At follow-up', a.positive_at_followup]].map(([label, v]) => ({ label, values: [num(v)] })), text: countText }))
      : noPairs());
}

function smokingSection(t, link) {
  const s = t.smoking;
  const rows = [['Quit dates set', 'quit_dates_set'], ['4-week quits, self-reported', 'quits_self_reported'], ['4-week quits, CO-validated', 'quits_co_validated']];
  return section('smoking', 'Stopping smoking', 'Quit dates set in the period, and 4-week follow-ups in the period where the person had stopped (CO-validated: a carbon monoxide reading under 10 ppm).',
    figures('Stopping smoking', rows.map(([text, k]) => [text, link(s[k], `smoking.${k}`)]),
      barChart({ title: 'Stopping smoking (people)', rows: rows.map(([label, k]) => ({ label, values: [num(s[k])] })), text: countText })));
}

function goalsSection(t, link) {
  const g = t.goals;
  const st = [['Fully achieved', 'fully_achieved'], ['Partly achieved', 'partly_achieved'], ['Not achieved', 'not_achieved'], ['Still open', 'open']];
  return section('goals', 'Goals', 'Goals agreed in the period and where they stand now. Shares are of goals with an outcome (not those still open).',
    (isNum(g.agreed) ? g.agreed > 0 : !!g.agreed) ? figures('Goals agreed in the period', [
      ['Goals agreed', link(g.agreed, 'goals.agreed')],
      ['People with a goal', link(g.people, 'goals.people')],
      ...st.map(([text, k]) => [text, link(g[k], `goals.${k}`)]),
      [h('strong', { text: 'Share fully achieved' }), h('strong', { text: pct(g.fully_achieved_share) })],
      [h('strong', { text: 'Share partly achieved' }), h('strong', { text: pct(g.partly_achieved_share) })],
    ], barChart({ title: 'Goals by outcome', rows: st.map(([label, k]) => ({ label, values: [num(g[k])] })), text: countText }))
      : none('No goals were agreed in this period.'));
}

const JUMP = [['contacts', 'Contacts'], ['attendance', 'Group attendance'], ['referrals', 'Referrals'], ['swemwbs', 'Wellbeing'], ['ons4', 'ONS4'],
  ['gppaq', 'Activity'], ['weight', 'BMI and weight'], ['audit-c', 'Alcohol'], ['smoking', 'Smoking'], ['goals', 'Goals']];

function tiles(t, link) {
  const tile = (n, text) => h('li', { class: 'cb-count' }, h('span', { class: 'cb-count__n' }, n), h('span', { class: 'cb-count__label', text }));
  return h('ul', { class: 'cb-counts', 'aria-label': 'Key figures', id: 'key-figures' },
    tile(link(t.people_seen, 'people_seen'), 'People seen'),
    tile(link(t.contacts.total, 'contacts.total'), 'Contacts'),
    tile(pct(t.group_attendance.rate), 'Group attendance rate'),
    tile(link(t.referrals.total, 'referrals.total'), 'Onward referrals'),
    tile(change(t.swemwbs.mean_change), 'Mean SWEMWBS change'),
    tile(pct(t.swemwbs.improved_share), 'Wellbeing meaningfully improved'),
    tile(link(t.smoking.quits_self_reported, 'smoking.quits_self_reported'), '4-week quits'),
    tile(pct(t.goals.fully_achieved_share), 'Goals fully achieved'));
}

export const outcomesView = {
  title: 'Outcomes',
  async render(ctx) {
    const params = reportParams(ctx.query);
    const out = h('div', { 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading…' }));
    add(ctx.main, h('h1', null, h('span', { class: 'nhsuk-caption-l', text: 'Live Well service' }), ' Outcomes'), out);
    const o = { signal: ctx.signal };
    let rep = null;
    let err = null;
    const [data] = await Promise.all([
      loadFilterData(ctx.signal),
      api.report('outcomes', params, o).then((b) => { rep = b; }, (e) => { if (!(e instanceof ApiError)) throw e; err = e; }),
    ]);
    if (!ctx.isCurrent()) return {};
    out.removeAttribute('aria-busy');
    const link = (v, figure) => peopleLink(params, v, figure);
    const t = rep && rep.total;
    fill(out,
      filterPanel({ path: '/outcomes', params, data }),
      err ? loadError(err, 'The outcomes report') : [
        h('p', { class: 'cb-muted' }, 'Numbers are not suppressed here: do not publish this page. For returns use ',
          h('a', { class: 'nhsuk-link', href: '#/returns', text: 'Returns and data quality' }), '. Select a number to see the people behind it.'),
        tiles(t, link),
        h('nav', { class: 'cb-jump', 'aria-label': 'Sections' }, h('ul', { class: 'cb-jump__list' },
          JUMP.map(([a, text]) => h('li', null, h('a', { class: 'nhsuk-link', href: `#${a}`, text }))))),
        contactsSection(t, link),
        attendanceSection(t, link),
        referralsSection(t, link),
        swemwbsSection(t, link, rep),
        onsSection(t, link),
        gppaqSection(t, link),
        weightSection(t, link),
        auditSection(t, link),
        smokingSection(t, link),
        goalsSection(t, link),
      ]);
    return {};
  },
};
