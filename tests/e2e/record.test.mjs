// The participant record's own forms (details, consent, goal review,
// referral status), the tablet's venue setting, and enrolling on a programme.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { apiAs, BASE, cli, go, launch, newPage, noProblems, PASSWORD, shot, signIn, sql, uniqueName } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

test('details, consent, goal review and referral status are changed from the record', async () => {
  const coach = await apiAs('coach.bury');
  const family = uniqueName('Record');
  const p = await coach.post('/api/participants', { given_name: 'Morgan', family_name: family, date_of_birth: '1966-10-01', team: 'bury-town' });
  const goal = await coach.post('/api/goals', { participant_id: p.id, text: 'Two alcohol-free days a week', topic: 'alcohol', agreed_date: '2026-01-05' });
  const ref = await coach.post('/api/referrals', { participant_id: p.id, destination: 'stop_smoking', sent_date: '2026-01-05' });

  const { page, context } = await newPage(browser);
  await signIn(page);
  await go(page, `#/people/${p.id}`, new RegExp(family));

  // Details: only what changed is sent.
  await page.getByRole('button', { name: 'Change details' }).click();
  await page.getByRole('heading', { level: 1, name: 'Change details' }).waitFor();
  await page.locator('#phone').fill('07700 900 123');
  await page.locator('#ethnic_group').selectOption('black_african');
  await page.getByLabel('Unpaid carer').check();
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByText('Details saved').waitFor();
  assert.match(await page.locator('.cb-summary').first().innerText(), /07700900123/);
  assert.equal(sql(`SELECT phone || '|' || ethnic_group || '|' || carer || '|' || given_name FROM participants WHERE id='${p.id}'`), '07700900123|black_african|1|Morgan');

  // Consent.
  await page.getByText('Record consent').click();
  await page.locator('#consent_kind-3').check(); // share with GP
  await page.locator('#consent_given').check(); // yes
  await page.getByRole('button', { name: 'Save consent' }).click();
  await page.getByText('Consent recorded').waitFor();
  assert.match(await page.locator('#consent').innerText(), /Sharing information with their GP practice\s*Given/);

  // Goal review.
  await page.getByText('Review this goal').click();
  await page.getByLabel('Fully achieved').check();
  await page.locator(`#review-${goal.id}-note`).fill('Managed every week.');
  await page.getByRole('button', { name: 'Save review' }).click();
  await page.getByText('Goal review saved').waitFor();
  assert.match(await page.locator('#goals').innerText(), /Fully achieved[\s\S]*Managed every week/);
  assert.equal(sql(`SELECT status FROM goals WHERE id='${goal.id}'`), 'fully_achieved');

  // Referral status.
  await page.locator(`#ref-${ref.id}`).selectOption('accepted');
  await page.getByRole('button', { name: 'Update referral to Stop smoking service' }).click();
  await page.getByText('Referral updated').waitFor();
  assert.equal(sql(`SELECT status FROM referrals WHERE id='${ref.id}'`), 'accepted');
  assert.equal(sql(`SELECT accepted_date = date('now') FROM referrals WHERE id='${ref.id}'`), '1', 'the acceptance is dated');
  assert.match(await page.locator('#referrals').innerText(), /Accepted \d/);
  noProblems(page);
  await context.close();
});

test('the tablet remembers its venue; check-ins use it; people are enrolled from the programme page', async () => {
  const lead = await apiAs('lead.bury');
  const venue = await lead.post('/api/venues', { name: `Tottington Centre ${uniqueName('')}`, team: 'bury-town' });
  const prog = await lead.post('/api/programmes', { name: `Stop smoking group ${uniqueName('')}`, topic: 'smoking', team: 'bury-town', start_date: '2026-01-05', weeks: 6 });
  const someone = (await lead.get('/api/participants?limit=20')).items[17];
  const { page, context } = await newPage(browser);
  await signIn(page, 'lead.bury');
  await go(page, '#/settings', 'Settings');
  await page.locator('#venue').selectOption(venue.id);
  await page.getByRole('button', { name: 'Save venue' }).click();
  await page.getByText(`This tablet is at ${venue.name}`).waitFor();
  await go(page, '#/today', 'Today');
  await page.getByText(`Showing ${venue.name}.`).waitFor();
  await page.locator('#checkin-search').fill(`${someone.given_name} ${someone.family_name}`);
  await page.locator('#checkin-search').press('Enter');
  await page.getByRole('button', { name: `Check in ${someone.given_name} ${someone.family_name}` }).first().click();
  await page.locator('.cb-queue__item', { hasText: someone.family_name }).waitFor();
  assert.equal(sql(`SELECT count(*) FROM checkins WHERE participant_id='${someone.id}' AND venue='${venue.id}'`), '1');

  await go(page, `#/groups/${prog.id}`, prog.name);
  await page.locator('#enrol-search').fill(`${someone.given_name} ${someone.family_name}`);
  await page.locator('#enrol-search').press('Enter');
  await page.getByRole('button', { name: `Enrol ${someone.given_name} ${someone.family_name}` }).first().click();
  await page.getByText(`${someone.given_name} ${someone.family_name} is enrolled`).waitFor();
  assert.match(await page.getByRole('heading', { name: /People enrolled/ }).innerText(), /\(1\)/);
  assert.equal(sql(`SELECT count(*) FROM enrolments WHERE participant_id='${someone.id}' AND programme_id='${prog.id}'`), '1');
  noProblems(page);
  await context.close();
});

test('a coach changes their own password in Settings; other devices are signed out', async () => {
  const username = `pw.${uniqueName('').toLowerCase()}`;
  cli(['user', 'add', '--data', process.env.E2E_DATA, '--username', username, '--role', 'coach', '--team', 'bury-town'], `${PASSWORD}\n`);
  const other = await apiAs(username); // another device's session
  const { page, context } = await newPage(browser);
  await signIn(page, username);
  await go(page, '#/settings', 'Settings');
  const form = page.getByRole('form', { name: 'Change your password' });
  await form.getByLabel('Current password').fill('not my password');
  await form.getByLabel('New password', { exact: true }).fill('two new words 42');
  await form.getByLabel('New password again').fill('two new words 42');
  await form.getByRole('button', { name: 'Change password' }).click();
  await form.getByText('Your current password is not right').first().waitFor();
  await form.getByLabel('Current password').fill(PASSWORD);
  await form.getByLabel('New password', { exact: true }).fill('two new words 42');
  await form.getByLabel('New password again').fill('two new words 43');
  await form.getByRole('button', { name: 'Change password' }).click();
  await form.getByText('The two new passwords are not the same').first().waitFor();
  await form.getByLabel('Current password').fill(PASSWORD);
  await form.getByLabel('New password again').fill('two new words 42');
  await shot(page, 'settings-password');
  await form.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('Your password has been changed').waitFor();
  await page.getByText('You have been signed out on 1 other device.').waitFor();
  await assert.rejects(other.get('/api/participants?limit=1'), /401/);
  const old = await fetch(`${BASE}/api/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD }) });
  assert.equal(old.status, 401, 'the old password no longer signs in');
  const fresh = await fetch(`${BASE}/api/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password: 'two new words 42' }) });
  assert.equal(fresh.status, 200, 'the new one does');
  await go(page, '#/today', 'Today'); // this tablet stays signed in
  assert.equal(sql(`SELECT count(*) FROM audit_events WHERE action = 'user.password' AND outcome = 'ok' AND entity_id = (SELECT id FROM users WHERE username = '${username}')`), '1');
  noProblems(page);
  await context.close();
});
