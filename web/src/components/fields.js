// NHS design system form fields.  Each returns a "field" object:
//   { el, name, focusId, value(), setError(message), clearError() }
// so forms can show server and client errors the same way.

import { h } from '../lib/dom.js';

function errorMessage(id, message) {
  return h('span', { class: 'nhsuk-error-message', id }, h('span', { class: 'nhsuk-u-visually-hidden', text: 'Error: ' }), message);
}

function vhSpan(text) {
  return h('span', { class: 'nhsuk-u-visually-hidden', text });
}

function describedBy(...ids) {
  return ids.filter(Boolean).join(' ') || null;
}

function hintEl(id, hint) {
  return hint ? h('div', { class: 'nhsuk-hint', id, text: hint }) : null;
}

/** A labelled single-line input. */
export function textField({
  id, name = id, label, hint, type = 'text', value = '', widthClass = null, labelClass = null,
  autocomplete = 'off', inputmode = null, spellcheck = false, autocapitalize = null, attrs = {}, suffix = null,
}) {
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const input = h('input', {
    class: ['nhsuk-input', widthClass],
    id, name, type, value, autocomplete, inputmode, autocapitalize,
    spellcheck: spellcheck ? 'true' : 'false',
    'aria-describedby': describedBy(hintId),
    ...attrs,
  });
  const control = suffix
    ? h('div', { class: 'nhsuk-input-wrapper' }, input,
      h('div', { class: 'nhsuk-input-wrapper__suffix', 'aria-hidden': 'true', text: suffix }))
    : input;
  const group = h('div', { class: 'nhsuk-form-group' },
    h('label', { class: ['nhsuk-label', labelClass], for: id }, label, suffix ? vhSpan(` (${suffix})`) : null),
    hintEl(hintId, hint),
    control);
  let err = null;
  return {
    el: group, name, input, focusId: id,
    value: () => input.value,
    setValue: (v) => { input.value = v; },
    setError(message) {
      this.clearError();
      err = errorMessage(errorId, message);
      group.classList.add('nhsuk-form-group--error');
      input.classList.add('nhsuk-input--error');
      input.setAttribute('aria-describedby', describedBy(hintId, errorId));
      group.insertBefore(err, control);
    },
    clearError() {
      if (err) err.remove();
      err = null;
      group.classList.remove('nhsuk-form-group--error');
      input.classList.remove('nhsuk-input--error');
      const d = describedBy(hintId);
      if (d) input.setAttribute('aria-describedby', d);
      else input.removeAttribute('aria-describedby');
    },
  };
}

/** A multi-line text box. */
export function textareaField({ id, name = id, label, hint, rows = 5, value = '', labelClass = null }) {
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const input = h('textarea', {
    class: 'nhsuk-textarea', id, name, rows, spellcheck: 'true', autocomplete: 'off',
    'aria-describedby': describedBy(hintId),
  });
  input.value = value;
  const group = h('div', { class: 'nhsuk-form-group' },
    h('label', { class: ['nhsuk-label', labelClass], for: id, text: label }),
    hintEl(hintId, hint),
    input);
  let err = null;
  return {
    el: group, name, input, focusId: id,
    value: () => input.value,
    setValue: (v) => { input.value = v; },
    setError(message) {
      this.clearError();
      err = errorMessage(errorId, message);
      group.classList.add('nhsuk-form-group--error');
      input.classList.add('nhsuk-textarea--error');
      input.setAttribute('aria-describedby', describedBy(hintId, errorId));
      group.insertBefore(err, input);
    },
    clearError() {
      if (err) err.remove();
      err = null;
      group.classList.remove('nhsuk-form-group--error');
      input.classList.remove('nhsuk-textarea--error');
      const d = describedBy(hintId);
      if (d) input.setAttribute('aria-describedby', d);
      else input.removeAttribute('aria-describedby');
    },
  };
}

