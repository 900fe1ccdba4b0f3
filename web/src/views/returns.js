// Managers: the quarterly return (download the CSV, with a preview of what
// it says) and the data-quality report - records to put right before it goes.
import { api, ApiError } from '../lib/api.js';
import { add, fill, h } from '../lib/dom.js';
import { formatDate, formatWhen, todayYmd } from '../lib/format.js';
import { shortName } from '../lib/measures.js';
import { countText, groupText, splitText } from '../lib/report.js';
import { href, navigate } from '../lib/router.js';
import { loadTeams, teamName } from '../lib/teams.js';
import { loadError } from '../components/errors.js';
import { selectField } from '../components/fields.js';
import { dataTable, pagedTable } from '../components/table.js';
import { label, ENCOUNTER_TYPES } from '../lib/codes.js';

const MONTHS = ['January to March', 'April to June', 'July to September', 'October to December'];

/** The last n calendar quarters, newest first: [{ value: "2026Q3", text }]. */
function quarters(n = 8, today = todayYmd()) {
  let y = Number(today.slice(0, 4));
  let q = Math.floor((Number(today.slice(5, 7)) - 1) / 3) + 1;
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({ value: `${y}Q${q}`, text: `${MONTHS[q - 1]} ${y}${i === 0 ? ' (so far)' : ''}` });
    q -= 1;
    if (q === 0) { q = 4; y -= 1; }
  }
  return out;
}

