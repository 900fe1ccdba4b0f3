#!/usr/bin/env node
// Coach UI benchmark: prints figures, asserts nothing.
//
//   tools/ui_bench.sh [--participants N] [--runs N]          (the wrapper finds the binaries)
//   node tools/ui_bench.mjs --bin build/test/coachbox [--seed build/test/coachbox-demo-seed]
//        [--participants 300] [--runs 5] [--chromium /usr/bin/chromium]
//
// Seeds a fresh field data directory with the demo data (coachbox-demo-seed,
// 300 synthetic participants by default, as tools/demo.sh does), starts
// `coachbox serve` on a free 127.0.0.1 port, checks 8 people in to today's
// queue, and measures with Debian Chromium (playwright-core from tests/e2e):
//
// 1. Today screen time-to-interactive: from navigation start (the page's
//    performance.now()) until the check-in search is in the page and the
//    queue has loaded (.cb-queue no longer aria-busy), recorded by a
//    MutationObserver injected before the app's own script.
//    - cold: a fresh browser profile each run (no HTTP cache, no service
//      worker), signed in by cookie, loading /#/today;
//    - warm: the same profile once its service worker controls the app, each
//      load in a new tab (app shell from the service worker's cache), and
//      reloads of one tab (also with Chrome's memory and code caches).
//    For each: median, min and max over --runs of the renderer's main-thread
//    task time (Chrome's TaskDuration: wall time of its tasks, so it grows
//    with the machine's load too), the CPU time of all the browser's
//    processes and of the server (from /proc, per thread: these move least
//    when the machine is shared),
//    and the bytes the page received over the network (answers passed on by
//    the service worker count as 0).
// 2. A 15-person group register: the lead's actions (taps and key presses)
//    from "Take register" to "Register saved", with 3 exceptions, and the
//    machine time it took (no human thinking time).
// 3. The UI bundle compressed, as the build counts it against its 150 KB
//    budget (web/build.mjs, written to a temporary file).
//
// Stops the server it started (also on Ctrl-C) and removes its data.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PASSWORD = 'livewell-demo';

function usage(msg) {
  if (msg) console.error(`ui_bench: ${msg}`);
  console.error('usage: node tools/ui_bench.mjs --bin COACHBOX [--seed SEEDER] [--participants N] [--runs N] [--chromium PATH]');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { bin: process.env.COACHBOX_BIN || null, seed: null, participants: 300, runs: 5, chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    if (a === '--bin') o.bin = val();
    else if (a === '--seed') o.seed = val();
    else if (a === '--participants') o.participants = Number(val());
    else if (a === '--runs') o.runs = Number(val());
    else if (a === '--chromium') o.chromium = val();
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!o.bin) usage('--bin (or COACHBOX_BIN) is needed');
  o.bin = path.resolve(o.bin);
  o.seed = path.resolve(o.seed || path.join(path.dirname(o.bin), 'coachbox-demo-seed'));
  if (!Number.isInteger(o.participants) || o.participants < 100 || o.participants > 100000) usage('--participants must be 100 to 100000 (the register needs 15 people in one team)');
  if (!Number.isInteger(o.runs) || o.runs < 1 || o.runs > 50) usage('--runs must be 1 to 50');
  for (const f of [o.bin, o.seed, o.chromium]) if (!fs.existsSync(f)) usage(`${f} does not exist`);
  return o;
}

const opts = parseArgs(process.argv.slice(2));
let playwright;
try {
  playwright = createRequire(path.join(root, 'tests', 'e2e', 'package.json'))('playwright-core');
} catch {
  usage('playwright-core is missing: run `npm ci` in tests/e2e (tests/e2e/run.sh does it)');
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const fmt = (xs, unit = 'ms', dp = 0) => `median ${median(xs).toFixed(dp)} ${unit} (min ${Math.min(...xs).toFixed(dp)}, max ${Math.max(...xs).toFixed(dp)}, n=${xs.length})`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

/**
 * CPU seconds a process has run, summed over its threads from
 * /proc/PID/task/TID/schedstat (nanoseconds; Linux).  /proc/PID/stat counts
 * in clock ticks (10 ms), too coarse for one page load.
 */
function serverCpu(pid) {
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      /* the thread ended */
    }
  }
  return ns / 1e9;
}

