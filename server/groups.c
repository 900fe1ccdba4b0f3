/* groups.c - schedules, registers, follow-ups and the timeline; see groups.h. */
#include "coachbox/groups.h"
#include "coachbox/audit.h"
#include "coachbox/json.h"
#include "coachbox/kind.h"
#include "coachbox/record.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOUR_MS ((int64_t)3600 * 1000)
#define DAY_MS  ((int64_t)86400 * 1000)

/* Caps on what one programme can hold, far above any real group. */
#define ROSTER_MAX   1000
#define SESSIONS_MAX 2000

/* ---------------------------------------------------------------- helpers */

/* Column i of the current row as JSON: null, integer, real or string. */
static json_t *col_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        return json_null();
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return json_real(sqlite3_column_double(st, i));
    default:
        return json_string((const char *)sqlite3_column_text(st, i));
    }
}

/* Column i as a borrowed C string, or NULL. */
static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Copy id (at most 36 characters) lower-cased into out: ids compare case-insensitively. */
static void lower_id(const char *id, char out[CB_UUID_STRLEN])
{
    size_t k = 0;
    for (; id && id[k] && k < CB_UUID_STRLEN - 1; k++) {
        out[k] = (char)tolower((unsigned char)id[k]);
    }
    out[k] = '\0';
}

static int audit_event(struct cb_conn *c, const struct cb_actor *a, const char *action,
                       const char *entity, const char *id, const char *outcome, const char *detail,
                       const char *participant)
{
    struct cb_audit_event e = {a->user->id, action,  entity, id,
                               a->address,  outcome, detail, participant};
    return cb_audit(c, &e);
}

/* Commit when rc is CB_OK, else roll back; on failure *out is released. */
static int finish(struct cb_conn *c, int rc, json_t **out)
{
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    if (rc && *out) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/*
 * The programme id, if visible to a (a clinical user), into *prog (may be
 * NULL).  CB_EFORBIDDEN for admins; CB_ENOTFOUND (denial audited by kind.c)
 * for a programme that does not exist or belongs to another team.
 */
static int programme_visible(struct cb_conn *c, const struct cb_actor *a, const char *id,
                             json_t **prog)
{
    if (!cb_user_is_clinical(a->user)) {
        return CB_EFORBIDDEN;
    }
    return cb_kind_visible(c, a, &cb_kind_programmes, id, prog);
}

/* Same for a group session (visible with its programme). */
static int session_visible(struct cb_conn *c, const struct cb_actor *a, const char *id,
                           json_t **sess)
{
    if (!cb_user_is_clinical(a->user)) {
        return CB_EFORBIDDEN;
    }
    return cb_kind_visible(c, a, &cb_kind_group_sessions, id, sess);
}

/* ---------------------------------------------------------- UK wall clock */

/* Day number (days since 1970-01-01) of the last Sunday of month m (31 days). */
static int64_t last_sunday(int y, int m)
{
    int64_t d = cb_days_from_civil(y, m, 31);
    int64_t weekday = ((d % 7) + 7 + 4) % 7; /* 0 = Sunday; 1970-01-01 was a Thursday */
    return d - weekday;
}

/*
 * Europe/London's offset from UTC at instant utc_ms: one hour during British
 * Summer Time (last Sunday of March 01:00 UTC to last Sunday of October 01:00
 * UTC, the rule in force since 1996), else zero.  utc_ms must fall in years
 * 1900..9999.
 */
static int64_t uk_offset_ms(int64_t utc_ms)
{
    char iso[CB_TIME_STRLEN];
    cb_time_format(utc_ms, iso);
    int y = (iso[0] - '0') * 1000 + (iso[1] - '0') * 100 + (iso[2] - '0') * 10 + (iso[3] - '0');
    int64_t start = last_sunday(y, 3) * DAY_MS + HOUR_MS;
    int64_t end = last_sunday(y, 10) * DAY_MS + HOUR_MS;
    return utc_ms >= start && utc_ms < end ? HOUR_MS : 0;
}

/*
 * The instant at which London's clocks show local_ms (a wall-clock time
 * expressed as if it were UTC).  A time skipped in spring maps an hour later;
 * a time repeated in autumn maps to its first occurrence.
 */
static int64_t uk_local_to_utc(int64_t local_ms)
{
    int64_t summer = local_ms - HOUR_MS;
    return uk_offset_ms(summer) == HOUR_MS ? summer : local_ms;
}

/* ---------------------------------------------------------------- schedule */

/* Read an optional integer body field within [lo, hi] into *v (left unchanged when absent). */
static int opt_int(const json_t *in, const char *key, long lo, long hi, long *v,
                   struct cb_field_error *fe)
{
    const json_t *j = json_object_get(in, key);
    if (!j || json_is_null(j)) {
        return CB_OK;
    }
    if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi) {
        return cb_field_fail(fe, key, "must be a whole number from %ld to %ld", lo, hi);
    }
    *v = (long)json_integer_value(j);
    return CB_OK;
}

