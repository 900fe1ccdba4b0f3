/*
 * test_reports_pairs.c - the before/after pairs of the reports read from the
 * baseline columns kept by migration 10's triggers (measures.pb_*, pbt_*)
 * give exactly the figures of the from-scratch engine (each person's measure
 * history, cb_report_set_reference(1)) on randomized data, after every kind
 * of write: record insert and update (including moving a measure to another
 * person), tombstone and restore, a site's physical delete, sync apply
 * (cb_record_apply, insert and update), participant merge and its undo.
 *
 * Measure times are drawn from a small pool so that ties (same person, same
 * instant) happen; scores are sometimes missing, results sometimes lack an
 * ONS4 answer or a weight, measures are sometimes incomplete and sometimes
 * recorded under another team than the person's.  After each round the
 * outcomes report (every team, one team, with splits, a cohort and a topic
 * filter, random periods) and the people behind pair figures are compared
 * as JSON, and the stored baseline columns are checked against a direct
 * query.  Activity by venue (counted in C) is checked against the outcomes
 * report with venue= each venue.  The seed is printed on a failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coachbox/err.h"
#include "coachbox/people.h"
#include "coachbox/record.h"
#include "coachbox/reports.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"

#include "unit_store.h"

#define NPEOPLE  40
#define MAXMEAS  2000
#define MAXMERGE 64
#define MAXCONT  2000

static uint64_t rng;

static uint64_t rnd(void)
{
    uint64_t x = rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static int rn(int n)
{
    return (int)(rnd() % (uint64_t)n);
}

static const char *const teams[] = {"prestwich", "radcliffe", "bury-town"};
static const char *const instruments[] = {"swemwbs", "ons4", "gppaq", "bmi", "audit_c", "smoking"};
static const char *const timepoints[] = {"baseline", "review", "exit"};

static char people[NPEOPLE][CB_UUID_STRLEN];
static char meas[MAXMEAS][CB_UUID_STRLEN];
static int nmeas;
static char merges[MAXMERGE][CB_UUID_STRLEN];
static char conts[MAXCONT][CB_UUID_STRLEN];
static int nconts;
#define NVENUES   4
#define NSESSIONS 6
static char venues[NVENUES][CB_UUID_STRLEN];
static char sessions[NSESSIONS][CB_UUID_STRLEN];
static char programme[CB_UUID_STRLEN];
static int nmerges;
static uint64_t seed_used;
static int merged, undone;              /* merges and undos done, over all seeds */
static long lone_baselines, not_in_imd; /* data quality figures seen, over all seeds */

static struct cb_user mgr_user;
static struct cb_actor mgr = {&mgr_user, "test", 1};

static void check_rc(int rc, const char *what)
{
    if (rc != CB_OK) {
        fail_msg("seed %llu: %s: %s", (unsigned long long)seed_used, what, cb_strerror(rc));
    }
}

static void begin(void)
{
    check_rc(cb_conn_exec(cbu.conn, "BEGIN IMMEDIATE"), "begin");
}

static void commit(void)
{
    check_rc(cb_conn_exec(cbu.conn, "COMMIT"), "commit");
}

/* A taken_at from a small pool: 2025-01 .. 2026-10, a few instants a day. */
static void rand_time(char out[CB_TIME_STRLEN])
{
    static const char *const hours[] = {"00:30:00.000", "10:00:00.000", "23:30:00.000"};
    char t[64];
    snprintf(t, sizeof(t), "%04d-%02d-%02dT%sZ", 2025 + rn(2), 1 + rn(10), 1 + rn(28),
             hours[rn(3)]);
    snprintf(out, CB_TIME_STRLEN, "%.24s", t);
}

/* An answer or weight: mostly the number (integer or real), sometimes a value that is not a
 * number (a string, null, true), which must not pair. */
static json_t *rand_value(double v)
{
    switch (rn(16)) {
    case 0:
        return json_string("7");
    case 1:
        return json_null();
    case 2:
        return json_true();
    default:
        return v == (double)(long)v && rn(2) ? json_integer((json_int_t)v) : json_real(v);
    }
}

/* A measure's fields (new object): result with answers / weight, sometimes not. */
static json_t *rand_measure(const char *pid)
{
    const char *in = instruments[rn(6)];
    char at[CB_TIME_STRLEN];
    rand_time(at);
    json_t *raw = json_object();
    if (strcmp(in, "ons4") == 0) {
        for (int q = 1; q <= 4; q++) {
            char k[4];
            snprintf(k, sizeof(k), "q%d", q);
            if (rn(12)) {
                json_object_set_new(raw, k, rand_value(rn(11)));
            }
        }
    } else if (strcmp(in, "bmi") == 0 && rn(10)) {
        json_object_set_new(raw, "weight_kg", rand_value(50 + rn(600) / 10.0));
    } else if (strcmp(in, "smoking") == 0) {
        json_object_set_new(raw, "quit_date", json_string("2026-03-01"));
        json_object_set_new(raw, "followup_date", json_string("2026-04-01"));
    }
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:{}, s:s, s:b, s:s, s:{s:o}}", "participant_id",
                          pid, "instrument", in, "timepoint", timepoints[rn(3)], "taken_at", at,
                          "responses", "rule_version", "t1", "complete", rn(8) != 0, "team",
                          teams[rn(3)], "result", "raw", raw);
    double score = strcmp(in, "swemwbs") == 0   ? 7 + rn(2800) / 100.0
                   : strcmp(in, "gppaq") == 0   ? 1 + rn(4)
                   : strcmp(in, "bmi") == 0     ? 18 + rn(250) / 10.0
                   : strcmp(in, "audit_c") == 0 ? rn(13)
                                                : -1;
    if (score >= 0 && rn(10)) {
        json_object_set_new(v, "score", json_real(score));
    }
    if (strcmp(in, "smoking") == 0) {
        json_object_set_new(v, "band", json_string(rn(2) ? "quit_co_validated" : "not_quit"));
    }
    return v;
}

