/*
 * it_caseload.c - the working lists of a real `coachbox serve`: caseload,
 * follow-ups, reviews due, the drop-in queue and calling a person in, with
 * hand-worked expected results on crafted data, team isolation, roles and
 * parameter errors.
 *
 * One server and one login per user for the whole group (PBKDF2 costs about
 * 0.3 s a login).  Times are set in the past through the API fields.  "Today"
 * is the UTC date, as on the server; a run that straddles UTC midnight may
 * see off-by-one dates and is not supported.
 *
 * The data (prestwich unless noted; "t" = today, dates are next_follow_up):
 *   caseload of alice      Able (contact t-3, follow-up t-1: overdue)
 *                          Baker (t-2, t: due)      Cole (t-2, t+7: due)
 *                          Drew (t-1, t+8: scheduled)   Ely (no contact)
 *                          Fox (t-10, t-2, then a contact at t-1 without one: cleared)
 *                          Irons (contact t-1 after its own follow-up date t-3: none)
 *   not in it              Gale (alice's but discharged, follow-up t-5)
 *                          Hunt (carol's; t-5, t-3: overdue)
 *                          Jay (nobody's; t-10, t-4, cleared at t-1; that contact is
 *                          deleted later, which makes t-4 overdue again)
 *                          Zulu (radcliffe, bob's; t-3, t-1: overdue)
 *                          Yoxall (radcliffe, assigned to alice: never alice's view)
 *   reviews (12 weeks)     Rees gad7 baseline exactly 12 weeks ago: due (12)
 *                          Sand gad7 baseline 11 weeks ago: due only with weeks=11
 *                          Tate gad7 baseline 20 weeks, review 8 weeks ago: cleared
 *                          Urry swemwbs baseline 20 weeks, exit 2 weeks ago: cleared
 *                          Vine gad7 baseline 20 weeks, swemwbs review 10 weeks: due (20)
 *                          Wynn gad7 baseline 20 weeks, new baseline 2 weeks: not due
 *                          Xu (radcliffe) gad7 baseline 30 weeks: due for bob/mgr only
 *   queue of d = t-1       Fox 00:00, Able 09:00, Cole 09:05, Baker 09:10 (venue V),
 *                          Drew 09:20 (seen), Ely 09:30 (left); Irons at d-1 23:59:59
 *                          (another day); Zulu 09:01 (radcliffe)
 *   queue of today         Hunt at 00:00 today
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define PW      "correct-horse-battery-1"
#define NO_DATE INT_MIN
#define WEEK    (7L * 86400L)

enum { ALICE, CAROL, LENA, BOB, MGR, ADM, NUSERS };

static const char *const users[NUSERS][3] = {
    {"alice", "coach", "prestwich"}, {"carol", "coach", "prestwich"}, {"lena", "lead", "prestwich"},
    {"bob", "coach", "radcliffe"},   {"mgr", "manager", NULL},        {"adm", "admin", NULL},
};

static struct {
    struct cbt_server srv;
    int started;
    struct cbt_client c[NUSERS];
    char uid[NUSERS][40];
    char venue[40];
    /* participants */
    char able[40], baker[40], cole[40], drew[40], ely[40], fox[40], irons[40];
    char gale[40], hunt[40], jay[40], zulu[40], yoxall[40];
    char rees[40], sand[40], tate[40], urry[40], vine[40], wynn[40], xu[40];
    char jay_clear[40]; /* the contact that clears Jay's follow-up */
    /* check-ins on day d = t-1 */
    char q_fox[40], q_able[40], q_cole[40], q_baker[40], q_drew[40], q_ely[40], q_zulu[40];
    char q_today[40];
    time_t day_d; /* 00:00:00Z of d */
} G;

/* ---------------------------------------------------------------- helpers */

static void rq(struct cbt_client *c, const char *method, const char *path, const char *body,
               struct cbt_resp *r)
{
    if (cbt_request(c, method, path, body, r) != 0) {
        fail_msg("%s %s: no HTTP response", method, path);
    }
}

/* Send json (reference stolen) as the body. */
static void rqj(struct cbt_client *c, const char *method, const char *path, json_t *json,
                struct cbt_resp *r)
{
    char *text = json_dumps(json, JSON_COMPACT);
    json_decref(json);
    assert_non_null(text);
    rq(c, method, path, text, r);
    free(text);
}

static void expect_status(const struct cbt_resp *r, long want, const char *what)
{
    if (r->status != want) {
        fail_msg("%s: want HTTP %ld, got %ld: %.400s", what, want, r->status, r->body);
    }
}

/* An error reply with this status naming field (NULL: field not checked). */
static void expect_error_body(struct cbt_client *c, const char *method, const char *path,
                              const char *body, long status, const char *field)
{
    struct cbt_resp r;
    rq(c, method, path, body, &r);
    expect_status(&r, status, path);
    if (!cbt_jstr(&r, "error.code") || !cbt_jstr(&r, "error.message")) {
        fail_msg("%s: not an error body: %.300s", path, r.body);
    }
    if (field) {
        const char *f = cbt_jstr(&r, "error.field");
        if (!f || strcmp(f, field) != 0) {
            fail_msg("%s: error.field is %s, want %s (%.300s)", path, f ? f : "(none)", field,
                     r.body);
        }
    }
    cbt_resp_free(&r);
}

static void expect_error(struct cbt_client *c, const char *method, const char *path, long status,
                         const char *field)
{
    expect_error_body(c, method, path, NULL, status, field);
}