/*
 * Parse the schedule body: first instant, count and interval.  count
 * defaults to the programme's weeks.
 */
static int schedule_args(const json_t *in, const json_t *prog, int64_t *first, long *count,
                         long *interval, struct cb_field_error *fe)
{
    static const char *const keys[] = {"first_session_at", "count", "interval_days", NULL};
    int rc = cb_json_only_keys(in, keys, fe);
    if (rc) {
        return rc;
    }
    const char *s = cb_json_str(in, "first_session_at");
    if (!s || cb_time_parse(s, first)) {
        return cb_field_fail(fe, "first_session_at",
                             "must be an ISO 8601 date and time with a time zone, for example "
                             "2026-11-26T10:30:00Z");
    }
    if (*first < cb_days_from_civil(1900, 1, 1) * DAY_MS ||
        *first >= cb_days_from_civil(2100, 1, 1) * DAY_MS) {
        return cb_field_fail(fe, "first_session_at", "must be between 1900 and 2099");
    }
    json_t *weeks = json_object_get(prog, "weeks");
    *count = json_is_integer(weeks) ? (long)json_integer_value(weeks) : 1;
    *interval = 7;
    rc = opt_int(in, "count", 1, CB_SCHEDULE_MAX_COUNT, count, fe);
    if (rc == CB_OK) {
        rc = opt_int(in, "interval_days", 1, CB_SCHEDULE_MAX_INTERVAL, interval, fe);
    }
    /* The last session too must fall before 2100, as every stored time (a day of
     * slack for the UK offset the schedule steps in). */
    if (rc == CB_OK && *first + (int64_t)(*count - 1) * *interval * DAY_MS + DAY_MS >=
                           cb_days_from_civil(2100, 1, 1) * DAY_MS) {
        rc = cb_field_fail(fe, "count", "the last session would fall after 2099");
    }
    return rc;
}

/* What a new session copies from its programme. */
struct schedule_base {
    char team[80];
    char venue[CB_UUID_STRLEN]; /* "" when the programme has none */
    long next;                  /* the next session number */
};

/*
 * Inside the write transaction: the programme must still be live and
 * visible to a.  Fills *b with its team, venue and 1 + its highest live
 * session number.
 */
static int schedule_base(struct cb_conn *c, const struct cb_actor *a, const char *programme_id,
                         struct schedule_base *b)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c,
                             "SELECT p.team, p.venue, (SELECT coalesce(max(g.session_number), 0) "
                             "FROM group_sessions g WHERE g.programme_id = p.id AND "
                             "g.deleted = 0) FROM programmes p WHERE p.id = ?1 AND p.deleted = 0",
                             &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, programme_id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        rc = cb_user_sees_team(a->user, col_text(st, 0)) ? CB_OK : CB_ENOTFOUND;
        snprintf(b->team, sizeof(b->team), "%s", col_text(st, 0));
        snprintf(b->venue, sizeof(b->venue), "%s", col_text(st, 1) ? col_text(st, 1) : "");
        b->next = (long)sqlite3_column_int64(st, 2) + 1;
    } else {
        rc = s == SQLITE_DONE ? CB_ENOTFOUND : cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}

/*
 * Insert session number n of programme_id at instant at_ms (audited) and
 * append the stored record to items.  The values are built from checked,
 * canonical parts (the programme's own stored team and venue), so they do not
 * go through cb_record_validate.
 */
static int schedule_one(struct cb_conn *c, const struct cb_actor *a, const char *programme_id,
                        const struct schedule_base *b, long n, int64_t at_ms, const char *now,
                        json_t *items)
{
    char id[CB_UUID_STRLEN], at[CB_TIME_STRLEN];
    json_t *row = NULL;
    cb_time_format(at_ms, at);
    json_t *vals = json_pack("{s:s, s:I, s:s, s:s}", "programme_id", programme_id, "session_number",
                             (json_int_t)n, "starts_at", at, "team", b->team);
    if (vals && b->venue[0]) {
        json_object_set_new(vals, "venue", json_string(b->venue));
    }
    int rc = vals ? cb_uuid7(id) : CB_ENOMEM;
    if (rc == CB_OK) {
        rc = cb_record_insert(c, &cb_table_group_sessions, id, vals, now, a->user->id);
    }
    json_decref(vals);
    if (rc == CB_OK) {
        rc =
            audit_event(c, a, "group_session.create", "group_sessions", id, "ok", "schedule", NULL);
    }
    if (rc == CB_OK) {
        rc = cb_record_get(c, &cb_table_group_sessions, id, &row);
    }
    if (rc == CB_OK && json_array_append_new(items, row)) {
        rc = CB_ENOMEM;
    }
    return rc;
}

