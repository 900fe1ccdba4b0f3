// A participant's record: summary, consent, timeline, measures with trend
// charts, goals with reviews, referrals.  Anything still waiting on this
// tablet is shown too, marked "Not sent yet".
import { api, ApiError } from '../lib/api.js';
import {
  COHORTS, CONSENT_KINDS, CONTACT_PREFS, EMPLOYMENT, ENCOUNTER_TYPES, GOAL_STATUSES, MAIN_BARRIERS, REFERRAL_DESTINATIONS,
  REFERRAL_SOURCES, REFERRAL_STATUSES, SEX, TIMEPOINTS, ethnicGroupText, label, topicText,
} from '../lib/codes.js';
import { add, fill, h, tag } from '../lib/dom.js';
import { flash } from '../lib/flash.js';
import {
  ageOn, formatDate, formatDateTime, formatNhsNumber, formatWhen, fullName, displayName, todayYmd,
} from '../lib/format.js';
import { loadInstruments, noticeOf } from '../lib/instruments.js';
import { bandColour, bandText, FLAG_TEXT, liveScore, scoreText, SCALE, shortName, ORDER } from '../lib/measures.js';
import { navigate } from '../lib/router.js';
import { session } from '../lib/session.js';
import { loadTeams, teamName } from '../lib/teams.js';
import { notificationBanner } from '../components/banner.js';
import { trendChart } from '../components/chart.js';
import { apiErrorText, errorSummary, formErrors, loadError } from '../components/errors.js';
import { dateField, dateValue, radiosField, selectField, setDate, textareaField } from '../components/fields.js';
import { dataTable } from '../components/table.js';
import { listOf, loadPerson, merge, pendingFor } from './personData.js';

const PAGE = 15;

function summaryRow(key, value) {
  return h('div', { class: 'nhsuk-summary-list__row' },
    h('dt', { class: 'nhsuk-summary-list__key', text: key }),
    h('dd', { class: 'nhsuk-summary-list__value' }, value));
}
const notRecorded = () => h('span', { class: 'cb-muted', text: 'Not recorded' });
const orNot = (v) => (v === null || v === undefined || v === '' || (Array.isArray(v) && !v.length) ? notRecorded() : v);
const notSent = (e) => (e && e.pending ? tag(e.failed ? 'Not sent: needs attention' : 'Not sent yet', e.failed ? 'red' : 'orange') : null);

function section(id, title, ...children) {
  return h('section', { class: 'cb-section', id, 'aria-labelledby': `${id}-title`, tabindex: '-1' },
    h('h2', { class: 'cb-section__title', id: `${id}-title`, text: title }), children);
}

function rerender(message) {
  if (message) flash.set(message);
  navigate(location.hash);
}

// ---------------------------------------------------------------- summary

function statusText(p) {
  if (p.status !== 'discharged') return 'Active';
  return `Discharged${p.discharge_date ? ` on ${formatDate(p.discharge_date)}` : ''}${p.discharge_reason ? `: ${p.discharge_reason}` : ''}`;
}

function details(p) {
  const age = ageOn(p.date_of_birth);
  const cohorts = COHORTS.filter((c) => p[c.value] === true).map((c) => c.text).join(', ');
  const main = h('dl', { class: 'nhsuk-summary-list cb-summary' },
    summaryRow('Date of birth', `${formatDate(p.date_of_birth)}${age !== null ? ` (${age} years old)` : ''}`),
    summaryRow('NHS number', p.nhs_number ? formatNhsNumber(p.nhs_number) : notRecorded()),
    summaryRow('Phone', orNot(p.phone)),
    summaryRow('Postcode', orNot(p.postcode)),
    summaryRow('Main reasons for coming', orNot((p.topics || []).map(topicText).join(', '))),
    summaryRow('Status', statusText(p)));
  const more = h('dl', { class: 'nhsuk-summary-list cb-summary' },
    summaryRow('Preferred name', orNot(p.preferred_name)),
    summaryRow('Email', orNot(p.email)),
    summaryRow('Happy to be contacted by', orNot((p.contact_preferences || []).map((c) => label(CONTACT_PREFS, c)).join(', '))),
    summaryRow('GP practice', orNot(p.gp_practice)),
    summaryRow('Sex', orNot(label(SEX, p.sex))),
    summaryRow('Gender identity', orNot(p.gender_identity)),
    summaryRow('Ethnic group', p.ethnic_group ? ethnicGroupText(p.ethnic_group) : notRecorded()),
    summaryRow('Applies to them', orNot(cohorts)),
    summaryRow('Employment', orNot(label(EMPLOYMENT, p.employment_status))),
    summaryRow('Heard about Live Well from', orNot(label(REFERRAL_SOURCES, p.referral_source))),
    summaryRow('Main health barrier', orNot(label(MAIN_BARRIERS, p.main_barrier))),
    summaryRow('Team', orNot(teamName(p.team))),
    summaryRow('Coach', p.assigned_coach ? (p.assigned_coach === (session.user || {}).id ? 'You' : 'Another coach') : notRecorded()),
    summaryRow('Registered', p.created_at ? formatDateTime(p.created_at) : notRecorded()));
  return h('div', null, main,
    h('details', { class: 'nhsuk-details' },
      h('summary', { class: 'nhsuk-details__summary' }, h('span', { class: 'nhsuk-details__summary-text', text: 'All their details' })),
      h('div', { class: 'nhsuk-details__text' }, more)));
}

