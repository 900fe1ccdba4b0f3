// Managers: conflicts across sites - the same field changed in two places
// before they synced.  Both values side by side (kept and not kept, with
// where and when each was made); resolve, or keep the other value instead.
import { api, ApiError } from '../lib/api.js';
import { add, fill, h } from '../lib/dom.js';
import { flash } from '../lib/flash.js';
import { formatDateTime, londonParts } from '../lib/format.js';
import { href, navigate } from '../lib/router.js';
import { humanise } from '../lib/codes.js';
import { loadTeams, teamName } from '../lib/teams.js';
import { notificationBanner } from '../components/banner.js';
import { apiErrorText, loadError } from '../components/errors.js';

const TABLES = {
  participants: 'Person’s details', encounters: 'Contact', consents: 'Consent', measures: 'Measure', goals: 'Goal',
  goal_reviews: 'Goal review', referrals: 'Referral', enrolments: 'Enrolment', attendance: 'Attendance', checkins: 'Check-in',
  programmes: 'Group programme', group_sessions: 'Group session', venues: 'Venue',
};

/** A conflict value (JSON text) for a person to read. */
export function valueText(v, field) {
  if (v === null || v === undefined) return '(empty)';
  let x;
  try {
    x = JSON.parse(v);
  } catch {
    return String(v);
  }
  if (field === 'deleted') return x ? 'Deleted' : 'Not deleted';
  if (x === null || x === '') return '(empty)';
  if (typeof x === 'boolean') return x ? 'Yes' : 'No';
  return typeof x === 'string' ? x : JSON.stringify(x);
}

/** The wall-clock time of a hybrid logical clock value ((ms << 16) | counter). */
const hlcTime = (hlc) => (Number(hlc) > 0 ? new Date(Math.floor(Number(hlc) / 65536)).toISOString() : null);

/** To the second: two edits of a conflict are often minutes apart. */
const exact = (t) => `${formatDateTime(t)}:${String(londonParts(new Date(t)).second).padStart(2, '0')}`;

function version(title, value, site, hlc, field, cls) {
  const t = hlcTime(hlc);
  return h('div', { class: ['cb-version', cls] },
    h('h3', { class: 'cb-version__title', text: title }),
    h('p', { class: 'cb-version__value', text: valueText(value, field) }),
    h('p', { class: 'cb-version__meta' }, `From ${site}`, t ? h('span', { class: 'cb-block', text: `Changed ${exact(t)}` }) : null));
}

/** "Given Family" of the person a conflict is about, when the server named them (it does
 *  for managers, and for people in the caller's team). */
export function personName(c) {
  const p = c.participant;
  return p ? [p.given_name, p.family_name].filter(Boolean).join(' ') || null : null;
}

function personLine(c) {
  const name = personName(c);
  if (!name) return null;
  return h('p', { class: 'cb-conflict__person' }, 'About ',
    h('a', { class: 'nhsuk-link', href: `#/people/${encodeURIComponent(c.participant.id)}` }, name,
      h('span', { class: 'nhsuk-u-visually-hidden', text: ': open their record' })));
}