/**
 * CPU seconds of the browser: every process descended from this one (Chrome's
 * browser, renderer, GPU and network processes) except the coachbox server.
 * Unlike Chrome's own task timings this does not grow while the process waits
 * for a CPU another program holds.
 */
function browserCpu() {
  const children = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
    } catch {
      /* gone */
    }
  }
  let total = 0;
  const walk = (pid) => {
    for (const c of children.get(pid) || []) {
      if (server && c === server.pid) continue;
      try { total += serverCpu(c); } catch { /* gone */ }
      walk(c);
    }
  };
  walk(process.pid);
  return total;
}

// ------------------------------------------------------------------ server

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'coachbox-uibench-'));
const data = path.join(work, 'data');
let server = null;

async function stopServer() {
  if (server && server.exitCode === null && server.signalCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => { const t = setTimeout(() => { server.kill('SIGKILL'); r(); }, 5000); server.once('exit', () => { clearTimeout(t); r(); }); });
  }
  server = null;
}
async function cleanup() {
  await stopServer();
  fs.rmSync(work, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanup().finally(() => process.exit(130)); });

async function login(base, username) {
  const res = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD }) });
  if (res.status !== 200) throw new Error(`login ${username}: ${res.status}`);
  const cookies = res.headers.getSetCookie().map((c) => c.split(';')[0]);
  const { csrf_token: csrf, user } = await res.json();
  const call = async (method, url, body) => {
    const r = await fetch(`${base}${url}`, { method, headers: { Cookie: cookies.join('; '), 'X-CSRF-Token': csrf, ...(body ? { 'Content-Type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const j = await r.json().catch(() => null);
    if (!r.ok) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(j)}`);
    return j;
  };
  return { user, cookies, get: (u) => call('GET', u), post: (u, b) => call('POST', u, b) };
}

function contextCookies(base, cookies) {
  const u = new URL(base);
  return cookies.map((c) => { const i = c.indexOf('='); return { name: c.slice(0, i), value: c.slice(i + 1), domain: u.hostname, path: '/' }; });
}

// Records when Today is interactive, before the app's own script runs.
const READY_PROBE = `(() => {
  const done = () => document.getElementById('checkin-search') && document.querySelector('.cb-queue') && !document.querySelector('.cb-queue[aria-busy="true"]');
  const obs = new MutationObserver(() => { if (!window.__cbReady && done()) { window.__cbReady = performance.now(); obs.disconnect(); } });
  obs.observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-busy'] });
})();`;

async function metrics(cdp) {
  const { metrics: m } = await cdp.send('Performance.getMetrics');
  return Object.fromEntries(m.map((x) => [x.name, x.value]));
}

/** One load of Today in page (goto or reload); returns { ms, taskMs, browserCpuMs, serverCpuMs, bytes }. */
async function loadToday(page, cdp, how, base) {
  let bytes = 0;
  const onDone = (e) => { bytes += e.encodedDataLength; };
  cdp.on('Network.loadingFinished', onDone);
  const before = await metrics(cdp);
  const cpu0 = serverCpu(server.pid);
  const b0 = browserCpu();
  if (how === 'goto') await page.goto(`${base}/#/today`);
  else await page.reload();
  await page.waitForFunction(() => window.__cbReady, null, { timeout: 30000, polling: 50 });
  const ms = await page.evaluate(() => window.__cbReady);
  await sleep(300); // let the requests of this load finish before counting
  const cpu1 = serverCpu(server.pid);
  const b1 = browserCpu();
  const after = await metrics(cdp);
  cdp.off('Network.loadingFinished', onDone);
  return { ms, taskMs: (after.TaskDuration - before.TaskDuration) * 1000, browserCpuMs: (b1 - b0) * 1000, serverCpuMs: (cpu1 - cpu0) * 1000, bytes };
}

async function main() {
  console.log(`ui_bench: ${opts.participants} demo participants, ${opts.runs} runs, ${os.cpus().length} CPUs, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  execFileSync(opts.seed, [data, String(opts.participants)], { stdio: 'ignore' });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = fs.openSync(path.join(work, 'server.log'), 'a');
  server = spawn(opts.bin, ['serve', '--data', data, '--listen', `127.0.0.1:${port}`, '--allow-test-nhs'], { stdio: ['ignore', log, log] });
  let up = false;
  for (let i = 0; i < 100 && !up; i++) {
    try { up = (await fetch(`${base}/healthz`)).ok; } catch { await sleep(100); }
  }
  if (!up) throw new Error(`the server did not start: ${fs.readFileSync(path.join(work, 'server.log'), 'utf8').slice(-2000)}`);

  // Today's queue: 8 people checked in, 2 of them with a coach.
  const coach = await login(base, 'coach.bury');
  const some = (await coach.get('/api/participants?limit=8')).items;
  for (const [i, p] of some.entries()) {
    const c = await coach.post('/api/checkins', { participant_id: p.id, arrived_at: new Date(Date.now() - (40 - i * 4) * 60000).toISOString(), reason: i % 2 ? 'Weight check' : null });
    if (i < 2) await coach.post(`/api/checkins/${c.id}/call`);
  }

  const browser = await playwright.chromium.launch({
    executablePath: opts.chromium,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync', '--disable-dev-shm-usage'],
  });
  try {
    const viewport = { width: 768, height: 1024 };
    const newCtx = async () => {
      const context = await browser.newContext({ viewport, locale: 'en-GB', timezoneId: 'Europe/London', serviceWorkers: 'allow' });
      await context.addCookies(contextCookies(base, coach.cookies));
      await context.addInitScript(READY_PROBE);
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Performance.enable');
      await cdp.send('Network.enable');
      return { context, page, cdp };
    };

    // Warm up the server's page cache and statement cache once (not counted).
    { const w = await newCtx(); await loadToday(w.page, w.cdp, 'goto', base); await w.context.close(); }

    const cold = [];
    for (let i = 0; i < opts.runs; i++) {
      const c = await newCtx();
      cold.push(await loadToday(c.page, c.cdp, 'goto', base));
      await c.context.close();
    }
    // Warm: the same profile once its service worker has installed and cached
    // the app shell; each load in a new tab, as a tablet reopening the app.
    // (A reload in the same tab is no different for the page, but Chrome may
    // swap the renderer and its counters under it.)
    const warm = [];
    const reload = [];
    let controlledAll = true;
    {
      const c = await newCtx();
      await loadToday(c.page, c.cdp, 'goto', base);
      await c.page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller, null, { timeout: 30000 }).catch(() => {});
      for (let i = 0; i < opts.runs; i++) {
        const page = await c.context.newPage();
        const cdp = await c.context.newCDPSession(page);
        await cdp.send('Performance.enable');
        await cdp.send('Network.enable');
        warm.push(await loadToday(page, cdp, 'goto', base));
        controlledAll &&= await page.evaluate(() => !!(navigator.serviceWorker && navigator.serviceWorker.controller));
        await page.close();
      }
      // And reloads of one tab (the renderer's counters are not comparable across a reload).
      for (let i = 0; i < opts.runs; i++) reload.push(await loadToday(c.page, c.cdp, 'reload', base));
      controlledAll &&= await c.page.evaluate(() => !!(navigator.serviceWorker && navigator.serviceWorker.controller));
      console.log(`\nToday screen (768x1024, signed in as coach.bury, 8 in the queue); service worker controlling every warm load: ${controlledAll ? 'yes' : 'NO'}`);
      await c.context.close();
    }
    for (const [name, xs, renderer] of [['cold (fresh profile, no cache)', cold, true], ['warm (same profile, new tab, service worker cache)', warm, true], ['warm reload (same tab)', reload, false]]) {
      console.log(`  ${name}`);
      console.log(`    time to interactive      ${fmt(xs.map((x) => x.ms))}`);
      if (renderer) console.log(`    renderer main-thread tasks ${fmt(xs.map((x) => x.taskMs))}`);
      console.log(`    browser CPU (all procs)  ${fmt(xs.map((x) => x.browserCpuMs))}`);
      console.log(`    server CPU (user+sys)    ${fmt(xs.map((x) => x.serverCpuMs))}`);
      console.log(`    bytes to the page        ${fmt(xs.map((x) => x.bytes / 1024), 'KB', 1)}`);
    }

    // A 15-person register, as groups.test.mjs takes it.
    const lead = await login(base, 'lead.bury');
    const people = (await lead.get('/api/participants?limit=15')).items;
    if (people.length !== 15) throw new Error(`only ${people.length} people in bury-town: use more --participants`);
    const venue = await lead.post('/api/venues', { name: 'Bench Library', team: 'bury-town', postcode: 'BL9 0EJ' });
    const start = new Date(Date.now() - 14 * 86400000);
    const prog = await lead.post('/api/programmes', { name: 'Bench strength and balance', topic: 'frailty_falls', team: 'bury-town', venue: venue.id, start_date: start.toISOString().slice(0, 10), weeks: 6, status: 'running' });
    start.setUTCHours(10, 0, 0, 0);
    await lead.post(`/api/programmes/${prog.id}/schedule`, { first_session_at: start.toISOString(), count: 6 });
    for (const p of people) await lead.post('/api/enrolments', { participant_id: p.id, programme_id: prog.id, enrolled_on: start.toISOString().slice(0, 10) });
    const regTimes = [];
    let actions = null;
    for (let run = 0; run < Math.min(opts.runs, 6); run++) {
      const context = await browser.newContext({ viewport, locale: 'en-GB', timezoneId: 'Europe/London' });
      await context.addCookies(contextCookies(base, lead.cookies));
      const page = await context.newPage();
      await page.goto(`${base}/#/groups/${prog.id}`);
      await page.getByRole('heading', { level: 1, name: prog.name }).waitFor();
      await page.evaluate(() => {
        window.cbActions = 0;
        for (const t of ['pointerdown', 'keydown']) document.addEventListener(t, (e) => { if (e.isTrusted) window.cbActions += 1; }, true);
      });
      const t0 = Date.now();
      await page.getByRole('link', { name: `Take register for session ${run + 1}` }).click();
      await page.getByRole('heading', { level: 1, name: 'Register' }).waitFor();
      await page.getByRole('button', { name: 'Mark everyone not yet marked as attended' }).click();
      const ids = await page.locator('.cb-register__row input[value="absent"]').evaluateAll((els) => els.map((e) => e.name));
      await page.locator(`input[name="${ids[1]}"][value="absent"]`).check();
      await page.locator(`input[name="${ids[6]}"][value="absent"]`).check();
      await page.locator(`input[name="${ids[9]}"][value="apologies"]`).check();
      await page.getByRole('button', { name: 'Save register' }).click();
      await page.getByText('Register saved: 12 attended, 2 absent, 1 sent apologies').waitFor();
      regTimes.push(Date.now() - t0);
      actions = await page.evaluate(() => window.cbActions);
      await context.close();
    }
    console.log('\nGroup register, 15 people, 3 exceptions (2 absent, 1 apologies), 768x1024');
    console.log(`  actions (taps and key presses, open to saved)  ${actions}`);
    console.log(`  machine time, open to saved (no thinking time)  ${fmt(regTimes)}`);
  } finally {
    await browser.close();
    await stopServer();
  }

  // The bundle, as the build counts it.
  const out = path.join(work, 'assets_data.c');
  const text = execFileSync(process.execPath, [path.join(root, 'web', 'build.mjs'), '--out', out, '--no-dist'], { encoding: 'utf8', cwd: path.join(root, 'web') });
  const line = text.split('\n').find((l) => l.startsWith('web bundle:'));
  console.log(`\nUI bundle (web/build.mjs): ${line ? line.replace('web bundle: ', '') : 'no figure printed'}`);
  console.log(`\nload average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

main().then(cleanup, async (err) => {
  console.error(`ui_bench: ${err && err.stack ? err.stack : err}`);
  await cleanup();
  process.exit(1);
});
