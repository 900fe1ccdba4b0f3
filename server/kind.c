/* kind.c - generic record kinds with access, hooks and audit; see kind.h. */
#include "coachbox/kind.h"
#include "coachbox/audit.h"
#include "coachbox/json.h"
#include "coachbox/measures.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- hooks */

static int set_actor_field(const struct cb_kind_ctx *k, json_t *vals, const char *field)
{
    if (!k->current) {
        json_object_set_new(vals, field, json_string(k->a->user->id));
    }
    return CB_OK;
}

static int encounter_prepare(const struct cb_kind_ctx *k, json_t *vals, struct cb_field_error *fe)
{
    (void)fe;
    return set_actor_field(k, vals, "coach");
}

static int recorded_by_prepare(const struct cb_kind_ctx *k, json_t *vals, struct cb_field_error *fe)
{
    (void)fe;
    return set_actor_field(k, vals, "recorded_by");
}

/* Value of field in vals if present there, else in the current record. */
static const json_t *merged(const struct cb_kind_ctx *k, const json_t *vals, const char *field)
{
    const json_t *v = json_object_get(vals, field);
    if (!v && k->current) {
        v = json_object_get(k->current, field);
    }
    return v;
}

/* Copy the first column of sql's first row (one text parameter, id) into out; CB_ENOTFOUND
 * when there is no row or it is NULL. */
static int lookup_text(struct cb_conn *c, const char *sql, const char *id, char *out, size_t len)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = CB_OK;
    } else {
        rc = (s == SQLITE_ROW || s == SQLITE_DONE) ? CB_ENOTFOUND : cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}

/*
 * A measure's encounter_id (when set) must be a live contact of the same
 * person (and so of a team the actor sees, the person being checked already).
 * Every other case is the same CB_EINVAL "no such record" as an unknown id.
 */
static int measure_encounter_check(const struct cb_kind_ctx *k, const json_t *vals,
                                   struct cb_field_error *fe)
{
    const char *enc = cb_json_str(vals, "encounter_id");
    const json_t *pidv = merged(k, vals, "participant_id");
    if (!enc) {
        return CB_OK;
    }
    char pid[64];
    int rc =
        lookup_text(k->c, "SELECT participant_id FROM encounters WHERE id = ?1 AND deleted = 0",
                    enc, pid, sizeof(pid));
    if (rc == CB_OK && (!json_is_string(pidv) || strcasecmp(pid, json_string_value(pidv)) != 0)) {
        rc = CB_ENOTFOUND;
    }
    if (rc == CB_ENOTFOUND) {
        return cb_field_fail(fe, "encounter_id", "no such record");
    }
    return rc;
}

/*
 * The dates inside a measure's responses ("date" and "*_date" keys): within
 * 1900-2099 like every stored date, and a follow-up (followup_date) not after
 * the day the measure was taken.  Checked when the request gives responses or
 * taken_at; CB_EINVAL naming responses.KEY.
 */
static int measure_dates_check(const struct cb_kind_ctx *k, const json_t *vals,
                               struct cb_field_error *fe)
{
    if (!json_object_get(vals, "responses") && !json_object_get(vals, "taken_at")) {
        return CB_OK;
    }
    const json_t *resp = merged(k, vals, "responses");
    const json_t *taken = merged(k, vals, "taken_at");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)(uintptr_t)resp, key, v)
    {
        size_t n = strlen(key);
        int y, m, d;
        if ((strcmp(key, "date") != 0 && (n < 5 || strcmp(key + n - 5, "_date") != 0)) ||
            !json_is_string(v) || cb_date_parse(json_string_value(v), &y, &m, &d) != CB_OK) {
            continue; /* not a date, or left to the scoring rules to refuse */
        }
        char field[128];
        snprintf(field, sizeof(field), "responses.%s", key);
        if (y < 1900 || y > 2099) {
            return cb_field_fail(fe, field, "must be between 1900-01-01 and 2099-12-31");
        }
        if (strcmp(key, "followup_date") == 0 && json_is_string(taken) &&
            strncmp(json_string_value(v), json_string_value(taken), 10) > 0) {
            return cb_field_fail(fe, field, "must not be after the day the measure was taken");
        }
    }
    return CB_OK;
}

/*
 * Score the measure on the server (measures.h) and store the result beside
 * the raw responses.  BMI takes the participant's ethnic group when the
 * responses do not give one.
 */
static int measure_prepare(const struct cb_kind_ctx *k, json_t *vals, struct cb_field_error *fe)
{
    int rc = measure_encounter_check(k, vals, fe);
    if (rc == CB_OK) {
        rc = measure_dates_check(k, vals, fe);
    }
    if (rc) {
        return rc;
    }
    const json_t *inst = merged(k, vals, "instrument");
    const json_t *resp = merged(k, vals, "responses");
    const json_t *allow = merged(k, vals, "allow_incomplete");
    if (!json_is_string(inst) || !json_is_object(resp)) {
        return cb_field_fail(fe, "responses", "must be an object of item responses");
    }
    json_t *inputs = json_deep_copy(resp);
    if (!inputs) {
        return CB_ENOMEM;
    }
    if (strcmp(json_string_value(inst), "bmi") == 0 && !json_object_get(inputs, "ethnic_group") &&
        k->participant && json_is_string(json_object_get(k->participant, "ethnic_group"))) {
        json_object_set(inputs, "ethnic_group", json_object_get(k->participant, "ethnic_group"));
    }
    json_t *res = NULL;
    struct cb_field_error mfe = {"", ""};
    rc = cb_measure_score(json_string_value(inst), inputs,
                          json_is_true(allow) ? CB_MEASURE_ALLOW_INCOMPLETE : 0, &res, &mfe);
    json_decref(inputs);
    if (rc) {
        if (rc == CB_EINVAL) {
            char field[128];
            snprintf(field, sizeof(field), "responses.%s", mfe.field);
            return cb_field_fail(fe, field, "%s", mfe.message);
        }
        return rc;
    }
    json_t *score = json_object_get(res, "score");
    json_object_set(vals, "score", json_is_number(score) ? score : json_null());
    json_object_set(vals, "band",
                    json_is_string(json_object_get(res, "band")) ? json_object_get(res, "band")
                                                                 : json_null());
    json_object_set(vals, "rule_version", json_object_get(res, "rule_version"));
    json_object_set_new(vals, "complete",
                        json_boolean(json_is_true(json_object_get(res, "complete"))));
    json_object_set(vals, "flags", json_object_get(res, "flags"));
    json_object_set_new(vals, "result", res);
    return set_actor_field(k, vals, "recorded_by");
}