static void add_person(int i)
{
    check_rc(cb_uuid7(people[i]), "uuid");
    char dob[48];
    snprintf(dob, sizeof(dob), "%04d-%02d-%02d", 1940 + rn(70), 1 + rn(12), 1 + rn(28));
    /* names that tie ignoring case: the people behind a figure are in that order, then id;
     * and whose order needs SQLite's lower() (ASCII only: "\xc3\x84rne" stays above "zed") */
    static const char *const given[] = {"Pat", "pat", "Alex", "sam"};
    static const char *const family[] = {"Jones", "smith", "Smith", "O'Neil", "\xc3\x84rne", "zed"};
    static const char *const eth[] = {"white_british", "white_irish", "not_stated"};
    static const char *const pcs[] = {"BL9 7AB", "M1 1AA", "BL0 9QR"};
    json_t *v =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "given_name", given[rn(4)], "family_name",
                  family[rn(6)], "date_of_birth", dob, "team", teams[rn(3)], "sex",
                  rn(2) ? "female" : "male", "carer", rn(3) == 0, "veteran", rn(4) == 0);
    /* the other split attributes, sometimes not recorded */
    if (rn(4)) {
        json_object_set_new(v, "ethnic_group", json_string(eth[rn(3)]));
    }
    if (rn(4)) {
        json_object_set_new(v, "employment_status", json_string(cb_employment_statuses[rn(4)]));
    }
    if (rn(4)) {
        json_object_set_new(v, "referral_source", json_string(cb_referral_sources[rn(7)]));
    }
    if (rn(4)) {
        json_object_set_new(v, "main_barrier", json_string(cb_main_barriers[rn(6)]));
    }
    /* what data quality checks besides: NHS number, status */
    if (rn(3)) {
        json_object_set_new(v, "nhs_number", json_string("9434765919"));
    }
    if (rn(5) == 0) {
        json_object_set_new(v, "status", json_string("discharged"));
        json_object_set_new(v, "discharge_reason", json_string("goals_met"));
        json_object_set_new(v, "discharge_date", json_string("2025-06-01"));
    }
    if (rn(4)) {
        json_object_set_new(v, "postcode", json_string(pcs[rn(3)]));
    }
    check_rc(cb_record_insert(cbu.conn, &cb_table_participants, people[i], v,
                              "2025-01-01T00:00:00.000Z", NULL),
             "insert participant");
    json_decref(v);
}

/* Venues (one later tombstoned), a programme with sessions (some without a venue: the
 * programme's counts) and attendance. */
static void add_groups(void)
{
    static const char *const att[] = {"attended", "absent", "apologies"};
    for (int i = 0; i < NVENUES; i++) {
        check_rc(cb_uuid7(venues[i]), "uuid");
        json_t *v =
            json_pack("{s:s, s:s}", "name", i % 2 ? "Hall" : "Centre", "team", teams[i % 3]);
        check_rc(cb_record_insert(cbu.conn, &cb_table_venues, venues[i], v,
                                  "2025-01-01T00:00:00.000Z", NULL),
                 "insert venue");
        json_decref(v);
    }
    check_rc(cb_uuid7(programme), "uuid");
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "name", "Walk", "topic",
                          "physical_activity", "team", "prestwich", "venue", venues[0],
                          "start_date", "2025-01-01", "weeks", 100, "status", "running");
    check_rc(cb_record_insert(cbu.conn, &cb_table_programmes, programme, v,
                              "2025-01-01T00:00:00.000Z", NULL),
             "insert programme");
    json_decref(v);
    for (int i = 0; i < NSESSIONS; i++) {
        char at[CB_TIME_STRLEN];
        rand_time(at);
        check_rc(cb_uuid7(sessions[i]), "uuid");
        v = json_pack("{s:s, s:i, s:s, s:s}", "programme_id", programme, "session_number", i + 1,
                      "starts_at", at, "team", "prestwich");
        if (rn(2)) {
            json_object_set_new(v, "venue", json_string(venues[rn(NVENUES)]));
        }
        check_rc(cb_record_insert(cbu.conn, &cb_table_group_sessions, sessions[i], v,
                                  "2025-01-01T00:00:00.000Z", NULL),
                 "insert session");
        json_decref(v);
        for (int k = 0; k < NPEOPLE; k++) {
            if (rn(4)) {
                continue;
            }
            char id[CB_UUID_STRLEN];
            check_rc(cb_uuid7(id), "uuid");
            v = json_pack("{s:s, s:s, s:s, s:s, s:s}", "participant_id", people[k], "session_id",
                          sessions[i], "programme_id", programme, "status", att[rn(3)], "team",
                          teams[rn(3)]);
            check_rc(cb_record_insert(cbu.conn, &cb_table_attendance, id, v,
                                      "2025-01-01T00:00:00.000Z", NULL),
                     "insert attendance");
            json_decref(v);
        }
    }
}

/* The fields of the measure added last (a later one may repeat it), or NULL. */
static json_t *last_measure;

static void add_measure(int sync)
{
    if (nmeas == MAXMEAS) {
        return;
    }
    char *id = meas[nmeas++];
    check_rc(cb_uuid7(id), "uuid");
    json_t *v = rand_measure(people[rn(NPEOPLE)]);
    if (last_measure && rn(5) == 0) {
        /* the same measure entered twice (same person, instrument, time, timepoint, team,
         * score) with other answers: a tie the report must break as the reference does */
        json_t *dup = json_deep_copy(last_measure);
        for (int t = 0; t < 40; t++) {
            if (strcmp(json_string_value(json_object_get(v, "instrument")),
                       json_string_value(json_object_get(dup, "instrument"))) == 0) {
                json_object_set(dup, "result", json_object_get(v, "result"));
                break;
            }
            json_decref(v);
            v = rand_measure(people[0]);
        }
        json_object_set_new(dup, "complete", json_true());
        json_decref(v);
        v = dup;
    }
    json_decref(last_measure);
    last_measure = json_deep_copy(v);
    if (sync) {
        json_object_set_new(v, "deleted", json_integer(rn(6) == 0));
        json_object_set_new(v, "created_at", json_string("2025-01-01T00:00:00.000Z"));
        check_rc(cb_record_apply(cbu.conn, &cb_table_measures, id, v, "2026-01-01T00:00:00.000Z"),
                 "apply new measure");
    } else {
        check_rc(
            cb_record_insert(cbu.conn, &cb_table_measures, id, v, "2026-01-01T00:00:00.000Z", NULL),
            "insert measure");
    }
    json_decref(v);
}

