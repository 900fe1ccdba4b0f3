/*
 * caseload.c - working lists (caseload, follow-ups, reviews due, drop-in
 * queue) and the "call" transition of a check-in; see caseload.h.
 *
 * Query plans (EXPLAIN QUERY PLAN on the migration-2 schema, no ANALYZE):
 *   latest contact (every list): SEARCH encounters USING encounters_participant
 *                (participant_id=?), then the row by primary key
 *   caseload     SEARCH p USING participants_coach (assigned_coach=? AND status=?);
 *                "+p.team" keeps SQLite off participants_team (a team >> a caseload)
 *   follow-ups   SEARCH p USING participants_team (team=?)
 *   reviews due  SEARCH p USING participants_team (team=?), SEARCH measures USING
 *                measures_participant (participant_id=?), and the "anything later"
 *                probe on measures_participant (participant_id=? AND instrument=? AND
 *                taken_at>?)
 *   queue        SEARCH checkins USING checkins_team_time (team=? AND arrived_at>? AND
 *                arrived_at<?)
 *   Managers' all-team lists say "team IN (SELECT id FROM teams)" (ALL_TEAMS) so
 *   they go team by team through the same indexes instead of scanning.
 */
#include "coachbox/caseload.h"
#include "coachbox/audit.h"
#include "coachbox/buf.h"
#include "coachbox/json.h"
#include "coachbox/kind.h"
#include "coachbox/record.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SQL_MAX 8192
#define DAY_MS  86400000LL

/* The id of the person's most recent live contact (ties broken by id). */
#define LATEST_CONTACT                                                                             \
    "(SELECT e.id FROM encounters e WHERE e.participant_id = p.id AND e.deleted = 0 "              \
    "ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1)"

/* Participant summary columns, in the order of summary_names. */
#define SUMMARY_COLS                                                                               \
    "p.id, p.given_name, p.family_name, p.preferred_name, p.date_of_birth, p.nhs_number, "         \
    "p.team, p.status, p.assigned_coach"
static const char *const summary_names[] = {
    "id",         "given_name", "family_name", "preferred_name", "date_of_birth",
    "nhs_number", "team",       "status",      "assigned_coach"};
#define NSUMMARY ((int)(sizeof(summary_names) / sizeof(summary_names[0])))

/* Every team, written so SQLite still reads participants_team team by team. */
#define ALL_TEAMS " AND p.team IN (SELECT id FROM teams)"

/* Live, active, not merged away: the people working lists are about. */
#define ACTIVE_PERSON "p.deleted = 0 AND p.status = 'active' AND p.merged_into IS NULL"

/* ---------------------------------------------------------------- helpers */

/* Column i as a JSON string, or JSON null. */
static json_t *col_str(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        return json_null();
    }
    return json_string((const char *)sqlite3_column_text(st, i));
}

/* Column i as text, or NULL. */
static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static json_t *summary_from_row(sqlite3_stmt *st)
{
    json_t *o = json_object();
    for (int i = 0; o && i < NSUMMARY; i++) {
        json_object_set_new(o, summary_names[i], col_str(st, i));
    }
    return o;
}

/* Days since 1970-01-01 of a "YYYY-MM-DD..." string (only the date part is read). */
static int date_days(const char *s, int64_t *days)
{
    char d[CB_DATE_STRLEN];
    int y, m, dd;
    if (!s || strlen(s) < CB_DATE_STRLEN - 1) {
        return CB_EPARSE;
    }
    memcpy(d, s, CB_DATE_STRLEN - 1);
    d[CB_DATE_STRLEN - 1] = '\0';
    if (cb_date_parse(d, &y, &m, &dd) != CB_OK) {
        return CB_EPARSE;
    }
    *days = cb_days_from_civil(y, m, dd);
    return CB_OK;
}

/* "YYYY-MM-DD" of a day number. */
static void days_date(int64_t days, char out[CB_DATE_STRLEN])
{
    char t[CB_TIME_STRLEN];
    cb_time_format(days * DAY_MS, t);
    memcpy(out, t, CB_DATE_STRLEN - 1);
    out[CB_DATE_STRLEN - 1] = '\0';
}

/* "YYYY-MM-DDT00:00:00.000Z" of a day number (the stored UTC time form). */
static void days_midnight(int64_t days, char out[CB_TIME_STRLEN])
{
    cb_time_format(days * DAY_MS, out);
}

