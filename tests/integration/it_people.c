/*
 * it_people.c - the duplicate check before registering someone and merging
 * (and unmerging) two records of one person, against a real `coachbox serve`.
 *
 * One server for the group; four accounts logged in once each (PBKDF2 makes a
 * login cost ~0.3 s).  Every test uses its own dates of birth so the match
 * checks of one test never see another test's people.  Expected values are
 * worked by hand in the comments next to them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coachbox/people.h"
#include "harness.h"

#define PW "correct-horse-battery-1"

static struct {
    struct cbt_server srv;
    int started;
    struct cbt_client pres, rad, lead, mgr; /* coach prestwich, coach radcliffe, lead, manager */
    char yesterday[16];
    char an_hour_ago[40];
} G;

/* The participant-scoped kinds, as route segments. */
static const char *const KINDS[] = {"encounters",   "consents",  "measures",   "goals",
                                    "goal-reviews", "referrals", "enrolments", "attendance",
                                    "checkins",     NULL};

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
        fail_msg("%s: want HTTP %ld, got %ld: %.600s", what, want, r->status, r->body);
    }
}

/* An error answer with this status and (when field is non-NULL) error.field. */
static void expect_error(const struct cbt_resp *r, long status, const char *field, const char *what)
{
    expect_status(r, status, what);
    if (!cbt_jstr(r, "error.code") || !cbt_jstr(r, "error.message")) {
        fail_msg("%s: no error code/message: %.300s", what, r->body);
    }
    if (field) {
        const char *f = cbt_jstr(r, "error.field");
        if (!f || strcmp(f, field) != 0) {
            fail_msg("%s: error.field %s, want %s: %.300s", what, f ? f : "(null)", field, r->body);
        }
    }
}

/* POST path json (stolen), expect 201, copy the new id. */
static void create(struct cbt_client *c, const char *kind, json_t *json, char id[40])
{
    char path[128];
    struct cbt_resp r;
    snprintf(path, sizeof(path), "/api/%s", kind);
    rqj(c, "POST", path, json, &r);
    expect_status(&r, 201, path);
    const char *v = cbt_jstr(&r, "id");
    assert_non_null(v);
    snprintf(id, 40, "%s", v);
    cbt_resp_free(&r);
}

static void person(struct cbt_client *c, const char *given, const char *family, const char *dob,
                   json_t *extra, char id[40])
{
    json_t *b = json_pack("{s:s, s:s, s:s}", "given_name", given, "family_name", family,
                          "date_of_birth", dob);
    if (extra) {
        json_object_update(b, extra);
        json_decref(extra);
    }
    create(c, "participants", b, id);
}

/* A valid test NHS number 999nnnnnnC, distinct per call. */
static void test_nhs(char out[16])
{
    static unsigned seq = 1000;
    for (;;) {
        char nine[16];
        int sum = 0;
        snprintf(nine, sizeof(nine), "999%06u", seq++ % 1000000u);
        for (int i = 0; i < 9; i++) {
            sum += (nine[i] - '0') * (10 - i);
        }
        int check = 11 - sum % 11;
        if (check == 11) {
            check = 0;
        }
        if (check != 10) {
            memcpy(out, nine, 9);
            out[9] = (char)('0' + check);
            out[10] = '\0';
            return;
        }
    }
}

/* POST /api/participants/matches as c with body (stolen); 200 expected. */
static void matches(struct cbt_client *c, json_t *body, struct cbt_resp *r)
{
    rqj(c, "POST", "/api/participants/matches", body, r);
    expect_status(r, 200, "matches");
    assert_true(json_is_array(json_object_get(r->json, "matches")));
    assert_true(json_is_integer(json_object_get(r->json, "other_teams")));
}

static json_t *name_dob(const char *given, const char *family, const char *dob)
{
    return json_pack("{s:s, s:s, s:s}", "given_name", given, "family_name", family, "date_of_birth",
                     dob);
}

static size_t n_matches(const struct cbt_resp *r)
{
    return json_array_size(json_object_get(r->json, "matches"));
}

static long other_teams(const struct cbt_resp *r)
{
    return (long)json_integer_value(json_object_get(r->json, "other_teams"));
}

/* The match for participant id, or NULL. */
static json_t *match_for(const struct cbt_resp *r, const char *id)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(r->json, "matches"), i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "id")), id) == 0) {
            return m;
        }
    }
    return NULL;
}

/* The reasons of match m joined with ',' (e.g. "same_nhs_number,same_dob_similar_name"). */
static void reasons_of(const json_t *m, char *out, size_t len)
{
    size_t i, o = 0;
    json_t *v;
    out[0] = '\0';
    json_array_foreach(json_object_get(m, "reasons"), i, v)
    {
        int w = snprintf(out + o, len - o, "%s%s", i ? "," : "", json_string_value(v));
        o += w > 0 ? (size_t)w : 0;
        if (o >= len) {
            break;
        }
    }
}

