// Offline: the server goes away mid-journey.  Writes are queued in IndexedDB
// (the header badge counts them), survive a reload, and are replayed in order
// when the server is back, each exactly once.  A write whose answer is lost
// in transit is replayed with the same Idempotency-Key and stored once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  apiAs, axe, BASE, go, launch, newPage, noProblems, shot, signIn, sql, startServer, stopServer, uniqueName,
} from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

const badge = (page) => page.locator('#outbox-count');
const radio = (page, name, value) => page.locator(`input[name="${name}"][value="${value}"]`).check();

test('writes made while the server is down are queued, kept over a reload, and replayed once each', async () => {
  const api = await apiAs('coach.bury');
  const known = (await api.get('/api/participants?limit=4')).items[3];
  const { page, context } = await newPage(browser);
  await signIn(page);
  // Visit what will be needed offline (the service worker keeps the last copy).
  await page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller);
  await go(page, `#/people/${known.id}`, new RegExp(known.family_name));
  await go(page, '#/people/new', 'Register a person');
  await go(page, '#/today', 'Today');
  assert.equal(await badge(page).innerText(), '0');

  await stopServer();
  try {
    // 1. Register a new person: no duplicate check is possible; it is queued.
    const family = uniqueName('Offline');
    await go(page, '#/people/new', 'Register a person');
    await page.locator('#given_name').fill('Robin');
    await page.locator('#family_name').fill(family);
    await page.locator('#date_of_birth-day').fill('3');
    await page.locator('#date_of_birth-month').fill('9');
    await page.locator('#date_of_birth-year').fill('1970');
    await page.getByLabel('Yes, they agree').check();
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByText(`Robin ${family} has been registered`).waitFor();
    await page.getByText('Registration not sent yet').waitFor();
    assert.equal(await badge(page).innerText(), '2'); // the person and their consent
    await page.locator('.cb-status__offline').waitFor();

    // 2. Record a contact with SWEMWBS for them, straight away.
    await page.getByRole('button', { name: 'Record a contact' }).click();
    await page.getByRole('heading', { level: 1, name: 'Record a contact' }).waitFor();
    await page.locator('#notes').fill('Recorded with no connection');
    await page.getByLabel('SWEMWBS (wellbeing)').check();
    for (let i = 1; i <= 7; i++) await radio(page, `m-swemwbs-q${i}`, 4);
    await page.getByRole('button', { name: 'Save contact' }).click();
    await page.getByRole('heading', { level: 1, name: 'Contact saved on this tablet' }).waitFor();
    assert.match(await page.locator('#saved-measures').innerText(), /Not sent yet/);
    assert.equal(await badge(page).innerText(), '4');

    // 3. A contact for someone already known.
    await go(page, `#/people/${known.id}/contact`, 'Record a contact');
    await page.getByLabel('Phone call').check();
    await page.locator('#notes').fill('Phoned while offline');
    await page.getByRole('button', { name: 'Save contact' }).click();
    await page.getByRole('heading', { level: 1, name: 'Contact saved on this tablet' }).waitFor();
    assert.equal(await badge(page).innerText(), '5');
    await shot(page, 'offline-saved');

    // The record shows what is waiting, optimistically.
    await go(page, `#/people/${known.id}`);
    await page.locator('#timeline').getByText('Phoned while offline').waitFor();
    await page.locator('#timeline').getByText('Not sent yet').first().waitFor();

    // 4. Reload with no server: the app starts from the service worker and the queue is still there.
    await page.reload();
    await page.locator('#outbox-badge:not([hidden])').waitFor();
    await page.waitForFunction(() => document.querySelector('#outbox-count').textContent === '5');
    await go(page, '#/sync', 'Sync');
    assert.equal(await page.locator('#tablet-pending').innerText(), '5');
    await shot(page, 'offline-sync');
  } finally {
    await startServer();
  }

  // 5. The server is back: everything goes, in order, once.
  await go(page, '#/today', 'Today');
  await page.waitForFunction(() => document.querySelector('#outbox-count').textContent === '0', null, { timeout: 45000 });
  const pid = sql("SELECT id FROM participants WHERE given_name='Robin' AND family_name LIKE 'Offline%' ORDER BY created_at DESC LIMIT 1");
  assert.ok(pid);
  assert.equal(sql(`SELECT count(*) FROM participants WHERE id='${pid}'`), '1');
  assert.equal(sql(`SELECT count(*) FROM consents WHERE participant_id='${pid}'`), '1');
  assert.equal(sql(`SELECT count(*) FROM encounters WHERE participant_id='${pid}' AND notes='Recorded with no connection'`), '1');
  assert.equal(sql(`SELECT count(*) || ':' || max(score) FROM measures WHERE participant_id='${pid}' AND instrument='swemwbs'`), '1:25.03');
  assert.equal(sql(`SELECT count(*) FROM encounters WHERE participant_id='${known.id}' AND notes='Phoned while offline'`), '1');
  // In order: the person before their consent, contact and measure.
  const order = sql(`SELECT group_concat(t, ',') FROM (SELECT 'p' t, created_at c FROM participants WHERE id='${pid}' UNION ALL SELECT 'c', created_at FROM consents WHERE participant_id='${pid}' UNION ALL SELECT 'e', created_at FROM encounters WHERE participant_id='${pid}' UNION ALL SELECT 'm', created_at FROM measures WHERE participant_id='${pid}' ORDER BY c)`);
  assert.equal(order, 'p,c,e,m');
  // The server's score is shown once it is stored.
  await go(page, `#/people/${pid}`);
  assert.match(await page.locator('#measure-swemwbs').innerText(), /25\.03/);
  assert.equal(await page.getByText('Not sent yet').count(), 0);
  noProblems(page);
  await context.close();
});