static int goal_review_resolve(const struct cb_kind_ctx *k, json_t *vals, struct cb_field_error *fe)
{
    char pid[64];
    const char *goal = cb_json_str(vals, "goal_id");
    if (!goal) {
        return CB_OK; /* update: participant unchanged */
    }
    int rc = lookup_text(k->c, "SELECT participant_id FROM goals WHERE id = ?1 AND deleted = 0",
                         goal, pid, sizeof(pid));
    char team[80];
    if (rc == CB_OK) {
        rc = lookup_text(k->c, "SELECT team FROM participants WHERE id = ?1 AND deleted = 0", pid,
                         team, sizeof(team));
    }
    if (rc == CB_OK && !cb_user_sees_team(k->a->user, team)) {
        rc = CB_ENOTFOUND; /* answered exactly like an unknown goal */
    }
    if (rc == CB_ENOTFOUND) {
        return cb_field_fail(fe, "goal_id", "no such record");
    }
    if (rc == CB_OK) {
        json_object_set_new(vals, "participant_id", json_string(pid));
    }
    return rc;
}

/*
 * The goal's status is that of its latest live review (reviewed_on, then
 * created_at, then id, latest first), whatever review was just written: an
 * edit of an old review or a back-dated one leaves it alone.  A goal with no
 * live review keeps its status.  Written through the record layer (captured
 * for sync) only when it changes.
 */
static int goal_status_recompute(struct cb_conn *c, const char *goal)
{
    char status[40], cur[40];
    int rc = lookup_text(c,
                         "SELECT status FROM goal_reviews WHERE goal_id = ?1 AND deleted = 0 "
                         "ORDER BY reviewed_on DESC, created_at DESC, id DESC LIMIT 1",
                         goal, status, sizeof(status));
    if (rc == CB_ENOTFOUND) {
        return CB_OK;
    }
    if (rc == CB_OK) {
        rc = lookup_text(c, "SELECT status FROM goals WHERE id = ?1 AND deleted = 0", goal, cur,
                         sizeof(cur));
    }
    if (rc == CB_ENOTFOUND) {
        return CB_OK; /* a tombstoned goal keeps what it had */
    }
    if (rc || strcmp(cur, status) == 0) {
        return rc;
    }
    char now[CB_TIME_STRLEN];
    cb_time_format(cb_now_ms(), now);
    json_t *upd = json_pack("{s:s}", "status", status);
    if (!upd) {
        return CB_ENOMEM;
    }
    rc = cb_record_update(c, &cb_table_goals, goal, upd, now);
    json_decref(upd);
    return rc;
}

/* A review created or changed: its goal takes the status of its latest live review. */
static int goal_review_after(const struct cb_kind_ctx *k, const char *id, const json_t *vals)
{
    (void)id;
    const json_t *goal = merged(k, vals, "goal_id");
    if (!json_is_string(goal)) {
        return CB_OK;
    }
    return goal_status_recompute(k->c, json_string_value(goal));
}

static int attendance_resolve(const struct cb_kind_ctx *k, json_t *vals, struct cb_field_error *fe)
{
    char prog[64];
    const char *session = cb_json_str(vals, "session_id");
    if (!session) {
        return CB_OK;
    }
    int rc =
        lookup_text(k->c, "SELECT programme_id FROM group_sessions WHERE id = ?1 AND deleted = 0",
                    session, prog, sizeof(prog));
    char team[80];
    if (rc == CB_OK) {
        rc = lookup_text(k->c, "SELECT team FROM programmes WHERE id = ?1 AND deleted = 0", prog,
                         team, sizeof(team));
    }
    if (rc == CB_OK && !cb_user_sees_team(k->a->user, team)) {
        rc = CB_ENOTFOUND; /* answered exactly like an unknown session */
    }
    if (rc == CB_ENOTFOUND) {
        return cb_field_fail(fe, "session_id", "no such record");
    }
    if (rc == CB_OK) {
        json_object_set_new(vals, "programme_id", json_string(prog));
    }
    return rc;
}

/*
 * Is there a live row other than self_id matching sql (parameters ?1, ?2 the
 * given texts, ?3 self_id)?  *found is set; 0 or a negative code.
 */
static int other_row_exists(struct cb_conn *c, const char *sql, const char *p1, const char *p2,
                            const char *self_id, int *found)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, p1 ? p1 : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, p2 ? p2 : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, self_id ? self_id : "", -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    *found = s == SQLITE_ROW;
    rc = (s == SQLITE_ROW || s == SQLITE_DONE) ? CB_OK : cb_store_rc(s);
    cb_stmt_done(st);
    return rc;
}

