// A coach's drop-in journey: sign in, check someone in, register a new
// person, record a one-to-one with SWEMWBS, BMI and a goal, and see it on the
// timeline and in the trend chart.  Plus the clinical prompts and visible
// validation errors.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  apiAs, axe, go, launch, newPage, noProblems, shot, signIn, sql, testNhsNumber, uniqueName,
} from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

const radio = (page, name, value) => page.locator(`input[name="${name}"][value="${value}"]`).check();

test('coach journey: check in, register, one-to-one with SWEMWBS, BMI and a goal, timeline and chart', async () => {
  const { page, context } = await newPage(browser);
  const api = await apiAs('coach.bury');
  const someone = (await api.get('/api/participants?limit=5')).items[2];
  const who = `${someone.given_name} ${someone.family_name}`;

  await signIn(page);
  await page.getByRole('heading', { level: 1, name: 'Today' }).waitFor();

  // Today comes back after a reload with its check-in search and queue ready
  // (how quickly is measured by tools/ui_bench.mjs, not asserted here).
  await page.reload();
  await page.locator('#checkin-search').waitFor();
  await page.waitForFunction(() => document.querySelector('.cb-queue') && !document.querySelector('.cb-queue[aria-busy="true"]'));
  assert.ok(await page.locator('#checkin-search').isEditable());
  assert.match(await page.locator('.cb-count--waiting .cb-count__n').innerText(), /^\d+$/);

  // 1. Check an arrival in.
  await page.locator('#checkin-reason').fill('Blood pressure check');
  await page.locator('#checkin-search').fill(`${someone.given_name} ${someone.family_name}`);
  await page.locator('#checkin-search').press('Enter');
  await page.getByRole('button', { name: `Check in ${who}` }).first().click();
  const item = page.locator('.cb-queue__item', { hasText: who }).first();
  await item.waitFor();
  assert.match(await item.innerText(), /Waiting/);
  assert.match(await item.innerText(), /Blood pressure check/);
  assert.match(await page.locator('.cb-count--waiting .cb-count__n').innerText(), /^[1-9]/);
  await item.getByRole('button', { name: `Call ${who}` }).click();
  await page.locator('.cb-queue__item--with_coach', { hasText: who }).waitFor();
  assert.match(await page.locator('.cb-queue__item--with_coach', { hasText: who }).innerText(), /With you/);
  await shot(page, 'today-queue');

  // 2. Register a new person (and check them in) from Today.
  const given = uniqueName('Jo');
  const family = uniqueName('Testperson');
  await page.getByRole('button', { name: 'Register a person' }).click();
  await page.getByRole('heading', { level: 1, name: 'Register a person' }).waitFor();
  await page.locator('#given_name').fill(given);
  await page.locator('#family_name').fill(family);
  await page.locator('#date_of_birth-day').fill('14');
  await page.locator('#date_of_birth-month').fill('2');
  await page.locator('#date_of_birth-year').fill('1979');
  await page.locator('#nhs_number').fill(testNhsNumber(41000));
  await page.locator('#postcode').fill('bl9 0ej');
  await page.locator('#ethnic_group').selectOption('white_british');
  await page.getByLabel('Physical activity').check();
  await page.getByLabel('Yes, they agree').check();
  await page.getByRole('button', { name: 'Register and check in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Today' }).waitFor();
  await page.getByText(`${given} ${family} has been registered and checked in`).waitFor();
  const newItem = page.locator('.cb-queue__item', { hasText: `${given} ${family}` });
  await newItem.getByRole('button', { name: /^Call/ }).click();
  await page.locator('.cb-queue__item--with_coach', { hasText: `${given} ${family}` }).getByRole('button', { name: /^Record contact/ }).click();

  // 3. Record a one-to-one with SWEMWBS, BMI and a goal.
  await page.getByRole('heading', { level: 1, name: 'Record a contact' }).waitFor();
  await page.getByLabel('One-to-one').check();
  await page.locator('#duration_minutes').fill('30');
  await page.locator('#notes').fill('Talked about walking to work. Agreed a goal.');
  await page.getByLabel('SWEMWBS (wellbeing)').check();
  const answers = [3, 3, 3, 3, 3, 3, 4]; // raw 22 -> metric 19.98
  for (let i = 0; i < 7; i++) {
    await radio(page, `m-swemwbs-q${i + 1}`, answers[i]);
    if (i === 3) assert.match(await page.locator('#m-swemwbs-live').innerText(), /4 of 7 answered/);
  }
  assert.match(await page.locator('#m-swemwbs-live').innerText(), /19\.98/);
  assert.ok(await page.getByText('SWEMWBS © University of Warwick').first().isVisible());
  await page.getByLabel('BMI (height and weight)').check();
  await page.locator('#m-bmi-height_cm').fill('170');
  await page.locator('#m-bmi-weight_kg').fill('80');
  assert.match(await page.locator('#m-bmi-live').innerText(), /27\.7 kg\/m²\s*Overweight/);
  await page.getByLabel('Agree a goal').check();
  await page.locator('#goal_text').fill('Walk to work on 3 days a week');
  await page.locator('#goal_topic').selectOption('physical_activity');
  await shot(page, 'contact-form-filled');
  await page.getByRole('button', { name: 'Save contact' }).click();

  // The server's stored results are shown.
  await page.getByRole('heading', { level: 1, name: 'Contact saved' }).waitFor();
  const saved = await page.locator('#saved-measures').innerText();
  assert.match(saved, /SWEMWBS[\s\S]*19\.98 \(raw score 22\)[\s\S]*swemwbs-1/);
  assert.match(saved, /SWEMWBS © University of Warwick/);
  assert.match(saved, /BMI[\s\S]*27\.7 kg\/m²[\s\S]*Overweight[\s\S]*bmi-1/);
  await page.getByText('is marked as seen in today’s queue').waitFor();
  await axe(page, 'contact saved');
  await shot(page, 'contact-saved');

  // 4. The record: timeline and trend chart.
  await page.getByRole('button', { name: 'View their record' }).click();
  await page.getByRole('heading', { level: 1, name: new RegExp(family) }).waitFor();
  const tl = await page.locator('#timeline').innerText();
  assert.match(tl, /One-to-one/);
  assert.match(tl, /SWEMWBS \(wellbeing\)[\s\S]*19\.98/);
  assert.match(tl, /BMI \(height and weight\)[\s\S]*27\.7/);
  assert.match(tl, /Goal agreed[\s\S]*Walk to work on 3 days a week/);
  const chart = page.locator('#measure-swemwbs svg.cb-chart__svg');
  await chart.waitFor();
  assert.equal(await chart.locator('circle').count(), 1);
  assert.match(await chart.locator('desc').textContent(), /19\.98/);
  assert.match(await page.locator('#measure-swemwbs').innerText(), /SWEMWBS © University of Warwick/);
  assert.equal(await page.locator('#measure-bmi svg').count(), 2, 'BMI and weight charts');

  // A review later: the chart draws a line between the two.
  const pid = decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
  await api.post('/api/measures', {
    participant_id: pid, instrument: 'swemwbs', timepoint: 'review', taken_at: new Date().toISOString(),
    responses: { q1: 4, q2: 4, q3: 4, q4: 4, q5: 3, q6: 4, q7: 4 },
  });
  await page.reload();
  await page.locator('#measure-swemwbs svg polyline').waitFor();
  assert.equal(await page.locator('#measure-swemwbs svg circle').count(), 2);
  await shot(page, 'record');
  await axe(page, 'participant record');

  // Stored once each, with the server's scores.
  assert.equal(sql(`SELECT count(*) FROM participants WHERE given_name='${given}' AND family_name='${family}'`), '1');
  assert.equal(sql(`SELECT count(*) FROM encounters WHERE participant_id='${pid}' AND type='one_to_one' AND duration_minutes=30`), '1');
  assert.equal(sql(`SELECT group_concat(instrument || '=' || score, ',') FROM (SELECT instrument, score FROM measures WHERE participant_id='${pid}' AND timepoint='baseline' ORDER BY instrument)`), 'bmi=27.7,swemwbs=19.98');
  assert.equal(sql(`SELECT count(*) FROM goals WHERE participant_id='${pid}'`), '1');
  assert.equal(sql(`SELECT count(*) FROM consents WHERE participant_id='${pid}' AND kind='service' AND given=1`), '1');
  noProblems(page);
  await context.close();
});