// ---------------------------------------------------------------- consent

function consentSection(p, consents, error) {
  const rows = CONSENT_KINDS.map((k) => {
    const latest = consents.filter((c) => c.kind === k.value)
      .sort((a, b) => (b.date || '').localeCompare(a.date || '') || (b.created_at || '').localeCompare(a.created_at || ''))[0];
    const value = latest
      ? h('span', null, tag(latest.given ? 'Given' : 'Not given', latest.given ? 'green' : 'red'), ` on ${formatDate(latest.date)}`,
        latest.notes ? h('span', { class: 'cb-block cb-muted', text: latest.notes }) : null, notSent(latest))
      : tag('Not recorded', 'grey');
    return summaryRow(k.text, value);
  });

  const summary = errorSummary();
  const kind = radiosField({ id: 'consent_kind', legend: 'What is it about?', options: CONSENT_KINDS });
  const given = radiosField({ id: 'consent_given', legend: 'Do they agree?', inline: true, options: [{ value: 'yes', text: 'Yes' }, { value: 'no', text: 'No' }] });
  const date = dateField({ id: 'consent_date', legend: 'Date they said so', hint: 'For example, 26 11 2026' });
  setDate(date, todayYmd());
  const notes = textareaField({ id: 'consent_notes', label: 'Notes (optional)', rows: 2 });
  const errors = formErrors(summary, [kind, given, date, notes], { kind: 'consent_kind', given: 'consent_given', date: 'consent_date', notes: 'consent_notes' });
  const button = h('button', { class: 'nhsuk-button', type: 'submit', text: 'Save consent' });
  const form = h('form', { novalidate: true, 'aria-label': 'Record consent' }, summary.el, kind.el, given.el, date.el, notes.el, button);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const problems = [];
    if (!kind.value()) problems.push({ field: 'consent_kind', text: 'Select what the consent is about' });
    if (!given.value()) problems.push({ field: 'consent_given', text: 'Select whether they agree' });
    const d = dateValue(date, 'Date they said so', { notFuture: true, today: todayYmd() });
    if (d.error) problems.push({ field: 'consent_date', text: d.error, parts: d.parts });
    if (problems.length) {
      errors.show(problems);
      return;
    }
    button.disabled = true;
    try {
      const body = { participant_id: p.id, kind: kind.value(), given: given.value() === 'yes', date: d.ymd };
      if (notes.value().trim()) body.notes = notes.value().trim();
      const r = await api.createRecord('consents', body, `Consent for ${fullName(p)}`);
      rerender({ heading: 'Consent recorded', text: r.queued ? 'Saved on this tablet; it will be sent when the server can be reached.' : null, anchor: 'consent' });
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      errors.show([{ field: err.field, text: apiErrorText(err) }]);
    } finally {
      button.disabled = false;
    }
  });
  return section('consent', 'Consent',
    error ? loadError(error, 'Consent') : h('dl', { class: 'nhsuk-summary-list' }, rows),
    h('details', { class: 'nhsuk-details' },
      h('summary', { class: 'nhsuk-details__summary' }, h('span', { class: 'nhsuk-details__summary-text', text: 'Record consent' })),
      h('div', { class: 'nhsuk-details__text' }, form)));
}

// ---------------------------------------------------------------- timeline

