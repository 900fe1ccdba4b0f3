// Sync: what is waiting on this tablet (and anything the server refused),
// whether this coachbox server has synced to central, and conflicts to
// review.  Shown honestly: "never synced", the last error, how long ago.
import { api, ApiError } from '../lib/api.js';
import { add, fill, h, tag } from '../lib/dom.js';
import { flash } from '../lib/flash.js';
import { ago, formatDateTime, formatWhen } from '../lib/format.js';
import { outbox } from '../lib/outbox.js';
import { navigate } from '../lib/router.js';
import { notificationBanner } from '../components/banner.js';
import { apiErrorText, loadError } from '../components/errors.js';

function row(k, v) {
  return h('div', { class: 'nhsuk-summary-list__row' },
    h('dt', { class: 'nhsuk-summary-list__key', text: k }), h('dd', { class: 'nhsuk-summary-list__value' }, v));
}

function jsonText(v) {
  if (v === null || v === undefined) return '(empty)';
  try {
    const x = JSON.parse(v);
    if (x === null) return '(empty)';
    return typeof x === 'string' ? x : JSON.stringify(x);
  } catch {
    return String(v);
  }
}

/** Why the server refused a queued write, in words. */
function refusal(err) {
  if (err.status === 404 || err.field === 'participant_id') {
    return 'The person or record is no longer visible to you: they may have moved to another team or been merged with another record. Ask your manager.';
  }
  if (err.status === 403) return 'Your account is not allowed to do this.';
  if (err.status === 409) return `It clashes with what is already stored: ${err.message}.`;
  const m = String(err.message || '').trim();
  return m ? `${m.charAt(0).toUpperCase()}${m.slice(1)}${err.field ? ` (${err.field.replace(/_/g, ' ')})` : ''}.` : 'No reason was given.';
}

function tabletSection(entries, state) {
  const failed = entries.filter((e) => e.state === 'failed');
  const pending = entries.filter((e) => e.state === 'pending');
  const sendBtn = h('button', { class: 'nhsuk-button', type: 'button', text: 'Send now' });
  const msg = h('p', { 'aria-live': 'polite', class: 'cb-inline-msg' });
  sendBtn.addEventListener('click', async () => {
    sendBtn.disabled = true;
    msg.textContent = 'Sending…';
    await outbox.flush();
    navigate(location.hash);
  });
  const item = (e) => h('li', { class: 'cb-outbox__item' },
    h('p', { class: 'cb-outbox__label' }, h('strong', { text: e.label || `${e.method} ${e.url}` })),
    h('p', { class: 'cb-muted', text: `Saved ${formatWhen(e.created_at, { short: true })}${e.attempts ? ` · ${e.attempts} ${e.attempts === 1 ? 'attempt' : 'attempts'}` : ''}` }),
    e.state === 'failed' ? [
      h('p', { class: 'nhsuk-error-message', text: `The server refused it. ${refusal(e.error)}` }),
      h('div', { class: 'cb-actions' },
        h('button', { class: 'nhsuk-button nhsuk-button--secondary cb-act', type: 'button', onclick: async () => { await outbox.retry(e.seq); navigate(location.hash); } },
          'Try again', h('span', { class: 'nhsuk-u-visually-hidden', text: `: ${e.label}` })),
        h('button', { class: 'nhsuk-button nhsuk-button--warning cb-act', type: 'button', onclick: async (ev) => {
          const b = ev.currentTarget;
          if (b.dataset.confirm !== 'yes') {
            b.dataset.confirm = 'yes';
            b.firstChild.textContent = 'Press again to discard it';
            return;
          }
          await outbox.discard(e.seq);
          navigate(location.hash);
        } }, 'Discard', h('span', { class: 'nhsuk-u-visually-hidden', text: `: ${e.label}` }))),
      h('details', { class: 'nhsuk-details' },
        h('summary', { class: 'nhsuk-details__summary' }, h('span', { class: 'nhsuk-details__summary-text', text: 'What was typed' })),
        h('div', { class: 'nhsuk-details__text' }, h('pre', { class: 'cb-pre', text: JSON.stringify(e.body, null, 2) }))),
    ] : null);
  return h('section', { 'aria-labelledby': 'tablet-h' },
    h('h2', { id: 'tablet-h', text: 'On this tablet' }),
    h('dl', { class: 'nhsuk-summary-list' },
      row('Changes waiting to be sent', h('strong', { id: 'tablet-pending', text: String(pending.length) })),
      row('Refused by the server', failed.length ? tag(`${failed.length} need attention`, 'red') : '0'),
      row('Last sent', state.lastSentAt ? `${formatDateTime(state.lastSentAt)} (${ago(state.lastSentAt)})` : 'Nothing sent since the app was opened'),
      state.lastError && pending.length ? row('Last problem', state.lastError.status === 0 ? 'The coachbox server could not be reached' : `${state.lastError.status}: ${state.lastError.message}`) : null,
      state.others ? row('From other accounts', `${state.others} waiting: they are sent when that person signs in on this tablet`) : null),
    entries.length ? h('ol', { class: 'cb-outbox' }, entries.map(item)) : h('p', { text: 'Everything you saved on this tablet has been sent.' }),
    pending.length ? h('div', null, sendBtn, msg) : null);
}