test('safeguarding and urgent blood pressure prompts appear as items are answered', async () => {
  const { page, context } = await newPage(browser);
  const api = await apiAs('coach.bury');
  const p = (await api.get('/api/participants?limit=3')).items[0];
  await signIn(page);
  await go(page, `#/people/${p.id}/contact`, 'Record a contact');
  await page.getByLabel('PHQ-9 (mood)').check();
  assert.equal(await page.locator('[id="m-phq9-prompt-safeguarding"]').count(), 0);
  await radio(page, 'm-phq9-q9', 1);
  const sg = page.locator('[id="m-phq9-prompt-safeguarding"]');
  await sg.waitFor();
  assert.equal(await sg.getAttribute('role'), 'alert');
  assert.match(await sg.innerText(), /Safeguarding/);
  await radio(page, 'm-phq9-q9', 0);
  await sg.waitFor({ state: 'detached' });

  await page.locator('input[name="measures"][value="bp"]').check();
  await page.locator('#m-bp-systolic').fill('150');
  assert.equal(await page.locator('[id="m-bp-prompt-urgent_same_day"]').count(), 0);
  await page.locator('#m-bp-systolic').fill('182');
  await page.locator('[id="m-bp-prompt-urgent_same_day"]').waitFor();
  assert.match(await page.locator('[id="m-bp-prompt-urgent_same_day"]').innerText(), /same-day/);
  await page.locator('#m-bp-systolic').fill('150');
  await page.locator('#m-bp-diastolic').fill('121');
  await page.locator('[id="m-bp-prompt-urgent_same_day"]').waitFor();
  await radio(page, 'm-phq9-q9', 2);
  await shot(page, 'contact-prompts');
  await axe(page, 'contact form with prompts');

  // Saved: the server flags it too, and the prompt is repeated.
  for (let i = 1; i <= 8; i++) await radio(page, `m-phq9-q${i}`, 1);
  await page.getByRole('button', { name: 'Save contact' }).click();
  await page.getByRole('heading', { level: 1, name: 'Contact saved' }).waitFor();
  assert.match(await page.locator('#saved-measures').innerText(), /PHQ-9[\s\S]*10[\s\S]*Moderate[\s\S]*Safeguarding/);
  assert.match(await page.locator('#saved-measures').innerText(), /150\/121 mmHg[\s\S]*Severe hypertension[\s\S]*Urgent/);
  await page.locator('#done-prompt-safeguarding').waitFor();
  await page.locator('#done-prompt-urgent_same_day').waitFor();
  noProblems(page);
  await context.close();
});

