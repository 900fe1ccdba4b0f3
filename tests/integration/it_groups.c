/*
 * it_groups.c - group programmes over HTTP on a real `coachbox serve`:
 * scheduling sessions (weekly, across clock changes), taking a register in
 * one request (round trip, replay, change, validation, all-or-nothing), the
 * follow-up list after missed sessions, a participant's timeline, and the
 * access rules (another team, admins, no session, no CSRF token).
 *
 * One server for the whole group; each user logs in once (PBKDF2 costs
 * ~0.3 s a login).  Each test builds its own programme and people.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define PW       "correct-horse-battery-1"
#define NP       15 /* people enrolled on each test programme */
#define NSESSION 12

static struct {
    struct cbt_server srv;
    int started;
    struct cbt_client lead;  /* lead, prestwich */
    struct cbt_client other; /* coach, radcliffe */
    struct cbt_client mgr;   /* manager: all teams */
    struct cbt_client adm;   /* admin: no participant data */
    int teardown_failed;     /* cmocka does not count a failed group teardown */
} G;

/* A programme of the lead's team with its sessions and enrolled people. */
struct group {
    char prog[40];
    int nsessions;
    char sessions[NSESSION][40];
    char starts[NSESSION][32];
    char pids[NP][40]; /* in register order (family names sort by index) */
    char enrolments[NP][40];
    char outsider[40]; /* same team, not enrolled */
};

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

/* An API error with the given status and (when field is non-NULL) error.field. */
static void expect_error(const struct cbt_resp *r, long status, const char *field, const char *what)
{
    expect_status(r, status, what);
    if (!cbt_jstr(r, "error.code") || !cbt_jstr(r, "error.message")) {
        fail_msg("%s: error body lacks code/message: %.300s", what, r->body);
    }
    if (field) {
        const char *f = cbt_jstr(r, "error.field");
        if (!f || strcmp(f, field) != 0) {
            fail_msg("%s: error.field is %s, want %s (%.300s)", what, f ? f : "(none)", field,
                     r->body);
        }
    }
}

/* Send and expect an error; frees the response. */
static void send_expect_error(struct cbt_client *c, const char *method, const char *path,
                              json_t *body, long status, const char *field, const char *what)
{
    struct cbt_resp r;
    if (body) {
        rqj(c, method, path, body, &r);
    } else {
        rq(c, method, path, NULL, &r);
    }
    expect_error(&r, status, field, what);
    cbt_resp_free(&r);
}