/* Exactly one match, participant id, with these reasons. */
static void expect_only_match(const struct cbt_resp *r, const char *id, const char *reasons,
                              const char *what)
{
    char got[256];
    if (n_matches(r) != 1 || !match_for(r, id)) {
        fail_msg("%s: want exactly %s, got %.600s", what, id, r->body);
    }
    reasons_of(match_for(r, id), got, sizeof(got));
    if (strcmp(got, reasons) != 0) {
        fail_msg("%s: reasons %s, want %s", what, got, reasons);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The person's records as one canonical text, kind by kind, each record as
 * "id team participant_id" in id order: two snapshots are equal exactly when
 * the same records sit with the same person in the same team.
 */
static char *snapshot(struct cbt_client *c, const char *pid)
{
    size_t cap = 1 << 16, used = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    for (int k = 0; KINDS[k]; k++) {
        char path[160];
        struct cbt_resp r;
        snprintf(path, sizeof(path), "/api/participants/%s/%s", pid, KINDS[k]);
        rq(c, "GET", path, NULL, &r);
        expect_status(&r, 200, path);
        json_t *items = json_object_get(r.json, "items");
        size_t n = json_array_size(items);
        char **lines = calloc(n + 1, sizeof(char *));
        assert_non_null(lines);
        for (size_t i = 0; i < n; i++) {
            json_t *it = json_array_get(items, i);
            lines[i] = malloc(160);
            assert_non_null(lines[i]);
            snprintf(lines[i], 160, "%s %s %s", json_string_value(json_object_get(it, "id")),
                     json_string_value(json_object_get(it, "team")),
                     json_string_value(json_object_get(it, "participant_id")));
        }
        qsort(lines, n, sizeof(char *), cmp_str);
        int w = snprintf(out + used, cap - used, "%s:", KINDS[k]);
        used += (size_t)w;
        for (size_t i = 0; i < n; i++) {
            w = snprintf(out + used, cap - used, " [%s]", lines[i]);
            used += (size_t)w;
            free(lines[i]);
        }
        w = snprintf(out + used, cap - used, "\n");
        used += (size_t)w;
        assert_true(used < cap);
        free(lines);
        cbt_resp_free(&r);
    }
    return out;
}

/* Number of records of kind listed for pid (as mgr). */
static size_t count_kind(const char *pid, const char *kind)
{
    char path[160];
    struct cbt_resp r;
    snprintf(path, sizeof(path), "/api/participants/%s/%s", pid, kind);
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, path);
    size_t n = json_array_size(json_object_get(r.json, "items"));
    cbt_resp_free(&r);
    return n;
}

/* GET path as c; return the status. */
static long get_status(struct cbt_client *c, const char *path)
{
    struct cbt_resp r;
    rq(c, "GET", path, NULL, &r);
    long st = r.status;
    cbt_resp_free(&r);
    return st;
}

/* POST /api/participants/{dup}/merge {"into": surv} as c. */
static void merge(struct cbt_client *c, const char *dup, const char *surv, struct cbt_resp *r)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/participants/%s/merge", dup);
    rqj(c, "POST", path, json_pack("{s:s}", "into", surv), r);
}

static void undo(struct cbt_client *c, const char *merge_id, struct cbt_resp *r)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/merges/%s/undo", merge_id);
    rq(c, "POST", path, NULL, r);
}

/* Count the entries of the merge's moved list with this table and action. */
static size_t moved_count(const struct cbt_resp *r, const char *table, const char *action)
{
    size_t i, n = 0;
    json_t *e;
    json_array_foreach(json_object_get(json_object_get(r->json, "merge"), "moved"), i, e)
    {
        if ((!table || strcmp(json_string_value(json_object_get(e, "table")), table) == 0) &&
            strcmp(json_string_value(json_object_get(e, "action")), action) == 0) {
            n++;
        }
    }
    return n;
}

/* ------------------------------------------------------------ group setup */