/* GET path as c, expecting 200; returns the body (new reference). */
static json_t *get_ok(struct cbt_client *c, const char *path)
{
    struct cbt_resp r;
    rq(c, "GET", path, NULL, &r);
    expect_status(&r, 200, path);
    json_t *j = json_incref(r.json);
    assert_non_null(j);
    cbt_resp_free(&r);
    return j;
}

/* "YYYY-MM-DD" of today + days (UTC). */
static void date_offset(int days, char out[16])
{
    time_t t = time(NULL) + (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

/* ISO 8601 UTC of a Unix time. */
static void iso_at(time_t t, char out[40])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void iso_ago(long secs, char out[40])
{
    iso_at(time(NULL) - secs, out);
}

/* Family names of an array's items joined with ',' (items may nest the name). */
static void names(const json_t *arr, char *out, size_t len)
{
    size_t i, o = 0;
    json_t *it;
    out[0] = '\0';
    if (!json_is_array(arr)) {
        fail_msg("not an array");
    }
    json_array_foreach(arr, i, it)
    {
        const char *n = json_string_value(json_object_get(it, "family_name"));
        int w = snprintf(out + o, len - o, "%s%s", i ? "," : "", n ? n : "?");
        assert_true(w > 0 && (size_t)w < len - o);
        o += (size_t)w;
    }
}

static void expect_names(const json_t *arr, const char *want, const char *what)
{
    char got[1024];
    names(arr, got, sizeof(got));
    if (strcmp(got, want) != 0) {
        fail_msg("%s: got [%s], want [%s]", what, got, want);
    }
}

/* The item of arr whose key equals value, or fail. */
static json_t *find_item(const json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        const char *v = json_string_value(json_object_get(it, key));
        if (v && strcmp(v, value) == 0) {
            return it;
        }
    }
    fail_msg("no item with %s = %s", key, value);
    return NULL;
}

/* Key of obj as a string, or "null" for JSON null (fails on anything else). */
static const char *str_or_null(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_null(v)) {
        return "null";
    }
    if (!json_is_string(v)) {
        fail_msg("%s is neither a string nor null", key);
    }
    return json_string_value(v);
}

static void create_participant(int who, const char *given, const char *family, json_t *extra,
                               char id_out[40])
{
    json_t *b = json_pack("{s:s, s:s, s:s}", "given_name", given, "family_name", family,
                          "date_of_birth", "1970-03-04");
    if (extra) {
        json_object_update(b, extra);
        json_decref(extra);
    }
    struct cbt_resp r;
    rqj(&G.c[who], "POST", "/api/participants", b, &r);
    expect_status(&r, 201, family);
    snprintf(id_out, 40, "%s", cbt_jstr(&r, "id"));
    cbt_resp_free(&r);
}

/* A participant assigned to user `coach` (-1: nobody). */
static void person(int who, const char *given, const char *family, int coach, char id_out[40])
{
    create_participant(who, given, family,
                       coach >= 0 ? json_pack("{s:s}", "assigned_coach", G.uid[coach]) : NULL,
                       id_out);
}

/* A contact days_ago days back, with next_follow_up today + nf_days (or none). */
static void contact(int who, const char *pid, int days_ago, int nf_days, char *id_out)
{
    char at[40], nf[16];
    iso_ago((long)days_ago * 86400L, at);
    json_t *b = json_pack("{s:s, s:s, s:s}", "participant_id", pid, "type", "one_to_one",
                          "occurred_at", at);
    if (nf_days != NO_DATE) {
        date_offset(nf_days, nf);
        json_object_set_new(b, "next_follow_up", json_string(nf));
    }
    struct cbt_resp r;
    rqj(&G.c[who], "POST", "/api/encounters", b, &r);
    expect_status(&r, 201, "contact");
    if (id_out) {
        snprintf(id_out, 40, "%s", cbt_jstr(&r, "id"));
    }
    cbt_resp_free(&r);
}

/* A complete gad7 or swemwbs measure taken secs_ago seconds back. */
static void measure(int who, const char *pid, const char *instrument, const char *timepoint,
                    long secs_ago)
{
    char at[40];
    int v = strcmp(instrument, "gad7") == 0 ? 1 : 3;
    iso_ago(secs_ago, at);
    json_t *b =
        json_pack("{s:s, s:s, s:s, s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i}}", "participant_id",
                  pid, "instrument", instrument, "timepoint", timepoint, "taken_at", at,
                  "responses", "q1", v, "q2", v, "q3", v, "q4", v, "q5", v, "q6", v, "q7", v);
    struct cbt_resp r;
    rqj(&G.c[who], "POST", "/api/measures", b, &r);
    expect_status(&r, 201, "measure");
    cbt_resp_free(&r);
}

/* A check-in at Unix time t (venue may be NULL). */
static void checkin(int who, const char *pid, time_t t, const char *venue, char id_out[40])
{
    char at[40];
    iso_at(t, at);
    json_t *b =
        json_pack("{s:s, s:s, s:s}", "participant_id", pid, "arrived_at", at, "reason", "drop-in");
    if (venue) {
        json_object_set_new(b, "venue", json_string(venue));
    }
    struct cbt_resp r;
    rqj(&G.c[who], "POST", "/api/checkins", b, &r);
    expect_status(&r, 201, "check-in");
    snprintf(id_out, 40, "%s", cbt_jstr(&r, "id"));
    cbt_resp_free(&r);
}