/* A programme's live sessions have distinct numbers: CB_ECONFLICT naming session_number. */
static int group_session_prepare(const struct cb_kind_ctx *k, json_t *vals,
                                 struct cb_field_error *fe)
{
    const json_t *num = json_object_get(vals, "session_number");
    const json_t *prog = merged(k, vals, "programme_id");
    if (!json_is_integer(num) || !json_is_string(prog)) {
        return CB_OK;
    }
    char n[32];
    snprintf(n, sizeof(n), "%lld", (long long)json_integer_value(num));
    int found = 0;
    int rc = other_row_exists(k->c,
                              "SELECT 1 FROM group_sessions WHERE programme_id = ?1 AND "
                              "session_number = CAST(?2 AS INTEGER) AND deleted = 0 AND id <> ?3 "
                              "LIMIT 1",
                              json_string_value(prog), n,
                              k->current ? cb_json_str(k->current, "id") : NULL, &found);
    if (rc == CB_OK && found) {
        cb_field_fail(fe, "session_number", "is already used by another session of this programme");
        rc = CB_ECONFLICT;
    }
    return rc;
}

/*
 * New attendance needs the person's live enrolment in the session's programme
 * with status enrolled or completed, the rule the register (groups.c,
 * load_roster) applies; else CB_EINVAL naming participant_id.  Runs after the
 * access checks, so another team's person is "no such record" as before.
 */
static int attendance_prepare(const struct cb_kind_ctx *k, json_t *vals, struct cb_field_error *fe)
{
    if (!k->current) {
        const char *pid = cb_json_str(vals, "participant_id");
        const char *prog = cb_json_str(vals, "programme_id");
        sqlite3_stmt *st;
        int rc = cb_conn_prepare(k->c,
                                 "SELECT status FROM enrolments WHERE programme_id = ?1 AND "
                                 "lower(participant_id) = lower(?2) AND deleted = 0 AND status IN "
                                 "('enrolled', 'completed') LIMIT 1",
                                 &st);
        if (rc) {
            return rc;
        }
        sqlite3_bind_text(st, 1, prog ? prog : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, pid ? pid : "", -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        cb_stmt_done(st);
        if (s == SQLITE_DONE) {
            return cb_field_fail(fe, "participant_id", "is not enrolled in this programme");
        }
        if (s != SQLITE_ROW) {
            return cb_store_rc(s);
        }
    }
    return set_actor_field(k, vals, "recorded_by");
}

/*
 * Check-ins: "seen" and "left" are final; while another coach holds someone
 * (status with_coach, their coach) a patch from anyone else that carries a
 * status or coach key at all (null included) is refused as POST .../call
 * refuses it (caseload.c).  with_coach always has a coach: a change to
 * with_coach naming none takes the actor (as a call does), and clearing the
 * coach of someone with_coach is CB_EINVAL naming coach.  Runs inside the
 * create's or cb_kind_patch's transaction on the record read there, so the
 * refusal cannot race.
 */
static int checkin_prepare(const struct cb_kind_ctx *k, json_t *vals, struct cb_field_error *fe)
{
    const char *cur = k->current ? cb_json_str(k->current, "status") : NULL;
    const char *next = cb_json_str(vals, "status");
    if (cur && next && strcmp(cur, next) != 0 &&
        (strcmp(cur, "seen") == 0 || strcmp(cur, "left") == 0)) {
        cb_field_fail(fe, "status", "is '%s' and cannot change", cur);
        return CB_ECONFLICT;
    }
    const char *holder = k->current ? cb_json_str(k->current, "coach") : NULL;
    if (cur && strcmp(cur, "with_coach") == 0 && holder && strcmp(holder, k->a->user->id) != 0 &&
        (json_object_get(vals, "status") || json_object_get(vals, "coach"))) {
        cb_field_fail(fe, "status", "is 'with_coach': another coach has called them");
        return CB_ECONFLICT;
    }
    const json_t *status = merged(k, vals, "status");
    const json_t *coach = merged(k, vals, "coach");
    const json_t *arrived = merged(k, vals, "arrived_at");
    if (json_is_string(status) && strcmp(json_string_value(status), "waiting") == 0 &&
        json_is_string(arrived) &&
        (!k->current || json_object_get(vals, "status") || json_object_get(vals, "arrived_at"))) {
        /* one live waiting check-in per person and (UTC, as the queue's) day */
        int found = 0;
        char day[CB_DATE_STRLEN];
        snprintf(day, sizeof(day), "%s", json_string_value(arrived));
        int rc = other_row_exists(k->c,
                                  "SELECT 1 FROM checkins WHERE participant_id = ?1 AND "
                                  "substr(arrived_at, 1, 10) = ?2 AND status = 'waiting' AND "
                                  "deleted = 0 AND id <> ?3 LIMIT 1",
                                  json_string_value(merged(k, vals, "participant_id")), day,
                                  k->current ? cb_json_str(k->current, "id") : NULL, &found);
        if (rc == CB_OK && found) {
            cb_field_fail(fe, "participant_id", "already has a waiting check-in on this day");
            rc = CB_ECONFLICT;
        }
        if (rc) {
            return rc;
        }
    }
    if (json_is_string(status) && strcmp(json_string_value(status), "with_coach") == 0 &&
        !json_is_string(coach)) {
        if (json_object_get(vals, "coach")) {
            return cb_field_fail(fe, "coach", "is required while the status is 'with_coach'");
        }
        json_object_set_new(vals, "coach", json_string(k->a->user->id));
    }
    return CB_OK;
}

/*
 * For every live row of t whose column col is id (and, with team, whose team
 * differs from it): set its team to team (team not NULL) or tombstone it
 * (team NULL), row by row through the record layer so each change is
 * captured for sync.  The ids are read first: the writes change what the
 * query reads.  Caller holds the write transaction.
 */
static int each_child(struct cb_conn *c, const struct cb_table *t, const char *col, const char *id,
                      const char *team, const char *now)
{
    char sql[200];
    sqlite3_stmt *st;
    snprintf(sql, sizeof(sql), "SELECT id FROM %s WHERE %s = ?1 AND deleted = 0%s", t->name, col,
             team ? " AND team <> ?2" : "");
    int rc = cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (team) {
        sqlite3_bind_text(st, 2, team, -1, SQLITE_TRANSIENT);
    }
    json_t *ids = json_array();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_array_append_new(ids, json_string((const char *)sqlite3_column_text(st, 0)));
    }
    cb_stmt_done(st);
    json_t *upd = team ? json_pack("{s:s}", "team", team) : NULL;
    if (!ids || (team && !upd)) {
        json_decref(ids);
        json_decref(upd);
        return CB_ENOMEM;
    }
    if (s != SQLITE_DONE) {
        rc = cb_store_rc(s);
    }
    size_t i;
    json_t *idv;
    json_array_foreach(ids, i, idv)
    {
        if (rc == CB_OK) {
            rc = team ? cb_record_update(c, t, json_string_value(idv), upd, now)
                      : cb_record_delete(c, t, json_string_value(idv), now);
        }
    }
    json_decref(ids);
    json_decref(upd);
    return rc;
}