/** RFC 4180 CSV text into rows of fields. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let f = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch !== '"') f += ch;
      else if (text[i + 1] === '"') { f += '"'; i++; } else quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { row.push(f); f = ''; } else if (ch === '\n') { row.push(f); rows.push(row); row = []; f = ''; } else if (ch !== '\r') f += ch;
  }
  if (f || row.length) { row.push(f); rows.push(row); }
  return rows;
}

const num = (s) => (/^\d+$/.test(s) ? countText(Number(s)) : s);

function returnPreview(csv) {
  const [head, ...rows] = parseCsv(csv);
  const col = (name) => head.indexOf(name);
  const [b, g, e, a] = ['breakdown', 'group', 'participants_engaged', 'action_plans_agreed'].map(col);
  if ([b, g, e, a].some((i) => i < 0)) return h('p', { class: 'cb-muted', text: 'The return could not be shown here; download it to open it in a spreadsheet.' });
  const sections = [];
  for (const r of rows) {
    const last = sections[sections.length - 1];
    if (!last || last.split !== r[b]) sections.push({ split: r[b], rows: [r] });
    else last.rows.push(r);
  }
  return h('div', { class: 'cb-return' }, sections.map((s) => dataTable({
    caption: s.split === 'total' ? 'Everyone' : `By ${splitText(s.split).toLowerCase()}`,
    cols: ['Group', 'People engaged', 'Action plans agreed'],
    rows: s.rows.map((r) => [groupText(s.split, r[g]), num(r[e]), num(r[a])]),
    extraClass: 'cb-table-compact',
  })));
}

const CHECKS = {
  missing_nhs_number: ['No NHS number', 'Add it from the GP record or NHS app.'],
  missing_ethnic_group: ['No ethnic group', 'Ask at the next contact (“Prefer not to say” is an answer).'],
  missing_postcode: ['No postcode', 'Needed for the deprivation figures.'],
  postcode_not_in_imd: ['Postcode not in the deprivation lookup', 'Check it for typing mistakes.'],
  incomplete_measures: ['Outcome measures not finished', 'Complete the missing answers, or delete them if started in error.'],
  contacts_without_topic: ['Contacts with no topic', 'Add what the contact was about.'],
  baselines_without_review: ['Baselines with no review yet', 'Book a review with the person.'],
};

function extraCols(name, weeks) {
  switch (name) {
    case 'postcode_not_in_imd': return [['Postcode', (x) => x.postcode || '—']];
    case 'incomplete_measures': return [['Measure', (x) => shortName(x.instrument)], ['Taken', (x) => formatWhen(x.taken_at, { short: true })],
      ['Missing', (x) => (Array.isArray(x.missing) ? x.missing.join(', ') : '—')]];
    case 'contacts_without_topic': return [['Contact', (x) => `${label(ENCOUNTER_TYPES, x.type)}, ${formatWhen(x.occurred_at, { short: true })}`]];
    case 'baselines_without_review': return [['Measure', (x) => shortName(x.instrument)], [`Baseline (over ${weeks} weeks ago)`, (x) => formatWhen(x.baseline_at, { short: true })]];
    default: return [];
  }
}

function dataQuality(dq) {
  const names = Object.keys(dq.checks).filter((k) => CHECKS[k]).concat(Object.keys(dq.checks).filter((k) => !CHECKS[k]));
  const title = (k) => (CHECKS[k] ? CHECKS[k][0] : k.replace(/_/g, ' '));
  const summary = dataTable({
    caption: `Data quality on ${formatDate(dq.as_of)}${dq.team ? `, ${teamName(dq.team)}` : ''}`, id: 'dq-table',
    cols: ['Check', 'Records', 'What to do'],
    rows: names.map((k) => {
      const c = dq.checks[k];
      const open = () => { const d = document.getElementById(`dq-${k}`); if (d) d.open = true; };
      return [title(k), c.count ? h('a', { class: 'nhsuk-link cb-row-link', href: `#dq-${k}`, onclick: open }, String(c.count), h('span', { class: 'nhsuk-u-visually-hidden', text: `: ${title(k)}, the list` })) : '0',
        CHECKS[k] ? CHECKS[k][1] : ''];
    }),
  });
  const lists = names.filter((k) => dq.checks[k].count).map((k) => {
    const c = dq.checks[k];
    const extra = extraCols(k, dq.weeks);
    return h('details', { class: 'nhsuk-details cb-dq', id: `dq-${k}` },
      h('summary', { class: 'nhsuk-details__summary' }, h('span', { class: 'nhsuk-details__summary-text', text: `${title(k)}: ${c.count}` })),
      h('div', { class: 'nhsuk-details__text' },
        c.truncated ? h('p', { class: 'cb-muted', text: `The first ${c.items.length} are listed.` }) : null,
        pagedTable({
          id: `dq-${k}-table`, caption: title(k), items: c.items,
          cols: ['Name', 'Date of birth', 'Team', ...extra.map((x) => x[0])],
          row: (x) => [
            h('a', { class: 'nhsuk-link cb-row-link', href: `#/people/${encodeURIComponent(x.participant_id)}`, text: `${x.given_name || ''} ${x.family_name || ''}`.trim() || 'No name' }),
            formatDate(x.date_of_birth, { short: true }), teamName(x.team), ...extra.map((e) => e[1](x)),
          ],
          empty: 'None.',
        })));
  });
  return [summary, lists];
}

export const returnsView = {
  title: 'Returns and data quality',
  async render(ctx) {
    const qs = quarters();
    const quarter = qs.some((q) => q.value === ctx.query.get('quarter')) ? ctx.query.get('quarter') : qs[1].value;
    const team = ctx.query.get('team') || '';
    const out = h('div', { 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading…' }));
    add(ctx.main, h('h1', { text: 'Returns and data quality' }), out);
    const o = { signal: ctx.signal };
    const params = { quarter, team };
    let csv = null;
    let csvErr = null;
    let dq = null;
    let dqErr = null;
    const fail = (set) => (e) => { if (!(e instanceof ApiError)) throw e; set(e); };
    const [teams] = await Promise.all([
      loadTeams().catch(() => []),
      api.quarterlyCsv(params, o).then((t) => { csv = t; }, fail((e) => { csvErr = e; })),
      api.report('data-quality', team ? { team } : {}, o).then((b) => { dq = b; }, fail((e) => { dqErr = e; })),
    ]);
    if (!ctx.isCurrent()) return {};
    out.removeAttribute('aria-busy');
    const qField = selectField({ id: 'quarter', label: 'Quarter', options: qs, value: quarter });
    const tField = selectField({ id: 'team', label: 'Team', options: [{ value: '', text: 'All teams' }, ...teams.map((t) => ({ value: t.id, text: t.name }))], value: team });
    const form = h('form', { class: 'cb-inline-form cb-return-form', novalidate: true, 'aria-label': 'Quarter and team' },
      qField.el, tField.el, h('button', { class: 'nhsuk-button nhsuk-button--secondary cb-act', type: 'submit', text: 'Show' }));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      navigate(href('/returns', { quarter: qField.value(), ...(tField.value() ? { team: tField.value() } : {}) }));
    });
    const qText = qs.find((q) => q.value === quarter).text;
    fill(out,
      form,
      h('section', { class: 'cb-section', id: 'quarterly', 'aria-labelledby': 'quarterly-h' },
        h('h2', { class: 'cb-section__title', id: 'quarterly-h', text: 'Quarterly return' }),
        h('p', null, `People engaged and action plans agreed, ${qText}, ${team ? teamName(team) : 'all teams'}, by cohort, how they heard, main barrier, employment and age. Small numbers are withheld, as in the published return (shown as “<5”).`),
        h('p', { class: 'cb-muted', text: 'Only small numbers themselves are withheld: before publishing, check that none can be worked out from the total and the other groups.' }),
        h('a', { class: 'nhsuk-button', href: api.quarterlyUrl(params), download: `coachbox-quarterly-${quarter}${team ? `-${team}` : ''}.csv`, id: 'download-return' },
          'Download the return (CSV)'),
        csvErr ? loadError(csvErr, 'The quarterly return') : returnPreview(csv)),
      h('section', { class: 'cb-section', id: 'data-quality', 'aria-labelledby': 'dq-h' },
        h('h2', { class: 'cb-section__title', id: 'dq-h', text: 'Data quality' }),
        h('p', { class: 'cb-muted', text: 'Records of active people that are missing something the figures need. Select a number to see the records.' }),
        dqErr ? loadError(dqErr, 'The data-quality report') : dataQuality(dq)));
    return {};
  },
};