/** A drop-down.  options: [{value, text}] */
export function selectField({ id, name = id, label, hint, options, value = '', labelClass = null }) {
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const opt = (o) => h('option', { value: o.value, text: o.text });
  const select = h('select', { class: 'nhsuk-select', id, name, 'aria-describedby': describedBy(hintId) },
    options.map((o) => (o.group ? h('optgroup', { label: o.group }, o.items.map(opt)) : opt(o))));
  select.value = value;
  const group = h('div', { class: 'nhsuk-form-group' },
    h('label', { class: ['nhsuk-label', labelClass], for: id, text: label }),
    hintEl(hintId, hint),
    select);
  let err = null;
  return {
    el: group, name, input: select, focusId: id,
    value: () => select.value,
    setValue: (v) => { select.value = v; },
    setError(message) {
      this.clearError();
      err = errorMessage(errorId, message);
      group.classList.add('nhsuk-form-group--error');
      select.classList.add('nhsuk-select--error');
      select.setAttribute('aria-describedby', describedBy(hintId, errorId));
      group.insertBefore(err, select);
    },
    clearError() {
      if (err) err.remove();
      err = null;
      group.classList.remove('nhsuk-form-group--error');
      select.classList.remove('nhsuk-select--error');
      const d = describedBy(hintId);
      if (d) select.setAttribute('aria-describedby', d);
      else select.removeAttribute('aria-describedby');
    },
  };
}

/** Radio buttons in a fieldset.  options: [{value, text, hint?}] */
export function radiosField({
  id, name = id, legend, legendClass = 'nhsuk-fieldset__legend--s', hint, options, value = null, inline = false,
  extraClass = null, onchange = null,
}) {
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const inputs = [];
  const items = options.map((o, i) => {
    const inputId = i === 0 ? id : `${id}-${i + 1}`;
    const input = h('input', { class: 'nhsuk-radios__input', id: inputId, name, type: 'radio', value: o.value });
    if (value !== null && value !== undefined && o.value === String(value)) input.checked = true;
    if (onchange) input.addEventListener('change', () => onchange(o.value));
    inputs.push(input);
    const itemHintId = o.hint ? `${inputId}-item-hint` : null;
    if (itemHintId) input.setAttribute('aria-describedby', itemHintId);
    return h('div', { class: 'nhsuk-radios__item' },
      input,
      h('label', { class: 'nhsuk-label nhsuk-radios__label', for: inputId, text: o.text }),
      o.hint ? h('div', { class: 'nhsuk-hint nhsuk-radios__hint', id: itemHintId, text: o.hint }) : null);
  });
  const radios = h('div', { class: ['nhsuk-radios', inline && 'nhsuk-radios--inline', extraClass] }, items);
  const fieldset = h('fieldset', { class: 'nhsuk-fieldset', 'aria-describedby': describedBy(hintId) },
    h('legend', { class: ['nhsuk-fieldset__legend', legendClass], text: legend }),
    hintEl(hintId, hint),
    radios);
  const group = h('div', { class: 'nhsuk-form-group' }, fieldset);
  let err = null;
  return {
    el: group, name, focusId: id,
    value: () => {
      const c = inputs.find((i) => i.checked);
      return c ? c.value : null;
    },
    setValue: (v) => inputs.forEach((i) => { i.checked = v !== null && v !== undefined && i.value === String(v); }),
    inputs,
    setError(message) {
      this.clearError();
      err = errorMessage(errorId, message);
      group.classList.add('nhsuk-form-group--error');
      fieldset.setAttribute('aria-describedby', describedBy(hintId, errorId));
      fieldset.insertBefore(err, radios);
    },
    clearError() {
      if (err) err.remove();
      err = null;
      group.classList.remove('nhsuk-form-group--error');
      const d = describedBy(hintId);
      if (d) fieldset.setAttribute('aria-describedby', d);
      else fieldset.removeAttribute('aria-describedby');
    },
  };
}

/**
 * Boxes for the parts of a value in a fieldset, laid out like the NHS date
 * input.  parts: [[key, label, widthClass, maxlength]].
 * value() -> { key: string as typed }.
 * setError(message, keys) highlights the named parts (default: all).
 */
