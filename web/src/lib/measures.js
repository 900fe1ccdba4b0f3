// Outcome measures on the tablet: the published wording of each
// questionnaire, words for codes and bands, and live scoring ported from
// docs/MEASURES.md.  The live score is feedback while the form is filled in;
// the server scores every measure again when it is saved, and that stored
// result is the one shown afterwards.

export const ORDER = [
  'swemwbs', 'phq9', 'gad7', 'bmi', 'bp', 'whtr', 'gppaq', 'ipaq_short', 'audit_c', 'smoking', 'hsi',
  'ons4', 'wemwbs', 'tug', 'cfs', 'qrisk', 'bowel_screening',
];

export const SHORT = {
  swemwbs: 'SWEMWBS (wellbeing)', wemwbs: 'WEMWBS (wellbeing)', ons4: 'ONS4 personal wellbeing', phq9: 'PHQ-9 (mood)',
  gad7: 'GAD-7 (anxiety)', gppaq: 'GPPAQ (physical activity)', ipaq_short: 'IPAQ short form (physical activity)',
  audit_c: 'AUDIT-C (alcohol)', hsi: 'Heaviness of Smoking Index', smoking: 'Smoking status', bmi: 'BMI (height and weight)',
  whtr: 'Waist-to-height ratio', bp: 'Blood pressure', qrisk: 'QRISK (from the GP record)', cfs: 'Clinical Frailty Scale',
  tug: 'Timed Up and Go', bowel_screening: 'Bowel screening kit',
};

export const shortName = (id) => SHORT[id] || id;