function conflictCard(c, siteName, userName) {
  const id = `conflict-${c.id}`;
  const what = `${TABLES[c.tbl] || humanise(c.tbl || 'record')}: ${c.field === '*' ? 'the whole record (it clashed with another)' : humanise(c.field || '').toLowerCase()}`;
  const winner = siteName(c.winner_site);
  const loser = siteName(c.loser_site);
  const open = c.status !== 'resolved';
  const kind = TABLES[c.tbl] && c.field !== '*' && c.field !== 'deleted' && c.row_id ? c.tbl.replace(/_/g, '-') : null;
  const msg = h('p', { class: 'nhsuk-error-message cb-inline-msg', 'aria-live': 'polite' });
  const note = h('textarea', { class: 'nhsuk-textarea', id: `${id}-note`, name: 'resolution_note', rows: 2, 'aria-describedby': `${id}-hint` });
  const buttons = [];

  async function act(keepOther) {
    buttons.forEach((b) => { b.disabled = true; });
    msg.textContent = '';
    try {
      let queued = false;
      if (keepOther) {
        const patch = { [c.field]: JSON.parse(c.loser_value) };
        const label = `Use the value from ${loser}`;
        const r = c.tbl === 'participants'
          ? await api.updateParticipant(c.row_id, patch, label)
          : await api.updateRecord(kind, c.row_id, patch, { label, participantId: c.participant_id });
        queued = r.queued;
      }
      const body = { status: 'resolved' };
      const text = [keepOther ? `Used the value from ${loser} instead.` : '', note.value.trim()].filter(Boolean).join(' ');
      if (text) body.resolution_note = text;
      const r = await api.resolveConflict(c.id, body, 'Resolve a sync conflict');
      flash.set({
        heading: keepOther ? 'Value changed and conflict resolved' : 'Conflict resolved',
        text: queued || r.queued ? 'Saved here; it will be sent when the server can be reached.' : null,
      });
      navigate(location.hash);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      msg.textContent = apiErrorText(err);
      buttons.forEach((b) => { b.disabled = false; });
    }
  }
  if (open) {
    buttons.push(h('button', { class: 'nhsuk-button cb-act', type: 'button', onclick: () => act(false) },
      'Keep the current value', h('span', { class: 'nhsuk-u-visually-hidden', text: ` and resolve: ${what}` })));
    if (kind) {
      buttons.push(h('button', { class: 'nhsuk-button nhsuk-button--secondary cb-act', type: 'button', onclick: () => act(true) },
        'Use the value not kept', h('span', { class: 'nhsuk-u-visually-hidden', text: ` and resolve: ${what}` })));
    }
  }
  return h('li', { class: 'cb-conflict', id },
    h('h2', { class: 'nhsuk-heading-s cb-conflict__title', text: what }),
    personLine(c),
    h('p', { class: 'cb-muted' },
      [c.team ? `Team: ${teamName(c.team)}` : null, c.created_at ? `Found ${formatDateTime(c.created_at)}` : null].filter(Boolean).join(' · '),
      c.participant_id && !personName(c) ? [' · ', h('a', { class: 'nhsuk-link', href: `#/people/${encodeURIComponent(c.participant_id)}` }, 'Open the person’s record')] : null),
    h('div', { class: 'cb-versions' },
      version(open ? 'Kept (in the record now)' : 'Kept when they synced', c.winner_value, winner, c.winner_hlc, c.field, 'cb-version--kept'),
      version(open ? 'Not kept' : 'Not kept when they synced', c.loser_value, loser, c.loser_hlc, c.field, 'cb-version--lost')),
    open ? [
      h('div', { class: 'nhsuk-form-group' },
        h('label', { class: 'nhsuk-label', for: `${id}-note`, text: 'Note (optional)' }),
        h('div', { class: 'nhsuk-hint', id: `${id}-hint`, text: 'What you checked or did, for the record.' }), note),
      h('div', { class: 'cb-actions' }, buttons), msg,
    ] : h('p', null, `Resolved${c.resolved_by ? ` by ${userName(c.resolved_by)}` : ''}${c.resolved_at ? ` on ${formatDateTime(c.resolved_at)}` : ''}${c.resolution_note ? `: ${c.resolution_note}` : '.'}`));
}

export const conflictsView = {
  title: 'Conflicts',
  async render(ctx) {
    const status = ctx.query.get('status') === 'resolved' ? 'resolved' : 'open';
    const message = flash.take();
    const banner = message ? notificationBanner({ heading: message.heading, text: message.text }) : null;
    const out = h('div', { 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading…' }));
    add(ctx.main, banner, h('h1', { text: 'Conflicts' }),
      h('p', { class: 'cb-lead', text: 'When the same thing was changed at two sites (or a site and central) before they synced, the later change is kept and both are listed here for a person to check.' }),
      h('nav', { class: 'cb-splits', 'aria-label': 'Which conflicts' }, h('ul', { class: 'cb-jump__list' },
        [['open', 'Open'], ['resolved', 'Resolved']].map(([s, text]) => h('li', null,
          h('a', { class: ['nhsuk-link', s === status && 'cb-splits__current'], href: href('/conflicts', s === 'open' ? null : { status: s }), 'aria-current': s === status ? 'true' : null, text }))))),
      out);
    const o = { signal: ctx.signal };
    let items = null;
    let err = null;
    const names = new Map([['central', 'central (an edit made there)']]);
    const users = new Map();
    await Promise.all([
      loadTeams().catch(() => null),
      api.conflicts({ status }, o).then((b) => { items = (b && b.items) || []; }, (e) => { if (!(e instanceof ApiError)) throw e; err = e; }),
      api.sites(o).then((b) => { for (const s of b.items || []) names.set(s.id, s.name); }, () => {}),
      api.users({}, o).then((b) => { for (const u of b.items || []) users.set(u.id, u.display_name || u.username); }, () => {}),
    ]);
    if (!ctx.isCurrent()) return {};
    out.removeAttribute('aria-busy');
    if (err) {
      fill(out, loadError(err, 'Conflicts'));
      return {};
    }
    const siteName = (s) => names.get(s) || (s ? `site ${s}` : 'a site');
    fill(out,
      h('p', { id: 'conflict-count', text: `${items.length} ${status} ${items.length === 1 ? 'conflict' : 'conflicts'}${items.length === 500 ? ' (the newest 500)' : ''}.` }),
      items.length
        ? h('ul', { class: 'cb-conflicts' }, items.map((c) => conflictCard(c, siteName, (u) => users.get(u) || 'someone')))
        : h('p', { class: 'cb-empty', text: status === 'open' ? 'There are no open conflicts. Nothing needs checking.' : 'No conflicts have been resolved yet.' }));
    return { focus: banner };
  },
};
