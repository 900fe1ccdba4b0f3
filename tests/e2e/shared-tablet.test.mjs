// A shared tablet: what one coach leaves behind must not reach the next.
// Signing out while the server cannot be reached, a tab left showing coach A
// while B signs in in another, a tablet left idle, and saved copies after the
// session has ended (docs/SECURITY.md, findings F24-F29).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  apiAs, BASE, cli, go, launch, newPage, noProblems, PASSWORD, signIn, sql, startServer, stopServer, uniqueName,
} from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

function newCoach() {
  const username = `tab.${uniqueName('').toLowerCase()}`;
  cli(['user', 'add', '--data', process.env.E2E_DATA, '--username', username, '--role', 'coach', '--team', 'bury-town'], `${PASSWORD}\n`);
  return username;
}
const sessionsOf = (username) => Number(sql(`SELECT count(*) FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = '${username}')`));
const signOutButton = (page) => page.locator('header').getByRole('button', { name: /Sign out/i });

test('signing out while the server is unreachable: the session is never resumed, and ends when the server is back', async () => {
  const username = newCoach();
  const { page, context } = await newPage(browser);
  await signIn(page, username);
  await page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller);
  await go(page, '#/people', 'Find a person');
  assert.equal(sessionsOf(username), 1);
  await stopServer();
  try {
    await signOutButton(page).click();
    await page.getByText('You have signed out.').waitFor();
    await page.getByText('could not be reached when you signed out').waitFor();
  } finally {
    await startServer();
  }
  assert.equal(sessionsOf(username), 1, 'the server has not heard of the sign-out yet');
  // The next person opens the app: the sign-in page, and the old session ends.
  await page.close();
  const next = await context.newPage();
  await next.goto(`${BASE}/`);
  await next.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  for (let i = 0; i < 50 && sessionsOf(username) > 0; i++) await next.waitForTimeout(100);
  assert.equal(sessionsOf(username), 0, 'the session the cookie named has been ended');
  assert.equal(await next.evaluate(() => localStorage.getItem('cb-signout-owed')), null);
  await context.close();
});

test('a tab left showing coach A cannot save as coach B, who signed in in another tab', async () => {
  const a = newCoach();
  const b = newCoach();
  const api = await apiAs('coach.bury');
  const known = (await api.get('/api/participants?limit=2')).items[1];
  const { page: tab1, context } = await newPage(browser);
  await signIn(tab1, a);
  await go(tab1, `#/people/${known.id}/contact`, 'Record a contact');
  const tab2 = await context.newPage();
  await tab2.goto(`${BASE}/#/today`);
  await tab2.locator('#outbox-badge:not([hidden])').waitFor();
  await signOutButton(tab2).click();
  await tab2.getByText('You have signed out.').waitFor();
  await signIn(tab2, b);
  await tab1.bringToFront();
  const note = `typed as A in tab 1 ${uniqueName('')}`;
  await tab1.getByLabel('Phone call').check();
  await tab1.locator('#notes').fill(note);
  await tab1.getByRole('button', { name: 'Save contact' }).click();
  await tab1.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  assert.equal(sql(`SELECT count(*) FROM encounters WHERE notes = '${note}'`), '0', 'nothing saved under B');
  await context.close();
});

test('a tablet left alone signs its coach out after the idle timeout; screens refresh in the background', async () => {
  const username = newCoach();
  const { page, context } = await newPage(browser);
  await page.clock.install();
  const background = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/queue')) background.push(r.headers()['x-cb-background'] || '');
  });
  await signIn(page, username);
  await go(page, '#/today', 'Today');
  await page.clock.runFor(31000); // the queue's own refresh
  for (let i = 0; i < 50 && !background.includes('1'); i++) await page.waitForTimeout(100);
  assert.ok(background.includes('1'), `the queue's automatic refresh is marked as background: ${JSON.stringify(background)}`);
  await page.clock.fastForward('31:00');
  await page.getByText('You were signed out because the tablet was not used for a while.').waitFor();
  assert.equal(await page.locator('main').innerText().then((t) => /Today/.test(t)), false);
  for (let i = 0; i < 50 && sessionsOf(username) > 0; i++) await page.waitForTimeout(100);
  assert.equal(sessionsOf(username), 0);
  noProblems(page);
  await context.close();
});

test('saved copies are not shown once the server has not been heard from for longer than the idle timeout', async () => {
  const username = newCoach();
  const api = await apiAs('coach.bury');
  const known = (await api.get('/api/participants?limit=3')).items[2];
  const { page, context } = await newPage(browser);
  await signIn(page, username);
  await page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller);
  await go(page, `#/people/${known.id}`, new RegExp(known.family_name));
  await stopServer();
  try {
    // A while offline, shorter than the idle timeout: the saved copy is shown.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: new RegExp(known.family_name) }).waitFor();
    // Last heard from two hours ago (the tablet kept offline since).
    await page.evaluate(async () => {
      const c = await caches.open('cb-api-v1');
      await c.put('/__cb/last-contact', new Response(String(Date.now() - 2 * 3600 * 1000)));
    });
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    const left = await page.evaluate(async () => (await caches.keys()).includes('cb-api-v1') ? (await (await caches.open('cb-api-v1')).keys()).length : 0);
    assert.equal(left, 0, 'every saved copy is gone');
    assert.equal(await page.getByText(known.family_name).count(), 0);
  } finally {
    await startServer();
  }
  await context.close();
});