/* Today + days, YYYY-MM-DD (UTC). */
static void date_offset(int days, char out[16])
{
    time_t t = time(NULL) + (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

/* Now + secs as ISO 8601 UTC (whole seconds). */
static void iso_offset(long secs, char out[40])
{
    time_t t = time(NULL) + secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *items_of(const struct cbt_resp *r)
{
    json_t *items = json_object_get(r->json, "items");
    if (!json_is_array(items)) {
        fail_msg("no items array: %.300s", r->body);
    }
    return items;
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* POST path with body (stolen), expect 201, copy the new id. */
static void create(struct cbt_client *c, const char *path, json_t *body, char id[40])
{
    struct cbt_resp r;
    rqj(c, "POST", path, body, &r);
    expect_status(&r, 201, path);
    snprintf(id, 40, "%s", cbt_jstr(&r, "id") ? cbt_jstr(&r, "id") : "");
    assert_int_equal(strlen(id), 36);
    cbt_resp_free(&r);
}

static void create_participant(struct cbt_client *c, const char *given, const char *family,
                               const char *team, char id[40])
{
    json_t *b = json_pack("{s:s, s:s, s:s}", "given_name", given, "family_name", family,
                          "date_of_birth", "1958-04-12");
    if (team) {
        json_object_set_new(b, "team", json_string(team));
    }
    create(c, "/api/participants", b, id);
}

static void create_programme(struct cbt_client *c, const char *name, int weeks, char id[40])
{
    create(c, "/api/programmes",
           json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", name, "topic", "frailty_falls", "team",
                     "prestwich", "start_date", "2026-09-01", "weeks", weeks),
           id);
}

static void enrol(struct cbt_client *c, const char *pid, const char *prog, char id[40])
{
    char today[16];
    date_offset(0, today);
    create(c, "/api/enrolments",
           json_pack("{s:s, s:s, s:s}", "participant_id", pid, "programme_id", prog, "enrolled_on",
                     today),
           id);
}

/*
 * A programme named tag with nsessions weekly sessions from first_at, NP
 * enrolled people (family names tag+"a".. so the register lists them in
 * index order) and one outsider of the same team who is not enrolled.
 */
static void make_group(const char *tag, const char *first_at, int nsessions, struct group *g)
{
    char path[160], given[32], family[64];
    struct cbt_resp r;
    memset(g, 0, sizeof(*g));
    create_programme(&G.lead, tag, NSESSION, g->prog);
    snprintf(path, sizeof(path), "/api/programmes/%s/schedule", g->prog);
    rqj(&G.lead, "POST", path,
        json_pack("{s:s, s:i}", "first_session_at", first_at, "count", nsessions), &r);
    expect_status(&r, 201, "schedule");
    json_t *items = items_of(&r);
    assert_int_equal(json_array_size(items), nsessions);
    g->nsessions = nsessions;
    for (int i = 0; i < nsessions; i++) {
        snprintf(g->sessions[i], 40, "%s", jstr(json_array_get(items, (size_t)i), "id"));
        snprintf(g->starts[i], 32, "%s", jstr(json_array_get(items, (size_t)i), "starts_at"));
    }
    cbt_resp_free(&r);
    for (int i = 0; i < NP; i++) {
        snprintf(given, sizeof(given), "Person%02d", i);
        snprintf(family, sizeof(family), "%s%c", tag, 'a' + i);
        create_participant(&G.lead, given, family, NULL, g->pids[i]);
        enrol(&G.lead, g->pids[i], g->prog, g->enrolments[i]);
    }
    snprintf(family, sizeof(family), "%sOutsider", tag);
    create_participant(&G.lead, "Olive", family, NULL, g->outsider);
}

/* {"entries":[...]} for the people whose status is non-NULL (statuses has NP slots). */
static json_t *register_body(const struct group *g, const char *const *statuses)
{
    json_t *entries = json_array();
    for (int i = 0; i < NP; i++) {
        if (statuses[i]) {
            json_array_append_new(entries, json_pack("{s:s, s:s}", "participant_id", g->pids[i],
                                                     "status", statuses[i]));
        }
    }
    return json_pack("{s:o}", "entries", entries);
}

static void register_path(const char *session, char *out, size_t len)
{
    snprintf(out, len, "/api/group-sessions/%s/register", session);
}

/* PUT the register of session k as c; expect 200; r holds the response. */
static void put_register(struct cbt_client *c, const struct group *g, int k,
                         const char *const *statuses, struct cbt_resp *r)
{
    char path[160];
    register_path(g->sessions[k], path, sizeof(path));
    rqj(c, "PUT", path, register_body(g, statuses), r);
    expect_status(r, 200, "PUT register");
}

static void get_register(struct cbt_client *c, const struct group *g, int k, struct cbt_resp *r)
{
    char path[160];
    register_path(g->sessions[k], path, sizeof(path));
    rq(c, "GET", path, NULL, r);
    expect_status(r, 200, "GET register");
}

/* The entries of a register response, checked to list exactly the NP people in order. */
static json_t *entries_of(const struct cbt_resp *r, const struct group *g)
{
    json_t *entries = json_object_get(r->json, "entries");
    if (!json_is_array(entries) || json_array_size(entries) != NP) {
        fail_msg("register has not %d entries: %.400s", NP, r->body);
    }
    for (int i = 0; i < NP; i++) {
        const char *pid = jstr(json_array_get(entries, (size_t)i), "participant_id");
        if (!pid || strcmp(pid, g->pids[i]) != 0) {
            fail_msg("entry %d is %s, want %s", i, pid ? pid : "(none)", g->pids[i]);
        }
    }
    return entries;
}

/* Assert the register's statuses equal want (NULL slots: null status). */
static void expect_statuses(const struct cbt_resp *r, const struct group *g,
                            const char *const *want)
{
    json_t *entries = entries_of(r, g);
    for (int i = 0; i < NP; i++) {
        json_t *e = json_array_get(entries, (size_t)i);
        const char *st = jstr(e, "status");
        if (want[i] ? !st || strcmp(st, want[i]) != 0
                    : !json_is_null(json_object_get(e, "status"))) {
            fail_msg("entry %d status %s, want %s", i, st ? st : "null",
                     want[i] ? want[i] : "null");
        }
        if (want[i] ? !jstr(e, "attendance_id")
                    : !json_is_null(json_object_get(e, "attendance_id"))) {
            fail_msg("entry %d attendance_id does not match its status", i);
        }
    }
}

/* Number of attendance rows of the programme (GET /api/programmes/{id}/attendance). */
static size_t attendance_count(const struct group *g)
{
    char path[160];
    struct cbt_resp r;
    snprintf(path, sizeof(path), "/api/programmes/%s/attendance", g->prog);
    rq(&G.lead, "GET", path, NULL, &r);
    expect_status(&r, 200, path);
    size_t n = json_array_size(items_of(&r));
    cbt_resp_free(&r);
    return n;
}

/* count(*) of an audit query with up to two text parameters, on the server's database. */
static int audit_count(const char *sql, const char *p1, const char *p2)
{
    char dbpath[700];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    snprintf(dbpath, sizeof(dbpath), "%s/coachbox.db", G.srv.data);
    assert_int_equal(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (p1) {
        sqlite3_bind_text(st, 1, p1, -1, SQLITE_TRANSIENT);
    }
    if (p2) {
        sqlite3_bind_text(st, 2, p2, -1, SQLITE_TRANSIENT);
    }
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* ------------------------------------------------------------ group setup */

static int group_setup(void **state)
{
    (void)state;
    char data[512];
    static const char *const users[][3] = {
        {"lena", "lead", "prestwich"},
        {"rhys", "coach", "radcliffe"},
        {"mgr", "manager", NULL},
        {"adm", "admin", NULL},
    };
    cbt_tempdir(data, sizeof(data), "itgroups");
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        /* cbt_add_user, keeping the output to show why it failed */
        char out[2048];
        const char *args[] = {"user",      "add",        "--data",
                              data,        "--username", users[i][0],
                              "--role",    users[i][1],  users[i][2] ? "--team" : NULL,
                              users[i][2], NULL};
        int st = cbt_run(args, PW "\n", out, sizeof(out));
        if (st != 0) {
            fprintf(stderr, "cannot add user %s (exit %d): %s\n", users[i][0], st, out);
            cbt_rmtree(data);
            return -1;
        }
    }
    if (cbt_server_start(&G.srv, data, NULL) != 0) {
        fprintf(stderr, "server did not start\n");
        return -1;
    }
    G.started = 1;
    cbt_client_init(&G.lead, G.srv.url);
    cbt_client_init(&G.other, G.srv.url);
    cbt_client_init(&G.mgr, G.srv.url);
    cbt_client_init(&G.adm, G.srv.url);
    if (cbt_login(&G.lead, "lena", PW) != 200 || cbt_login(&G.other, "rhys", PW) != 200 ||
        cbt_login(&G.mgr, "mgr", PW) != 200 || cbt_login(&G.adm, "adm", PW) != 200) {
        fprintf(stderr, "setup logins failed\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cbt_client_free(&G.lead);
    cbt_client_free(&G.other);
    cbt_client_free(&G.mgr);
    cbt_client_free(&G.adm);
    if (G.started) {
        int st = cbt_server_stop(&G.srv);
        if (st != 0) {
            /* e.g. a LeakSanitizer report from an ASan build of the server */
            fprintf(stderr, "server exit status %d; log %s kept\n", st, G.srv.log);
            G.teardown_failed = 1;
            return -1;
        }
        cbt_rmtree(G.srv.data);
        remove(G.srv.log);
    }
    return 0;
}

/* ---------------------------------------------------------------- schedule */

static void test_schedule(void **state)
{
    (void)state;
    char prog[40], path[160];
    struct cbt_resp r;
    create_programme(&G.lead, "Strength and balance (schedule)", 12, prog);
    snprintf(path, sizeof(path), "/api/programmes/%s/schedule", prog);

    /* Default count = the programme's weeks, weekly, 10:00 London time throughout:
     * the clocks go forward on 2025-03-30, so from 1 April 10:00 BST is 09:00Z. */
    rqj(&G.lead, "POST", path, json_pack("{s:s}", "first_session_at", "2025-02-18T10:00:00Z"), &r);
    expect_status(&r, 201, "schedule 12");
    json_t *items = items_of(&r);
    assert_int_equal(json_array_size(items), 12);
    for (size_t i = 0; i < 12; i++) {
        json_t *s = json_array_get(items, i);
        assert_int_equal(json_integer_value(json_object_get(s, "session_number")), (int)i + 1);
        assert_string_equal(jstr(s, "programme_id"), prog);
        assert_string_equal(jstr(s, "team"), "prestwich");
    }
    assert_string_equal(jstr(json_array_get(items, 0), "starts_at"), "2025-02-18T10:00:00.000Z");
    assert_string_equal(jstr(json_array_get(items, 5), "starts_at"), "2025-03-25T10:00:00.000Z");
    assert_string_equal(jstr(json_array_get(items, 6), "starts_at"), "2025-04-01T09:00:00.000Z");
    assert_string_equal(jstr(json_array_get(items, 11), "starts_at"), "2025-05-06T09:00:00.000Z");
    cbt_resp_free(&r);

    /* More sessions are numbered after the existing ones; explicit count and interval;
     * an input offset is converted to UTC. */
    rqj(&G.lead, "POST", path,
        json_pack("{s:s, s:i, s:i}", "first_session_at", "2025-06-03T10:00:00+01:00", "count", 2,
                  "interval_days", 14),
        &r);
    expect_status(&r, 201, "schedule 2 more");
    items = items_of(&r);
    assert_int_equal(json_array_size(items), 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(items, 0), "session_number")), 13);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(items, 1), "session_number")), 14);
    assert_string_equal(jstr(json_array_get(items, 0), "starts_at"), "2025-06-03T09:00:00.000Z");
    assert_string_equal(jstr(json_array_get(items, 1), "starts_at"), "2025-06-17T09:00:00.000Z");
    cbt_resp_free(&r);

    /* Autumn: 10:00 BST then 10:00 GMT after the clocks go back on 2025-10-26. */
    rqj(&G.lead, "POST", path,
        json_pack("{s:s, s:i}", "first_session_at", "2025-10-21T09:00:00Z", "count", 2), &r);
    expect_status(&r, 201, "schedule across October");
    items = items_of(&r);
    assert_string_equal(jstr(json_array_get(items, 1), "starts_at"), "2025-10-28T10:00:00.000Z");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(items, 1), "session_number")), 16);
    cbt_resp_free(&r);

    snprintf(path, sizeof(path), "/api/programmes/%s/group-sessions", prog);
    rq(&G.lead, "GET", path, NULL, &r);
    expect_status(&r, 200, "list sessions");
    assert_int_equal(json_array_size(items_of(&r)), 16);
    cbt_resp_free(&r);

    /* Validation names the field; nothing is created. */
    snprintf(path, sizeof(path), "/api/programmes/%s/schedule", prog);
    send_expect_error(&G.lead, "POST", path, json_pack("{s:i}", "count", 3), 400,
                      "first_session_at", "missing first_session_at");
    send_expect_error(&G.lead, "POST", path,
                      json_pack("{s:s}", "first_session_at", "2025-02-18T10:00:00"), 400,
                      "first_session_at", "time without a zone");
    send_expect_error(
        &G.lead, "POST", path,
        json_pack("{s:s, s:i}", "first_session_at", "2025-02-18T10:00:00Z", "count", 0), 400,
        "count", "count 0");
    send_expect_error(
        &G.lead, "POST", path,
        json_pack("{s:s, s:i}", "first_session_at", "2025-02-18T10:00:00Z", "count", 105), 400,
        "count", "count 105");
    send_expect_error(
        &G.lead, "POST", path,
        json_pack("{s:s, s:i}", "first_session_at", "2025-02-18T10:00:00Z", "interval_days", 29),
        400, "interval_days", "interval 29");
    send_expect_error(
        &G.lead, "POST", path,
        json_pack("{s:s, s:s}", "first_session_at", "2025-02-18T10:00:00Z", "interval_days", "7"),
        400, "interval_days", "interval as text");
    send_expect_error(
        &G.lead, "POST", path,
        json_pack("{s:s, s:i}", "first_session_at", "2025-02-18T10:00:00Z", "weeks", 3), 400,
        "weeks", "unknown key");
    /* An unknown code is refused naming the field and the codes it may be. */
    struct cbt_resp er;
    rqj(&G.lead, "POST", "/api/programmes",
        json_pack("{s:s, s:s, s:s, s:s}", "name", "Bad topic", "topic", "knitting", "team",
                  "prestwich", "start_date", "2026-09-01"),
        &er);
    expect_error(&er, 400, "topic", "an unknown topic");
    if (!strstr(er.body, "smoking, physical_activity") || !strstr(er.body, "other")) {
        fail_msg("the topic error does not list the codes: %s", er.body);
    }
    cbt_resp_free(&er);
    /* Every session must fall before 2100, the last one too. */
    send_expect_error(&G.lead, "POST", path,
                      json_pack("{s:s, s:i, s:i}", "first_session_at", "2099-12-01T10:00:00Z",
                                "count", 104, "interval_days", 28),
                      400, "count", "sessions past 2099");
    snprintf(path, sizeof(path), "/api/programmes/%s/group-sessions", prog);
    rq(&G.lead, "GET", path, NULL, &r);
    assert_int_equal(json_array_size(items_of(&r)), 16);
    cbt_resp_free(&r);

    /* Unknown or malformed programme ids are 404s; admins hold no records here. */
    send_expect_error(&G.lead, "POST",
                      "/api/programmes/01890000-0000-7000-8000-000000000000/schedule",
                      json_pack("{s:s}", "first_session_at", "2025-02-18T10:00:00Z"), 404, NULL,
                      "unknown programme");
    send_expect_error(&G.lead, "POST", "/api/programmes/nope/schedule",
                      json_pack("{s:s}", "first_session_at", "2025-02-18T10:00:00Z"), 404, NULL,
                      "malformed programme id");
    snprintf(path, sizeof(path), "/api/programmes/%s/schedule", prog);
    send_expect_error(&G.adm, "POST", path,
                      json_pack("{s:s}", "first_session_at", "2025-02-18T10:00:00Z"), 403, NULL,
                      "admin schedules");
}