int cb_groups_schedule(struct cb_conn *c, const struct cb_actor *a, const char *programme_id,
                       const json_t *in, json_t **out, struct cb_field_error *fe)
{
    json_t *prog = NULL;
    struct schedule_base b;
    char now[CB_TIME_STRLEN];
    int64_t first;
    long count, interval;
    *out = NULL;
    /* Visibility first, outside the transaction, so a denial's audit event stays. */
    int rc = programme_visible(c, a, programme_id, &prog);
    if (rc == CB_OK) {
        rc = schedule_args(in, prog, &first, &count, &interval, fe);
    }
    json_decref(prog);
    if (rc) {
        return rc;
    }
    rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    rc = schedule_base(c, a, programme_id, &b);
    if (rc == CB_OK && b.next + count - 1 > 1000) {
        rc =
            cb_field_fail(fe, "count", "would number sessions past 1000 (the next is %ld)", b.next);
    }
    json_t *items = json_array();
    if (rc == CB_OK && !items) {
        rc = CB_ENOMEM;
    }
    /* Step in London wall-clock time so the class stays at the same local hour. */
    int64_t local0 = first + uk_offset_ms(first);
    cb_time_format(cb_now_ms(), now);
    for (long i = 0; rc == CB_OK && i < count; i++) {
        rc = schedule_one(c, a, programme_id, &b, b.next + i,
                          uk_local_to_utc(local0 + i * interval * DAY_MS), now, items);
    }
    if (rc == CB_OK) {
        *out = json_pack("{s:O}", "items", items);
        rc = *out ? CB_OK : CB_ENOMEM;
    }
    json_decref(items);
    return finish(c, rc, out);
}

/* ---------------------------------------------------------------- register */

/*
 * The register of session_id (of programme_id) as a may see it: *entries is
 * the wire array.  When byid is non-NULL, *byid maps each listed participant
 * id (lower-cased) to {"i": index into entries, "team": their team}, for
 * writers.  Reads
 * the enrolments through enrolments_unique and each attendance row through
 * attendance_unique.
 */
static int load_roster(struct cb_conn *c, const struct cb_actor *a, const char *programme_id,
                       const char *session_id, json_t **entries, json_t **byid)
{
    sqlite3_stmt *st;
    *entries = NULL;
    if (byid) {
        *byid = NULL;
    }
    int rc = cb_conn_prepare(
        c,
        "SELECT p.id, p.given_name, p.family_name, p.preferred_name, p.team, e.status, a.id, "
        "a.status FROM enrolments e JOIN participants p ON p.id = e.participant_id "
        "LEFT JOIN attendance a ON a.session_id = ?2 AND a.participant_id = e.participant_id "
        "AND a.deleted = 0 "
        "WHERE e.programme_id = ?1 AND e.deleted = 0 AND p.deleted = 0 "
        "AND (e.status IN ('enrolled', 'completed') OR a.id IS NOT NULL) "
        "ORDER BY lower(p.family_name), lower(p.given_name), p.id LIMIT 1000",
        &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, programme_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, session_id, -1, SQLITE_TRANSIENT);
    json_t *list = json_array(), *map = byid ? json_object() : NULL;
    int s = SQLITE_DONE;
    if (!list || (byid && !map)) {
        rc = CB_ENOMEM;
    }
    while (rc == CB_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        if (!cb_user_sees_team(a->user, col_text(st, 4))) {
            continue;
        }
        json_t *e =
            json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "participant_id", col_json(st, 0),
                      "given_name", col_json(st, 1), "family_name", col_json(st, 2),
                      "preferred_name", col_json(st, 3), "enrolment_status", col_json(st, 5),
                      "attendance_id", col_json(st, 6), "status", col_json(st, 7));
        if (!e) {
            rc = CB_ENOMEM;
            break;
        }
        if (map) {
            char key[CB_UUID_STRLEN];
            lower_id(col_text(st, 0), key);
            json_object_set_new(map, key,
                                json_pack("{s:I, s:s}", "i", (json_int_t)json_array_size(list),
                                          "team", col_text(st, 4)));
        }
        json_array_append_new(list, e);
    }
    if (rc == CB_OK && s != SQLITE_DONE) {
        rc = cb_store_rc(s);
    }
    cb_stmt_done(st);
    if (rc) {
        json_decref(list);
        json_decref(map);
        return rc;
    }
    *entries = list;
    if (byid) {
        *byid = map;
    }
    return CB_OK;
}

/* {"session", "programme", "entries"} for a visible session (record sess, borrowed). */
static int register_body(struct cb_conn *c, const struct cb_actor *a, const json_t *sess,
                         json_t **out)
{
    json_t *prog = NULL, *entries = NULL;
    const char *pid = cb_json_str(sess, "programme_id");
    int rc = cb_record_get(c, &cb_table_programmes, pid, &prog);
    if (rc == CB_OK) {
        rc = load_roster(c, a, pid, cb_json_str(sess, "id"), &entries, NULL);
    }
    if (rc == CB_OK) {
        *out = json_pack("{s:O, s:o, s:o}", "session", sess, "programme", prog, "entries", entries);
        return *out ? CB_OK : CB_ENOMEM;
    }
    json_decref(prog);
    return rc;
}

