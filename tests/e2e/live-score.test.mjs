// The tablet's live score (web/src/lib/measures.js, run here under Node)
// against the server's (`coachbox score`, the same code the API runs), over
// the band edges of every instrument the browser scores while a form is filled
// in.  Both must give the same completeness, score, band and flags (and the
// per-question bands of ONS4, the raw score of SWEMWBS).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { liveScore, ORDER } from '../../web/src/lib/measures.js';

const BIN = process.env.E2E_BIN;
if (!BIN) throw new Error('E2E_BIN is not set: run the tests with tests/e2e/run.sh');

/**
 * The server's result for KEY=VALUE strings.  An incomplete questionnaire is
 * scored too (--allow-incomplete); an incomplete physical measure is refused
 * (exit 2), which gives null.
 */
function serverScore(instrument, responses) {
  const words = Object.entries(responses).map(([k, v]) => `${k}=${v}`);
  try {
    return JSON.parse(execFileSync(BIN, ['score', '--allow-incomplete', instrument, ...words], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  } catch (e) {
    if (e.status === 2) return null;
    throw e;
  }
}

/** Items q1..qN whose answers (each min..max) add up to total. */
function itemsSumming(n, total, min, max) {
  const r = {};
  let left = total - n * min;
  assert.ok(left >= 0 && left <= n * (max - min), `total ${total} out of range`);
  for (let i = 1; i <= n; i++) {
    const add = Math.min(max - min, left);
    r[`q${i}`] = String(min + add);
    left -= add;
  }
  return r;
}

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const HOURS = ['none', 'lt1', '1to3', 'ge3'];
const OCCUPATIONS = ['not_employed', 'sedentary', 'standing', 'physical', 'heavy_manual'];
const ETHNIC = ['white_british', 'asian_indian', 'black_caribbean', 'mixed_white_asian', 'other_arab', 'not_stated'];

/** Boundary cases, by instrument: responses as the form holds them (strings). */
function cases() {
  const c = {};
  c.swemwbs = [...range(7, 35).map((t) => itemsSumming(7, t, 1, 5)), { q1: '3', q2: '4' }];
  c.wemwbs = [14, 40, 41, 44, 45, 58, 59, 70].map((t) => itemsSumming(14, t, 1, 5));
  c.phq9 = [
    ...[0, 4, 5, 9, 10, 14, 15, 19, 20, 27].map((t) => itemsSumming(9, t, 0, 3)),
    { ...itemsSumming(8, 4, 0, 3), q9: '1' }, { ...itemsSumming(8, 0, 0, 3), q9: '0' },
    { q9: '1' }, { q9: '0' }, { q1: '2', q9: '3' },
  ];
  c.gad7 = [...[0, 4, 5, 9, 10, 14, 15, 21].map((t) => itemsSumming(7, t, 0, 3)), { q1: '3' }];
  c.audit_c = [...[0, 4, 5, 12].map((t) => itemsSumming(3, t, 0, 4)), { q1: '4', q2: '4' }];
  c.ons4 = [
    ...range(0, 10).map((v) => ({ q1: String(v), q2: String(10 - v), q3: String(v), q4: String(v) })),
    { q1: '5', q2: '7' },
  ];
  c.hsi = [];
  for (const m of [0, 5, 6, 30, 31, 60, 61, 240]) {
    for (const n of [1, 10, 11, 20, 21, 30, 31, 80]) c.hsi.push({ minutes_to_first: String(m), cigarettes_per_day: String(n) });
  }
  c.hsi.push({ minutes_to_first: '5' });
  c.bmi = [];
  // At 200 cm the BMI is weight / 4, so each edge is exact.
  for (const b of [18.4, 18.5, 22.9, 23, 24.9, 25, 27.4, 27.5, 29.9, 30, 34.9, 35, 39.9, 40]) {
    for (const e of [...ETHNIC, null]) {
      const r = { height_cm: '200', weight_kg: (b * 4).toFixed(1) };
      if (e) r.ethnic_group = e;
      c.bmi.push(r);
    }
  }
  // Rounding to one decimal place at the edges: 24.95 -> 25.0, 24.94 -> 24.9.
  c.bmi.push({ height_cm: '170', weight_kg: '72.25' }, { height_cm: '170', weight_kg: '72.08' }, { height_cm: '165', weight_kg: '86' });
  c.bmi.push({ height_cm: '170' });
  c.whtr = [];
  for (const w of [39, 40, 49, 50, 59, 60, 39.4, 39.5]) c.whtr.push({ waist_cm: String(w), height_cm: '100' });
  c.whtr.push({ waist_cm: '85', height_cm: '170' }, { waist_cm: '101', height_cm: '170' }, { waist_cm: '80' });
  c.bp = [];
  for (const [s, d] of [[120, 80], [139, 89], [140, 80], [120, 90], [159, 99], [160, 99], [120, 100], [179, 119], [179, 120], [180, 100], [182, 70], [150, 121]]) {
    c.bp.push({ systolic: String(s), diastolic: String(d) });
  }
  for (const st of [100, 101, 120, 140]) c.bp.push({ systolic: '120', diastolic: '80', standing_systolic: String(st) });
  c.bp.push({ systolic: '180' }, { diastolic: '120' }, { systolic: '179' });
  c.tug = ['8', '11.9', '11.94', '11.95', '12', '12.04', '30'].map((s) => ({ seconds: s }));
  c.cfs = range(1, 9).map((l) => ({ level: String(l) }));
  c.qrisk = ['0', '9.9', '10', '20', '35.5'].map((s) => ({ score: s, date: '2026-01-05', source: 'GP record' }));
  c.gppaq = [];
  for (const ex of HOURS) for (const cy of HOURS) for (const o of OCCUPATIONS) c.gppaq.push({ occupation: o, exercise_hours: ex, cycling_hours: cy });
  // Numbers of hours are summed too: 2 + 2 is 3 hours or more.
  for (const [ex, cy] of [['2', '2'], ['0.5', '0.5'], ['0', '0'], ['0.5', '0'], ['3', '0'], ['2.9', '0'], ['1', 'none'], ['lt1', '0.5'], ['1to3', '2'], ['0', 'lt1']]) {
    c.gppaq.push({ occupation: 'sedentary', exercise_hours: ex, cycling_hours: cy });
  }
  c.gppaq.push({ occupation: 'sedentary', exercise_hours: 'ge3' });
  c.ipaq_short = [];
  const ipaq = (vd, vm, md, mm, wd, wm) => {
    const r = { vigorous_days: String(vd), moderate_days: String(md), walking_days: String(wd) };
    if (vd > 0) r.vigorous_minutes = String(vm);
    if (md > 0) r.moderate_minutes = String(mm);
    if (wd > 0) r.walking_minutes = String(wm);
    return r;
  };
  for (const a of [
    [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 5, 30], [0, 0, 0, 0, 5, 29], [0, 0, 0, 0, 4, 30], [3, 20, 0, 0, 0, 0], [3, 19, 0, 0, 0, 0],
    [2, 20, 0, 0, 0, 0], [3, 63, 0, 0, 0, 0], [3, 62, 0, 0, 0, 0], [3, 60, 0, 0, 2, 10], [7, 300, 0, 0, 0, 0],
    [0, 0, 7, 107, 0, 0], [0, 0, 7, 108, 0, 0], [1, 10, 3, 60, 3, 60], [2, 20, 2, 30, 2, 30], [0, 0, 3, 30, 2, 30],
    [0, 0, 2, 30, 2, 29], [1, 60, 2, 60, 2, 60], [7, 180, 7, 180, 7, 180], [3, 181, 0, 0, 0, 0], [0, 0, 0, 0, 7, 130],
    [0, 0, 0, 0, 7, 129],
  ]) c.ipaq_short.push(ipaq(...a));
  c.ipaq_short.push({ vigorous_days: '3', moderate_days: '0' });
  c.smoking = [{ status: 'never' }, { status: 'ex_smoker' }, { status: 'current' }, { status: 'quit_attempt', quit_date: '2026-01-01' }];
  for (const followup of ['2026-01-25', '2026-01-26', '2026-02-12', '2026-02-13']) {
    for (const [quit, co] of [['yes', null], ['yes', '9'], ['yes', '10'], ['no', '3']]) {
      const r = { status: 'quit_attempt', quit_date: '2026-01-01', followup_date: followup, self_reported_quit: quit };
      if (co !== null) r.co_ppm = co;
      c.smoking.push(r);
    }
  }
  c.bowel_screening = [];
  for (const s of ['not_yet_eligible', 'kit_not_received', 'kit_received_not_returned', 'kit_returned', 'declined']) {
    c.bowel_screening.push({ status: s });
  }
  // "After support" applies only to a returned kit.
  c.bowel_screening.push({ status: 'kit_returned', after_support: 'yes' }, { status: 'kit_returned', after_support: 'no' });
  return c;
}

const norm = (x) => (x === undefined ? null : x);

test('the live score in the browser matches `coachbox score` at every band edge of all 17 instruments', () => {
  const all = cases();
  assert.deepEqual(Object.keys(all).sort(), [...ORDER].sort(), 'a case list for every instrument the form offers');
  let n = 0;
  let refused = 0;
  for (const instrument of ORDER) {
    for (const responses of all[instrument]) {
      const server = serverScore(instrument, responses);
      const live = liveScore(instrument, responses);
      const what = `${instrument} ${JSON.stringify(responses)}: browser ${JSON.stringify(live)} server ${JSON.stringify(server)}`;
      n++;
      if (server === null) {
        // Refused as incomplete: the browser shows no score either.
        assert.equal(live.complete, false, `complete: ${what}`);
        refused++;
        continue;
      }
      assert.equal(live.complete, server.complete, `complete: ${what}`);
      if (server.complete) {
        assert.equal(norm(live.score), norm(server.score), `score: ${what}`);
        assert.equal(norm(live.band), norm(server.band), `band: ${what}`);
      }
      assert.deepEqual([...live.flags].sort(), [...server.flags].sort(), `flags: ${what}`);
      if (instrument === 'ons4') {
        const want = Object.fromEntries(Object.entries(server.bands).filter(([, v]) => v !== null));
        assert.deepEqual(live.extra.bands, want, `bands: ${what}`);
      }
      if (instrument === 'swemwbs' && server.complete) assert.equal(live.extra.raw_score, server.raw_score, `raw score: ${what}`);
    }
  }
  assert.ok(n > 400, `${n} cases`);
  assert.ok(refused < 10, `${refused} cases refused by the server`);
});

test('GPPAQ sums exercise and cycling before banding, as the server does', () => {
  // 2 hours of each is 4 hours: active (the maximum of the two would say moderately active).
  const r = { occupation: 'sedentary', exercise_hours: '2', cycling_hours: '2' };
  assert.equal(liveScore('gppaq', r).band, 'active');
  assert.equal(serverScore('gppaq', r).band, 'active');
  // Two lots of "1 to 3 hours" are at least 2 hours: still moderately active.
  const codes = { occupation: 'sedentary', exercise_hours: '1to3', cycling_hours: '1to3' };
  assert.equal(liveScore('gppaq', codes).band, 'moderately_active');
  assert.equal(serverScore('gppaq', codes).band, 'moderately_active');
});