/* ---------------------------------------------------------------- register */

static const char *const ALL_NULL[NP] = {NULL};

/* The first register: a few absent, one apologies, the rest attended. */
static void first_statuses(const char *out[NP])
{
    for (int i = 0; i < NP; i++) {
        out[i] = i % 5 == 1 ? "absent" : i == 4 ? "apologies" : "attended";
    }
}

static void test_register_roundtrip(void **state)
{
    (void)state;
    struct group g;
    struct cbt_resp r;
    char ids[NP][40];
    const char *want[NP];
    make_group("Regtrip", "2026-09-01T09:30:00Z", NSESSION, &g);

    /* An empty register lists everyone enrolled, by name, with no marks yet. */
    get_register(&G.lead, &g, 0, &r);
    assert_string_equal(cbt_jstr(&r, "session.id"), g.sessions[0]);
    assert_string_equal(cbt_jstr(&r, "programme.id"), g.prog);
    expect_statuses(&r, &g, ALL_NULL);
    json_t *e0 = json_array_get(json_object_get(r.json, "entries"), 0);
    assert_string_equal(jstr(e0, "given_name"), "Person00");
    assert_string_equal(jstr(e0, "family_name"), "Regtripa");
    assert_string_equal(jstr(e0, "enrolment_status"), "enrolled");
    assert_true(json_is_null(json_object_get(e0, "preferred_name")));
    cbt_resp_free(&r);

    /* Take the register in one request; the reply is the register. */
    first_statuses(want);
    put_register(&G.lead, &g, 0, want, &r);
    expect_statuses(&r, &g, want);
    for (int i = 0; i < NP; i++) {
        snprintf(
            ids[i], 40, "%s",
            jstr(json_array_get(json_object_get(r.json, "entries"), (size_t)i), "attendance_id"));
    }
    cbt_resp_free(&r);
    get_register(&G.lead, &g, 0, &r);
    expect_statuses(&r, &g, want);
    cbt_resp_free(&r);
    assert_int_equal(attendance_count(&g), NP);

    /* Replaying the same register changes nothing and adds no rows. */
    put_register(&G.lead, &g, 0, want, &r);
    expect_statuses(&r, &g, want);
    for (int i = 0; i < NP; i++) {
        assert_string_equal(
            jstr(json_array_get(json_object_get(r.json, "entries"), (size_t)i), "attendance_id"),
            ids[i]);
    }
    cbt_resp_free(&r);
    assert_int_equal(attendance_count(&g), NP);

    /* Changing one person's status updates their row in place. */
    const char *one[NP] = {NULL};
    one[3] = "absent";
    put_register(&G.lead, &g, 0, one, &r);
    want[3] = "absent";
    expect_statuses(&r, &g, want);
    assert_string_equal(
        jstr(json_array_get(json_object_get(r.json, "entries"), 3), "attendance_id"), ids[3]);
    cbt_resp_free(&r);
    assert_int_equal(attendance_count(&g), NP);
    /* Ids are canonical lower case everywhere: an upper-case spelling is refused,
     * naming the entry, and changes nothing. */
    char upper[40], path[160];
    for (size_t i = 0; i < sizeof(upper); i++) {
        upper[i] = (char)toupper((unsigned char)g.pids[3][i]);
    }
    register_path(g.sessions[0], path, sizeof(path));
    rqj(&G.lead, "PUT", path,
        json_pack("{s:[{s:s, s:s}]}", "entries", "participant_id", upper, "status", "absent"), &r);
    expect_status(&r, 400, "upper-case id");
    assert_string_equal(cbt_jstr(&r, "error.field"), "entries[0].participant_id");
    cbt_resp_free(&r);
    assert_int_equal(attendance_count(&g), NP);
    snprintf(path, sizeof(path), "/api/attendance/%s", ids[3]);
    rq(&G.lead, "GET", path, NULL, &r);
    expect_status(&r, 200, "generic attendance read");
    assert_string_equal(cbt_jstr(&r, "status"), "absent");
    assert_string_equal(cbt_jstr(&r, "programme_id"), g.prog);
    assert_string_equal(cbt_jstr(&r, "team"), "prestwich");
    assert_non_null(cbt_jstr(&r, "recorded_by"));
    cbt_resp_free(&r);

    /* Each write is audited once with the person; replays wrote nothing. */
    assert_int_equal(audit_count("SELECT count(*) FROM audit_events WHERE action = "
                                 "'attendance.create' AND participant_id = ?1 AND entity_id = ?2",
                                 g.pids[3], ids[3]),
                     1);
    assert_int_equal(audit_count("SELECT count(*) FROM audit_events WHERE action = "
                                 "'attendance.update' AND participant_id = ?1 AND entity_id = ?2",
                                 g.pids[3], ids[3]),
                     1);
    assert_int_equal(audit_count("SELECT count(*) FROM audit_events WHERE action = "
                                 "'attendance.update' AND participant_id = ?1",
                                 g.pids[0], NULL),
                     0);
    assert_true(audit_count("SELECT count(*) FROM audit_events WHERE action = "
                            "'group_session.register_read' AND entity_id = ?1",
                            g.sessions[0], NULL) >= 2);

    /* Another session's register is separate. */
    get_register(&G.lead, &g, 1, &r);
    expect_statuses(&r, &g, ALL_NULL);
    cbt_resp_free(&r);
}

