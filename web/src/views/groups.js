// Group programmes: the list, setting one up, one programme (sessions,
// people enrolled, follow-ups after missed sessions), and taking a register.
import { api, ApiError } from '../lib/api.js';
import { ATTENDANCE, PROGRAMME_STATUSES, TOPICS, label, topicText } from '../lib/codes.js';
import { add, fill, h, tag } from '../lib/dom.js';
import { flash } from '../lib/flash.js';
import {
  addDays, displayName, formatDate, formatWhen, fullName, londonParts, todayYmd, toYmd, ukInstant,
} from '../lib/format.js';
import { outbox } from '../lib/outbox.js';
import { navigate } from '../lib/router.js';
import { session } from '../lib/session.js';
import { loadTeams, teamName } from '../lib/teams.js';
import { loadVenues, venueName } from '../lib/venues.js';
import { notificationBanner } from '../components/banner.js';
import { apiErrorText, errorSummary, formErrors, loadError } from '../components/errors.js';
import {
  checkTime, dateField, dateValue, radiosField, selectField, setDate, textField, textareaField, timeField,
} from '../components/fields.js';
import { personSearch } from '../components/personSearch.js';
import { dataTable } from '../components/table.js';
import { listOf } from './personData.js';

const enc = encodeURIComponent;
const statusTag = (s) => tag(label(PROGRAMME_STATUSES, s || 'planned'), { running: 'green', planned: 'blue', finished: 'grey', cancelled: 'red' }[s] || 'blue');
const queuedText = 'Saved on this tablet; it will be sent when the server can be reached.';

const table = (caption, cols, rows, { id = null, hideCaption = false } = {}) =>
  dataTable({ caption, cols, rows, id, captionClass: hideCaption ? 'nhsuk-u-visually-hidden' : undefined });

/** Weekly sessions: the server's schedule route, else one POST per session. */
async function scheduleSessions(programme, firstAt, count, interval = 7) {
  try {
    const r = await api.schedule(programme.id, { first_session_at: firstAt.toISOString(), count, interval_days: interval }, `Sessions for ${programme.name}`);
    return r.queued;
  } catch (err) {
    if (!(err instanceof ApiError) || (err.status !== 404 && err.status !== 405)) throw err;
  }
  const p = londonParts(firstAt);
  const first = toYmd(p.year, p.month, p.day);
  let queued = false;
  for (let i = 0; i < count; i++) {
    const at = ukInstant(addDays(first, i * interval), p.hour, p.minute); // keeps the UK wall-clock time
    const body = { programme_id: programme.id, session_number: i + 1, starts_at: at.toISOString() };
    if (programme.venue) body.venue = programme.venue;
    const r = await api.createRecord('group-sessions', body, `Session ${i + 1} of ${programme.name}`);
    queued = queued || r.queued;
  }
  return queued;
}

// ---------------------------------------------------------------- list