static int group_setup(void **state)
{
    (void)state;
    static const char *const users[][3] = {
        {"pres", "coach", "prestwich"},
        {"rad", "coach", "radcliffe"},
        {"leadp", "lead", "prestwich"},
        {"mgr", "manager", NULL},
    };
    char data[512];
    cbt_tempdir(data, sizeof(data), "itpeople");
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
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
    struct cbt_client *cl[] = {&G.pres, &G.rad, &G.lead, &G.mgr};
    for (size_t i = 0; i < 4; i++) {
        if (cbt_client_init(cl[i], G.srv.url) != 0 || cbt_login(cl[i], users[i][0], PW) != 200) {
            fprintf(stderr, "login of %s failed\n", users[i][0]);
            return -1;
        }
    }
    time_t t = time(NULL);
    struct tm tm;
    time_t y = t - 86400;
    gmtime_r(&y, &tm);
    strftime(G.yesterday, sizeof(G.yesterday), "%Y-%m-%d", &tm);
    time_t h = t - 3600;
    gmtime_r(&h, &tm);
    strftime(G.an_hour_ago, sizeof(G.an_hour_ago), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cbt_client_free(&G.pres);
    cbt_client_free(&G.rad);
    cbt_client_free(&G.lead);
    cbt_client_free(&G.mgr);
    if (G.started) {
        int st = cbt_server_stop(&G.srv);
        if (st != 0) {
            fprintf(stderr, "server exit status %d; log %s kept\n", st, G.srv.log);
            return -1;
        }
        cbt_rmtree(G.srv.data);
        remove(G.srv.log);
    }
    return 0;
}

/* ------------------------------------------------------------ name rules */

static void test_name_rules(void **state)
{
    (void)state;
    /* Smith -> Smyth: one substitution. */
    assert_int_equal(cb_people_levenshtein("Smith", "Smyth", 5), 1);
    /* kitten -> sitting: k->s, e->i, +g = 3. */
    assert_int_equal(cb_people_levenshtein("kitten", "sitting", 5), 3);
    /* Case is folded, also for Latin-1 letters; ë vs e is one code point apart. */
    assert_int_equal(cb_people_levenshtein("SMITH", "smith", 5), 0);
    assert_int_equal(cb_people_levenshtein("\xc3\x9cnal", "\xc3\xbcnal", 5), 0); /* Ünal/ünal */
    assert_int_equal(cb_people_levenshtein("Zo\xc3\xab", "ZOE", 5), 1);
    /* Capped: 6 substitutions with cap 2 report 3. */
    assert_int_equal(cb_people_levenshtein("abcdef", "uvwxyz", 2), 3);

    /* Same family name, any case. */
    assert_true(cb_people_names_similar("Jane", NULL, "SMITH", "John", NULL, "smith"));
    /* Smyth/Smith (distance 1) with the same initial J. */
    assert_true(cb_people_names_similar("Jon", NULL, "Smyth", "John", NULL, "Smith"));
    /* ... but not with another initial. */
    assert_false(cb_people_names_similar("Peter", NULL, "Smyth", "John", NULL, "Smith"));
    /* Smithers vs Smith: distance 3 > 2. */
    assert_false(cb_people_names_similar("John", NULL, "Smithers", "John", NULL, "Smith"));
    /* Given and family swapped. */
    assert_true(cb_people_names_similar("Smith", NULL, "John", "john", NULL, "SMITH"));
    /* Preferred name gives the initial: Beth (B) ~ Elizabeth "Beth" Tailor/Taylor. */
    assert_true(cb_people_names_similar("Beth", NULL, "Tailor", "Elizabeth", "Beth", "Taylor"));
    /* Preferred name in a swap: "Taylor Beth" = Beth Taylor. */
    assert_true(cb_people_names_similar("Taylor", NULL, "Beth", "Elizabeth", "Beth", "Taylor"));
    /* Two short names sharing nothing are not a typo: Li/Wu is distance 2 = their length. */
    assert_false(cb_people_names_similar("Ann", NULL, "Li", "Amy", NULL, "Wu"));
    /* ... a one-letter slip between short names is: Li/Lu. */
    assert_true(cb_people_names_similar("Ann", NULL, "Li", "Amy", NULL, "Lu"));
}

/* ------------------------------------------------------------ matches */

static void test_matches_by_nhs(void **state)
{
    (void)state;
    char nhs[16], spaced[20], p[40];
    struct cbt_resp r;
    test_nhs(nhs);
    person(&G.pres, "Amelia", "Hughes", "1970-01-01", json_pack("{s:s}", "nhs_number", nhs), p);
    /* Different names and date of birth; the NHS number written with spaces. */
    snprintf(spaced, sizeof(spaced), "%.3s %.3s %.4s", nhs, nhs + 3, nhs + 6);
    json_t *b = name_dob("Completely", "Different", "1980-02-02");
    json_object_set_new(b, "nhs_number", json_string(spaced));
    matches(&G.pres, b, &r);
    expect_only_match(&r, p, "same_nhs_number", "NHS match");
    assert_int_equal(other_teams(&r), 0);
    json_t *m = match_for(&r, p);
    assert_string_equal(json_string_value(json_object_get(m, "nhs_number")), nhs);
    assert_string_equal(json_string_value(json_object_get(m, "family_name")), "Hughes");
    assert_string_equal(json_string_value(json_object_get(m, "team")), "prestwich");
    assert_null(json_object_get(m, "phone")); /* a summary, not the whole record */
    cbt_resp_free(&r);

    /* Same NHS number and same date of birth and name: all reasons that hold. */
    b = name_dob("amelia", "HUGHES", "1970-01-01");
    json_object_set_new(b, "nhs_number", json_string(nhs));
    matches(&G.pres, b, &r);
    expect_only_match(&r, p, "same_nhs_number,same_dob_similar_name", "NHS and name");
    cbt_resp_free(&r);
}

static void test_matches_by_dob_and_name(void **state)
{
    (void)state;
    char john[40], beth[40];
    struct cbt_resp r;
    person(&G.pres, "John", "Smith", "1955-06-15", NULL, john);
    person(&G.pres, "Elizabeth", "Taylor", "1955-06-16",
           json_pack("{s:s}", "preferred_name", "Beth"), beth);

    matches(&G.pres, name_dob("Jon", "Smyth", "1955-06-15"), &r); /* typo, initial J */
    expect_only_match(&r, john, "same_dob_similar_name", "Smyth typo");
    cbt_resp_free(&r);
    matches(&G.pres, name_dob("jane", "SMITH", "1955-06-15"), &r); /* same family, any case */
    expect_only_match(&r, john, "same_dob_similar_name", "case");
    cbt_resp_free(&r);
    matches(&G.pres, name_dob("Smith", "John", "1955-06-15"), &r); /* swapped */
    expect_only_match(&r, john, "same_dob_similar_name", "swapped");
    cbt_resp_free(&r);
    matches(&G.pres, name_dob("Beth", "Tailor", "1955-06-16"), &r); /* preferred name */
    expect_only_match(&r, beth, "same_dob_similar_name", "preferred name");
    cbt_resp_free(&r);

    /* Not matches: another initial; another day; the date of birth alone. */
    matches(&G.pres, name_dob("Peter", "Smyth", "1955-06-15"), &r);
    assert_int_equal(n_matches(&r), 0);
    cbt_resp_free(&r);
    matches(&G.pres, name_dob("John", "Smith", "1955-06-14"), &r);
    assert_int_equal(n_matches(&r), 0);
    assert_int_equal(other_teams(&r), 0);
    cbt_resp_free(&r);
    matches(&G.pres, name_dob("Zachary", "Quinn", "1955-06-15"), &r);
    assert_int_equal(n_matches(&r), 0);
    cbt_resp_free(&r);
}

static void test_matches_by_dob_and_postcode(void **state)
{
    (void)state;
    char p[40];
    struct cbt_resp r;
    person(&G.pres, "Olivia", "Brown", "1948-11-30", json_pack("{s:s}", "postcode", "BL9 0EJ"), p);
    /* Nothing alike in the name; postcode written in another case and spacing. */
    json_t *b = name_dob("Xavier", "Pemberton", "1948-11-30");
    json_object_set_new(b, "postcode", json_string("bl90ej"));
    matches(&G.pres, b, &r);
    expect_only_match(&r, p, "same_dob_same_postcode", "postcode");
    cbt_resp_free(&r);
    /* Another postcode, same date of birth: no match. */
    b = name_dob("Xavier", "Pemberton", "1948-11-30");
    json_object_set_new(b, "postcode", json_string("M1 1AE"));
    matches(&G.pres, b, &r);
    assert_int_equal(n_matches(&r), 0);
    cbt_resp_free(&r);
    /* The same postcode on another day: no match. */
    b = name_dob("Xavier", "Pemberton", "1948-12-01");
    json_object_set_new(b, "postcode", json_string("BL9 0EJ"));
    matches(&G.pres, b, &r);
    assert_int_equal(n_matches(&r), 0);
    cbt_resp_free(&r);
}

static void test_matches_other_team_only_counted(void **state)
{
    (void)state;
    char nhs[16], rp[40], pp[40];
    struct cbt_resp r;
    test_nhs(nhs);
    person(&G.rad, "Harry", "Evansworth", "1962-04-04", json_pack("{s:s}", "nhs_number", nhs), rp);
    person(&G.pres, "Harriet", "Evansworth", "1962-04-04", NULL, pp);
    json_t *b = name_dob("Harry", "Evansworth", "1962-04-04");
    json_object_set_new(b, "nhs_number", json_string(nhs));

    /* The prestwich coach: their own Harriet in full, radcliffe's Harry only counted. */
    matches(&G.pres, json_deep_copy(b), &r);
    expect_only_match(&r, pp, "same_dob_similar_name", "own team");
    assert_int_equal(other_teams(&r), 1);
    assert_null(strstr(r.body, rp));
    assert_null(strstr(r.body, nhs));
    cbt_resp_free(&r);
    /* A lead is held to the team too. */
    matches(&G.lead, json_deep_copy(b), &r);
    assert_int_equal(n_matches(&r), 1);
    assert_int_equal(other_teams(&r), 1);
    cbt_resp_free(&r);
    /* The manager sees both, Harry (NHS match) first. */
    matches(&G.mgr, b, &r);
    assert_int_equal(n_matches(&r), 2);
    assert_int_equal(other_teams(&r), 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r.json, "matches"), 0), "id")),
                        rp);
    char reasons[128];
    reasons_of(match_for(&r, rp), reasons, sizeof(reasons));
    assert_string_equal(reasons, "same_nhs_number,same_dob_similar_name");
    cbt_resp_free(&r);
}