const typeText = (v) => label(ENCOUNTER_TYPES, v);

function timelineText(it) {
  switch (it.kind) {
    case 'encounter':
      return {
        title: typeText(it.type),
        colour: it.type === 'dna' ? 'orange' : 'blue',
        lines: [
          [it.duration_minutes ? `${it.duration_minutes} minutes` : null, (it.topics || []).map(topicText).join(', ') || null].filter(Boolean).join(' · '),
          it.notes_excerpt || it.notes || null,
        ],
      };
    case 'attendance':
      return {
        title: `Group: ${it.status === 'attended' ? 'attended' : it.status === 'apologies' ? 'sent apologies' : 'absent'}`,
        colour: it.status === 'attended' ? 'green' : it.status === 'apologies' ? 'grey' : 'orange',
        lines: [`${it.programme_name || 'Group programme'}${it.session_number ? `, session ${it.session_number}` : ''}`],
      };
    case 'measure': {
      const s = scoreText(it.instrument, it.score, it.result, it.responses);
      return {
        title: shortName(it.instrument), colour: 'purple',
        lines: [[s, bandText(it.instrument, it.band), label(TIMEPOINTS, it.timepoint)].filter(Boolean).join(' · ') || (it.complete === false ? 'Incomplete' : '')],
      };
    }
    case 'goal':
      return { title: 'Goal agreed', colour: 'aqua-green', lines: [it.text, label(GOAL_STATUSES, it.status)] };
    case 'goal_review':
      return { title: 'Goal reviewed', colour: 'aqua-green', lines: [label(GOAL_STATUSES, it.status), it.note_excerpt || it.note || null] };
    case 'referral':
      return { title: `Referral: ${label(REFERRAL_DESTINATIONS, it.destination)}`, colour: 'pink', lines: [label(REFERRAL_STATUSES, it.status), it.destination_detail] };
    default:
      return { title: it.kind, colour: 'grey', lines: [] };
  }
}

function timelineItem(it) {
  const t = timelineText(it);
  return h('li', { class: 'cb-tl__item', 'data-kind': it.kind },
    h('p', { class: 'cb-tl__when', text: formatWhen(it.at, { short: true }) }),
    h('div', { class: 'cb-tl__body' },
      h('h3', { class: 'cb-tl__title' }, tag(t.title, t.colour), notSent(it)),
      t.lines.filter(Boolean).map((l) => h('p', { class: 'cb-tl__line', text: l }))));
}

/** Build timeline items from the separate lists (server without /timeline, and pending writes). */
function toTimeline({ encounters = [], measures = [], goals = [], reviews = [], referrals = [], attendance = [] }) {
  return [
    ...encounters.map((e) => ({ ...e, kind: 'encounter', at: e.occurred_at })),
    ...measures.map((m) => ({ ...m, kind: 'measure', at: m.taken_at })),
    ...goals.map((g) => ({ ...g, kind: 'goal', at: g.agreed_date })),
    ...reviews.map((r) => ({ ...r, kind: 'goal_review', at: r.reviewed_on })),
    ...referrals.map((r) => ({ ...r, kind: 'referral', at: r.sent_date })),
    ...attendance.map((a) => ({ ...a, kind: 'attendance', at: a.starts_at || a.created_at })),
  ];
}

const sortKey = (at) => (/^\d{4}-\d{2}-\d{2}$/.test(at || '') ? `${at}T00:00:00.000Z` : at || '');

function timelineSection(items, error, truncated) {
  const sorted = [...items].sort((a, b) => sortKey(b.at).localeCompare(sortKey(a.at)));
  const list = h('ol', { class: 'cb-tl', 'aria-label': 'Newest first' });
  let shown = 0;
  const more = h('button', { class: 'nhsuk-button nhsuk-button--secondary', type: 'button', text: 'Show more' });
  const showMore = () => {
    const next = sorted.slice(shown, shown + PAGE);
    next.forEach((it) => list.appendChild(timelineItem(it)));
    shown += next.length;
    more.hidden = shown >= sorted.length;
    return next;
  };
  more.addEventListener('click', () => {
    const added = showMore();
    const first = added.length && list.children[shown - added.length];
    if (first) {
      first.setAttribute('tabindex', '-1');
      first.focus();
    }
  });
  showMore();
  return section('timeline', 'Timeline',
    error ? loadError(error, 'The timeline') : null,
    !sorted.length && !error ? h('p', { class: 'cb-muted', text: 'Nothing recorded yet.' }) : list,
    more,
    truncated ? h('p', { class: 'cb-muted', text: 'Only the most recent 500 entries are shown.' }) : null);
}