export const groupsView = {
  title: 'Group programmes',
  async render(ctx) {
    const message = flash.take();
    const out = h('div', { 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading…' }));
    add(ctx.main, 
      message ? notificationBanner({ heading: message.heading, text: message.text }) : null,
      h('div', { class: 'cb-page-head' },
        h('h1', { class: 'cb-page-head__title', text: 'Group programmes' }),
        h('a', { class: 'nhsuk-button nhsuk-button--secondary cb-page-head__action', href: '#/groups/new', role: 'button', draggable: 'false', text: 'Set up a programme' })),
      out);
    const [list] = await Promise.all([listOf(api.programmes({ signal: ctx.signal })), loadVenues().catch(() => null), loadTeams().catch(() => null)]);
    if (!ctx.isCurrent()) return {};
    out.removeAttribute('aria-busy');
    if (list.error) {
      fill(out, loadError(list.error, 'Programmes'));
      return {};
    }
    const pending = (await outbox.entries()).filter((e) => e.method === 'POST' && e.url === '/api/programmes').map((e) => ({ ...e.body, pending: true }));
    const items = [...pending, ...list.items.filter((i) => !pending.some((x) => x.id === i.id))];
    if (!items.length) {
      fill(out, h('p', { text: 'No group programmes yet for your team.' }));
      return {};
    }
    const active = items.filter((i) => i.status !== 'finished' && i.status !== 'cancelled');
    const past = items.filter((i) => i.status === 'finished' || i.status === 'cancelled');
    const rows = (xs) => xs.map((p) => [
      p.pending ? h('span', null, p.name, ' ', tag('Not sent yet', 'orange')) : h('a', { class: 'nhsuk-link cb-row-link', href: `#/groups/${enc(p.id)}`, text: p.name }),
      topicText(p.topic), formatDate(p.start_date, { short: true }), `${p.weeks} weeks`, venueName(p.venue) || '—', statusTag(p.status)]);
    const cols = ['Programme', 'Topic', 'Starts', 'Length', 'Venue', 'Status'];
    fill(out, 
      active.length ? table('Current and planned', cols, rows(active), { id: 'programmes' }) : h('p', { text: 'No current or planned programmes.' }),
      past.length ? h('details', { class: 'nhsuk-details' },
        h('summary', { class: 'nhsuk-details__summary' }, h('span', { class: 'nhsuk-details__summary-text', text: `Finished or cancelled (${past.length})` })),
        h('div', { class: 'nhsuk-details__text' }, table('Finished or cancelled', cols, rows(past)))) : null);
    return {};
  },
};

// ---------------------------------------------------------------- new programme

export const newProgrammeView = {
  title: 'Set up a programme',
  async render(ctx) {
    const summary = errorSummary();
    const container = h('div', { class: 'nhsuk-grid-column-two-thirds' },
      h('a', { class: 'nhsuk-back-link', href: '#/groups', text: 'Group programmes' }), summary.el,
      h('h1', { text: 'Set up a programme' }));
    add(ctx.main, h('div', { class: 'nhsuk-grid-row' }, container));
    let venues;
    let teams;
    try {
      [venues, teams] = await Promise.all([loadVenues(), loadTeams()]);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      container.appendChild(loadError(err, 'The form'));
      return {};
    }
    if (!ctx.isCurrent()) return {};
    const user = session.user || {};
    const name = textField({ id: 'name', label: 'Name', hint: 'For example, Strength and balance (Tuesday mornings)', widthClass: 'nhsuk-u-width-two-thirds' });
    const topic = selectField({ id: 'topic', label: 'Topic', options: [{ value: '', text: 'Select a topic' }, ...TOPICS] });
    const team = selectField({ id: 'team', label: 'Team', options: teams.map((t) => ({ value: t.id, text: t.name })), value: user.team || (teams[0] && teams[0].id) });
    const venue = selectField({ id: 'venue', label: 'Venue (optional)', options: [{ value: '', text: 'Not decided yet' }, ...venues.map((v) => ({ value: v.id, text: v.name }))] });
    const start = dateField({ id: 'start_date', legend: 'First session date', hint: 'For example, 3 2 2027' });
    const time = timeField({ id: 'start_time', legend: 'Start time', hint: 'Use the 24-hour clock, for example 10 00' });
    const weeks = textField({ id: 'weeks', label: 'Number of weekly sessions', inputmode: 'numeric', widthClass: 'nhsuk-input--width-3', value: '6' });
    const desc = textareaField({ id: 'description', label: 'Description (optional)', rows: 3 });
    const fields = [name, topic, ...(user.team ? [] : [team]), venue, start, time, weeks, desc];
    const errors = formErrors(summary, fields, { start_date: 'start_date', first_session_at: 'start_date', count: 'weeks' });
    const button = h('button', { class: 'nhsuk-button', type: 'submit', text: 'Set up programme and sessions' });
    const form = h('form', { novalidate: true, 'aria-label': 'Set up a programme' }, fields.map((f) => f.el), button);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const problems = [];
      if (!name.value().trim()) problems.push({ field: 'name', text: 'Enter a name for the programme' });
      if (!topic.value()) problems.push({ field: 'topic', text: 'Select a topic' });
      const d = dateValue(start, 'First session date');
      if (d.error) problems.push({ field: 'start_date', text: d.error, parts: d.parts });
      const t = checkTime(time.value(), 'Start time');
      if (t.error) problems.push({ field: 'start_time', text: t.error, parts: t.parts });
      const w = weeks.value().trim();
      if (!/^\d+$/.test(w) || +w < 1 || +w > 104) problems.push({ field: 'weeks', text: 'Number of weekly sessions must be from 1 to 104' });
      if (problems.length) {
        errors.show(problems);
        return;
      }
      button.disabled = true;
      try {
        const body = { name: name.value().trim(), topic: topic.value(), team: user.team || team.value(), start_date: d.ymd, weeks: Number(w) };
        if (venue.value()) body.venue = venue.value();
        if (desc.value().trim()) body.description = desc.value().trim();
        const r = await api.createRecord('programmes', body, `Programme ${body.name}`);
        const q2 = await scheduleSessions(r.data, ukInstant(d.ymd, t.hour, t.minute), Number(w));
        flash.set({ heading: `${body.name} is set up with ${w} sessions`, text: r.queued || q2 ? queuedText : null });
        navigate(r.queued ? '#/groups' : `#/groups/${enc(r.id)}`, { replace: true });
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        errors.show([{ field: err.field, text: apiErrorText(err, 'The programme could not be set up. Try again.') }]);
      } finally {
        button.disabled = false;
      }
    });
    container.appendChild(form);
    return {};
  },
};