test('a write whose answer is lost is replayed with its idempotency key and stored once', async () => {
  const api = await apiAs('coach.bury');
  const p = (await api.get('/api/participants?limit=6')).items[5];
  const { page, context } = await newPage(browser);
  await signIn(page);
  await go(page, `#/people/${p.id}/contact`, 'Record a contact');
  const note = `Lost answer ${uniqueName('')}`;
  // The first POST reaches the server, but its answer never comes back.
  let dropped = 0;
  let keys = [];
  await context.route(`${BASE}/api/encounters`, async (route) => {
    keys.push(route.request().headers()['idempotency-key']);
    if (dropped === 0) {
      dropped += 1;
      await route.fetch();
      await route.abort('connectionreset');
    } else {
      await route.continue();
    }
  });
  await page.getByLabel('Phone call').check();
  await page.locator('#notes').fill(note);
  await page.getByRole('button', { name: 'Save contact' }).click();
  await page.getByRole('heading', { level: 1, name: /Contact saved/ }).waitFor();
  await page.waitForFunction(() => document.querySelector('#outbox-count').textContent === '0', null, { timeout: 45000 });
  assert.ok(keys.length >= 2, 'sent again');
  assert.ok(keys.every((k) => k && k === keys[0]), 'with the same Idempotency-Key');
  assert.equal(sql(`SELECT count(*) FROM encounters WHERE notes='${note}'`), '1');
  noProblems(page);
  await context.close();
});

test('a write told its earlier attempt is still in progress is retried, not failed, and stored once', async () => {
  const api = await apiAs('coach.bury');
  const p = (await api.get('/api/participants?limit=6')).items[4];
  const { page, context } = await newPage(browser);
  await signIn(page);
  await go(page, `#/people/${p.id}/contact`, 'Record a contact');
  const note = `In progress ${uniqueName('')}`;
  // The first answer says an earlier attempt with this key is still being handled
  // (409 idempotency_key_in_progress, as the server answers a racing retry).
  let told = 0;
  const keys = [];
  await context.route(`${BASE}/api/encounters`, async (route) => {
    keys.push(route.request().headers()['idempotency-key']);
    if (told === 0) {
      told += 1;
      await route.fulfill({
        status: 409,
        contentType: 'application/json',
        headers: { 'Retry-After': '1' },
        body: JSON.stringify({ error: { code: 'idempotency_key_in_progress', message: 'a request with this Idempotency-Key is still being handled; retry for its answer', field: 'Idempotency-Key' } }),
      });
    } else {
      await route.continue();
    }
  });
  await page.getByLabel('Phone call').check();
  await page.locator('#notes').fill(note);
  await page.getByRole('button', { name: 'Save contact' }).click();
  // Kept and sent again (not dropped as refused): wait for the retry, then for the queue.
  for (let i = 0; i < 450 && keys.length < 2; i++) await page.waitForTimeout(100);
  assert.ok(keys.length >= 2, 'sent again');
  await page.waitForFunction(() => document.querySelector('#outbox-count').textContent === '0', null, { timeout: 45000 });
  assert.ok(keys.every((k) => k && k === keys[0]), 'with the same Idempotency-Key');
  assert.equal(sql(`SELECT count(*) FROM encounters WHERE notes='${note}'`), '1');
  await context.close();
});

