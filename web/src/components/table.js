// NHS tables: one that stacks into labelled rows on narrow screens, one shown
// a page at a time, and a scrolling box for tables too wide for the page.
import { h } from '../lib/dom.js';

const PAGE = 25;

const cell = (c, i, cols) => h('td', { class: 'nhsuk-table__cell', role: 'cell', 'data-label': cols[i] }, c);
const row = (r, cols) => {
  const cells = Array.isArray(r) ? r : r.cells;
  return h('tr', { class: 'nhsuk-table__row', role: 'row', ...(r.attrs || {}) }, cells.map((c, i) => cell(c, i, cols)));
};
const head = (cols) => h('thead', { class: 'nhsuk-table__head', role: 'rowgroup' }, h('tr', { class: 'nhsuk-table__row', role: 'row' },
  cols.map((c) => h('th', { class: 'nhsuk-table__header', scope: 'col', role: 'columnheader', text: c }))));

/** rows: arrays of cell contents (strings or nodes), or { cells, attrs } */
export function dataTable({ caption, cols, rows, id = null, captionClass = 'nhsuk-table__caption--s', extraClass = null, stack = true }) {
  return h('table', { class: ['nhsuk-table', stack && 'cb-table-stack', extraClass], role: 'table', id },
    h('caption', { class: ['nhsuk-table__caption', captionClass], text: caption }),
    head(cols),
    h('tbody', { class: 'nhsuk-table__body', role: 'rowgroup' }, rows.map((r) => row(r, cols))));
}

/** A table too wide for a tablet scrolls inside its own box (focusable, so the keyboard can scroll it). */
export function scrollBox(label, table) {
  return h('div', { class: 'cb-scroll', role: 'region', 'aria-label': label, tabindex: '0' }, table);
}

/** A table that shows PAGE rows and a "Show more" button.  row(item) gives the cells. */
export function pagedTable({ id, caption, cols, items, row: rowOf, empty }) {
  if (!items.length) return h('p', { class: 'cb-muted', text: empty });
  const tbody = h('tbody', { class: 'nhsuk-table__body', role: 'rowgroup' });
  const tableEl = h('table', { class: 'nhsuk-table cb-table-stack', id, role: 'table' },
    h('caption', { class: 'nhsuk-table__caption nhsuk-table__caption--s', text: caption }), head(cols), tbody);
  const more = h('button', { class: 'nhsuk-button nhsuk-button--secondary', type: 'button' });
  const live = h('p', { class: 'nhsuk-u-visually-hidden', 'aria-live': 'polite' });
  let shown = 0;
  function page() {
    const trs = items.slice(shown, shown + PAGE).map((it) => row(rowOf(it), cols));
    trs.forEach((tr) => tbody.appendChild(tr));
    shown += trs.length;
    more.hidden = shown >= items.length;
    more.textContent = `Show ${Math.min(PAGE, items.length - shown)} more of ${items.length - shown}`;
    return trs;
  }
  more.addEventListener('click', () => {
    const trs = page();
    live.textContent = `${trs.length} more shown`;
    const a = trs[0] && trs[0].querySelector('a');
    if (a) a.focus();
  });
  page();
  return h('div', null, tableEl, live, more);
}
