// An NHS table that stacks into labelled rows on narrow screens.
import { h } from '../lib/dom.js';

/** rows: arrays of cell contents (strings or nodes), or { cells, attrs } */
export function dataTable({ caption, cols, rows, id = null, captionClass = 'nhsuk-table__caption--s', extraClass = null }) {
  return h('table', { class: ['nhsuk-table cb-table-stack', extraClass], role: 'table', id },
    h('caption', { class: ['nhsuk-table__caption', captionClass], text: caption }),
    h('thead', { class: 'nhsuk-table__head', role: 'rowgroup' }, h('tr', { class: 'nhsuk-table__row', role: 'row' },
      cols.map((c) => h('th', { class: 'nhsuk-table__header', scope: 'col', role: 'columnheader', text: c })))),
    h('tbody', { class: 'nhsuk-table__body', role: 'rowgroup' }, rows.map((r) => {
      const cells = Array.isArray(r) ? r : r.cells;
      return h('tr', { class: 'nhsuk-table__row', role: 'row', ...(r.attrs || {}) },
        cells.map((c, i) => h('td', { class: 'nhsuk-table__cell', role: 'cell', 'data-label': cols[i] }, c)));
    })));
}