/* Change some fields of a measure (live ones through the record layer, any through apply). */
static void edit_measure(int sync)
{
    if (!nmeas) {
        return;
    }
    const char *id = meas[rn(nmeas)];
    json_t *fresh = rand_measure(people[rn(NPEOPLE)]);
    json_t *v = json_object();
    static const char *const keys[] = {"timepoint", "taken_at",       "score",     "complete",
                                       "team",      "result",         "result",    "result",
                                       "team",      "participant_id", "instrument"};
    if (rn(3) == 0) {
        /* the result alone (a rescore): the value columns follow it */
        json_object_set(v, "result", json_object_get(fresh, "result"));
    } else {
        for (int k = 0; k < 11; k++) {
            if (rn(3) == 0) {
                json_t *x = json_object_get(fresh, keys[k]);
                json_object_set(v, keys[k], x ? x : json_null());
            }
        }
    }
    if (sync && cbu_count("SELECT count(*) FROM measures WHERE id = ?1", id) == 0) {
        /* removed by a physical delete: nothing to update */
    } else if (sync) {
        if (rn(4) == 0) {
            json_object_set_new(v, "deleted", json_integer(rn(2)));
        }
        if (json_object_size(v)) {
            check_rc(
                cb_record_apply(cbu.conn, &cb_table_measures, id, v, "2026-01-02T00:00:00.000Z"),
                "apply measure");
        }
    } else if (json_object_size(v)) {
        int rc = cb_record_update(cbu.conn, &cb_table_measures, id, v, "2026-01-02T00:00:00.000Z");
        if (rc != CB_ENOTFOUND) {
            check_rc(rc, "update measure");
        }
    }
    json_decref(v);
    json_decref(fresh);
}

static void tombstone_or_restore(void)
{
    if (!nmeas) {
        return;
    }
    const char *id = meas[rn(nmeas)];
    int rc = rn(2)
                 ? cb_record_delete(cbu.conn, &cb_table_measures, id, "2026-01-03T00:00:00.000Z")
                 : cb_record_restore(cbu.conn, &cb_table_measures, id, "2026-01-03T00:00:00.000Z");
    if (rc != CB_ENOTFOUND) {
        check_rc(rc, "tombstone/restore");
    }
}