/* Set team on every live row of t whose column col is id (each_child). */
static int retag_rows(struct cb_conn *c, const struct cb_table *t, const char *col, const char *id,
                      const char *team, const char *now)
{
    assert(team);
    return each_child(c, t, col, id, team, now);
}

/* A programme moved to another team takes its group sessions (scoped for sync by their own
 * team column) along, in the same transaction. */
static int programme_after(const struct cb_kind_ctx *k, const char *id, const json_t *vals)
{
    const char *team = cb_json_str(vals, "team");
    if (!k->current || !team) {
        return CB_OK;
    }
    char now[CB_TIME_STRLEN];
    cb_time_format(cb_now_ms(), now);
    return retag_rows(k->c, &cb_table_group_sessions, "programme_id", id, team, now);
}

/*
 * A referral keeps the date of each status it reached.  When the status (in
 * vals, the validated create or patch) becomes accepted, declined or attended
 * and that status's own date is neither given nor already set, it is the given
 * status_date, else today; a status change without a status_date stamps
 * status_date the same way.  Every status date, stored or given, must be on or
 * after sent_date, stored or given (CB_EINVAL naming the status date).
 */
static int referral_prepare(const struct cb_kind_ctx *k, json_t *vals, struct cb_field_error *fe)
{
    static const char *const dated[][2] = {{"accepted", "accepted_date"},
                                           {"declined", "declined_date"},
                                           {"attended", "attended_date"}};
    const char *status = cb_json_str(vals, "status");
    const char *before = k->current ? cb_json_str(k->current, "status") : NULL;
    int changed = status && (!before || strcmp(status, before) != 0);
    char today[CB_DATE_STRLEN];
    cb_today(today);
    const char *when = cb_json_str(vals, "status_date") ? cb_json_str(vals, "status_date") : today;
    if (changed && (k->current || strcmp(status, "sent") != 0) &&
        !json_object_get(vals, "status_date")) {
        json_object_set_new(vals, "status_date", json_string(when));
    }
    for (size_t i = 0; status && i < sizeof(dated) / sizeof(dated[0]); i++) {
        const char *col = dated[i][1];
        if (strcmp(status, dated[i][0]) == 0 && !json_object_get(vals, col) &&
            !(k->current && cb_json_str(k->current, col))) {
            json_object_set_new(vals, col, json_string(when));
        }
    }
    const char *sent = cb_json_str(vals, "sent_date");
    if (!sent && k->current) {
        sent = cb_json_str(k->current, "sent_date");
    }
    static const char *const after_sent[] = {"status_date", "accepted_date", "declined_date",
                                             "attended_date"};
    for (size_t i = 0; sent && i < sizeof(after_sent) / sizeof(after_sent[0]); i++) {
        /* the stored date unless the request changes it: moving sent_date after a
         * status date is refused as well */
        const json_t *dv = merged(k, vals, after_sent[i]);
        const char *d = json_is_string(dv) ? json_string_value(dv) : NULL;
        if (d && strcmp(d, sent) < 0) {
            return cb_field_fail(fe, after_sent[i], "must not be before sent_date (%s)", sent);
        }
    }
    return CB_OK;
}

/* Resolving a conflict records who and when. */
static int conflict_prepare(const struct cb_kind_ctx *k, json_t *vals, struct cb_field_error *fe)
{
    (void)fe;
    const char *status = cb_json_str(vals, "status");
    if (status && strcmp(status, "resolved") == 0) {
        char now[CB_TIME_STRLEN];
        cb_time_format(cb_now_ms(), now);
        json_object_set_new(vals, "resolved_by", json_string(k->a->user->id));
        json_object_set_new(vals, "resolved_at", json_string(now));
    } else if (status) {
        json_object_set_new(vals, "resolved_by", json_null());
        json_object_set_new(vals, "resolved_at", json_null());
    }
    return CB_OK;
}

/* ---------------------------------------------------------------- kinds */

const struct cb_kind cb_kind_encounters = {"encounters",
                                           "encounter",
                                           &cb_table_encounters,
                                           CB_SCOPE_PARTICIPANT,
                                           "occurred_at DESC, id DESC",
                                           1,
                                           NULL,
                                           encounter_prepare,
                                           NULL};
const struct cb_kind cb_kind_consents = {"consents",
                                         "consent",
                                         &cb_table_consents,
                                         CB_SCOPE_PARTICIPANT,
                                         "date DESC, id DESC",
                                         0,
                                         NULL,
                                         recorded_by_prepare,
                                         NULL};
const struct cb_kind cb_kind_measures = {"measures",
                                         "measure",
                                         &cb_table_measures,
                                         CB_SCOPE_PARTICIPANT,
                                         "taken_at DESC, id DESC",
                                         1,
                                         NULL,
                                         measure_prepare,
                                         NULL};
const struct cb_kind cb_kind_goals = {
    "goals", "goal", &cb_table_goals, CB_SCOPE_PARTICIPANT, "agreed_date DESC, id DESC", 1, NULL,
    NULL,    NULL};