static void test_register_validation(void **state)
{
    (void)state;
    struct group g;
    struct cbt_resp r;
    char path[160];
    make_group("Regcheck", "2026-09-02T09:30:00Z", 2, &g);
    register_path(g.sessions[0], path, sizeof(path));
    const char *all[NP];
    for (int i = 0; i < NP; i++) {
        all[i] = "attended";
    }

    /* A person who is not enrolled, an invalid status, a duplicate. */
    json_t *b = register_body(&g, all);
    json_object_set_new(json_array_get(json_object_get(b, "entries"), 3), "participant_id",
                        json_string(g.outsider));
    send_expect_error(&G.lead, "PUT", path, b, 400, "entries[3].participant_id", "not enrolled");
    b = register_body(&g, all);
    json_object_set_new(json_array_get(json_object_get(b, "entries"), 2), "status",
                        json_string("late"));
    send_expect_error(&G.lead, "PUT", path, b, 400, "entries[2].status", "invalid status");
    b = register_body(&g, all);
    json_object_set_new(json_array_get(json_object_get(b, "entries"), 2), "status", json_null());
    send_expect_error(&G.lead, "PUT", path, b, 400, "entries[2].status", "null status");
    b = register_body(&g, all);
    json_object_set_new(json_array_get(json_object_get(b, "entries"), 5), "participant_id",
                        json_string(g.pids[1]));
    send_expect_error(&G.lead, "PUT", path, b, 400, "entries[5].participant_id", "duplicate");
    b = register_body(&g, all);
    json_object_set_new(json_array_get(json_object_get(b, "entries"), 0), "participant_id",
                        json_string("01890000-0000-7000-8000-000000000000"));
    send_expect_error(&G.lead, "PUT", path, b, 400, "entries[0].participant_id", "unknown id");
    b = register_body(&g, all);
    json_object_set_new(json_array_get(json_object_get(b, "entries"), 0), "participant_id",
                        json_string("not-a-uuid"));
    send_expect_error(&G.lead, "PUT", path, b, 400, "entries[0].participant_id", "bad uuid");
    b = register_body(&g, all);
    json_object_set_new(json_array_get(json_object_get(b, "entries"), 1), "note", json_string("x"));
    send_expect_error(&G.lead, "PUT", path, b, 400, "entries[1].note", "unknown entry key");
    b = register_body(&g, all);
    json_object_set_new(b, "session_id", json_string(g.sessions[0]));
    send_expect_error(&G.lead, "PUT", path, b, 400, "session_id", "unknown top key");
    send_expect_error(&G.lead, "PUT", path, json_pack("{s:[]}", "entries"), 400, "entries",
                      "no entries");
    send_expect_error(&G.lead, "PUT", path, json_pack("{s:s}", "entries", "all"), 400, "entries",
                      "entries not a list");
    json_t *many = json_array();
    for (int i = 0; i < 201; i++) {
        json_array_append_new(
            many, json_pack("{s:s, s:s}", "participant_id", g.pids[0], "status", "attended"));
    }
    send_expect_error(&G.lead, "PUT", path, json_pack("{s:o}", "entries", many), 400, "entries",
                      "201 entries");
    send_expect_error(&G.lead, "PUT",
                      "/api/group-sessions/01890000-0000-7000-8000-000000000000/register",
                      register_body(&g, all), 404, NULL, "unknown session");
    send_expect_error(&G.lead, "GET",
                      "/api/group-sessions/01890000-0000-7000-8000-000000000000/register", NULL,
                      404, NULL, "unknown session GET");
    assert_int_equal(attendance_count(&g), 0);

    /* A withdrawn person leaves the register (and cannot be marked) ... */
    char epath[160];
    snprintf(epath, sizeof(epath), "/api/enrolments/%s", g.enrolments[14]);
    rqj(&G.lead, "PATCH", epath, json_pack("{s:s}", "status", "withdrawn"), &r);
    expect_status(&r, 200, "withdraw");
    cbt_resp_free(&r);
    get_register(&G.lead, &g, 0, &r);
    assert_int_equal(json_array_size(json_object_get(r.json, "entries")), NP - 1);
    cbt_resp_free(&r);
    send_expect_error(&G.lead, "PUT", path, register_body(&g, all), 400,
                      "entries[14].participant_id", "withdrawn");
    /* ... unless their attendance at that session was already recorded. */
    rqj(&G.lead, "PATCH", epath, json_pack("{s:s}", "status", "enrolled"), &r);
    expect_status(&r, 200, "re-enrol");
    cbt_resp_free(&r);
    put_register(&G.lead, &g, 0, all, &r);
    cbt_resp_free(&r);
    rqj(&G.lead, "PATCH", epath, json_pack("{s:s}", "status", "withdrawn"), &r);
    cbt_resp_free(&r);
    get_register(&G.lead, &g, 0, &r);
    json_t *last = json_array_get(json_object_get(r.json, "entries"), NP - 1);
    assert_string_equal(jstr(last, "participant_id"), g.pids[14]);
    assert_string_equal(jstr(last, "enrolment_status"), "withdrawn");
    assert_string_equal(jstr(last, "status"), "attended");
    cbt_resp_free(&r);
    get_register(&G.lead, &g, 1, &r);
    assert_int_equal(json_array_size(json_object_get(r.json, "entries")), NP - 1);
    cbt_resp_free(&r);
}

