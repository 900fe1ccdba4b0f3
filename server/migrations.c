/*
 * migrations.c - the schema, as numbered migrations (PRAGMA user_version).
 *
 * Never edit a released migration: append a new one.  SQL here stays portable
 * (TEXT ids, ISO 8601 TEXT times, no SQLite-only types) so central can move to
 * PostgreSQL behind store.h.
 */
#include "migrations.h"

#define NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

/*
 * Migration 10's pieces.  Instruments with before/after pairs; a pairable
 * baseline (docs/REPORTS.md "Before/after pairs"); measures_report order (the
 * engine's tie order); and the trigger body that refreshes the baseline
 * columns of every row of (X.instrument, X.participant_id), X being NEW or
 * OLD: pb_* the person's earliest pairable baseline of any team, pbt_* of the
 * row's own team (what a team= report pairs with).
 */
#define PB_INSTR "('swemwbs','ons4','gppaq','bmi','audit_c')"
#define PB_WHERE                                                                                   \
    "m.deleted = 0 AND m.complete = 1 AND m.timepoint = 'baseline' AND (m.score IS NOT NULL OR"    \
    " m.instrument = 'ons4')"
#define PB_ORDER "m.taken_at, m.timepoint, m.complete, m.score, m.team, m.deleted, m.rowid"
#define PB_SET                                                                                     \
    "SET (pb_at, pb_score, pb_row) = (SELECT m.taken_at, m.score, m.rowid FROM measures m WHERE"   \
    " m.instrument = measures.instrument AND m.participant_id = measures.participant_id "          \
    "AND " PB_WHERE " ORDER BY " PB_ORDER " LIMIT 1), (pbt_at, pbt_score, pbt_row) = (SELECT"      \
    " m.taken_at, m.score, m.rowid FROM measures m WHERE m.instrument = measures.instrument AND"   \
    " m.participant_id = measures.participant_id AND m.team = measures.team AND " PB_WHERE         \
    " ORDER BY " PB_ORDER " LIMIT 1)"
#define PB_REFRESH(X)                                                                              \
    "UPDATE measures " PB_SET " WHERE instrument = " X ".instrument AND participant_id = " X       \
    ".participant_id;"

/*
 * Migration 12's pieces.  RV_SET(X): the report values of row X from its
 * result (ONS4: q1..q4 in rv1..rv4; BMI: weight_kg in rv1; NULL otherwise).
 * PB2_SET: PB_SET with the baselines' values (the baseline picked by rowid
 * from measures_report, which holds every column the pick reads: measures_pairs
 * also holds the values and would otherwise be chosen, read from its start for
 * every refresh); PB2_REFRESH(X, COND) refreshes
 * the rows of (X.instrument, X.participant_id) when COND holds.
 */
#define RV_NUM(X, K) "cb_json_number(" X ".result, 'raw', '" K "')"
#define RV_SET(X)                                                                                  \
    "rv1 = CASE " X ".instrument WHEN 'ons4' THEN " RV_NUM(X, "q1") " WHEN 'bmi' THEN " RV_NUM(    \
        X, "weight_kg") " END, rv2 = CASE WHEN " X                                                 \
                        ".instrument = 'ons4' THEN " RV_NUM(                                       \
                            X, "q2") " END, rv3 = CASE WHEN " X                                    \
                                     ".instrument = 'ons4' THEN " RV_NUM(                          \
                                         X, "q3") " END, rv4 = CASE WHEN " X                       \
                                                  ".instrument = 'ons4' THEN " RV_NUM(X,           \
                                                                                      "q4") " END"
#define PB2_PICK(TEAM)                                                                             \
    "(SELECT b.taken_at, b.score, b.rowid, b.rv1, b.rv2, b.rv3, b.rv4 FROM measures b WHERE"       \
    " b.rowid = (SELECT m.rowid FROM measures m WHERE m.instrument = measures.instrument AND"      \
    " m.participant_id = measures.participant_id" TEAM " AND " PB_WHERE " ORDER BY " PB_ORDER      \
    " LIMIT 1))"
#define PB2_SET                                                                                    \
    "SET (pb_at, pb_score, pb_row, pb_v1, pb_v2, pb_v3, pb_v4) = " PB2_PICK(                       \
        "") ", (pbt_at,"                                                                           \
            " pbt_score, pbt_row, pbt_v1, pbt_v2, pbt_v3, pbt_v4) = " PB2_PICK(                    \
                " AND m.team = measures.team")
#define PB2_REFRESH(X, COND)                                                                       \
    " UPDATE measures " PB2_SET " WHERE (" COND ") AND instrument = " X ".instrument AND"          \
    " participant_id = " X ".participant_id;"

/*
 * Migration 13's pieces (CB_CANON_TIME: migrations.h).  CM_ADD(X) / CM_SUB(X): count contact X
 * (NEW or OLD) into / out of contact_months when it is live and canonical; a
 * row whose count falls to 0 is removed.
 */
#define CX_KEY(X, K, L)                                                                            \
    "team = " X ".team AND " K " = substr(" X ".occurred_at, 1, " L ") AND participant_id = " X    \
    ".participant_id"
#define CX_ADD(X, T, K, L)                                                                         \
    " INSERT INTO " T " SELECT " X ".team, substr(" X ".occurred_at, 1, " L "), " X                \
    ".participant_id, 1, " X ".type = 'drop_in', " X ".type = 'one_to_one', " X ".type = 'phone'," \
    " " X ".type = 'video', " X ".type = 'group', " X ".type = 'dna' WHERE " X                     \
    ".deleted = 0 AND " CB_CANON_TIME(X ".occurred_at") " ON CONFLICT (team, " K                   \
                                                        ", participant_id) DO UPDATE SET n = n + " \
                                                        "1, c_drop_in = c_drop_in + "              \
                                                        "excluded.c_drop_in, c_one_to_one = "      \
                                                        "c_one_to_one + excluded.c_one_to_one, "   \
                                                        "c_phone = c_phone + excluded.c_phone, "   \
                                                        "c_video = c_video + excluded.c_video, "   \
                                                        "c_group = c_group + excluded.c_group, "   \
                                                        "c_dna = c_dna + excluded.c_dna;"
#define CX_SUB(X, T, K, L)                                                                         \
    " UPDATE " T " SET n = n - 1, c_drop_in = c_drop_in - (" X ".type = 'drop_in'),"               \
    " c_one_to_one = c_one_to_one - (" X ".type = 'one_to_one'), c_phone = c_phone - (" X          \
    ".type = 'phone'), c_video = c_video - (" X ".type = 'video'), c_group = c_group - (" X        \
    ".type = 'group'), c_dna = c_dna - (" X                                                        \
    ".type = 'dna') WHERE " CX_KEY(X, K, L) " AND " X ".deleted = 0 AND " CB_CANON_TIME(           \
        X ".occurred_at") ";"                                                                      \
                          " DELETE FROM " T " WHERE " CX_KEY(X, K, L) " AND n = 0;"
#define CM_ADD(X) CX_ADD(X, "contact_months", "month", "7")
#define CM_SUB(X) CX_SUB(X, "contact_months", "month", "7")
/* Migration 15: the same counts per UTC year (contact_years). */
#define CY_ADD(X) CX_ADD(X, "contact_years", "year", "4")
#define CY_SUB(X) CX_SUB(X, "contact_years", "year", "4")

