// Group programmes: setting one up, and a lead taking a register for 15
// people on one screen with one action per exception (mark everyone, change
// the exceptions, save); absentees then appear as follow-ups, attendance on
// each person's timeline, and an attendee's measures are recorded from the
// register.  (How long the register takes is measured by tools/ui_bench.mjs,
// not asserted here.)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { apiAs, axe, go, launch, newPage, noProblems, PHONE, shot, signIn, sql, uniqueName } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

const day = 86400000;

async function setUpProgramme(lead, people) {
  const venue = await lead.post('/api/venues', { name: `Bury Library ${uniqueName('')}`, team: 'bury-town', postcode: 'BL9 0EJ' });
  const start = new Date(Date.now() - 14 * day);
  const prog = await lead.post('/api/programmes', {
    name: `Strength and balance ${uniqueName('')}`, topic: 'frailty_falls', team: 'bury-town', venue: venue.id,
    start_date: start.toISOString().slice(0, 10), weeks: 6, status: 'running',
  });
  start.setUTCHours(10, 0, 0, 0);
  await lead.post(`/api/programmes/${prog.id}/schedule`, { first_session_at: start.toISOString(), count: 6 });
  for (const p of people) {
    await lead.post('/api/enrolments', { participant_id: p.id, programme_id: prog.id, enrolled_on: start.toISOString().slice(0, 10) });
  }
  const sessions = (await lead.get(`/api/programmes/${prog.id}/group-sessions`)).items
    .sort((a, b) => a.session_number - b.session_number);
  return { venue, prog, sessions };
}