int cb_groups_register_get(struct cb_conn *c, const struct cb_actor *a, const char *session_id,
                           json_t **out)
{
    json_t *sess = NULL;
    *out = NULL;
    int rc = session_visible(c, a, session_id, &sess);
    if (rc == CB_OK) {
        rc = register_body(c, a, sess, out);
    }
    if (rc == CB_OK) {
        rc = audit_event(c, a, "group_session.register_read", "group_sessions", session_id, "ok",
                         NULL, NULL);
    }
    if (rc && *out) {
        json_decref(*out); /* an unaudited read is not served */
        *out = NULL;
    }
    json_decref(sess);
    return rc;
}

/*
 * Check the shape of a register body: 1..CB_REGISTER_MAX_ENTRIES entries of
 * {"participant_id": UUID, "status": attendance status}, no person twice.
 * *pids receives the lower-cased participant ids (malloc'd, caller frees).
 */
static int register_args(const json_t *in, char (**pids)[CB_UUID_STRLEN], size_t *n,
                         struct cb_field_error *fe)
{
    static const char *const keys[] = {"entries", NULL};
    static const char *const entry_keys[] = {"participant_id", "status", NULL};
    char field[128];
    *pids = NULL;
    int rc = cb_json_only_keys(in, keys, fe);
    if (rc) {
        return rc;
    }
    const json_t *entries = json_object_get(in, "entries");
    if (!json_is_array(entries) || json_array_size(entries) < 1 ||
        json_array_size(entries) > CB_REGISTER_MAX_ENTRIES) {
        return cb_field_fail(fe, "entries", "must be a list of 1 to %d entries",
                             CB_REGISTER_MAX_ENTRIES);
    }
    *n = json_array_size(entries);
    char(*ids)[CB_UUID_STRLEN] = calloc(*n, sizeof(*ids));
    if (!ids) {
        return CB_ENOMEM;
    }
    for (size_t i = 0; i < *n && rc == CB_OK; i++) {
        const json_t *e = json_array_get(entries, i);
        struct cb_field_error kfe;
        if (!json_is_object(e)) {
            snprintf(field, sizeof(field), "entries[%zu]", i);
            rc = cb_field_fail(fe, field, "must be an object with participant_id and status");
            break;
        }
        if (cb_json_only_keys(e, entry_keys, &kfe)) {
            snprintf(field, sizeof(field), "entries[%zu].%s", i, kfe.field);
            rc = cb_field_fail(fe, field, "is not a known field");
            break;
        }
        const char *pid = cb_json_str(e, "participant_id");
        if (!pid || !cb_uuid_valid(pid)) {
            snprintf(field, sizeof(field), "entries[%zu].participant_id", i);
            rc = cb_field_fail(fe, field, "must be the id of a participant");
            break;
        }
        const char *status = cb_json_str(e, "status");
        int known = 0;
        for (const char *const *v = cb_attendance_statuses; status && *v; v++) {
            known |= strcmp(*v, status) == 0;
        }
        if (!known) {
            snprintf(field, sizeof(field), "entries[%zu].status", i);
            rc = cb_field_fail(fe, field, "must be one of attended, absent, apologies");
            break;
        }
        lower_id(pid, ids[i]);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(ids[j], ids[i]) == 0) {
                snprintf(field, sizeof(field), "entries[%zu].participant_id", i);
                rc = cb_field_fail(fe, field, "lists the same person as entries[%zu]", j);
                break;
            }
        }
    }
    if (rc) {
        free(ids);
        return rc;
    }
    *pids = ids;
    return CB_OK;
}

/*
 * Write one register entry: person pid (of team) gets status at session_id
 * of programme prog_id.  entry is their current register entry (its
 * attendance_id and status).  Inserts the attendance row, or updates it when
 * the status differs, audited with the person; an unchanged status writes
 * nothing.
 */
static int register_write(struct cb_conn *c, const struct cb_actor *a, const char *session_id,
                          const char *prog_id, const char *pid, const char *status,
                          const json_t *entry, const char *team, const char *now)
{
    const char *att = cb_json_str(entry, "attendance_id");
    const char *cur = cb_json_str(entry, "status");
    char id[CB_UUID_STRLEN];
    int rc;
    if (att && cur && strcmp(cur, status) == 0) {
        return CB_OK;
    }
    if (att) {
        json_t *vals = json_pack("{s:s, s:s}", "status", status, "recorded_by", a->user->id);
        rc = vals ? cb_record_update(c, &cb_table_attendance, att, vals, now) : CB_ENOMEM;
        json_decref(vals);
        snprintf(id, sizeof(id), "%s", att);
    } else {
        json_t *vals = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "participant_id", pid,
                                 "session_id", session_id, "programme_id", prog_id, "status",
                                 status, "recorded_by", a->user->id, "team", team);
        /* One id per (session, person) everywhere, so two offline registers merge. */
        cb_uuid_derived("attendance", session_id, pid, id);
        rc = vals ? cb_record_restore(c, &cb_table_attendance, id, now) : CB_ENOMEM;
        if (rc == CB_OK) {
            rc = cb_record_update(c, &cb_table_attendance, id, vals, now);
        } else if (rc == CB_ENOTFOUND) {
            rc = cb_record_insert(c, &cb_table_attendance, id, vals, now, a->user->id);
        }
        json_decref(vals);
    }
    if (rc == CB_OK) {
        rc = audit_event(c, a, att ? "attendance.update" : "attendance.create", "attendance", id,
                         "ok", "register", pid);
    }
    return rc;
}

