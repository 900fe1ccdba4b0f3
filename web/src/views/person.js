// A participant's record: summary, "Record a contact" form, contact history.
import { api, ApiError } from '../lib/api.js';
import { clear, focusEl, h } from '../lib/dom.js';
import { flash } from '../lib/flash.js';
import {
  ageOn, formatDate, formatDateTime, formatNhsNumber, fullName, londonParts, londonToDate, toHm,
} from '../lib/format.js';
import { loadTeams, teamName } from '../lib/teams.js';
import { notificationBanner } from '../components/banner.js';
import { apiErrorText, errorSummary, formErrors, loadError } from '../components/errors.js';
import { checkDate, checkTime, dateField, radiosField, textareaField, timeField } from '../components/fields.js';

export const ENCOUNTER_TYPES = [
  { value: 'drop_in', text: 'Drop-in contact' },
  { value: 'one_to_one', text: 'One-to-one' },
  { value: 'phone', text: 'Phone follow-up' },
  { value: 'video', text: 'Video follow-up' },
  { value: 'group', text: 'Group session' },
  { value: 'dna', text: 'Did not attend' },
];
const typeText = (v) => (ENCOUNTER_TYPES.find((t) => t.value === v) || { text: v }).text;

function summaryRow(key, value) {
  return h('div', { class: 'nhsuk-summary-list__row' },
    h('dt', { class: 'nhsuk-summary-list__key', text: key }),
    h('dd', { class: 'nhsuk-summary-list__value' }, value));
}

const notRecorded = () => h('span', { class: 'cb-muted', text: 'Not recorded' });

function participantSummary(p) {
  const age = ageOn(p.date_of_birth);
  return h('dl', { class: 'nhsuk-summary-list cb-summary' },
    summaryRow('Date of birth', `${formatDate(p.date_of_birth)}${age !== null ? ` (${age} years old)` : ''}`),
    summaryRow('NHS number', p.nhs_number ? formatNhsNumber(p.nhs_number) : notRecorded()),
    summaryRow('Postcode', p.postcode || notRecorded()),
    summaryRow('Team', teamName(p.team) || notRecorded()),
    summaryRow('Registered', p.created_at ? formatDateTime(p.created_at) : notRecorded()));
}

function coachName(c) {
  if (!c) return '';
  if (typeof c === 'string') return c;
  return c.display_name || c.username || '';
}

function encounterItem(e) {
  const coach = coachName(e.coach);
  return h('li', { class: 'cb-contact' },
    h('h3', { class: 'cb-contact__title' },
      h('strong', { class: ['nhsuk-tag', e.type === 'dna' ? 'nhsuk-tag--orange' : 'nhsuk-tag--blue'], text: typeText(e.type) })),
    h('p', { class: 'cb-contact__meta' },
      formatDateTime(e.occurred_at),
      coach ? ` · ${coach}` : ''),
    e.notes ? h('p', { class: 'cb-contact__notes', text: e.notes }) : null);
}