test('a lead takes a register for 15 people on one screen', async () => {
  const lead = await apiAs('lead.bury');
  const people = (await lead.get('/api/participants?limit=15')).items;
  assert.equal(people.length, 15);
  const { prog, sessions } = await setUpProgramme(lead, people);
  const session = sessions[2]; // a week ago

  const { page, context } = await newPage(browser);
  await signIn(page, 'lead.bury');
  await go(page, `#/groups/${prog.id}`, prog.name);
  assert.equal(await page.locator('#sessions tbody tr').count(), 6);
  assert.match(await page.getByRole('heading', { name: 'People enrolled (15)' }).innerText(), /15/);
  await axe(page, 'programme');
  await shot(page, 'programme');

  // Count the lead's actions from here to the saved register: taps or clicks (pointerdown) and key presses.
  await page.evaluate(() => {
    window.cbActions = 0;
    for (const type of ['pointerdown', 'keydown']) document.addEventListener(type, (e) => { if (e.isTrusted) window.cbActions += 1; }, true);
  });
  await page.getByRole('link', { name: 'Take register for session 3' }).click();
  await page.getByRole('heading', { level: 1, name: 'Register' }).waitFor();
  assert.equal(await page.locator('.cb-register__row').count(), 15);
  await page.getByRole('button', { name: 'Mark everyone not yet marked as attended' }).click();
  const name = (p) => `${p.given_name} ${p.family_name}`;
  const sorted = [...people].sort((a, b) => a.family_name.localeCompare(b.family_name) || a.given_name.localeCompare(b.given_name) || a.id.localeCompare(b.id));
  const absent = [sorted[1], sorted[6]];
  const apologies = sorted[9];
  // Each person's choices are a group named after them.
  for (const p of absent) await page.locator(`input[name="att-${p.id}"][value="absent"]`).check();
  await page.locator(`input[name="att-${apologies.id}"][value="apologies"]`).check();
  assert.equal(await page.locator('#register-tally').innerText(), '12 attended, 2 absent, 1 sent apologies');
  await page.getByRole('button', { name: 'Save register' }).click();
  await page.getByText('Register saved: 12 attended, 2 absent, 1 sent apologies').waitFor();
  // Open the register, mark everyone, one action per exception, save: nothing else is needed.
  const actions = await page.evaluate(() => window.cbActions);
  const exceptions = absent.length + 1; // two absent, one sent apologies
  const open = 1;
  const markEveryone = 1;
  const save = 1;
  assert.equal(actions, open + markEveryone + exceptions + save, `a register for 15 with ${exceptions} exceptions took ${actions} actions`);
  await shot(page, 'register-saved');
  await axe(page, 'register');

  const reg = await lead.get(`/api/group-sessions/${session.id}/register`);
  const byId = Object.fromEntries(reg.entries.map((e) => [e.participant_id, e.status]));
  assert.equal(Object.values(byId).filter((s) => s === 'attended').length, 12);
  for (const p of absent) assert.equal(byId[p.id], 'absent', name(p));
  assert.equal(byId[apologies.id], 'apologies');
  assert.equal(sql(`SELECT count(*) FROM attendance WHERE session_id='${session.id}'`), '15');

  // Saving again changes nothing; the absentees are follow-ups.
  await page.getByRole('button', { name: 'Save register' }).click();
  await page.getByText('Register saved: 12 attended').waitFor();
  assert.equal(sql(`SELECT count(*) FROM attendance WHERE session_id='${session.id}'`), '15');
  await go(page, `#/groups/${prog.id}`, prog.name);
  const follow = await page.locator('table', { hasText: 'Missed in a row' }).innerText();
  for (const p of absent) assert.match(follow, new RegExp(p.family_name));
  assert.doesNotMatch(follow, new RegExp(`${apologies.given_name} ${apologies.family_name}`));

  // On a phone too: the register fits without sideways scrolling.
  const phone = await newPage(browser, PHONE);
  await signIn(phone.page, 'lead.bury');
  await go(phone.page, `#/sessions/${sessions[3].id}/register`, 'Register');
  assert.ok(await phone.page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth));
  await shot(phone.page, 'register');
  noProblems(phone.page);
  await phone.context.close();

  // Attendance shows on each person's timeline.
  const attendee = sorted[0];
  await go(page, `#/people/${attendee.id}`, new RegExp(attendee.family_name));
  const tl = page.locator('#timeline');
  const attendedItem = tl.locator('.cb-tl__item[data-kind="attendance"]', { hasText: `${prog.name}, session 3` });
  await attendedItem.waitFor();
  assert.match(await attendedItem.innerText(), /Group: attended/);
  const absentee = absent[0];
  await go(page, `#/people/${absentee.id}`, new RegExp(absentee.family_name));
  assert.match(await page.locator('#timeline .cb-tl__item[data-kind="attendance"]', { hasText: `${prog.name}, session 3` }).innerText(), /Group: absent/);

  // An attendee's measures, from the register's "Measures or notes" link.
  await go(page, `#/sessions/${session.id}/register`, 'Register');
  await page.getByRole('link', { name: `Measures or notes for ${name(attendee)}` }).click();
  await page.getByRole('heading', { level: 1, name: 'Record a contact' }).waitFor();
  assert.equal(await page.locator('input[name="type"][value="group"]').isChecked(), true, 'a group contact');
  await page.getByLabel('BMI (height and weight)').check();
  await page.locator('#m-bmi-height_cm').fill('170');
  await page.locator('#m-bmi-weight_kg').fill('72.25');
  assert.match(await page.locator('#m-bmi-live').innerText(), /25\.0 kg\/m²\s*Overweight/);
  await page.getByRole('button', { name: 'Save contact' }).click();
  await page.getByRole('heading', { level: 1, name: 'Contact saved' }).waitFor();
  assert.match(await page.locator('#saved-measures').innerText(), /BMI[\s\S]*25\.0 kg\/m²[\s\S]*Overweight/);
  const stored = sql(`SELECT e.type || '|' || m.instrument || '|' || m.score FROM encounters e JOIN measures m ON m.encounter_id = e.id WHERE e.participant_id = '${attendee.id}' AND e.group_session_id = '${session.id}'`);
  assert.equal(stored, 'group|bmi|25.0');
  await page.getByRole('button', { name: 'Back to the register' }).click();
  await page.getByRole('heading', { level: 1, name: 'Register' }).waitFor();
  noProblems(page);
  await context.close();
});

test('setting up a programme creates its weekly sessions', async () => {
  const { page, context } = await newPage(browser);
  await signIn(page, 'lead.bury');
  await go(page, '#/groups', 'Group programmes');
  await page.getByRole('button', { name: 'Set up a programme' }).click();
  await page.getByRole('heading', { level: 1, name: 'Set up a programme' }).waitFor();
  const title = `Walk and talk ${uniqueName('')}`;
  await page.locator('#name').fill(title);
  await page.locator('#topic').selectOption('physical_activity');
  const d = new Date(Date.now() + 7 * day);
  await page.locator('#start_date-day').fill(String(d.getUTCDate()));
  await page.locator('#start_date-month').fill(String(d.getUTCMonth() + 1));
  await page.locator('#start_date-year').fill(String(d.getUTCFullYear()));
  await page.locator('#start_time-hour').fill('10');
  await page.locator('#start_time-minute').fill('30');
  await page.locator('#weeks').fill('4');
  await axe(page, 'set up a programme');
  await page.getByRole('button', { name: 'Set up programme and sessions' }).click();
  await page.getByRole('heading', { level: 1, name: title }).waitFor();
  const rows = page.locator('#sessions tbody tr');
  assert.equal(await rows.count(), 4);
  assert.match(await rows.first().innerText(), /10:30/);
  noProblems(page);
  await context.close();
});
