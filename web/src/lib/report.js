// Words and numbers for the managers' reports (docs/REPORTS.md): group keys
// of each split, counts that may be suppressed ("<5"), shares and means.
import {
  COHORTS, EMPLOYMENT, ENCOUNTER_TYPES, MAIN_BARRIERS, REFERRAL_DESTINATIONS, REFERRAL_SOURCES, REFERRAL_STATUSES, SEX, humanise, label,
} from './codes.js';
import { h } from './dom.js';
import { teamName } from './teams.js';

export const SPLITS = [
  ['team', 'Neighbourhood team'],
  ['imd_decile', 'Deprivation'],
  ['age_band', 'Age'],
  ['sex', 'Sex'],
  ['ethnic_group', 'Ethnic group'],
  ['cohort', 'Cohort'],
  ['employment_status', 'Employment'],
  ['referral_source', 'How they heard'],
  ['main_barrier', 'Main barrier'],
];

const AGE = {
  under_16: 'Under 16', '16_24': '16 to 24', '25_34': '25 to 34', '35_49': '35 to 49', '50_64': '50 to 64', '65_plus': '65 and over',
  up_to_35: '35 and under', '36_49': '36 to 49', '50_plus': '50 and over',
};
const ETHNIC = {
  asian: 'Asian or Asian British', black: 'Black, Black British, Caribbean or African', mixed: 'Mixed or multiple',
  white: 'White', other: 'Other ethnic group', not_stated: 'Prefer not to say',
};
const LISTS = { sex: SEX, cohort: COHORTS, employment_status: EMPLOYMENT, referral_source: REFERRAL_SOURCES, main_barrier: MAIN_BARRIERS };

/** Words for a group key of a split. */
export function groupText(split, key) {
  if (key === 'not_recorded') return 'Not recorded';
  if (split === 'team') return teamName(key);
  if (split === 'age_band' || split === 'age_band_return') return AGE[key] || humanise(key);
  if (split === 'ethnic_group') return ETHNIC[key] || humanise(key);
  if (split === 'imd_decile') {
    if (key === 'unknown') return 'Not known';
    return key === '1' ? '1 (most deprived)' : key === '10' ? '10 (least deprived)' : key;
  }
  if (split === 'cohort' && key === 'none') return 'None of these';
  if (split === 'total') return 'Everyone';
  return LISTS[split] ? label(LISTS[split], key) : humanise(key);
}

export const splitText = (s) => (SPLITS.find((x) => x[0] === s) || [s, s === 'age_band_return' ? 'Age (return bands)' : humanise(s)])[1];

/** A count withheld by small-number suppression arrives as a string such as "<5". */
export const isHidden = (v) => typeof v === 'string';
export const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

const nf = new Intl.NumberFormat('en-GB');
/** A count: a number, "<5" with words for screen readers, or a dash. */
export function count(v) {
  if (isHidden(v)) return h('span', { class: 'cb-hidden-n' }, v, h('span', { class: 'nhsuk-u-visually-hidden', text: ' (a small number, not shown)' }));
  return isNum(v) ? nf.format(v) : '—';
}
export const countText = (v) => (isHidden(v) ? v : isNum(v) ? nf.format(v) : '—');

/** 0.2081 -> "20.8%" */
export const pct = (v) => (isNum(v) ? `${(v * 100).toFixed(1).replace(/\.0$/, '')}%` : '—');
/** A mean to 1 dp (2 with dp). */
export const mean = (v, dp = 1) => (isNum(v) ? v.toFixed(dp) : '—');
/** A signed change: "+2.35", "−0.40". */
export const change = (v, dp = 2) => (isNum(v) ? `${v > 0 ? '+' : v < 0 ? '−' : ''}${Math.abs(v).toFixed(dp)}` : '—');

/** Report parameters that are filters (shared by the outcomes, people and reach screens). */
export const FILTER_KEYS = ['from', 'to', 'team', 'venue', 'coach', 'programme', 'topic', 'cohort'];

export function pick(query, keys) {
  const o = {};
  for (const k of keys) {
    const v = query.get ? query.get(k) : query[k];
    if (v) o[k] = v;
  }
  return o;
}

const AREA = {
  swemwbs: 'Wellbeing (SWEMWBS)', ons4: 'Personal wellbeing (ONS4)', gppaq: 'Physical activity (GPPAQ)', bmi: 'BMI', weight_kg: 'Weight',
  audit_c: 'Alcohol (AUDIT-C)', smoking: 'Stopping smoking', goals: 'Goals', group_attendance: 'Group sessions',
};
const WHAT = {
  pairs: 'with a baseline and a follow-up', improved: 'meaningfully improved', declined: 'meaningfully declined',
  no_meaningful_change: 'no meaningful change', moved_up: 'more active', moved_down: 'less active', no_change: 'no change',
  positive_at_baseline: 'positive at baseline', positive_at_followup: 'positive at follow-up', quit_dates_set: 'quit dates set',
  quits_self_reported: '4-week quits (self-reported)', quits_co_validated: '4-week quits (CO-validated)', agreed: 'goals agreed',
  people: 'people with a goal', fully_achieved: 'fully achieved', partly_achieved: 'partly achieved', not_achieved: 'not achieved',
  open: 'still open', attended: 'attended', absent: 'absent', apologies: 'apologies',
};

/** Words for a figure of the outcomes report, by its dotted path. */
export function figureText(f) {
  const [a, b, c, d] = String(f).split('.');
  const w = (k) => {
    for (const list of [ENCOUNTER_TYPES, REFERRAL_DESTINATIONS, REFERRAL_STATUSES]) {
      const hit = list.find((o) => o.value === k);
      if (hit) return hit.text;
    }
    return humanise(k);
  };
  if (a === 'people_seen') return 'People seen';
  if (a === 'contacts') return b === 'total' ? 'Contacts' : `Contacts: ${w(b)}`;
  if (a === 'referrals') {
    if (b === 'total') return 'Onward referrals';
    if (b === 'by_status') return `Onward referrals: ${w(c).toLowerCase()}`;
    return `Referrals to ${w(c).toLowerCase()}${d && d !== 'total' ? `: ${w(d).toLowerCase()}` : ''}`;
  }
  return `${AREA[a] || humanise(a)}: ${WHAT[b] || humanise(b || '')}`;
}