/*
 * Migration 14's pieces: refresh the latest live measure of (X.instrument,
 * X.participant_id) in measure_latest.  "Latest" is the last row of that group
 * in measures_report order (ML_ORDER reversed), the order data quality's scan
 * reads, so both find the same row.
 */
#define ML_ORDER                                                                                   \
    "taken_at DESC, timepoint DESC, complete DESC, score DESC, team DESC, deleted DESC, rowid "    \
    "DESC"
#define ML_REFRESH(X)                                                                              \
    "DELETE FROM measure_latest WHERE participant_id = " X ".participant_id AND instrument = " X   \
    ".instrument; INSERT INTO measure_latest(participant_id, instrument, row, taken_at, baseline)" \
    " SELECT participant_id, instrument, rowid, taken_at, timepoint = 'baseline' FROM measures"    \
    " WHERE participant_id = " X ".participant_id AND instrument = " X ".instrument AND"           \
    " deleted = 0 ORDER BY " ML_ORDER " LIMIT 1;"

/*
 * Migration 17's pieces: the measures' triggers of migrations 12 and 14 with the
 * same effect and no temporary b-trees.  SQLite 3.40 sorts a pick's rows in a
 * temporary b-tree when a column of its ORDER BY that is not part of the index
 * lookup is also constrained by "=" in its WHERE (deleted, complete, timepoint,
 * team): the walk along measures_report stops at that column.  A unary "+" on
 * those constraints (same values, same comparison) lets the index give the
 * order.  And an IN list of more than two constants is built as a temporary
 * table on every firing of a trigger: PB_IS spells it out.  A row whose
 * instrument changes to one without pairs has its baseline columns cleared
 * (PB_CLEAR; before, it kept those its old group last gave it, which no
 * report reads and which a refresh from the rows alone cannot reproduce).
 */
// clang-format off
#define PB_IS(X) \
    "(" X " = 'swemwbs' OR " X " = 'ons4' OR " X " = 'gppaq' OR " X " = 'bmi' OR " X \
    " = 'audit_c')"
#define PB_CLEAR \
    "pb_at = NULL, pb_score = NULL, pb_row = NULL, pb_v1 = NULL, pb_v2 = NULL, pb_v3 = NULL," \
    " pb_v4 = NULL, pbt_at = NULL, pbt_score = NULL, pbt_row = NULL, pbt_v1 = NULL," \
    " pbt_v2 = NULL, pbt_v3 = NULL, pbt_v4 = NULL"
#define PB3_WHERE \
    "+m.deleted = 0 AND +m.complete = 1 AND +m.timepoint = 'baseline' AND (m.score IS NOT NULL" \
    " OR m.instrument = 'ons4')"
#define PB3_PICK(TEAM) \
    "(SELECT b.taken_at, b.score, b.rowid, b.rv1, b.rv2, b.rv3, b.rv4 FROM measures b WHERE" \
    " b.rowid = (SELECT m.rowid FROM measures m WHERE m.instrument = measures.instrument AND" \
    " m.participant_id = measures.participant_id" TEAM " AND " PB3_WHERE " ORDER BY " PB_ORDER \
    " LIMIT 1))"
#define PB3_SET \
    "SET (pb_at, pb_score, pb_row, pb_v1, pb_v2, pb_v3, pb_v4) = " PB3_PICK("") \
    ", (pbt_at, pbt_score, pbt_row, pbt_v1, pbt_v2, pbt_v3, pbt_v4) = " \
    PB3_PICK(" AND +m.team = measures.team")
#define PB3_REFRESH(X, COND) \
    " UPDATE measures " PB3_SET " WHERE (" COND ") AND instrument = " X ".instrument AND" \
    " participant_id = " X ".participant_id;"
#define ML2_REFRESH(X) \
    "DELETE FROM measure_latest WHERE participant_id = " X ".participant_id AND instrument = " \
    X ".instrument; INSERT INTO measure_latest(participant_id, instrument, row, taken_at," \
    " baseline) SELECT participant_id, instrument, rowid, taken_at, timepoint = 'baseline' FROM" \
    " measures WHERE participant_id = " X ".participant_id AND instrument = " X ".instrument" \
    " AND +deleted = 0 ORDER BY " ML_ORDER " LIMIT 1;"
#define MIGRATION_17 \
    "DROP TRIGGER measures_pb_insert;" \
    "DROP TRIGGER measures_pb_delete;" \
    "DROP TRIGGER measures_pb_update;" \
    "DROP TRIGGER measures_ml_insert;" \
    "DROP TRIGGER measures_ml_delete;" \
    "DROP TRIGGER measures_ml_update_old;" \
    "DROP TRIGGER measures_ml_update_new;" \
    "CREATE TRIGGER measures_pb_insert AFTER INSERT ON measures" \
    "  WHEN " PB_IS("NEW.instrument") " AND NOT cb_derived_deferred() BEGIN" \
    "  UPDATE measures SET " RV_SET("NEW") " WHERE rowid = NEW.rowid AND NEW.instrument IN" \
    "  ('ons4','bmi');" PB3_REFRESH("NEW", "1") " END;" \
    "CREATE TRIGGER measures_pb_delete AFTER DELETE ON measures" \
    "  WHEN " PB_IS("OLD.instrument") " AND NOT cb_derived_deferred()" \
    "  BEGIN " PB3_REFRESH("OLD", "1") " END;" \
    "CREATE TRIGGER measures_pb_update AFTER UPDATE OF participant_id, instrument, timepoint," \
    "  taken_at, complete, score, team, deleted, result ON measures" \
    "  WHEN (" PB_IS("OLD.instrument") " OR " PB_IS("NEW.instrument") ") AND NOT" \
    "  cb_derived_deferred() BEGIN" \
    "  UPDATE measures SET " RV_SET("NEW") " WHERE rowid = NEW.rowid AND (OLD.result IS NOT" \
    "  NEW.result OR OLD.instrument IS NOT NEW.instrument);" \
    "  UPDATE measures SET " PB_CLEAR " WHERE rowid = NEW.rowid AND NOT " PB_IS("NEW.instrument") \
    "  AND (pb_row IS NOT NULL OR pbt_row IS NOT NULL);" \
    PB3_REFRESH("OLD", PB_IS("OLD.instrument")) \
    PB3_REFRESH("NEW", PB_IS("NEW.instrument") " AND (OLD.instrument IS NOT" \
                " NEW.instrument OR OLD.participant_id IS NOT NEW.participant_id)") " END;" \
    "CREATE TRIGGER measures_ml_insert AFTER INSERT ON measures" \
    "  WHEN NOT cb_derived_deferred() BEGIN " ML2_REFRESH("NEW") " END;" \
    "CREATE TRIGGER measures_ml_delete AFTER DELETE ON measures" \
    "  WHEN NOT cb_derived_deferred() BEGIN " ML2_REFRESH("OLD") " END;" \
    "CREATE TRIGGER measures_ml_update_old AFTER UPDATE OF participant_id, instrument," \
    "  timepoint, taken_at, complete, score, team, deleted ON measures" \
    "  WHEN NOT cb_derived_deferred() BEGIN " ML2_REFRESH("OLD") " END;" \
    "CREATE TRIGGER measures_ml_update_new AFTER UPDATE OF participant_id, instrument," \
    "  timepoint, taken_at, complete, score, team, deleted ON measures" \
    "  WHEN (OLD.instrument IS NOT NEW.instrument OR OLD.participant_id IS NOT" \
    "  NEW.participant_id) AND NOT cb_derived_deferred() BEGIN " ML2_REFRESH("NEW") " END;" \
    "UPDATE measures SET " PB_CLEAR " WHERE NOT " PB_IS("instrument") " AND (pb_row IS NOT" \
    "  NULL OR pbt_row IS NOT NULL);"