const struct cb_kind cb_kind_goal_reviews = {"goal-reviews",
                                             "goal_review",
                                             &cb_table_goal_reviews,
                                             CB_SCOPE_PARTICIPANT,
                                             "reviewed_on DESC, id DESC",
                                             0,
                                             goal_review_resolve,
                                             NULL,
                                             goal_review_after};
const struct cb_kind cb_kind_referrals = {"referrals",
                                          "referral",
                                          &cb_table_referrals,
                                          CB_SCOPE_PARTICIPANT,
                                          "sent_date DESC, id DESC",
                                          1,
                                          NULL,
                                          referral_prepare,
                                          NULL};
const struct cb_kind cb_kind_enrolments = {"enrolments",
                                           "enrolment",
                                           &cb_table_enrolments,
                                           CB_SCOPE_PARTICIPANT,
                                           "enrolled_on DESC, id DESC",
                                           1,
                                           NULL,
                                           NULL,
                                           NULL};
const struct cb_kind cb_kind_attendance = {"attendance",
                                           "attendance",
                                           &cb_table_attendance,
                                           CB_SCOPE_PARTICIPANT,
                                           "created_at DESC, id DESC",
                                           1,
                                           attendance_resolve,
                                           attendance_prepare,
                                           NULL};
const struct cb_kind cb_kind_checkins = {"checkins",
                                         "checkin",
                                         &cb_table_checkins,
                                         CB_SCOPE_PARTICIPANT,
                                         "arrived_at DESC, id DESC",
                                         1,
                                         NULL,
                                         checkin_prepare,
                                         NULL};
const struct cb_kind cb_kind_programmes = {
    "programmes", "programme", &cb_table_programmes, CB_SCOPE_TEAM, "start_date DESC, id DESC", 1,
    NULL,         NULL,        programme_after};
const struct cb_kind cb_kind_group_sessions = {"group-sessions",
                                               "group_session",
                                               &cb_table_group_sessions,
                                               CB_SCOPE_PROGRAMME,
                                               "starts_at, session_number, id",
                                               1,
                                               NULL,
                                               group_session_prepare,
                                               NULL};
const struct cb_kind cb_kind_venues = {
    "venues", "venue", &cb_table_venues, CB_SCOPE_TEAM, "name, id", 0, NULL, NULL, NULL};

const struct cb_kind cb_kind_conflicts = {
    "conflicts", "conflict", &cb_table_conflicts, CB_SCOPE_TEAM, "created_at DESC, id DESC",
    0,           NULL,       conflict_prepare,    NULL};

static const struct cb_kind *const kinds[] = {
    &cb_kind_encounters,   &cb_kind_consents,   &cb_kind_measures,       &cb_kind_goals,
    &cb_kind_goal_reviews, &cb_kind_referrals,  &cb_kind_enrolments,     &cb_kind_attendance,
    &cb_kind_checkins,     &cb_kind_programmes, &cb_kind_group_sessions, &cb_kind_venues,
    &cb_kind_conflicts};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

const struct cb_kind *cb_kind_find(const char *name)
{
    for (size_t i = 0; i < NKINDS; i++) {
        if (strcmp(kinds[i]->name, name) == 0) {
            return kinds[i];
        }
    }
    return NULL;
}

size_t cb_kind_count(void)
{
    return NKINDS;
}

const struct cb_kind *cb_kind_at(size_t i)
{
    return i < NKINDS ? kinds[i] : NULL;
}

/* ---------------------------------------------------------------- access */

/* Admins manage team reference data (programmes, venues); never conflicts, which hold the
 * field values of participants' records. */
static int admin_may(const struct cb_actor *a, const struct cb_kind *k)
{
    return k->scope == CB_SCOPE_TEAM && k != &cb_kind_conflicts &&
           strcmp(a->user->role, "admin") == 0;
}

/*
 * Team deciding access for a record given its (merged) values; for the
 * participant scope also returns the participant record in *participant.
 */
static int scope_team(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                      const json_t *vals, char *team, size_t len, json_t **participant,
                      struct cb_field_error *fe)
{
    *participant = NULL;
    switch (k->scope) {
    case CB_SCOPE_PARTICIPANT: {
        const char *pid = cb_json_str(vals, "participant_id");
        if (!pid) {
            return cb_field_fail(fe, "participant_id", "is required");
        }
        int rc = cb_record_get(c, &cb_table_participants, pid, participant);
        if (rc == CB_OK && !cb_user_sees_team(a->user, cb_json_str(*participant, "team"))) {
            json_decref(*participant);
            *participant = NULL;
            rc = CB_ENOTFOUND;
        }
        if (rc == CB_ENOTFOUND) {
            return cb_field_fail(fe, "participant_id", "no such record");
        }
        if (rc) {
            return rc;
        }
        snprintf(team, len, "%s", cb_json_str(*participant, "team"));
        return CB_OK;
    }
    case CB_SCOPE_PROGRAMME: {
        const char *prog = cb_json_str(vals, "programme_id");
        if (!prog) {
            return cb_field_fail(fe, "programme_id", "is required");
        }
        int rc = lookup_text(c, "SELECT team FROM programmes WHERE id = ?1 AND deleted = 0", prog,
                             team, len);
        if (rc == CB_OK && !cb_user_sees_team(a->user, team)) {
            rc = CB_ENOTFOUND;
        }
        if (rc == CB_ENOTFOUND) {
            return cb_field_fail(fe, "programme_id", "no such record");
        }
        return rc;
    }
    case CB_SCOPE_TEAM: {
        const char *t = cb_json_str(vals, "team");
        if (!t) {
            return cb_field_fail(fe, "team", "is required");
        }
        /* Admins manage reference data (venues, programmes) for every team. */
        if (!cb_user_sees_team(a->user, t) && strcmp(a->user->role, "admin") != 0) {
            cb_field_fail(fe, "team", "you can only record for your own team");
            return CB_EFORBIDDEN;
        }
        snprintf(team, len, "%s", t);
        return CB_OK;
    }
    }
    return CB_EINTERNAL;
}