// ---------------------------------------------------------------- measures

function measureTable(inst, ms) {
  return dataTable({
    caption: `${shortName(inst)} results`, captionClass: 'nhsuk-u-visually-hidden', extraClass: 'cb-table-compact',
    cols: ['Date', 'Timepoint', 'Result', 'Band'],
    rows: ms.map((m) => [
      h('span', { class: 'cb-nowrap', text: formatWhen(m.taken_at, { short: true }) }),
      label(TIMEPOINTS, m.timepoint),
      h('span', null,
        scoreText(inst, m.score, m.result, m.responses) || (m.complete === false ? 'Incomplete' : '—'),
        m.pending ? h('span', { class: 'cb-block cb-muted', text: 'Provisional: scored on this tablet' }) : null,
        notSent(m),
        (m.flags || []).map((f) => h('span', { class: 'cb-block' }, tag(FLAG_TEXT[f] || f, 'red')))),
      m.band ? tag(bandText(inst, m.band), bandColour(inst, m.band)) : '—',
    ]),
  });
}

function charts(inst, ms) {
  const asc = [...ms].reverse();
  const pts = (fn) => asc.map((m) => ({ at: m.taken_at, value: fn(m) })).filter((p) => Number.isFinite(p.value));
  const n = (v) => (v === null || v === undefined || v === '' ? NaN : Number(v));
  const out = [];
  if (inst === 'bmi') {
    const b = pts((m) => n(m.score));
    if (b.length) out.push(trendChart({ title: 'BMI over time (kg/m²)', series: [{ name: 'BMI', points: b }], format: (v) => v.toFixed(1) }));
    const w = pts((m) => n(m.responses && m.responses.weight_kg));
    if (w.length) out.push(trendChart({ title: 'Weight over time (kg)', series: [{ name: 'Weight', points: w }], unit: ' kg', format: (v) => String(Math.round(v * 10) / 10) }));
  } else if (inst === 'bp') {
    const s = pts((m) => n(m.responses && m.responses.systolic));
    const d = pts((m) => n(m.responses && m.responses.diastolic));
    if (s.length) out.push(trendChart({ title: 'Blood pressure over time (mmHg)', series: [{ name: 'Systolic', points: s }, { name: 'Diastolic', points: d }], unit: ' mmHg', format: (v) => String(Math.round(v)) }));
  } else if (inst === 'ons4') {
    const names = ['Life satisfaction', 'Worthwhile', 'Happy yesterday', 'Anxious yesterday'];
    const series = names.map((name, i) => ({ name, points: pts((m) => n(m.responses && m.responses[`q${i + 1}`])) })).filter((s) => s.points.length);
    if (series.length) out.push(trendChart({ title: 'ONS4 answers over time (0 to 10)', series, range: [0, 10], format: (v) => String(Math.round(v)) }));
  } else {
    const s = pts((m) => n(m.score));
    const title = inst === 'swemwbs' ? 'SWEMWBS metric score over time (7 to 35)' : `${shortName(inst)} over time`;
    if (s.length) out.push(trendChart({ title, series: [{ name: shortName(inst), points: s }], range: SCALE[inst] || null, format: (v) => (inst === 'swemwbs' ? v.toFixed(2).replace(/\.00$/, '') : String(Math.round(v * 100) / 100)) }));
  }
  return out;
}

function measuresSection(measures, error) {
  const byInst = new Map();
  for (const m of measures) {
    if (!byInst.has(m.instrument)) byInst.set(m.instrument, []);
    byInst.get(m.instrument).push(m);
  }
  const order = [...byInst.keys()].sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b));
  const blocks = order.map((inst) => {
    const ms = byInst.get(inst).sort((a, b) => (b.taken_at || '').localeCompare(a.taken_at || ''));
    const latest = ms[0];
    const notice = noticeOf(inst, latest.result);
    return h('div', { class: 'cb-measure', id: `measure-${inst}` },
      h('h3', { class: 'nhsuk-heading-s', text: shortName(inst) }),
      h('p', { class: 'cb-measure__latest' }, 'Latest: ',
        h('strong', { text: scoreText(inst, latest.score, latest.result, latest.responses) || (latest.complete === false ? 'Incomplete' : bandText(inst, latest.band) || '—') }),
        latest.band && scoreText(inst, latest.score, latest.result, latest.responses) ? [' ', tag(bandText(inst, latest.band), bandColour(inst, latest.band))] : null,
        ` on ${formatWhen(latest.taken_at, { short: true })}`),
      charts(inst, ms),
      measureTable(inst, ms),
      notice ? h('p', { class: 'cb-notice-text', text: notice }) : null);
  });
  return section('measures', 'Measures',
    error ? loadError(error, 'Measures') : null,
    !blocks.length && !error ? h('p', { class: 'cb-muted', text: 'No measures recorded yet. Add them when you record a contact.' }) : blocks);
}