// clang-format on

const char *const cb_migrations[] = {
    /* 1: foundation - teams, venues, users, sessions, participants, encounters, audit */
    "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE teams(id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    "  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO teams(id, name, created_at, updated_at) VALUES"
    "  ('prestwich', 'Prestwich', " NOW ", " NOW "),"
    "  ('whitefield', 'Whitefield', " NOW ", " NOW "),"
    "  ('radcliffe', 'Radcliffe', " NOW ", " NOW "),"
    "  ('bury-town', 'Bury town', " NOW ", " NOW "),"
    "  ('ramsbottom-tottington', 'Ramsbottom and Tottington', " NOW ", " NOW ");"
    "CREATE TABLE venues(id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    "  team TEXT NOT NULL REFERENCES teams(id), address TEXT, postcode TEXT,"
    "  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE users(id TEXT PRIMARY KEY, username TEXT NOT NULL,"
    "  display_name TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('coach','lead','manager','admin')),"
    "  team TEXT REFERENCES teams(id), password_hash TEXT NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE UNIQUE INDEX users_username ON users(lower(username));"
    "CREATE TABLE sessions(token_hash TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id), csrf_token TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE participants(id TEXT PRIMARY KEY,"
    "  given_name TEXT NOT NULL, family_name TEXT NOT NULL, date_of_birth TEXT NOT NULL,"
    "  nhs_number TEXT, postcode TEXT, team TEXT NOT NULL REFERENCES teams(id),"
    "  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, created_by TEXT,"
    "  deleted INTEGER NOT NULL DEFAULT 0);"
    /* Name search: range scans on these (team filtered after, see participant.c). */
    "CREATE INDEX participants_family ON participants(lower(family_name), lower(given_name), "
    "id);"
    "CREATE INDEX participants_given ON participants(lower(given_name));"
    /* A team's list in name order, read in index order with LIMIT. */
    "CREATE INDEX participants_team ON participants(team, lower(family_name), "
    "lower(given_name), "
    "id);"
    "CREATE INDEX participants_nhs ON participants(nhs_number);"
    "CREATE INDEX participants_dob ON participants(date_of_birth);"
    "CREATE TABLE encounters(id TEXT PRIMARY KEY,"
    "  participant_id TEXT NOT NULL REFERENCES participants(id),"
    "  type TEXT NOT NULL, occurred_at TEXT NOT NULL, notes TEXT,"
    "  coach TEXT REFERENCES users(id), team TEXT NOT NULL REFERENCES teams(id),"
    "  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, created_by TEXT,"
    "  deleted INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX encounters_participant ON encounters(participant_id, occurred_at);"
    "CREATE TABLE audit_events(seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL,"
    "  actor TEXT, action TEXT NOT NULL, entity TEXT, entity_id TEXT, address TEXT,"
    "  site TEXT, outcome TEXT NOT NULL DEFAULT 'ok', detail TEXT);"
    "CREATE INDEX audit_entity ON audit_events(entity, entity_id);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_events"
    "  BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_events"
    "  BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;",

    /* 2: the coaching record - full participant, contacts, consent, measures, goals,
     *    referrals, group programmes and attendance, drop-in check-ins, merges */
    "ALTER TABLE participants ADD COLUMN preferred_name TEXT;"
    "ALTER TABLE participants ADD COLUMN sex TEXT;"
    "ALTER TABLE participants ADD COLUMN gender_identity TEXT;"
    "ALTER TABLE participants ADD COLUMN ethnic_group TEXT;"
    "ALTER TABLE participants ADD COLUMN phone TEXT;"
    "ALTER TABLE participants ADD COLUMN email TEXT;"
    "ALTER TABLE participants ADD COLUMN gp_practice TEXT;"
    "ALTER TABLE participants ADD COLUMN contact_preferences TEXT;"
    "ALTER TABLE participants ADD COLUMN veteran INTEGER;"
    "ALTER TABLE participants ADD COLUMN learning_disability INTEGER;"
    "ALTER TABLE participants ADD COLUMN carer INTEGER;"
    "ALTER TABLE participants ADD COLUMN long_term_condition INTEGER;"
    "ALTER TABLE participants ADD COLUMN employment_status TEXT;"
    "ALTER TABLE participants ADD COLUMN referral_source TEXT;"
    "ALTER TABLE participants ADD COLUMN main_barrier TEXT;"
    "ALTER TABLE participants ADD COLUMN topics TEXT;"
    "ALTER TABLE participants ADD COLUMN status TEXT NOT NULL DEFAULT 'active';"
    "ALTER TABLE participants ADD COLUMN discharge_reason TEXT;"
    "ALTER TABLE participants ADD COLUMN discharge_date TEXT;"
    "ALTER TABLE participants ADD COLUMN assigned_coach TEXT REFERENCES users(id);"
    "ALTER TABLE participants ADD COLUMN merged_into TEXT;"
    "CREATE INDEX participants_coach ON participants(assigned_coach, status);"
    "ALTER TABLE encounters ADD COLUMN duration_minutes INTEGER;"
    "ALTER TABLE encounters ADD COLUMN venue TEXT REFERENCES venues(id);"
    "ALTER TABLE encounters ADD COLUMN topics TEXT;"
    "ALTER TABLE encounters ADD COLUMN brief_advice TEXT;"
    "ALTER TABLE encounters ADD COLUMN next_follow_up TEXT;"
    "ALTER TABLE encounters ADD COLUMN group_session_id TEXT;"
    "CREATE INDEX encounters_follow_up ON encounters(next_follow_up) WHERE next_follow_up IS "
    "NOT "
    "NULL;"
    "CREATE INDEX encounters_team_time ON encounters(team, occurred_at);"
#define CHILD_COLS                                                                                 \
    "participant_id TEXT NOT NULL REFERENCES participants(id), team TEXT NOT NULL,"                \
    "created_at TEXT NOT NULL, updated_at TEXT NOT NULL, created_by TEXT,"                         \
    "deleted INTEGER NOT NULL DEFAULT 0"
    "CREATE TABLE consents(id TEXT PRIMARY KEY, kind TEXT NOT NULL, given INTEGER NOT NULL,"
    "  date TEXT NOT NULL, notes TEXT, recorded_by TEXT, " CHILD_COLS ");"
    "CREATE INDEX consents_participant ON consents(participant_id, date);"
    "CREATE TABLE measures(id TEXT PRIMARY KEY, encounter_id TEXT, instrument TEXT NOT NULL,"
    "  timepoint TEXT NOT NULL, taken_at TEXT NOT NULL, responses TEXT NOT NULL,"
    "  allow_incomplete INTEGER, score REAL, band TEXT, rule_version TEXT NOT NULL,"
    "  complete INTEGER NOT NULL, flags TEXT, result TEXT, recorded_by TEXT, " CHILD_COLS ");"
    "CREATE INDEX measures_participant ON measures(participant_id, instrument, taken_at);"
    "CREATE INDEX measures_team ON measures(team, instrument, taken_at);"
    "CREATE TABLE goals(id TEXT PRIMARY KEY, text TEXT NOT NULL, topic TEXT NOT NULL,"
    "  agreed_date TEXT NOT NULL, target_date TEXT, status TEXT NOT NULL, " CHILD_COLS ");"
    "CREATE INDEX goals_participant ON goals(participant_id);"
    "CREATE TABLE goal_reviews(id TEXT PRIMARY KEY, goal_id TEXT NOT NULL REFERENCES goals(id),"
    "  reviewed_on TEXT NOT NULL, status TEXT NOT NULL, note TEXT, " CHILD_COLS ");"
    "CREATE INDEX goal_reviews_goal ON goal_reviews(goal_id, reviewed_on);"
    "CREATE TABLE referrals(id TEXT PRIMARY KEY, destination TEXT NOT NULL,"
    "  destination_detail TEXT, status TEXT NOT NULL, sent_date TEXT NOT NULL,"
    "  status_date TEXT, notes TEXT, " CHILD_COLS ");"
    "CREATE INDEX referrals_participant ON referrals(participant_id);"
    "CREATE TABLE programmes(id TEXT PRIMARY KEY, name TEXT NOT NULL, topic TEXT NOT NULL,"
    "  team TEXT NOT NULL REFERENCES teams(id), venue TEXT REFERENCES venues(id),"
    "  lead TEXT REFERENCES users(id), co_lead TEXT REFERENCES users(id),"
    "  start_date TEXT NOT NULL, weeks INTEGER NOT NULL, status TEXT NOT NULL,"
    "  description TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, created_by TEXT,"
    "  deleted INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX programmes_team ON programmes(team, start_date);"
    "CREATE TABLE group_sessions(id TEXT PRIMARY KEY,"
    "  programme_id TEXT NOT NULL REFERENCES programmes(id), session_number INTEGER NOT NULL,"
    "  starts_at TEXT NOT NULL, venue TEXT REFERENCES venues(id), notes TEXT,"
    "  team TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, created_by TEXT,"
    "  deleted INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX group_sessions_programme ON group_sessions(programme_id, starts_at);"
    "CREATE TABLE enrolments(id TEXT PRIMARY KEY,"
    "  programme_id TEXT NOT NULL REFERENCES programmes(id), enrolled_on TEXT NOT NULL,"
    "  status TEXT NOT NULL, " CHILD_COLS ");"
    "CREATE UNIQUE INDEX enrolments_unique ON enrolments(programme_id, participant_id)"
    "  WHERE deleted = 0;"
    "CREATE INDEX enrolments_participant ON enrolments(participant_id);"
    "CREATE TABLE attendance(id TEXT PRIMARY KEY,"
    "  session_id TEXT NOT NULL REFERENCES group_sessions(id), programme_id TEXT NOT NULL,"
    "  status TEXT NOT NULL, recorded_by TEXT, " CHILD_COLS ");"
    "CREATE UNIQUE INDEX attendance_unique ON attendance(session_id, participant_id)"
    "  WHERE deleted = 0;"
    "CREATE INDEX attendance_participant ON attendance(participant_id);"
    "CREATE TABLE checkins(id TEXT PRIMARY KEY, venue TEXT REFERENCES venues(id),"
    "  arrived_at TEXT NOT NULL, status TEXT NOT NULL, coach TEXT REFERENCES users(id),"
    "  reason TEXT, " CHILD_COLS ");"
    "CREATE INDEX checkins_team_time ON checkins(team, arrived_at);"
    "CREATE TABLE merges(id TEXT PRIMARY KEY, survivor_id TEXT NOT NULL,"
    "  merged_id TEXT NOT NULL, moved TEXT NOT NULL, merged_at TEXT NOT NULL,"
    "  merged_by TEXT NOT NULL, undone_at TEXT, undone_by TEXT);"
    "ALTER TABLE audit_events ADD COLUMN participant_id TEXT;"
    "CREATE INDEX audit_participant ON audit_events(participant_id) WHERE participant_id IS "
    "NOT "
    "NULL;"
    "INSERT INTO settings(key, value) VALUES ('review_weeks', '12');",

    /* 3: sync - per-field versions (one JSON map per row), the site outbox,
     *    central's change log, conflicts, enrolled sites, replay protection,
     *    scope exits.  See docs/SYNC.md. */
    "CREATE TABLE row_meta(tbl TEXT NOT NULL, row_id TEXT NOT NULL, versions TEXT NOT NULL,"
    "  PRIMARY KEY (tbl, row_id)) WITHOUT ROWID;"
    "CREATE TABLE outbox(op_id INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL,"
    "  row_id TEXT NOT NULL, fields TEXT NOT NULL, hlc INTEGER NOT NULL,"
    "  base_seq INTEGER NOT NULL, participant_id TEXT, created_at TEXT NOT NULL);"
    "CREATE INDEX outbox_row ON outbox(tbl, row_id);"
    "CREATE INDEX outbox_participant ON outbox(participant_id) WHERE participant_id IS NOT "
    "NULL;"
    "CREATE TABLE changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL,"
    "  row_id TEXT NOT NULL, fields TEXT NOT NULL, hlc INTEGER NOT NULL, site TEXT NOT NULL,"
    "  op_id INTEGER, scope TEXT, scope2 TEXT, restamped INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX changes_scope ON changes(scope, seq);"
    "CREATE INDEX changes_scope2 ON changes(scope2, seq) WHERE scope2 IS NOT NULL;"
    "CREATE TABLE conflicts(id TEXT PRIMARY KEY, tbl TEXT NOT NULL, row_id TEXT NOT NULL,"
    "  field TEXT NOT NULL, base_seq INTEGER NOT NULL, winner_value TEXT,"
    "  winner_hlc INTEGER NOT NULL, winner_site TEXT NOT NULL, loser_value TEXT,"
    "  loser_hlc INTEGER NOT NULL, loser_site TEXT NOT NULL, status TEXT NOT NULL,"
    "  resolution_note TEXT, resolved_by TEXT, resolved_at TEXT, participant_id TEXT,"
    "  team TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, created_by TEXT,"
    "  deleted INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX conflicts_open ON conflicts(status, team);"
    "CREATE INDEX conflicts_participant ON conflicts(participant_id);"
    "CREATE TABLE sites(id TEXT PRIMARY KEY, name TEXT NOT NULL, teams TEXT NOT NULL,"
    "  secret TEXT NOT NULL, code_hash TEXT, code_expires_ms INTEGER, enrolled_at TEXT,"
    "  revoked INTEGER NOT NULL DEFAULT 0, revoked_at TEXT, last_seen_at TEXT,"
    "  last_op_id INTEGER NOT NULL DEFAULT 0, pending_reported INTEGER,"
    "  oldest_pending_at TEXT, created_at TEXT NOT NULL);"
    "CREATE UNIQUE INDEX sites_name ON sites(lower(name));"
    "CREATE TABLE nonces(site_id TEXT NOT NULL, nonce TEXT NOT NULL, at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (site_id, nonce)) WITHOUT ROWID;"
    "CREATE INDEX nonces_at ON nonces(at_ms);"
    "CREATE TABLE scope_exits(participant_id TEXT PRIMARY KEY, since TEXT NOT NULL);"
    "ALTER TABLE users ADD COLUMN created_by TEXT;"
    "ALTER TABLE users ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE teams ADD COLUMN created_by TEXT;"
    "ALTER TABLE venues ADD COLUMN created_by TEXT;",

    /* 4: answers to writes sent with an Idempotency-Key (offline replays) */
    "CREATE TABLE idempotency(user_id TEXT NOT NULL, key TEXT NOT NULL, method TEXT NOT NULL,"
    "  path TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL, PRIMARY KEY (user_id, key)) WITHOUT ROWID;"
    "CREATE INDEX idempotency_created ON idempotency(created_ms);",

    /* 5: per-person lookups (merge, per-person lists) and merges by person */
    "CREATE INDEX goal_reviews_participant ON goal_reviews(participant_id);"
    "CREATE INDEX checkins_participant ON checkins(participant_id);"
    "CREATE INDEX merges_survivor ON merges(survivor_id);"
    "CREATE INDEX merges_merged ON merges(merged_id);"
    "CREATE INDEX attendance_programme ON attendance(programme_id, session_id) WHERE deleted = "
    "0;",

    /* 6: reports (docs/REPORTS.md) - IMD deciles by postcode and population denominators
     *    (reference data replaced whole by `coachbox import`), the small-number threshold,
     *    and indexes for the report streams.  The *_report indexes cover their queries,
     *    `deleted` included (a partial index on deleted = 0 would not count as covering) */
    "CREATE TABLE imd(postcode TEXT PRIMARY KEY,"
    "  decile INTEGER NOT NULL CHECK (decile BETWEEN 1 AND 10)) WITHOUT ROWID;"
    "CREATE TABLE population(split TEXT NOT NULL, grp TEXT NOT NULL,"
    "  people INTEGER NOT NULL CHECK (people >= 0), PRIMARY KEY (split, grp)) WITHOUT ROWID;"
    "INSERT INTO settings(key, value) VALUES ('small_number_threshold', '5');"
    "CREATE INDEX encounters_report ON encounters(team, occurred_at, participant_id, type,"
    "  deleted);"
    "CREATE INDEX encounters_topic ON encounters(team, occurred_at, topics, participant_id, "
    "type,"
    "  deleted) WHERE topics IS NOT NULL;"
    "CREATE INDEX encounters_venue ON encounters(venue, occurred_at) WHERE deleted = 0;"
    "CREATE INDEX encounters_coach ON encounters(coach, occurred_at) WHERE deleted = 0;"
    "CREATE INDEX encounters_session ON encounters(group_session_id)"
    "  WHERE group_session_id IS NOT NULL;"
    "CREATE INDEX encounters_no_topic ON encounters(occurred_at, participant_id, type, team, "
    "id,"
    "  deleted, topics) WHERE deleted = 0 AND type <> 'dna' AND (topics IS NULL OR topics = "
    "'[]');"
    "CREATE INDEX group_sessions_report ON group_sessions(starts_at) WHERE deleted = 0;"
    "CREATE INDEX referrals_report ON referrals(team, sent_date, participant_id, destination,"
    "  status, deleted);"
    "CREATE INDEX goals_report ON goals(team, agreed_date, participant_id, status, topic,"
    "  deleted);"
    "CREATE INDEX measures_report ON measures(instrument, participant_id, taken_at, timepoint,"
    "  complete, score, team, deleted);"
    "CREATE INDEX measures_followup ON measures(instrument, taken_at, participant_id, "
    "timepoint,"
    "  complete, deleted, team);"
    "CREATE INDEX participants_report ON participants(team, id, date_of_birth, sex,"
    "  ethnic_group, employment_status, referral_source, main_barrier, veteran,"
    "  learning_disability, carer, long_term_condition, postcode, status, deleted, "
    "merged_into);"
    "CREATE INDEX measures_band ON measures(instrument, band) WHERE deleted = 0;"
    "CREATE INDEX measures_incomplete ON measures(taken_at, participant_id, instrument, team, "
    "id,"
    "  deleted, complete) WHERE deleted = 0 AND complete = 0;",

    /* 7: sync - a change that is exactly the op a site sent (no field dropped, added or
     *    changed by central, no move, no restamp, nothing else logged for the row since the
     *    op's base) is marked, so that site is not sent its own write back; changes by row
     *    for that last check (docs/SYNC.md, "Pull") */
    "ALTER TABLE changes ADD COLUMN exact INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX changes_row ON changes(row_id, seq);",

    /* 8: when central last answered each site's pull with everything it had (the end of
     *    a successful sync round; GET /api/sites); contacts by venue read from one covering
     *    index (activity by venue, outcomes with venue=) instead of the narrow
     *    encounters_venue and a table read per contact */
    "ALTER TABLE sites ADD COLUMN last_sync_at TEXT;"
    "CREATE INDEX encounters_venue_report ON encounters(venue, occurred_at, participant_id, "
    "type,"
    "  team, deleted);"
    "DROP INDEX encounters_venue;",

    /* 9: sync - a digest of each op central consumed from a site (its table, row, HLC and
     *    fields as sent), so a resent op is told from a new write under an op id the site
     *    reused after being restored from a backup (docs/SYNC.md, "Restored sites") */
    "CREATE TABLE site_ops(site TEXT NOT NULL, op_id INTEGER NOT NULL,"
    "  digest INTEGER NOT NULL, PRIMARY KEY (site, op_id)) WITHOUT ROWID;",

    /* 10: referrals keep the date of each status they reached (status_date stays the date
     *     of the current one); existing rows take theirs from status_date */
    "ALTER TABLE referrals ADD COLUMN accepted_date TEXT;"
    "ALTER TABLE referrals ADD COLUMN declined_date TEXT;"
    "ALTER TABLE referrals ADD COLUMN attended_date TEXT;"
    "UPDATE referrals SET accepted_date = status_date WHERE status = 'accepted';"
    "UPDATE referrals SET declined_date = status_date WHERE status = 'declined';"
    "UPDATE referrals SET attended_date = status_date WHERE status = 'attended';",

    // clang-format off
    /* 11: reports - on every measure of a paired instrument, the person's earliest pairable
     *    baseline (its time, score and rowid; any team and the row's own team), kept by
     *    triggers on measures for every write path (record insert/update/tombstone/restore,
     *    merge and undo, sync apply, a site's scope-exit delete), so a before/after pair
     *    is read from the period's follow-ups alone in one covering index (measures_pairs,
     *    which replaces measures_followup) instead of each person's history; and
     *    participants_active for the data-quality joins.  docs/REPORTS.md, "How it is fast". */
    "ALTER TABLE measures ADD COLUMN pb_at TEXT;"
    "ALTER TABLE measures ADD COLUMN pb_score REAL;"
    "ALTER TABLE measures ADD COLUMN pb_row INTEGER;"
    "ALTER TABLE measures ADD COLUMN pbt_at TEXT;"
    "ALTER TABLE measures ADD COLUMN pbt_score REAL;"
    "ALTER TABLE measures ADD COLUMN pbt_row INTEGER;"
    "CREATE TRIGGER measures_pb_insert AFTER INSERT ON measures"
    "  WHEN NEW.instrument IN " PB_INSTR " BEGIN " PB_REFRESH("NEW") " END;"
    "CREATE TRIGGER measures_pb_delete AFTER DELETE ON measures"
    "  WHEN OLD.instrument IN " PB_INSTR " BEGIN " PB_REFRESH("OLD") " END;"
    "CREATE TRIGGER measures_pb_update_old AFTER UPDATE OF participant_id, instrument,"
    "  timepoint, taken_at, complete, score, team, deleted ON measures"
    "  WHEN OLD.instrument IN " PB_INSTR " BEGIN " PB_REFRESH("OLD") " END;"
    "CREATE TRIGGER measures_pb_update_new AFTER UPDATE OF participant_id, instrument,"
    "  timepoint, taken_at, complete, score, team, deleted ON measures"
    "  WHEN NEW.instrument IN " PB_INSTR " AND (OLD.instrument IS NOT NEW.instrument OR"
    "  OLD.participant_id IS NOT NEW.participant_id) BEGIN " PB_REFRESH("NEW") " END;"
    /* existing data */
    "UPDATE measures " PB_SET " WHERE instrument IN " PB_INSTR ";"
    "CREATE INDEX measures_pairs ON measures(instrument, taken_at, participant_id, timepoint,"
    "  complete, score, team, deleted, pb_at, pb_score, pb_row, pbt_at, pbt_score, pbt_row);"
    "DROP INDEX measures_followup;"
    /* data quality: is a contact's or measure's person active, from a small covering index
     * instead of the participants table */
    "CREATE INDEX participants_active ON participants(id, status, deleted, merged_into);",

    /* 12: reports - the ONS4 answers (rv1..rv4 = q1..q4) and the BMI weight (rv1 = weight_kg)
     *     of a measure as columns, and its person's baseline's values (pb_v1.., pbt_v1..) beside
     *     pb_ and pbt_ columns, all in measures_pairs, so a pair's values are read from that index
     *     instead of two table rows' result JSON.  Kept by the triggers (replacing migration
     *     11's): the values come from the result by cb_json_number (store.c; SQLite's JSON
     *     functions are refused in triggers with trusted_schema=OFF), so every write path
     *     keeps them, as it keeps the baselines.  docs/REPORTS.md, "How it is fast". */
    "DROP TRIGGER measures_pb_insert;"
    "DROP TRIGGER measures_pb_delete;"
    "DROP TRIGGER measures_pb_update_old;"
    "DROP TRIGGER measures_pb_update_new;"
    "DROP INDEX measures_pairs;"
    "ALTER TABLE measures ADD COLUMN rv1 REAL;"
    "ALTER TABLE measures ADD COLUMN rv2 REAL;"
    "ALTER TABLE measures ADD COLUMN rv3 REAL;"
    "ALTER TABLE measures ADD COLUMN rv4 REAL;"
    "ALTER TABLE measures ADD COLUMN pb_v1 REAL;"
    "ALTER TABLE measures ADD COLUMN pb_v2 REAL;"
    "ALTER TABLE measures ADD COLUMN pb_v3 REAL;"
    "ALTER TABLE measures ADD COLUMN pb_v4 REAL;"
    "ALTER TABLE measures ADD COLUMN pbt_v1 REAL;"
    "ALTER TABLE measures ADD COLUMN pbt_v2 REAL;"
    "ALTER TABLE measures ADD COLUMN pbt_v3 REAL;"
    "ALTER TABLE measures ADD COLUMN pbt_v4 REAL;"
    "CREATE TRIGGER measures_pb_insert AFTER INSERT ON measures"
    "  WHEN NEW.instrument IN " PB_INSTR " AND NOT cb_derived_deferred() BEGIN"
    "  UPDATE measures SET " RV_SET("NEW") " WHERE rowid = NEW.rowid AND NEW.instrument IN"
    "  ('ons4','bmi');" PB2_REFRESH("NEW", "1") " END;"
    "CREATE TRIGGER measures_pb_delete AFTER DELETE ON measures"
    "  WHEN OLD.instrument IN " PB_INSTR " AND NOT cb_derived_deferred()"
    "  BEGIN " PB2_REFRESH("OLD", "1") " END;"
    "CREATE TRIGGER measures_pb_update AFTER UPDATE OF participant_id, instrument, timepoint,"
    "  taken_at, complete, score, team, deleted, result ON measures"
    "  WHEN (OLD.instrument IN " PB_INSTR " OR NEW.instrument IN " PB_INSTR ") AND NOT"
    "  cb_derived_deferred() BEGIN"
    "  UPDATE measures SET " RV_SET("NEW") " WHERE rowid = NEW.rowid AND (OLD.result IS NOT"
    "  NEW.result OR OLD.instrument IS NOT NEW.instrument);"
    PB2_REFRESH("OLD", "OLD.instrument IN " PB_INSTR)
    PB2_REFRESH("NEW", "NEW.instrument IN " PB_INSTR " AND (OLD.instrument IS NOT"
                " NEW.instrument OR OLD.participant_id IS NOT NEW.participant_id)") " END;"
    /* existing data: the values, then the baselines' (pb_row, pbt_row are already right) */
    "UPDATE measures SET " RV_SET("measures") " WHERE instrument IN ('ons4','bmi');"
    "UPDATE measures SET (pb_v1, pb_v2, pb_v3, pb_v4) = (SELECT m.rv1, m.rv2, m.rv3, m.rv4"
    "  FROM measures m WHERE m.rowid = measures.pb_row), (pbt_v1, pbt_v2, pbt_v3, pbt_v4) ="
    "  (SELECT m.rv1, m.rv2, m.rv3, m.rv4 FROM measures m WHERE m.rowid = measures.pbt_row)"
    "  WHERE instrument IN ('ons4','bmi');"
    "CREATE INDEX measures_pairs ON measures(instrument, taken_at, participant_id, timepoint,"
    "  complete, score, team, deleted, pb_at, pb_score, pb_row, pbt_at, pbt_score, pbt_row,"
    "  rv1, rv2, rv3, rv4, pb_v1, pb_v2, pb_v3, pb_v4, pbt_v1, pbt_v2, pbt_v3, pbt_v4);",

    /* 13: reports - each person's contacts per UTC month, team and type (contact_months),
     *     kept by triggers on encounters for every write path (record insert, update,
     *     tombstone and restore, a merge moving contacts and its undo, sync apply, a site's
     *     scope-exit delete), so a report over whole months reads one row per person and
     *     month instead of every contact; part-months at either end are read raw.  Only
     *     canonical times (YYYY-MM-DDTHH:MM:SS.mmmZ, as the record layer writes them) are
     *     counted, which lie inside their month in text order; any other time is read raw
     *     through encounters_odd_time.  docs/REPORTS.md, "How it is fast". */
    "CREATE TABLE contact_months(team TEXT NOT NULL, month TEXT NOT NULL,"
    "  participant_id TEXT NOT NULL, n INTEGER NOT NULL, c_drop_in INTEGER NOT NULL,"
    "  c_one_to_one INTEGER NOT NULL, c_phone INTEGER NOT NULL, c_video INTEGER NOT NULL,"
    "  c_group INTEGER NOT NULL, c_dna INTEGER NOT NULL,"
    "  PRIMARY KEY (team, month, participant_id)) WITHOUT ROWID;"
    "CREATE TRIGGER encounters_cm_insert AFTER INSERT ON encounters BEGIN " CM_ADD("NEW") " END;"
    "CREATE TRIGGER encounters_cm_delete AFTER DELETE ON encounters BEGIN " CM_SUB("OLD") " END;"
    "CREATE TRIGGER encounters_cm_update AFTER UPDATE OF participant_id, type, occurred_at, team,"
    "  deleted ON encounters BEGIN " CM_SUB("OLD") CM_ADD("NEW") " END;"
    "INSERT INTO contact_months SELECT team, substr(occurred_at, 1, 7), participant_id, count(*),"
    "  sum(type = 'drop_in'), sum(type = 'one_to_one'), sum(type = 'phone'), sum(type = 'video'),"
    "  sum(type = 'group'), sum(type = 'dna') FROM encounters WHERE deleted = 0 AND "
    CB_CANON_TIME("occurred_at") " GROUP BY 1, 2, 3;"
    "CREATE INDEX encounters_odd_time ON encounters(occurred_at, participant_id, type, team,"
    "  deleted) WHERE NOT " CB_CANON_TIME("occurred_at") ";",

    /* 14: data quality - each person's latest live measure of each instrument (its rowid,
     *    time and whether it is a baseline), kept by triggers on measures for every write
     *    path like migration 11's baselines, so "baselines without review" reads the lone
     *    baselines from a small partial index in time order instead of ordering every
     *    measure; and a partial index per missing-field list.  docs/REPORTS.md, "How it
     *    is fast". */
    "CREATE TABLE measure_latest(participant_id TEXT NOT NULL, instrument TEXT NOT NULL,"
    "  row INTEGER NOT NULL, taken_at TEXT NOT NULL, baseline INTEGER NOT NULL,"
    "  PRIMARY KEY (participant_id, instrument)) WITHOUT ROWID;"
    "CREATE INDEX measure_latest_baselines ON measure_latest(taken_at, row, participant_id,"
    "  instrument, baseline) WHERE baseline = 1;"
    "CREATE TRIGGER measures_ml_insert AFTER INSERT ON measures"
    "  WHEN NOT cb_derived_deferred() BEGIN " ML_REFRESH("NEW") " END;"
    "CREATE TRIGGER measures_ml_delete AFTER DELETE ON measures"
    "  WHEN NOT cb_derived_deferred() BEGIN " ML_REFRESH("OLD") " END;"
    "CREATE TRIGGER measures_ml_update_old AFTER UPDATE OF participant_id, instrument,"
    "  timepoint, taken_at, complete, score, team, deleted ON measures"
    "  WHEN NOT cb_derived_deferred() BEGIN " ML_REFRESH("OLD") " END;"
    "CREATE TRIGGER measures_ml_update_new AFTER UPDATE OF participant_id, instrument,"
    "  timepoint, taken_at, complete, score, team, deleted ON measures"
    "  WHEN (OLD.instrument IS NOT NEW.instrument OR OLD.participant_id IS NOT"
    "  NEW.participant_id) AND NOT cb_derived_deferred() BEGIN " ML_REFRESH("NEW") " END;"
    /* the missing-field lists, in name order: only the people they list, covering */
    "CREATE INDEX participants_dq_nhs ON participants(lower(family_name), lower(given_name), id,"
    "  given_name, family_name, date_of_birth, team) WHERE nhs_number IS NULL AND deleted = 0"
    "  AND merged_into IS NULL AND status = 'active';"
    "CREATE INDEX participants_dq_ethnic ON participants(lower(family_name), lower(given_name),"
    "  id, given_name, family_name, date_of_birth, team) WHERE ethnic_group IS NULL AND"
    "  deleted = 0 AND merged_into IS NULL AND status = 'active';"
    "CREATE INDEX participants_dq_postcode ON participants(lower(family_name), lower(given_name),"
    "  id, given_name, family_name, date_of_birth, team) WHERE postcode IS NULL AND deleted = 0"
    "  AND merged_into IS NULL AND status = 'active';"
    /* existing data */
    "INSERT INTO measure_latest(participant_id, instrument, row, taken_at, baseline)"
    "  SELECT participant_id, instrument, r, taken_at, timepoint = 'baseline' FROM"
    "  (SELECT participant_id, instrument, rowid AS r, taken_at, timepoint, row_number() OVER"
    "  (PARTITION BY participant_id, instrument ORDER BY " ML_ORDER ") AS rn FROM measures"
    "  WHERE deleted = 0) WHERE rn = 1;",

    /* 15: reports - each person's contacts per UTC year, team and type (contact_years),
     *     kept by the same three triggers as contact_months (recreated to keep both), so a
     *     report over whole years reads one row per person and year; the months and
     *     part-months at either end as before.  Built from contact_months.  docs/REPORTS.md,
     *     "How it is fast". */
    "CREATE TABLE contact_years(team TEXT NOT NULL, year TEXT NOT NULL,"
    "  participant_id TEXT NOT NULL, n INTEGER NOT NULL, c_drop_in INTEGER NOT NULL,"
    "  c_one_to_one INTEGER NOT NULL, c_phone INTEGER NOT NULL, c_video INTEGER NOT NULL,"
    "  c_group INTEGER NOT NULL, c_dna INTEGER NOT NULL,"
    "  PRIMARY KEY (team, year, participant_id)) WITHOUT ROWID;"
    "DROP TRIGGER encounters_cm_insert;"
    "DROP TRIGGER encounters_cm_delete;"
    "DROP TRIGGER encounters_cm_update;"
    "CREATE TRIGGER encounters_cm_insert AFTER INSERT ON encounters BEGIN " CM_ADD("NEW")
    CY_ADD("NEW") " END;"
    "CREATE TRIGGER encounters_cm_delete AFTER DELETE ON encounters BEGIN " CM_SUB("OLD")
    CY_SUB("OLD") " END;"
    "CREATE TRIGGER encounters_cm_update AFTER UPDATE OF participant_id, type, occurred_at, team,"
    "  deleted ON encounters BEGIN " CM_SUB("OLD") CY_SUB("OLD") CM_ADD("NEW") CY_ADD("NEW")
    " END;"
    "INSERT INTO contact_years SELECT team, substr(month, 1, 4), participant_id, sum(n),"
    "  sum(c_drop_in), sum(c_one_to_one), sum(c_phone), sum(c_video), sum(c_group), sum(c_dna)"
    "  FROM contact_months GROUP BY 1, 2, 3;",

    /* 16: reports - measures_pairs holds only what a pair's follow-up can be (not a baseline,
     *     complete, live), so the pairs stream reads the ~260,000 follow-ups of the bench data
     *     instead of all ~800,000 measures of the paired instruments; same columns (still
     *     covering: SQLite 3.40 does not count a partial index's condition as covering, so the
     *     columns it tests stay in the index). */
    "DROP INDEX measures_pairs;"
    "CREATE INDEX measures_pairs ON measures(instrument, taken_at, participant_id, timepoint,"
    "  complete, score, team, deleted, pb_at, pb_score, pb_row, pbt_at, pbt_score, pbt_row,"
    "  rv1, rv2, rv3, rv4, pb_v1, pb_v2, pb_v3, pb_v4, pbt_v1, pbt_v2, pbt_v3, pbt_v4)"
    "  WHERE timepoint <> 'baseline' AND complete = 1 AND deleted = 0;",
    /* 17: the measures' triggers of migrations 12 and 14 again, same effect, without the
     *     temporary b-trees SQLite built on every firing (the PB3_ and ML2_ macros above):
     *     a measure written by a push at central, or recorded on a site, no longer opens
     *     four to six of them.  docs/PERFORMANCE.md, "Sync throughput". */
    MIGRATION_17,
    /* 18: encounters_team_time (team, occurred_at) is the prefix of encounters_report
     *     (team, occurred_at, participant_id, type, deleted), which serves every lookup it
     *     served (and covers more): one index less to keep on every contact written, by the
     *     API or a sync.  docs/PERFORMANCE.md, "Sync throughput". */
    "DROP INDEX encounters_team_time;",
    /* 19: sync - the digests of the ops central consumes are kept a row per push batch
     *     (a run of contiguous op ids, each digest 8 bytes big-endian), not a row per op:
     *     one insert per batch in the push's turn.  site_ops keeps the digests of ops
     *     consumed before, and is still read for them (docs/SYNC.md, "Restored sites"). */
    "CREATE TABLE site_op_runs(site TEXT NOT NULL, first_op INTEGER NOT NULL,"
    "  last_op INTEGER NOT NULL, digests BLOB NOT NULL);"
    "CREATE UNIQUE INDEX site_op_runs_first ON site_op_runs(site, first_op);",
    /* 20: sync - a change that created its row whole is marked (whole = 1) and is where
     *     central keeps that row's row-wide version, rather than a row_meta row written
     *     with it: one b-tree insert less for every new record central logs (a push, or
     *     a write at central); row_meta gets the row at its first later write
     *     (docs/SYNC.md, "Tables").  Older changes are 0: their rows have row_meta. */
    "ALTER TABLE changes ADD COLUMN whole INTEGER NOT NULL DEFAULT 0;",
    /* 21: replays - an Idempotency-Key's stored answer keeps the SHA-256 of the request
     *     body it answered, so the key sent again with another body is refused (422)
     *     rather than given the old answer.  Older answers have none (NULL: not
     *     compared). */
    "ALTER TABLE idempotency ADD COLUMN body_hash TEXT;",
    /* 22: replays - an Idempotency-Key's stored answer keeps the access of the user it
     *     answered (role and team, "coach:prestwich"); a replay under other access is
     *     refused (409 idempotency_key_stale) rather than given an answer the user may
     *     no longer read.  Older answers have none (NULL: refused the same way). */
    "ALTER TABLE idempotency ADD COLUMN access TEXT;",
// clang-format on
#undef CHILD_COLS
};