/* A site dropping a row it no longer holds (scope exit): a physical delete. */
static void physical_delete(void)
{
    if (!nmeas) {
        return;
    }
    sqlite3_stmt *st;
    check_rc(cb_conn_prepare(cbu.conn, "DELETE FROM measures WHERE id = ?1", &st), "prepare");
    sqlite3_bind_text(st, 1, meas[rn(nmeas)], -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    cb_stmt_done(st);
    assert_int_equal(s, SQLITE_DONE);
}

/* A contact's time: mostly canonical (some on a month's first instant), sometimes not (as a
 * bad sync push could write: cb_record_apply does not re-validate). */
static void contact_time(char out[CB_TIME_STRLEN], int odd_ok)
{
    rand_time(out);
    int r = rn(10);
    if (r == 0) {
        memcpy(out + 8, "01T00:00:00.000Z", 17); /* the month's first instant */
    } else if (r == 1 && odd_ok) {
        static const char *const odd[] = {"2025-03-01 10:00:00", "2026-02-00T10:00:00.000Z",
                                          "2025-07-15T10:00:00Z", "2026-13-01T10:00:00.000Z",
                                          "2025-6-05T10:00:00.000Z"};
        snprintf(out, CB_TIME_STRLEN, "%s", odd[rn(5)]);
    }
}

static const char *const contact_types[] = {"one_to_one", "phone", "dna",
                                            "drop_in",    "video", "group"};

static void add_contact(int sync)
{
    if (nconts == MAXCONT) {
        return;
    }
    char *id = conts[nconts++], at[CB_TIME_STRLEN];
    check_rc(cb_uuid7(id), "uuid");
    contact_time(at, sync);
    json_t *v = json_pack("{s:s, s:s, s:s, s:s}", "participant_id", people[rn(NPEOPLE)], "type",
                          contact_types[rn(6)], "occurred_at", at, "team", teams[rn(3)]);
    int topic = rn(3); /* a topic, none, or an empty list (data quality's contacts_without_topic) */
    json_object_set_new(v, "topics",
                        topic == 0   ? json_pack("[s]", rn(2) ? "smoking" : "diet")
                        : topic == 1 ? json_array()
                                     : json_null());
    if (rn(5)) {
        json_object_set_new(v, "venue", json_string(venues[rn(NVENUES)]));
    }
    if (sync) {
        json_object_set_new(v, "deleted", json_integer(rn(6) == 0));
        json_object_set_new(v, "created_at", json_string("2025-01-01T00:00:00.000Z"));
        check_rc(cb_record_apply(cbu.conn, &cb_table_encounters, id, v, "2026-01-01T00:00:00.000Z"),
                 "apply new contact");
    } else {
        check_rc(cb_record_insert(cbu.conn, &cb_table_encounters, id, v, "2026-01-01T00:00:00.000Z",
                                  NULL),
                 "insert contact");
    }
    json_decref(v);
}

/* Change a contact: its type, time, team or person (record layer or apply), tombstone or
 * restore it, or drop it physically (a site's scope exit). */
static void edit_contact(int sync)
{
    if (!nconts) {
        return;
    }
    const char *id = conts[rn(nconts)];
    int what = rn(6);
    if (what == 4) {
        int rc =
            rn(2)
                ? cb_record_delete(cbu.conn, &cb_table_encounters, id, "2026-01-03T00:00:00.000Z")
                : cb_record_restore(cbu.conn, &cb_table_encounters, id, "2026-01-03T00:00:00.000Z");
        if (rc != CB_ENOTFOUND) {
            check_rc(rc, "tombstone/restore contact");
        }
        return;
    }
    if (what == 5) {
        if (rn(3) == 0) {
            sqlite3_stmt *st;
            check_rc(cb_conn_prepare(cbu.conn, "DELETE FROM encounters WHERE id = ?1", &st),
                     "prepare");
            sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
            int s = sqlite3_step(st);
            cb_stmt_done(st);
            assert_int_equal(s, SQLITE_DONE);
        }
        return;
    }
    json_t *v = json_object();
    char at[CB_TIME_STRLEN];
    contact_time(at, sync);
    if (what == 0 || rn(3) == 0) {
        json_object_set_new(v, "type", json_string(contact_types[rn(6)]));
    }
    if (what == 1 || rn(3) == 0) {
        json_object_set_new(v, "occurred_at", json_string(at));
    }
    if (what == 2 || rn(3) == 0) {
        json_object_set_new(v, "team", json_string(teams[rn(3)]));
    }
    if (what == 3 || rn(4) == 0) {
        json_object_set_new(v, "participant_id", json_string(people[rn(NPEOPLE)]));
    }
    if (sync && cbu_count("SELECT count(*) FROM encounters WHERE id = ?1", id) == 0) {
        /* removed by a physical delete */
    } else if (sync) {
        if (rn(4) == 0) {
            json_object_set_new(v, "deleted", json_integer(rn(2)));
        }
        check_rc(cb_record_apply(cbu.conn, &cb_table_encounters, id, v, "2026-01-02T00:00:00.000Z"),
                 "apply contact");
    } else {
        int rc =
            cb_record_update(cbu.conn, &cb_table_encounters, id, v, "2026-01-02T00:00:00.000Z");
        if (rc != CB_ENOTFOUND) {
            check_rc(rc, "update contact");
        }
    }
    json_decref(v);
}

/* Merge two random people (when both are live), sometimes undo an earlier merge. */
static void merge_or_undo(void)
{
    json_t *out = NULL;
    struct cb_field_error fe;
    memset(&fe, 0, sizeof(fe));
    if (nmerges && rn(2)) {
        int k = rn(nmerges);
        int rc = cb_people_merge_undo(cbu.conn, &mgr, merges[k], &out, &fe);
        if (rc != CB_ECONFLICT) {
            check_rc(rc, "merge undo");
            undone++;
        }
        json_decref(out);
        return;
    }
    int a = rn(NPEOPLE), b = rn(NPEOPLE);
    if (a == b) {
        return;
    }
    json_t *in = json_pack("{s:s}", "into", people[b]);
    int rc = cb_people_merge(cbu.conn, &mgr, people[a], in, &out, &fe);
    json_decref(in);
    if (rc == CB_ECONFLICT || rc == CB_EINVAL || rc == CB_ENOTFOUND) {
        return; /* one of them is merged already */
    }
    check_rc(rc, "merge");
    merged++;
    const char *mid = json_string_value(json_object_get(json_object_get(out, "merge"), "id"));
    assert_non_null(mid);
    if (nmerges < MAXMERGE) {
        snprintf(merges[nmerges++], CB_UUID_STRLEN, "%s", mid);
    }
    json_decref(out);
}

/* Fail with both answers (as compact JSON) when x and y differ; what names the case. */
static void expect_same(const json_t *x, const json_t *y, const char *what)
{
    if (json_equal(x, y)) {
        return;
    }
    char *a = json_dumps(x, JSON_COMPACT | JSON_SORT_KEYS);
    char *b = json_dumps(y, JSON_COMPACT | JSON_SORT_KEYS);
    print_error("seed %llu, %s\nfast %s\nref  %s\n", (unsigned long long)seed_used, what, a, b);
    free(a);
    free(b);
    fail();
}

/* One report both ways; fails with both answers when they differ. */
static void compare(const struct cb_report_query *q, int records)
{
    json_t *fast = NULL, *ref = NULL;
    struct cb_field_error fe;
    memset(&fe, 0, sizeof(fe));
    cb_report_set_reference(0);
    cb_report_set_records_probe_max(rn(2) ? 0 : 2000); /* the name walk, or probes by id */
    int rc = records ? cb_report_records(cbu.conn, NULL, q, &fast, &fe)
                     : cb_report_outcomes(cbu.conn, NULL, q, &fast, &fe);
    check_rc(rc, "report (baseline columns)");
    assert_int_equal(cb_report_last_threads(), 2); /* read on two threads */
    json_t *one = NULL;
    cb_report_set_threads(1);
    rc = records ? cb_report_records(cbu.conn, NULL, q, &one, &fe)
                 : cb_report_outcomes(cbu.conn, NULL, q, &one, &fe);
    cb_report_set_threads(2);
    check_rc(rc, "report (one thread)");
    assert_int_equal(cb_report_last_threads(), 1);
    char what[400];
    snprintf(what, sizeof(what), "from %s to %s team %s split %s figure %s", q->from, q->to,
             q->team ? q->team : "-", q->split ? q->split : "-", q->figure ? q->figure : "-");
    char two_one[512];
    snprintf(two_one, sizeof(two_one), "%s: two threads (fast) and one (ref) differ", what);
    expect_same(fast, one, two_one);
    json_decref(one);
    cb_report_set_reference(1);
    rc = records ? cb_report_records(cbu.conn, NULL, q, &ref, &fe)
                 : cb_report_outcomes(cbu.conn, NULL, q, &ref, &fe);
    cb_report_set_reference(0);
    check_rc(rc, "report (reference)");
    expect_same(fast, ref, what);
    json_decref(fast);
    json_decref(ref);
}

/*
 * Activity by venue (counted in C since this change) against what the
 * outcomes report answers with venue= each listed venue (docs/REPORTS.md
 * "Activity by venue"): people_seen, contacts.total, contacts.dna.
 */
static void compare_venues(const char *from, const char *to, const char *team)
{
    struct cb_report_query q;
    memset(&q, 0, sizeof(q));
    q.from = from;
    q.to = to;
    q.team = team;
    json_t *out = NULL;
    struct cb_field_error fe;
    memset(&fe, 0, sizeof(fe));
    check_rc(cb_report_venues(cbu.conn, NULL, &q, &out, &fe), "venues");
    json_t *items = json_object_get(out, "items");
    assert_true(json_array_size(items) > 0);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *o = NULL;
        q.venue = json_string_value(json_object_get(it, "venue"));
        check_rc(cb_report_outcomes(cbu.conn, NULL, &q, &o, &fe), "outcomes venue=");
        json_t *t = json_object_get(o, "total");
        json_t *ct = json_object_get(t, "contacts");
        long want[3] = {(long)json_integer_value(json_object_get(t, "people_seen")),
                        (long)json_integer_value(json_object_get(ct, "total")),
                        (long)json_integer_value(json_object_get(ct, "dna"))};
        long got[3] = {(long)json_integer_value(json_object_get(it, "people_seen")),
                       (long)json_integer_value(json_object_get(it, "contacts")),
                       (long)json_integer_value(json_object_get(it, "dna"))};
        if (memcmp(want, got, sizeof(want)) != 0) {
            fail_msg("seed %llu: venues %s..%s team %s venue %s: seen/contacts/dna %ld/%ld/%ld, "
                     "outcomes says %ld/%ld/%ld",
                     (unsigned long long)seed_used, from, to, team ? team : "-", q.venue, got[0],
                     got[1], got[2], want[0], want[1], want[2]);
        }
        json_decref(o);
    }
    json_decref(out);
}

