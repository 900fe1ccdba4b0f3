// Shared helpers for the browser tests (run by run.sh, which sets E2E_*).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run the tests with tests/e2e/run.sh`);
  return v;
};

export const BASE = env('E2E_BASE');
export const ARTIFACTS = process.env.E2E_ARTIFACTS || path.join(here, 'artifacts');
export const PASSWORD = 'livewell-demo';
export const TABLET = { width: 768, height: 1024 };
export const TABLET_LANDSCAPE = { width: 1024, height: 768 };
export const PHONE = { width: 390, height: 844 };
const AXE = fs.readFileSync(path.join(here, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

export async function launch() {
  return chromium.launch({
    executablePath: env('E2E_CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/** A fresh context (its own storage, like a new tablet) and page.  page.problems collects console errors. */
export async function newPage(browser, viewport = TABLET) {
  const context = await browser.newContext({ viewport, locale: 'en-GB', timezoneId: 'Europe/London' });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const t = m.text();
    if (/Content Security Policy|Refused to/i.test(t)) page.problems.push(`CSP: ${t}`);
    else if (m.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED|net::ERR_FAILED/.test(t)) page.problems.push(`console: ${t}`);
  });
  return { context, page };
}

export function noProblems(page) {
  assert.deepEqual(page.problems, [], `browser problems:\n${page.problems.join('\n')}`);
}

export async function signIn(page, username = 'coach.bury', base = BASE) {
  await page.goto(`${base}/#/login`);
  await page.locator('#username').fill(username);
  await page.locator('#password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#outbox-badge:not([hidden])').waitFor();
}

/** Go to an app route (hash) and wait for its main heading. */
export async function go(page, route, heading) {
  await page.evaluate((r) => { location.hash = r; }, route);
  if (heading) await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  await page.waitForFunction(() => !document.querySelector('main [aria-busy="true"], main[aria-busy="true"]'));
}

export async function shot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const vp = page.viewportSize();
  const file = path.join(ARTIFACTS, `${name}-${vp.width}x${vp.height}.png`);
  // A full-page capture keeps sticky elements where the first screen put them
  // (the live-score bars would sit over the top of each measure form), so they
  // are drawn in their place in the page for the picture, then made sticky again.
  const unstuck = await page.evaluate(() => {
    const els = [...document.querySelectorAll('.cb-measure-form .cb-score')];
    els.forEach((el) => { el.style.position = 'static'; });
    return els.length;
  });
  await page.screenshot({ path: file, fullPage: true });
  if (unstuck) await page.evaluate(() => document.querySelectorAll('.cb-measure-form .cb-score').forEach((el) => { el.style.position = ''; }));
  return file;
}

/** axe-core, WCAG 2.0-2.2 A and AA rules: zero violations. */
export async function axe(page, label) {
  const has = await page.evaluate(() => typeof window.axe !== 'undefined');
  // The app's CSP allows no inline scripts, so axe goes in through the DevTools protocol.
  if (!has) await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
    resultTypes: ['violations'],
  }));
  const v = result.violations.map((x) => `${x.id} (${x.impact}): ${x.help}\n    ${x.nodes.slice(0, 5).map((n) => n.target.join(' ')).join('\n    ')}`);
  assert.equal(v.length, 0, `axe violations on ${label}:\n  ${v.join('\n  ')}`);
}

/**
 * Layout checks: no horizontal scrolling; visible controls at least 44 by 44
 * CSS pixels (links at least 44 high: all but those inside a paragraph of text,
 * which WCAG 2.5.8 exempts as inline).
 */
export async function layoutChecks(page, label) {
  const r = await page.evaluate(() => {
    const overflow = document.documentElement.scrollWidth - document.documentElement.clientWidth;
    const small = [];
    for (const el of document.querySelectorAll('main button, main input:not([type=radio]):not([type=checkbox]), main select, header a, header button, .nhsuk-radios__label, .nhsuk-checkboxes__label, main .nhsuk-button, main a:not(p a)')) {
      const b = el.getBoundingClientRect();
      if (!b.width || !b.height) continue; // hidden
      if (b.height < 43.5 || (el.tagName !== 'A' && el.tagName !== 'LABEL' && b.width < 43.5)) small.push(`${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''} "${(el.textContent || el.value || '').trim().slice(0, 30)}" ${Math.round(b.width)}x${Math.round(b.height)}`);
    }
    return { overflow, small };
  });
  assert.ok(r.overflow <= 0, `${label}: scrolls sideways by ${r.overflow}px`);
  assert.deepEqual(r.small, [], `${label}: touch targets under 44px:\n${r.small.join('\n')}`);
}