static int64_t today_days(void)
{
    char t[CB_DATE_STRLEN];
    int64_t d = 0;
    cb_today(t);
    date_days(t, &d);
    return d;
}

/*
 * Parse an optional whole number parameter: absent gives def; otherwise it
 * must be all digits (an optional leading '-') within [lo, hi].
 */
static int parse_int(const char *name, const char *s, long lo, long hi, long def, long *out,
                     struct cb_field_error *fe)
{
    if (!s) {
        *out = def;
        return CB_OK;
    }
    const char *p = s[0] == '-' ? s + 1 : s;
    int digits = p[0] != '\0';
    for (const char *q = p; *q; q++) {
        digits = digits && *q >= '0' && *q <= '9';
    }
    errno = 0;
    long v = digits ? strtol(s, NULL, 10) : 0;
    if (!digits || errno == ERANGE || v < lo || v > hi) {
        return cb_field_fail(fe, name, "must be a whole number from %ld to %ld", lo, hi);
    }
    *out = v;
    return CB_OK;
}

/* 1 if a team with this id exists. */
static int team_exists(struct cb_conn *c, const char *team, int *exists)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, "SELECT 1 FROM teams WHERE id = ?1 AND deleted = 0", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, team, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    *exists = s == SQLITE_ROW;
    cb_stmt_done(st);
    return s == SQLITE_ROW || s == SQLITE_DONE ? CB_OK : cb_store_rc(s);
}

/*
 * The team a list is about: the caller's own for coaches and leads (another
 * team is CB_EFORBIDDEN naming "team"); for managers the requested team, or
 * "" meaning every team.  Admins: CB_EFORBIDDEN.
 */
static int list_team(struct cb_conn *c, const struct cb_actor *a, const char *param, char *team,
                     size_t len, struct cb_field_error *fe)
{
    if (!cb_user_is_clinical(a->user)) {
        return CB_EFORBIDDEN;
    }
    int manager = strcmp(a->user->role, "manager") == 0;
    team[0] = '\0';
    if (param && param[0]) {
        if (!manager) {
            if (strcmp(param, a->user->team) != 0) {
                cb_field_fail(fe, "team", "can only be your own team");
                return CB_EFORBIDDEN;
            }
        } else {
            int exists = 0;
            int rc = team_exists(c, param, &exists);
            if (rc) {
                return rc;
            }
            if (!exists) {
                return cb_field_fail(fe, "team", "is not a known team");
            }
        }
        if (strlen(param) >= len) {
            return cb_field_fail(fe, "team", "is too long");
        }
        memcpy(team, param, strlen(param) + 1);
    } else if (!manager) {
        if (strlen(a->user->team) >= len) {
            return CB_EINTERNAL;
        }
        memcpy(team, a->user->team, strlen(a->user->team) + 1);
    }
    return CB_OK;
}

/* Step st to the end, calling row(ctx, st) per row; maps the final code. */
static int each_row(sqlite3_stmt *st, int (*row)(void *ctx, sqlite3_stmt *st), void *ctx)
{
    int s = SQLITE_DONE, rc = CB_OK;
    while (rc == CB_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        rc = row(ctx, st);
    }
    if (rc == CB_OK && s != SQLITE_DONE) {
        rc = cb_store_rc(s);
    }
    cb_stmt_done(st);
    return rc;
}

/* Prepare the SQL built in b (or report why it could not be built). */
static int prepare_buf(struct cb_conn *c, int build_rc, struct cb_buf *b, sqlite3_stmt **st)
{
    int rc = build_rc ? build_rc : cb_conn_prepare(c, cb_buf_str(b), st);
    cb_buf_free(b);
    return rc;
}

/* ---------------------------------------------------------------- caseload */

struct caseload_ctx {
    const struct cb_actor *a;
    json_t *items;
    char today[CB_DATE_STRLEN], due_until[CB_DATE_STRLEN];
};

/* The state of a follow-up date given the date of the contact that set it. */
static const char *follow_up_state(const char *nf, const char *contact_at, const char *today,
                                   const char *due_until)
{
    if (!nf || !contact_at || strncmp(contact_at, nf, CB_DATE_STRLEN - 1) > 0) {
        return NULL; /* none, or the person was already seen after that date */
    }
    if (strcmp(nf, today) < 0) {
        return "overdue";
    }
    return strcmp(nf, due_until) <= 0 ? "due" : "scheduled";
}