// ---------------------------------------------------------------- goals

function goalReviewForm(p, g) {
  const id = `review-${g.id}`;
  const summary = errorSummary();
  const date = dateField({ id: `${id}-date`, legend: 'Date reviewed' });
  setDate(date, todayYmd());
  const status = radiosField({ id: `${id}-status`, legend: 'How is it going?', options: GOAL_STATUSES.filter((s) => s.value !== 'agreed') });
  const note = textareaField({ id: `${id}-note`, label: 'Note (optional)', rows: 2 });
  const errors = formErrors(summary, [date, status, note], { reviewed_on: `${id}-date`, status: `${id}-status`, note: `${id}-note` });
  const button = h('button', { class: 'nhsuk-button', type: 'submit', text: 'Save review' });
  const form = h('form', { novalidate: true, 'aria-label': `Review goal: ${g.text}` }, summary.el, date.el, status.el, note.el, button);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const problems = [];
    const d = dateValue(date, 'Date reviewed', { notFuture: true, today: todayYmd() });
    if (d.error) problems.push({ field: `${id}-date`, text: d.error, parts: d.parts });
    if (!status.value()) problems.push({ field: `${id}-status`, text: 'Select how the goal is going' });
    if (problems.length) {
      errors.show(problems);
      return;
    }
    button.disabled = true;
    try {
      const body = { goal_id: g.id, reviewed_on: d.ymd, status: status.value() };
      if (note.value().trim()) body.note = note.value().trim();
      const r = await api.createRecord('goal-reviews', body, { label: `Goal review for ${fullName(p)}`, participantId: p.id });
      rerender({ heading: 'Goal review saved', text: r.queued ? 'Saved on this tablet; it will be sent when the server can be reached.' : null });
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      errors.show([{ field: err.field, text: apiErrorText(err) }]);
    } finally {
      button.disabled = false;
    }
  });
  return h('details', { class: 'nhsuk-details' },
    h('summary', { class: 'nhsuk-details__summary' }, h('span', { class: 'nhsuk-details__summary-text' }, 'Review this goal', h('span', { class: 'nhsuk-u-visually-hidden', text: `: ${g.text}` }))),
    h('div', { class: 'nhsuk-details__text' }, form));
}

function goalsSection(p, goals, reviews, error) {
  const items = goals.map((g) => {
    const rs = reviews.filter((r) => r.goal_id === g.id).sort((a, b) => (b.reviewed_on || '').localeCompare(a.reviewed_on || ''));
    const status = rs.length && rs[0].pending ? rs[0].status : g.status;
    return h('li', { class: 'cb-goal' },
      h('h3', { class: 'cb-goal__text', text: g.text }),
      h('p', { class: 'cb-goal__meta' },
        tag(label(GOAL_STATUSES, status || 'agreed'), status === 'fully_achieved' ? 'green' : status === 'not_achieved' ? 'red' : status === 'partly_achieved' ? 'yellow' : 'blue'),
        ` ${topicText(g.topic)} · agreed ${formatDate(g.agreed_date, { short: true })}${g.target_date ? ` · target ${formatDate(g.target_date, { short: true })}` : ''}`,
        notSent(g)),
      rs.length ? h('ul', { class: 'cb-goal__reviews', 'aria-label': 'Reviews' }, rs.map((r) => h('li', null,
        `${formatDate(r.reviewed_on, { short: true })}: ${label(GOAL_STATUSES, r.status)}${r.note ? `. ${r.note}` : ''}`, notSent(r)))) : null,
      g.pending ? null : goalReviewForm(p, g));
  });
  return section('goals', 'Goals',
    error ? loadError(error, 'Goals') : null,
    items.length ? h('ul', { class: 'cb-goals' }, items) : (!error ? h('p', { class: 'cb-muted', text: 'No goals yet. Agree one when you record a contact.' }) : null));
}