static void test_register_all_or_nothing(void **state)
{
    (void)state;
    struct group g;
    struct cbt_resp r;
    char path[160];
    make_group("Regatomic", "2026-09-03T09:30:00Z", 2, &g);
    register_path(g.sessions[1], path, sizeof(path));
    const char *all[NP];
    for (int i = 0; i < NP; i++) {
        all[i] = i % 2 ? "absent" : "attended";
    }
    /* A bad entry in the middle: the 7 valid entries before it are not written. */
    json_t *b = register_body(&g, all);
    json_object_set_new(json_array_get(json_object_get(b, "entries"), 7), "participant_id",
                        json_string(g.outsider));
    send_expect_error(&G.lead, "PUT", path, b, 400, "entries[7].participant_id",
                      "outsider in the middle");
    b = register_body(&g, all);
    json_object_set_new(json_array_get(json_object_get(b, "entries"), 10), "status",
                        json_string("present"));
    send_expect_error(&G.lead, "PUT", path, b, 400, "entries[10].status", "bad status late on");
    get_register(&G.lead, &g, 1, &r);
    expect_statuses(&r, &g, ALL_NULL);
    cbt_resp_free(&r);
    assert_int_equal(attendance_count(&g), 0);

    /* Also when some people already have marks: a failed update changes none of them. */
    put_register(&G.lead, &g, 1, all, &r);
    cbt_resp_free(&r);
    const char *flipped[NP];
    for (int i = 0; i < NP; i++) {
        flipped[i] = i % 2 ? "attended" : "absent";
    }
    b = register_body(&g, flipped);
    json_object_set_new(json_array_get(json_object_get(b, "entries"), 12), "status",
                        json_string("gone"));
    send_expect_error(&G.lead, "PUT", path, b, 400, "entries[12].status", "bad status on update");
    get_register(&G.lead, &g, 1, &r);
    expect_statuses(&r, &g, all);
    cbt_resp_free(&r);
    assert_int_equal(attendance_count(&g), NP);
}

/* ---------------------------------------------------------------- follow-ups */

/* GET follow-ups; expect the participants (indexes into g.pids) in order. */
static void expect_follow_ups(const struct group *g, const int *who, size_t n, struct cbt_resp *r)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/programmes/%s/follow-ups", g->prog);
    rq(&G.lead, "GET", path, NULL, r);
    expect_status(r, 200, "follow-ups");
    json_t *items = items_of(r);
    if (json_array_size(items) != n) {
        fail_msg("want %zu follow-ups, got %.600s", n, r->body);
    }
    for (size_t i = 0; i < n; i++) {
        const char *pid = jstr(json_array_get(items, i), "participant_id");
        if (!pid || strcmp(pid, g->pids[who[i]]) != 0) {
            fail_msg("follow-up %zu is not person %d: %.600s", i, who[i], r->body);
        }
    }
}

static long jint(const json_t *items, size_t i, const char *key)
{
    return (long)json_integer_value(json_object_get(json_array_get(items, i), key));
}

static void test_follow_ups(void **state)
{
    (void)state;
    struct group g;
    struct cbt_resp r;
    make_group("Follow", "2026-09-07T13:00:00Z", 4, &g);

    /* No register taken yet: nobody to follow up. */
    expect_follow_ups(&g, NULL, 0, &r);
    cbt_resp_free(&r);

    const char *s1[NP], *s2[NP], *s3[NP];
    for (int i = 0; i < NP; i++) {
        s1[i] = s2[i] = s3[i] = "attended";
    }
    s1[0] = s1[1] = s1[3] = "absent";
    s1[2] = "apologies";
    s2[0] = s2[4] = "absent";
    s2[2] = s2[3] = "apologies";
    put_register(&G.lead, &g, 0, s1, &r);
    cbt_resp_free(&r);
    put_register(&G.lead, &g, 1, s2, &r);
    cbt_resp_free(&r);

    /* Person 0 missed both; person 4 missed the latest.  Person 1 missed one and came
     * back, 2 sent apologies twice, 3 missed one then sent apologies: not listed. */
    const int want2[] = {0, 4};
    expect_follow_ups(&g, want2, 2, &r);
    json_t *items = items_of(&r);
    json_t *p0 = json_array_get(items, 0), *p4 = json_array_get(items, 1);
    assert_int_equal(jint(items, 0, "missed_count"), 2);
    assert_int_equal(jint(items, 0, "consecutive_missed"), 2);
    assert_string_equal(jstr(p0, "last_missed_at"), g.starts[1]);
    assert_true(json_is_null(json_object_get(p0, "last_attended_at")));
    assert_string_equal(jstr(p0, "given_name"), "Person00");
    assert_string_equal(jstr(p0, "family_name"), "Followa");
    assert_non_null(json_object_get(p0, "preferred_name"));
    assert_int_equal(jint(items, 1, "missed_count"), 1);
    assert_int_equal(jint(items, 1, "consecutive_missed"), 1);
    assert_string_equal(jstr(p4, "last_missed_at"), g.starts[1]);
    assert_string_equal(jstr(p4, "last_attended_at"), g.starts[0]);
    cbt_resp_free(&r);

    /* Third session: 0 comes back, 4 misses again, 3 misses a second time. */
    s3[4] = s3[3] = "absent";
    put_register(&G.lead, &g, 2, s3, &r);
    cbt_resp_free(&r);
    const int want3[] = {4, 3, 0};
    expect_follow_ups(&g, want3, 3, &r);
    items = items_of(&r);
    assert_int_equal(jint(items, 0, "consecutive_missed"), 2);
    assert_int_equal(jint(items, 0, "missed_count"), 2);
    assert_int_equal(jint(items, 1, "consecutive_missed"), 1);
    assert_int_equal(jint(items, 1, "missed_count"), 2);
    assert_int_equal(jint(items, 2, "consecutive_missed"), 0);
    assert_int_equal(jint(items, 2, "missed_count"), 2);
    assert_string_equal(jstr(json_array_get(items, 2), "last_attended_at"), g.starts[2]);
    cbt_resp_free(&r);

    /* Only people still enrolled are listed. */
    char epath[160];
    snprintf(epath, sizeof(epath), "/api/enrolments/%s", g.enrolments[4]);
    rqj(&G.lead, "PATCH", epath, json_pack("{s:s}", "status", "withdrawn"), &r);
    expect_status(&r, 200, "withdraw");
    cbt_resp_free(&r);
    const int want4[] = {3, 0};
    expect_follow_ups(&g, want4, 2, &r);
    cbt_resp_free(&r);
}

