// The managers' screens on central: outcomes (and the people behind a
// figure), reach and inequalities, caseloads, sites (revoke), conflicts
// (a real one, made by a field server and central editing the same field),
// returns and data quality.  A central of its own is seeded and started here
// (coachbox-demo-seed --central, coachbox central); axe-core, layout checks
// and screenshots at desktop (1280x800) and tablet (768x1024).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  apiAs, axe, cli, go, launch, layoutChecks, newPage, noProblems, shot, signIn, startExtraServer, TABLET,
} from './lib.mjs';
import { enrich } from './manager-data.mjs';

const DESKTOP = { width: 1280, height: 800 };
const day = 86400000;

let browser;
let central;
let mgr;
let period;
let made;

before(async () => {
  browser = await launch();
  central = await startExtraServer({ central: true, participants: 300 });
  mgr = await apiAs('manager', central.base);
  made = await enrich(mgr);
  // Reference data for the reach report: deprivation deciles of the demo
  // postcodes (one left out) and the population of each team and decile.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coachbox-ref-'));
  const imd = [['M25 1AX', 6], ['M25 9LN', 7], ['M45 6TB', 3], ['M45 7QF', 2], ['M26 2SN', 1], ['M26 4DF', 2], ['BL9 0EJ', 1], ['BL9 7HX', 4], ['BL0 9AN', 8]];
  fs.writeFileSync(path.join(tmp, 'imd.csv'), `postcode,decile\n${imd.map((r) => r.join(',')).join('\n')}\n`);
  const pop = [['team', 'prestwich', 31000], ['team', 'whitefield', 23000], ['team', 'radcliffe', 35000], ['team', 'bury-town', 62000], ['team', 'ramsbottom-tottington', 38000],
    ...[9000, 12000, 15000, 17000, 19000, 21000, 22000, 26000, 24000, 24000].map((n, i) => ['imd_decile', String(i + 1), n])];
  fs.writeFileSync(path.join(tmp, 'population.csv'), `split,group,population\n${pop.map((r) => r.join(',')).join('\n')}\n`);
  cli(['import', 'imd', '--data', central.data, path.join(tmp, 'imd.csv')]);
  cli(['import', 'population', '--data', central.data, path.join(tmp, 'population.csv')]);
  fs.rmSync(tmp, { recursive: true, force: true });
  const today = new Date().toISOString().slice(0, 10);
  period = { from: new Date(Date.now() - 364 * day).toISOString().slice(0, 10), to: today };
});
after(async () => {
  await browser.close();
  if (central) await central.stop();
});

const q = (o) => new URLSearchParams(o).toString();

async function check(page, name, label) {
  await axe(page, label);
  await layoutChecks(page, label);
  await shot(page, `manager-${name}`);
}

