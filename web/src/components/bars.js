// Bar charts as inline SVG (createElementNS; no chart library, no markup
// strings).  Every chart has a text alternative, and the views show the same
// figures in a table next to it.
import { h, svg } from '../lib/dom.js';

const COLOURS = ['#005eb8', '#330072'];
// Drawn at 1:1 in a half-width column on a desktop, never scaled up.  Each
// group's name is written above its bars, so long names fit.
const W = 464;
const VALUE_W = 70;
const LABEL_H = 22;
let n = 0;

/**
 * Horizontal bars, one row per group.
 * rows: [{ label, values: [number|null, ...] }] (one value per series)
 * series: names of the series (a legend is shown for two)
 * text(v): how a value is written beside its bar
 */
export function barChart({ title, rows, series = [''], text = String, id = null }) {
  n += 1;
  const capId = `cb-bars-${n}-title`;
  const descId = `cb-bars-${n}-desc`;
  const ns = series.length;
  const bar = ns > 1 ? 14 : 18;
  const rowH = LABEL_H + ns * bar + 4 * (ns - 1) + 12;
  const vals = rows.flatMap((r) => r.values).filter(Number.isFinite);
  const lo = Math.min(0, ...vals);
  const hi = Math.max(0, ...vals);
  const span = hi - lo || 1;
  const x = (v) => 8 + ((v - lo) / span) * (W - 8 - VALUE_W);
  const H = rows.length * rowH + 4;
  const body = rows.map((r, i) => {
    const y0 = 4 + i * rowH;
    return svg('g', null,
      svg('text', { x: 8, y: y0 + 15, fill: '#212b32', text: r.label.length > 52 ? `${r.label.slice(0, 51)}…` : r.label }),
      // the zero line beside the bars only, so it never crosses a name
      svg('line', { x1: x(0), x2: x(0), y1: y0 + LABEL_H - 3, y2: y0 + rowH - 9, stroke: '#4c6272', 'stroke-width': 1 }),
      r.values.map((v, k) => {
        const y = y0 + LABEL_H + k * (bar + 4);
        if (!Number.isFinite(v)) {
          return svg('text', { x: x(0) + 6, y: y + bar / 2 + 5, fill: '#4c6272', text: 'no figure' });
        }
        const a = Math.min(x(0), x(v));
        const w = Math.max(Math.abs(x(v) - x(0)), v ? 2 : 0);
        return [
          svg('rect', { x: a, y, width: w, height: bar, fill: COLOURS[k % 2] }),
          svg('text', { x: Math.max(x(0), x(v)) + 6, y: y + bar / 2 + 5, fill: '#212b32', text: text(v) }),
        ];
      }));
  });
  const desc = rows.map((r) => `${r.label}: ${r.values.map((v, k) => `${ns > 1 ? `${series[k]} ` : ''}${Number.isFinite(v) ? text(v) : 'no figure'}`).join(', ')}`).join('; ');
  return h('figure', { class: 'cb-chart cb-bars', id },
    h('figcaption', { class: 'cb-chart__title', id: capId, text: title }),
    svg('svg', { class: 'cb-chart__svg', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${capId} ${descId}`, focusable: 'false' },
      svg('desc', { id: descId, text: desc }),
      body),
    ns > 1 ? h('ul', { class: 'cb-chart__legend', 'aria-hidden': 'true' },
      series.map((s, i) => h('li', { class: `cb-chart__key cb-chart__key--${i}`, text: s }))) : null);
}

/** A small bar for a table cell (decorative: the number is in the cell). */
export function cellBar(v, max) {
  const w = Number.isFinite(v) && max > 0 ? Math.max(0, Math.min(1, v / max)) * 100 : 0;
  return svg('svg', { class: 'cb-cellbar', viewBox: '0 0 100 10', preserveAspectRatio: 'none', 'aria-hidden': 'true', focusable: 'false' },
    svg('rect', { x: 0, y: 0, width: 100, height: 10, fill: '#e8edee' }),
    w ? svg('rect', { x: 0, y: 0, width: w, height: 10, fill: '#005eb8' }) : null);
}