static int caseload_row(void *vctx, sqlite3_stmt *st)
{
    struct caseload_ctx *x = vctx;
    int n = (int)cb_table_participants.nfields + 3; /* id, fields, created_at, updated_at */
    json_t *p = cb_record_from_row(&cb_table_participants, st);
    if (!p) {
        return CB_ENOMEM;
    }
    if (!cb_user_sees_team(x->a->user, cb_json_str(p, "team"))) {
        json_decref(p); /* defence in depth: the SQL already filters by team */
        return CB_OK;
    }
    const char *last = col_text(st, n), *nf = col_text(st, n + 1);
    const char *state = follow_up_state(nf, last, x->today, x->due_until);
    json_object_set_new(p, "last_contact_at", col_str(st, n));
    json_object_set_new(p, "next_follow_up", col_str(st, n + 1));
    json_object_set_new(p, "follow_up_state", state ? json_string(state) : json_null());
    return json_array_append_new(x->items, p) ? CB_ENOMEM : CB_OK;
}

/* The user whose caseload is asked for: the caller unless a lead or manager names another. */
static int caseload_coach(struct cb_conn *c, const struct cb_actor *a, const char *param,
                          char out[CB_UUID_STRLEN], struct cb_field_error *fe)
{
    if (!param || !param[0] || strcmp(param, a->user->id) == 0) {
        memcpy(out, a->user->id, CB_UUID_STRLEN);
        out[CB_UUID_STRLEN - 1] = '\0';
        return CB_OK;
    }
    if (strcmp(a->user->role, "coach") == 0) {
        cb_field_fail(fe, "coach", "can only be yourself for a coach");
        return CB_EFORBIDDEN;
    }
    if (!cb_uuid_valid(param)) {
        return cb_field_fail(fe, "coach", "must be a user id");
    }
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, "SELECT 1 FROM users WHERE id = ?1", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    cb_stmt_done(st);
    if (s == SQLITE_DONE) {
        return cb_field_fail(fe, "coach", "is not a known user");
    }
    if (s != SQLITE_ROW) {
        return cb_store_rc(s);
    }
    memcpy(out, param, CB_UUID_STRLEN - 1);
    out[CB_UUID_STRLEN - 1] = '\0';
    return CB_OK;
}

int cb_caseload_list(struct cb_conn *c, const struct cb_actor *a, const struct cb_list_params *p,
                     json_t **out, struct cb_field_error *fe)
{
    char team[80], coach[CB_UUID_STRLEN];
    *out = NULL;
    int rc = list_team(c, a, p->team, team, sizeof(team), fe);
    if (rc == CB_OK) {
        rc = caseload_coach(c, a, p->coach, coach, fe);
    }
    if (rc) {
        return rc;
    }
    struct cb_buf b;
    cb_buf_init(&b, SQL_MAX);
    int brc = cb_buf_adds(&b, "SELECT p.id");
    for (size_t i = 0; brc == CB_OK && i < cb_table_participants.nfields; i++) {
        brc = cb_buf_addf(&b, ", p.%s", cb_table_participants.fields[i].name);
    }
    if (brc == CB_OK) {
        /* "+p.team": stay on participants_coach, a caseload is far smaller than a team. */
        brc = cb_buf_addf(&b,
                          ", p.created_at, p.updated_at, le.occurred_at, le.next_follow_up "
                          "FROM participants p LEFT JOIN encounters le ON le.id = " LATEST_CONTACT
                          " WHERE p.assigned_coach = ?1 AND " ACTIVE_PERSON "%s "
                          "ORDER BY lower(p.family_name), lower(p.given_name), p.id LIMIT %d",
                          team[0] ? " AND +p.team = ?2" : "", CB_LIST_MAX);
    }
    sqlite3_stmt *st = NULL;
    rc = prepare_buf(c, brc, &b, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, coach, -1, SQLITE_TRANSIENT);
    if (team[0]) {
        sqlite3_bind_text(st, 2, team, -1, SQLITE_TRANSIENT);
    }
    struct caseload_ctx x = {a, json_array(), "", ""};
    int64_t today = today_days();
    days_date(today, x.today);
    days_date(today + CB_FOLLOW_UP_DAYS_DEFAULT, x.due_until);
    rc = each_row(st, caseload_row, &x);
    if (rc) {
        json_decref(x.items);
        return rc;
    }
    *out = json_pack("{s:s, s:o}", "coach", coach, "items", x.items);
    return *out ? CB_OK : CB_ENOMEM;
}