/* ---------------------------------------------------------------- timeline */

static void test_timeline(void **state)
{
    (void)state;
    char pid[40], prog[40], enr[40], id[40], goal[40], path[200], when[40], day[16];
    struct cbt_resp r;
    create_participant(&G.lead, "Tilly", "Timeline", NULL, pid);

    /* Attendance at a session yesterday. */
    create_programme(&G.lead, "Timeline walking group", 1, prog);
    snprintf(path, sizeof(path), "/api/programmes/%s/schedule", prog);
    iso_offset(-86400, when);
    rqj(&G.lead, "POST", path, json_pack("{s:s}", "first_session_at", when), &r);
    expect_status(&r, 201, "schedule one");
    char session[40];
    snprintf(session, sizeof(session), "%s", jstr(json_array_get(items_of(&r), 0), "id"));
    cbt_resp_free(&r);
    enrol(&G.lead, pid, prog, enr);
    register_path(session, path, sizeof(path));
    rqj(&G.lead, "PUT", path,
        json_pack("{s:[{s:s, s:s}]}", "entries", "participant_id", pid, "status", "attended"), &r);
    expect_status(&r, 200, "register one");
    cbt_resp_free(&r);

    /* A measure two days ago, a contact three days ago with long notes. */
    iso_offset(-2 * 86400, when);
    create(&G.lead, "/api/measures",
           json_pack("{s:s, s:s, s:s, s:s, s:{s:i}}", "participant_id", pid, "instrument", "tug",
                     "timepoint", "baseline", "taken_at", when, "responses", "seconds", 14),
           id);
    char notes[301];
    memset(notes, 'n', 300);
    notes[300] = '\0';
    iso_offset(-3 * 86400, when);
    create(&G.lead, "/api/encounters",
           json_pack("{s:s, s:s, s:s, s:s}", "participant_id", pid, "type", "one_to_one",
                     "occurred_at", when, "notes", notes),
           id);
    /* A goal agreed five days ago, reviewed four days ago; a referral six days ago. */
    date_offset(-5, day);
    create(&G.lead, "/api/goals",
           json_pack("{s:s, s:s, s:s, s:s}", "participant_id", pid, "text",
                     "Walk to the shops twice a week", "topic", "physical_activity", "agreed_date",
                     day),
           goal);
    date_offset(-4, day);
    create(&G.lead, "/api/goal-reviews",
           json_pack("{s:s, s:s, s:s}", "goal_id", goal, "reviewed_on", day, "status",
                     "partly_achieved"),
           id);
    date_offset(-6, day);
    create(&G.lead, "/api/referrals",
           json_pack("{s:s, s:s, s:s}", "participant_id", pid, "destination", "exercise_referral",
                     "sent_date", day),
           id);

    snprintf(path, sizeof(path), "/api/participants/%s/timeline", pid);
    rq(&G.lead, "GET", path, NULL, &r);
    expect_status(&r, 200, "timeline");
    json_t *items = items_of(&r);
    static const char *const kinds[] = {"attendance",  "measure", "encounter",
                                        "goal_review", "goal",    "referral"};
    if (json_array_size(items) != 6) {
        fail_msg("want 6 timeline items: %.800s", r.body);
    }
    for (size_t i = 0; i < 6; i++) {
        json_t *it = json_array_get(items, i);
        if (strcmp(jstr(it, "kind"), kinds[i]) != 0) {
            fail_msg("timeline item %zu is %s, want %s: %.800s", i, jstr(it, "kind"), kinds[i],
                     r.body);
        }
        assert_non_null(jstr(it, "at"));
        assert_int_equal(strlen(jstr(it, "id")), 36);
        if (i > 0) {
            assert_true(strcmp(jstr(json_array_get(items, i - 1), "at"), jstr(it, "at")) >= 0);
        }
    }
    json_t *att = json_array_get(items, 0);
    assert_string_equal(jstr(att, "programme_name"), "Timeline walking group");
    assert_int_equal(json_integer_value(json_object_get(att, "session_number")), 1);
    assert_string_equal(jstr(att, "starts_at"), jstr(att, "at"));
    assert_string_equal(jstr(att, "status"), "attended");
    json_t *m = json_array_get(items, 1);
    assert_string_equal(jstr(m, "instrument"), "tug");
    assert_string_equal(jstr(m, "timepoint"), "baseline");
    assert_true(json_number_value(json_object_get(m, "score")) > 13.9);
    assert_non_null(jstr(m, "band"));
    json_t *enc = json_array_get(items, 2);
    assert_string_equal(jstr(enc, "type"), "one_to_one");
    assert_int_equal(strlen(jstr(enc, "notes_excerpt")), 200);
    assert_string_equal(jstr(json_array_get(items, 3), "status"), "partly_achieved");
    assert_string_equal(jstr(json_array_get(items, 4), "topic"), "physical_activity");
    assert_string_equal(jstr(json_array_get(items, 5), "destination"), "exercise_referral");
    assert_true(json_is_false(json_object_get(r.json, "truncated")));
    cbt_resp_free(&r);

    /* The read is audited with the person. */
    assert_true(audit_count("SELECT count(*) FROM audit_events WHERE action = "
                            "'participant.timeline' AND participant_id = ?1 AND outcome = 'ok'",
                            pid, NULL) >= 1);
    /* A manager sees it; an admin does not; unknown ids are 404. */
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, "manager timeline");
    assert_int_equal(json_array_size(items_of(&r)), 6);
    cbt_resp_free(&r);
    send_expect_error(&G.adm, "GET", path, NULL, 403, NULL, "admin timeline");
    send_expect_error(&G.lead, "GET",
                      "/api/participants/01890000-0000-7000-8000-000000000000/timeline", NULL, 404,
                      NULL, "unknown participant");
    send_expect_error(&G.lead, "GET", "/api/participants/x/timeline", NULL, 404, NULL,
                      "malformed participant id");
}

/* ---------------------------------------------------------------- access */