// ---------------------------------------------------------------- one programme

export const programmeView = {
  title: 'Programme',
  async render(ctx) {
    const id = ctx.params.id;
    const message = flash.take();
    const out = h('div', { 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading…' }));
    add(ctx.main, h('a', { class: 'nhsuk-back-link', href: '#/groups', text: 'Group programmes' }), out);
    let prog;
    try {
      [prog] = await Promise.all([api.programme(id, { signal: ctx.signal }), loadVenues().catch(() => null)]);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      out.removeAttribute('aria-busy');
      fill(out, h('h1', { text: err.status === 404 ? 'Programme not found' : 'Programme unavailable' }), loadError(err, 'This programme'));
      return {};
    }
    const o = { signal: ctx.signal };
    const [sessions, enrols, follow] = await Promise.all([
      listOf(api.programmeSessions(id, o)), listOf(api.programmeEnrolments(id, o)), listOf(api.programmeFollowUps(id, o)),
    ]);
    if (!ctx.isCurrent()) return {};
    // Names of the people enrolled (enrolments carry ids only).
    const live = enrols.items.filter((e) => e.status !== 'withdrawn');
    const people = await Promise.all(live.map((e) => api.participant(e.participant_id, o).catch(() => null)));
    if (!ctx.isCurrent()) return {};
    out.removeAttribute('aria-busy');
    ctx.setTitle(prog.name);

    const today = todayYmd();
    const ss = [...sessions.items].sort((a, b) => (a.starts_at || '').localeCompare(b.starts_at || ''));
    const next = ss.find((s) => todayYmd(new Date(s.starts_at)) >= today);
    const sessionRows = ss.map((s) => [
      h('span', null, `Session ${s.session_number}`, s === next ? [' ', tag(todayYmd(new Date(s.starts_at)) === today ? 'Today' : 'Next', 'green')] : null),
      formatWhen(s.starts_at, { short: true }),
      venueName(s.venue) || '—',
      h('a', { class: 'nhsuk-link cb-row-link', href: `#/sessions/${enc(s.id)}/register` }, 'Take register', h('span', { class: 'nhsuk-u-visually-hidden', text: ` for session ${s.session_number}` })),
    ]);

    // Add sessions (when there are none, or more are needed).
    const sumS = errorSummary();
    const firstDate = dateField({ id: 'sched_date', legend: 'First session date' });
    setDate(firstDate, ss.length ? addDays(todayYmd(new Date(ss[ss.length - 1].starts_at)), 7) : prog.start_date);
    const firstTime = timeField({ id: 'sched_time', legend: 'Start time', hint: 'Use the 24-hour clock' });
    if (ss.length) {
      const lp = londonParts(new Date(ss[ss.length - 1].starts_at));
      firstTime.setValue({ hour: String(lp.hour).padStart(2, '0'), minute: String(lp.minute).padStart(2, '0') });
    }
    const count = textField({ id: 'sched_count', label: 'How many weekly sessions', inputmode: 'numeric', widthClass: 'nhsuk-input--width-3', value: String(ss.length ? 1 : prog.weeks || 6) });
    const schedErrors = formErrors(sumS, [firstDate, firstTime, count], { first_session_at: 'sched_date', count: 'sched_count' });
    const schedBtn = h('button', { class: 'nhsuk-button', type: 'submit', text: 'Add sessions' });
    const schedForm = h('form', { novalidate: true, 'aria-label': 'Add sessions' }, sumS.el, firstDate.el, firstTime.el, count.el, schedBtn);
    schedForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const problems = [];
      const d = dateValue(firstDate, 'First session date');
      if (d.error) problems.push({ field: 'sched_date', text: d.error, parts: d.parts });
      const t = checkTime(firstTime.value(), 'Start time');
      if (t.error) problems.push({ field: 'sched_time', text: t.error, parts: t.parts });
      const c = count.value().trim();
      if (!/^\d+$/.test(c) || +c < 1 || +c > 104) problems.push({ field: 'sched_count', text: 'How many must be from 1 to 104' });
      if (problems.length) {
        schedErrors.show(problems);
        return;
      }
      schedBtn.disabled = true;
      try {
        const q = await scheduleSessions(prog, ukInstant(d.ymd, t.hour, t.minute), Number(c));
        flash.set({ heading: 'Sessions added', text: q ? queuedText : null });
        navigate(location.hash);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        schedErrors.show([{ field: err.field, text: apiErrorText(err) }]);
      } finally {
        schedBtn.disabled = false;
      }
    });

    // Enrol someone.
    const enrolMsg = h('div', { 'aria-live': 'polite' });
    const search = personSearch({
      id: 'enrol-search', label: 'Enrol someone', actionText: 'Enrol',
      onPick: async (p) => {
        try {
          const r = await api.createRecord('enrolments', { participant_id: p.id, programme_id: prog.id, enrolled_on: today }, `Enrol ${fullName(p)} on ${prog.name}`);
          flash.set({ heading: `${displayName(p)} is enrolled`, text: r.queued ? queuedText : null });
          navigate(location.hash);
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          fill(enrolMsg, h('p', { class: 'nhsuk-error-message', text: err.status === 409 ? `${displayName(p)} is already enrolled.` : apiErrorText(err) }));
        }
      },
    });

    const peopleRows = live.map((e, i) => {
      const p = people[i];
      return [
        p ? h('a', { class: 'nhsuk-link cb-row-link', href: `#/people/${enc(e.participant_id)}`, text: displayName(p) }) : h('span', { class: 'cb-muted', text: 'Not in your team' }),
        formatDate(e.enrolled_on, { short: true }),
        label([{ value: 'enrolled', text: 'Enrolled' }, { value: 'completed', text: 'Completed' }], e.status || 'enrolled'),
      ];
    });

    const followRows = follow.items.map((f) => [
      h('a', { class: 'nhsuk-link cb-row-link', href: `#/people/${enc(f.participant_id)}`, text: displayName(f) }),
      String(f.consecutive_missed),
      String(f.missed_count),
      f.last_missed_at ? formatWhen(f.last_missed_at, { short: true }) : '—',
      f.last_attended_at ? formatWhen(f.last_attended_at, { short: true }) : 'Not yet',
      h('a', { class: 'nhsuk-link cb-row-link', href: `#/people/${enc(f.participant_id)}/contact?type=phone` }, 'Record a call', h('span', { class: 'nhsuk-u-visually-hidden', text: ` to ${displayName(f)}` })),
    ]);

    fill(out, 
      message ? notificationBanner({ heading: message.heading, text: message.text }) : null,
      h('h1', null, h('span', { class: 'nhsuk-caption-l', text: `${topicText(prog.topic)} · ${teamName(prog.team)}` }), prog.name),
      h('p', { class: 'cb-tags' }, statusTag(prog.status), ` Starts ${formatDate(prog.start_date)} · ${prog.weeks} weeks${prog.venue ? ` · ${venueName(prog.venue)}` : ''}`),
      prog.description ? h('p', { text: prog.description }) : null,
      next ? h('div', { class: 'cb-actions' }, h('a', { class: 'nhsuk-button', href: `#/sessions/${enc(next.id)}/register`, role: 'button', draggable: 'false', text: `Take the register for session ${next.session_number}` })) : null,
      h('h2', { class: 'nhsuk-heading-m', text: 'Sessions' }),
      sessions.error ? loadError(sessions.error, 'Sessions') : ss.length ? table('Sessions', ['Session', 'When', 'Venue', 'Register'], sessionRows, { id: 'sessions', hideCaption: true }) : h('p', { text: 'No sessions yet.' }),
      h('details', { class: 'nhsuk-details', open: ss.length ? null : true },
        h('summary', { class: 'nhsuk-details__summary' }, h('span', { class: 'nhsuk-details__summary-text', text: 'Add sessions' })),
        h('div', { class: 'nhsuk-details__text' }, schedForm)),
      h('h2', { class: 'nhsuk-heading-m', text: `People enrolled (${live.length})` }),
      enrols.error ? loadError(enrols.error, 'Enrolments') : live.length ? table('People enrolled', ['Name', 'Enrolled', 'Status'], peopleRows, { hideCaption: true }) : h('p', { text: 'No one is enrolled yet.' }),
      search.el, enrolMsg,
      h('h2', { class: 'nhsuk-heading-m', id: 'follow-ups', text: 'Follow up after missed sessions' }),
      follow.error
        ? (follow.error.status === 404 ? h('p', { class: 'cb-muted', text: 'Not available on this server.' }) : loadError(follow.error, 'Follow-ups'))
        : followRows.length ? table('People who missed sessions', ['Name', 'Missed in a row', 'Missed in all', 'Last missed', 'Last attended', 'Action'], followRows, { hideCaption: true }) : h('p', { text: 'No one needs a follow-up.' }));
    return {};
  },
};