/* ---------------------------------------------------------------- follow-ups */

struct follow_ctx {
    const struct cb_actor *a;
    json_t *overdue, *due;
    char today[CB_DATE_STRLEN];
};

static int follow_row(void *vctx, sqlite3_stmt *st)
{
    struct follow_ctx *x = vctx;
    json_t *o = summary_from_row(st);
    if (!o) {
        return CB_ENOMEM;
    }
    if (!cb_user_sees_team(x->a->user, cb_json_str(o, "team"))) {
        json_decref(o);
        return CB_OK;
    }
    const char *nf = col_text(st, NSUMMARY + 1);
    json_object_set_new(o, "last_contact_at", col_str(st, NSUMMARY));
    json_object_set_new(o, "next_follow_up", col_str(st, NSUMMARY + 1));
    json_t *list = nf && strcmp(nf, x->today) < 0 ? x->overdue : x->due;
    return json_array_append_new(list, o) ? CB_ENOMEM : CB_OK;
}

int cb_follow_ups_list(struct cb_conn *c, const struct cb_actor *a, const struct cb_list_params *p,
                       json_t **out, struct cb_field_error *fe)
{
    char team[80], until[CB_DATE_STRLEN];
    long within;
    *out = NULL;
    int rc = list_team(c, a, p->team, team, sizeof(team), fe);
    if (rc == CB_OK) {
        rc = parse_int("within_days", p->within_days, 0, CB_FOLLOW_UP_DAYS_MAX,
                       CB_FOLLOW_UP_DAYS_DEFAULT, &within, fe);
    }
    if (rc) {
        return rc;
    }
    struct cb_buf b;
    cb_buf_init(&b, SQL_MAX);
    /* The latest contact's date decides; a contact dated after it means it happened. */
    int brc = cb_buf_addf(
        &b,
        "SELECT " SUMMARY_COLS ", le.occurred_at, le.next_follow_up "
        "FROM participants p JOIN encounters le ON le.id = " LATEST_CONTACT " WHERE " ACTIVE_PERSON
        "%s AND le.next_follow_up IS NOT NULL AND le.next_follow_up <= ?1 "
        "AND substr(le.occurred_at, 1, 10) <= le.next_follow_up "
        "ORDER BY le.next_follow_up, lower(p.family_name), lower(p.given_name), p.id LIMIT %d",
        team[0] ? " AND p.team = ?2" : ALL_TEAMS, CB_LIST_MAX);
    sqlite3_stmt *st = NULL;
    rc = prepare_buf(c, brc, &b, &st);
    if (rc) {
        return rc;
    }
    struct follow_ctx x = {a, json_array(), json_array(), ""};
    int64_t today = today_days();
    days_date(today, x.today);
    days_date(today + within, until);
    sqlite3_bind_text(st, 1, until, -1, SQLITE_TRANSIENT);
    if (team[0]) {
        sqlite3_bind_text(st, 2, team, -1, SQLITE_TRANSIENT);
    }
    rc = each_row(st, follow_row, &x);
    if (rc) {
        json_decref(x.overdue);
        json_decref(x.due);
        return rc;
    }
    *out = json_pack("{s:s, s:s, s:I, s:o, s:o}", "today", x.today, "due_until", until,
                     "within_days", (json_int_t)within, "overdue", x.overdue, "due", x.due);
    return *out ? CB_OK : CB_ENOMEM;
}

/* ---------------------------------------------------------------- reviews due */

/* The default review interval: settings.review_weeks when valid, else 12. */
static long review_weeks_setting(struct cb_conn *c)
{
    char v[32];
    long w;
    if (cb_setting_get(c, "review_weeks", v, sizeof(v)) == CB_OK &&
        parse_int("review_weeks", v, 1, CB_REVIEW_WEEKS_MAX, CB_REVIEW_WEEKS_DEFAULT, &w, NULL) ==
            CB_OK) {
        return w;
    }
    return CB_REVIEW_WEEKS_DEFAULT;
}

int cb_settings_get(struct cb_conn *c, json_t **out)
{
    *out = json_pack("{s:I}", "review_weeks", (json_int_t)review_weeks_setting(c));
    return *out ? CB_OK : CB_ENOMEM;
}