test('a manager lands on outcomes; the figures match the API and open the people behind them', async () => {
  const { page, context } = await newPage(browser, DESKTOP);
  await signIn(page, 'manager', central.base);
  await page.getByRole('heading', { level: 1, name: /Outcomes/ }).waitFor();
  const nav = await page.locator('.nhsuk-header__navigation-link').allTextContents();
  assert.deepEqual(nav.map((t) => t.trim()), ['Outcomes', 'Reach', 'Caseloads', 'People', 'Sites', 'Conflicts', 'Returns']);

  await go(page, `#/outcomes?${q(period)}`, /Outcomes/);
  const rep = await mgr.get(`/api/reports/outcomes?${q(period)}`);
  const tiles = page.locator('#key-figures .cb-count');
  assert.equal((await tiles.nth(0).locator('.cb-count__n').innerText()).replace(/\D/g, ''), String(rep.total.people_seen));
  assert.equal((await tiles.nth(1).locator('.cb-count__n').innerText()).replace(/\D/g, ''), String(rep.total.contacts.total));
  assert.ok(rep.total.swemwbs.pairs > 10, 'the enriched data has SWEMWBS pairs');
  const sw = page.locator('#swemwbs');
  await sw.getByRole('cell', { name: String(rep.total.swemwbs.pairs), exact: false }).first().waitFor();
  assert.match(await sw.innerText(), new RegExp(`${(rep.total.swemwbs.improved_share * 100).toFixed(1).replace(/\.0$/, '')}%`));
  assert.equal(await page.locator('#swemwbs svg[role="img"] rect').count(), 3);
  await check(page, 'outcomes', 'outcomes (desktop)');

  // The people behind "meaningfully improved".
  await sw.getByRole('link', { name: /meaningfully improved/ }).click();
  await page.getByRole('heading', { level: 1, name: /meaningfully improved/ }).waitFor();
  await page.waitForFunction(() => !document.querySelector('main [aria-busy="true"]'));
  const recs = await mgr.get(`/api/reports/outcomes/records?${q({ ...period, figure: 'swemwbs.improved' })}`);
  assert.match(await page.locator('#people-count').innerText(), new RegExp(`^${recs.count} people`));
  assert.equal(await page.locator('#people-table tbody tr').count(), Math.min(25, recs.count));
  await check(page, 'figure-people', 'people behind a figure (desktop)');

  // A person's record opens (read and edit as the role allows).
  await page.locator('#people-table a').first().click();
  await page.locator('h1.cb-person-name').waitFor();
  await page.getByRole('button', { name: 'Change details' }).waitFor();

  // Filters: one team, by keyboard.
  await go(page, `#/outcomes?${q(period)}`, /Outcomes/);
  await page.locator('.cb-filters__more summary').focus();
  await page.keyboard.press('Enter');
  await page.locator('#f-team').selectOption('bury-town');
  await page.getByRole('button', { name: 'Show figures' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => location.hash.includes('team=bury-town'));
  await page.waitForFunction(() => !document.querySelector('main [aria-busy="true"]') && document.querySelector('#key-figures'));
  const bury = await mgr.get(`/api/reports/outcomes?${q({ ...period, team: 'bury-town' })}`);
  assert.equal((await page.locator('#key-figures .cb-count__n').first().innerText()).replace(/\D/g, ''), String(bury.total.people_seen));
  assert.match(await page.locator('.cb-filters__now').innerText(), /Bury town/);

  // Invalid dates are caught with the NHS error summary.
  await page.locator('#f-to-year').fill('20');
  await page.getByRole('button', { name: 'Show figures' }).click();
  await page.locator('.nhsuk-error-summary:not([hidden])').waitFor();
  await axe(page, 'outcomes filter errors');

  await page.setViewportSize(TABLET);
  await go(page, `#/outcomes?${q(period)}`, /Outcomes/);
  await check(page, 'outcomes', 'outcomes (tablet)');
  noProblems(page);
  await context.close();
});

test('reach and inequalities: splits, population comparison, few people highlighted', async () => {
  for (const viewport of [DESKTOP, TABLET]) {
    const { page, context } = await newPage(browser, viewport);
    await signIn(page, 'manager', central.base);
    await go(page, `#/reach?${q({ ...period, split: 'team' })}`, 'Reach and inequalities');
    const reach = await mgr.get(`/api/reports/reach?${q({ ...period, split: 'team', suppress: 1 })}`);
    const rows = page.locator('#reach-table tbody tr');
    assert.equal(await rows.count(), reach.groups.length);
    const g = reach.groups.find((x) => x.key === 'prestwich');
    const row = rows.filter({ hasText: 'Prestwich' });
    assert.match(await row.locator('td').nth(1).innerText(), new RegExp(`^${g.engaged}`));
    assert.equal(await page.locator('#outcomes-by-group tbody tr').count(), reach.groups.length);
    // Against the population: the share of residents and representation.
    assert.ok(reach.population_total > 0);
    assert.match(await row.innerText(), new RegExp(`${(g.population_share * 100).toFixed(1).replace(/\.0$/, '')}%`));
    assert.match(await row.innerText(), new RegExp(g.representation.toFixed(2)));
    await page.locator('#reach-table').getByText(/Under-represented|Over-represented|In line/).first().waitFor();
    await check(page, 'reach-team', `reach by team (${viewport.width})`);

    // Ethnic group: some groups are small, shown as "<5" and highlighted.
    await page.getByRole('link', { name: 'Ethnic group', exact: true }).click();
    await page.waitForFunction(() => location.hash.includes('split=ethnic_group'));
    await page.waitForFunction(() => !document.querySelector('main [aria-busy="true"]') && document.querySelector('#reach-table'));
    const eth = await mgr.get(`/api/reports/reach?${q({ ...period, split: 'ethnic_group', suppress: 1 })}`);
    const small = eth.groups.filter((x) => typeof x.engaged === 'string').length;
    assert.ok(small > 0, 'some groups are suppressed');
    assert.equal(await page.locator('#reach-table tr.cb-row--few').count(), small);
    await page.locator('#reach-table').getByText('Few people').first().waitFor();
    await check(page, 'reach-ethnic', `reach by ethnic group (${viewport.width})`);

    // A group's count opens its people.
    await page.getByRole('link', { name: 'Deprivation' }).click();
    await page.waitForFunction(() => location.hash.includes('split=imd_decile') && !document.querySelector('main [aria-busy="true"]') && document.querySelector('#reach-table'));
    const imd = await mgr.get(`/api/reports/reach?${q({ ...period, split: 'imd_decile', suppress: 1 })}`);
    const most = imd.groups.find((x) => x.key === '1');
    assert.match(await page.locator('#reach-table tbody tr').first().innerText(), new RegExp(`^1 \\(most deprived\\)[\\s\\S]*${most.engaged}`));
    await check(page, 'reach-deprivation', `reach by deprivation (${viewport.width})`);
    await page.locator('#reach-table a').first().click();
    await page.getByRole('heading', { level: 1, name: /People seen/ }).waitFor();
    await page.getByRole('link', { name: 'Reach and inequalities' }).waitFor();
    noProblems(page);
    await context.close();
  }
});

test('caseloads by coach, team and venue; a coach’s caseload; a person’s record', async () => {
  for (const viewport of [DESKTOP, TABLET]) {
    const { page, context } = await newPage(browser, viewport);
    await signIn(page, 'manager', central.base);
    await go(page, '#/caseloads', 'Caseloads');
    const coach = made.coachOf['bury-town'];
    const cl = await mgr.get(`/api/caseload?coach=${coach.id}`);
    const row = page.locator('#coach-table tbody tr').filter({ hasText: coach.display_name });
    assert.equal((await row.locator('td').nth(2).innerText()).trim(), String(cl.items.length));
    assert.ok(cl.items.length > 0);
    await page.locator('#team-table tbody tr').filter({ hasText: 'Bury town' }).waitFor();
    // By venue: one call for every venue, over the last 8 weeks (London days).
    const londonToday = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/London' }).format(new Date());
    const from = new Date(Date.parse(`${londonToday}T12:00:00Z`) - 55 * day).toISOString().slice(0, 10);
    const byVenue = await mgr.get(`/api/reports/venues?${q({ from, to: londonToday })}`);
    const lib = byVenue.items.find((v) => v.name === 'Bury Library');
    const single = await mgr.get(`/api/reports/outcomes?${q({ from, to: londonToday, venue: lib.venue })}`);
    assert.equal(lib.people_seen, single.total.people_seen);
    assert.equal(lib.contacts, single.total.contacts.total);
    const vrow = page.locator('#venue-table tbody tr').filter({ hasText: 'Bury Library' });
    await vrow.waitFor();
    assert.equal((await vrow.locator('td').nth(2).innerText()).trim(), lib.people_seen.toLocaleString('en-GB'));
    assert.equal((await vrow.locator('td').nth(3).innerText()).trim(), lib.contacts.toLocaleString('en-GB'));
    await check(page, 'caseloads', `caseloads (${viewport.width})`);

    await row.getByRole('link').click();
    await page.getByRole('heading', { level: 1, name: `Caseload: ${coach.display_name}` }).waitFor();
    await page.waitForFunction(() => !document.querySelector('main [aria-busy="true"]'));
    assert.equal(await page.locator('#caseload-table tbody tr').count(), Math.min(25, cl.items.length));
    await check(page, 'caseload-coach', `a coach's caseload (${viewport.width})`);
    await page.locator('#caseload-table a').first().click();
    await page.locator('h1.cb-person-name').waitFor();
    if (viewport === DESKTOP) {
      await page.waitForFunction(() => !document.querySelector('main [aria-busy="true"]'));
      await check(page, 'person-record', 'a person’s record (desktop)');
    }

    await go(page, '#/caseloads/team/bury-town', 'Team: Bury town');
    await check(page, 'caseload-team', `a team's lists (${viewport.width})`);
    noProblems(page);
    await context.close();
  }
});

test('sites: revoke a site added on the command line, with a confirmation', async () => {
  const out = cli(['site', 'add', '--data', central.data, '--name', 'Radcliffe Market', '--team', 'radcliffe']);
  assert.match(out, /[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}/);
  const { page, context } = await newPage(browser, TABLET);
  await signIn(page, 'manager', central.base);
  await go(page, '#/sites', 'Sites');
  const card = page.locator('.cb-site').filter({ hasText: 'Radcliffe Market' });
  await card.getByText('Not enrolled yet').first().waitFor();
  await check(page, 'sites', 'sites (tablet)');

  await card.getByRole('button', { name: 'Revoke Radcliffe Market' }).click();
  const yes = card.getByRole('button', { name: 'Yes, revoke Radcliffe Market' });
  await yes.waitFor();
  assert.match(await page.evaluate(() => document.activeElement.textContent), /Revoke Radcliffe Market\?/);
  await axe(page, 'sites: confirm revoke');
  await shot(page, 'manager-sites-confirm');
  // Cancel first: nothing happens.
  await card.getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await mgr.get('/api/sites')).items.find((s) => s.name === 'Radcliffe Market').revoked, false);
  await card.getByRole('button', { name: 'Revoke Radcliffe Market' }).click();
  await card.getByRole('button', { name: 'Yes, revoke Radcliffe Market' }).click();
  await page.getByText('Radcliffe Market has been revoked').waitFor();
  await page.locator('.cb-site').filter({ hasText: 'Radcliffe Market' }).getByText('Revoked', { exact: true }).first().waitFor();
  assert.equal((await mgr.get('/api/sites')).items.find((s) => s.name === 'Radcliffe Market').revoked, true);
  assert.equal(await page.locator('.cb-site').filter({ hasText: 'Radcliffe Market' }).getByRole('button').count(), 0);
  await page.setViewportSize(DESKTOP);
  await check(page, 'sites-revoked', 'sites after revoking (desktop)');
  noProblems(page);
  await context.close();
});