// ---------------------------------------------------------------- register

export const registerSessionView = {
  title: 'Register',
  async render(ctx) {
    const id = ctx.params.id;
    const summary = errorSummary();
    const out = h('div', { 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading the register…' }));
    add(ctx.main, out);
    let reg;
    try {
      [reg] = await Promise.all([api.register(id, { signal: ctx.signal }), loadVenues().catch(() => null)]);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      out.removeAttribute('aria-busy');
      fill(out, h('h1', { text: 'Register' }), loadError(err, 'The register'));
      return {};
    }
    if (!ctx.isCurrent()) return {};
    out.removeAttribute('aria-busy');
    const s = reg.session || {};
    const prog = reg.programme || {};
    ctx.setTitle(`Register: ${prog.name || 'group session'}, session ${s.session_number || ''}`);

    // A register saved on this tablet but not sent yet wins over the server's copy.
    const url = `/api/group-sessions/${enc(id)}/register`;
    const pendingPut = (await outbox.entries()).filter((e) => e.method === 'PUT' && e.url === url).pop();
    const pendingStatus = new Map(pendingPut ? pendingPut.body.entries.map((e) => [e.participant_id, e.status]) : []);
    const entries = reg.entries || [];

    const tally = h('p', { class: 'cb-tally', 'aria-live': 'polite', id: 'register-tally' });
    const rows = entries.map((e, i) => {
      const nm = displayName(e);
      const f = radiosField({
        id: `att-${i + 1}`, name: `att-${e.participant_id}`, legend: nm, legendClass: 'nhsuk-fieldset__legend--s cb-register__name',
        options: ATTENDANCE, value: pendingStatus.get(e.participant_id) || e.status || null, inline: true, extraClass: 'cb-register__choices',
        onchange: updateTally,
      });
      f.entry = e;
      return f;
    });
    function counts() {
      const c = { attended: 0, absent: 0, apologies: 0, none: 0 };
      rows.forEach((r) => { c[r.value() || 'none'] += 1; });
      return c;
    }
    function updateTally() {
      const c = counts();
      tally.textContent = `${c.attended} attended, ${c.absent} absent, ${c.apologies} sent apologies${c.none ? `, ${c.none} not marked yet` : ''}`;
    }
    updateTally();

    const errors = formErrors(summary, rows);
    const allBtn = h('button', { class: 'nhsuk-button nhsuk-button--secondary', type: 'button', text: 'Mark everyone not yet marked as attended' });
    allBtn.addEventListener('click', () => {
      rows.forEach((r) => { if (!r.value()) r.setValue('attended'); });
      updateTally();
      tally.focus();
    });
    tally.setAttribute('tabindex', '-1');
    const saveBtn = h('button', { class: 'nhsuk-button cb-register__save', type: 'submit', text: 'Save register' });
    const done = h('div');
    const form = h('form', { novalidate: true, 'aria-label': 'Register', class: 'cb-register' },
      rows.map((r) => h('div', { class: 'cb-register__row' }, r.el,
        h('a', { class: 'nhsuk-link cb-register__more', href: `#/people/${enc(r.entry.participant_id)}/contact?type=group&session=${enc(id)}` },
          'Measures or notes', h('span', { class: 'nhsuk-u-visually-hidden', text: ` for ${displayName(r.entry)}` })))),
      tally, saveBtn);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const missing = rows.filter((r) => !r.value());
      if (missing.length) {
        errors.show(missing.map((r) => ({ field: r.name, text: `Select attended, absent or apologies for ${displayName(r.entry)}` })));
        return;
      }
      saveBtn.disabled = true;
      try {
        const body = { entries: rows.map((r) => ({ participant_id: r.entry.participant_id, status: r.value() })) };
        const res = await api.saveRegister(id, body, { label: `Register for ${prog.name || 'a group'}, session ${s.session_number || ''}` });
        errors.clear();
        const c = counts();
        const banner = notificationBanner({
          title: 'Register saved',
          heading: `Register saved: ${c.attended} attended, ${c.absent} absent, ${c.apologies} sent apologies`,
          text: res.queued ? queuedText : 'People who missed sessions are listed on the programme page to follow up.',
        });
        fill(done, banner,
          h('p', null, h('a', { class: 'nhsuk-link', href: `#/groups/${enc(prog.id || s.programme_id)}`, text: "Programme page: follow-ups after missed sessions" })));
        banner.focus();
        banner.scrollIntoView({ block: 'start' });
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        const m = /^entries\[(\d+)\]/.exec(err.field || '');
        errors.show([{ field: m && rows[+m[1]] ? rows[+m[1]].name : null, text: apiErrorText(err, 'The register could not be saved. Try again.') }]);
      } finally {
        saveBtn.disabled = false;
      }
    });

    fill(out, 
      h('a', { class: 'nhsuk-back-link', href: `#/groups/${enc(prog.id || s.programme_id)}`, text: prog.name || 'Programme' }),
      done,
      summary.el,
      h('h1', null, h('span', { class: 'nhsuk-caption-l', text: `${prog.name || 'Group'}, session ${s.session_number || ''}` }), 'Register'),
      h('p', { class: 'cb-lead', text: `${formatWhen(s.starts_at)}${venueName(s.venue) ? ` · ${venueName(s.venue)}` : ''}` }),
      pendingPut ? h('div', { class: 'nhsuk-inset-text' }, h('p', { text: 'This register was saved on this tablet and has not been sent yet.' })) : null,
      entries.length
        ? [h('div', { class: 'cb-actions' }, allBtn), form]
        : h('p', null, 'No one is enrolled on this programme yet. ', h('a', { class: 'nhsuk-link', href: `#/groups/${enc(prog.id || s.programme_id)}`, text: 'Enrol people' })));
    return {};
  },
};
