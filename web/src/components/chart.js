// Trend charts as inline SVG (createElementNS; no chart library, no markup
// strings).  The figure has a text alternative, and the views show the same
// values in a table beside it.
import { h, svg } from '../lib/dom.js';
import { formatDate, londonParts, toYmd } from '../lib/format.js';

const W = 640;
const H = 260;
const PAD = { l: 64, r: 24, t: 20, b: 48 };
const COLOURS = ['#005eb8', '#330072', '#007f3b', '#7c2855'];
let n = 0;

const ymdOf = (t) => {
  const p = londonParts(new Date(t));
  return toYmd(p.year, p.month, p.day);
};

function niceRange(min, max) {
  if (min === max) {
    const d = Math.abs(min) * 0.1 || 1;
    return [min - d, max + d];
  }
  const pad = (max - min) * 0.15;
  return [min - pad, max + pad];
}

function ticks(lo, hi, count = 4) {
  const span = hi - lo;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= count + 1) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toFixed(6)));
  return out;
}

/**
 * series: [{ name, points: [{ at: ISO time, value: number }] }]
 * range: [min, max] of the scale, or null to fit the data.
 */
export function trendChart({ title, series, range = null, unit = '', format = (v) => String(v) }) {
  n += 1;
  const capId = `cb-chart-${n}-title`;
  const descId = `cb-chart-${n}-desc`;
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.value));
  const times = all.map((p) => Date.parse(p.at));
  let t0 = Math.min(...times);
  let t1 = Math.max(...times);
  if (t0 === t1) {
    t0 -= 7 * 86400000;
    t1 += 7 * 86400000;
  }
  const vals = all.map((p) => p.value);
  let [lo, hi] = range ? [...range] : niceRange(Math.min(...vals), Math.max(...vals));
  lo = Math.min(lo, ...vals);
  hi = Math.max(hi, ...vals);
  const x = (t) => PAD.l + ((Date.parse(t) - t0) / (t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v) => PAD.t + (1 - (v - lo) / (hi - lo)) * (H - PAD.t - PAD.b);

  const grid = ticks(lo, hi).map((v) => [
    svg('line', { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), stroke: '#d8dde0', 'stroke-width': 1 }),
    svg('text', { x: PAD.l - 8, y: y(v) + 6, 'text-anchor': 'end', 'font-size': 16, fill: '#4c6272', text: format(v) }),
  ]);
  const single = Math.min(...times) === Math.max(...times);
  const first = new Date(Math.min(...times)).toISOString();
  const last = new Date(Math.max(...times)).toISOString();
  const label = (t, x0, anchor) => svg('text', { x: x0, y: H - 16, 'font-size': 16, fill: '#4c6272', 'text-anchor': anchor, text: formatDate(ymdOf(t), { short: true }) });
  const xLabels = single
    ? [label(first, x(first), 'middle')]
    : [label(first, PAD.l, 'start'), ymdOf(first) !== ymdOf(last) ? label(last, W - PAD.r, 'end') : null];
  const lines = series.map((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p.value)).sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    const colour = COLOURS[i % COLOURS.length];
    return svg('g', { class: 'cb-chart__series' },
      pts.length > 1
        ? svg('polyline', {
            points: pts.map((p) => `${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join(' '),
            fill: 'none', stroke: colour, 'stroke-width': 3, 'stroke-dasharray': i ? '8 5' : null,
            'stroke-linejoin': 'round',
          })
        : null,
      pts.map((p) => svg(i ? 'rect' : 'circle', i
        ? { x: x(p.at) - 6, y: y(p.value) - 6, width: 12, height: 12, fill: colour }
        : { cx: x(p.at), cy: y(p.value), r: 6, fill: colour },
      svg('title', { text: `${s.name}: ${format(p.value)}${unit} on ${formatDate(ymdOf(p.at))}` }))));
  });
  const summary = series.map((s) => {
    const pts = s.points.filter((p) => Number.isFinite(p.value)).sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    if (!pts.length) return '';
    const a = pts[0];
    const b = pts[pts.length - 1];
    return pts.length === 1
      ? `${s.name}: ${format(a.value)}${unit} on ${formatDate(ymdOf(a.at))}.`
      : `${s.name}: from ${format(a.value)}${unit} on ${formatDate(ymdOf(a.at))} to ${format(b.value)}${unit} on ${formatDate(ymdOf(b.at))}, ${pts.length} readings.`;
  }).join(' ');

  const chart = svg('svg', {
    class: 'cb-chart__svg', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${capId} ${descId}`,
    focusable: 'false', preserveAspectRatio: 'xMidYMid meet',
  },
  svg('desc', { id: descId, text: summary }),
  grid,
  svg('line', { x1: PAD.l, x2: PAD.l, y1: PAD.t, y2: H - PAD.b, stroke: '#4c6272', 'stroke-width': 1 }),
  svg('line', { x1: PAD.l, x2: W - PAD.r, y1: H - PAD.b, y2: H - PAD.b, stroke: '#4c6272', 'stroke-width': 1 }),
  xLabels,
  lines);

  const legend = series.length > 1
    ? h('ul', { class: 'cb-chart__legend', 'aria-hidden': 'true' },
      series.map((s, i) => h('li', { class: `cb-chart__key cb-chart__key--${i}`, text: s.name })))
    : null;
  return h('figure', { class: 'cb-chart' },
    h('figcaption', { class: 'cb-chart__title', id: capId, text: title }),
    chart,
    legend);
}