/* A record joined by a participant and a programme must see both. */
static int check_programme_too(struct cb_conn *c, const struct cb_actor *a, const json_t *vals,
                               struct cb_field_error *fe)
{
    const char *prog = cb_json_str(vals, "programme_id");
    const char *gs = cb_json_str(vals, "group_session_id");
    char team[80];
    if (gs) {
        int rc =
            lookup_text(c,
                        "SELECT p.team FROM group_sessions s JOIN programmes p ON "
                        "p.id = s.programme_id WHERE s.id = ?1 AND s.deleted = 0 AND p.deleted = 0",
                        gs, team, sizeof(team));
        if (rc == CB_OK && !cb_user_sees_team(a->user, team)) {
            rc = CB_ENOTFOUND;
        }
        if (rc == CB_ENOTFOUND) {
            return cb_field_fail(fe, "group_session_id", "no such record");
        }
        if (rc) {
            return rc;
        }
    }
    if (!prog) {
        return CB_OK;
    }
    int rc = lookup_text(c, "SELECT team FROM programmes WHERE id = ?1 AND deleted = 0", prog, team,
                         sizeof(team));
    if (rc == CB_OK && !cb_user_sees_team(a->user, team)) {
        rc = CB_ENOTFOUND;
    }
    if (rc == CB_ENOTFOUND) {
        return cb_field_fail(fe, "programme_id", "no such record");
    }
    return rc;
}

/*
 * Record a denied attempt of the actor on record id of k (verb: "read",
 * "update", "delete", "create"; id NULL for a create), about participant pid
 * (or NULL), on c: in c's transaction when one is open (a read's), else on its
 * own.  A write's denial is recorded after its transaction rolled back, so
 * that it survives it (participant.c does the same).
 */
static void audit_denied(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                         const char *id, const char *verb, const char *pid)
{
    struct cb_audit_event e = {a->user->id, k->audit, k->table->name, id,
                               a->address,  "denied", verb,           pid};
    cb_audit(c, &e);
}

/*
 * cb_kind_visible without its audit: *denied is set when the record is there
 * but not the actor's to see, and denied_pid then holds its participant id
 * ("" when it has none), for the caller to record the denial.
 */
static int kind_visible(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                        const char *id, json_t **rec, int *denied, char *denied_pid,
                        size_t denied_len)
{
    json_t *r = NULL, *participant = NULL;
    char team[80];
    struct cb_field_error fe;
    if (!cb_user_is_clinical(a->user) && !admin_may(a, k)) {
        return CB_EFORBIDDEN;
    }
    if (!cb_uuid_valid(id)) {
        return CB_ENOTFOUND;
    }
    int rc = cb_record_get(c, k->table, id, &r);
    if (rc == CB_OK) {
        rc = scope_team(c, a, k, r, team, sizeof(team), &participant, &fe);
        json_decref(participant);
        if (rc == CB_EINVAL || rc == CB_EFORBIDDEN) {
            rc = CB_ENOTFOUND;
        }
    }
    *denied = rc == CB_ENOTFOUND && r;
    denied_pid[0] = '\0';
    if (*denied && cb_json_str(r, "participant_id")) {
        snprintf(denied_pid, denied_len, "%s", cb_json_str(r, "participant_id"));
    }
    if (rc == CB_OK && rec) {
        *rec = r;
    } else {
        json_decref(r);
    }
    return rc;
}

int cb_kind_visible(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                    const char *id, json_t **rec)
{
    int denied = 0;
    char pid[64];
    int rc = kind_visible(c, a, k, id, rec, &denied, pid, sizeof(pid));
    if (denied) {
        audit_denied(c, a, k, id, "read", pid[0] ? pid : NULL);
    }
    return rc;
}

/*
 * After a create refused for its participant_id (fe names it): when that
 * person is there but in another team, the attempt is recorded as denied.
 * On c, after the create's rollback.
 */
static void audit_create_denied(struct cb_conn *c, const struct cb_actor *a,
                                const struct cb_kind *k, const json_t *in, int rc,
                                const struct cb_field_error *fe)
{
    const char *pid = cb_json_str(in, "participant_id");
    json_t *p = NULL;
    if (rc != CB_EINVAL || !fe || strcmp(fe->field, "participant_id") != 0 || !pid ||
        !cb_uuid_valid(pid) || cb_record_get(c, &cb_table_participants, pid, &p) != CB_OK) {
        return;
    }
    if (!cb_user_sees_team(a->user, cb_json_str(p, "team"))) {
        audit_denied(c, a, k, NULL, "create", pid);
    }
    json_decref(p);
}

static int audit_write(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                       const char *verb, const char *id, const char *participant)
{
    char action[64];
    snprintf(action, sizeof(action), "%s.%s", k->audit, verb);
    struct cb_audit_event e = {a->user->id, action, k->table->name, id,
                               a->address,  "ok",   NULL,           participant};
    return cb_audit(c, &e);
}

/* ---------------------------------------------------------------- writes */