test('conflicts: a field server and central change the same name; keep the value not kept', async () => {
  // Enrol a field server for Bury town and let it pull its team.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coachbox-field-'));
  let field = null;
  try {
    field = await enrolField(dir);
    await conflictScenario(field);
  } finally {
    if (field) await field.stop();
    else fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Enrol a field server for Bury town in dir, pull its team, start it. */
async function enrolField(dir) {
  for (let i = 0; ; i++) {
    const name = `Bury Library tablet server${i ? ` ${i + 1}` : ''}`;
    const code = /([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})/.exec(cli(['site', 'add', '--data', central.data, '--name', name, '--team', 'bury-town']))[1];
    try {
      cli(['enroll', '--data', dir, '--central', central.base, '--code', code]);
      break;
    } catch (e) {
      if (i === 2) throw e;
      console.log(`# enrolling failed, trying again: ${e.message}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  for (let i = 0; ; i++) {
    try {
      cli(['sync', '--data', dir]);
      break;
    } catch (e) {
      if (i === 2) throw e; // (a busy central answers 503; the command says so and exits non-zero)
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  return startExtraServer({ central: false, data: dir });
}

/** Central and the field server change the same name; the manager keeps the value not kept. */
async function conflictScenario(field) {
  const person = made.people.find((p) => p.team === 'bury-town');
  const coach = await apiAs('coach.bury', field.base);
  await coach.get(`/api/participants/${person.id}`); // it arrived
  // Central's edit, then the field's, made before the field saw central's: concurrent.
  await mgr.patch(`/api/participants/${person.id}`, { given_name: 'Centralia' });
  await coach.patch(`/api/participants/${person.id}`, { given_name: 'Fieldina' });
  cli(['sync', '--data', field.data]);
  let open = [];
  for (let i = 0; i < 50 && !open.length; i++) {
    open = (await mgr.get('/api/conflicts?status=open')).items.filter((c) => c.row_id === person.id);
    if (!open.length) await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(open.length, 1, 'a conflict was recorded');
  const c = open[0];
  const kept = JSON.parse(c.winner_value);
  const lost = JSON.parse(c.loser_value);
  // The manager's list names the person (as they are now: the kept name).
  assert.equal(c.participant.id, person.id);
  assert.equal(c.participant.given_name, kept);
  const name = `${kept} ${c.participant.family_name}`;
  // Central shows when the field server last synced.
  const site = (await mgr.get('/api/sites')).items.find((s) => s.name.startsWith('Bury Library tablet server') && s.enrolled_at && !s.revoked);
  assert.ok(site.last_sync_at, 'last_sync_at after a sync');

  for (const viewport of [DESKTOP, TABLET]) {
    const { page, context } = await newPage(browser, viewport);
    await signIn(page, 'manager', central.base);
    await go(page, '#/conflicts', 'Conflicts');
    const card = page.locator(`#conflict-${c.id}`);
    await card.locator('.cb-version--kept').getByText(kept, { exact: true }).waitFor();
    await card.locator('.cb-version--lost').getByText(lost, { exact: true }).waitFor();
    assert.match(await card.locator('.cb-version--kept').innerText(), /From (Bury Library tablet server|central)/);
    assert.match(await card.locator('.cb-version--lost').innerText(), /From (Bury Library tablet server|central)/);
    const who = card.locator('.cb-conflict__person').getByRole('link', { name });
    await who.waitFor();
    assert.equal(await who.getAttribute('href'), `#/people/${encodeURIComponent(person.id)}`);
    await check(page, 'conflicts', `conflicts (${viewport.width})`);
    if (viewport === DESKTOP) {
      await go(page, '#/sites', 'Sites');
      const sc = page.locator(`#site-${site.id}`);
      await sc.getByText('Syncing', { exact: true }).waitFor();
      assert.doesNotMatch(await sc.locator('.nhsuk-summary-list__row').filter({ hasText: 'Last synced' }).innerText(), /Never/);
      await axe(page, 'sites after a field server synced');
    }
    if (viewport === TABLET) {
      await card.getByLabel('Note (optional)').fill('Checked with the person at the library.');
      await card.getByRole('button', { name: /Use the value not kept/ }).click();
      await page.getByText('Value changed and conflict resolved').waitFor();
      await page.getByText('There are no open conflicts').waitFor();
      await shot(page, 'manager-conflicts-resolved');
      await go(page, '#/conflicts?status=resolved', 'Conflicts');
      await page.locator(`#conflict-${c.id}`).getByText(/Checked with the person at the library/).waitFor();
      await check(page, 'conflicts-resolved-list', 'resolved conflicts (tablet)');
    }
    noProblems(page);
    await context.close();
  }
  assert.equal((await mgr.get(`/api/participants/${person.id}`)).given_name, lost);
  assert.equal((await mgr.get(`/api/conflicts/${c.id}`)).status, 'resolved');
}

test('returns: the quarterly return downloads and matches its preview; data quality lists', async () => {
  for (const viewport of [DESKTOP, TABLET]) {
    const { page, context } = await newPage(browser, viewport);
    await signIn(page, 'manager', central.base);
    await go(page, '#/returns', 'Returns and data quality');
    const href = await page.locator('#download-return').getAttribute('href');
    const quarter = new URL(href, central.base).searchParams.get('quarter');
    assert.match(quarter, /^\d{4}Q[1-4]$/);
    const csv = await (await fetch(`${central.base}/api/login`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'manager', password: 'livewell-demo' }),
    }).then((r) => fetch(`${central.base}${href}`, { headers: { Cookie: r.headers.getSetCookie().map((x) => x.split(';')[0]).join('; ') } }))).text();
    const total = csv.split('\r\n')[1].split(',');
    assert.equal(total[4], 'total');
    const everyone = page.locator('.cb-return table').first();
    assert.equal((await everyone.locator('tbody tr td').nth(1).innerText()).trim(), total[6]);
    const dq = await mgr.get('/api/reports/data-quality');
    const nhs = page.locator('#dq-table tbody tr').filter({ hasText: 'No NHS number' });
    assert.equal((await nhs.locator('td').nth(1).innerText()).replace(/\D/g, ''), String(dq.checks.missing_nhs_number.count));
    await check(page, 'returns', `returns (${viewport.width})`);
    if (viewport === DESKTOP) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download-return').click()]);
      assert.match(download.suggestedFilename(), /^coachbox-quarterly-\d{4}Q[1-4]\.csv$/);
      const file = await download.path();
      assert.equal(fs.readFileSync(file, 'utf8'), csv);
      // A number opens its list.
      await nhs.getByRole('link').click();
      await page.locator('#dq-missing_nhs_number[open] #dq-missing_nhs_number-table').waitFor();
      await shot(page, 'manager-returns-list');
    }
    noProblems(page);
    await context.close();
  }
});

test('coaches keep their own menu; manager screens are not theirs', async () => {
  const { page, context } = await newPage(browser, TABLET);
  await signIn(page, 'coach.bury', central.base);
  await page.getByRole('heading', { level: 1, name: 'Today' }).waitFor();
  const nav = await page.locator('.nhsuk-header__navigation-link').allTextContents();
  assert.deepEqual(nav.map((t) => t.trim()), ['Today', 'People', 'Caseload', 'Groups', 'Sync', 'Settings']);
  await page.evaluate(() => { location.hash = '#/outcomes'; });
  await page.waitForFunction(() => location.hash === '#/today');
  noProblems(page);
  await context.close();
});