static void test_matches_validation(void **state)
{
    (void)state;
    struct cbt_resp r;
    rq(&G.pres, "POST", "/api/participants/matches",
       "{\"family_name\":\"Smith\",\"date_of_birth\":\"1955-06-15\"}", &r);
    expect_error(&r, 400, "given_name", "missing given_name");
    cbt_resp_free(&r);
    rq(&G.pres, "POST", "/api/participants/matches",
       "{\"given_name\":\"A\",\"family_name\":\"B\",\"date_of_birth\":\"1955-02-30\"}", &r);
    expect_error(&r, 400, "date_of_birth", "impossible date");
    cbt_resp_free(&r);
    rq(&G.pres, "POST", "/api/participants/matches",
       "{\"given_name\":\"A\",\"family_name\":\"B\",\"date_of_birth\":\"2999-01-01\"}", &r);
    expect_error(&r, 400, "date_of_birth", "future date");
    cbt_resp_free(&r);
    rq(&G.pres, "POST", "/api/participants/matches",
       "{\"given_name\":\"A\",\"family_name\":\"B\",\"date_of_birth\":\"1955-01-01\","
       "\"nhs_number\":\"1234567890\"}",
       &r);
    expect_error(&r, 400, "nhs_number", "bad check digit");
    cbt_resp_free(&r);
    rq(&G.pres, "POST", "/api/participants/matches",
       "{\"given_name\":\"A\",\"family_name\":\"B\",\"date_of_birth\":\"1955-01-01\","
       "\"postcode\":\"NOT A POSTCODE\"}",
       &r);
    expect_error(&r, 400, "postcode", "bad postcode");
    cbt_resp_free(&r);
    rq(&G.pres, "POST", "/api/participants/matches",
       "{\"given_name\":\"A\",\"family_name\":\"B\",\"date_of_birth\":\"1955-01-01\","
       "\"team\":\"radcliffe\"}",
       &r);
    expect_error(&r, 400, "team", "unknown field");
    cbt_resp_free(&r);
    rq(&G.pres, "POST", "/api/participants/matches",
       "{\"given_name\":\"\",\"family_name\":\"B\",\"date_of_birth\":\"1955-01-01\"}", &r);
    expect_error(&r, 400, "given_name", "empty given_name");
    cbt_resp_free(&r);

    /* CSRF applies: a POST without the header is refused. */
    char saved[sizeof(G.pres.csrf)];
    memcpy(saved, G.pres.csrf, sizeof(saved));
    G.pres.csrf[0] = '\0';
    rq(&G.pres, "POST", "/api/participants/matches",
       "{\"given_name\":\"A\",\"family_name\":\"B\",\"date_of_birth\":\"1955-01-01\"}", &r);
    memcpy(G.pres.csrf, saved, sizeof(saved));
    expect_error(&r, 403, "X-CSRF-Token", "no CSRF token");
    cbt_resp_free(&r);
}