int cb_groups_register_put(struct cb_conn *c, const struct cb_actor *a, const char *session_id,
                           const json_t *in, json_t **out, struct cb_field_error *fe)
{
    json_t *sess = NULL, *entries = NULL, *byid = NULL;
    char(*pids)[CB_UUID_STRLEN] = NULL;
    size_t n = 0;
    *out = NULL;
    /* Visibility first, outside the transaction, so a denial's audit event stays. */
    int rc = session_visible(c, a, session_id, NULL);
    if (rc == CB_OK) {
        rc = register_args(in, &pids, &n, fe);
    }
    if (rc) {
        return rc;
    }
    rc = cb_conn_begin(c);
    if (rc) {
        free(pids);
        return rc;
    }
    /* Re-read inside the transaction: the session may have gone meanwhile. */
    rc = cb_record_get(c, &cb_table_group_sessions, session_id, &sess);
    const char *prog_id = rc == CB_OK ? cb_json_str(sess, "programme_id") : NULL;
    if (rc == CB_OK) {
        rc = load_roster(c, a, prog_id, session_id, &entries, &byid);
    }
    /* Every entry is checked before anything is written. */
    for (size_t i = 0; rc == CB_OK && i < n; i++) {
        if (!json_object_get(byid, pids[i])) {
            char field[64];
            snprintf(field, sizeof(field), "entries[%zu].participant_id", i);
            rc = cb_field_fail(fe, field, "is not enrolled in this programme");
        }
    }
    char now[CB_TIME_STRLEN];
    cb_time_format(cb_now_ms(), now);
    const json_t *list = json_object_get(in, "entries");
    for (size_t i = 0; rc == CB_OK && i < n; i++) {
        const json_t *slot = json_object_get(byid, pids[i]);
        const json_t *entry =
            json_array_get(entries, (size_t)json_integer_value(json_object_get(slot, "i")));
        /* The stored id, not the request's spelling of it. */
        rc = register_write(c, a, session_id, prog_id, cb_json_str(entry, "participant_id"),
                            cb_json_str(json_array_get(list, i), "status"), entry,
                            cb_json_str(slot, "team"), now);
    }
    if (rc == CB_OK) {
        rc = register_body(c, a, sess, out);
    }
    free(pids);
    json_decref(entries);
    json_decref(byid);
    json_decref(sess);
    return finish(c, rc, out);
}

/* ---------------------------------------------------------------- follow-ups */

struct reg_session {
    char id[CB_UUID_STRLEN];
    char at[CB_TIME_STRLEN];
};

enum { MARK_NONE, MARK_ATTENDED, MARK_ABSENT, MARK_APOLOGIES };

struct follow_up {
    json_t *item;
    long consecutive, missed;
    const char *family, *given, *id; /* borrowed from item */
};

/*
 * The programme's sessions whose register has been taken (at least one live
 * attendance row), newest first, into *sessions (malloc'd, caller frees).
 * *ranks maps session id -> index.
 */
static int registered_sessions(struct cb_conn *c, const char *programme_id,
                               struct reg_session **sessions, size_t *n, json_t **ranks)
{
    sqlite3_stmt *st;
    *sessions = NULL;
    *n = 0;
    *ranks = NULL;
    int rc = cb_conn_prepare(c,
                             "SELECT g.id, g.starts_at FROM group_sessions g "
                             "WHERE g.programme_id = ?1 AND g.deleted = 0 AND EXISTS "
                             "(SELECT 1 FROM attendance a WHERE a.session_id = g.id AND "
                             "a.deleted = 0) "
                             "ORDER BY g.starts_at DESC, g.session_number DESC, g.id DESC "
                             "LIMIT 2000",
                             &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, programme_id, -1, SQLITE_TRANSIENT);
    struct reg_session *list = calloc(SESSIONS_MAX, sizeof(*list));
    json_t *map = json_object();
    int s = SQLITE_DONE;
    if (!list || !map) {
        rc = CB_ENOMEM;
    }
    while (rc == CB_OK && *n < SESSIONS_MAX && (s = sqlite3_step(st)) == SQLITE_ROW) {
        snprintf(list[*n].id, sizeof(list[*n].id), "%s", col_text(st, 0));
        snprintf(list[*n].at, sizeof(list[*n].at), "%s", col_text(st, 1));
        json_object_set_new(map, list[*n].id, json_integer((json_int_t)*n));
        (*n)++;
    }
    if (rc == CB_OK && s != SQLITE_DONE && s != SQLITE_ROW) {
        rc = cb_store_rc(s);
    }
    cb_stmt_done(st);
    if (rc) {
        free(list);
        json_decref(map);
        *n = 0;
        return rc;
    }
    *sessions = list;
    *ranks = map;
    return CB_OK;
}

