// Discharging a person from "Change details" (reason and date required, and
// errors summarised and linked), and re-opening their case.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { apiAs, axe, go, launch, newPage, noProblems, signIn, sql, uniqueName } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

test('a coach discharges a person with a reason and a date, then re-opens the case', async () => {
  const coach = await apiAs('coach.bury');
  const family = uniqueName('Discharge');
  const p = await coach.post('/api/participants', { given_name: 'Robin', family_name: family, date_of_birth: '1959-04-12', team: 'bury-town' });

  const { page, context } = await newPage(browser);
  await signIn(page);
  await go(page, `#/people/${p.id}`, new RegExp(family));
  await page.getByRole('button', { name: 'Change details' }).click();
  await page.getByRole('heading', { level: 1, name: 'Change details' }).waitFor();
  assert.equal(await page.locator('#discharge-details').isHidden(), true, 'no discharge fields for an active person');

  // Discharged without a reason or a date: both errors, summarised and linked.
  await page.getByLabel('Discharged').check();
  await page.locator('#discharge_reason').waitFor();
  await page.getByRole('button', { name: 'Save changes' }).click();
  const summary = page.locator('.nhsuk-error-summary');
  await summary.waitFor();
  assert.match(await summary.innerText(), /Enter the reason for discharge/);
  assert.match(await summary.innerText(), /Enter date of discharge/);
  await summary.getByRole('link', { name: 'Enter the reason for discharge' }).click();
  assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.id), 'discharge_reason');
  assert.equal(sql(`SELECT status FROM participants WHERE id='${p.id}'`), 'active', 'nothing saved');
  await axe(page, 'discharge errors');

  await page.locator('#discharge_reason').fill('Goals met');
  await page.locator('#discharge_date-day').fill('10');
  await page.locator('#discharge_date-month').fill('1');
  await page.locator('#discharge_date-year').fill('2026');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByText('Details saved').waitFor();
  assert.match(await page.locator('.cb-summary').first().innerText(), /Discharged on 10 Jan(uary)? 2026: Goals met/);
  assert.equal(sql(`SELECT status || '|' || discharge_reason || '|' || discharge_date FROM participants WHERE id='${p.id}'`), 'discharged|Goals met|2026-01-10');

  // Re-open: the discharge reason and date are cleared.
  await page.getByRole('button', { name: 'Change details' }).click();
  await page.getByRole('heading', { level: 1, name: 'Change details' }).waitFor();
  assert.equal(await page.locator('#discharge_reason').inputValue(), 'Goals met');
  await page.getByLabel('Active: receiving support').check();
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByText('Details saved').waitFor();
  assert.equal(sql(`SELECT status || '|' || coalesce(discharge_reason, '-') || '|' || coalesce(discharge_date, '-') FROM participants WHERE id='${p.id}'`), 'active|-|-');
  noProblems(page);
  await context.close();
});