int cb_settings_update(struct cb_conn *c, const struct cb_actor *a, json_t *in, json_t **out,
                       struct cb_field_error *fe)
{
    char text[32], detail[64];
    long weeks = 0;
    *out = NULL;
    if (a && strcmp(a->user->role, "manager") != 0 && strcmp(a->user->role, "admin") != 0) {
        return CB_EFORBIDDEN;
    }
    if (!json_is_object(in) || json_object_size(in) == 0) {
        return cb_field_fail(fe, "review_weeks", "is required");
    }
    const char *key;
    json_t *v;
    json_object_foreach(in, key, v)
    {
        if (strcmp(key, "review_weeks") != 0) {
            return cb_field_fail(fe, key, "is not a setting");
        }
    }
    v = json_object_get(in, "review_weeks");
    if (json_is_integer(v)) {
        snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_string(v) && strlen(json_string_value(v)) < sizeof(text)) {
        snprintf(text, sizeof(text), "%s", json_string_value(v));
    } else {
        return cb_field_fail(fe, "review_weeks", "must be a whole number from 1 to %d",
                             CB_REVIEW_WEEKS_MAX);
    }
    int rc = parse_int("review_weeks", text, 1, CB_REVIEW_WEEKS_MAX, 0, &weeks, fe);
    if (rc) {
        return rc;
    }
    snprintf(text, sizeof(text), "%ld", weeks);
    snprintf(detail, sizeof(detail), "review_weeks=%ld", weeks);
    rc = cb_conn_begin(c);
    if (rc) {
        return rc;
    }
    rc = cb_setting_set(c, "review_weeks", text);
    if (rc == CB_OK) {
        struct cb_audit_event e = {a ? a->user->id : NULL,
                                   "settings.update",
                                   "settings",
                                   "review_weeks",
                                   a ? a->address : NULL,
                                   "ok",
                                   detail,
                                   NULL};
        rc = cb_audit(c, &e);
    }
    if (rc == CB_OK) {
        rc = cb_conn_commit(c);
    } else {
        cb_conn_rollback(c);
    }
    return rc ? rc : cb_settings_get(c, out);
}

struct review_ctx {
    const struct cb_actor *a;
    json_t *items;
    int64_t today;
};

static int review_row(void *vctx, sqlite3_stmt *st)
{
    struct review_ctx *x = vctx;
    int64_t taken = 0;
    json_t *o = summary_from_row(st);
    if (!o) {
        return CB_ENOMEM;
    }
    if (!cb_user_sees_team(x->a->user, cb_json_str(o, "team")) ||
        date_days(col_text(st, NSUMMARY + 1), &taken) != CB_OK) {
        json_decref(o);
        return CB_OK;
    }
    json_object_set_new(o, "instrument", col_str(st, NSUMMARY));
    json_object_set_new(o, "baseline_at", col_str(st, NSUMMARY + 1));
    json_object_set_new(o, "baseline_id", col_str(st, NSUMMARY + 2));
    json_object_set_new(o, "weeks_since", json_integer((json_int_t)((x->today - taken) / 7)));
    return json_array_append_new(x->items, o) ? CB_ENOMEM : CB_OK;
}