/*
 * Score one person from their marks at the registered sessions (newest
 * first) and, when they need following up, append a new item to *fus.
 */
static int follow_up_add(const unsigned char *marks, const struct reg_session *sessions,
                         size_t nsessions, json_t *who, struct follow_up *fus, size_t *nfus)
{
    long missed = 0, consecutive = 0;
    const char *last_missed = NULL, *last_attended = NULL;
    for (size_t k = 0; k < nsessions; k++) {
        if (marks[k] == MARK_ABSENT) {
            missed++;
            if (!last_missed) {
                last_missed = sessions[k].at;
            }
        } else if (marks[k] == MARK_ATTENDED && !last_attended) {
            last_attended = sessions[k].at;
        }
    }
    while ((size_t)consecutive < nsessions && marks[consecutive] == MARK_ABSENT) {
        consecutive++;
    }
    if (nsessions == 0 || (marks[0] != MARK_ABSENT && missed < 2)) {
        return CB_OK;
    }
    json_object_set_new(who, "missed_count", json_integer(missed));
    json_object_set_new(who, "consecutive_missed", json_integer(consecutive));
    json_object_set_new(who, "last_missed_at", json_string(last_missed));
    json_object_set_new(who, "last_attended_at",
                        last_attended ? json_string(last_attended) : json_null());
    struct follow_up *f = &fus[(*nfus)++];
    f->item = json_incref(who);
    f->consecutive = consecutive;
    f->missed = missed;
    f->family = cb_json_str(who, "family_name");
    f->given = cb_json_str(who, "given_name");
    f->id = cb_json_str(who, "participant_id");
    return CB_OK;
}

static int strcase_or_empty(const char *x, const char *y)
{
    return strcasecmp(x ? x : "", y ? y : "");
}

static int follow_up_cmp(const void *pa, const void *pb)
{
    const struct follow_up *x = pa, *y = pb;
    if (x->consecutive != y->consecutive) {
        return x->consecutive > y->consecutive ? -1 : 1;
    }
    if (x->missed != y->missed) {
        return x->missed > y->missed ? -1 : 1;
    }
    int d = strcase_or_empty(x->family, y->family);
    if (d == 0) {
        d = strcase_or_empty(x->given, y->given);
    }
    return d ? d : strcmp(x->id, y->id);
}

/*
 * Walk the enrolled people of the programme (in enrolments_unique order, by
 * participant id) with their attendance rows (through attendance_participant:
 * "+a.programme_id" keeps SQLite off any programme index, which would be
 * scanned once per person), and collect those a may see and should follow up
 * into fus (capacity ROSTER_MAX).
 */
static int follow_up_scan(struct cb_conn *c, const struct cb_actor *a, const char *programme_id,
                          const struct reg_session *sessions, size_t nsessions, const json_t *ranks,
                          struct follow_up *fus, size_t *nfus)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(
        c,
        "SELECT p.id, p.given_name, p.family_name, p.preferred_name, p.team, a.session_id, "
        "a.status FROM enrolments e JOIN participants p ON p.id = e.participant_id "
        "LEFT JOIN attendance a ON a.participant_id = e.participant_id "
        "AND +a.programme_id = e.programme_id AND a.deleted = 0 "
        "WHERE e.programme_id = ?1 AND e.deleted = 0 AND e.status = 'enrolled' "
        "AND p.deleted = 0 ORDER BY e.participant_id",
        &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, programme_id, -1, SQLITE_TRANSIENT);
    unsigned char *marks = calloc(nsessions + 1, 1);
    char cur[CB_UUID_STRLEN] = "";
    json_t *who = NULL; /* the visible person whose rows are being read, or NULL */
    size_t people = 0;
    int s = SQLITE_DONE;
    if (!marks) {
        rc = CB_ENOMEM;
    }
    while (rc == CB_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *pid = col_text(st, 0);
        if (strcmp(cur, pid) != 0) { /* the next person */
            if (who) {
                rc = follow_up_add(marks, sessions, nsessions, who, fus, nfus);
                json_decref(who);
                who = NULL;
            }
            if (rc || people++ >= ROSTER_MAX) {
                break;
            }
            snprintf(cur, sizeof(cur), "%s", pid);
            memset(marks, MARK_NONE, nsessions + 1);
            if (cb_user_sees_team(a->user, col_text(st, 4))) {
                who = json_pack("{s:o, s:o, s:o, s:o}", "participant_id", col_json(st, 0),
                                "given_name", col_json(st, 1), "family_name", col_json(st, 2),
                                "preferred_name", col_json(st, 3));
                rc = who ? CB_OK : CB_ENOMEM;
            }
        }
        const json_t *rank = col_text(st, 5) ? json_object_get(ranks, col_text(st, 5)) : NULL;
        const char *status = col_text(st, 6);
        if (rank && status) {
            marks[json_integer_value(rank)] = strcmp(status, "absent") == 0     ? MARK_ABSENT
                                              : strcmp(status, "attended") == 0 ? MARK_ATTENDED
                                                                                : MARK_APOLOGIES;
        }
    }
    if (rc == CB_OK && s != SQLITE_DONE && s != SQLITE_ROW) {
        rc = cb_store_rc(s);
    }
    cb_stmt_done(st);
    if (rc == CB_OK && who) {
        rc = follow_up_add(marks, sessions, nsessions, who, fus, nfus);
    }
    json_decref(who);
    free(marks);
    return rc;
}