function serverSection(st, error) {
  if (error) return h('section', { 'aria-labelledby': 'server-h' }, h('h2', { id: 'server-h', text: 'This coachbox server and central' }), loadError(error, 'The sync status'));
  const now = h('button', { class: 'nhsuk-button nhsuk-button--secondary', type: 'button', text: 'Sync with central now' });
  const msg = h('p', { 'aria-live': 'polite', class: 'cb-inline-msg' });
  now.addEventListener('click', async () => {
    now.disabled = true;
    try {
      await api.syncNow();
      msg.textContent = 'Sync requested. This page updates in a few seconds.';
      setTimeout(() => navigate(location.hash), 3000);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      msg.textContent = err.status === 409
        ? 'This server is not enrolled with central, so it cannot sync. Ask your administrator.'
        : apiErrorText(err);
    } finally {
      now.disabled = false;
    }
  });
  let last;
  if (!st.enrolled) last = tag('Not enrolled with central', 'grey');
  else if (!st.last_sync_at) last = tag('Never synced', 'red');
  else last = h('span', null, `${formatDateTime(st.last_sync_at)} (${ago(st.last_sync_at)})`);
  return h('section', { 'aria-labelledby': 'server-h' },
    h('h2', { id: 'server-h', text: 'This coachbox server and central' }),
    st.last_error ? h('div', { class: 'nhsuk-warning-callout' },
      h('h3', { class: 'nhsuk-warning-callout__label' }, h('span', { role: 'text' }, h('span', { class: 'nhsuk-u-visually-hidden', text: 'Important: ' }), 'The last sync failed')),
      h('p', { text: st.last_error })) : null,
    h('dl', { class: 'nhsuk-summary-list', id: 'server-status' },
      row('Last synced with central', last),
      row('Changes waiting to go to central', h('span', null, String(st.pending || 0),
        st.pending && st.oldest_pending_at ? ` (oldest from ${formatDateTime(st.oldest_pending_at)})` : '')),
      row('Syncing now', st.syncing ? 'Yes' : 'No'),
      row('Open conflicts', String(st.open_conflicts || 0)),
      row('This server', `${st.role === 'central' ? 'Central' : 'Field server'}${st.site_name ? `: ${st.site_name}` : ''}${st.revoked ? ' (revoked)' : ''}`),
      st.central_url ? row('Central', st.central_url) : null,
      st.teams && st.teams.length ? row('Teams', st.teams.join(', ')) : null),
    st.role !== 'central' ? h('div', null, now, msg) : null);
}