/* The stored baseline columns equal a direct query over each row's person and instrument. */
static void check_columns(void)
{
    static const char *const sql =
        "SELECT count(*) FROM measures x WHERE x.instrument IN ('swemwbs','ons4','gppaq','bmi',"
        "'audit_c') AND (x.pb_row IS NOT (SELECT m.rowid FROM measures m WHERE m.instrument = "
        "x.instrument AND m.participant_id = x.participant_id AND m.deleted = 0 AND m.complete = "
        "1 AND m.timepoint = 'baseline' AND (m.score IS NOT NULL OR m.instrument = 'ons4') ORDER "
        "BY m.taken_at, m.timepoint, m.complete, m.score, m.team, m.deleted, m.rowid LIMIT 1) OR "
        "x.pbt_row IS NOT (SELECT m.rowid FROM measures m WHERE m.instrument = x.instrument AND "
        "m.participant_id = x.participant_id AND m.team = x.team AND m.deleted = 0 AND "
        "m.complete = 1 AND m.timepoint = 'baseline' AND (m.score IS NOT NULL OR m.instrument = "
        "'ons4') ORDER BY m.taken_at, m.timepoint, m.complete, m.score, m.team, m.deleted, "
        "m.rowid LIMIT 1) OR x.pb_at IS NOT (SELECT taken_at FROM measures WHERE rowid = "
        "x.pb_row) OR x.pb_score IS NOT (SELECT score FROM measures WHERE rowid = x.pb_row) OR "
        "x.pbt_at IS NOT (SELECT taken_at FROM measures WHERE rowid = x.pbt_row) OR x.pbt_score "
        "IS NOT (SELECT score FROM measures WHERE rowid = x.pbt_row))";
    long long bad = cbu_count(sql, NULL);
    if (bad) {
        fail_msg("seed %llu: %lld measures with stale baseline columns",
                 (unsigned long long)seed_used, bad);
    }
    /* migration 12: the values equal SQLite's own reading of the result (numbers only), and
     * the baseline's values are that baseline row's */
#define RV(K)                                                                                      \
    "(CASE WHEN json_type(x.result, '$.raw." K "') IN ('integer', 'real') THEN "                   \
    "json_extract(x.result, '$.raw." K "') END)"
    static const char *const vsql =
        "SELECT count(*) FROM measures x WHERE "
        "x.rv1 IS NOT (CASE x.instrument WHEN 'ons4' THEN " RV("q1") " WHEN 'bmi' THEN " RV(
            "weight"
            "_kg") " END) OR x.rv2 IS NOT (CASE WHEN x.instrument = "
                   "'ons4' THEN " RV("q2") " END) OR x.rv3 IS NOT "
                                           "(CASE WHEN x.instrument = "
                                           "'ons4' THEN " RV("q3") " E"
                                                                   "ND"
                                                                   ") "
                                                                   "OR"
                                                                   " "
                                                                   "x."
                                                                   "rv"
                                                                   "4 "
                                                                   "IS"
                                                                   " N"
                                                                   "OT"
                                                                   " "
                                                                   "(C"
                                                                   "AS"
                                                                   "E "
                                                                   "WH"
                                                                   "EN"
                                                                   " "
                                                                   "x."
                                                                   "in"
                                                                   "st"
                                                                   "ru"
                                                                   "me"
                                                                   "nt"
                                                                   " ="
                                                                   " "
                                                                   "'o"
                                                                   "ns"
                                                                   "4'"
                                                                   " "
                                                                   "TH"
                                                                   "EN"
                                                                   " " RV("q"
                                                                          "4") " END)";
#undef RV
    bad = cbu_count(vsql, NULL);
    if (bad) {
        fail_msg("seed %llu: %lld measures with stale value columns", (unsigned long long)seed_used,
                 bad);
    }
    static const char *const bsql =
        "SELECT count(*) FROM measures x LEFT JOIN measures b ON b.rowid = x.pb_row LEFT JOIN "
        "measures t ON t.rowid = x.pbt_row WHERE x.instrument IN ('swemwbs','ons4','gppaq','bmi',"
        "'audit_c') AND (x.pb_v1 IS NOT b.rv1 OR x.pb_v2 IS NOT b.rv2 OR x.pb_v3 IS NOT b.rv3 OR "
        "x.pb_v4 IS NOT b.rv4 OR x.pbt_v1 IS NOT t.rv1 OR x.pbt_v2 IS NOT t.rv2 OR x.pbt_v3 IS "
        "NOT t.rv3 OR x.pbt_v4 IS NOT t.rv4)";
    bad = cbu_count(bsql, NULL);
    if (bad) {
        fail_msg("seed %llu: %lld measures with stale baseline value columns",
                 (unsigned long long)seed_used, bad);
    }
    /* migration 13: contact_months holds exactly the live contacts of canonical time, by
     * team, month and person (a full outer comparison both ways) */
#define CANON                                                                                      \
    "length(occurred_at) = 24 AND occurred_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T"   \
    "[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z' AND substr(occurred_at, 6, 2) BETWEEN "    \
    "'01' AND '12' AND substr(occurred_at, 9, 2) >= '01'"
#define WANT                                                                                       \
    "SELECT team, substr(occurred_at, 1, 7) AS month, participant_id, count(*) AS n, "             \
    "sum(type = 'drop_in') AS a, sum(type = 'one_to_one') AS b, sum(type = 'phone') AS c, "        \
    "sum(type = 'video') AS d, sum(type = 'group') AS e, sum(type = 'dna') AS f FROM encounters "  \
    "WHERE deleted = 0 AND " CANON " GROUP BY 1, 2, 3"
#define HAVE                                                                                       \
    "SELECT team, month, participant_id, n, c_drop_in, c_one_to_one, c_phone, c_video, c_group, "  \
    "c_dna FROM contact_months"
#define WANT_Y                                                                                     \
    "SELECT team, substr(occurred_at, 1, 4) AS year, participant_id, count(*) AS n, "              \
    "sum(type = 'drop_in') AS a, sum(type = 'one_to_one') AS b, sum(type = 'phone') AS c, "        \
    "sum(type = 'video') AS d, sum(type = 'group') AS e, sum(type = 'dna') AS f FROM encounters "  \
    "WHERE deleted = 0 AND " CANON " GROUP BY 1, 2, 3"
#define HAVE_Y                                                                                     \
    "SELECT team, year, participant_id, n, c_drop_in, c_one_to_one, c_phone, c_video, c_group, "   \
    "c_dna FROM contact_years"
    bad = cbu_count("SELECT count(*) FROM (" WANT " EXCEPT " HAVE ")", NULL) +
          cbu_count("SELECT count(*) FROM (" HAVE " EXCEPT " WANT ")", NULL);
    if (bad) {
        fail_msg("seed %llu: %lld stale contact_months rows", (unsigned long long)seed_used, bad);
    }
    /* migration 15: contact_years likewise, by year */
    bad = cbu_count("SELECT count(*) FROM (" WANT_Y " EXCEPT " HAVE_Y ")", NULL) +
          cbu_count("SELECT count(*) FROM (" HAVE_Y " EXCEPT " WANT_Y ")", NULL);
#undef CANON
#undef WANT
#undef HAVE
#undef WANT_Y
#undef HAVE_Y
    if (bad) {
        fail_msg("seed %llu: %lld stale contact_years rows", (unsigned long long)seed_used, bad);
    }
    /* and the test exercises them: some pairable values are there */
    assert_true(cbu_count("SELECT count(*) FROM measures WHERE pb_v1 IS NOT NULL", NULL) > 0);
}