function partsField({ id, name = id, legend, legendClass = 'nhsuk-fieldset__legend--s', hint, value = null, parts }) {
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const keys = parts.map((p) => p[0]);
  const inputs = {};
  const groups = {};
  const items = parts.map(([part, text, width, maxlength]) => {
    const inputId = `${id}-${part}`;
    const input = h('input', {
      class: `nhsuk-input nhsuk-date-input__input ${width}`,
      id: inputId, name: `${name}-${part}`, type: 'text', inputmode: 'numeric',
      autocomplete: 'off', spellcheck: 'false', maxlength,
    });
    if (value && value[part] !== undefined) input.value = String(value[part]);
    inputs[part] = input;
    groups[part] = h('div', { class: 'nhsuk-form-group' },
      h('label', { class: 'nhsuk-label nhsuk-date-input__label', for: inputId, text }),
      input);
    return h('div', { class: 'nhsuk-date-input__item' }, groups[part]);
  });
  const boxes = h('div', { class: 'nhsuk-date-input', id }, items);
  const fieldset = h('fieldset', { class: 'nhsuk-fieldset', role: 'group', 'aria-describedby': describedBy(hintId) },
    h('legend', { class: ['nhsuk-fieldset__legend', legendClass], text: legend }),
    hintEl(hintId, hint),
    boxes);
  const group = h('div', { class: 'nhsuk-form-group' }, fieldset);
  let err = null;
  let errParts = keys;
  return {
    el: group, name,
    get focusId() {
      return `${id}-${errParts[0] || keys[0]}`;
    },
    value: () => Object.fromEntries(keys.map((k) => [k, inputs[k].value.trim()])),
    setValue(v) {
      for (const k of keys) inputs[k].value = v && v[k] !== undefined && v[k] !== null ? String(v[k]) : '';
    },
    setError(message, which = keys) {
      this.clearError();
      errParts = which && which.length ? which : keys;
      err = errorMessage(errorId, message);
      group.classList.add('nhsuk-form-group--error');
      for (const k of errParts) {
        inputs[k].classList.add('nhsuk-input--error');
        groups[k].classList.add('nhsuk-form-group--error');
      }
      fieldset.setAttribute('aria-describedby', describedBy(hintId, errorId));
      fieldset.insertBefore(err, boxes);
    },
    clearError() {
      if (err) err.remove();
      err = null;
      errParts = keys;
      group.classList.remove('nhsuk-form-group--error');
      for (const k of keys) {
        inputs[k].classList.remove('nhsuk-input--error');
        groups[k].classList.remove('nhsuk-form-group--error');
      }
      const d = describedBy(hintId);
      if (d) fieldset.setAttribute('aria-describedby', d);
      else fieldset.removeAttribute('aria-describedby');
    },
  };
}

/** NHS date input: Day, Month, Year.  value() -> { day, month, year } */
export function dateField(options) {
  return partsField({
    ...options,
    parts: [
      ['day', 'Day', 'nhsuk-input--width-2', 2],
      ['month', 'Month', 'nhsuk-input--width-2', 2],
      ['year', 'Year', 'nhsuk-input--width-4', 4],
    ],
  });
}

/** A 24-hour time as Hour and Minute boxes.  value() -> { hour, minute } */
export function timeField(options) {
  return partsField({
    ...options,
    parts: [
      ['hour', 'Hour', 'nhsuk-input--width-2', 2],
      ['minute', 'Minute', 'nhsuk-input--width-2', 2],
    ],
  });
}

/** Check a time field's value.  Returns { hour, minute } or { error, parts }. */
export function checkTime({ hour, minute }, label) {
  if (!hour && !minute) return { error: `Enter ${label.toLowerCase()}`, parts: ['hour', 'minute'] };
  if (!hour) return { error: `${label} must include an hour`, parts: ['hour'] };
  if (!minute) return { error: `${label} must include a minute`, parts: ['minute'] };
  const bad = [];
  if (!/^\d{1,2}$/.test(hour) || Number(hour) > 23) bad.push('hour');
  if (!/^\d{1,2}$/.test(minute) || Number(minute) > 59) bad.push('minute');
  if (bad.length) return { error: `${label} must be a real time, like 14 30`, parts: bad };
  return { hour: Number(hour), minute: Number(minute) };
}

/**
 * Check a date field's value.  Returns { year, month, day } or { error, parts }.
 * label: how the error messages name it ("Date of birth").
 */
export function checkDate({ day, month, year }, label) {
  const missing = [];
  if (!day) missing.push('day');
  if (!month) missing.push('month');
  if (!year) missing.push('year');
  if (missing.length === 3) return { error: `Enter ${label.toLowerCase()}`, parts: missing };
  if (missing.length) {
    const names = missing.join(' and ');
    return { error: `${label} must include a ${names}`, parts: missing };
  }
  const bad = [];
  if (!/^\d{1,2}$/.test(day)) bad.push('day');
  if (!/^\d{1,2}$/.test(month)) bad.push('month');
  if (!/^\d{4}$/.test(year)) bad.push('year');
  if (bad.length) {
    if (bad.length === 1 && bad[0] === 'year') return { error: 'Year must include 4 numbers', parts: bad };
    return { error: `${label} must be a real date`, parts: bad };
  }
  const d = Number(day);
  const m = Number(month);
  const y = Number(year);
  const t = new Date(Date.UTC(y, m - 1, d));
  if (m < 1 || m > 12) return { error: `${label} must be a real date`, parts: ['month'] };
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== m - 1 || t.getUTCDate() !== d) {
    return { error: `${label} must be a real date`, parts: ['day'] };
  }
  return { year: y, month: m, day: d };
}

