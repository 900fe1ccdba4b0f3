// NHS error summary plus the glue that shows errors both in the summary (at
// the top, linked to the field) and inline at the field.

import { ApiError } from '../lib/api.js';
import { clear, focusEl, h } from '../lib/dom.js';

/** Focus a form control by id and bring its label or legend into view. */
export function focusField(id) {
  const el = document.getElementById(id);
  if (!el) return;
  const group = el.closest('.nhsuk-form-group');
  const fieldset = el.closest('fieldset');
  const legend = fieldset && fieldset.querySelector('legend');
  const label = document.querySelector(`label[for="${CSS.escape(id)}"]`);
  const target = legend || label || group || el;
  el.focus({ preventScroll: true });
  target.scrollIntoView({ block: 'start' });
}

export function errorSummary() {
  const list = h('ul', { class: 'nhsuk-list nhsuk-error-summary__list' });
  const el = h('div', { class: 'nhsuk-error-summary', tabindex: '-1', hidden: true },
    h('div', { role: 'alert' },
      h('h2', { class: 'nhsuk-error-summary__heading', text: 'There is a problem' }),
      h('div', { class: 'nhsuk-error-summary__body' }, list)));
  return {
    el,
    /** errors: [{ text, focusId? }] */
    show(errors, { focus = true } = {}) {
      clear(list);
      for (const e of errors) {
        const item = e.focusId
          ? h('a', {
              href: `#${e.focusId}`,
              text: e.text,
              onclick: (ev) => {
                ev.preventDefault(); // the hash is the router's
                focusField(e.focusId);
              },
            })
          : h('span', { class: 'cb-error-summary__text', text: e.text });
        list.appendChild(h('li', null, item));
      }
      el.hidden = false;
      if (focus) {
        focusEl(el, { scroll: false });
        el.scrollIntoView({ block: 'start' });
      }
    },
    hide() {
      el.hidden = true;
      clear(list);
    },
  };
}

/**
 * Form error handling: fields is an ordered list of field objects (see
 * fields.js); aliases maps server field names to a field's name when they
 * differ.
 */
export function formErrors(summary, fields, aliases = {}) {
  const byName = new Map(fields.map((f) => [f.name, f]));
  return {
    clear() {
      summary.hide();
      fields.forEach((f) => f.clearError());
    },
    /** errors: [{ field?: name, text, parts? }] in any order */
    show(errors) {
      fields.forEach((f) => f.clearError());
      const items = [];
      const seen = new Set();
      // Field errors in form order, then the rest.
      for (const f of fields) {
        const e = errors.find((x) => x.field && (aliases[x.field] || x.field) === f.name);
        if (!e) continue;
        f.setError(e.text, e.parts);
        items.push({ text: e.text, focusId: f.focusId });
        seen.add(e);
      }
      for (const e of errors) if (!seen.has(e)) items.push({ text: e.text });
      summary.show(items);
    },
    /** Turn an ApiError into summary/inline errors. */
    showApiError(err, fallback) {
      this.show([{ field: err.field, text: apiErrorText(err, fallback) }]);
    },
  };
}

/** Words for an error from the API, for a person to read. */
export function apiErrorText(err, fallback = 'Something went wrong. Try again.') {
  if (!(err instanceof ApiError)) return fallback;
  if (err.offline) {
    return 'You are offline or the coachbox server cannot be reached. Nothing was saved. Try again when you are connected.';
  }
  if (err.status === 403) return err.message || 'Your account is not allowed to do this.';
  if (err.status === 413) return 'That is too long to save. Shorten it and try again.';
  if (err.status === 429) {
    return err.retryAfter != null ? `Too many attempts, try again in ${err.retryAfter} seconds` : 'Too many attempts, try again later';
  }
  if (err.status >= 500) {
    return err.code === 'busy' ? 'The server is busy. Try again in a moment.' : 'Sorry, there is a problem with the coachbox server. Try again later.';
  }
  return err.message ? sentence(err.message) : fallback;
}

function sentence(s) {
  const t = String(s).trim();
  return t ? t[0].toUpperCase() + t.slice(1) : t;
}

/** A whole-page "could not load" message. */
export function loadError(err, what) {
  const offline = err instanceof ApiError && err.offline;
  return h('div', { class: 'nhsuk-warning-callout' },
    h('h2', { class: 'nhsuk-warning-callout__label', text: offline ? 'You are offline' : 'There is a problem' }),
    h('p', {
      text: offline
        ? `${what} could not be loaded because the coachbox server cannot be reached, and there is no saved copy on this tablet.`
        : `${what} could not be loaded. ${apiErrorText(err)}`,
    }));
}