/* ------------------------------------------------------------ merge */

struct fixture {
    char surv[40], dup[40];
    char prog_shared[40], prog_dup_only[40], session[40];
    char enc[2][40], goal[40], review[40], measure[40], referral[40], consent[40], checkin[40];
    char surv_enrol[40], dup_enrol_shared[40], dup_enrol_other[40];
    char surv_att[40], dup_att[40];
};

/*
 * The survivor (prestwich) and the duplicate (radcliffe) of one person, with
 * records of every participant-scoped kind on the duplicate, and an
 * enrolment and attendance both of them hold (which must not be doubled).
 */
static void make_fixture(struct fixture *f, const char *dob, const char *family)
{
    person(&G.pres, "Margaret", family, dob, NULL, f->surv);
    person(&G.rad, "Maggie", family, dob, NULL, f->dup);
    create(&G.rad, "encounters",
           json_pack("{s:s, s:s, s:s}", "participant_id", f->dup, "type", "one_to_one",
                     "occurred_at", G.an_hour_ago),
           f->enc[0]);
    create(&G.rad, "encounters",
           json_pack("{s:s, s:s, s:s}", "participant_id", f->dup, "type", "phone", "occurred_at",
                     G.an_hour_ago),
           f->enc[1]);
    create(&G.rad, "measures",
           json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i}}", "participant_id", f->dup,
                     "encounter_id", f->enc[0], "instrument", "bmi", "timepoint", "baseline",
                     "taken_at", G.an_hour_ago, "responses", "height_cm", 170, "weight_kg", 80),
           f->measure);
    create(&G.rad, "goals",
           json_pack("{s:s, s:s, s:s, s:s}", "participant_id", f->dup, "text",
                     "Walk 30 minutes a day", "topic", "physical_activity", "agreed_date",
                     G.yesterday),
           f->goal);
    create(&G.rad, "goal-reviews",
           json_pack("{s:s, s:s, s:s}", "goal_id", f->goal, "reviewed_on", G.yesterday, "status",
                     "partly_achieved"),
           f->review);
    create(&G.rad, "referrals",
           json_pack("{s:s, s:s, s:s}", "participant_id", f->dup, "destination", "gp", "sent_date",
                     G.yesterday),
           f->referral);
    create(&G.rad, "consents",
           json_pack("{s:s, s:s, s:b, s:s}", "participant_id", f->dup, "kind", "service", "given",
                     1, "date", G.yesterday),
           f->consent);
    create(&G.rad, "checkins",
           json_pack("{s:s, s:s}", "participant_id", f->dup, "arrived_at", G.an_hour_ago),
           f->checkin);
    /* Programmes: the manager enrols both people (they are in two teams). */
    create(&G.mgr, "programmes",
           json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", "Healthy weights", "topic", "weight",
                     "team", "prestwich", "start_date", G.yesterday, "weeks", 6),
           f->prog_shared);
    create(&G.mgr, "programmes",
           json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", "Steps", "topic", "physical_activity",
                     "team", "prestwich", "start_date", G.yesterday, "weeks", 4),
           f->prog_dup_only);
    create(&G.mgr, "group-sessions",
           json_pack("{s:s, s:i, s:s}", "programme_id", f->prog_shared, "session_number", 1,
                     "starts_at", G.an_hour_ago),
           f->session);
    create(&G.mgr, "enrolments",
           json_pack("{s:s, s:s, s:s}", "participant_id", f->surv, "programme_id", f->prog_shared,
                     "enrolled_on", G.yesterday),
           f->surv_enrol);
    create(&G.mgr, "enrolments",
           json_pack("{s:s, s:s, s:s}", "participant_id", f->dup, "programme_id", f->prog_shared,
                     "enrolled_on", G.yesterday),
           f->dup_enrol_shared);
    create(&G.mgr, "enrolments",
           json_pack("{s:s, s:s, s:s}", "participant_id", f->dup, "programme_id", f->prog_dup_only,
                     "enrolled_on", G.yesterday),
           f->dup_enrol_other);
    create(&G.mgr, "attendance",
           json_pack("{s:s, s:s, s:s}", "participant_id", f->surv, "session_id", f->session,
                     "status", "attended"),
           f->surv_att);
    create(&G.mgr, "attendance",
           json_pack("{s:s, s:s, s:s}", "participant_id", f->dup, "session_id", f->session,
                     "status", "attended"),
           f->dup_att);
}

/* 1 if the audit trail of pid (read as mgr) has an event with this action. */
static int audit_has(const char *pid, const char *action)
{
    char path[160];
    struct cbt_resp r;
    snprintf(path, sizeof(path), "/api/participants/%s/audit", pid);
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, path);
    size_t i;
    json_t *e;
    int found = 0;
    json_array_foreach(json_object_get(r.json, "items"), i, e)
    {
        const char *a = json_string_value(json_object_get(e, "action"));
        found |= a && strcmp(a, action) == 0;
    }
    cbt_resp_free(&r);
    return found;
}