/* Commit on success (then *out holds the record), roll back otherwise. */
static int finish(struct cb_conn *c, int rc, json_t **out)
{
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    if (rc && out && *out) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int cb_kind_create(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                   const json_t *in, json_t **out, struct cb_field_error *fe)
{
    char id[CB_UUID_STRLEN], now[CB_TIME_STRLEN], team[80];
    struct cb_validate_opts o = {1, a->allow_test_nhs};
    json_t *vals = NULL, *participant = NULL;
    *out = NULL;
    if (!cb_user_is_clinical(a->user) && !admin_may(a, k)) {
        return CB_EFORBIDDEN;
    }
    int rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    rc = cb_record_validate(c, k->table, in, &o, &vals, fe);
    struct cb_kind_ctx ctx = {c, a, NULL, NULL};
    if (rc == CB_OK && k->resolve) {
        rc = k->resolve(&ctx, vals, fe);
    }
    if (rc == CB_OK) {
        rc = scope_team(c, a, k, vals, team, sizeof(team), &participant, fe);
    }
    if (rc == CB_OK && k->scope == CB_SCOPE_PARTICIPANT) {
        rc = check_programme_too(c, a, vals, fe);
    }
    if (rc == CB_OK && k->scope != CB_SCOPE_TEAM) {
        json_object_set_new(vals, "team", json_string(team));
    }
    ctx.participant = participant;
    if (rc == CB_OK && k->prepare) {
        rc = k->prepare(&ctx, vals, fe);
    }
    int derived = k == &cb_kind_enrolments || k == &cb_kind_attendance;
    if (rc == CB_OK) {
        if (derived) {
            /* A natural key: one id for (programme|session, person) on every server, so
             * the same enrolment or attendance recorded at two offline sites is one record. */
            cb_uuid_derived(
                k->name,
                cb_json_str(vals, k == &cb_kind_enrolments ? "programme_id" : "session_id"),
                cb_json_str(vals, "participant_id"), id);
            json_object_del(vals, "id");
        } else if (json_object_get(vals, "id")) {
            snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(vals, "id")));
            json_object_del(vals, "id");
        } else {
            rc = cb_uuid7(id);
        }
    }
    if (rc == CB_OK) {
        cb_time_format(cb_now_ms(), now);
        /* A tombstoned record with the derived id comes back to life with these values. */
        int restored = derived && cb_record_restore(c, k->table, id, now) == CB_OK;
        rc = restored ? cb_record_update(c, k->table, id, vals, now)
                      : cb_record_insert(c, k->table, id, vals, now, a->user->id);
        if (rc == CB_ECONFLICT) {
            cb_field_fail(fe, "id", "a record with this id (or the same unique key) exists");
        }
    }
    if (rc == CB_OK && k->after) {
        rc = k->after(&ctx, id, vals);
    }
    if (rc == CB_OK) {
        rc = audit_write(c, a, k, "create", id, cb_json_str(vals, "participant_id"));
    }
    if (rc == CB_OK) {
        rc = cb_record_get(c, k->table, id, out);
    }
    json_decref(vals);
    json_decref(participant);
    rc = finish(c, rc, out);
    if (rc) {
        audit_create_denied(c, a, k, in, rc, fe);
    }
    return rc;
}

int cb_kind_get(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                const char *id, json_t **out)
{
    int rc = cb_kind_visible(c, a, k, id, out);
    /* Every read of a record about a person is audited: a person's own records,
     * and team records that name one (a conflict holds their field values). */
    if (rc == CB_OK &&
        (k->scope == CB_SCOPE_PARTICIPANT || cb_json_str(*out, "participant_id") != NULL)) {
        rc = audit_write(c, a, k, "read", id, cb_json_str(*out, "participant_id"));
        if (rc) {
            json_decref(*out);
            *out = NULL;
        }
    }
    return rc;
}

int cb_kind_patch(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                  const char *id, const json_t *in, json_t **out, struct cb_field_error *fe)
{
    char now[CB_TIME_STRLEN], team[80];
    struct cb_validate_opts o = {0, a->allow_test_nhs};
    json_t *vals = NULL, *current = NULL, *participant = NULL, *merged_rec = NULL;
    *out = NULL;
    int rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    int denied = 0;
    char denied_pid[64];
    rc = kind_visible(c, a, k, id, &current, &denied, denied_pid, sizeof(denied_pid));
    if (rc == CB_OK) {
        rc = cb_record_validate(c, k->table, in, &o, &vals, fe);
    }
    struct cb_kind_ctx ctx = {c, a, current, NULL};
    if (rc == CB_OK && k->scope == CB_SCOPE_TEAM && json_object_get(vals, "team")) {
        /* Moving a team-scoped record: the new team must be visible too. */
        merged_rec = json_deep_copy(current);
        json_object_update(merged_rec, vals);
        rc = scope_team(c, a, k, merged_rec, team, sizeof(team), &participant, fe);
    } else if (rc == CB_OK && k->scope == CB_SCOPE_PARTICIPANT) {
        rc = scope_team(c, a, k, current, team, sizeof(team), &participant, fe);
        if (rc == CB_OK) {
            rc = check_programme_too(c, a, vals, fe); /* a new group_session_id */
        }
    }
    ctx.participant = participant;
    if (rc == CB_OK && k->prepare) {
        rc = k->prepare(&ctx, vals, fe);
    }
    if (rc == CB_OK) {
        cb_time_format(cb_now_ms(), now);
        rc = cb_record_update(c, k->table, id, vals, now);
    }
    if (rc == CB_OK && k->after) {
        rc = k->after(&ctx, id, vals);
    }
    if (rc == CB_OK) {
        rc = audit_write(c, a, k, "update", id, cb_json_str(current, "participant_id"));
    }
    if (rc == CB_OK) {
        rc = cb_record_get(c, k->table, id, out);
    }
    json_decref(vals);
    json_decref(current);
    json_decref(participant);
    json_decref(merged_rec);
    rc = finish(c, rc, out);
    if (denied) {
        audit_denied(c, a, k, id, "update", denied_pid[0] ? denied_pid : NULL);
    }
    return rc;
}

/* Tombstone every live row of t whose column col is id (each_child). */
static int tombstone_children(struct cb_conn *c, const struct cb_table *t, const char *col,
                              const char *id, const char *now)
{
    return each_child(c, t, col, id, NULL, now);
}

