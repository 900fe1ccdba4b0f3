// Record a contact: type, when, how long, where, what was talked about,
// notes and the next follow-up; outcome measures with live scoring; and a
// goal and a referral in the same flow.  Saved in order through the outbox
// (contact, then measures linked to it, goal, referral).  Afterwards the
// server's stored score and band are shown for each measure.
import { api, ApiError } from '../lib/api.js';
import { ENCOUNTER_TYPES, REFERRAL_DESTINATIONS, TOPICS, label, topicText } from '../lib/codes.js';
import { add, fill, h, tag } from '../lib/dom.js';
import {
  addDays, displayName, formatDate, formatDateTime, fullName, londonParts, londonToDate, toHm, todayYmd,
} from '../lib/format.js';
import { loadInstruments, noticeOf } from '../lib/instruments.js';
import { FLAG_TEXT, ORDER, bandColour, bandText, scoreText, shortName } from '../lib/measures.js';
import { settings } from '../lib/settings.js';
import { uuidv7 } from '../lib/uuid.js';
import { loadVenues } from '../lib/venues.js';
import { apiErrorText, errorSummary, formErrors, loadError } from '../components/errors.js';
import {
  checkboxesField, checkTime, dateField, dateValue, radiosField, selectField, setDate, textField, textareaField, timeField,
} from '../components/fields.js';
import { PROMPTS, measureForm, urgentCard } from '../components/measureForm.js';
import { listOf, loadPerson } from './personData.js';

function section(title, ...children) {
  return h('div', { class: 'cb-form-section' }, h('h2', { class: 'nhsuk-heading-m', text: title }), children);
}

