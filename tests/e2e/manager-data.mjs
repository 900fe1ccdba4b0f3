// Data for the managers' screens (manager.test.mjs): the demo seeder makes
// people and contacts only; this adds what the reports count - details for
// the splits, assigned coaches, venues, measures at baseline and review,
// goals, referrals, quits and a group register - through the API as the
// manager.
const day = 86400000;
const ago = (d) => new Date(Date.now() - d * day).toISOString();
const dateAgo = (d) => ago(d).slice(0, 10);

/** Give the seeded people the details, measures, goals and referrals the reports use. */
export async function enrich(mgr) {
  const made = {};
  const users = (await mgr.get('/api/users')).items;
  const coachOf = Object.fromEntries(users.filter((u) => u.role === 'coach').map((u) => [u.team, u]));
  const people = (await mgr.get('/api/participants?limit=100')).items;
  const venue = await mgr.post('/api/venues', { name: 'Bury Library', team: 'bury-town' });
  const venue2 = await mgr.post('/api/venues', { name: 'Prestwich Clinic', team: 'prestwich' });
  const sexes = ['female', 'male', 'female', 'not_stated'];
  const ethnic = ['white_british', 'asian_pakistani', 'black_african', 'white_british', 'mixed_other', 'asian_bangladeshi', 'white_irish', 'not_stated'];
  const jobs = ['in_work', 'out_of_work', 'economically_inactive', 'in_work'];
  let k = 0;
  for (const p of people.slice(0, 70)) {
    k += 1;
    const coach = coachOf[p.team];
    await mgr.patch(`/api/participants/${p.id}`, {
      sex: sexes[k % 4], ethnic_group: k % 23 ? ethnic[k % 8] : 'other_arab', employment_status: jobs[k % 4], carer: k % 5 === 0, veteran: k % 11 === 0,
      long_term_condition: k % 3 === 0, referral_source: k % 2 ? 'gp' : 'self', ...(coach && k % 4 !== 3 ? { assigned_coach: coach.id } : {}),
    });
    if (k <= 36) {
      const v = p.team === 'prestwich' ? venue2.id : venue.id;
      const enc = await mgr.post('/api/encounters', { participant_id: p.id, type: 'one_to_one', occurred_at: ago(100), venue: v, topics: ['mental_wellbeing'] });
      await mgr.post('/api/encounters', {
        participant_id: p.id, type: k % 6 ? 'drop_in' : 'dna', occurred_at: ago(20), venue: v, topics: ['physical_activity'],
        next_follow_up: dateAgo(k % 3 ? 5 : -5),
      });
      const b = 1 + (k % 3);
      const f = Math.min(5, b + (k % 4 === 0 ? 0 : 2));
      await mgr.post('/api/measures', { participant_id: p.id, encounter_id: enc.id, instrument: 'swemwbs', timepoint: 'baseline', taken_at: ago(100), responses: { q1: b, q2: b, q3: 3, q4: b, q5: 3, q6: b, q7: 2 } });
      await mgr.post('/api/measures', { participant_id: p.id, instrument: 'swemwbs', timepoint: 'review', taken_at: ago(20), responses: { q1: f, q2: f, q3: 3, q4: f, q5: 3, q6: f, q7: 3 } });
      await mgr.post('/api/measures', { participant_id: p.id, instrument: 'ons4', timepoint: 'baseline', taken_at: ago(100), responses: { q1: 4, q2: 5, q3: 4, q4: 7 } });
      await mgr.post('/api/measures', { participant_id: p.id, instrument: 'ons4', timepoint: 'review', taken_at: ago(20), responses: { q1: 6, q2: 6, q3: 6 + (k % 3), q4: 4 } });
      if (k % 2) {
        await mgr.post('/api/measures', { participant_id: p.id, instrument: 'gppaq', timepoint: 'baseline', taken_at: ago(100), responses: { occupation: 'sedentary', exercise_hours: 'none', cycling_hours: 'none' } });
        await mgr.post('/api/measures', { participant_id: p.id, instrument: 'gppaq', timepoint: 'review', taken_at: ago(20), responses: { occupation: 'sedentary', exercise_hours: k % 3 ? '1to3' : 'none', cycling_hours: 'none' } });
        await mgr.post('/api/measures', { participant_id: p.id, instrument: 'bmi', timepoint: 'baseline', taken_at: ago(100), responses: { height_cm: 160 + k, weight_kg: 90 + k } });
        await mgr.post('/api/measures', { participant_id: p.id, instrument: 'bmi', timepoint: 'review', taken_at: ago(20), responses: { height_cm: 160 + k, weight_kg: 87 + k } });
      }
      if (k % 3 === 0) {
        await mgr.post('/api/measures', { participant_id: p.id, instrument: 'audit_c', timepoint: 'baseline', taken_at: ago(100), responses: { q1: 3, q2: 2, q3: 1 } });
        await mgr.post('/api/measures', { participant_id: p.id, instrument: 'audit_c', timepoint: 'review', taken_at: ago(20), responses: { q1: 2, q2: 1, q3: 1 } });
      }
      if (k % 5 === 0) {
        await mgr.post('/api/measures', {
          participant_id: p.id, instrument: 'smoking', timepoint: 'review', taken_at: ago(20),
          responses: { status: 'quit_attempt', quit_date: dateAgo(50), followup_date: dateAgo(22), self_reported_quit: true, ...(k % 10 === 0 ? { co_ppm: 4 } : {}) },
        });
      }
      const goal = await mgr.post('/api/goals', { participant_id: p.id, text: 'Walk to the shops three times a week', topic: 'physical_activity', agreed_date: dateAgo(90) });
      if (k % 4) await mgr.post('/api/goal-reviews', { goal_id: goal.id, reviewed_on: dateAgo(20), status: ['fully_achieved', 'partly_achieved', 'not_achieved'][k % 3] });
      if (k % 3 === 1) {
        await mgr.post('/api/referrals', { participant_id: p.id, destination: ['exercise_referral', 'stop_smoking', 'social_prescribing'][k % 3], sent_date: dateAgo(60), status: ['sent', 'accepted', 'attended'][k % 3] });
      }
    }
  }
  // A group programme with a register taken.
  const prog = await mgr.post('/api/programmes', { name: 'Strength and balance', topic: 'frailty_falls', team: 'bury-town', venue: venue.id, start_date: dateAgo(30), weeks: 3, status: 'running' });
  await mgr.post(`/api/programmes/${prog.id}/schedule`, { first_session_at: ago(21), count: 3 });
  const bury = people.filter((p) => p.team === 'bury-town').slice(0, 6);
  for (const p of bury) await mgr.post('/api/enrolments', { participant_id: p.id, programme_id: prog.id, enrolled_on: dateAgo(25) });
  const sessions = (await mgr.get(`/api/programmes/${prog.id}/group-sessions`)).items.sort((a, b) => a.session_number - b.session_number);
  await mgr.put(`/api/group-sessions/${sessions[0].id}/register`, { entries: bury.map((p, i) => ({ participant_id: p.id, status: i % 3 ? 'attended' : 'absent' })) });
  made.people = people;
  made.coachOf = coachOf;
  return made;
}