// ---------------------------------------------------------------- referrals

function referralRow(p, r) {
  const sel = selectField({ id: `ref-${r.id}`, label: 'Status', options: REFERRAL_STATUSES, value: r.status || 'sent', labelClass: 'nhsuk-u-visually-hidden' });
  const msg = h('span', { class: 'cb-inline-msg', 'aria-live': 'polite' });
  const save = h('button', { class: 'nhsuk-button nhsuk-button--secondary nhsuk-button--small cb-act', type: 'button' },
    'Update', h('span', { class: 'nhsuk-u-visually-hidden', text: ` referral to ${label(REFERRAL_DESTINATIONS, r.destination)}` }));
  save.addEventListener('click', async () => {
    if (sel.value() === r.status) return;
    save.disabled = true;
    try {
      const res = await api.updateRecord('referrals', r.id, { status: sel.value(), status_date: todayYmd() }, { label: `Referral status for ${fullName(p)}`, participantId: p.id });
      rerender({ heading: 'Referral updated', text: res.queued ? 'Saved on this tablet; it will be sent when the server can be reached.' : null });
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      msg.textContent = apiErrorText(err);
    } finally {
      save.disabled = false;
    }
  });
  sel.el.classList.add('cb-inline-field');
  return [
    h('span', null, label(REFERRAL_DESTINATIONS, r.destination), r.destination_detail ? h('span', { class: 'cb-block cb-muted', text: r.destination_detail }) : null, notSent(r)),
    h('span', { class: 'cb-nowrap', text: formatDate(r.sent_date, { short: true }) }),
    h('div', null,
      r.pending ? label(REFERRAL_STATUSES, r.status || 'sent') : h('div', { class: 'cb-inline-form' }, sel.el, save, msg),
      referralDates(r)),
  ];
}

// The date of each status the referral reached ("Accepted 9 Oct 2026 · Attended 20 Oct 2026").
function referralDates(r) {
  const dated = [['accepted_date', 'Accepted'], ['declined_date', 'Declined'], ['attended_date', 'Attended']]
    .filter(([k]) => r[k])
    .sort((a, b) => r[a[0]].localeCompare(r[b[0]]))
    .map(([k, text]) => `${text} ${formatDate(r[k], { short: true })}`);
  return dated.length ? h('span', { class: 'cb-block cb-muted cb-referral-dates', text: dated.join(' · ') }) : null;
}

function referralsSection(p, referrals, error) {
  return section('referrals', 'Referrals',
    error ? loadError(error, 'Referrals') : null,
    referrals.length
      ? dataTable({ caption: 'Referrals', captionClass: 'nhsuk-u-visually-hidden', cols: ['Referred to', 'Sent', 'Status'], rows: referrals.map((r) => referralRow(p, r)) })
      : (!error ? h('p', { class: 'cb-muted', text: 'No referrals yet. Make one when you record a contact.' }) : null));
}

// ---------------------------------------------------------------- view

