// Managers: caseloads by coach, team and venue - people active on each
// caseload, follow-ups overdue, people with no contact for a while, reviews
// due - and one coach's or one team's lists (the coach's screen, reused).
import { api, ApiError } from '../lib/api.js';
import { add, fill, h, vh } from '../lib/dom.js';
import { addDays, todayYmd } from '../lib/format.js';
import { countText } from '../lib/report.js';
import { href, navigate } from '../lib/router.js';
import { loadTeams, teamName } from '../lib/teams.js';
import { loadVenues } from '../lib/venues.js';
import { cellBar } from '../components/bars.js';
import { loadError } from '../components/errors.js';
import { selectField } from '../components/fields.js';
import { dataTable, scrollBox } from '../components/table.js';
import { noContactFor, renderCaseload } from './caseload.js';
import { listOf } from './personData.js';

const WEEKS = [4, 6, 8, 12, 26];
const weeksOf = (q) => (WEEKS.includes(Number(q.get('weeks'))) ? Number(q.get('weeks')) : 8);

/** Run async jobs a few at a time (the server is shared with the field sites). */
async function pool(jobs, n = 3) {
  const out = new Array(jobs.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, jobs.length) }, async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]();
    }
  }));
  return out;
}

const soft = (p) => p.then((b) => ({ body: b, error: null }), (e) => { if (!(e instanceof ApiError)) throw e; return { body: null, error: e }; });
const n0 = (n) => (n ? h('strong', { class: 'cb-flag', text: String(n) }) : '0');

