// Long lists are paged: search results (the server's cursor, 20 at a time),
// a coach's caseload (25 rows at a time) and a person's timeline (15 at a
// time).  The data is seeded through the API so each list is longer than a page.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  apiAs, axe, go, launch, layoutChecks, newPage, noProblems, shot, signIn, TABLET, uniqueName,
} from './lib.mjs';

let browser;
let family;
let people;
let busy;
const day = 86400000;

before(async () => {
  browser = await launch();
  const coach = await apiAs('coach.bury');
  family = uniqueName('Pagetest');
  people = [];
  for (let i = 0; i < 27; i++) {
    people.push(await coach.post('/api/participants', {
      given_name: `Sam${String.fromCharCode(97 + (i % 26))}${i}`, family_name: family, date_of_birth: `19${60 + i}-03-0${1 + (i % 9)}`,
      team: 'bury-town', assigned_coach: coach.user.id, postcode: 'BL9 0EJ',
    }));
  }
  // One person with 22 contacts: more than a page of timeline.
  busy = people[0];
  for (let i = 0; i < 22; i++) {
    await coach.post('/api/encounters', {
      participant_id: busy.id, type: i % 2 ? 'phone' : 'one_to_one', occurred_at: new Date(Date.now() - (i + 1) * day).toISOString(),
      duration_minutes: 10 + i, notes: `Contact number ${22 - i}`,
    });
  }
});
after(async () => { await browser.close(); });

test('search results come 20 at a time; "More results" adds the next page', async () => {
  const { page, context } = await newPage(browser, TABLET);
  await signIn(page);
  await go(page, `#/people?q=${family}`, 'Find a person');
  const rows = page.locator('main table tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), 20);
  const more = page.getByRole('button', { name: 'More results' });
  assert.ok(await more.isVisible(), 'a next-page control');
  await layoutChecks(page, 'search, first page');
  await more.click();
  await page.waitForFunction(() => document.querySelectorAll('main table tbody tr').length > 20);
  assert.equal(await rows.count(), 27);
  assert.ok(await more.isHidden(), 'no more pages');
  // Every person once, and focus on the first of the new rows.
  const hrefs = await rows.locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  assert.equal(new Set(hrefs).size, 27);
  for (const p of people) assert.ok(hrefs.some((h) => h.includes(p.id)), `${p.given_name} listed`);
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('href')), hrefs[20]);
  await axe(page, 'search, two pages');
  await shot(page, 'people-paged');
  noProblems(page);
  await context.close();
});

test('the caseload shows 25 people at a time', async () => {
  const { page, context } = await newPage(browser, TABLET);
  await signIn(page);
  await go(page, '#/caseload', 'Caseload');
  const table = page.locator('#caseload-table');
  await table.waitFor();
  const total = await table.locator('tbody tr').count();
  assert.equal(total, 25, 'the first page');
  const more = page.getByRole('button', { name: /^Show \d+ more of \d+/ });
  const text = await more.innerText();
  const [, next, left] = /Show (\d+) more of (\d+)/.exec(text).map(Number);
  assert.ok(left >= 27 - 25 && next === Math.min(25, left), text);
  await more.click();
  await page.waitForFunction((n) => document.querySelectorAll('#caseload-table tbody tr').length === n, 25 + next);
  await layoutChecks(page, 'caseload, two pages');
  noProblems(page);
  await context.close();
});

test('the timeline shows 15 items, then "Show more"', async () => {
  const { page, context } = await newPage(browser, TABLET);
  await signIn(page);
  await go(page, `#/people/${busy.id}`, new RegExp(family));
  const items = page.locator('#timeline .cb-tl__item');
  await items.first().waitFor();
  assert.equal(await items.count(), 15);
  assert.match(await items.first().innerText(), /Contact number 22/);
  const more = page.locator('#timeline').getByRole('button', { name: 'Show more' });
  await more.click();
  await page.waitForFunction(() => document.querySelectorAll('#timeline .cb-tl__item').length > 15);
  assert.equal(await items.count(), 22);
  assert.ok(await more.isHidden(), 'everything shown');
  assert.match(await items.last().innerText(), /Contact number 1\b/);
  // Focus moves to the first item added.
  assert.match(await page.evaluate(() => document.activeElement.innerText), /Contact number 7\b/);
  await axe(page, 'timeline, two pages');
  noProblems(page);
  await context.close();
});
