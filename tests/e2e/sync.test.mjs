// The Sync screen tells the truth about the field server: "Never synced" for
// a server enrolled with central that has not synced yet, and the last error
// when central cannot be reached.  The test starts its own central and field
// server on loopback ports and stops both.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  apiAs, axe, go, launch, layoutChecks, newPage, noProblems, PHONE, shot, signIn, startExtraServer, cli, TABLET,
} from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

test('sync status: never synced, and the last error while central cannot be reached', async () => {
  const central = await startExtraServer({ central: true, participants: 10 });
  let field = null;
  try {
    // Enrol a fresh field server (its own accounts and people from the seeder) with central.
    const added = cli(['site', 'add', '--data', central.data, '--name', 'Sync test library', '--team', 'bury-town']);
    const code = /[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}/.exec(added)[0];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coachbox-field-'));
    execFileSync(process.env.E2E_SEED, [dir, '10'], { stdio: 'ignore' });
    cli(['enroll', '--data', dir, '--central', central.base, '--code', code]);
    // Central goes away before the field server ever syncs.
    await central.stop();
    field = await startExtraServer({ central: false, data: dir });

    // Wait for the field server's own attempt (it tries on start), then ask for one more.
    const api = await apiAs('coach.bury', field.base);
    await api.post('/api/sync/now', {}).catch(() => {});
    let status;
    for (let i = 0; i < 100; i++) {
      status = await api.get('/api/sync/status');
      if (status.last_error && !status.syncing) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status.enrolled, true);
    assert.equal(status.last_sync_at, null);
    assert.match(status.last_error, /unreachable/);

    for (const viewport of [TABLET, PHONE]) {
      const { page, context } = await newPage(browser, viewport);
      await signIn(page, 'coach.bury', field.base);
      await go(page, '#/sync', 'Sync');
      const server = page.locator('#server-status');
      assert.match(await server.innerText(), /Last synced with central\s*Never synced/);
      assert.match(await server.innerText(), /Sync test library/);
      const callout = page.locator('.nhsuk-warning-callout', { hasText: 'The last sync failed' });
      await callout.waitFor();
      assert.ok((await callout.innerText()).includes(status.last_error), 'the server\'s own error text');
      assert.match(await callout.innerText(), /central unreachable/);
      // Asking again while central is down keeps the error on screen.
      await page.getByRole('button', { name: 'Sync with central now' }).click();
      await page.getByText('Sync requested').waitFor();
      await axe(page, 'sync, never synced, with an error');
      await layoutChecks(page, 'sync, never synced, with an error');
      await shot(page, 'sync-never-synced-error');
      noProblems(page);
      await context.close();
    }
  } finally {
    if (field) await field.stop();
    await central.stop();
  }
});