/*
 * Data quality as answered (measure_latest, the people pass, partial indexes)
 * against the reference (every measure in order, the SQL counts and lists).
 */
static void compare_quality(const char *team, const char *from, const char *to)
{
    struct cb_report_query q;
    memset(&q, 0, sizeof(q));
    char weeks[16];
    snprintf(weeks, sizeof(weeks), "%d", 1 + rn(80));
    q.team = team;
    q.from = from;
    q.to = to;
    q.weeks = weeks;
    json_t *fast = NULL, *ref = NULL;
    struct cb_field_error fe;
    memset(&fe, 0, sizeof(fe));
    cb_report_set_reference(0);
    check_rc(cb_report_data_quality(cbu.conn, NULL, &q, &fast, &fe), "data quality");
    cb_report_set_reference(1);
    int rc = cb_report_data_quality(cbu.conn, NULL, &q, &ref, &fe);
    cb_report_set_reference(0);
    check_rc(rc, "data quality (reference)");
    json_t *n = json_object_get(json_object_get(fast, "checks"), "baselines_without_review");
    lone_baselines += json_integer_value(json_object_get(n, "count"));
    n = json_object_get(json_object_get(fast, "checks"), "postcode_not_in_imd");
    not_in_imd += json_integer_value(json_object_get(n, "count"));
    char what[200];
    snprintf(what, sizeof(what), "data quality team %s weeks %s", team ? team : "-", weeks);
    expect_same(fast, ref, what);
    json_decref(fast);
    json_decref(ref);
}

