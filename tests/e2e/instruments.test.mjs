// Every outcome measure's form on the record-a-contact screen: all 17 open at
// once with axe-core (WCAG 2.2 A and AA) at zero violations, no sideways
// scrolling and 44px targets, at tablet portrait, tablet landscape and phone
// sizes; each on its own at 768x1024.  And the sticky live-score bar never
// covers the field that has focus (WCAG 2.2 SC 2.4.11 Focus Not Obscured).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ORDER, SHORT } from '../../web/src/lib/measures.js';
import {
  apiAs, axe, go, launch, layoutChecks, newPage, noProblems, PHONE, shot, signIn, TABLET, TABLET_LANDSCAPE, uniqueName,
} from './lib.mjs';

let browser;
let person;

before(async () => {
  browser = await launch();
  const coach = await apiAs('coach.bury');
  person = await coach.post('/api/participants', {
    given_name: 'Robin', family_name: uniqueName('Measures'), date_of_birth: '1968-09-12', postcode: 'BL9 0EJ',
    team: 'bury-town', ethnic_group: 'white_british',
  });
});
after(async () => { await browser.close(); });

async function openContact(page) {
  await go(page, `#/people/${person.id}/contact`, 'Record a contact');
}

/** Tick an instrument; its form opens under the box. */
async function pick(page, id) {
  await page.locator(`input[name="measures"][value="${id}"]`).check();
  await page.locator(`#m-${id}`).waitFor();
}

for (const [size, viewport] of [['tablet', TABLET], ['landscape', TABLET_LANDSCAPE], ['phone', PHONE]]) {
  test(`all 17 instrument forms open at ${viewport.width}x${viewport.height}: axe, layout, touch targets`, async () => {
    const { page, context } = await newPage(browser, viewport);
    await signIn(page);
    await openContact(page);
    const offered = await page.locator('input[name="measures"]').evaluateAll((els) => els.map((e) => e.value));
    assert.deepEqual(offered, ORDER, 'every instrument is offered, in order');
    for (const id of ORDER) {
      await pick(page, id);
      assert.ok(await page.locator(`#m-${id}-live`).isVisible(), `${SHORT[id]}: a live score`);
    }
    assert.equal(await page.locator('.cb-measure-form').count(), 17);
    const dupes = await page.evaluate(() => {
      const seen = new Map();
      for (const el of document.querySelectorAll('[id]')) seen.set(el.id, (seen.get(el.id) || 0) + 1);
      return [...seen].filter(([, n]) => n > 1).map(([id]) => id);
    });
    assert.deepEqual(dupes, [], 'every id on the page is unique (labels and live scores point at the right element)');
    // Show the conditional parts and the prompts too.
    await page.locator('input[name="m-phq9-q9"][value="2"]').check();
    await page.locator('#m-bp-systolic').fill('182');
    await page.locator('#m-bp-diastolic').fill('96');
    await page.locator('input[name="m-smoking-status"][value="quit_attempt"]').check();
    await page.locator('input[name="m-bowel_screening-status"][value="kit_returned"]').check();
    await page.locator('#m-bmi-height_cm').fill('170');
    await page.locator('#m-bmi-weight_kg').fill('80');
    assert.equal(await page.locator('[role="alert"] .nhsuk-card--care__heading').count(), 2, 'safeguarding and urgent prompts');
    await axe(page, `all instruments (${size})`);
    await layoutChecks(page, `all instruments (${size})`);
    await shot(page, 'contact-all-instruments');
    noProblems(page);
    await context.close();
  });
}

test('each instrument form on its own at 768x1024: axe and layout', async () => {
  const { page, context } = await newPage(browser, TABLET);
  await signIn(page);
  for (const id of ORDER) {
    await openContact(page);
    await pick(page, id);
    await axe(page, `${SHORT[id]} (tablet)`);
    await layoutChecks(page, `${SHORT[id]} (tablet)`);
  }
  noProblems(page);
  await context.close();
});

/**
 * Tab from the instrument's box through every field of its form, as a
 * keyboard user does after ticking it near the bottom of the screen; after
 * each key press the focused control (and a radio's or checkbox's label) must
 * not overlap the sticky live-score bar.  Returns how many fields were checked.
 */
async function tabThrough(page, id, fill) {
  const box = page.locator(`input[name="measures"][value="${id}"]`);
  await box.check();
  await page.locator(`#m-${id}`).waitFor();
  if (fill) await fill();
  // The worst case: the box at the very bottom of the screen, the form below it.
  await box.evaluate((el) => el.scrollIntoView({ block: 'end' }));
  await box.focus();
  let checked = 0;
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    const r = await page.evaluate((formId) => {
      const el = document.activeElement;
      const form = document.getElementById(formId);
      if (!form.contains(el)) return null;
      const bar = document.getElementById(`${formId}-live`).getBoundingClientRect();
      const boxes = [el];
      if (el.labels && el.labels[0]) boxes.push(el.labels[0]);
      const hit = boxes.map((b) => b.getBoundingClientRect()).find((b) => b.bottom > bar.top && b.top < bar.bottom && b.right > bar.left && b.left < bar.right);
      const inView = el.getBoundingClientRect().bottom <= window.innerHeight && el.getBoundingClientRect().top >= 0;
      return { what: `${el.tagName.toLowerCase()}#${el.id || el.name}`, hit: hit ? `${Math.round(hit.top)}-${Math.round(hit.bottom)} against the bar at ${Math.round(bar.top)}-${Math.round(bar.bottom)}` : null, inView };
    }, `m-${id}`);
    if (!r) break;
    assert.equal(r.hit, null, `${id}: ${r.what} is under the sticky live score: ${r.hit}`);
    assert.ok(r.inView, `${id}: ${r.what} is focused but out of view`);
    checked++;
  }
  return checked;
}

for (const [size, viewport] of [['tablet', TABLET], ['phone', PHONE]]) {
  test(`focus is never hidden under the sticky live score at ${viewport.width}x${viewport.height}`, async () => {
    const { page, context } = await newPage(browser, viewport);
    await signIn(page);
    const runs = [
      ['bmi', null],
      ['bp', async () => { await page.locator('#m-bp-systolic').fill('150'); await page.locator('#m-bp-diastolic').fill('121'); }],
      ['phq9', null],
      ['ipaq_short', null],
      ['smoking', async () => { await page.locator('input[name="m-smoking-status"][value="quit_attempt"]').check(); }],
    ];
    for (const [id, fill] of runs) {
      await openContact(page);
      const n = await tabThrough(page, id, fill);
      assert.ok(n >= 2, `${id}: ${n} fields reached by Tab`);
    }
    noProblems(page);
    await context.close();
  });
}