test('validation errors are summarised at the top and linked to the fields', async () => {
  const { page, context } = await newPage(browser);
  await signIn(page);
  await go(page, '#/people/new', 'Register a person');
  await page.locator('#date_of_birth-day').fill('31');
  await page.locator('#date_of_birth-month').fill('2');
  await page.locator('#date_of_birth-year').fill('1990');
  await page.locator('#nhs_number').fill('123 456 7890');
  await page.getByRole('button', { name: 'Register' }).click();
  const summary = page.locator('.nhsuk-error-summary');
  await summary.waitFor();
  assert.ok(await summary.evaluate((el) => el === document.activeElement), 'the summary takes focus');
  const text = await summary.innerText();
  assert.match(text, /There is a problem/);
  assert.match(text, /Enter their given name/);
  assert.match(text, /Date of birth must be a real date/);
  assert.match(text, /Enter a valid NHS number/);
  assert.match(text, /Select whether they agree to use the Live Well service/);
  // Inline too, and each summary entry goes to its field.
  assert.match(await page.locator('#given_name').locator('xpath=..').innerText(), /Error:\s*Enter their given name/);
  await summary.getByRole('link', { name: 'Enter a valid NHS number' }).click();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'nhs_number');
  await shot(page, 'register-errors');
  await axe(page, 'register with errors');

  // A measure out of range.
  const api = await apiAs('coach.bury');
  const p = (await api.get('/api/participants?limit=2')).items[1];
  await go(page, `#/people/${p.id}/contact`, 'Record a contact');
  await page.getByLabel('BMI (height and weight)').check();
  await page.locator('#m-bmi-height_cm').fill('300');
  await page.locator('#m-bmi-weight_kg').fill('70');
  await page.getByLabel('SWEMWBS (wellbeing)').check();
  await radio(page, 'm-swemwbs-q1', 2);
  await page.getByRole('button', { name: 'Save contact' }).click();
  await summary.waitFor();
  const t2 = await summary.innerText();
  assert.match(t2, /Height must be from 50 to 250 cm/);
  assert.match(t2, /SWEMWBS \(wellbeing\): answer every question \(6 not answered\)/);
  await summary.getByRole('link', { name: /Height must be/ }).click();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'm-bmi-height_cm');
  await axe(page, 'contact with errors');
  assert.equal(sql(`SELECT count(*) FROM measures WHERE participant_id='${p.id}' AND instrument='bmi'`), '0');
  noProblems(page);
  await context.close();
});
