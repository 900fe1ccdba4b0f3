// Find a person: search by name, NHS number or date of birth; page through
// results with the server's cursor.
import { api, ApiError } from '../lib/api.js';
import { add, fill, h } from '../lib/dom.js';
import { formatDate, formatNhsNumber, fullName, normaliseSearch } from '../lib/format.js';
import { href, navigate } from '../lib/router.js';
import { loadTeams, teamName } from '../lib/teams.js';
import { loadError } from '../components/errors.js';

const PAGE = 20;

function resultsTable(caption) {
  // Explicit roles: the narrow-screen layout restyles the table as blocks,
  // which makes some browsers drop the table semantics.
  const body = h('tbody', { class: 'nhsuk-table__body', role: 'rowgroup' });
  const cols = ['Name', 'Date of birth', 'NHS number', 'Postcode', 'Team'];
  const table = h('table', { class: 'nhsuk-table cb-table-stack', id: 'results', role: 'table' },
    h('caption', { class: 'nhsuk-table__caption nhsuk-table__caption--s', text: caption }),
    h('thead', { class: 'nhsuk-table__head', role: 'rowgroup' },
      h('tr', { class: 'nhsuk-table__row', role: 'row' }, cols.map((c) => h('th', { class: 'nhsuk-table__header', scope: 'col', role: 'columnheader', text: c })))),
    body);
  return { table, body };
}

function row(p) {
  const cell = (label, content, extra) =>
    h('td', { class: ['nhsuk-table__cell', extra], 'data-label': label, role: 'cell' }, content);
  const nhs = p.nhs_number ? formatNhsNumber(p.nhs_number) : null;
  return h('tr', { class: 'nhsuk-table__row', role: 'row' },
    cell('Name', h('a', { class: 'nhsuk-link cb-row-link', href: `#/people/${encodeURIComponent(p.id)}`, text: fullName(p) || 'No name' }), 'cb-cell-name'),
    cell('Date of birth', h('span', { class: 'cb-nowrap', text: formatDate(p.date_of_birth, { short: true }) })),
    cell('NHS number', nhs ? h('span', { class: 'cb-nowrap', text: nhs }) : h('span', { class: 'cb-muted', text: 'Not recorded' })),
    cell('Postcode', p.postcode ? h('span', { class: 'cb-nowrap', text: p.postcode }) : h('span', { class: 'cb-muted', text: 'Not recorded' })),
    cell('Team', teamName(p.team)));
}

// A search's words name a member of the public: they stay out of the address
// (and so out of the browser's history on a shared tablet).  The address holds
// a key; the words are kept for this tab only (sessionStorage), and signing
// out forgets them (forgetSearches).
const SEARCH_PREFIX = 'cb-search:';

function keepSearch(words) {
  const key = Math.random().toString(36).slice(2, 10);
  try {
    sessionStorage.setItem(SEARCH_PREFIX + key, words);
  } catch {
    return '';
  }
  return key;
}

function searchTerm(key) {
  if (!key) return '';
  try {
    return sessionStorage.getItem(SEARCH_PREFIX + key) || '';
  } catch {
    return '';
  }
}

export function forgetSearches() {
  try {
    for (const k of Object.keys(sessionStorage)) if (k.startsWith(SEARCH_PREFIX)) sessionStorage.removeItem(k);
  } catch {
    /* nothing kept */
  }
}

export const peopleView = {
  title: 'Find a person',
  async render(ctx) {
    const q = (ctx.query.get('q') || searchTerm(ctx.query.get('s')) || '').trim();
    const input = h('input', {
      class: 'nhsuk-input nhsuk-search-input__input', id: 'search', name: 'q', type: 'search',
      autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'search-hint', value: q,
      enterkeyhint: 'search',
    });
    const form = h('form', { class: 'cb-search', role: 'search', novalidate: true },
      h('div', { class: 'nhsuk-form-group nhsuk-search-input' },
        h('label', { class: 'nhsuk-label nhsuk-label--s', for: 'search', text: 'Search by name, NHS number or date of birth' }),
        h('div', { class: 'nhsuk-hint', id: 'search-hint', text: 'For example, Sam Jones, 943 476 5919 or 15/03/1984' }),
        h('div', { class: 'nhsuk-input-wrapper cb-search__wrapper' },
          input,
          h('button', { class: 'nhsuk-button nhsuk-button--small cb-search__button', type: 'submit', text: 'Search' }))));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = input.value.trim();
      navigate(href('/people', v ? { s: keepSearch(v) } : null));
    });

    const results = h('div', { class: 'cb-results', 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading…' }));
    add(ctx.main, 
      h('div', { class: 'cb-page-head' },
        h('h1', { class: 'cb-page-head__title', text: 'Find a person' }),
        h('a', { class: 'nhsuk-button nhsuk-button--secondary cb-page-head__action', href: '#/people/new', role: 'button', draggable: 'false', text: 'Register a person' })),
      form,
      results);

    const query = normaliseSearch(q);
    let body;
    try {
      [body] = await Promise.all([
        api.searchParticipants({ q: query, limit: PAGE }, { signal: ctx.signal }),
        loadTeams().catch(() => null),
      ]);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      fill(results, loadError(err, 'Search results'));
      results.removeAttribute('aria-busy');
      return {};
    }
    if (!ctx.isCurrent()) return {};
    results.removeAttribute('aria-busy');

    const items = (body && body.items) || [];
    if (!items.length) {
      const none = h('h2', { class: 'nhsuk-heading-s', text: q ? `No people found for “${q}”` : 'No people found' });
      fill(results, none,
        h('p', { text: q ? 'Check the spelling, or search by NHS number or date of birth. If they are new to the service, register them.' : 'Nobody is registered with your team yet.' }));
      return { focus: q ? none : null };
    }

    const caption = q ? `People matching “${q}”` : 'People in your team';
    const { table, body: tbody } = resultsTable(caption);
    table.caption.classList.add('nhsuk-u-visually-hidden');
    const heading = h('h2', { class: 'nhsuk-heading-s cb-results__heading', text: caption });
    items.forEach((p) => tbody.appendChild(row(p)));
    const more = h('button', { class: 'nhsuk-button nhsuk-button--secondary', type: 'button', text: 'More results' });
    const live = h('p', { class: 'nhsuk-u-visually-hidden', 'aria-live': 'polite' });
    let cursor = body.next_cursor || null;
    more.hidden = !cursor;
    more.addEventListener('click', async () => {
      more.disabled = true;
      try {
        const page = await api.searchParticipants({ q: query, limit: PAGE, cursor });
        const added = (page && page.items) || [];
        const rows = added.map(row);
        rows.forEach((r) => tbody.appendChild(r));
        cursor = page.next_cursor || null;
        more.hidden = !cursor;
        live.textContent = added.length ? `${added.length} more results shown` : 'No more results';
        if (rows.length) rows[0].querySelector('a').focus();
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        live.textContent = err.offline ? 'More results could not be loaded: you are offline' : 'More results could not be loaded';
        results.appendChild(loadError(err, 'More results'));
      } finally {
        more.disabled = false;
      }
    });
    fill(results, heading, h('div', { class: 'cb-table-wrap' }, table), live, more);
    return { focus: q ? heading : null };
  },
};