static void compare_round(void)
{
    static const char *const splits[] = {NULL,
                                         "team",
                                         "sex",
                                         "cohort",
                                         "age_band",
                                         "age_band_return",
                                         "ethnic_group",
                                         "employment_status",
                                         "referral_source",
                                         "main_barrier",
                                         "imd_decile"};
    static const char *const figures[] = {
        "swemwbs.improved", "swemwbs.no_meaningful_change", "ons4.pairs", "weight_kg.pairs",
        "gppaq.moved_down", "audit_c.positive_at_baseline", "bmi.pairs"};
    check_columns();
    for (int i = 0; i < 14; i++) {
        char from[48], to[48];
        int y = 2025 + rn(2), m = 1 + rn(10), len = rn(3) == 0 ? 3 : 1 + rn(18);
        int ty = y + (m - 1 + len) / 12, tm = (m - 1 + len) % 12 + 1;
        snprintf(from, sizeof(from), "%04d-%02d-%02d", y, m, rn(2) ? 1 : 1 + rn(28));
        snprintf(to, sizeof(to), "%04d-%02d-%02d", ty, tm, 1 + rn(28));
        if (strcmp(to, from) < 0) {
            snprintf(to, sizeof(to), "%s", from);
        }
        if (rn(4) == 0) {
            /* from 2024 (before any contact): the whole of 2025 is read from contact_years */
            snprintf(from, sizeof(from), "2024-%02d-%02d", 1 + rn(12), 1 + rn(28));
            if (rn(2)) {
                snprintf(to, sizeof(to), "%s", rn(2) ? "2025-12-31" : "2026-12-31");
            }
        }
        struct cb_report_query q;
        memset(&q, 0, sizeof(q));
        q.from = from;
        q.to = to;
        q.team = rn(3) == 0 ? teams[rn(3)] : NULL;
        q.split = splits[rn(11)];
        q.cohort = rn(6) == 0 ? "carer" : NULL;
        q.topic = rn(6) == 0 ? "smoking" : NULL;
        compare(&q, 0);
        if (i % 3 == 0) {
            compare_venues(from, to, q.team);
            int period = rn(2);
            compare_quality(rn(3) == 0 ? teams[rn(3)] : NULL, period ? from : NULL,
                            period ? to : NULL);
        }
        q.figure = figures[rn(7)];
        q.split = NULL;
        compare(&q, 1);
    }
}

static void run_seed(uint64_t seed)
{
    seed_used = seed;
    rng = seed * 0x9E3779B97F4A7C15ULL + 1;
    nmeas = nmerges = nconts = 0;
    json_decref(last_measure);
    last_measure = NULL;
    check_rc(cb_conn_exec(cbu.conn, "DELETE FROM measures; DELETE FROM encounters; "
                                    "DELETE FROM merges; DELETE FROM attendance; DELETE FROM "
                                    "group_sessions; DELETE FROM programmes; DELETE FROM "
                                    "participants; DELETE FROM venues"),
             "clear");
    begin();
    for (int i = 0; i < NPEOPLE; i++) {
        add_person(i);
    }
    add_groups();
    for (int i = 0; i < 250; i++) {
        add_measure(0);
    }
    for (int i = 0; i < 120; i++) {
        add_contact(i % 5 == 0);
    }
    commit();
    compare_round();
    for (int round = 0; round < 5; round++) {
        for (int op = 0; op < 60; op++) {
            int kind = rn(9);
            if (kind == 7) {
                merge_or_undo(); /* its own transaction */
                continue;
            }
            begin();
            switch (kind) {
            case 0:
                add_measure(0);
                break;
            case 1:
                add_measure(1);
                break;
            case 2:
            case 3:
                edit_measure(0);
                break;
            case 4:
                edit_measure(1);
                break;
            case 5:
                tombstone_or_restore();
                break;
            case 6:
                physical_delete();
                break;
            default:
                if (rn(40) == 0) {
                    /* a venue closed: no longer listed, its contacts no longer counted */
                    int rc = cb_record_delete(cbu.conn, &cb_table_venues, venues[rn(NVENUES)],
                                              "2026-01-04T00:00:00.000Z");
                    if (rc != CB_ENOTFOUND) {
                        check_rc(rc, "tombstone venue");
                    }
                }
                if (rn(2)) {
                    add_contact(rn(4) == 0);
                } else {
                    edit_contact(rn(3) == 0);
                }
                break;
            }
            commit();
        }
        compare_round();
    }
}

static void test_pairs_match_reference(void **state)
{
    (void)state;
    snprintf(mgr_user.id, sizeof(mgr_user.id), "00000000-0000-7000-8000-000000000001");
    snprintf(mgr_user.role, sizeof(mgr_user.role), "manager");
    /* two of the three postcodes have a decile; the third is "unknown" */
    check_rc(cb_conn_exec(cbu.conn, "DELETE FROM imd; INSERT INTO imd(postcode, decile) VALUES "
                                    "('BL9 7AB', 3), ('M1 1AA', 1)"),
             "imd");
    for (uint64_t seed = 1; seed <= 6; seed++) {
        run_seed(seed);
    }
    /* the merge paths were exercised, not skipped */
    assert_true(merged > 3);
    assert_true(undone > 1);
    /* and data quality had lone baselines and unknown postcodes to find */
    assert_true(lone_baselines > 0);
    assert_true(not_in_imd > 0);
    json_decref(last_measure);
    last_measure = NULL;
}

/* While a writer holds SQLite's write lock a report cannot pin a second connection to its
 * snapshot: it reads on one thread, after a short wait, and answers the same. */
static void test_busy_writer_one_thread(void **state)
{
    (void)state;
    struct cb_report_query q;
    memset(&q, 0, sizeof(q));
    q.from = "2020-01-01";
    q.to = "2030-12-31";
    json_t *two = NULL, *one = NULL;
    struct cb_field_error fe;
    check_rc(cb_report_outcomes(cbu.conn, NULL, &q, &two, &fe), "report");
    assert_int_equal(cb_report_last_threads(), 2);
    struct cb_conn *w = NULL;
    check_rc(cb_store_sync_conn_take(cbu.store, &w), "writer");
    check_rc(cb_conn_exec(w, "BEGIN IMMEDIATE"), "lock");
    /* the report's audit row waits for the writer too: not for the usual 10 s here */
    sqlite3_busy_timeout(cb_conn_db(cbu.conn), 50);
    check_rc(cb_report_outcomes(cbu.conn, NULL, &q, &one, &fe), "report beside a writer");
    sqlite3_busy_timeout(cb_conn_db(cbu.conn), 10000);
    assert_int_equal(cb_report_last_threads(), 1);
    cb_conn_rollback(w);
    cb_store_sync_conn_put(cbu.store, w);
    assert_true(json_equal(two, one));
    json_decref(two);
    json_decref(one);
}