static void test_merge_and_undo(void **state)
{
    (void)state;
    struct fixture f;
    struct cbt_resp r;
    char path[200], merge_id[40];
    make_fixture(&f, "1951-07-07", "Okonkwo");
    char *before_surv = snapshot(&G.mgr, f.surv);
    char *before_dup = snapshot(&G.mgr, f.dup);

    merge(&G.mgr, f.dup, f.surv, &r);
    expect_status(&r, 200, "merge");
    snprintf(merge_id, sizeof(merge_id), "%s", cbt_jstr(&r, "merge.id"));
    assert_string_equal(cbt_jstr(&r, "merge.survivor_id"), f.surv);
    assert_string_equal(cbt_jstr(&r, "merge.merged_id"), f.dup);
    assert_non_null(cbt_jstr(&r, "merge.merged_at"));
    assert_null(cbt_jstr(&r, "merge.undone_at"));
    assert_string_equal(cbt_jstr(&r, "survivor.id"), f.surv);
    assert_string_equal(cbt_jstr(&r, "survivor.team"), "prestwich");
    /* Moved: 2 encounters + measure + goal + review + referral + consent + checkin
     * + the enrolment in the programme only the duplicate was on = 9.
     * Tombstoned: the shared programme's enrolment and the shared session's attendance. */
    assert_int_equal(moved_count(&r, NULL, "moved"), 9);
    assert_int_equal(moved_count(&r, NULL, "tombstoned"), 2);
    assert_int_equal(moved_count(&r, "encounters", "moved"), 2);
    assert_int_equal(moved_count(&r, "enrolments", "moved"), 1);
    assert_int_equal(moved_count(&r, "enrolments", "tombstoned"), 1);
    assert_int_equal(moved_count(&r, "attendance", "tombstoned"), 1);
    cbt_resp_free(&r);

    /* The duplicate is gone (404), its records are the survivor's, in prestwich. */
    snprintf(path, sizeof(path), "/api/participants/%s", f.dup);
    assert_int_equal(get_status(&G.mgr, path), 404);
    assert_int_equal(count_kind(f.surv, "encounters"), 2);
    assert_int_equal(count_kind(f.surv, "measures"), 1);
    assert_int_equal(count_kind(f.surv, "goals"), 1);
    assert_int_equal(count_kind(f.surv, "goal-reviews"), 1);
    assert_int_equal(count_kind(f.surv, "referrals"), 1);
    assert_int_equal(count_kind(f.surv, "consents"), 1);
    assert_int_equal(count_kind(f.surv, "checkins"), 1);
    assert_int_equal(count_kind(f.surv, "enrolments"), 2); /* one per programme, not 3 */
    assert_int_equal(count_kind(f.surv, "attendance"), 1); /* the survivor's own */
    snprintf(path, sizeof(path), "/api/enrolments/%s", f.dup_enrol_shared);
    assert_int_equal(get_status(&G.mgr, path), 404); /* tombstoned */
    snprintf(path, sizeof(path), "/api/encounters/%s", f.enc[0]);
    rq(&G.pres, "GET", path, NULL, &r); /* prestwich now sees the moved contact */
    expect_status(&r, 200, "moved encounter");
    assert_string_equal(cbt_jstr(&r, "participant_id"), f.surv);
    assert_string_equal(cbt_jstr(&r, "team"), "prestwich");
    cbt_resp_free(&r);
    assert_int_equal(get_status(&G.rad, path), 404); /* and radcliffe no longer does */

    /* The tombstone can be followed; the merge is listed for both people. */
    snprintf(path, sizeof(path), "/api/participants/%s/merged-into", f.dup);
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, "merged-into");
    assert_string_equal(cbt_jstr(&r, "merged_into"), f.surv);
    assert_string_equal(cbt_jstr(&r, "current_id"), f.surv);
    assert_string_equal(cbt_jstr(&r, "merge_id"), merge_id);
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/merges?participant_id=%s", f.dup);
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, "merges of the duplicate");
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/merges?participant_id=%s", f.surv);
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, "merges of the survivor");
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r.json, "items"), 0), "id")),
                        merge_id);
    cbt_resp_free(&r);

    /* The merged record no longer turns up as a match; the survivor does. */
    matches(&G.mgr, name_dob("Maggie", "Okonkwo", "1951-07-07"), &r);
    expect_only_match(&r, f.surv, "same_dob_similar_name", "after merge");
    cbt_resp_free(&r);

    /* Both audit trails show the merge. */
    assert_true(audit_has(f.surv, "participant.merge"));
    assert_true(audit_has(f.dup, "participant.merge"));

    /* Undo: everything back exactly where it was. */
    undo(&G.mgr, merge_id, &r);
    expect_status(&r, 200, "undo");
    assert_non_null(cbt_jstr(&r, "merge.undone_at"));
    assert_non_null(cbt_jstr(&r, "merge.undone_by"));
    assert_string_equal(cbt_jstr(&r, "participant.id"), f.dup);
    assert_string_equal(cbt_jstr(&r, "participant.team"), "radcliffe");
    assert_true(
        json_is_null(json_object_get(json_object_get(r.json, "participant"), "merged_into")));
    cbt_resp_free(&r);
    char *after_surv = snapshot(&G.mgr, f.surv);
    char *after_dup = snapshot(&G.mgr, f.dup);
    assert_string_equal(after_surv, before_surv);
    assert_string_equal(after_dup, before_dup);
    snprintf(path, sizeof(path), "/api/participants/%s", f.dup);
    assert_int_equal(get_status(&G.rad, path), 200);
    snprintf(path, sizeof(path), "/api/encounters/%s", f.enc[0]);
    assert_int_equal(get_status(&G.rad, path), 200);
    assert_int_equal(get_status(&G.pres, path), 404);
    assert_true(audit_has(f.surv, "participant.merge_undo"));
    assert_true(audit_has(f.dup, "participant.merge_undo"));

    /* Twice is a conflict. */
    undo(&G.mgr, merge_id, &r);
    expect_error(&r, 409, NULL, "double undo");
    assert_non_null(strstr(cbt_jstr(&r, "error.message"), "already undone"));
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s/merged-into", f.dup);
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, "merged-into after undo");
    assert_true(json_is_null(json_object_get(r.json, "merged_into")));
    assert_string_equal(cbt_jstr(&r, "current_id"), f.dup);
    cbt_resp_free(&r);
    free(before_surv);
    free(before_dup);
    free(after_surv);
    free(after_dup);
}