/*
 * What goes with a deleted record, in its transaction: a programme's
 * sessions, enrolments and attendance; a session's attendance; a goal's
 * reviews.
 */
static int delete_dependants(struct cb_conn *c, const struct cb_kind *k, const char *id,
                             const char *now)
{
    int rc = CB_OK;
    if (k == &cb_kind_programmes) {
        rc = tombstone_children(c, &cb_table_attendance, "programme_id", id, now);
        if (rc == CB_OK) {
            rc = tombstone_children(c, &cb_table_group_sessions, "programme_id", id, now);
        }
        if (rc == CB_OK) {
            rc = tombstone_children(c, &cb_table_enrolments, "programme_id", id, now);
        }
    } else if (k == &cb_kind_group_sessions) {
        rc = tombstone_children(c, &cb_table_attendance, "session_id", id, now);
    } else if (k == &cb_kind_goals) {
        rc = tombstone_children(c, &cb_table_goal_reviews, "goal_id", id, now);
    }
    return rc;
}

int cb_kind_delete(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                   const char *id)
{
    if (!k->deletable) {
        return CB_EFORBIDDEN;
    }
    int rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    json_t *current = NULL;
    int denied = 0;
    char denied_pid[64];
    rc = kind_visible(c, a, k, id, &current, &denied, denied_pid, sizeof(denied_pid));
    if (rc == CB_OK) {
        char now[CB_TIME_STRLEN];
        cb_time_format(cb_now_ms(), now);
        rc = cb_record_delete(c, k->table, id, now);
        if (rc == CB_OK) {
            rc = delete_dependants(c, k, id, now);
        }
    }
    if (rc == CB_OK) {
        rc = audit_write(c, a, k, "delete", id, cb_json_str(current, "participant_id"));
    }
    json_decref(current);
    rc = finish(c, rc, NULL);
    if (denied) {
        audit_denied(c, a, k, id, "delete", denied_pid[0] ? denied_pid : NULL);
    }
    return rc;
}

int cb_kind_list(struct cb_conn *c, const struct cb_actor *a, const struct cb_kind *k,
                 const char *parent_field, const char *parent_id, json_t **out)
{
    char team[80], sql[4096];
    json_t *participant = NULL;
    struct cb_field_error fe;
    if (!cb_user_is_clinical(a->user) && !admin_may(a, k)) {
        return CB_EFORBIDDEN;
    }
    if (!cb_uuid_valid(parent_id) || !cb_table_field(k->table, parent_field)) {
        return CB_ENOTFOUND;
    }
    json_t *probe = json_pack("{s:s}", parent_field, parent_id);
    const struct cb_kind pk = {
        NULL,
        NULL,
        NULL,
        strcmp(parent_field, "participant_id") == 0 ? CB_SCOPE_PARTICIPANT : CB_SCOPE_PROGRAMME,
        NULL,
        0,
        NULL,
        NULL,
        NULL};
    int rc = scope_team(c, a, &pk, probe, team, sizeof(team), &participant, &fe);
    json_decref(probe);
    json_decref(participant);
    json_t *hidden = NULL;
    if (rc == CB_EINVAL && pk.scope == CB_SCOPE_PARTICIPANT &&
        cb_record_get(c, &cb_table_participants, parent_id, &hidden) == CB_OK) {
        /* Another team's person: a 404 like a missing one, but the attempt is
         * audited, as a denied read of the record itself is (cb_kind_visible). */
        char action[64];
        snprintf(action, sizeof(action), "%s.list", k->audit);
        struct cb_audit_event e = {a->user->id, action,   "participants", parent_id,
                                   a->address,  "denied", "read",         parent_id};
        cb_audit(c, &e);
    }
    json_decref(hidden);
    if (rc == CB_EINVAL || rc == CB_EFORBIDDEN) {
        rc = CB_ENOTFOUND;
    }
    if (rc) {
        return rc;
    }
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM %s WHERE %s = ?1 AND deleted = 0 ORDER BY %s LIMIT 1000",
             cb_record_columns(k->table), k->table->name, parent_field, k->order_by);
    sqlite3_stmt *st;
    rc = cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, parent_id, -1, SQLITE_TRANSIENT);
    json_t *items = json_array();
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *row = cb_record_from_row(k->table, st);
        /* Rows of another team under a visible programme (e.g. attendance of a
         * participant from elsewhere) are only listed if that team is visible. */
        if (row && cb_user_sees_team(a->user,
                                     cb_json_str(row, "team") ? cb_json_str(row, "team") : team)) {
            json_array_append_new(items, row);
        } else {
            json_decref(row);
        }
    }
    cb_stmt_done(st);
    if (s != SQLITE_DONE) {
        json_decref(items);
        return cb_store_rc(s);
    }
    if (k->scope == CB_SCOPE_PARTICIPANT && strcmp(parent_field, "participant_id") == 0) {
        char action[64];
        snprintf(action, sizeof(action), "%s.list", k->audit);
        struct cb_audit_event e = {a->user->id, action, "participants", parent_id,
                                   a->address,  "ok",   NULL,           parent_id};
        rc = cb_audit(c, &e);
        if (rc) {
            json_decref(items);
            return rc;
        }
    }
    *out = json_pack("{s:o}", "items", items);
    return CB_OK;
}

int cb_kind_retag_participant(struct cb_conn *c, const char *participant_id, const char *team)
{
    char now[CB_TIME_STRLEN];
    cb_time_format(cb_now_ms(), now);
    int rc = CB_OK;
    for (size_t i = 0; rc == CB_OK && i < NKINDS; i++) {
        if (kinds[i]->scope == CB_SCOPE_PARTICIPANT) {
            rc = retag_rows(c, kinds[i]->table, "participant_id", participant_id, team, now);
        }
    }
    return rc;
}