static void set_checkin_status(int who, const char *id, const char *status)
{
    char path[128];
    struct cbt_resp r;
    snprintf(path, sizeof(path), "/api/checkins/%s", id);
    rqj(&G.c[who], "PATCH", path, json_pack("{s:s}", "status", status), &r);
    expect_status(&r, 200, "patch check-in");
    cbt_resp_free(&r);
}

/* POST /api/checkins/{id}/call as who; returns the response (caller frees). */
static void call(int who, const char *id, struct cbt_resp *r)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/checkins/%s/call", id);
    rq(&G.c[who], "POST", path, NULL, r);
}

/* ------------------------------------------------------------ group setup */

static void seed(void)
{
    /* caseload and follow-ups */
    person(ALICE, "Ann", "Able", ALICE, G.able);
    contact(ALICE, G.able, 3, -1, NULL);
    person(ALICE, "Ben", "Baker", ALICE, G.baker);
    contact(ALICE, G.baker, 2, 0, NULL);
    person(ALICE, "Cat", "Cole", ALICE, G.cole);
    contact(ALICE, G.cole, 2, 7, NULL);
    person(ALICE, "Dan", "Drew", ALICE, G.drew);
    contact(ALICE, G.drew, 1, 8, NULL);
    person(ALICE, "Eve", "Ely", ALICE, G.ely);
    person(ALICE, "Fay", "Fox", ALICE, G.fox);
    contact(ALICE, G.fox, 10, -2, NULL);
    contact(CAROL, G.fox, 1, NO_DATE, NULL);
    person(ALICE, "Ivy", "Irons", ALICE, G.irons);
    contact(ALICE, G.irons, 1, -3, NULL);
    create_participant(ALICE, "Gus", "Gale",
                       json_pack("{s:s, s:s, s:s, s:s}", "assigned_coach", G.uid[ALICE], "status",
                                 "discharged", "discharge_reason", "moved away", "discharge_date",
                                 "2026-01-15"),
                       G.gale);
    contact(ALICE, G.gale, 6, -5, NULL);
    person(CAROL, "Hal", "Hunt", CAROL, G.hunt);
    contact(CAROL, G.hunt, 5, -3, NULL);
    person(CAROL, "Jon", "Jay", -1, G.jay);
    contact(CAROL, G.jay, 10, -4, NULL);
    contact(CAROL, G.jay, 1, NO_DATE, G.jay_clear);
    person(BOB, "Zed", "Zulu", BOB, G.zulu);
    contact(BOB, G.zulu, 3, -1, NULL);
    person(BOB, "Yan", "Yoxall", ALICE, G.yoxall);

    /* reviews */
    person(ALICE, "Rae", "Rees", -1, G.rees);
    measure(ALICE, G.rees, "gad7", "baseline", 12 * WEEK);
    person(ALICE, "Sam", "Sand", -1, G.sand);
    measure(ALICE, G.sand, "gad7", "baseline", 11 * WEEK);
    person(ALICE, "Tom", "Tate", -1, G.tate);
    measure(ALICE, G.tate, "gad7", "baseline", 20 * WEEK);
    measure(ALICE, G.tate, "gad7", "review", 8 * WEEK);
    person(ALICE, "Uma", "Urry", -1, G.urry);
    measure(ALICE, G.urry, "swemwbs", "baseline", 20 * WEEK);
    measure(ALICE, G.urry, "swemwbs", "exit", 2 * WEEK);
    person(ALICE, "Val", "Vine", -1, G.vine);
    measure(ALICE, G.vine, "gad7", "baseline", 20 * WEEK);
    measure(ALICE, G.vine, "swemwbs", "review", 10 * WEEK);
    person(ALICE, "Wes", "Wynn", -1, G.wynn);
    measure(ALICE, G.wynn, "gad7", "baseline", 20 * WEEK);
    measure(ALICE, G.wynn, "gad7", "baseline", 2 * WEEK);
    person(BOB, "Xan", "Xu", -1, G.xu);
    measure(BOB, G.xu, "gad7", "baseline", 30 * WEEK);

    /* queue of d = yesterday, and today */
    struct cbt_resp r;
    rqj(&G.c[ALICE], "POST", "/api/venues",
        json_pack("{s:s, s:s}", "name", "Longfield Centre", "team", "prestwich"), &r);
    expect_status(&r, 201, "venue");
    snprintf(G.venue, sizeof(G.venue), "%s", cbt_jstr(&r, "id"));
    cbt_resp_free(&r);
    time_t now = time(NULL), today = now - now % 86400, d = today - 86400;
    G.day_d = d;
    char ignored[40];
    checkin(ALICE, G.irons, d - 1, NULL, ignored);
    checkin(ALICE, G.able, d + 9 * 3600, NULL, G.q_able);
    checkin(ALICE, G.baker, d + 9 * 3600 + 600, G.venue, G.q_baker);
    checkin(ALICE, G.cole, d + 9 * 3600 + 300, NULL, G.q_cole);
    checkin(ALICE, G.drew, d + 9 * 3600 + 1200, NULL, G.q_drew);
    checkin(ALICE, G.ely, d + 9 * 3600 + 1800, NULL, G.q_ely);
    checkin(ALICE, G.fox, d, NULL, G.q_fox);
    checkin(BOB, G.zulu, d + 9 * 3600 + 60, NULL, G.q_zulu);
    set_checkin_status(ALICE, G.q_drew, "seen");
    set_checkin_status(ALICE, G.q_ely, "left");
    checkin(CAROL, G.hunt, today, NULL, G.q_today);
}