function conflictItem(c) {
  const note = h('textarea', { class: 'nhsuk-textarea', id: `note-${c.id}`, name: 'resolution_note', rows: 2 });
  const btn = h('button', { class: 'nhsuk-button nhsuk-button--secondary cb-act', type: 'button' }, 'Mark as resolved');
  const msg = h('p', { 'aria-live': 'polite', class: 'cb-inline-msg' });
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      const body = { status: 'resolved' };
      if (note.value.trim()) body.resolution_note = note.value.trim();
      const r = await api.resolveConflict(c.id, body, 'Resolve a sync conflict');
      flash.set({ heading: 'Conflict resolved', text: r.queued ? 'Saved on this tablet; it will be sent when the server can be reached.' : null });
      navigate(location.hash);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      msg.textContent = apiErrorText(err);
    } finally {
      btn.disabled = false;
    }
  });
  const field = String(c.field || '').replace(/_/g, ' ');
  return h('li', { class: 'cb-conflict' },
    h('h3', { class: 'nhsuk-heading-s', text: `${String(c.tbl || '').replace(/_/g, ' ')}: ${field}` }),
    c.participant_id ? h('p', null, h('a', { class: 'nhsuk-link', href: `#/people/${encodeURIComponent(c.participant_id)}`, text: 'Open the person’s record' })) : null,
    h('dl', { class: 'nhsuk-summary-list' },
      row('Kept', h('span', null, h('strong', { text: jsonText(c.winner_value) }), h('span', { class: 'cb-block cb-muted', text: `from ${c.winner_site || 'a site'}` }))),
      row('Not kept', h('span', null, h('strong', { text: jsonText(c.loser_value) }), h('span', { class: 'cb-block cb-muted', text: `from ${c.loser_site || 'a site'}` }))),
      c.created_at ? row('Found', formatDateTime(c.created_at)) : null),
    h('p', { class: 'cb-muted', text: 'If the value kept is wrong, correct the record, then mark the conflict resolved.' }),
    h('div', { class: 'nhsuk-form-group' },
      h('label', { class: 'nhsuk-label', for: `note-${c.id}`, text: 'What you did (optional)' }), note),
    btn, msg);
}

export const syncView = {
  title: 'Sync',
  async render(ctx) {
    const message = flash.take();
    const out = h('div', { 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading…' }));
    add(ctx.main, message ? notificationBanner({ heading: message.heading, text: message.text }) : null, h('h1', { text: 'Sync' }), out);
    let st = null;
    let stErr = null;
    let conflicts = [];
    let cErr = null;
    await Promise.all([
      api.syncStatus({ signal: ctx.signal }).then((b) => { st = b; }, (e) => { if (!(e instanceof ApiError)) throw e; stErr = e; }),
      api.conflicts({ status: 'open' }, { signal: ctx.signal }).then((b) => { conflicts = (b && b.items) || []; }, (e) => { if (!(e instanceof ApiError)) throw e; cErr = e; }),
    ]);
    const entries = await outbox.entries();
    if (!ctx.isCurrent()) return {};
    out.removeAttribute('aria-busy');
    fill(out, 
      tabletSection(entries, outbox.state),
      serverSection(st, stErr),
      h('section', { 'aria-labelledby': 'conflicts-h' },
        h('h2', { id: 'conflicts-h', text: `Conflicts to review (${conflicts.length})` }),
        h('p', { class: 'cb-muted', text: 'When the same thing was changed in two places before they synced, one change is kept and both are listed here for a person to check.' }),
        cErr ? loadError(cErr, 'Conflicts') : conflicts.length ? h('ul', { class: 'cb-conflicts' }, conflicts.map(conflictItem)) : h('p', { text: 'There are no open conflicts.' })));
    const unsub = outbox.subscribe((s, ev) => {
      if (ev && ctx.isCurrent()) navigate(location.hash);
    });
    ctx.signal.addEventListener('abort', unsub);
    return {};
  },
};