const answers = (texts, start = 0) => texts.map((text, i) => ({ value: String(i + start), text }));
const FREQ5 = answers(['None of the time', 'Rarely', 'Some of the time', 'Often', 'All of the time'], 1);
const PHQ = answers(['Not at all', 'Several days', 'More than half the days', 'Nearly every day']);
const ZERO_TEN = answers(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
const WARWICK_STEM = 'Below are some statements about feelings and thoughts. Please tick the box that best describes your experience of each over the last 2 weeks.';

/** Wording of the questionnaires, as published. */
export const QUESTIONS = {
  swemwbs: {
    stem: WARWICK_STEM,
    answers: FREQ5,
    items: [
      'I’ve been feeling optimistic about the future', 'I’ve been feeling useful', 'I’ve been feeling relaxed',
      'I’ve been dealing with problems well', 'I’ve been thinking clearly', 'I’ve been feeling close to other people',
      'I’ve been able to make up my own mind about things',
    ],
  },
  wemwbs: {
    stem: WARWICK_STEM,
    answers: FREQ5,
    items: [
      'I’ve been feeling optimistic about the future', 'I’ve been feeling useful', 'I’ve been feeling relaxed',
      'I’ve been feeling interested in other people', 'I’ve had energy to spare', 'I’ve been dealing with problems well',
      'I’ve been thinking clearly', 'I’ve been feeling good about myself', 'I’ve been feeling close to other people',
      'I’ve been feeling confident', 'I’ve been able to make up my own mind about things', 'I’ve been feeling loved',
      'I’ve been interested in new things', 'I’ve been feeling cheerful',
    ],
  },
  phq9: {
    stem: 'Over the last 2 weeks, how often have you been bothered by any of the following problems?',
    answers: PHQ,
    items: [
      'Little interest or pleasure in doing things', 'Feeling down, depressed, or hopeless',
      'Trouble falling or staying asleep, or sleeping too much', 'Feeling tired or having little energy',
      'Poor appetite or overeating',
      'Feeling bad about yourself, or that you are a failure or have let yourself or your family down',
      'Trouble concentrating on things, such as reading the newspaper or watching television',
      'Moving or speaking so slowly that other people could have noticed, or the opposite: being so fidgety or restless that you have been moving around a lot more than usual',
      'Thoughts that you would be better off dead, or of hurting yourself in some way',
    ],
  },
  gad7: {
    stem: 'Over the last 2 weeks, how often have you been bothered by the following problems?',
    answers: PHQ,
    items: [
      'Feeling nervous, anxious or on edge', 'Not being able to stop or control worrying',
      'Worrying too much about different things', 'Trouble relaxing', 'Being so restless that it is hard to sit still',
      'Becoming easily annoyed or irritable', 'Feeling afraid as if something awful might happen',
    ],
  },
  ons4: {
    stem: 'Answer on a scale of 0 to 10, where 0 is “not at all” and 10 is “completely”.',
    answers: ZERO_TEN,
    items: [
      'Overall, how satisfied are you with your life nowadays?',
      'Overall, to what extent do you feel that the things you do in your life are worthwhile?',
      'Overall, how happy did you feel yesterday?',
      'Overall, how anxious did you feel yesterday?',
    ],
  },
  audit_c: {
    stem: 'Item scores are shown next to each answer.',
    items: [
      'How often do you have a drink containing alcohol?',
      'How many units of alcohol do you drink on a typical day when you are drinking?',
      'How often have you had 6 or more units if female, or 8 or more if male, on a single occasion in the last year?',
    ],
    perItem: [
      answers(['Never', 'Monthly or less', '2 to 4 times a month', '2 to 3 times a week', '4 or more times a week']),
      answers(['1 to 2', '3 to 4', '5 to 6', '7 to 9', '10 or more']),
      answers(['Never', 'Less than monthly', 'Monthly', 'Weekly', 'Daily or almost daily']),
    ],
  },
};

const HOURS = [
  { value: 'none', text: 'None' }, { value: 'lt1', text: 'Some but less than 1 hour' },
  { value: '1to3', text: '1 hour but less than 3 hours' }, { value: 'ge3', text: '3 hours or more' },
];

/** Words for the values of coded keys. */
export const CODE_TEXT = {
  occupation: [
    { value: 'not_employed', text: 'Not in employment', hint: 'Including retired, a student or looking after the home' },
    { value: 'sedentary', text: 'Spends most of their time sitting', hint: 'For example, in an office' },
    { value: 'standing', text: 'Spends most of their time standing or walking', hint: 'For example, a shop assistant or hairdresser' },
    { value: 'physical', text: 'Definite physical effort', hint: 'For example, a plumber, nurse or cleaner' },
    { value: 'heavy_manual', text: 'Vigorous physical activity', hint: 'For example, a scaffolder or construction worker' },
  ],
  hours: HOURS,
  walking_pace: [
    { value: 'slow', text: 'Slow (less than 3 miles an hour)' }, { value: 'steady', text: 'Steady average pace' },
    { value: 'brisk', text: 'Brisk' }, { value: 'fast', text: 'Fast (more than 4 miles an hour)' },
  ],
  smoking_status: [
    { value: 'never', text: 'Never smoked' }, { value: 'ex_smoker', text: 'Ex-smoker' },
    { value: 'current', text: 'Smokes now' }, { value: 'quit_attempt', text: 'Making a quit attempt', hint: 'Has set a quit date' },
  ],
  bowel_status: [
    { value: 'not_yet_eligible', text: 'Not yet eligible' }, { value: 'kit_not_received', text: 'Kit not received' },
    { value: 'kit_received_not_returned', text: 'Kit received, not returned' }, { value: 'kit_returned', text: 'Kit returned' },
    { value: 'declined', text: 'Declined screening' },
  ],
  cfs_level: answers(['Very fit', 'Fit', 'Managing well', 'Living with very mild frailty', 'Living with mild frailty',
    'Living with moderate frailty', 'Living with severe frailty', 'Living with very severe frailty', 'Terminally ill'], 1)
    .map((o) => ({ value: o.value, text: `${o.value} ${o.text}` })),
};

/** Labels for physical measure keys (the server's are terse). */
export const KEY_LABELS = {
  height_cm: 'Height', weight_kg: 'Weight', waist_cm: 'Waist circumference',
  systolic: 'Systolic (top number)', diastolic: 'Diastolic (bottom number)',
  standing_systolic: 'Systolic after standing for 1 minute (optional)', seconds: 'Time taken',
  score: 'QRISK 10-year risk', date: 'Date of the QRISK score', source: 'Where it was taken from',
  minutes_to_first: 'Minutes from waking to the first cigarette', cigarettes_per_day: 'Cigarettes a day',
  quit_date: 'Quit date', followup_date: '4-week follow-up date', self_reported_quit: 'Says they have not smoked since 2 weeks after the quit date',
  co_ppm: 'Carbon monoxide reading (optional)', status_date: 'Date of this status (optional)',
  kit_received_date: 'Date the kit arrived', kit_returned_date: 'Date the kit was returned',
  after_support: 'Kit returned after coaching support', level: 'Clinical Frailty Scale level',
  vigorous_days: 'Days of vigorous activity in the last 7 days', vigorous_minutes: 'Minutes of vigorous activity on one of those days',
  moderate_days: 'Days of moderate activity in the last 7 days', moderate_minutes: 'Minutes of moderate activity on one of those days',
  walking_days: 'Days walking for at least 10 minutes in the last 7 days', walking_minutes: 'Minutes walking on one of those days',
  exercise_hours: 'Physical exercise last week', cycling_hours: 'Cycling last week', walking_hours: 'Walking last week (optional)',
  housework_hours: 'Housework or childcare last week (optional)', gardening_hours: 'Gardening or DIY last week (optional)',
  walking_pace: 'Usual walking pace (optional)', occupation: 'Type and amount of physical activity at work',
  status: 'Status',
};

/** Notes shown with an instrument (clinical guidance from docs/MEASURES.md). */
export const NOTES = {
  bmi: 'Ask permission before measuring or discussing weight.',
  whtr: 'Waist-to-height ratio applies to adults with a BMI under 35.',
  tug: 'Timed Up and Go must never be the only falls indicator.',
  qrisk: 'QRISK is recorded as entered from the GP record; it is not calculated here. QRISK® is a registered trademark of ClinRisk Ltd.',
  bp: 'Clinic readings, sitting. Stage 1 needs confirming with home or ambulatory readings.',
};

const BAND_TEXT = {
  bmi: { underweight: 'Underweight', healthy: 'Healthy weight', overweight: 'Overweight', obesity: 'Obesity',
    obesity_1: 'Obesity class 1', obesity_2: 'Obesity class 2', obesity_3: 'Obesity class 3' },
  whtr: { below_range: 'Below range', healthy: 'Healthy', increased_risk: 'Increased health risk', high_risk: 'High health risk' },
  bp: { normal_range: 'Normal range', stage_1: 'Stage 1 hypertension', stage_2: 'Stage 2 hypertension', severe: 'Severe hypertension' },
  tug: { below_threshold: 'Below falls-risk threshold', raised_falls_risk: 'Raised falls risk' },
  hsi: { low: 'Low dependence', moderate: 'Moderate dependence', high: 'High dependence' },
  ipaq_short: { low: 'Low activity', moderate: 'Moderate activity', high: 'High activity' },
  audit_c: { negative: 'Lower risk', positive: 'Positive: go on to the full AUDIT' },
  smoking: { never_smoked: 'Never smoked', ex_smoker: 'Ex-smoker', current_smoker: 'Smokes now', awaiting_followup: 'Quit attempt: awaiting 4-week follow-up',
    outside_followup_window: 'Follow-up outside the 25 to 42 day window', not_quit: 'Not quit at 4 weeks', quit_self_reported: 'Quit (self-reported)',
    quit_not_co_validated: 'Quit, not CO-validated', quit_co_validated: 'Quit (CO-validated)' },
  bowel_screening: { not_yet_eligible: 'Not yet eligible', kit_not_received: 'Kit not received', kit_received_not_returned: 'Kit received, not returned', kit_returned: 'Kit returned', declined: 'Declined' },
};

export function bandText(instrument, band) {
  if (!band) return '';
  const t = BAND_TEXT[instrument] && BAND_TEXT[instrument][band];
  if (t) return t;
  const s = String(band).replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const RED = new Set(['severe', 'moderately_severe', 'obesity_2', 'obesity_3', 'high_risk', 'stage_2', 'terminally_ill',
  'living_with_severe_frailty', 'living_with_very_severe_frailty']);
const ORANGE = new Set(['moderate', 'obesity', 'obesity_1', 'overweight', 'increased_risk', 'stage_1', 'mild', 'positive',
  'raised_falls_risk', 'inactive', 'moderately_inactive', 'underweight', 'living_with_mild_frailty',
  'living_with_moderate_frailty', 'kit_received_not_returned', 'current_smoker', 'not_quit']);
const GREEN = new Set(['healthy', 'normal_range', 'minimal', 'negative', 'active', 'moderately_active', 'below_threshold',
  'very_fit', 'fit', 'managing_well', 'kit_returned', 'quit_co_validated', 'quit_self_reported', 'never_smoked', 'ex_smoker']);

/** An NHS tag colour for a band. */
export function bandColour(instrument, band) {
  if (!band) return 'grey';
  if (instrument === 'ipaq_short') return band === 'low' ? 'orange' : 'green';
  if (instrument === 'hsi') return { low: 'green', moderate: 'orange', high: 'red' }[band] || 'grey';
  if (RED.has(band)) return 'red';
  if (ORANGE.has(band)) return 'orange';
  if (GREEN.has(band)) return 'green';
  return 'grey';
}

export const FLAG_TEXT = {
  safeguarding: 'Safeguarding: PHQ-9 item 9 answered',
  urgent_same_day: 'Urgent: same-day clinical advice',
  postural_hypotension: 'Postural drop of 20 mmHg or more',
  brief_intervention: 'Brief intervention: below “active”',
  audit_c_positive: 'AUDIT-C positive',
  falls_risk: 'Raised falls risk',
  co_validated_quit: 'CO-validated quit',
  kit_returned_after_support: 'Kit returned after support',
};

// ---------------------------------------------------------------- scoring

/** Half away from zero, with a small epsilon for binary error (docs/MEASURES.md "Rounding"). */
export function roundTo(x, dp) {
  const f = 10 ** dp;
  return (Math.sign(x) * Math.floor(Math.abs(x) * f + 0.5 + 1e-9)) / f;
}

const SWEMWBS_METRIC = [7.0, 9.51, 11.25, 12.4, 13.33, 14.08, 14.75, 15.32, 15.84, 16.36, 16.88, 17.43, 17.98, 18.59,
  19.25, 19.98, 20.73, 21.54, 22.35, 23.21, 24.11, 25.03, 26.02, 27.03, 28.13, 29.31, 30.7, 32.55, 35.0];

export const LOWER_BMI_GROUPS = new Set(['asian_bangladeshi', 'asian_chinese', 'asian_indian', 'asian_pakistani',
  'asian_other', 'black_african', 'black_caribbean', 'black_other', 'mixed_white_asian', 'mixed_white_black_african',
  'mixed_white_black_caribbean', 'other_arab']);

const num = (v) => (v === null || v === undefined || v === '' || Number.isNaN(Number(v)) ? null : Number(v));
const has = (v) => v !== null && v !== undefined && v !== '';

function sumItems(r, n) {
  const keys = Array.from({ length: n }, (_, i) => `q${i + 1}`);
  const missing = keys.filter((k) => num(r[k]) === null);
  const total = keys.reduce((s, k) => s + (num(r[k]) || 0), 0);
  return { missing, total, complete: missing.length === 0 };
}

function bandBy(value, cuts) {
  // cuts: [[upperExclusive, band], ...], last with Infinity
  for (const [u, b] of cuts) if (value < u) return b;
  return null;
}

function catBp(s, d) {
  const cs = s === null ? -1 : s < 140 ? 0 : s < 160 ? 1 : s < 180 ? 2 : 3;
  const cd = d === null ? -1 : d < 90 ? 0 : d < 100 ? 1 : d < 120 ? 2 : 3;
  return Math.max(cs, cd);
}

// GPPAQ hours as the server reads them (server/measures.c, score_gppaq): a
// code stands for a range of hours and counts as its lower bound, open for
// "some but less than 1 hour"; a number counts as itself.
const HOURS_LOWER = { none: [0, false], lt1: [0, true], '1to3': [1, false], ge3: [3, false] };
function hoursLower(v) {
  if (HOURS_LOWER[v]) return HOURS_LOWER[v];
  const n = num(v);
  return n === null || n < 0 ? null : [n, false];
}

/** Exercise + cycling hours, summed and banded none/lt1/1to3/ge3 as 1..4: the lowest band the total could be in. */
function gppaqHoursIndex(a, b) {
  const lo = a[0] + b[0];
  const open = a[1] || b[1];
  return lo >= 3 ? 4 : lo >= 1 ? 3 : lo > 0 || open ? 2 : 1;
}

function daysBetween(a, b) {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86400000);
}

/**
 * Score responses as typed.  Returns { complete, score, band, flags, extra }
 * where extra holds instrument-specific detail (raw score, per-item bands).
 * ctx.ethnicGroup: the person's ethnic group, for BMI thresholds.
 */
export function liveScore(instrument, r, ctx = {}) {
  const out = { complete: false, score: null, band: null, flags: [], extra: {} };
  switch (instrument) {
    case 'swemwbs': {
      const s = sumItems(r, 7);
      if (s.complete) {
        Object.assign(out, { complete: true, score: SWEMWBS_METRIC[s.total - 7], extra: { raw_score: s.total } });
      }
      break;
    }
    case 'wemwbs': {
      const s = sumItems(r, 14);
      if (s.complete) Object.assign(out, { complete: true, score: s.total });
      break;
    }
    case 'phq9': {
      const s = sumItems(r, 9);
      if (num(r.q9) !== null && num(r.q9) >= 1) out.flags.push('safeguarding');
      if (s.complete) {
        out.complete = true;
        out.score = s.total;
        out.band = bandBy(s.total, [[5, 'minimal'], [10, 'mild'], [15, 'moderate'], [20, 'moderately_severe'], [Infinity, 'severe']]);
      }
      break;
    }
    case 'gad7': {
      const s = sumItems(r, 7);
      if (s.complete) {
        out.complete = true;
        out.score = s.total;
        out.band = bandBy(s.total, [[5, 'minimal'], [10, 'mild'], [15, 'moderate'], [Infinity, 'severe']]);
      }
      break;
    }
    case 'audit_c': {
      const s = sumItems(r, 3);
      if (s.complete) {
        out.complete = true;
        out.score = s.total;
        out.band = s.total >= 5 ? 'positive' : 'negative';
        if (s.total >= 5) out.flags.push('audit_c_positive');
      }
      break;
    }
    case 'ons4': {
      const bands = {};
      ['q1', 'q2', 'q3'].forEach((k) => {
        const v = num(r[k]);
        if (v !== null) bands[k] = bandBy(v, [[5, 'low'], [7, 'medium'], [9, 'high'], [Infinity, 'very_high']]);
      });
      const a = num(r.q4);
      if (a !== null) bands.q4 = bandBy(a, [[2, 'very_low'], [4, 'low'], [6, 'medium'], [Infinity, 'high']]);
      out.extra.bands = bands;
      out.complete = Object.keys(bands).length === 4;
      break;
    }
    case 'hsi': {
      const m = num(r.minutes_to_first);
      const c = num(r.cigarettes_per_day);
      if (m !== null && c !== null) {
        const pm = m <= 5 ? 3 : m <= 30 ? 2 : m <= 60 ? 1 : 0;
        const pc = c <= 10 ? 0 : c <= 20 ? 1 : c <= 30 ? 2 : 3;
        out.complete = true;
        out.score = pm + pc;
        out.band = out.score <= 1 ? 'low' : out.score <= 4 ? 'moderate' : 'high';
      }
      break;
    }
    case 'bmi': {
      const hcm = num(r.height_cm);
      const w = num(r.weight_kg);
      if (hcm !== null && w !== null && hcm >= 50 && hcm <= 250 && w >= 20 && w <= 400) {
        const m = hcm / 100;
        const v = roundTo(w / (m * m), 1);
        const lower = LOWER_BMI_GROUPS.has(r.ethnic_group || ctx.ethnicGroup);
        out.complete = true;
        out.score = v;
        out.band = lower
          ? bandBy(v, [[18.5, 'underweight'], [23, 'healthy'], [27.5, 'overweight'], [Infinity, 'obesity']])
          : bandBy(v, [[18.5, 'underweight'], [25, 'healthy'], [30, 'overweight'], [35, 'obesity_1'], [40, 'obesity_2'], [Infinity, 'obesity_3']]);
        out.extra.thresholds = lower ? 'south_asian_etc' : 'standard';
      }
      break;
    }
    case 'whtr': {
      const wc = num(r.waist_cm);
      const hc = num(r.height_cm);
      if (wc !== null && hc !== null && wc >= 30 && hc >= 50) {
        const v = roundTo(wc / hc, 2);
        out.complete = true;
        out.score = v;
        out.band = bandBy(v, [[0.4, 'below_range'], [0.5, 'healthy'], [0.6, 'increased_risk'], [Infinity, 'high_risk']]);
      }
      break;
    }
    case 'bp': {
      const s = num(r.systolic);
      const d = num(r.diastolic);
      const c = catBp(s, d);
      if (c === 3) out.flags.push('urgent_same_day'); // even before both are typed
      if (s !== null && d !== null) {
        out.complete = true;
        out.band = ['normal_range', 'stage_1', 'stage_2', 'severe'][c];
        out.extra.reading = `${s}/${d}`;
      }
      const st = num(r.standing_systolic);
      if (s !== null && st !== null) {
        out.extra.postural_drop = s - st;
        if (s - st >= 20) out.flags.push('postural_hypotension');
      }
      break;
    }
    case 'tug': {
      const t = num(r.seconds);
      if (t !== null) {
        const v = roundTo(t, 1);
        out.complete = true;
        out.score = v;
        out.band = v >= 12 ? 'raised_falls_risk' : 'below_threshold';
        if (v >= 12) out.flags.push('falls_risk');
      }
      break;
    }
    case 'cfs': {
      const l = num(r.level);
      if (l !== null && l >= 1 && l <= 9) {
        out.complete = true;
        out.score = l;
        out.band = ['very_fit', 'fit', 'managing_well', 'living_with_very_mild_frailty', 'living_with_mild_frailty',
          'living_with_moderate_frailty', 'living_with_severe_frailty', 'living_with_very_severe_frailty', 'terminally_ill'][l - 1];
      }
      break;
    }
    case 'qrisk': {
      const v = num(r.score);
      if (v !== null) Object.assign(out, { complete: true, score: v });
      break;
    }
    case 'gppaq': {
      const ex = hoursLower(r.exercise_hours);
      const cy = hoursLower(r.cycling_hours);
      const offset = { not_employed: 0, sedentary: 0, standing: 1, physical: 2, heavy_manual: 3 }[r.occupation];
      if (ex !== null && cy !== null && offset !== undefined) {
        const pai = Math.min(4, gppaqHoursIndex(ex, cy) + offset);
        out.complete = true;
        out.score = pai;
        out.band = ['inactive', 'moderately_inactive', 'moderately_active', 'active'][pai - 1];
        if (pai < 4) out.flags.push('brief_intervention');
      }
      break;
    }
    case 'ipaq_short': {
      const d = { v: num(r.vigorous_days), m: num(r.moderate_days), w: num(r.walking_days) };
      if (d.v === null || d.m === null || d.w === null) break;
      const mins = (days, key) => (days > 0 ? num(r[key]) : 0);
      const t = { v: mins(d.v, 'vigorous_minutes'), m: mins(d.m, 'moderate_minutes'), w: mins(d.w, 'walking_minutes') };
      if (t.v === null || t.m === null || t.w === null) break;
      const cap = (x) => Math.min(180, x);
      // in tenths of a MET-minute, so 3.3 is exact
      const total = (33 * cap(t.w) * d.w + 40 * cap(t.m) * d.m + 80 * cap(t.v) * d.v) / 10;
      const days = d.v + d.m + d.w;
      let band = 'low';
      if ((d.v >= 3 && total >= 1500) || (days >= 7 && total >= 3000)) band = 'high';
      else if ((d.v >= 3 && t.v >= 20) || ((t.m >= 30 ? d.m : 0) + (t.w >= 30 ? d.w : 0) >= 5) || (days >= 5 && total >= 600)) band = 'moderate';
      Object.assign(out, { complete: true, score: total, band });
      break;
    }
    case 'smoking': {
      const st = r.status;
      if (!st) break;
      out.complete = true;
      if (st === 'never') out.band = 'never_smoked';
      else if (st === 'ex_smoker') out.band = 'ex_smoker';
      else if (st === 'current') out.band = 'current_smoker';
      else if (st === 'quit_attempt') {
        if (!has(r.followup_date) || !has(r.quit_date)) out.band = 'awaiting_followup';
        else {
          const days = daysBetween(r.quit_date, r.followup_date);
          const quit = r.self_reported_quit === true || r.self_reported_quit === 'yes';
          const co = num(r.co_ppm);
          if (days < 25 || days > 42) out.band = 'outside_followup_window';
          else if (!quit) out.band = 'not_quit';
          else if (co === null) out.band = 'quit_self_reported';
          else if (co >= 10) out.band = 'quit_not_co_validated';
          else {
            out.band = 'quit_co_validated';
            out.flags.push('co_validated_quit');
          }
        }
      }
      break;
    }
    case 'bowel_screening': {
      if (!r.status) break;
      out.complete = true;
      out.band = r.status;
      if (r.status === 'kit_returned' && (r.after_support === true || r.after_support === 'yes')) {
        out.flags.push('kit_returned_after_support');
      }
      break;
    }
    default:
      break;
  }
  return out;
}

/** "19.98" / "27.7 kg/m²" / "162/94 mmHg": the headline of a result. */
export function scoreText(instrument, score, result, responses) {
  const r = result || {};
  if (instrument === 'bp') {
    const x = responses || r.raw || {};
    return x.systolic && x.diastolic ? `${x.systolic}/${x.diastolic} mmHg` : r.reading ? `${r.reading} mmHg` : '';
  }
  if (score === null || score === undefined) return '';
  switch (instrument) {
    case 'swemwbs': return `${Number(score).toFixed(2)}${r.raw_score ? ` (raw score ${r.raw_score})` : ''}`;
    case 'bmi': return `${Number(score).toFixed(1)} kg/m²`;
    case 'whtr': return Number(score).toFixed(2);
    case 'tug': return `${Number(score).toFixed(1)} seconds`;
    case 'qrisk': return `${score}%`;
    case 'ipaq_short': return `${score} MET-minutes a week`;
    case 'gppaq': return `Physical Activity Index ${score} of 4`;
    default: return String(score);
  }
}

/** Maximum for a chart's y axis where the instrument has a fixed range. */
export const SCALE = {
  swemwbs: [7, 35], wemwbs: [14, 70], phq9: [0, 27], gad7: [0, 21], audit_c: [0, 12], hsi: [0, 6], cfs: [1, 9],
  gppaq: [1, 4],
};