static void test_merge_errors(void **state)
{
    (void)state;
    char a[40], b[40], c[40], path[200];
    struct cbt_resp r;
    const char *ghost = "01890000-0000-7000-8000-000000000000";
    person(&G.pres, "Errol", "Flynnson", "1939-01-01", NULL, a);
    person(&G.pres, "Errol", "Flynnson", "1939-01-01", NULL, b);
    person(&G.pres, "Errol", "Flynnson", "1939-01-01", NULL, c);

    merge(&G.pres, b, a, &r); /* coaches and leads may not merge */
    expect_error(&r, 403, NULL, "coach merge");
    cbt_resp_free(&r);
    merge(&G.lead, b, a, &r);
    expect_error(&r, 403, NULL, "lead merge");
    cbt_resp_free(&r);
    merge(&G.mgr, b, b, &r);
    expect_error(&r, 400, "into", "into itself");
    cbt_resp_free(&r);
    merge(&G.mgr, ghost, a, &r);
    expect_error(&r, 404, NULL, "unknown duplicate");
    cbt_resp_free(&r);
    merge(&G.mgr, b, ghost, &r);
    expect_error(&r, 404, "into", "unknown survivor");
    cbt_resp_free(&r);
    merge(&G.mgr, "not-a-uuid", a, &r);
    expect_error(&r, 404, NULL, "malformed id");
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s/merge", b);
    rq(&G.mgr, "POST", path, "{}", &r);
    expect_error(&r, 400, "into", "no into");
    cbt_resp_free(&r);
    rq(&G.mgr, "POST", path, "{\"into\":\"nope\"}", &r);
    expect_error(&r, 400, "into", "into not a uuid");
    cbt_resp_free(&r);
    char body[200];
    snprintf(body, sizeof(body), "{\"into\":\"%s\",\"why\":\"x\"}", a);
    rq(&G.mgr, "POST", path, body, &r);
    expect_error(&r, 400, "why", "unknown key");
    cbt_resp_free(&r);
    /* Nothing happened: b is still there. */
    snprintf(path, sizeof(path), "/api/participants/%s", b);
    assert_int_equal(get_status(&G.pres, path), 200);

    /* Merged once: merging it again, or into it, is a conflict naming the survivor. */
    merge(&G.mgr, b, a, &r);
    expect_status(&r, 200, "merge b into a");
    char mid[40];
    snprintf(mid, sizeof(mid), "%s", cbt_jstr(&r, "merge.id"));
    cbt_resp_free(&r);
    merge(&G.mgr, b, c, &r);
    expect_error(&r, 409, NULL, "merge a merged record");
    assert_non_null(strstr(cbt_jstr(&r, "error.message"), a));
    cbt_resp_free(&r);
    merge(&G.mgr, c, b, &r);
    expect_error(&r, 409, "into", "merge into a merged record");
    cbt_resp_free(&r);

    undo(&G.pres, mid, &r); /* coaches may not undo */
    expect_error(&r, 403, NULL, "coach undo");
    cbt_resp_free(&r);
    undo(&G.mgr, ghost, &r);
    expect_error(&r, 404, NULL, "unknown merge");
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/merges?participant_id=%s", a);
    assert_int_equal(get_status(&G.pres, path), 403);
    assert_int_equal(get_status(&G.mgr, "/api/merges"), 400);
    assert_int_equal(get_status(&G.mgr, "/api/merges?participant_id=zzz"), 400);
    snprintf(path, sizeof(path), "/api/merges?participant_id=%s", ghost);
    assert_int_equal(get_status(&G.mgr, path), 404);
    snprintf(path, sizeof(path), "/api/participants/%s/merged-into", b);
    assert_int_equal(get_status(&G.pres, path), 403);
    snprintf(path, sizeof(path), "/api/participants/%s/merged-into", ghost);
    assert_int_equal(get_status(&G.mgr, path), 404);
    undo(&G.mgr, mid, &r);
    expect_status(&r, 200, "undo b into a");
    cbt_resp_free(&r);
}