static void test_cross_team(void **state)
{
    (void)state;
    struct group g;
    struct cbt_resp r;
    char path[200];
    make_group("Crossteam", "2026-09-08T09:30:00Z", 2, &g);
    const char *all[NP];
    for (int i = 0; i < NP; i++) {
        all[i] = "absent";
    }

    /* A coach of another team: every route is a 404, as if nothing existed. */
    register_path(g.sessions[0], path, sizeof(path));
    send_expect_error(&G.other, "GET", path, NULL, 404, NULL, "other team GET register");
    send_expect_error(&G.other, "PUT", path, register_body(&g, all), 404, NULL,
                      "other team PUT register");
    assert_int_equal(attendance_count(&g), 0);
    snprintf(path, sizeof(path), "/api/programmes/%s/schedule", g.prog);
    send_expect_error(&G.other, "POST", path,
                      json_pack("{s:s}", "first_session_at", "2026-10-01T09:00:00Z"), 404, NULL,
                      "other team schedule");
    snprintf(path, sizeof(path), "/api/programmes/%s/group-sessions", g.prog);
    rq(&G.lead, "GET", path, NULL, &r);
    assert_int_equal(json_array_size(items_of(&r)), 2);
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/programmes/%s/follow-ups", g.prog);
    send_expect_error(&G.other, "GET", path, NULL, 404, NULL, "other team follow-ups");
    snprintf(path, sizeof(path), "/api/participants/%s/timeline", g.pids[0]);
    send_expect_error(&G.other, "GET", path, NULL, 404, NULL, "other team timeline");
    assert_true(audit_count("SELECT count(*) FROM audit_events WHERE action = "
                            "'participant.timeline' AND participant_id = ?1 AND outcome = "
                            "'denied'",
                            g.pids[0], NULL) >= 1);
    assert_true(audit_count("SELECT count(*) FROM audit_events WHERE entity_id = ?1 AND "
                            "outcome = 'denied'",
                            g.sessions[0], NULL) >= 2);

    /* Admins: no participant data.  Managers: every team. */
    register_path(g.sessions[0], path, sizeof(path));
    send_expect_error(&G.adm, "GET", path, NULL, 403, NULL, "admin register");
    send_expect_error(&G.adm, "PUT", path, register_body(&g, all), 403, NULL, "admin PUT register");
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, "manager register");
    expect_statuses(&r, &g, ALL_NULL);
    cbt_resp_free(&r);

    /* Per record: a person of another team enrolled by a manager is not on the
     * lead's register and cannot be marked by the lead; the manager sees them. */
    char stranger[40], enr[40];
    create_participant(&G.other, "Stella", "Crossteamzz", "radcliffe", stranger);
    enrol(&G.mgr, stranger, g.prog, enr);
    get_register(&G.lead, &g, 0, &r);
    expect_statuses(&r, &g, ALL_NULL); /* exactly the NP of the lead's team */
    cbt_resp_free(&r);
    rqj(&G.lead, "PUT", path,
        json_pack("{s:[{s:s, s:s}]}", "entries", "participant_id", stranger, "status", "attended"),
        &r);
    expect_error(&r, 400, "entries[0].participant_id", "lead marks another team's person");
    cbt_resp_free(&r);
    rqj(&G.mgr, "PUT", path,
        json_pack("{s:[{s:s, s:s}]}", "entries", "participant_id", stranger, "status", "absent"),
        &r);
    expect_status(&r, 200, "manager marks them");
    assert_int_equal(json_array_size(json_object_get(r.json, "entries")), NP + 1);
    cbt_resp_free(&r);
    rqj(&G.mgr, "PUT", path,
        json_pack("{s:[{s:s, s:s}]}", "entries", "participant_id", stranger, "status", "absent"),
        &r);
    cbt_resp_free(&r);
    get_register(&G.lead, &g, 0, &r);
    expect_statuses(&r, &g, ALL_NULL);
    cbt_resp_free(&r);
    /* Their absences make them a follow-up for the manager, not for the lead. */
    register_path(g.sessions[1], path, sizeof(path));
    rqj(&G.mgr, "PUT", path,
        json_pack("{s:[{s:s, s:s}]}", "entries", "participant_id", stranger, "status", "absent"),
        &r);
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/programmes/%s/follow-ups", g.prog);
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, "manager follow-ups");
    assert_int_equal(json_array_size(items_of(&r)), 1);
    cbt_resp_free(&r);
    rq(&G.lead, "GET", path, NULL, &r);
    expect_status(&r, 200, "lead follow-ups");
    assert_int_equal(json_array_size(items_of(&r)), 0);
    cbt_resp_free(&r);
}

static void test_session_and_csrf(void **state)
{
    (void)state;
    struct group g;
    struct cbt_client anon;
    struct cbt_resp r;
    char reg[160], sched[160], fu[160], tl[160];
    make_group("Authcheck", "2026-09-09T09:30:00Z", 1, &g);
    register_path(g.sessions[0], reg, sizeof(reg));
    snprintf(sched, sizeof(sched), "/api/programmes/%s/schedule", g.prog);
    snprintf(fu, sizeof(fu), "/api/programmes/%s/follow-ups", g.prog);
    snprintf(tl, sizeof(tl), "/api/participants/%s/timeline", g.pids[0]);
    const char *all[NP];
    for (int i = 0; i < NP; i++) {
        all[i] = "attended";
    }

    /* No session: 401 everywhere. */
    assert_int_equal(cbt_client_init(&anon, G.srv.url), 0);
    send_expect_error(&anon, "GET", reg, NULL, 401, NULL, "anon GET register");
    send_expect_error(&anon, "PUT", reg, register_body(&g, all), 401, NULL, "anon PUT register");
    send_expect_error(&anon, "POST", sched,
                      json_pack("{s:s}", "first_session_at", "2026-10-01T09:00:00Z"), 401, NULL,
                      "anon schedule");
    send_expect_error(&anon, "GET", fu, NULL, 401, NULL, "anon follow-ups");
    send_expect_error(&anon, "GET", tl, NULL, 401, NULL, "anon timeline");
    cbt_client_free(&anon);

    /* Signed in but without the CSRF header: writes are 403 and write nothing. */
    char saved[sizeof(G.lead.csrf)];
    memcpy(saved, G.lead.csrf, sizeof(saved));
    G.lead.csrf[0] = '\0';
    send_expect_error(&G.lead, "PUT", reg, register_body(&g, all), 403, "X-CSRF-Token",
                      "PUT register without CSRF");
    send_expect_error(&G.lead, "POST", sched,
                      json_pack("{s:s}", "first_session_at", "2026-10-01T09:00:00Z"), 403,
                      "X-CSRF-Token", "schedule without CSRF");
    memcpy(G.lead.csrf, saved, sizeof(saved));
    assert_int_equal(attendance_count(&g), 0);
    snprintf(sched, sizeof(sched), "/api/programmes/%s/group-sessions", g.prog);
    rq(&G.lead, "GET", sched, NULL, &r);
    assert_int_equal(json_array_size(items_of(&r)), 1);
    cbt_resp_free(&r);

    /* A wrong method on a register is a 405 naming the allowed ones. */
    rq(&G.lead, "DELETE", reg, NULL, &r);
    expect_status(&r, 405, "DELETE register");
    cbt_resp_free(&r);
}

/* ---------------------------------------------------------- review F31-F40 */