test('a write whose answer is lost, sent again after the person moved team, counts as done (409 idempotency_key_stale), not failed', async () => {
  const coach = await apiAs('coach.bury');
  const manager = await apiAs('manager');
  const p = (await coach.get('/api/participants?limit=11')).items[10];
  const { page, context } = await newPage(browser);
  await signIn(page);
  await go(page, `#/people/${p.id}/contact`, 'Record a contact');
  const note = `Stale answer ${uniqueName('')}`;
  // The first POST is stored, its answer is lost, and before the retry the person
  // moves to another team: the server will not show that answer to this coach again.
  const keys = [];
  const answers = [];
  await context.route(`${BASE}/api/encounters`, async (route) => {
    keys.push(route.request().headers()['idempotency-key']);
    const res = await route.fetch();
    answers.push({ status: res.status(), body: await res.text() });
    if (keys.length === 1) {
      await manager.patch(`/api/participants/${p.id}`, { team: 'radcliffe' });
      await route.abort('connectionreset');
    } else {
      await route.fulfill({ response: res });
    }
  });
  await page.getByLabel('Phone call').check();
  await page.locator('#notes').fill(note);
  await page.getByRole('button', { name: 'Save contact' }).click();
  await page.getByRole('heading', { level: 1, name: /Contact saved/ }).waitFor();
  await page.waitForFunction(() => document.querySelector('#outbox-count').textContent === '0', null, { timeout: 45000 });
  assert.ok(keys.length >= 2, 'sent again');
  assert.ok(keys.every((k) => k && k === keys[0]), 'with the same Idempotency-Key');
  assert.equal(answers[1].status, 409);
  assert.equal(JSON.parse(answers[1].body).error.code, 'idempotency_key_stale');
  assert.ok(!answers[1].body.includes(note), 'the stale answer shows nothing of the record');
  assert.equal(sql(`SELECT count(*) FROM encounters WHERE notes='${note}'`), '1');
  // Done, not failed: nothing is left for attention on the Sync screen.
  await go(page, '#/sync', 'Sync');
  assert.equal(await page.locator('#outbox-badge.cb-badge--failed').count(), 0);
  assert.equal(await page.locator('.cb-outbox__item').count(), 0);
  await context.close();
});

test('a queued write the server refuses is kept for attention, not lost, and does not block the rest', async () => {
  const coach = await apiAs('coach.bury');
  const manager = await apiAs('manager');
  const [moved, other] = (await coach.get('/api/participants?limit=9')).items.slice(7, 9);
  const { page, context } = await newPage(browser);
  await signIn(page);
  await page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller);
  await go(page, `#/people/${moved.id}/contact`, 'Record a contact');
  await go(page, `#/people/${other.id}/contact`, 'Record a contact');
  // Meanwhile the person moves to another team, so this coach may no longer write about them.
  await manager.patch(`/api/participants/${moved.id}`, { team: 'radcliffe' });
  await stopServer();
  const n1 = `Refused ${uniqueName('')}`;
  const n2 = `Accepted ${uniqueName('')}`;
  try {
    await go(page, `#/people/${moved.id}/contact`, 'Record a contact');
    await page.locator('#notes').fill(n1);
    await page.getByRole('button', { name: 'Save contact' }).click();
    await page.getByRole('heading', { level: 1, name: 'Contact saved on this tablet' }).waitFor();
    await go(page, `#/people/${other.id}/contact`, 'Record a contact');
    await page.locator('#notes').fill(n2);
    await page.getByRole('button', { name: 'Save contact' }).click();
    await page.getByRole('heading', { level: 1, name: 'Contact saved on this tablet' }).waitFor();
    assert.equal(await badge(page).innerText(), '2');
  } finally {
    await startServer();
  }
  await go(page, '#/sync', 'Sync');
  await page.locator('#outbox-badge.cb-badge--failed').waitFor({ timeout: 45000 });
  await page.waitForFunction(() => document.querySelector('#tablet-pending') && document.querySelector('#tablet-pending').textContent === '0', null, { timeout: 45000 });
  assert.equal(sql(`SELECT count(*) FROM encounters WHERE notes='${n2}'`), '1', 'the later write went through');
  assert.equal(sql(`SELECT count(*) FROM encounters WHERE notes='${n1}'`), '0');
  const item = page.locator('.cb-outbox__item', { hasText: 'needs' }).or(page.locator('.cb-outbox__item'));
  assert.match(await item.first().innerText(), /The server refused it/);
  await shot(page, 'sync-refused');
  // Signing out with something not sent: asked first.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { level: 1, name: 'Sign out?' }).waitFor();
  assert.match(await page.locator('main').innerText(), /1 change has not been sent yet/);
  await axe(page, 'sign out with changes waiting');
  await page.getByRole('button', { name: 'See what is waiting' }).click();
  await page.getByRole('heading', { level: 1, name: 'Sync' }).waitFor();
  // What was typed is still there to copy, then it can be discarded.
  await page.getByText('What was typed').click();
  assert.match(await page.locator('.cb-pre').innerText(), new RegExp(n1));
  const discard = page.getByRole('button', { name: /^Discard/ });
  await discard.click();
  await page.getByRole('button', { name: /Press again to discard it/ }).click();
  await page.waitForFunction(() => document.querySelector('#outbox-count').textContent === '0');
  noProblems(page);
  await context.close();
});