/* An empty store for a hand-made case (seed 0 in messages). */
static void clear_all(void)
{
    seed_used = 0;
    check_rc(cb_conn_exec(cbu.conn, "DELETE FROM measures; DELETE FROM encounters; "
                                    "DELETE FROM merges; DELETE FROM attendance; DELETE FROM "
                                    "group_sessions; DELETE FROM programmes; DELETE FROM "
                                    "participants; DELETE FROM venues"),
             "clear");
}

/* Insert measure id from v (consumed) for a hand-made case. */
static void insert_measure(const char *id, json_t *v)
{
    check_rc(
        cb_record_insert(cbu.conn, &cb_table_measures, id, v, "2026-09-26T00:00:00.000Z", NULL),
        "insert");
    json_decref(v);
}

/* The hand-made cases' period (2026 Q3) into *q, its outcomes report into *out (the caller
 * decrefs it), and the report's total figures of instrument (owned by *out). */
static json_t *q3_total(struct cb_report_query *q, const char *instrument, json_t **out)
{
    memset(q, 0, sizeof(*q));
    q->from = "2026-07-01";
    q->to = "2026-09-30";
    struct cb_field_error fe;
    check_rc(cb_report_outcomes(cbu.conn, NULL, q, out, &fe), "outcomes");
    return json_object_get(json_object_get(*out, "total"), instrument);
}

/* The hand-made case of docs/REPORTS.md: a later second baseline does not restart the pair,
 * and tombstoning the first one does (through the trigger, not the reference engine). */
static void test_second_baseline(void **state)
{
    (void)state;
    clear_all();
    rng = 7;
    begin();
    add_person(0);
    static const struct {
        const char *tp, *at;
        double score;
    } rows[] = {{"baseline", "2026-06-01T10:00:00.000Z", 27.03},
                {"baseline", "2026-08-01T10:00:00.000Z", 7.00},
                {"review", "2026-09-25T10:00:00.000Z", 23.21}};
    char ids[3][CB_UUID_STRLEN];
    for (int i = 0; i < 3; i++) {
        check_rc(cb_uuid7(ids[i]), "uuid");
        json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:{}, s:s, s:b, s:s, s:f, s:{}}",
                              "participant_id", people[0], "instrument", "swemwbs", "timepoint",
                              rows[i].tp, "taken_at", rows[i].at, "responses", "rule_version", "t1",
                              "complete", 1, "team", "prestwich", "score", rows[i].score, "result");
        insert_measure(ids[i], v);
    }
    commit();
    struct cb_report_query q;
    json_t *out = NULL;
    json_t *sw = q3_total(&q, "swemwbs", &out);
    assert_int_equal(json_integer_value(json_object_get(sw, "pairs")), 1);
    assert_true(json_real_value(json_object_get(sw, "mean_change")) == -3.82);
    json_decref(out);
    begin();
    check_rc(cb_record_delete(cbu.conn, &cb_table_measures, ids[0], "2026-09-27T00:00:00.000Z"),
             "tombstone");
    commit();
    sw = q3_total(&q, "swemwbs", &out);
    assert_true(json_real_value(json_object_get(sw, "mean_change")) == 16.21);
    json_decref(out);
    compare(&q, 0);
}

/* Follow-ups of one person at the same time: equal in history order (the same measure entered
 * twice with other answers) the larger rowid wins, though measures_pairs holds its smaller
 * answers first; a review and an exit at the same time are not tied (the review is later in
 * history order, whatever the rowids). */
static void test_tied_followups(void **state)
{
    (void)state;
    clear_all();
    rng = 11;
    begin();
    add_person(0);
    add_person(1);
    /* in insertion (rowid) order */
    static const struct {
        int person;
        const char *tp, *at;
        int q;
    } rows[] = {{0, "baseline", "2026-06-01T10:00:00.000Z", 5},
                {1, "baseline", "2026-06-01T10:00:00.000Z", 5},
                {0, "review", "2026-09-25T10:00:00.000Z", 9},
                {0, "review", "2026-09-25T10:00:00.000Z", 2}, /* tied: wins */
                {1, "review", "2026-09-25T10:00:00.000Z", 3}, /* later than the exit: wins */
                {1, "exit", "2026-09-25T10:00:00.000Z", 7}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char id[CB_UUID_STRLEN];
        check_rc(cb_uuid7(id), "uuid");
        json_t *v =
            json_pack("{s:s, s:s, s:s, s:s, s:{}, s:s, s:b, s:s, s:{s:{s:i, s:i, s:i, "
                      "s:i}}}",
                      "participant_id", people[rows[i].person], "instrument", "ons4", "timepoint",
                      rows[i].tp, "taken_at", rows[i].at, "responses", "rule_version", "t1",
                      "complete", 1, "team", "prestwich", "result", "raw", "q1", rows[i].q, "q2",
                      rows[i].q, "q3", rows[i].q, "q4", rows[i].q);
        insert_measure(id, v);
    }
    commit();
    struct cb_report_query q;
    json_t *out = NULL;
    json_t *on = q3_total(&q, "ons4", &out);
    assert_int_equal(json_integer_value(json_object_get(on, "pairs")), 2);
    json_t *ls = json_object_get(on, "life_satisfaction");
    /* (2 - 5 + 3 - 5) / 2 */
    assert_true(json_real_value(json_object_get(ls, "mean_change")) == -2.5);
    json_decref(out);
    compare(&q, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_baseline),
        cmocka_unit_test(test_tied_followups),
        cmocka_unit_test(test_pairs_match_reference),
        cmocka_unit_test(test_busy_writer_one_thread),
    };
    return cmocka_run_group_tests(tests, cbu_store_setup, cbu_teardown);
}