int cb_reviews_due_list(struct cb_conn *c, const struct cb_actor *a, const struct cb_list_params *p,
                        json_t **out, struct cb_field_error *fe)
{
    char team[80], before[CB_TIME_STRLEN];
    long weeks;
    *out = NULL;
    int rc = list_team(c, a, p->team, team, sizeof(team), fe);
    if (rc == CB_OK) {
        rc = parse_int("weeks", p->weeks, 1, CB_REVIEW_WEEKS_MAX, review_weeks_setting(c), &weeks,
                       fe);
    }
    if (rc) {
        return rc;
    }
    struct cb_buf b;
    cb_buf_init(&b, SQL_MAX);
    /* Due when the latest measure of the instrument is a baseline dated at
     * least `weeks` weeks ago: no review, exit or newer baseline since
     * (same-time ties: a review/exit wins, then the larger id). */
    int brc = cb_buf_addf(
        &b,
        "SELECT " SUMMARY_COLS ", b.instrument, b.taken_at, b.id "
        "FROM participants p JOIN measures b ON b.participant_id = p.id "
        "WHERE " ACTIVE_PERSON "%s AND b.deleted = 0 AND b.timepoint = 'baseline' "
        "AND b.taken_at < ?1 AND NOT EXISTS (SELECT 1 FROM measures m "
        "WHERE m.participant_id = b.participant_id AND m.instrument = b.instrument "
        "AND m.taken_at >= b.taken_at AND m.deleted = 0 AND m.id <> b.id "
        "AND (m.taken_at > b.taken_at OR m.timepoint <> 'baseline' OR m.id > b.id)) "
        "ORDER BY b.taken_at, lower(p.family_name), lower(p.given_name), p.id, b.instrument "
        "LIMIT %d",
        team[0] ? " AND p.team = ?2" : ALL_TEAMS, CB_LIST_MAX);
    sqlite3_stmt *st = NULL;
    rc = prepare_buf(c, brc, &b, &st);
    if (rc) {
        return rc;
    }
    struct review_ctx x = {a, json_array(), today_days()};
    /* Baselines dated on or before today - 7*weeks: taken before the next midnight. */
    days_midnight(x.today - 7 * weeks + 1, before);
    sqlite3_bind_text(st, 1, before, -1, SQLITE_TRANSIENT);
    if (team[0]) {
        sqlite3_bind_text(st, 2, team, -1, SQLITE_TRANSIENT);
    }
    rc = each_row(st, review_row, &x);
    if (rc) {
        json_decref(x.items);
        return rc;
    }
    *out = json_pack("{s:I, s:o}", "weeks", (json_int_t)weeks, "items", x.items);
    return *out ? CB_OK : CB_ENOMEM;
}

/* ---------------------------------------------------------------- queue */

static const char *const queue_statuses[] = {"waiting", "with_coach", "seen", "left"};
#define NSTATUS (sizeof(queue_statuses) / sizeof(queue_statuses[0]))

struct queue_ctx {
    const struct cb_actor *a;
    json_t *items;
    long counts[NSTATUS];
    int64_t now_ms;
};

/* Columns: 0 id, 1 participant_id, 2 given, 3 family, 4 preferred, 5 team, 6 venue,
 * 7 venue name, 8 arrived_at, 9 status, 10 reason, 11 coach, 12 coach name, 13 updated_at. */
static int queue_row(void *vctx, sqlite3_stmt *st)
{
    struct queue_ctx *x = vctx;
    if (!cb_user_sees_team(x->a->user, col_text(st, 5))) {
        return CB_OK;
    }
    const char *status = col_text(st, 9) ? col_text(st, 9) : "";
    json_t *wait = json_null();
    int64_t arrived;
    if (strcmp(status, "waiting") == 0 && cb_time_parse(col_text(st, 8), &arrived) == CB_OK) {
        int64_t mins = (x->now_ms - arrived) / 60000;
        wait = json_integer(mins > 0 ? (json_int_t)mins : 0);
    }
    for (size_t i = 0; i < NSTATUS; i++) {
        if (strcmp(status, queue_statuses[i]) == 0) {
            x->counts[i]++;
        }
    }
    json_t *coach =
        sqlite3_column_type(st, 11) == SQLITE_NULL
            ? json_null()
            : json_pack("{s:o, s:o}", "id", col_str(st, 11), "display_name", col_str(st, 12));
    json_t *o =
        json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
                  col_str(st, 0), "participant_id", col_str(st, 1), "given_name", col_str(st, 2),
                  "family_name", col_str(st, 3), "preferred_name", col_str(st, 4), "team",
                  col_str(st, 5), "venue", col_str(st, 6), "venue_name", col_str(st, 7),
                  "arrived_at", col_str(st, 8), "status", col_str(st, 9), "reason", col_str(st, 10),
                  "coach", coach, "updated_at", col_str(st, 13), "waiting_minutes", wait);
    if (!o) {
        return CB_ENOMEM;
    }
    return json_array_append_new(x->items, o) ? CB_ENOMEM : CB_OK;
}