function contactForm({ participantId, onSaved }) {
  const summary = errorSummary();
  const type = radiosField({ id: 'type', legend: 'Type of contact', options: ENCOUNTER_TYPES });
  const date = dateField({ id: 'occurred_date', legend: 'Date of contact', hint: 'For example, 26 11 2026' });
  const time = timeField({ id: 'occurred_time', legend: 'Time of contact', hint: 'Use the 24-hour clock, for example 14 30' });
  const notes = textareaField({ id: 'notes', label: 'Notes (optional)', hint: 'What was discussed and anything agreed', rows: 4 });
  const fields = [type, date, time, notes];
  const errors = formErrors(summary, fields, { occurred_at: 'occurred_date', participant_id: 'type' });

  // "Now", until the coach changes the date or time.
  let defaults = null;
  function setNow() {
    const p = londonParts(new Date());
    const [hh, mm] = toHm(p.hour, p.minute).split(':');
    defaults = { day: String(p.day), month: String(p.month), year: String(p.year), hour: hh, minute: mm };
    date.setValue(defaults);
    time.setValue(defaults);
  }
  setNow();

  const button = h('button', { class: 'nhsuk-button', type: 'submit', text: 'Save contact' });
  const form = h('form', { novalidate: true, 'aria-labelledby': 'record-contact' },
    summary.el,
    h('h2', { id: 'record-contact', text: 'Record a contact' }),
    fields.map((f) => f.el),
    button);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const problems = [];
    const t = type.value();
    if (!t) problems.push({ field: 'type', text: 'Select the type of contact' });

    const dv = date.value();
    const tv = time.value();
    let occurred = null;
    const untouched = defaults && ['day', 'month', 'year'].every((k) => dv[k] === defaults[k]) &&
      tv.hour === defaults.hour && tv.minute === defaults.minute;
    if (untouched) {
      occurred = new Date(); // "now" means the moment it is saved
    } else {
      const d = checkDate(dv, 'Date of contact');
      const tm = checkTime(tv, 'Time of contact');
      if (d.error) problems.push({ field: 'occurred_date', text: d.error, parts: d.parts });
      if (tm.error) problems.push({ field: 'occurred_time', text: tm.error, parts: tm.parts });
      if (!d.error && !tm.error) {
        occurred = londonToDate(d.year, d.month, d.day, tm.hour, tm.minute);
        if (occurred.getTime() > Date.now() + 5 * 60 * 1000) {
          problems.push({ field: 'occurred_date', text: 'Date and time of contact must be in the past' });
        }
      }
    }
    if (problems.length) {
      errors.show(problems);
      return;
    }

    button.disabled = true;
    try {
      const saved = await api.createEncounter({
        participant_id: participantId,
        type: t,
        occurred_at: occurred.toISOString(),
        notes: notes.value().trim(),
      });
      errors.clear();
      type.setValue(null);
      notes.setValue('');
      setNow();
      onSaved(saved);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 401) return;
      errors.show([{ field: err.field, text: apiErrorText(err, 'The contact could not be saved. Try again.') }]);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export const personView = {
  title: 'Person',
  async render(ctx) {
    const id = ctx.params.id;
    const top = h('div', null, h('a', { class: 'nhsuk-back-link', href: '#/people', text: 'Find a person' }));
    const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading…' }));
    ctx.main.append(top, body);
    const message = flash.take();

    let p;
    let encounters;
    try {
      [p, encounters] = await Promise.all([
        api.participant(id, { signal: ctx.signal }),
        api.encounters(id, { signal: ctx.signal }).catch((err) => err),
        loadTeams().catch(() => null),
      ]);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      body.removeAttribute('aria-busy');
      if (err.status === 404) {
        ctx.setTitle('Person not found');
        const h1 = h('h1', { text: 'Person not found' });
        body.replaceChildren(h1,
          h('p', { text: 'There is no record with this link that you can see. It may belong to a different team.' }),
          h('p', null, h('a', { class: 'nhsuk-link', href: '#/people', text: 'Find a person' })));
        return { focus: h1 };
      }
      const h1 = h('h1', { text: 'Record unavailable' });
      body.replaceChildren(h1, loadError(err, 'This record'));
      return { focus: h1 };
    }
    if (!ctx.isCurrent()) return {};
    body.removeAttribute('aria-busy');

    const name = fullName(p) || 'No name recorded';
    ctx.setTitle(name);
    const banner = message ? notificationBanner({ heading: message.heading, text: message.text }) : null;
    const list = h('ul', { class: 'nhsuk-list cb-contacts', id: 'contacts' });
    const history = h('section', { class: 'cb-history', 'aria-labelledby': 'contact-history' },
      h('h2', { id: 'contact-history', text: 'Contact history' }));
    let savedBanner = null;

    function renderContacts(items) {
      clear(list);
      items.forEach((e) => list.appendChild(encounterItem(e)));
      history.querySelectorAll('.cb-contacts-empty').forEach((el) => el.remove());
      if (!items.length) history.appendChild(h('p', { class: 'cb-muted cb-contacts-empty', text: 'No contacts recorded yet.' }));
    }

    let items = [];
    if (encounters instanceof ApiError) {
      history.appendChild(loadError(encounters, 'The contact history'));
    } else if (encounters instanceof Error) {
      throw encounters;
    } else {
      items = (encounters && encounters.items) || [];
      history.appendChild(list);
      renderContacts(items);
    }

    const form = contactForm({
      participantId: p.id,
      onSaved(saved) {
        // Newest contact first, as the server lists them.
        items = [saved, ...items].sort((a, b) => Date.parse(b.occurred_at) - Date.parse(a.occurred_at));
        if (list.isConnected) renderContacts(items);
        if (savedBanner) savedBanner.remove();
        if (banner) banner.remove();
        savedBanner = notificationBanner({ heading: `${typeText(saved.type)} recorded for ${formatDateTime(saved.occurred_at)}` });
        body.insertBefore(savedBanner, body.firstChild);
        focusEl(savedBanner);
      },
    });

    const h1 = h('h1', { class: 'cb-person-name' },
      h('span', { class: 'nhsuk-caption-l', text: 'Person' }), ' ', name);
    body.replaceChildren(...[
      banner,
      h1,
      participantSummary(p),
      h('div', { class: 'nhsuk-grid-row' },
        h('div', { class: 'nhsuk-grid-column-two-thirds' }, form)),
      history,
    ].filter(Boolean));
    return { focus: banner || h1 };
  },
};
