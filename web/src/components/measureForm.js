// One outcome measure as a form, built from the server's instrument
// description, with live scoring as items are answered, and the clinical
// prompts (safeguarding, urgent same-day advice) shown the moment they apply.
import { fill, h, tag } from '../lib/dom.js';
import { TIMEPOINTS } from '../lib/codes.js';
import {
  CODE_TEXT, FLAG_TEXT, KEY_LABELS, NOTES, QUESTIONS, bandColour, bandText, liveScore, scoreText, shortName,
} from '../lib/measures.js';
import { dateField, dateValue, radiosField, textField } from './fields.js';

const YES_NO = [{ value: 'yes', text: 'Yes' }, { value: 'no', text: 'No' }];

function codeOptions(instId, key) {
  if (key.key === 'occupation') return CODE_TEXT.occupation;
  if (key.key === 'walking_pace') return CODE_TEXT.walking_pace;
  if (instId === 'smoking' && key.key === 'status') return CODE_TEXT.smoking_status;
  if (instId === 'bowel_screening' && key.key === 'status') return CODE_TEXT.bowel_status;
  return (key.values || []).map((v) => ({ value: v, text: v.replace(/_/g, ' ') }));
}

const cap = (s) => (s ? s.charAt(0).toUpperCase() + s.slice(1) : s);

/** A prompt that must not be missed. */
export function urgentCard(heading, text, id) {
  return h('div', { class: 'cb-alert', role: 'alert', id },
    h('div', { class: 'nhsuk-card nhsuk-card--care nhsuk-card--care--urgent cb-care' },
      h('div', { class: 'nhsuk-card--care__heading-container' },
        h('h3', { class: 'nhsuk-card--care__heading' },
          h('span', { role: 'text' }, h('span', { class: 'nhsuk-u-visually-hidden', text: 'Urgent: ' }), heading)),
        h('span', { class: 'nhsuk-card--care__arrow', 'aria-hidden': 'true' })),
      h('div', { class: 'nhsuk-card__content' }, text.map((t) => h('p', { text: t })))));
}

export const PROMPTS = {
  safeguarding: ['Safeguarding: thoughts of self-harm', [
    'They answered PHQ-9 question 9 (thoughts of being better off dead or of hurting themselves) with more than “Not at all”.',
    'Ask them about it now. If they are at immediate risk, do not leave them alone: call 999. Otherwise follow the safeguarding procedure and tell your safeguarding lead today.',
  ]],
  urgent_same_day: ['Urgent: get same-day clinical advice', [
    'This blood pressure is in the severe range (systolic 180 or more, or diastolic 120 or more).',
    'Arrange same-day advice from their GP practice or NHS 111 before they leave. If they have chest pain, breathlessness, confusion or vision problems, call 999.',
  ]],
};

/**
 * instrument: one item of GET /api/measures/instruments.
 * ctx: { ethnicGroup, timepoint (default), prefix }
 * Returns { el, id, fields, fieldFor(serverField), collect() -> { body, problems }, result() }.
 */