export const caseloadsView = {
  title: 'Caseloads',
  async render(ctx) {
    const weeks = weeksOf(ctx.query);
    const out = h('div', { 'aria-busy': 'true' }, h('p', { class: 'cb-muted', text: 'Loading…' }));
    const pick = selectField({ id: 'weeks', label: 'Count people with no contact in the last', options: WEEKS.map((w) => ({ value: String(w), text: `${w} weeks` })), value: String(weeks) });
    const form = h('form', { class: 'cb-inline-form cb-weeks', novalidate: true, 'aria-label': 'Weeks without contact' }, pick.el,
      h('button', { class: 'nhsuk-button nhsuk-button--secondary cb-act', type: 'submit', text: 'Update' }));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      navigate(href('/caseloads', { weeks: pick.value() }));
    });
    add(ctx.main, h('h1', { text: 'Caseloads' }),
      h('nav', { class: 'cb-jump', 'aria-label': 'On this page' }, h('ul', { class: 'cb-jump__list' },
        [['by-coach', 'By coach'], ['by-team', 'By team'], ['by-venue', 'By venue']].map(([a, t]) => h('li', null, h('a', { class: 'nhsuk-link', href: `#${a}`, text: t }))))),
      form, out);
    const o = { signal: ctx.signal };
    const today = todayYmd();
    const [users, teams, venues, fu, rv] = await Promise.all([
      listOf(api.users({}, o)), loadTeams().catch(() => []), loadVenues().catch(() => []),
      soft(api.followUps({ within_days: 7 }, o)), listOf(api.reviewsDue({}, o)),
    ]);
    if (!ctx.isCurrent()) return {};
    const coaches = users.items.filter((u) => (u.role === 'coach' || u.role === 'lead') && !u.disabled);
    const period = { from: addDays(today, -7 * weeks + 1), to: today };
    const [loads, byVenue] = await Promise.all([
      pool(coaches.map((c) => () => listOf(api.caseload({ coach: c.id }, o)))),
      soft(api.report('venues', period, o)),
    ]);
    if (!ctx.isCurrent()) return {};
    out.removeAttribute('aria-busy');
    if (users.error) {
      fill(out, loadError(users.error, 'Caseloads'));
      return {};
    }

    const reviews = rv.items;
    const overdue = (fu.body && fu.body.overdue) || [];
    const due = (fu.body && fu.body.due) || [];
    const byCoach = coaches.map((c, i) => {
      const items = loads[i].items;
      return {
        c, error: loads[i].error, items,
        overdue: items.filter((x) => x.follow_up_state === 'overdue').length,
        quiet: items.filter((x) => noContactFor(x, weeks)).length,
        reviews: reviews.filter((x) => x.assigned_coach === c.id).length,
      };
    }).sort((a, b) => (a.c.display_name || '').localeCompare(b.c.display_name || ''));
    const maxActive = Math.max(0, ...byCoach.map((x) => x.items.length));
    const coachRows = byCoach.map((x) => [
      h('a', { class: 'nhsuk-link cb-row-link', href: href(`/caseloads/coach/${encodeURIComponent(x.c.id)}`, { weeks }) }, x.c.display_name || x.c.username),
      teamName(x.c.team) || '—',
      x.error ? 'Could not be loaded' : h('span', { class: 'cb-withbar' }, h('span', { class: 'cb-withbar__n', text: String(x.items.length) }), cellBar(x.items.length, maxActive)),
      n0(x.overdue), n0(x.quiet), n0(x.reviews),
    ]);
    const caseloadPeople = byCoach.flatMap((x) => x.items);
    const teamRows = teams.map((t) => {
      const mine = (x) => x.team === t.id;
      return [
        h('a', { class: 'nhsuk-link cb-row-link', href: href(`/caseloads/team/${encodeURIComponent(t.id)}`, { weeks }) }, t.name),
        String(caseloadPeople.filter(mine).length),
        n0(overdue.filter(mine).length), String(due.filter(mine).length), n0(reviews.filter(mine).length),
        n0(caseloadPeople.filter((x) => mine(x) && noContactFor(x, weeks)).length),
      ];
    });
    const seen = new Map(((byVenue.body && byVenue.body.items) || []).map((x) => [x.venue, x]));
    const venueRows = venues.map((v) => {
      const f = seen.get(v.id);
      const link = href('/outcomes', { ...period, venue: v.id });
      return [
        h('a', { class: 'nhsuk-link cb-row-link', href: link }, v.name, vh(': outcomes at this venue')),
        teamName(v.team) || '—',
        f ? countText(f.people_seen) : 'Could not be loaded',
        f ? countText(f.contacts) : '—',
        f ? countText(f.dna) : '—',
      ];
    });
    const quietCol = `No contact in ${weeks} weeks`;
    fill(out,
      fu.error ? loadError(fu.error, 'Follow-ups') : null,
      h('section', { class: 'cb-section', id: 'by-coach', 'aria-labelledby': 'by-coach-h', tabindex: '-1' },
        h('h2', { class: 'cb-section__title', id: 'by-coach-h', text: 'By coach' }),
        h('p', { class: 'cb-muted', text: 'Active people assigned to each coach or group lead. Select a name for their lists.' }),
        coachRows.length
          ? scrollBox('Caseloads by coach', dataTable({ caption: 'Caseloads by coach', id: 'coach-table', stack: false, extraClass: 'cb-table-wide', cols: ['Coach', 'Team', 'Active', 'Follow-ups overdue', quietCol, 'Reviews due'], rows: coachRows }))
          : h('p', { text: 'There are no coach or group lead accounts.' })),
      h('section', { class: 'cb-section', id: 'by-team', 'aria-labelledby': 'by-team-h', tabindex: '-1' },
        h('h2', { class: 'cb-section__title', id: 'by-team-h', text: 'By team' }),
        h('p', { class: 'cb-muted', text: 'Follow-ups and reviews count everyone in the team, assigned to a coach or not.' }),
        scrollBox('Caseloads by team', dataTable({ caption: 'Caseloads by team', id: 'team-table', stack: false, extraClass: 'cb-table-wide', cols: ['Team', 'On caseloads', 'Follow-ups overdue', 'Due in 7 days', 'Reviews due', quietCol], rows: teamRows }))),
      h('section', { class: 'cb-section', id: 'by-venue', 'aria-labelledby': 'by-venue-h', tabindex: '-1' },
        h('h2', { class: 'cb-section__title', id: 'by-venue-h', text: 'By venue' }),
        h('p', { class: 'cb-muted', text: `People seen at each venue in the last ${weeks} weeks (contacts recorded there).` }),
        venueRows.length
          ? scrollBox('Activity by venue', dataTable({ caption: `Venues, last ${weeks} weeks`, id: 'venue-table', stack: false, extraClass: 'cb-table-wide', cols: ['Venue', 'Team', 'People seen', 'Contacts', 'Did not attend'], rows: venueRows }))
          : h('p', { text: 'No venues have been set up.' })));
    return {};
  },
};

export const coachCaseloadView = {
  title: 'Caseload',
  async render(ctx) {
    const weeks = weeksOf(ctx.query);
    const back = { href: href('/caseloads', { weeks }), text: 'Caseloads' };
    let user = null;
    try {
      const body = await api.users({}, { signal: ctx.signal });
      user = ((body && body.items) || []).find((u) => u.id === ctx.params.id) || null;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
    }
    if (!ctx.isCurrent()) return {};
    const name = user ? user.display_name || user.username : 'A coach';
    ctx.setTitle(`Caseload: ${name}`);
    return renderCaseload(ctx, { title: `Caseload: ${name}`, back, coach: { id: ctx.params.id, display_name: name }, weeks });
  },
};

export const teamCaseloadView = {
  title: 'Team caseload',
  async render(ctx) {
    const weeks = weeksOf(ctx.query);
    await loadTeams().catch(() => null);
    if (!ctx.isCurrent()) return {};
    const title = `Team: ${teamName(ctx.params.id)}`;
    ctx.setTitle(title);
    return renderCaseload(ctx, { title, back: { href: href('/caseloads', { weeks }), text: 'Caseloads' }, team: ctx.params.id, coach: false, weeks });
  },
};