int cb_groups_follow_ups(struct cb_conn *c, const struct cb_actor *a, const char *programme_id,
                         json_t **out)
{
    struct reg_session *sessions = NULL;
    struct follow_up *fus = NULL;
    json_t *ranks = NULL;
    size_t nsessions = 0, nfus = 0;
    *out = NULL;
    int rc = programme_visible(c, a, programme_id, NULL);
    if (rc == CB_OK) {
        rc = registered_sessions(c, programme_id, &sessions, &nsessions, &ranks);
    }
    if (rc == CB_OK) {
        fus = calloc(ROSTER_MAX, sizeof(*fus));
        rc = fus ? CB_OK : CB_ENOMEM;
    }
    if (rc == CB_OK) {
        rc = follow_up_scan(c, a, programme_id, sessions, nsessions, ranks, fus, &nfus);
    }
    json_t *items = rc == CB_OK ? json_array() : NULL;
    if (rc == CB_OK && !items) {
        rc = CB_ENOMEM;
    }
    if (rc == CB_OK) {
        qsort(fus, nfus, sizeof(*fus), follow_up_cmp);
        for (size_t i = 0; i < nfus; i++) {
            json_array_append(items, fus[i].item);
        }
        *out = json_pack("{s:o}", "items", items);
        rc = *out ? CB_OK : CB_ENOMEM;
    }
    if (rc == CB_OK) {
        rc = audit_event(c, a, "programme.follow_ups_read", "programmes", programme_id, "ok", NULL,
                         NULL);
    }
    if (rc && *out) {
        json_decref(*out);
        *out = NULL;
    }
    for (size_t i = 0; i < nfus; i++) {
        json_decref(fus[i].item);
    }
    free(fus);
    free(sessions);
    json_decref(ranks);
    return rc;
}

/* ---------------------------------------------------------------- timeline */

/*
 * Columns 3..8 of the timeline query per kind: their wire names (NULL:
 * unused), which hold JSON text (bit i for column 3 + i) and which booleans.
 */
static const struct timeline_kind {
    const char *kind;
    const char *fields[6];
    unsigned json_cols, bool_cols;
} timeline_kinds[] = {
    {"encounter",
     {"type", "duration_minutes", "topics", "notes_excerpt", "coach", "group_session_id"},
     1u << 2,
     0},
    {"attendance",
     {"status", "session_number", "programme_name", "programme_id", "session_id", "starts_at"},
     0,
     0},
    {"measure", {"instrument", "score", "band", "timepoint", "complete", NULL}, 0, 1u << 4},
    {"goal", {"text", "topic", "status", "target_date", NULL, NULL}, 0, 0},
    {"goal_review", {"goal_id", "status", "goal_topic", "note_excerpt", NULL, NULL}, 0, 0},
    {"referral", {"destination", "destination_detail", "status", "status_date", NULL, NULL}, 0, 0},
};

/*
 * Each branch reads one table through its participant index, newest first,
 * capped so the merge sorts at most 6 x (CB_TIMELINE_MAX + 1) rows.
 * Excerpts are the first 200 characters of free text.
 */
#define TL_LIMIT "501"
static const char timeline_sql[] =
    "SELECT * FROM (SELECT 'encounter' AS kind, occurred_at AS at, id, type, duration_minutes, "
    "topics, substr(notes, 1, 200), coach, group_session_id FROM encounters "
    "WHERE participant_id = ?1 AND deleted = 0 ORDER BY occurred_at DESC LIMIT " TL_LIMIT ") "
    "UNION ALL SELECT * FROM (SELECT 'attendance', g.starts_at, a.id, a.status, "
    "g.session_number, pr.name, a.programme_id, a.session_id, g.starts_at FROM attendance a "
    "JOIN group_sessions g ON g.id = a.session_id JOIN programmes pr ON pr.id = a.programme_id "
    "WHERE a.participant_id = ?1 AND a.deleted = 0 AND g.deleted = 0 AND pr.deleted = 0 "
    "ORDER BY g.starts_at DESC LIMIT " TL_LIMIT ") "
    "UNION ALL SELECT * FROM (SELECT 'measure', taken_at, id, instrument, score, band, "
    "timepoint, complete, NULL FROM measures WHERE participant_id = ?1 AND deleted = 0 "
    "ORDER BY taken_at DESC LIMIT " TL_LIMIT ") "
    "UNION ALL SELECT * FROM (SELECT 'goal', agreed_date, id, text, topic, status, target_date, "
    "NULL, NULL FROM goals WHERE participant_id = ?1 AND deleted = 0 "
    "ORDER BY agreed_date DESC LIMIT " TL_LIMIT ") "
    "UNION ALL SELECT * FROM (SELECT 'goal_review', r.reviewed_on, r.id, r.goal_id, r.status, "
    "gl.topic, substr(r.note, 1, 200), NULL, NULL FROM goals gl "
    "JOIN goal_reviews r ON r.goal_id = gl.id WHERE gl.participant_id = ?1 AND gl.deleted = 0 "
    "AND r.deleted = 0 ORDER BY r.reviewed_on DESC LIMIT " TL_LIMIT ") "
    "UNION ALL SELECT * FROM (SELECT 'referral', sent_date, id, destination, "
    "destination_detail, status, status_date, NULL, NULL FROM referrals "
    "WHERE participant_id = ?1 AND deleted = 0 ORDER BY sent_date DESC LIMIT " TL_LIMIT ") "
    "ORDER BY 2 DESC, 3 DESC LIMIT " TL_LIMIT;