// ---------------------------------------------------------------- API

/** A signed-in API client for setting up data (Node fetch, cookie and CSRF token). */
export async function apiAs(username, base = BASE) {
  const res = await fetch(`${base}/api/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD }),
  });
  assert.equal(res.status, 200, `login ${username}`);
  const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const { csrf_token: csrf, user } = await res.json();
  const call = async (method, url, body) => {
    const r = await fetch(`${base}${url}`, {
      method,
      headers: { Cookie: cookie, 'X-CSRF-Token': csrf, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await r.json().catch(() => null);
    if (!r.ok) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(data)}`);
    return data;
  };
  return {
    user,
    get: (u) => call('GET', u),
    post: (u, b) => call('POST', u, b),
    put: (u, b) => call('PUT', u, b),
    patch: (u, b) => call('PATCH', u, b),
  };
}

/** A valid 999-range (test) NHS number not used by the demo seeder. */
export function testNhsNumber(seed) {
  for (let i = seed; ; i++) {
    const s = `9998${String(i % 1000000).padStart(5, '0')}`;
    let sum = 0;
    for (let k = 0; k < 9; k++) sum += Number(s[k]) * (10 - k);
    let c = 11 - (sum % 11);
    if (c === 11) c = 0;
    if (c !== 10) return s + c;
  }
}

/** A name nobody else in the demo data has. */
export function uniqueName(prefix) {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  let n = Date.now() + Math.floor(Math.random() * 1e6);
  let s = '';
  while (n > 0) {
    s += letters[n % 26];
    n = Math.floor(n / 26);
  }
  return `${prefix}${s.slice(0, 6)}`;
}

// ---------------------------------------------------------------- server and database

export function sql(query) {
  return execFileSync('sqlite3', ['-readonly', path.join(env('E2E_DATA'), 'coachbox.db'), query], { encoding: 'utf8' }).trim();
}

export async function stopServer() {
  const pidfile = env('E2E_PIDFILE');
  const pid = Number(fs.readFileSync(pidfile, 'utf8').trim());
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.kill(pid, 'SIGKILL');
}

export async function startServer() {
  const log = fs.openSync(env('E2E_LOG'), 'a');
  const child = spawn(env('E2E_BIN'), ['serve', '--data', env('E2E_DATA'), '--listen', `127.0.0.1:${env('E2E_PORT')}`, '--allow-test-nhs'],
    { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  fs.writeFileSync(env('E2E_PIDFILE'), String(child.pid));
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${BASE}/healthz`);
      if (r.ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the server did not restart');
}

/**
 * A second server for a test of its own, on a free loopback port: a fresh data
 * directory seeded with coachbox-demo-seed (--central for central), or the
 * data directory given.  stop() ends it and removes the directory.
 * Returns { base, data, port, stop() }.
 */
export async function startExtraServer({ central = true, participants = 300, data: dir = null } = {}) {
  const net = await import('node:net');
  const os = await import('node:os');
  const port = await new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
  const data = dir || fs.mkdtempSync(path.join(os.tmpdir(), central ? 'coachbox-central-' : 'coachbox-field-'));
  if (!dir) execFileSync(env('E2E_SEED'), [...(central ? ['--central'] : []), data, String(participants)], { stdio: 'ignore' });
  const log = fs.openSync(path.join(data, 'server.log'), 'a');
  const child = spawn(env('E2E_BIN'), [central ? 'central' : 'serve', '--data', data, '--listen', `127.0.0.1:${port}`, '--allow-test-nhs'],
    { stdio: ['ignore', log, log] });
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => { const t = setTimeout(() => { child.kill('SIGKILL'); r(); }, 5000); child.once('exit', () => { clearTimeout(t); r(); }); });
    }
    fs.rmSync(data, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return { base, data, port, stop };
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`the ${central ? 'central' : 'field'} server did not start: ${fs.readFileSync(path.join(data, 'server.log'), 'utf8').slice(-2000)}`);
}

/** Run the coachbox command line (e.g. ['site', 'add', ...]); returns stdout. */
export function cli(args, input = undefined) {
  try {
    return execFileSync(env('E2E_BIN'), args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`coachbox ${args.join(' ')}: exit ${e.status}\n${e.stderr || ''}${e.stdout || ''}`);
  }
}