/* What the measures' triggers of migrations 12 and 14 keep, for one group (?1
 * instrument, ?2 participant): migrations.h. */
const char *const cb_migrations_measures_refresh[] = {
    /* report values: a function of each row's instrument and result (a row that
     * left ons4/bmi for another instrument has them cleared, as the trigger does);
     * the group's rows by the two leading columns of measures_report (a one-pass
     * update: no temporary table, which "rowid IN (SELECT ...)" built) */
    // clang-format off
    "UPDATE measures SET " RV_SET("measures") " WHERE instrument = ?1 AND participant_id = ?2"
    " AND (?1 IN ('ons4','bmi') OR rv1 IS NOT NULL OR rv2 IS NOT NULL OR rv3 IS NOT NULL OR"
    " rv4 IS NOT NULL)",
    /* the group's baselines, with their values (migration 17's pick) */
    "UPDATE measures " PB3_SET " WHERE " PB_IS("?1") " AND instrument = ?1 AND"
    " participant_id = ?2",
    /* an instrument without pairs: no baselines (a row that came from one) */
    "UPDATE measures SET " PB_CLEAR " WHERE NOT " PB_IS("?1") " AND instrument = ?1 AND"
    " participant_id = ?2 AND (pb_row IS NOT NULL OR pbt_row IS NOT NULL)",
    // clang-format on
    /* the group's latest measure, written over the one it had (an upsert: no
     * delete and insert of a row that stays), then removed if the group has no
     * live measure - the last statement runs only when this one wrote no row */
    "INSERT INTO measure_latest(participant_id, instrument, row, taken_at, baseline)"
    " SELECT participant_id, instrument, rowid, taken_at, timepoint = 'baseline' FROM measures"
    " WHERE participant_id = ?2 AND instrument = ?1 AND +deleted = 0 ORDER BY " ML_ORDER " LIMIT 1"
    " ON CONFLICT(participant_id, instrument) DO UPDATE SET row = excluded.row,"
    " taken_at = excluded.taken_at, baseline = excluded.baseline",
    "DELETE FROM measure_latest WHERE participant_id = ?2 AND instrument = ?1", NULL};