/* The timeline item for the current row of the timeline query (new reference). */
static json_t *timeline_item(sqlite3_stmt *st)
{
    const char *kind = col_text(st, 0);
    const struct timeline_kind *k = NULL;
    for (size_t i = 0; i < sizeof(timeline_kinds) / sizeof(timeline_kinds[0]); i++) {
        if (kind && strcmp(timeline_kinds[i].kind, kind) == 0) {
            k = &timeline_kinds[i];
        }
    }
    if (!k) {
        return NULL;
    }
    json_t *item =
        json_pack("{s:s, s:o, s:o}", "kind", k->kind, "at", col_json(st, 1), "id", col_json(st, 2));
    for (int i = 0; item && i < 6; i++) {
        if (!k->fields[i]) {
            continue;
        }
        json_t *v;
        if (sqlite3_column_type(st, 3 + i) == SQLITE_NULL) {
            v = json_null();
        } else if (k->json_cols & (1u << i)) {
            v = json_loads(col_text(st, 3 + i), 0, NULL);
        } else if (k->bool_cols & (1u << i)) {
            v = json_boolean(sqlite3_column_int(st, 3 + i));
        } else {
            v = col_json(st, 3 + i);
        }
        json_object_set_new(item, k->fields[i], v ? v : json_null());
    }
    return item;
}

int cb_timeline_get(struct cb_conn *c, const struct cb_actor *a, const char *participant_id,
                    struct cb_buf *out)
{
    json_t *p = NULL;
    assert(out->len == 0);
    if (!cb_user_is_clinical(a->user)) {
        return CB_EFORBIDDEN;
    }
    if (!cb_uuid_valid(participant_id)) {
        return CB_ENOTFOUND;
    }
    int rc = cb_record_get(c, &cb_table_participants, participant_id, &p);
    if (rc == CB_OK && !cb_user_sees_team(a->user, cb_json_str(p, "team"))) {
        audit_event(c, a, "participant.timeline", "participants", participant_id, "denied", NULL,
                    participant_id);
        rc = CB_ENOTFOUND;
    }
    json_decref(p);
    if (rc) {
        return rc;
    }
    sqlite3_stmt *st;
    rc = cb_conn_prepare(c, timeline_sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, participant_id, -1, SQLITE_TRANSIENT);
    /* Each item is written out as soon as it is read and its tree freed: a tree
     * of up to 500 items per request in flight was most of the memory that
     * grew with the data under load (PERFORMANCE.md, soak).  The text is what
     * json_pack + cb_json_dump of the whole object gave (keys in this order). */
    rc = cb_buf_adds(out, "{\"participant_id\":");
    if (rc == CB_OK) {
        rc = cb_json_buf_add_string(out, participant_id);
    }
    if (rc == CB_OK) {
        rc = cb_buf_adds(out, ",\"items\":[");
    }
    int s = SQLITE_DONE, truncated = 0;
    size_t n = 0;
    while (rc == CB_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == CB_TIMELINE_MAX) {
            truncated = 1;
            break;
        }
        json_t *item = timeline_item(st);
        char *text = item ? cb_json_dump(item) : NULL;
        json_decref(item);
        rc = text ? CB_OK : CB_ENOMEM;
        if (rc == CB_OK && n > 0) {
            rc = cb_buf_add(out, ",", 1);
        }
        if (rc == CB_OK) {
            rc = cb_buf_adds(out, text);
        }
        free(text);
        n++;
    }
    if (rc == CB_OK && s != SQLITE_DONE && s != SQLITE_ROW) {
        rc = cb_store_rc(s);
    }
    cb_stmt_done(st);
    if (rc == CB_OK) {
        rc = cb_buf_adds(out, truncated ? "],\"truncated\":true}" : "],\"truncated\":false}");
    }
    if (rc == CB_OK) {
        rc = audit_event(c, a, "participant.timeline", "participants", participant_id, "ok", NULL,
                         participant_id);
    }
    if (rc) {
        cb_buf_reset(out);
    }
    return rc;
}