export function measureForm(instrument, { ethnicGroup = null, timepoint = 'baseline', prefix = 'm' } = {}) {
  const inst = instrument.id;
  const base = `${prefix}-${inst}`;
  const q = QUESTIONS[inst];
  const fields = [];
  const byKey = new Map();
  const keys = (instrument.keys || []).filter((k) => k.type !== 'ethnic_group');

  const tp = radiosField({ id: `${base}-timepoint`, legend: 'Timepoint', inline: true, options: TIMEPOINTS, value: timepoint });
  fields.push(tp);

  const itemEls = keys.map((k, idx) => {
    const id = `${base}-${k.key}`;
    const required = k.required === 'always' || k.required === 'item';
    let f;
    if (q && /^q\d+$/.test(k.key)) {
      const n = Number(k.key.slice(1));
      const opts = (q.perItem && q.perItem[n - 1]) || q.answers;
      const withScores = inst === 'audit_c' ? opts.map((o) => ({ value: o.value, text: `${o.text} (${o.value})` })) : opts;
      f = radiosField({
        id, name: id, legend: `${n}. ${q.items[n - 1] || k.label}`, legendClass: 'nhsuk-fieldset__legend--s',
        options: withScores, inline: true, extraClass: ['cb-scale', opts.length > 5 ? 'cb-scale--wide' : null].filter(Boolean).join(' '),
        onchange: update,
      });
    } else if (inst === 'cfs' && k.key === 'level') {
      f = radiosField({ id, name: id, legend: KEY_LABELS.level, options: CODE_TEXT.cfs_level, onchange: update });
    } else if (k.type === 'code') {
      f = radiosField({ id, name: id, legend: `${KEY_LABELS[k.key] || cap(k.label)}${required ? '' : ' (optional)'}`.replace(' (optional) (optional)', ' (optional)'), options: codeOptions(inst, k), onchange: update });
    } else if (k.type === 'hours_or_code') {
      f = radiosField({ id, name: id, legend: KEY_LABELS[k.key] || cap(k.label), options: CODE_TEXT.hours, onchange: update });
    } else if (k.type === 'boolean') {
      f = radiosField({ id, name: id, legend: `${KEY_LABELS[k.key] || cap(k.label)}${required ? '' : ' (optional)'}`, options: YES_NO, inline: true, onchange: update });
    } else if (k.type === 'date') {
      f = dateField({ id, name: id, legend: `${KEY_LABELS[k.key] || cap(k.label)}${required || /\(optional\)/.test(KEY_LABELS[k.key] || '') ? '' : ' (optional)'}` });
      f.el.addEventListener('input', update);
    } else if (k.type === 'text') {
      f = textField({ id, name: id, label: KEY_LABELS[k.key] || cap(k.label), widthClass: 'nhsuk-u-width-two-thirds', attrs: { maxlength: k.max_length || 100 } });
      f.input.addEventListener('input', update);
    } else {
      const label = KEY_LABELS[k.key] || cap(k.label);
      const needs = /^when /.test(k.required || '') ? ' (if any days)' : '';
      f = textField({
        id, name: id, label: `${label}${needs}`, inputmode: k.type === 'integer' ? 'numeric' : 'decimal',
        widthClass: 'nhsuk-input--width-4', suffix: k.unit && k.unit !== 'cigarettes' ? k.unit : null,
        hint: k.min !== undefined && k.max !== undefined ? `${k.min} to ${k.max}${k.unit ? ` ${k.unit}` : ''}` : null,
      });
      f.input.addEventListener('input', update);
    }
    f.key = k;
    fields.push(f);
    byKey.set(k.key, f);
    return f.el;
  });

  const scoreEl = h('div', { class: 'cb-score', 'aria-live': 'polite', id: `${base}-live` });
  const prompts = h('div', { class: 'cb-prompts' });
  const shown = new Set();
  const notice = instrument.notice ? h('p', { class: 'cb-notice-text', text: instrument.notice }) : null;

  function raw() {
    const r = {};
    for (const [key, f] of byKey) {
      const v = f.value();
      if (v === null || v === undefined) continue;
      if (typeof v === 'object') {
        const d = dateValue(f, key, { required: false });
        if (d && d.ymd) r[key] = d.ymd;
      } else if (String(v).trim() !== '') {
        r[key] = String(v).trim();
      }
    }
    return r;
  }

  function update() {
    const r = raw();
    const s = liveScore(inst, r, { ethnicGroup });
    const answered = keys.filter((k) => /^q\d+$/.test(k.key) && r[k.key] !== undefined).length;
    const items = keys.filter((k) => /^q\d+$/.test(k.key)).length;
    const parts = [h('span', { class: 'cb-score__label', text: 'Live score: ' })];
    const text = scoreText(inst, s.score, s.extra, r);
    if (s.complete && (text || s.band)) {
      parts.push(h('strong', { class: 'cb-score__value', text: text || bandText(inst, s.band) }));
      if (s.band && text) parts.push(' ', tag(bandText(inst, s.band), bandColour(inst, s.band)));
      if (inst === 'bmi') parts.push(h('span', { class: 'cb-block cb-muted', text: s.extra.thresholds === 'south_asian_etc' ? 'Using the lower thresholds for their ethnic group (NICE).' : 'Using the standard thresholds.' }));
      if (inst === 'ons4') parts.push(h('span', { class: 'cb-block', text: Object.entries(s.extra.bands || {}).map(([k, b]) => `Q${k.slice(1)} ${b.replace(/_/g, ' ')}`).join(' · ') }));
    } else if (items) {
      parts.push(h('span', { text: `${answered} of ${items} answered` }));
    } else {
      parts.push(h('span', { class: 'cb-muted', text: 'Shown when the values are entered' }));
    }
    const other = s.flags.filter((f) => !PROMPTS[f]);
    if (other.length) parts.push(h('span', { class: 'cb-block' }, other.map((f) => [tag(FLAG_TEXT[f] || f, 'orange'), ' '])));
    fill(scoreEl, ...parts);

    // Prompts appear once and stay while they apply.
    for (const f of Object.keys(PROMPTS)) {
      const on = s.flags.includes(f);
      if (on && !shown.has(f)) {
        shown.add(f);
        prompts.appendChild(urgentCard(PROMPTS[f][0], PROMPTS[f][1], `${base}-prompt-${f}`));
      } else if (!on && shown.has(f)) {
        shown.delete(f);
        const el = document.getElementById(`${base}-prompt-${f}`);
        if (el) el.remove();
      }
    }
    return s;
  }

  const el = h('div', { class: 'cb-measure-form', id: base },
    q && q.stem ? h('p', { class: 'cb-stem', text: q.stem }) : null,
    NOTES[inst] ? h('div', { class: 'nhsuk-inset-text cb-inset' }, h('p', { text: NOTES[inst] })) : null,
    tp.el,
    itemEls,
    prompts,
    scoreEl,
    notice);
  update();

  function collect() {
    const problems = [];
    const responses = {};
    const r = raw();
    let missingItems = [];
    for (const [key, f] of byKey) {
      const k = f.key;
      const label = KEY_LABELS[key] || cap(k.label);
      const v = f.value();
      const conditional = /^when (\w+) > 0$/.exec(k.required || '');
      const required = k.required === 'always' || k.required === 'item' || (conditional && Number(r[conditional[1]]) > 0);
      if (typeof v === 'object' && v !== null) {
        const d = dateValue(f, label, { required: false });
        if (d && d.error) problems.push({ field: f.name, id: f, text: `${shortName(inst)}: ${d.error}`, parts: d.parts });
        else if (d && d.ymd) responses[key] = d.ymd;
        else if (required) problems.push({ field: f.name, id: f, text: `${shortName(inst)}: enter ${label.toLowerCase()}` });
        continue;
      }
      const s = v === null || v === undefined ? '' : String(v).trim();
      if (!s) {
        if (required && /^q\d+$/.test(key)) missingItems.push(f);
        else if (required) problems.push({ field: f.name, id: f, text: `${shortName(inst)}: enter ${label.toLowerCase()}` });
        continue;
      }
      if (k.type === 'integer' || k.type === 'number') {
        if (!/^-?\d+(\.\d+)?$/.test(s) || (k.type === 'integer' && !/^-?\d+$/.test(s))) {
          problems.push({ field: f.name, id: f, text: `${shortName(inst)}: ${label} must be ${k.type === 'integer' ? 'a whole number' : 'a number'}` });
          continue;
        }
        const n = Number(s);
        if ((k.min !== undefined && n < k.min) || (k.max !== undefined && n > k.max)) {
          problems.push({ field: f.name, id: f, text: `${shortName(inst)}: ${label} must be from ${k.min} to ${k.max}${k.unit ? ` ${k.unit}` : ''}` });
          continue;
        }
        responses[key] = n;
      } else if (k.type === 'boolean') {
        responses[key] = s === 'yes';
      } else if (/^q\d+$/.test(key) || (inst === 'cfs' && key === 'level')) {
        responses[key] = Number(s);
      } else {
        responses[key] = s;
      }
    }
    if (missingItems.length) {
      const n = missingItems.length;
      problems.unshift({
        field: missingItems[0].name, id: missingItems[0],
        text: `${shortName(inst)}: answer every question (${n} not answered)`,
      });
    }
    if (inst === 'bp' && responses.systolic !== undefined && responses.diastolic !== undefined && responses.diastolic >= responses.systolic) {
      problems.push({ field: byKey.get("diastolic").name, id: byKey.get('diastolic'), text: 'Blood pressure: the diastolic (bottom number) must be lower than the systolic. Check they are not swapped.' });
    }
    if (!tp.value()) problems.push({ field: tp.name, id: tp, text: `${shortName(inst)}: select the timepoint` });
    return { body: { instrument: inst, timepoint: tp.value(), responses }, problems };
  }

  /** The field for a server error naming "responses.KEY" (or "timepoint"). */
  function fieldFor(serverField) {
    if (!serverField) return null;
    if (serverField === 'timepoint') return tp;
    const m = /^responses\.(.+)$/.exec(serverField);
    return m ? byKey.get(m[1]) || null : null;
  }

  return { el, id: inst, fields, fieldFor, collect, result: update };
}