/* What the contact triggers of migrations 13 and 15 do, for one group and the
 * change of its counts: the counts move by ?4 (n) and ?5..?10 (per type), a
 * group not there yet starting from 0; then a group whose count fell to 0 or
 * below goes (the triggers remove it at 0; below 0 only a group that was
 * missing, which they would have left missing).  Both by the primary key. */
#define CX_DELTA(T, K)                                                                             \
    "INSERT INTO " T "(team, " K ", participant_id, n, c_drop_in, c_one_to_one, c_phone,"          \
    " c_video, c_group, c_dna) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT "      \
    "(team, " K ", participant_id) DO UPDATE SET n = n + excluded.n, c_drop_in = c_drop_in +"      \
    " excluded.c_drop_in, c_one_to_one = c_one_to_one + excluded.c_one_to_one, c_phone = c_phone"  \
    " + excluded.c_phone, c_video = c_video + excluded.c_video, c_group = c_group +"               \
    " excluded.c_group, c_dna = c_dna + excluded.c_dna",                                           \
        "DELETE FROM " T " WHERE team = ?1 AND " K " = ?2 AND participant_id = ?3 AND n <= 0"
const char *const cb_migrations_contacts_delta[] = {CX_DELTA("contact_months", "month"),
                                                    CX_DELTA("contact_years", "year"), NULL};
#undef CX_DELTA
#undef PB_INSTR
#undef PB_WHERE
#undef PB_ORDER
#undef PB_SET
#undef PB_REFRESH
#undef RV_NUM
#undef RV_SET
#undef PB2_SET
#undef PB2_PICK
#undef PB2_REFRESH
#undef CM_KEY
#undef CM_ADD
#undef CM_SUB
#undef ML_ORDER
#undef ML_REFRESH
#undef PB_IS
#undef PB_CLEAR
#undef PB3_WHERE
#undef PB3_PICK
#undef PB3_SET
#undef PB3_REFRESH
#undef ML2_REFRESH
#undef MIGRATION_17

const size_t cb_migrations_count = sizeof(cb_migrations) / sizeof(cb_migrations[0]);
