// Every screen: axe-core (WCAG 2.2 A and AA) with zero violations, no
// sideways scrolling and 44px touch targets at tablet portrait, tablet
// landscape and phone sizes, keyboard reachability of the main actions, and
// screenshots for review (tests/e2e/artifacts/).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  apiAs, axe, BASE, go, launch, layoutChecks, newPage, noProblems, PHONE, shot, signIn, TABLET, TABLET_LANDSCAPE, uniqueName,
} from './lib.mjs';

let browser;
let data;
const day = 86400000;

before(async () => {
  browser = await launch();
  // Data for every screen to show something.
  const coach = await apiAs('coach.bury');
  const lead = await apiAs('lead.bury');
  const people = (await coach.get('/api/participants?limit=12')).items;
  const venue = await lead.post('/api/venues', { name: `Radcliffe Market Hall ${uniqueName('')}`, team: 'bury-town' });
  const person = await coach.post('/api/participants', {
    given_name: 'Alex', family_name: uniqueName('Screens'), preferred_name: 'Lex', date_of_birth: '1975-05-20', postcode: 'BL9 7HX',
    team: 'bury-town', assigned_coach: coach.user.id, ethnic_group: 'asian_indian', topics: ['weight', 'physical_activity'],
    phone: '07700900982', sex: 'female', employment_status: 'in_work',
  });
  const ago = (d) => new Date(Date.now() - d * day).toISOString();
  const enc = await coach.post('/api/encounters', { participant_id: person.id, type: 'one_to_one', occurred_at: ago(100), duration_minutes: 40, topics: ['weight'], notes: 'First meeting.', next_follow_up: ago(90).slice(0, 10) });
  for (const [d, q, w] of [[100, 2, 92], [60, 3, 89.5], [20, 4, 86]]) {
    await coach.post('/api/measures', { participant_id: person.id, encounter_id: enc.id, instrument: 'swemwbs', timepoint: d === 100 ? 'baseline' : 'review', taken_at: ago(d), responses: { q1: q, q2: q, q3: 3, q4: q, q5: 3, q6: q, q7: 4 } });
    await coach.post('/api/measures', { participant_id: person.id, instrument: 'bmi', timepoint: d === 100 ? 'baseline' : 'review', taken_at: ago(d), responses: { height_cm: 165, weight_kg: w } });
  }
  await coach.post('/api/measures', { participant_id: person.id, instrument: 'bp', timepoint: 'baseline', taken_at: ago(95), responses: { systolic: 152, diastolic: 95 } });
  await coach.post('/api/measures', { participant_id: person.id, instrument: 'gad7', timepoint: 'baseline', taken_at: ago(100), responses: { q1: 2, q2: 2, q3: 1, q4: 1, q5: 0, q6: 1, q7: 1 } });
  const goal = await coach.post('/api/goals', { participant_id: person.id, text: 'Swap the afternoon biscuits for fruit', topic: 'diet', agreed_date: ago(100).slice(0, 10), target_date: ago(-30).slice(0, 10) });
  await coach.post('/api/goal-reviews', { goal_id: goal.id, reviewed_on: ago(60).slice(0, 10), status: 'partly_achieved', note: 'Most days.' });
  await coach.post('/api/referrals', { participant_id: person.id, destination: 'exercise_referral', destination_detail: 'Castle Leisure Centre', sent_date: ago(60).slice(0, 10) });
  await coach.post('/api/consents', { participant_id: person.id, kind: 'service', given: true, date: ago(100).slice(0, 10) });
  await coach.post('/api/checkins', { participant_id: people[0].id, arrived_at: ago(0.01), venue: venue.id, reason: 'Weight check' });
  await coach.post('/api/checkins', { participant_id: people[1].id, arrived_at: ago(0.005), venue: venue.id });
  const prog = await lead.post('/api/programmes', { name: `Healthy eating ${uniqueName('')}`, topic: 'diet', team: 'bury-town', venue: venue.id, start_date: ago(10).slice(0, 10), weeks: 4, status: 'running' });
  await lead.post(`/api/programmes/${prog.id}/schedule`, { first_session_at: ago(10), count: 4 });
  for (const p of people.slice(2, 10)) await lead.post('/api/enrolments', { participant_id: p.id, programme_id: prog.id, enrolled_on: ago(11).slice(0, 10) });
  const sessions = (await lead.get(`/api/programmes/${prog.id}/group-sessions`)).items.sort((a, b) => a.session_number - b.session_number);
  data = { person, prog, sessions, venue };
});
after(async () => { await browser.close(); });

