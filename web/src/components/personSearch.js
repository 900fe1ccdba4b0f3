// Search for a person and act on one of the results (check in, enrol).
import { api, ApiError } from '../lib/api.js';
import { fill, h } from '../lib/dom.js';
import { formatDate, formatNhsNumber, displayName, normaliseSearch } from '../lib/format.js';
import { apiErrorText } from './errors.js';

/**
 * { id, label, hint, actionText, onPick(person, button) -> Promise, extra }
 * extra: elements shown between the search box and the results (e.g. a reason field).
 */
export function personSearch({ id, label, hint = 'Name, NHS number or date of birth', actionText, onPick, footer = null, extra = null }) {
  const input = h('input', {
    class: 'nhsuk-input cb-search__input', id, name: id, type: 'search', autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': `${id}-hint`, enterkeyhint: 'search',
  });
  const results = h('div', { class: 'cb-pick', 'aria-live': 'polite' });
  const form = h('form', { class: 'cb-search', role: 'search', novalidate: true, 'aria-label': label },
    h('div', { class: 'nhsuk-form-group' },
      h('label', { class: 'nhsuk-label nhsuk-label--s', for: id, text: label }),
      h('div', { class: 'nhsuk-hint', id: `${id}-hint`, text: hint }),
      h('div', { class: 'cb-search__wrapper' },
        input,
        h('button', { class: 'nhsuk-button nhsuk-button--secondary cb-search__button', type: 'submit', text: 'Search' }))));
  let token = 0;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const q = normaliseSearch(input.value);
    if (!q) {
      fill(results, h('p', { class: 'nhsuk-error-message', text: 'Enter a name, NHS number or date of birth' }));
      input.focus();
      return;
    }
    const mine = ++token;
    fill(results, h('p', { class: 'cb-muted', text: 'Searching…' }));
    let body;
    try {
      body = await api.searchParticipants({ q, limit: 8 });
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (mine === token) fill(results, h('p', { class: 'nhsuk-error-message', text: apiErrorText(err) }));
      return;
    }
    if (mine !== token) return;
    const items = (body && body.items) || [];
    if (!items.length) {
      fill(results, h('p', { text: `No one found for “${input.value.trim()}”.` }), footer ? footer() : null);
      return;
    }
    const list = h('ul', { class: 'cb-pick__list' }, items.map((p) => {
      const btn = h('button', { class: 'nhsuk-button nhsuk-button--secondary cb-pick__button', type: 'button' },
        actionText, h('span', { class: 'nhsuk-u-visually-hidden', text: ` ${displayName(p)}` }));
      btn.addEventListener('click', async () => {
        btn.disabled = true;
        try {
          await onPick(p, btn);
        } finally {
          btn.disabled = false;
        }
      });
      return h('li', { class: 'cb-pick__item' },
        h('div', { class: 'cb-pick__who' },
          h('a', { class: 'nhsuk-link cb-pick__name', href: `#/people/${encodeURIComponent(p.id)}`, text: displayName(p) }),
          h('span', { class: 'cb-pick__meta', text: [`Born ${formatDate(p.date_of_birth, { short: true })}`, p.nhs_number ? `NHS ${formatNhsNumber(p.nhs_number)}` : null, p.postcode].filter(Boolean).join(' · ') })),
        btn);
    }));
    fill(results, h('p', { class: 'nhsuk-u-visually-hidden', text: `${items.length} found` }), list, footer ? footer() : null);
  });
  return {
    el: h('div', { class: 'cb-person-search' }, form, extra, results),
    input,
    clear() {
      input.value = '';
      fill(results, );
    },
  };
}
