// The duplicate warning before registering: likely matches with reasons,
// a count of matches in other teams, and a "this is a new person" confirmation.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { apiAs, axe, go, launch, newPage, noProblems, shot, signIn, sql, testNhsNumber, uniqueName } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

test('registering someone who may already be known shows the likely matches first', async () => {
  const family = uniqueName('Dupcheck');
  const otherNhs = testNhsNumber(52000);
  // Known to another team (by NHS number) and to this team (same date of birth, similar name).
  const prestwich = await apiAs('coach.prestwich');
  await prestwich.post('/api/participants', { given_name: 'Kit', family_name: uniqueName('Elsewhere'), date_of_birth: '1961-07-04', nhs_number: otherNhs, team: 'prestwich' });
  const bury = await apiAs('coach.bury');
  const mine = await bury.post('/api/participants', { given_name: 'Samantha', family_name: family, date_of_birth: '1988-03-12', postcode: 'M25 1AX', team: 'bury-town' });

  const { page, context } = await newPage(browser);
  await signIn(page);
  await go(page, '#/people/new', 'Register a person');
  await page.locator('#given_name').fill('Sam');
  await page.locator('#family_name').fill(family);
  await page.locator('#date_of_birth-day').fill('12');
  await page.locator('#date_of_birth-month').fill('3');
  await page.locator('#date_of_birth-year').fill('1988');
  await page.locator('#nhs_number').fill(otherNhs);
  await page.locator('#postcode').fill('M25 1AX');
  await page.getByLabel('Yes, they agree').check();
  await page.getByRole('button', { name: 'Register' }).click();

  const warning = page.locator('#duplicates');
  await warning.waitFor();
  assert.ok(await warning.evaluate((el) => el === document.activeElement), 'the warning takes focus');
  const text = await warning.innerText();
  assert.match(text, /This person may already be registered/);
  assert.match(text, new RegExp(`Samantha ${family}`));
  assert.match(text, /Same date of birth, similar name/);
  assert.match(text, /Same date of birth and postcode/);
  assert.match(text, /1 possible match is in other teams/);
  assert.equal(await warning.getByRole('link', { name: `Samantha ${family}` }).getAttribute('href'), `#/people/${mine.id}`);
  await shot(page, 'duplicate-warning');
  await axe(page, 'duplicate warning');

  // Nothing is registered until the coach confirms.
  await page.getByRole('button', { name: 'Register as a new person' }).click();
  await page.locator('.nhsuk-error-summary').getByText('Confirm this is a new person, or open the existing record').waitFor();
  assert.equal(sql(`SELECT count(*) FROM participants WHERE family_name='${family}'`), '1');
  await page.getByLabel('This is a new person, not one of the records above').check();
  await page.getByRole('button', { name: 'Register as a new person' }).click();
  await page.getByText(`Sam ${family} has been registered`).waitFor();
  assert.equal(sql(`SELECT count(*) FROM participants WHERE family_name='${family}'`), '2');

  // No likely match: straight through, no warning.
  await go(page, '#/people/new', 'Register a person');
  const lone = uniqueName('Nomatch');
  await page.locator('#given_name').fill('Lee');
  await page.locator('#family_name').fill(lone);
  await page.locator('#date_of_birth-day').fill('1');
  await page.locator('#date_of_birth-month').fill('1');
  await page.locator('#date_of_birth-year').fill('1950');
  await page.getByLabel('No', { exact: true }).check();
  await page.getByRole('button', { name: 'Register' }).click();
  await page.getByText(`Lee ${lone} has been registered`).waitFor();
  assert.equal(sql(`SELECT count(*) FROM participants WHERE family_name='${lone}'`), '1');
  assert.equal(sql(`SELECT given FROM consents c JOIN participants p ON p.id=c.participant_id WHERE p.family_name='${lone}'`), '0');
  noProblems(page);
  await context.close();
});