int cb_queue_list(struct cb_conn *c, const struct cb_actor *a, const struct cb_list_params *p,
                  json_t **out, struct cb_field_error *fe)
{
    char team[80], date[CB_DATE_STRLEN], from[CB_TIME_STRLEN], to[CB_TIME_STRLEN];
    int64_t day = 0;
    *out = NULL;
    int rc = list_team(c, a, p->team, team, sizeof(team), fe);
    if (rc) {
        return rc;
    }
    if (p->date) {
        int y, m, d;
        if (cb_date_parse(p->date, &y, &m, &d) != CB_OK) {
            return cb_field_fail(fe, "date", "must be a real date YYYY-MM-DD");
        }
        day = cb_days_from_civil(y, m, d);
    } else {
        day = today_days();
    }
    if (p->venue && !cb_uuid_valid(p->venue)) {
        return cb_field_fail(fe, "venue", "must be a venue id");
    }
    days_date(day, date);
    days_midnight(day, from);
    days_midnight(day + 1, to);
    struct cb_buf b;
    cb_buf_init(&b, SQL_MAX);
    int brc = cb_buf_addf(
        &b,
        "SELECT c.id, c.participant_id, p.given_name, p.family_name, p.preferred_name, c.team, "
        "c.venue, v.name, c.arrived_at, c.status, c.reason, c.coach, u.display_name, "
        "c.updated_at FROM checkins c JOIN participants p ON p.id = c.participant_id "
        "LEFT JOIN venues v ON v.id = c.venue LEFT JOIN users u ON u.id = c.coach "
        "WHERE %s AND c.arrived_at >= ?1 AND c.arrived_at < ?2 AND c.deleted = 0 "
        "AND p.deleted = 0%s ORDER BY c.arrived_at, c.id LIMIT %d",
        team[0] ? "c.team = ?3" : "c.team IN (SELECT id FROM teams)",
        p->venue ? " AND c.venue = ?4" : "", 2 * CB_LIST_MAX);
    sqlite3_stmt *st = NULL;
    rc = prepare_buf(c, brc, &b, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, from, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, to, -1, SQLITE_TRANSIENT);
    if (team[0]) {
        sqlite3_bind_text(st, 3, team, -1, SQLITE_TRANSIENT);
    }
    if (p->venue) {
        sqlite3_bind_text(st, 4, p->venue, -1, SQLITE_TRANSIENT);
    }
    struct queue_ctx x = {a, json_array(), {0, 0, 0, 0}, cb_now_ms()};
    rc = each_row(st, queue_row, &x);
    if (rc) {
        json_decref(x.items);
        return rc;
    }
    json_t *counts = json_object();
    for (size_t i = 0; counts && i < NSTATUS; i++) {
        json_object_set_new(counts, queue_statuses[i], json_integer(x.counts[i]));
    }
    *out = json_pack("{s:s, s:o, s:o}", "date", date, "items", x.items, "counts", counts);
    return *out ? CB_OK : CB_ENOMEM;
}

/* ---------------------------------------------------------------- call */

/* Serialises check-and-patch of calls in this process (see caseload.h). */
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;

int cb_checkin_call(struct cb_conn *c, const struct cb_actor *a, const char *id, json_t **out,
                    struct cb_field_error *fe)
{
    json_t *cur = NULL;
    *out = NULL;
    if (!cb_user_is_clinical(a->user)) {
        return CB_EFORBIDDEN;
    }
    pthread_mutex_lock(&call_lock);
    int rc = cb_kind_visible(c, a, &cb_kind_checkins, id, &cur);
    if (rc == CB_OK) {
        const char *status = cb_json_str(cur, "status");
        const char *coach = cb_json_str(cur, "coach");
        int with_coach = status && strcmp(status, "with_coach") == 0;
        if (!status || strcmp(status, "seen") == 0 || strcmp(status, "left") == 0) {
            cb_field_fail(fe, "status", "is '%s'; only someone waiting can be called",
                          status ? status : "unknown");
            rc = CB_ECONFLICT;
        } else if (with_coach && coach && strcmp(coach, a->user->id) == 0) {
            rc = cb_kind_get(c, a, &cb_kind_checkins, id, out); /* already mine: no change */
        } else if (with_coach && coach) {
            cb_field_fail(fe, "status", "is 'with_coach': another coach has called them");
            rc = CB_ECONFLICT;
        } else {
            json_t *in = json_pack("{s:s, s:s}", "status", "with_coach", "coach", a->user->id);
            rc = in ? cb_kind_patch(c, a, &cb_kind_checkins, id, in, out, fe) : CB_ENOMEM;
            json_decref(in);
        }
    }
    pthread_mutex_unlock(&call_lock);
    json_decref(cur);
    return rc;
}