function screens() {
  const { person, prog, sessions } = data;
  return [
    ['today', '#/today', 'Today'],
    ['people', '#/people?q=a', 'Find a person'],
    ['register-person', '#/people/new', 'Register a person'],
    ['record', `#/people/${person.id}`, /Screens/],
    ['edit-details', `#/people/${person.id}/edit`, 'Change details'],
    ['contact', `#/people/${person.id}/contact`, 'Record a contact'],
    ['caseload', '#/caseload', 'Caseload'],
    ['groups', '#/groups', 'Group programmes'],
    ['new-programme', '#/groups/new', 'Set up a programme'],
    ['programme', `#/groups/${prog.id}`, prog.name],
    ['session-register', `#/sessions/${sessions[0].id}/register`, 'Register'],
    ['sync', '#/sync', 'Sync'],
    ['settings', '#/settings', 'Settings'],
    ['not-found', '#/nowhere', 'Page not found'],
  ];
}

for (const [size, viewport] of [['tablet', TABLET], ['landscape', TABLET_LANDSCAPE], ['phone', PHONE]]) {
  test(`every screen at ${viewport.width}x${viewport.height}: axe, layout, touch targets`, async () => {
    const { page, context } = await newPage(browser, viewport);
    await page.goto(`${BASE}/#/login`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await axe(page, `sign in (${size})`);
    await layoutChecks(page, `sign in (${size})`);
    await shot(page, 'sign-in');
    await signIn(page, 'lead.bury');
    for (const [name, route, heading] of screens()) {
      await go(page, route, heading);
      if (name === 'contact') {
        // Open a questionnaire and a physical measure, as a coach would.
        await page.getByLabel('SWEMWBS (wellbeing)').check();
        await page.getByLabel('BMI (height and weight)').check();
        await page.locator('#m-bmi-height_cm').fill('165');
        await page.locator('#m-bmi-weight_kg').fill('86');
      }
      if (name === 'record') await page.locator('#measure-swemwbs svg polyline').waitFor();
      await axe(page, `${name} (${size})`);
      await layoutChecks(page, `${name} (${size})`);
      await shot(page, name);
    }
    noProblems(page);
    await context.close();
  });
}

test('the main journey is keyboard operable', async () => {
  const { page, context } = await newPage(browser, TABLET);
  await page.goto(`${BASE}/#/login`);
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  // Skip link first, then the form.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to main content');
  await page.locator('#username').focus();
  await page.keyboard.type('coach.bury');
  await page.keyboard.press('Tab');
  await page.keyboard.type('livewell-demo');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Today' }).waitFor();
  // The check-in search, by keyboard.
  await page.locator('#checkin-search').focus();
  await page.keyboard.type(data.person.family_name);
  await page.keyboard.press('Enter');
  const checkIn = page.getByRole('button', { name: new RegExp(`^Check in .*${data.person.family_name}`) });
  await checkIn.waitFor();
  await checkIn.focus();
  await page.keyboard.press('Enter');
  await page.locator('.cb-queue__item', { hasText: data.person.family_name }).waitFor();
  // Radios and checkboxes by keyboard on the contact form.
  await go(page, `#/people/${data.person.id}/contact`, 'Record a contact');
  await page.locator('input[name="measures"][value="swemwbs"]').focus();
  await page.keyboard.press('Space');
  await page.locator('input[name="m-swemwbs-q1"]').first().focus();
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.locator('input[name="m-swemwbs-q1"]:checked').getAttribute('value'), '2');
  // Focus is always visible (the NHS yellow focus style).
  const outline = await page.evaluate(() => {
    const el = document.activeElement.nextElementSibling;
    return getComputedStyle(el, '::before').boxShadow;
  });
  assert.match(outline, /255, 235, 59/);
  noProblems(page);
  await context.close();
});