export const personView = {
  title: 'Person',
  async render(ctx) {
    const id = ctx.params.id;
    const message = flash.take();
    const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading…' }));
    add(ctx.main, h('a', { class: 'nhsuk-back-link', href: '#/people', text: 'Find a person' }), body);

    let p;
    try {
      [p] = await Promise.all([loadPerson(id, ctx.signal), loadTeams().catch(() => null), loadInstruments().catch(() => null)]);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      body.removeAttribute('aria-busy');
      const notFound = err.status === 404;
      ctx.setTitle(notFound ? 'Person not found' : 'Record unavailable');
      const h1 = h('h1', { text: notFound ? 'Person not found' : 'Record unavailable' });
      fill(body, h1, notFound
        ? h('p', { text: 'There is no record with this link that you can see. It may belong to a different team, or have been merged into another record.' })
        : loadError(err, 'This record'),
      h('p', null, h('a', { class: 'nhsuk-link', href: '#/people', text: 'Find a person' })));
      return { focus: h1 };
    }
    if (!ctx.isCurrent()) return {};

    const o = { signal: ctx.signal };
    const [tl, meas, goals, reviews, refs, cons, pending] = await Promise.all([
      listOf(api.timeline(id, o)),
      listOf(api.records(id, 'measures', o)),
      listOf(api.records(id, 'goals', o)),
      listOf(api.records(id, 'goal-reviews', o)),
      listOf(api.records(id, 'referrals', o)),
      listOf(api.records(id, 'consents', o)),
      pendingFor(id),
    ]);
    if (!ctx.isCurrent()) return {};
    body.removeAttribute('aria-busy');
    if (p.pending) {
      // Not on the server yet: there is nothing there to load.
      for (const l of [tl, meas, goals, reviews, refs, cons]) l.error = null;
    }

    const measures = merge(meas.items, 'measures', pending).map((m) => {
      if (!m.pending || m.score !== undefined) return m;
      const s = liveScore(m.instrument, m.responses || {}, { ethnicGroup: p.ethnic_group });
      return { ...m, score: s.score, band: s.band, flags: s.flags, result: s.extra, complete: s.complete };
    });
    const goalsAll = merge(goals.items, 'goals', pending);
    const reviewsAll = merge(reviews.items, 'goal-reviews', pending);
    const referrals = merge(refs.items, 'referrals', pending);
    const consents = merge(cons.items, 'consents', pending);

    // The timeline: the server's, else built here; plus what is not sent yet.
    let tlItems;
    let tlError = null;
    if (!tl.error) {
      tlItems = tl.items;
    } else if (tl.error.status === 404 || tl.error.status === 405) {
      const [enc, att] = await Promise.all([listOf(api.records(id, 'encounters', o)), listOf(api.records(id, 'attendance', o))]);
      tlItems = toTimeline({ encounters: enc.items, measures: meas.items, goals: goals.items, reviews: reviews.items, referrals: refs.items, attendance: att.items });
    } else {
      tlItems = [];
      tlError = tl.error;
    }
    const pendingTl = toTimeline({
      encounters: pending.creates.encounters || [],
      measures: measures.filter((m) => m.pending),
      goals: pending.creates.goals || [],
      reviews: pending.creates['goal-reviews'] || [],
      referrals: pending.creates.referrals || [],
    });
    tlItems = [...pendingTl, ...tlItems.filter((t) => !pendingTl.some((x) => x.id === t.id))];

    const name = fullName(p) || 'No name recorded';
    ctx.setTitle('Person'); // names stay out of the browser's history
    const banner = message ? notificationBanner({ heading: message.heading, text: message.text }) : null;
    const h1 = h('h1', { class: 'cb-person-name' },
      h('span', { class: 'nhsuk-caption-l', text: 'Person' }), ' ', displayName(p) || name);
    const tags = [
      p.status === 'discharged' ? tag('Discharged', 'grey') : null,
      p.pending ? tag(p.failed ? 'Registration not sent: needs attention' : 'Registration not sent yet', p.failed ? 'red' : 'orange') : null,
      p.pendingChange ? tag('Changes not sent yet', 'orange') : null,
    ].filter(Boolean);
    const pid = encodeURIComponent(p.id);
    fill(body, ...[
      banner,
      h1,
      tags.length ? h('p', { class: 'cb-tags' }, tags) : null,
      h('div', { class: 'cb-actions' },
        h('a', { class: 'nhsuk-button cb-actions__primary', href: `#/people/${pid}/contact`, role: 'button', draggable: 'false', text: 'Record a contact' }),
        p.pending ? null : h('a', { class: 'nhsuk-button nhsuk-button--secondary', href: `#/people/${pid}/edit`, role: 'button', draggable: 'false', text: 'Change details' })),
      h('nav', { class: 'cb-jump', 'aria-label': 'On this page' },
        h('ul', { class: 'cb-jump__list' }, [['timeline', 'Timeline'], ['measures', 'Measures'], ['goals', 'Goals'], ['referrals', 'Referrals'], ['consent', 'Consent']]
          .map(([a, t]) => h('li', null, h('a', { class: 'nhsuk-link', href: `#${a}`, text: t }))))),
      details(p),
      timelineSection(tlItems, tlError, tl.body && tl.body.truncated),
      measuresSection(measures, meas.error),
      goalsSection(p, goalsAll, reviewsAll, goals.error || reviews.error),
      referralsSection(p, referrals, refs.error),
      consentSection(p, consents, cons.error),
    ].filter(Boolean));
    return { focus: banner || h1 };
  },
};