/* A moved record deleted after the merge blocks the undo; nothing changes. */
static void test_undo_blocked_by_deleted_record(void **state)
{
    (void)state;
    char s[40], d[40], enc[40], path[200], mid[40];
    struct cbt_resp r;
    person(&G.pres, "Nadia", "Kowalczyk", "1966-03-03", NULL, s);
    person(&G.pres, "Nadia", "Kowalczyk", "1966-03-03", NULL, d);
    create(&G.pres, "encounters",
           json_pack("{s:s, s:s, s:s}", "participant_id", d, "type", "drop_in", "occurred_at",
                     G.an_hour_ago),
           enc);
    merge(&G.mgr, d, s, &r);
    expect_status(&r, 200, "merge");
    snprintf(mid, sizeof(mid), "%s", cbt_jstr(&r, "merge.id"));
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/encounters/%s", enc);
    rq(&G.pres, "DELETE", path, NULL, &r);
    expect_status(&r, 200, "delete moved encounter");
    cbt_resp_free(&r);
    undo(&G.mgr, mid, &r);
    expect_error(&r, 409, NULL, "undo after delete");
    assert_non_null(strstr(cbt_jstr(&r, "error.message"), enc));
    assert_non_null(strstr(cbt_jstr(&r, "error.message"), "deleted"));
    cbt_resp_free(&r);
    /* Rolled back whole: the duplicate is still merged. */
    snprintf(path, sizeof(path), "/api/participants/%s", d);
    assert_int_equal(get_status(&G.mgr, path), 404);
}

/* A review added to a moved goal after the merge would be split from it. */
static void test_undo_blocked_by_link(void **state)
{
    (void)state;
    char s[40], d[40], goal[40], review[40], mid[40];
    struct cbt_resp r;
    person(&G.pres, "Tomasz", "Nowakowski", "1972-09-09", NULL, s);
    person(&G.pres, "Tom", "Nowakowski", "1972-09-09", NULL, d);
    create(&G.pres, "goals",
           json_pack("{s:s, s:s, s:s, s:s}", "participant_id", d, "text", "Stop smoking", "topic",
                     "smoking", "agreed_date", G.yesterday),
           goal);
    merge(&G.mgr, d, s, &r);
    expect_status(&r, 200, "merge");
    snprintf(mid, sizeof(mid), "%s", cbt_jstr(&r, "merge.id"));
    cbt_resp_free(&r);
    create(&G.pres, "goal-reviews",
           json_pack("{s:s, s:s, s:s}", "goal_id", goal, "reviewed_on", G.yesterday, "status",
                     "fully_achieved"),
           review);
    undo(&G.mgr, mid, &r);
    expect_error(&r, 409, NULL, "undo with a new review");
    assert_non_null(strstr(cbt_jstr(&r, "error.message"), review));
    cbt_resp_free(&r);
}

/* A chain: D into S, then S into T.  The first undo waits for the second. */
static void test_merge_chain(void **state)
{
    (void)state;
    char d[40], s[40], t[40], enc[40], m1[40], m2[40], path[200];
    struct cbt_resp r;
    person(&G.pres, "Iris", "Achterberg", "1944-02-02", NULL, d);
    person(&G.pres, "Iris", "Achterberg", "1944-02-02", NULL, s);
    person(&G.rad, "Iris", "Achterberg", "1944-02-02", NULL, t);
    create(&G.pres, "encounters",
           json_pack("{s:s, s:s, s:s}", "participant_id", d, "type", "video", "occurred_at",
                     G.an_hour_ago),
           enc);
    char *before_d = snapshot(&G.mgr, d);
    merge(&G.mgr, d, s, &r);
    expect_status(&r, 200, "merge d into s");
    snprintf(m1, sizeof(m1), "%s", cbt_jstr(&r, "merge.id"));
    cbt_resp_free(&r);
    merge(&G.mgr, s, t, &r);
    expect_status(&r, 200, "merge s into t");
    snprintf(m2, sizeof(m2), "%s", cbt_jstr(&r, "merge.id"));
    cbt_resp_free(&r);
    /* d's contact has travelled to t, and to t's team. */
    snprintf(path, sizeof(path), "/api/encounters/%s", enc);
    rq(&G.rad, "GET", path, NULL, &r);
    expect_status(&r, 200, "encounter now t's");
    assert_string_equal(cbt_jstr(&r, "participant_id"), t);
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s/merged-into", d);
    rq(&G.mgr, "GET", path, NULL, &r);
    expect_status(&r, 200, "merged-into chain");
    assert_string_equal(cbt_jstr(&r, "merged_into"), s);
    assert_string_equal(cbt_jstr(&r, "current_id"), t);
    cbt_resp_free(&r);

    undo(&G.mgr, m1, &r);
    expect_error(&r, 409, NULL, "undo the first merge first");
    assert_non_null(strstr(cbt_jstr(&r, "error.message"), "undo that merge first"));
    cbt_resp_free(&r);
    undo(&G.mgr, m2, &r);
    expect_status(&r, 200, "undo s into t");
    cbt_resp_free(&r);
    undo(&G.mgr, m1, &r);
    expect_status(&r, 200, "undo d into s");
    cbt_resp_free(&r);
    char *after_d = snapshot(&G.mgr, d);
    assert_string_equal(after_d, before_d);
    assert_int_equal(count_kind(s, "encounters"), 0);
    assert_int_equal(count_kind(t, "encounters"), 0);
    free(before_d);
    free(after_d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_rules),
        cmocka_unit_test(test_matches_by_nhs),
        cmocka_unit_test(test_matches_by_dob_and_name),
        cmocka_unit_test(test_matches_by_dob_and_postcode),
        cmocka_unit_test(test_matches_other_team_only_counted),
        cmocka_unit_test(test_matches_validation),
        cmocka_unit_test(test_merge_and_undo),
        cmocka_unit_test(test_merge_errors),
        cmocka_unit_test(test_undo_blocked_by_deleted_record),
        cmocka_unit_test(test_undo_blocked_by_link),
        cmocka_unit_test(test_merge_chain),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return failed;
}