/**
 * Checkboxes in a fieldset.  options: [{value, text, hint?, conditional?}]
 * where conditional is an element shown only while the box is ticked.
 * value() -> [values ticked].
 */
export function checkboxesField({
  id, name = id, legend, legendClass = 'nhsuk-fieldset__legend--s', hint, options, value = [], onchange = null,
  extraClass = null,
}) {
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const inputs = [];
  const items = [];
  options.forEach((o, i) => {
    const inputId = i === 0 ? id : `${id}-${i + 1}`;
    const condId = o.conditional ? `${inputId}-conditional` : null;
    const input = h('input', {
      class: 'nhsuk-checkboxes__input', id: inputId, name, type: 'checkbox', value: o.value,
      'aria-controls': condId,
    });
    input.checked = (value || []).includes(o.value);
    inputs.push(input);
    const itemHintId = o.hint ? `${inputId}-item-hint` : null;
    if (itemHintId) input.setAttribute('aria-describedby', itemHintId);
    items.push(h('div', { class: 'nhsuk-checkboxes__item' },
      input,
      h('label', { class: 'nhsuk-label nhsuk-checkboxes__label', for: inputId, text: o.text }),
      o.hint ? h('div', { class: 'nhsuk-hint nhsuk-checkboxes__hint', id: itemHintId, text: o.hint }) : null));
    if (o.conditional) {
      const cond = h('div', { class: 'nhsuk-checkboxes__conditional cb-conditional', id: condId }, o.conditional);
      const sync = () => {
        cond.hidden = !input.checked;
        input.setAttribute('aria-expanded', input.checked ? 'true' : 'false');
      };
      input.addEventListener('change', sync);
      sync();
      items.push(cond);
    }
    input.addEventListener('change', () => onchange && onchange(o.value, input.checked));
  });
  const boxes = h('div', { class: ['nhsuk-checkboxes', extraClass] }, items);
  const fieldset = h('fieldset', { class: 'nhsuk-fieldset', 'aria-describedby': describedBy(hintId) },
    legend ? h('legend', { class: ['nhsuk-fieldset__legend', legendClass], text: legend }) : null,
    hintEl(hintId, hint),
    boxes);
  const group = h('div', { class: 'nhsuk-form-group' }, fieldset);
  let err = null;
  return {
    el: group, name, focusId: id, inputs,
    value: () => inputs.filter((i) => i.checked).map((i) => i.value),
    setValue(v) {
      inputs.forEach((i) => {
        i.checked = (v || []).includes(i.value);
        i.dispatchEvent(new Event('change'));
      });
    },
    setError(message) {
      this.clearError();
      err = errorMessage(errorId, message);
      group.classList.add('nhsuk-form-group--error');
      fieldset.setAttribute('aria-describedby', describedBy(hintId, errorId));
      fieldset.insertBefore(err, boxes);
    },
    clearError() {
      if (err) err.remove();
      err = null;
      group.classList.remove('nhsuk-form-group--error');
      const d = describedBy(hintId);
      if (d) fieldset.setAttribute('aria-describedby', d);
      else fieldset.removeAttribute('aria-describedby');
    },
  };
}

/** A date field's value as "YYYY-MM-DD", or { error, parts }, or null when empty and optional. */
export function dateValue(field, label, { required = true, notFuture = false, today = null } = {}) {
  const v = field.value();
  if (!required && !v.day && !v.month && !v.year) return null;
  const d = checkDate(v, label);
  if (d.error) return d;
  const ymd = `${String(d.year).padStart(4, '0')}-${String(d.month).padStart(2, '0')}-${String(d.day).padStart(2, '0')}`;
  if (d.year < 1900) return { error: `${label} must be after 1900`, parts: ['year'] };
  if (notFuture && today && ymd > today) return { error: `${label} must be today or in the past` };
  return { ymd };
}

/** Set a date field from "YYYY-MM-DD". */
export function setDate(field, ymd) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(ymd || '');
  field.setValue(m ? { day: String(+m[3]), month: String(+m[2]), year: m[1] } : { day: '', month: '', year: '' });
}