export const contactView = {
  title: 'Record a contact',
  async render(ctx) {
    const id = ctx.params.id;
    const pid = encodeURIComponent(id);
    const checkinId = ctx.query.get('checkin');
    const sessionId = ctx.query.get('session');
    const summary = errorSummary();
    const container = h('div', { class: 'nhsuk-grid-column-two-thirds cb-wide-form' },
      h('a', { class: 'nhsuk-back-link', href: checkinId ? '#/today' : sessionId ? `#/sessions/${encodeURIComponent(sessionId)}/register` : `#/people/${pid}`, text: checkinId ? 'Today' : sessionId ? 'Register' : 'Back to their record' }),
      summary.el);
    add(ctx.main, h('div', { class: 'nhsuk-grid-row' }, container));

    let p;
    let instruments;
    let venues;
    let previous;
    try {
      [p, instruments, venues, previous] = await Promise.all([
        loadPerson(id, ctx.signal),
        loadInstruments(),
        loadVenues().catch(() => []),
        listOf(api.records(id, 'measures', { signal: ctx.signal })),
      ]);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      add(container, h('h1', { text: 'Record a contact' }), loadError(err, err.status === 404 ? 'This person' : 'The form'));
      return {};
    }
    if (!ctx.isCurrent()) return {};
    const name = displayName(p);
    ctx.setTitle('Record a contact'); // names stay out of the browser's history

    // ---- the contact
    const type = radiosField({ id: 'type', legend: 'Type of contact', options: ENCOUNTER_TYPES, value: ctx.query.get('type') || (sessionId ? 'group' : 'one_to_one'), inline: true, extraClass: 'cb-chips' });
    const date = dateField({ id: 'occurred_date', legend: 'Date', hint: 'For example, 26 11 2026' });
    const time = timeField({ id: 'occurred_time', legend: 'Time', hint: 'Use the 24-hour clock, for example 14 30' });
    const now = londonParts(new Date());
    const defaults = { day: String(now.day), month: String(now.month), year: String(now.year), hour: toHm(now.hour, now.minute).slice(0, 2), minute: toHm(now.hour, now.minute).slice(3) };
    date.setValue(defaults);
    time.setValue(defaults);
    const duration = textField({ id: 'duration_minutes', label: 'How long (optional)', inputmode: 'numeric', widthClass: 'nhsuk-input--width-3', suffix: 'minutes' });
    const here = settings.venue;
    const venue = selectField({
      id: 'venue', label: 'Where (optional)',
      options: [{ value: '', text: 'Not at a venue (phone or video)' }, ...venues.map((v) => ({ value: v.id, text: v.name }))],
      value: here && venues.some((v) => v.id === here.id) ? here.id : '',
    });
    const topics = checkboxesField({ id: 'topics', legend: 'What you talked about (optional)', hint: 'Select all that apply', options: TOPICS, value: p.topics || [], extraClass: 'cb-columns' });
    const advice = checkboxesField({ id: 'brief_advice', legend: 'Brief advice given (optional)', hint: 'Select all that apply', options: TOPICS, extraClass: 'cb-columns' });
    const notes = textareaField({ id: 'notes', label: 'Notes (optional)', hint: 'What was discussed and anything agreed', rows: 4 });
    const followUp = dateField({ id: 'next_follow_up', legend: 'Next follow-up (optional)', hint: 'The date to get back in touch, for example in 2 weeks' });
    const quick = h('p', { class: 'cb-quick' }, 'Quick pick: ', [[7, '1 week'], [14, '2 weeks'], [28, '4 weeks']].map(([d, t]) => [
      h('button', { class: 'nhsuk-button nhsuk-button--secondary nhsuk-button--small cb-act', type: 'button', onclick: () => setDate(followUp, addDays(todayYmd(), d)) }, t), ' ']));

    // ---- measures: tick to add; each opens its form
    const had = new Set(previous.items.map((m) => m.instrument));
    const available = instruments.filter((i) => ORDER.includes(i.id)).sort((a, b) => ORDER.indexOf(a.id) - ORDER.indexOf(b.id));
    const forms = new Map();
    const pick = checkboxesField({
      id: 'measures', legend: 'Which measures were taken? (optional)', hint: 'Tick each one to fill it in. The score is worked out as you go.',
      options: available.map((i) => {
        const f = measureForm(i, { ethnicGroup: p.ethnic_group, timepoint: had.has(i.id) ? 'review' : 'baseline' });
        forms.set(i.id, f);
        return { value: i.id, text: shortName(i.id), conditional: f.el };
      }),
    });

    // ---- goal and referral
    const goalText = textareaField({ id: 'goal_text', label: 'The goal', hint: 'Specific and realistic, in their words. For example, walk for 20 minutes on 3 days a week', rows: 3 });
    const goalTopic = selectField({ id: 'goal_topic', label: 'Topic', options: [{ value: '', text: 'Select a topic' }, ...TOPICS] });
    const goalTarget = dateField({ id: 'goal_target', legend: 'Target date (optional)' });
    const addGoal = checkboxesField({ id: 'add_goal', legend: 'Goal (optional)', options: [{ value: 'yes', text: 'Agree a goal', conditional: h('div', null, goalText.el, goalTopic.el, goalTarget.el) }] });
    const refDest = selectField({ id: 'ref_destination', label: 'Referred to', options: [{ value: '', text: 'Select a service' }, ...REFERRAL_DESTINATIONS] });
    const refDetail = textField({ id: 'ref_detail', label: 'Which service or person (optional)', widthClass: 'nhsuk-u-width-two-thirds' });
    const refNotes = textareaField({ id: 'ref_notes', label: 'Referral notes (optional)', rows: 2 });
    const addRef = checkboxesField({ id: 'add_referral', legend: 'Referral (optional)', options: [{ value: 'yes', text: 'Make a referral', conditional: h('div', null, refDest.el, refDetail.el, refNotes.el) }] });

    const measureFields = [...forms.values()].flatMap((f) => f.fields);
    const fields = [type, date, time, duration, venue, topics, advice, notes, followUp, pick, ...measureFields, addGoal, goalText, goalTopic, goalTarget, addRef, refDest, refDetail, refNotes];
    const errors = formErrors(summary, fields, { occurred_at: 'occurred_date', participant_id: 'type', text: 'goal_text', topic: 'goal_topic', target_date: 'goal_target', destination: 'ref_destination', destination_detail: 'ref_detail' });

    const button = h('button', { class: 'nhsuk-button', type: 'submit', text: 'Save contact' });
    const form = h('form', { novalidate: true, 'aria-label': 'Record a contact' },
      section('The contact', type.el, h('div', { class: 'cb-row' }, date.el, time.el), duration.el, venue.el),
      section('Discussion and follow-up', topics.el, advice.el, notes.el, followUp.el, quick),
      section('Outcome measures', pick.el),
      section('Goal and referral', addGoal.el, addRef.el),
      button);

    // Ids are minted once, so pressing Save again after a problem never makes a second copy.
    const ids = { encounter: uuidv7(), goal: uuidv7(), referral: uuidv7(), measures: {} };
    const saved = new Map(); // what has been accepted (or queued) already: key -> { queued, data }

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const problems = [];
      if (!type.value()) problems.push({ field: 'type', text: 'Select the type of contact' });
      let occurred = null;
      const dv = date.value();
      const tv = time.value();
      const untouched = ['day', 'month', 'year'].every((k) => dv[k] === defaults[k]) && tv.hour === defaults.hour && tv.minute === defaults.minute;
      if (untouched) {
        occurred = new Date(); // "now" means the moment it is saved
      } else {
        const d = dateValue(date, 'Date of contact');
        const t = checkTime(tv, 'Time of contact');
        if (d.error) problems.push({ field: 'occurred_date', text: d.error, parts: d.parts });
        if (t.error) problems.push({ field: 'occurred_time', text: t.error, parts: t.parts });
        if (!d.error && !t.error) {
          const [y, m, dd] = d.ymd.split('-').map(Number);
          occurred = londonToDate(y, m, dd, t.hour, t.minute);
          if (occurred.getTime() > Date.now() + 5 * 60000) problems.push({ field: 'occurred_date', text: 'The date and time of the contact must be in the past' });
        }
      }
      const dur = duration.value().trim();
      if (dur && (!/^\d+$/.test(dur) || Number(dur) > 600)) problems.push({ field: 'duration_minutes', text: 'How long must be a whole number of minutes, up to 600' });
      const fu = dateValue(followUp, 'Next follow-up', { required: false });
      if (fu && fu.error) problems.push({ field: 'next_follow_up', text: fu.error, parts: fu.parts });
      if (notes.value().length > 10000) problems.push({ field: 'notes', text: 'Notes must be 10,000 characters or fewer' });

      const measureBodies = [];
      for (const inst of pick.value()) {
        const r = forms.get(inst).collect();
        problems.push(...r.problems);
        measureBodies.push(r.body);
      }
      const wantGoal = addGoal.value().includes('yes');
      const gt = goalTarget && dateValue(goalTarget, 'Target date', { required: false });
      if (wantGoal) {
        if (!goalText.value().trim()) problems.push({ field: 'goal_text', text: 'Enter the goal' });
        else if (goalText.value().length > 1000) problems.push({ field: 'goal_text', text: 'The goal must be 1,000 characters or fewer' });
        if (!goalTopic.value()) problems.push({ field: 'goal_topic', text: 'Select the topic of the goal' });
        if (gt && gt.error) problems.push({ field: 'goal_target', text: gt.error, parts: gt.parts });
      }
      const wantRef = addRef.value().includes('yes');
      if (wantRef && !refDest.value()) problems.push({ field: 'ref_destination', text: 'Select where they were referred to' });
      if (problems.length) {
        errors.show(problems);
        return;
      }

      const ymd = (() => {
        const q = londonParts(occurred);
        return `${q.year}-${String(q.month).padStart(2, '0')}-${String(q.day).padStart(2, '0')}`;
      })();
      const who = fullName(p);
      const steps = [];
      const enc = { id: ids.encounter, participant_id: p.id, type: type.value(), occurred_at: occurred.toISOString() };
      if (dur) enc.duration_minutes = Number(dur);
      if (venue.value()) enc.venue = venue.value();
      if (topics.value().length) enc.topics = topics.value();
      if (advice.value().length) enc.brief_advice = advice.value();
      if (notes.value().trim()) enc.notes = notes.value().trim();
      if (fu && fu.ymd) enc.next_follow_up = fu.ymd;
      if (sessionId) enc.group_session_id = sessionId;
      steps.push({ key: 'encounter', kind: 'encounters', body: enc, label: `${label(ENCOUNTER_TYPES, enc.type)} with ${who}` });
      for (const mb of measureBodies) {
        ids.measures[mb.instrument] = ids.measures[mb.instrument] || uuidv7();
        steps.push({
          key: `measure:${mb.instrument}`, kind: 'measures', instrument: mb.instrument,
          body: { id: ids.measures[mb.instrument], participant_id: p.id, encounter_id: ids.encounter, taken_at: enc.occurred_at, ...mb },
          label: `${shortName(mb.instrument)} for ${who}`,
        });
      }
      if (wantGoal) {
        const g = { id: ids.goal, participant_id: p.id, text: goalText.value().trim(), topic: goalTopic.value(), agreed_date: ymd };
        if (gt && gt.ymd) g.target_date = gt.ymd;
        steps.push({ key: 'goal', kind: 'goals', body: g, label: `Goal for ${who}` });
      }
      if (wantRef) {
        const r = { id: ids.referral, participant_id: p.id, destination: refDest.value(), sent_date: ymd };
        if (refDetail.value().trim()) r.destination_detail = refDetail.value().trim();
        if (refNotes.value().trim()) r.notes = refNotes.value().trim();
        steps.push({ key: 'referral', kind: 'referrals', body: r, label: `Referral for ${who}` });
      }

      button.disabled = true;
      try {
        for (const s of steps) {
          if (saved.has(s.key)) continue;
          try {
            saved.set(s.key, await api.createRecord(s.kind, s.body, s.label));
          } catch (err) {
            if (!(err instanceof ApiError)) throw err;
            if (err.status === 401) return;
            let field = err.field;
            if (s.kind === 'measures') {
              const f = forms.get(s.instrument).fieldFor(err.field);
              field = f ? f.name : null;
            }
            const done = saved.size ? ' The parts above it were saved; fix this and press Save contact again to save the rest.' : '';
            errors.show([{ field, text: `${s.kind === 'measures' ? `${shortName(s.instrument)}: ` : ''}${apiErrorText(err, 'It could not be saved. Try again.')}${done}` }]);
            return;
          }
        }
        let checkinDone = null;
        if (checkinId) {
          try {
            checkinDone = await api.updateRecord('checkins', checkinId, { status: 'seen' }, { label: `Seen: ${who}`, participantId: p.id });
          } catch (err) {
            if (!(err instanceof ApiError)) throw err;
            checkinDone = { error: err };
          }
        }
        showDone(steps, checkinDone);
      } finally {
        button.disabled = false;
      }
    });

    function resultRow(s) {
      const r = saved.get(s.key) || {};
      const m = r.data || s.body;
      const inst = s.instrument;
      const notice = noticeOf(inst, m.result);
      let value;
      if (r.queued) {
        value = h('span', null, tag('Not sent yet', 'orange'), ' The server scores it when it is sent; the stored score will show on their record.');
      } else {
        const text = scoreText(inst, m.score, m.result, m.responses);
        value = h('span', null,
          h('strong', { text: text || (m.complete === false ? 'Stored incomplete' : bandText(inst, m.band) || 'Recorded') }),
          m.band && text ? [' ', tag(bandText(inst, m.band), bandColour(inst, m.band))] : null,
          (m.flags || []).map((f) => h('span', { class: 'cb-block' }, tag(FLAG_TEXT[f] || f, PROMPTS[f] ? 'red' : 'orange'))),
          m.rule_version ? h('span', { class: 'cb-block cb-muted', text: `Scored by the server (${m.rule_version})` }) : null,
          notice ? h('span', { class: 'cb-block cb-notice-text', text: notice }) : null);
      }
      return h('div', { class: 'nhsuk-summary-list__row' },
        h('dt', { class: 'nhsuk-summary-list__key', text: shortName(inst) }),
        h('dd', { class: 'nhsuk-summary-list__value', 'data-measure': inst }, value));
    }

    function showDone(steps, checkinDone) {
      const anyQueued = [...saved.values()].some((r) => r.queued);
      const flags = new Set();
      for (const s of steps) {
        const r = saved.get(s.key);
        const m = r && r.data;
        if (m && m.flags) m.flags.forEach((f) => flags.add(f));
      }
      const h1 = h('h1', { class: 'nhsuk-panel__title', text: anyQueued ? 'Contact saved on this tablet' : 'Contact saved' });
      const measureSteps = steps.filter((s) => s.kind === 'measures');
      const goal = steps.find((s) => s.key === 'goal');
      const ref = steps.find((s) => s.key === 'referral');
      fill(container, 
        h('div', { class: 'nhsuk-panel cb-panel' }, h1,
          h('div', { class: 'nhsuk-panel__body', text: `${label(ENCOUNTER_TYPES, type.value())} with ${name}, ${formatDateTime(steps[0].body.occurred_at)}` })),
        anyQueued ? h('div', { class: 'nhsuk-inset-text' }, h('p', { text: 'The server cannot be reached just now. Everything is kept on this tablet and will be sent, in order, when it can be reached.' })) : null,
        [...flags].filter((f) => PROMPTS[f]).map((f) => urgentCard(PROMPTS[f][0], PROMPTS[f][1], `done-prompt-${f}`)),
        measureSteps.length ? [h('h2', { class: 'nhsuk-heading-m', text: 'Measures' }), h('dl', { class: 'nhsuk-summary-list', id: 'saved-measures' }, measureSteps.map(resultRow))] : null,
        goal ? [h('h2', { class: 'nhsuk-heading-m', text: 'Goal' }), h('p', null, goal.body.text, ' ', tag(topicText(goal.body.topic), 'blue'))] : null,
        ref ? [h('h2', { class: 'nhsuk-heading-m', text: 'Referral' }), h('p', { text: `${label(REFERRAL_DESTINATIONS, ref.body.destination)}${ref.body.destination_detail ? `: ${ref.body.destination_detail}` : ''}, sent ${formatDate(ref.body.sent_date)}` })] : null,
        checkinDone && !checkinDone.error ? h('p', { text: `${name} is marked as seen in today’s queue.` }) : null,
        checkinDone && checkinDone.error ? h('p', { class: 'nhsuk-error-message', text: `They could not be marked as seen in the queue: ${apiErrorText(checkinDone.error)}` }) : null,
        h('div', { class: 'cb-actions' },
          h('a', { class: 'nhsuk-button', href: `#/people/${pid}`, role: 'button', draggable: 'false', text: 'View their record' }),
          h('a', { class: 'nhsuk-button nhsuk-button--secondary', href: sessionId ? `#/sessions/${encodeURIComponent(sessionId)}/register` : '#/today', role: 'button', draggable: 'false', text: sessionId ? 'Back to the register' : 'Back to Today' })));
      h1.setAttribute('tabindex', '-1');
      h1.focus();
      window.scrollTo(0, 0);
    }

    add(container, 
      h('h1', null, h('span', { class: 'nhsuk-caption-l', text: name }), 'Record a contact'),
      form);
    return {};
  },
};