/* F31: attendance only for someone enrolled (enrolled or completed) in the programme. */
static void test_attendance_needs_enrolment(void **state)
{
    (void)state;
    struct group g;
    char id[40], path[160];
    make_group("Fthirtyone", "2026-09-01T10:00:00Z", 2, &g);
    send_expect_error(&G.lead, "POST", "/api/attendance",
                      json_pack("{s:s, s:s, s:s}", "participant_id", g.outsider, "session_id",
                                g.sessions[0], "status", "attended"),
                      400, "participant_id", "attendance of someone not enrolled");
    /* A withdrawn enrolment does not count either; the register says the same. */
    snprintf(path, sizeof(path), "/api/enrolments/%s", g.enrolments[1]);
    struct cbt_resp r;
    rqj(&G.lead, "PATCH", path, json_pack("{s:s}", "status", "withdrawn"), &r);
    expect_status(&r, 200, "withdraw");
    cbt_resp_free(&r);
    send_expect_error(&G.lead, "POST", "/api/attendance",
                      json_pack("{s:s, s:s, s:s}", "participant_id", g.pids[1], "session_id",
                                g.sessions[0], "status", "attended"),
                      400, "participant_id", "attendance of someone withdrawn");
    assert_int_equal(attendance_count(&g), 0);
    create(&G.lead, "/api/attendance",
           json_pack("{s:s, s:s, s:s}", "participant_id", g.pids[0], "session_id", g.sessions[0],
                     "status", "attended"),
           id);
    assert_int_equal(attendance_count(&g), 1);
}

/* total.group_attendance.attended of prestwich's outcomes for sessions on 2025-03-04. */
static long attended_on_day(void)
{
    struct cbt_resp r;
    rq(&G.mgr, "GET", "/api/reports/outcomes?from=2025-03-04&to=2025-03-04&team=prestwich", NULL,
       &r);
    expect_status(&r, 200, "outcomes");
    json_t *v = json_object_get(
        json_object_get(json_object_get(r.json, "total"), "group_attendance"), "attended");
    long n = json_is_integer(v) ? (long)json_integer_value(v) : -1;
    cbt_resp_free(&r);
    return n;
}

/* GET path as the lead and expect status. */
static void expect_get(const char *path, long status)
{
    struct cbt_resp r;
    rq(&G.lead, "GET", path, NULL, &r);
    expect_status(&r, status, path);
    cbt_resp_free(&r);
}

/* Number of items of a participant's list (GET /api/participants/{pid}/kind). */
static size_t person_count(const char *pid, const char *kind)
{
    char path[200];
    struct cbt_resp r;
    snprintf(path, sizeof(path), "/api/participants/%s/%s", pid, kind);
    rq(&G.lead, "GET", path, NULL, &r);
    expect_status(&r, 200, path);
    size_t n = json_array_size(items_of(&r));
    cbt_resp_free(&r);
    return n;
}

/* Number of attendance items in the person's timeline. */
static size_t timeline_attendance(const char *pid)
{
    char path[200];
    struct cbt_resp r;
    snprintf(path, sizeof(path), "/api/participants/%s/timeline", pid);
    rq(&G.lead, "GET", path, NULL, &r);
    expect_status(&r, 200, path);
    size_t n = 0, i;
    json_t *it;
    json_array_foreach(items_of(&r), i, it)
    {
        n += jstr(it, "kind") && strcmp(jstr(it, "kind"), "attendance") == 0;
    }
    cbt_resp_free(&r);
    return n;
}

/* F32: deleting a programme takes its sessions, enrolments and attendance with it; deleting
 * a session its attendance. */
static void test_delete_programme_cascades(void **state)
{
    (void)state;
    struct group g;
    char path[200];
    struct cbt_resp r;
    long before = attended_on_day();
    make_group("Fthirtytwo", "2025-03-04T10:00:00Z", 2, &g);
    const char *st[NP] = {"attended", "attended", "absent"};
    put_register(&G.lead, &g, 0, st, &r);
    cbt_resp_free(&r);
    put_register(&G.lead, &g, 1, st, &r);
    cbt_resp_free(&r);
    assert_int_equal(attended_on_day(), before + 2);
    assert_int_equal(timeline_attendance(g.pids[0]), 2);
    /* Deleting the second session tombstones its attendance. */
    snprintf(path, sizeof(path), "/api/group-sessions/%s", g.sessions[1]);
    rq(&G.lead, "DELETE", path, NULL, &r);
    expect_status(&r, 200, "delete session");
    cbt_resp_free(&r);
    assert_int_equal(attendance_count(&g), 3);
    assert_int_equal(timeline_attendance(g.pids[0]), 1);
    /* Deleting the programme tombstones the rest. */
    snprintf(path, sizeof(path), "/api/programmes/%s", g.prog);
    rq(&G.lead, "DELETE", path, NULL, &r);
    expect_status(&r, 200, "delete programme");
    cbt_resp_free(&r);
    assert_int_equal(person_count(g.pids[0], "enrolments"), 0);
    assert_int_equal(person_count(g.pids[0], "attendance"), 0);
    assert_int_equal(timeline_attendance(g.pids[0]), 0);
    snprintf(path, sizeof(path), "/api/enrolments/%s", g.enrolments[0]);
    expect_get(path, 404);
    snprintf(path, sizeof(path), "/api/group-sessions/%s", g.sessions[0]);
    expect_get(path, 404);
    assert_int_equal(attended_on_day(), before);
    assert_int_equal(audit_count("SELECT count(*) FROM attendance WHERE programme_id = ?1 AND "
                                 "deleted = 0",
                                 g.prog, NULL),
                     0);
}

/* F33: a programme moved to another team takes its sessions along. */
static void test_programme_move_takes_sessions(void **state)
{
    (void)state;
    char prog[40], path[200];
    struct cbt_resp r;
    create_programme(&G.lead, "Fthirtythree", 2, prog);
    snprintf(path, sizeof(path), "/api/programmes/%s/schedule", prog);
    rqj(&G.lead, "POST", path,
        json_pack("{s:s, s:i}", "first_session_at", "2026-09-02T10:00:00Z", "count", 2), &r);
    expect_status(&r, 201, "schedule");
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/programmes/%s", prog);
    rqj(&G.mgr, "PATCH", path, json_pack("{s:s}", "team", "radcliffe"), &r);
    expect_status(&r, 200, "move programme");
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/programmes/%s/group-sessions", prog);
    rq(&G.other, "GET", path, NULL, &r);
    expect_status(&r, 200, "sessions of the moved programme");
    assert_int_equal(json_array_size(items_of(&r)), 2);
    assert_string_equal(jstr(json_array_get(items_of(&r), 0), "team"), "radcliffe");
    cbt_resp_free(&r);
    assert_int_equal(audit_count("SELECT count(*) FROM group_sessions WHERE programme_id = ?1 "
                                 "AND team = 'prestwich'",
                                 prog, NULL),
                     0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_register_roundtrip),
        cmocka_unit_test(test_register_validation),
        cmocka_unit_test(test_register_all_or_nothing),
        cmocka_unit_test(test_follow_ups),
        cmocka_unit_test(test_timeline),
        cmocka_unit_test(test_cross_team),
        cmocka_unit_test(test_session_and_csrf),
        cmocka_unit_test(test_attendance_needs_enrolment),
        cmocka_unit_test(test_delete_programme_cascades),
        cmocka_unit_test(test_programme_move_takes_sessions),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return failed || G.teardown_failed;
}