static int group_setup(void **state)
{
    (void)state;
    char data[512];
    cbt_tempdir(data, sizeof(data), "itcaseload");
    for (int i = 0; i < NUSERS; i++) {
        if (cbt_add_user(data, users[i][0], users[i][1], users[i][2], PW) != 0) {
            fprintf(stderr, "cannot add user %s\n", users[i][0]);
            return -1;
        }
    }
    if (cbt_server_start(&G.srv, data, NULL) != 0) {
        fprintf(stderr, "server did not start\n");
        return -1;
    }
    G.started = 1;
    for (int i = 0; i < NUSERS; i++) {
        cbt_client_init(&G.c[i], G.srv.url);
        if (cbt_login(&G.c[i], users[i][0], PW) != 200) {
            fprintf(stderr, "login %s failed\n", users[i][0]);
            return -1;
        }
        struct cbt_resp r;
        if (cbt_request(&G.c[i], "GET", "/api/me", NULL, &r) != 0 || !cbt_jstr(&r, "user.id")) {
            return -1;
        }
        snprintf(G.uid[i], sizeof(G.uid[i]), "%s", cbt_jstr(&r, "user.id"));
        cbt_resp_free(&r);
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NUSERS; i++) {
        cbt_client_free(&G.c[i]);
    }
    if (G.started) {
        int st = cbt_server_stop(&G.srv);
        if (st != 0) {
            fprintf(stderr, "server exit status %d\n", st);
        }
        cbt_rmtree(G.srv.data);
        remove(G.srv.log);
        return st == 0 ? 0 : -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ tests */

static void test_seed(void **state)
{
    (void)state;
    seed();
}

static void test_caseload(void **state)
{
    (void)state;
    char t[16], tm1[16], t7[16], t8[16], path[160];
    date_offset(0, t);
    date_offset(-1, tm1);
    date_offset(7, t7);
    date_offset(8, t8);

    json_t *j = get_ok(&G.c[ALICE], "/api/caseload");
    json_t *items = json_object_get(j, "items");
    expect_names(items, "Able,Baker,Cole,Drew,Ely,Fox,Irons", "alice's caseload");
    assert_string_equal(json_string_value(json_object_get(j, "coach")), G.uid[ALICE]);
    static const char *const want[][3] = {
        /* family, follow_up_state, next_follow_up (by offset label) */
        {"Able", "overdue", "tm1"},  {"Baker", "due", "t"},   {"Cole", "due", "t7"},
        {"Drew", "scheduled", "t8"}, {"Ely", "null", "null"}, {"Fox", "null", "null"},
        {"Irons", "null", "irons"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        json_t *it = find_item(items, "family_name", want[i][0]);
        assert_string_equal(str_or_null(it, "follow_up_state"), want[i][1]);
        const char *nf = strcmp(want[i][2], "tm1") == 0  ? tm1
                         : strcmp(want[i][2], "t") == 0  ? t
                         : strcmp(want[i][2], "t7") == 0 ? t7
                         : strcmp(want[i][2], "t8") == 0 ? t8
                                                         : NULL;
        if (nf) {
            assert_string_equal(str_or_null(it, "next_follow_up"), nf);
        }
        /* the full participant comes with it */
        assert_string_equal(str_or_null(it, "assigned_coach"), G.uid[ALICE]);
        assert_string_equal(str_or_null(it, "status"), "active");
    }
    json_t *ely = find_item(items, "family_name", "Ely");
    assert_string_equal(str_or_null(ely, "last_contact_at"), "null");
    assert_string_equal(str_or_null(ely, "next_follow_up"), "null");
    /* Fox: the later contact (no follow-up) is now the last contact */
    json_t *fox = find_item(items, "family_name", "Fox");
    assert_string_equal(str_or_null(fox, "next_follow_up"), "null");
    assert_int_equal(strncmp(str_or_null(fox, "last_contact_at"), tm1, 10), 0);
    /* Irons: follow-up t-3 recorded on a contact dated after it: shown, but not outstanding */
    char tm3[16];
    date_offset(-3, tm3);
    assert_string_equal(str_or_null(find_item(items, "family_name", "Irons"), "next_follow_up"),
                        tm3);
    json_decref(j);

    /* carol's own caseload; the lead and the manager viewing alice's */
    j = get_ok(&G.c[CAROL], "/api/caseload");
    expect_names(json_object_get(j, "items"), "Hunt", "carol's caseload");
    json_decref(j);
    snprintf(path, sizeof(path), "/api/caseload?coach=%s", G.uid[ALICE]);
    j = get_ok(&G.c[LENA], path);
    expect_names(json_object_get(j, "items"), "Able,Baker,Cole,Drew,Ely,Fox,Irons",
                 "lead viewing alice");
    json_decref(j);
    j = get_ok(&G.c[MGR], path);
    expect_names(json_object_get(j, "items"), "Able,Baker,Cole,Drew,Ely,Fox,Irons,Yoxall",
                 "manager viewing alice (every team)");
    json_decref(j);
    snprintf(path, sizeof(path), "/api/caseload?coach=%s&team=prestwich", G.uid[ALICE]);
    j = get_ok(&G.c[MGR], path);
    expect_names(json_object_get(j, "items"), "Able,Baker,Cole,Drew,Ely,Fox,Irons",
                 "manager viewing alice in prestwich");
    json_decref(j);
    j = get_ok(&G.c[MGR], "/api/caseload");
    expect_names(json_object_get(j, "items"), "", "manager's own caseload");
    json_decref(j);
    /* a coach may name only themselves */
    snprintf(path, sizeof(path), "/api/caseload?coach=%s", G.uid[ALICE]);
    j = get_ok(&G.c[ALICE], path);
    expect_names(json_object_get(j, "items"), "Able,Baker,Cole,Drew,Ely,Fox,Irons", "self");
    json_decref(j);
}

static void test_caseload_isolation(void **state)
{
    (void)state;
    char path[160];
    /* bob sees his own person only - never Yoxall's assignment to alice */
    json_t *j = get_ok(&G.c[BOB], "/api/caseload");
    expect_names(json_object_get(j, "items"), "Zulu", "bob's caseload");
    json_decref(j);
    /* the lead looking at bob's caseload sees nothing of radcliffe */
    snprintf(path, sizeof(path), "/api/caseload?coach=%s", G.uid[BOB]);
    j = get_ok(&G.c[LENA], path);
    expect_names(json_object_get(j, "items"), "", "lead viewing bob");
    json_decref(j);
    /* coaches cannot look at other coaches or other teams */
    snprintf(path, sizeof(path), "/api/caseload?coach=%s", G.uid[ALICE]);
    expect_error(&G.c[BOB], "GET", path, 403, "coach");
    expect_error(&G.c[ALICE], "GET", "/api/caseload?team=radcliffe", 403, "team");
}

static void test_follow_ups(void **state)
{
    (void)state;
    char t[16], path[160];
    date_offset(0, t);
    json_t *j = get_ok(&G.c[ALICE], "/api/follow-ups");
    assert_string_equal(json_string_value(json_object_get(j, "today")), t);
    assert_int_equal(json_integer_value(json_object_get(j, "within_days")), 7);
    expect_names(json_object_get(j, "overdue"), "Hunt,Able", "overdue (t-3, t-1)");
    expect_names(json_object_get(j, "due"), "Baker,Cole", "due (t, t+7; not t+8)");
    json_t *hunt = find_item(json_object_get(j, "overdue"), "family_name", "Hunt");
    assert_string_equal(str_or_null(hunt, "assigned_coach"), G.uid[CAROL]);
    char tm3[16], tm5[16];
    date_offset(-3, tm3);
    date_offset(-5, tm5);
    assert_string_equal(str_or_null(hunt, "next_follow_up"), tm3);
    assert_int_equal(strncmp(str_or_null(hunt, "last_contact_at"), tm5, 10), 0);
    assert_string_equal(str_or_null(hunt, "given_name"), "Hal");
    assert_string_equal(str_or_null(hunt, "team"), "prestwich");
    json_decref(j);

    j = get_ok(&G.c[ALICE], "/api/follow-ups?within_days=8");
    expect_names(json_object_get(j, "due"), "Baker,Cole,Drew", "window of 8 days");
    json_decref(j);
    j = get_ok(&G.c[ALICE], "/api/follow-ups?within_days=0");
    expect_names(json_object_get(j, "overdue"), "Hunt,Able", "overdue with window 0");
    expect_names(json_object_get(j, "due"), "Baker", "today only");
    json_decref(j);
    j = get_ok(&G.c[ALICE], "/api/follow-ups?within_days=90");
    expect_names(json_object_get(j, "due"), "Baker,Cole,Drew", "window of 90 days");
    json_decref(j);

    /* the lead sees the same team list; bob only radcliffe; the manager everyone */
    j = get_ok(&G.c[LENA], "/api/follow-ups");
    expect_names(json_object_get(j, "overdue"), "Hunt,Able", "lead overdue");
    json_decref(j);
    j = get_ok(&G.c[BOB], "/api/follow-ups");
    expect_names(json_object_get(j, "overdue"), "Zulu", "bob overdue");
    expect_names(json_object_get(j, "due"), "", "bob due");
    json_decref(j);
    j = get_ok(&G.c[MGR], "/api/follow-ups");
    expect_names(json_object_get(j, "overdue"), "Hunt,Able,Zulu", "manager overdue");
    json_decref(j);
    j = get_ok(&G.c[MGR], "/api/follow-ups?team=radcliffe");
    expect_names(json_object_get(j, "overdue"), "Zulu", "manager, radcliffe");
    json_decref(j);
    expect_error(&G.c[BOB], "GET", "/api/follow-ups?team=prestwich", 403, "team");

    /* deleting the contact that cleared Jay's follow-up makes it overdue again */
    struct cbt_resp r;
    snprintf(path, sizeof(path), "/api/encounters/%s", G.jay_clear);
    rq(&G.c[CAROL], "DELETE", path, NULL, &r);
    expect_status(&r, 200, "delete contact");
    cbt_resp_free(&r);
    j = get_ok(&G.c[ALICE], "/api/follow-ups");
    expect_names(json_object_get(j, "overdue"), "Jay,Hunt,Able", "Jay back (t-4)");
    json_decref(j);
}

static void test_reviews_due(void **state)
{
    (void)state;
    json_t *j = get_ok(&G.c[ALICE], "/api/reviews-due");
    assert_int_equal(json_integer_value(json_object_get(j, "weeks")), 12);
    json_t *items = json_object_get(j, "items");
    expect_names(items, "Vine,Rees", "due at 12 weeks");
    json_t *vine = json_array_get(items, 0), *rees = json_array_get(items, 1);
    assert_string_equal(str_or_null(vine, "instrument"), "gad7");
    assert_int_equal(json_integer_value(json_object_get(vine, "weeks_since")), 20);
    assert_string_equal(str_or_null(rees, "instrument"), "gad7");
    assert_int_equal(json_integer_value(json_object_get(rees, "weeks_since")), 12);
    char d84[16];
    date_offset(-84, d84);
    assert_int_equal(strncmp(str_or_null(rees, "baseline_at"), d84, 10), 0);
    assert_string_equal(str_or_null(rees, "id"), G.rees);
    json_decref(j);

    j = get_ok(&G.c[ALICE], "/api/reviews-due?weeks=11");
    expect_names(json_object_get(j, "items"), "Vine,Rees,Sand", "due at 11 weeks");
    json_decref(j);
    j = get_ok(&G.c[ALICE], "/api/reviews-due?weeks=21");
    expect_names(json_object_get(j, "items"), "", "nothing is 21 weeks old");
    json_decref(j);
    j = get_ok(&G.c[ALICE], "/api/reviews-due?weeks=1");
    expect_names(json_object_get(j, "items"), "Vine,Rees,Sand,Wynn", "the new baseline counts");
    json_decref(j);

    j = get_ok(&G.c[BOB], "/api/reviews-due");
    expect_names(json_object_get(j, "items"), "Xu", "bob");
    json_decref(j);
    j = get_ok(&G.c[MGR], "/api/reviews-due");
    expect_names(json_object_get(j, "items"), "Xu,Vine,Rees", "manager");
    json_decref(j);
    j = get_ok(&G.c[MGR], "/api/reviews-due?team=prestwich");
    expect_names(json_object_get(j, "items"), "Vine,Rees", "manager, prestwich");
    json_decref(j);
}

/* The review interval is a service setting: read by anyone, changed by a
 * manager or an admin (validated, audited); the lists then use it. */
static void test_review_weeks_setting(void **state)
{
    (void)state;
    struct cbt_resp r;
    json_t *j = get_ok(&G.c[ALICE], "/api/settings");
    assert_int_equal(json_integer_value(json_object_get(j, "review_weeks")), 12);
    json_decref(j);
    rq(&G.c[ALICE], "PATCH", "/api/settings", "{\"review_weeks\":11}", &r);
    expect_status(&r, 403, "a coach changes the setting");
    cbt_resp_free(&r);
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{}", "review_weeks"},
        {"{\"review_weeks\":0}", "review_weeks"},
        {"{\"review_weeks\":105}", "review_weeks"},
        {"{\"review_weeks\":\"ten\"}", "review_weeks"},
        {"{\"review_weeks\":1.5}", "review_weeks"},
        {"{\"review_weeks\":null}", "review_weeks"},
        {"{\"review_weeks\":11,\"colour\":\"red\"}", "colour"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rq(&G.c[MGR], "PATCH", "/api/settings", bad[i].body, &r);
        expect_status(&r, 400, bad[i].body);
        const char *f = cbt_jstr(&r, "error.field");
        if (!f || strcmp(f, bad[i].field) != 0) {
            fail_msg("%s: error.field %s, want %s", bad[i].body, f ? f : "(none)", bad[i].field);
        }
        cbt_resp_free(&r);
    }
    j = get_ok(&G.c[LENA], "/api/settings");
    assert_int_equal(json_integer_value(json_object_get(j, "review_weeks")), 12);
    json_decref(j);

    rq(&G.c[MGR], "PATCH", "/api/settings", "{\"review_weeks\":11}", &r);
    expect_status(&r, 200, "a manager sets 11 weeks");
    assert_int_equal(json_integer_value(json_object_get(r.json, "review_weeks")), 11);
    cbt_resp_free(&r);
    j = get_ok(&G.c[ALICE], "/api/reviews-due");
    assert_int_equal(json_integer_value(json_object_get(j, "weeks")), 11);
    expect_names(json_object_get(j, "items"), "Vine,Rees,Sand", "due at the new default");
    json_decref(j);
    /* An admin may change it too; back to 12 for the other tests. */
    rq(&G.c[ADM], "PATCH", "/api/settings", "{\"review_weeks\":\"12\"}", &r);
    expect_status(&r, 200, "an admin sets 12 weeks");
    cbt_resp_free(&r);
    j = get_ok(&G.c[ALICE], "/api/reviews-due");
    assert_int_equal(json_integer_value(json_object_get(j, "weeks")), 12);
    json_decref(j);
}

static void test_queue(void **state)
{
    (void)state;
    char d[16], path[200];
    date_offset(-1, d);
    snprintf(path, sizeof(path), "/api/queue?date=%s", d);
    json_t *j = get_ok(&G.c[ALICE], path);
    assert_string_equal(json_string_value(json_object_get(j, "date")), d);
    json_t *items = json_object_get(j, "items");
    expect_names(items, "Fox,Able,Cole,Baker,Drew,Ely", "arrival order");
    json_t *counts = json_object_get(j, "counts");
    assert_int_equal(json_integer_value(json_object_get(counts, "waiting")), 4);
    assert_int_equal(json_integer_value(json_object_get(counts, "with_coach")), 0);
    assert_int_equal(json_integer_value(json_object_get(counts, "seen")), 1);
    assert_int_equal(json_integer_value(json_object_get(counts, "left")), 1);
    json_t *able = find_item(items, "id", G.q_able);
    assert_string_equal(str_or_null(able, "status"), "waiting");
    assert_string_equal(str_or_null(able, "participant_id"), G.able);
    assert_string_equal(str_or_null(able, "given_name"), "Ann");
    assert_true(json_is_null(json_object_get(able, "coach")));
    long want = (long)(time(NULL) - (G.day_d + 9 * 3600)) / 60;
    long got = (long)json_integer_value(json_object_get(able, "waiting_minutes"));
    if (got < want - 1 || got > want + 1) {
        fail_msg("waiting_minutes %ld, want about %ld", got, want);
    }
    assert_true(json_is_null(json_object_get(find_item(items, "id", G.q_drew), "waiting_minutes")));
    assert_string_equal(str_or_null(find_item(items, "id", G.q_ely), "status"), "left");
    assert_string_equal(str_or_null(find_item(items, "id", G.q_baker), "venue_name"),
                        "Longfield Centre");
    json_decref(j);

    /* one venue */
    snprintf(path, sizeof(path), "/api/queue?date=%s&venue=%s", d, G.venue);
    j = get_ok(&G.c[ALICE], path);
    expect_names(json_object_get(j, "items"), "Baker", "venue filter");
    json_decref(j);

    /* teams: bob his own; the manager all, or one team */
    snprintf(path, sizeof(path), "/api/queue?date=%s", d);
    j = get_ok(&G.c[BOB], path);
    expect_names(json_object_get(j, "items"), "Zulu", "bob's queue");
    json_decref(j);
    j = get_ok(&G.c[MGR], path);
    expect_names(json_object_get(j, "items"), "Fox,Able,Zulu,Cole,Baker,Drew,Ely",
                 "manager, all teams");
    json_decref(j);
    snprintf(path, sizeof(path), "/api/queue?date=%s&team=radcliffe", d);
    j = get_ok(&G.c[MGR], path);
    expect_names(json_object_get(j, "items"), "Zulu", "manager, radcliffe");
    json_decref(j);

    /* the default day is today */
    char t[16];
    date_offset(0, t);
    j = get_ok(&G.c[ALICE], "/api/queue");
    assert_string_equal(json_string_value(json_object_get(j, "date")), t);
    expect_names(json_object_get(j, "items"), "Hunt", "today's queue");
    json_decref(j);
}

static void test_call(void **state)
{
    (void)state;
    struct cbt_resp r;
    call(ALICE, G.q_able, &r);
    expect_status(&r, 200, "call");
    assert_string_equal(cbt_jstr(&r, "status"), "with_coach");
    assert_string_equal(cbt_jstr(&r, "coach"), G.uid[ALICE]);
    cbt_resp_free(&r);
    call(ALICE, G.q_able, &r); /* calling again changes nothing */
    expect_status(&r, 200, "call again");
    assert_string_equal(cbt_jstr(&r, "coach"), G.uid[ALICE]);
    cbt_resp_free(&r);

    char d[16], path[200];
    date_offset(-1, d);
    snprintf(path, sizeof(path), "/api/queue?date=%s", d);
    json_t *j = get_ok(&G.c[CAROL], path);
    json_t *counts = json_object_get(j, "counts");
    assert_int_equal(json_integer_value(json_object_get(counts, "waiting")), 3);
    assert_int_equal(json_integer_value(json_object_get(counts, "with_coach")), 1);
    json_t *able = find_item(json_object_get(j, "items"), "id", G.q_able);
    json_t *coach = json_object_get(able, "coach");
    assert_string_equal(json_string_value(json_object_get(coach, "id")), G.uid[ALICE]);
    assert_string_equal(json_string_value(json_object_get(coach, "display_name")), "alice");
    assert_true(json_is_null(json_object_get(able, "waiting_minutes")));
    json_decref(j);

    /* another coach cannot take them, by a call or by a patch (calling them again, or
     * naming another coach); seen and left cannot be called */
    snprintf(path, sizeof(path), "/api/checkins/%s/call", G.q_able);
    expect_error(&G.c[CAROL], "POST", path, 409, "status");
    char patch[300];
    snprintf(path, sizeof(path), "/api/checkins/%s", G.q_able);
    snprintf(patch, sizeof(patch), "{\"status\":\"with_coach\",\"coach\":\"%s\"}", G.uid[CAROL]);
    expect_error_body(&G.c[CAROL], "PATCH", path, patch, 409, "status");
    snprintf(patch, sizeof(patch), "{\"coach\":\"%s\"}", G.uid[CAROL]);
    expect_error_body(&G.c[CAROL], "PATCH", path, patch, 409, "status");
    /* F35: nor by clearing the coach or setting the status back, a lead included */
    expect_error_body(&G.c[LENA], "PATCH", path, "{\"coach\":null}", 409, "status");
    expect_error_body(&G.c[LENA], "PATCH", path, "{\"status\":\"waiting\"}", 409, "status");
    expect_error_body(&G.c[CAROL], "PATCH", path, "{\"status\":\"seen\"}", 409, "status");
    /* with_coach always has a coach, even for the holder */
    expect_error_body(&G.c[ALICE], "PATCH", path, "{\"coach\":null}", 400, "coach");
    j = get_ok(&G.c[CAROL], path);
    assert_string_equal(json_string_value(json_object_get(j, "coach")), G.uid[ALICE]);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "with_coach");
    json_decref(j);
    snprintf(path, sizeof(path), "/api/checkins/%s/call", G.q_able);
    expect_error(&G.c[LENA], "POST", path, 409, "status");
    /* a patch to with_coach naming no coach takes the caller, as a call does (Zulu,
     * radcliffe's: bob) */
    snprintf(path, sizeof(path), "/api/checkins/%s", G.q_zulu);
    rqj(&G.c[BOB], "PATCH", path, json_pack("{s:s}", "status", "with_coach"), &r);
    expect_status(&r, 200, "patch to with_coach");
    assert_string_equal(cbt_jstr(&r, "coach"), G.uid[BOB]);
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/checkins/%s/call", G.q_drew);
    expect_error(&G.c[ALICE], "POST", path, 409, "status");
    snprintf(path, sizeof(path), "/api/checkins/%s/call", G.q_ely);
    expect_error(&G.c[CAROL], "POST", path, 409, "status");
    /* other team, admins, unknown ids */
    snprintf(path, sizeof(path), "/api/checkins/%s/call", G.q_cole);
    expect_error(&G.c[BOB], "POST", path, 404, NULL);
    expect_error(&G.c[ADM], "POST", path, 403, NULL);
    expect_error(&G.c[ALICE], "POST", "/api/checkins/0190a0a0-0000-7000-8000-000000000000/call",
                 404, NULL);
    expect_error(&G.c[ALICE], "POST", "/api/checkins/nope/call", 404, NULL);

    /* the lead calls Cole: the write went through the record layer (audited) */
    call(LENA, G.q_cole, &r);
    expect_status(&r, 200, "lead calls");
    assert_string_equal(cbt_jstr(&r, "coach"), G.uid[LENA]);
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s/audit", G.cole);
    j = get_ok(&G.c[MGR], path);
    size_t i;
    json_t *ev;
    int found = 0;
    json_array_foreach(json_object_get(j, "items"), i, ev)
    {
        const char *action = json_string_value(json_object_get(ev, "action"));
        const char *eid = json_string_value(json_object_get(ev, "entity_id"));
        found |=
            action && eid && strcmp(action, "checkin.update") == 0 && strcmp(eid, G.q_cole) == 0;
    }
    json_decref(j);
    assert_true(found);
}

static void test_roles_and_sessions(void **state)
{
    (void)state;
    static const char *const lists[] = {"/api/caseload", "/api/follow-ups", "/api/reviews-due",
                                        "/api/queue"};
    struct cbt_client anon;
    assert_int_equal(cbt_client_init(&anon, G.srv.url), 0);
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        expect_error(&G.c[ADM], "GET", lists[i], 403, NULL);
        expect_error(&anon, "GET", lists[i], 401, NULL);
    }
    char path[128];
    snprintf(path, sizeof(path), "/api/checkins/%s/call", G.q_baker);
    expect_error(&anon, "POST", path, 401, NULL);
    cbt_client_free(&anon);
    /* the call is a write: no CSRF token, no call (and nothing changes) */
    char saved[sizeof(G.c[ALICE].csrf)];
    memcpy(saved, G.c[ALICE].csrf, sizeof(saved));
    G.c[ALICE].csrf[0] = '\0';
    expect_error(&G.c[ALICE], "POST", path, 403, "X-CSRF-Token");
    memcpy(G.c[ALICE].csrf, saved, sizeof(saved));
    char d[16], q[64];
    date_offset(-1, d);
    snprintf(q, sizeof(q), "/api/queue?date=%s", d);
    json_t *j = get_ok(&G.c[ALICE], q);
    assert_string_equal(
        str_or_null(find_item(json_object_get(j, "items"), "id", G.q_baker), "status"), "waiting");
    json_decref(j);
}

static void test_bad_params(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"/api/follow-ups?within_days=-1", "within_days"},
        {"/api/follow-ups?within_days=91", "within_days"},
        {"/api/follow-ups?within_days=7days", "within_days"},
        {"/api/follow-ups?within_days=", "within_days"},
        {"/api/follow-ups?within_days=99999999999999", "within_days"},
        {"/api/reviews-due?weeks=0", "weeks"},
        {"/api/reviews-due?weeks=105", "weeks"},
        {"/api/reviews-due?weeks=%2B3", "weeks"},
        {"/api/queue?date=2026-02-30", "date"},
        {"/api/queue?date=2026-2-3", "date"},
        {"/api/queue?date=2026-02-03T00:00:00Z", "date"},
        {"/api/queue?venue=not-a-venue", "venue"},
        {"/api/caseload?coach=not-a-user", "coach"},
        {"/api/caseload?coach=0190a0a0-0000-7000-8000-000000000000", "coach"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_error(&G.c[LENA], "GET", bad[i][0], 400, bad[i][1]);
    }
    expect_error(&G.c[MGR], "GET", "/api/queue?team=atlantis", 400, "team");
    expect_error(&G.c[MGR], "GET", "/api/reviews-due?weeks=0&team=prestwich", 400, "weeks");
    /* boundaries that are fine */
    json_decref(get_ok(&G.c[LENA], "/api/reviews-due?weeks=104"));
    json_decref(get_ok(&G.c[LENA], "/api/queue?date=2024-02-29"));
    json_decref(get_ok(&G.c[LENA], "/api/queue?team=prestwich"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed),
        cmocka_unit_test(test_caseload),
        cmocka_unit_test(test_caseload_isolation),
        cmocka_unit_test(test_follow_ups),
        cmocka_unit_test(test_reviews_due),
        cmocka_unit_test(test_review_weeks_setting),
        cmocka_unit_test(test_queue),
        cmocka_unit_test(test_call),
        cmocka_unit_test(test_roles_and_sessions),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests_name("it_caseload", tests, group_setup, group_teardown);
}
