/*
 * it_records.c - the generic record kinds of a real `coachbox serve`:
 * consents, measures (scored on the server), goals and reviews, referrals,
 * venues and programmes; their validation errors, per-record access across
 * teams and roles, tombstones, and the audit trail they leave.
 *
 * Users (one login each, PBKDF2 costs ~0.3 s): ann (coach, bury-town),
 * ben (coach, radcliffe), meg (manager), ada (admin).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define PW "records-password-1"

enum { ANN, BEN, MEG, ADA, NUSERS };
static const char *const users[NUSERS][3] = {{"ann", "coach", "bury-town"},
                                             {"ben", "coach", "radcliffe"},
                                             {"meg", "manager", NULL},
                                             {"ada", "admin", NULL}};

static struct {
    struct cbt_server srv;
    struct cbt_client c[NUSERS];
    char person[40]; /* ann's participant (ethnic group asian_indian) */
    char other[40];  /* ben's participant */
} G;

static long req(int u, const char *method, const char *path, const char *body, struct cbt_resp *r)
{
    assert_int_equal(cbt_request(&G.c[u], method, path, body, r), 0);
    return r->status;
}

/* Send and expect status; on 400 also the error field.  Frees the response. */
static void expect(int u, const char *method, const char *path, const char *body, long status,
                   const char *field)
{
    struct cbt_resp r;
    long got = req(u, method, path, body, &r);
    if (got != status) {
        fail_msg("%s %s: want %ld, got %ld: %s", method, path, status, got, r.body);
    }
    if (field) {
        const char *f = cbt_jstr(&r, "error.field");
        if (!f || strcmp(f, field) != 0) {
            fail_msg("%s %s: want error field %s, got %s (%s)", method, path, field, f ? f : "none",
                     r.body);
        }
    }
    cbt_resp_free(&r);
}

static void expect_str(int u, const char *path, const char *field, const char *want);

/* POST and return the created id into out (asserting 201). */
static void create(int u, const char *path, const char *body, char out[40])
{
    struct cbt_resp r;
    long got = req(u, "POST", path, body, &r);
    if (got != 201) {
        fail_msg("POST %s: want 201, got %ld: %s", path, got, r.body);
    }
    snprintf(out, 40, "%s", cbt_jstr(&r, "id"));
    cbt_resp_free(&r);
}

static int setup(void **state)
{
    (void)state;
    char dir[512];
    cbt_tempdir(dir, sizeof(dir), "records");
    for (int i = 0; i < NUSERS; i++) {
        if (cbt_add_user(dir, users[i][0], users[i][1], users[i][2], PW) != 0) {
            return -1;
        }
    }
    if (cbt_server_start(&G.srv, dir, NULL) != 0) {
        return -1;
    }
    for (int i = 0; i < NUSERS; i++) {
        cbt_client_init(&G.c[i], G.srv.url);
        if (cbt_login(&G.c[i], users[i][0], PW) != 200) {
            return -1;
        }
    }
    create(ANN, "/api/participants",
           "{\"given_name\":\"Priya\",\"family_name\":\"Shah\",\"date_of_birth\":\"1975-04-05\","
           "\"ethnic_group\":\"asian_indian\",\"sex\":\"female\",\"carer\":true,"
           "\"topics\":[\"weight\",\"physical_activity\"]}",
           G.person);
    create(BEN, "/api/participants",
           "{\"given_name\":\"Owen\",\"family_name\":\"Hughes\",\"date_of_birth\":\"1950-01-02\"}",
           G.other);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NUSERS; i++) {
        cbt_client_free(&G.c[i]);
    }
    int st = cbt_server_stop(&G.srv);
    return st == 0 ? 0 : -1;
}

static void measure_body(char *out, size_t len, const char *pid, const char *inst,
                         const char *responses, const char *extra)
{
    snprintf(out, len,
             "{\"participant_id\":\"%s\",\"instrument\":\"%s\",\"timepoint\":\"baseline\","
             "\"taken_at\":\"2026-10-01T10:00:00Z\",\"responses\":%s%s}",
             pid, inst, responses, extra ? extra : "");
}

static void test_measures_scored_on_server(void **state)
{
    (void)state;
    char body[1024], id[40], path[200];
    struct cbt_resp r;
    /* SWEMWBS: raw 21 -> metric 19.25 (docs/MEASURES.md table), licence notice kept. */
    measure_body(body, sizeof(body), G.person, "swemwbs",
                 "{\"q1\":3,\"q2\":3,\"q3\":3,\"q4\":3,\"q5\":3,\"q6\":3,\"q7\":3}", NULL);
    assert_int_equal(req(ANN, "POST", "/api/measures", body, &r), 201);
    assert_true(fabs(json_real_value(json_object_get(r.json, "score")) - 19.25) < 1e-9);
    assert_true(json_is_true(json_object_get(r.json, "complete")));
    assert_string_equal(cbt_jstr(&r, "rule_version"), "swemwbs-1");
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(r.json, "result"), "notice")),
               "University of Warwick"));
    snprintf(id, sizeof(id), "%s", cbt_jstr(&r, "id"));
    cbt_resp_free(&r);
    /* Changing the responses re-scores: raw 35 -> 35.00. */
    snprintf(path, sizeof(path), "/api/measures/%s", id);
    assert_int_equal(req(ANN, "PATCH", path,
                         "{\"responses\":{\"q1\":5,\"q2\":5,\"q3\":5,\"q4\":5,\"q5\":5,\"q6\":5,"
                         "\"q7\":5}}",
                         &r),
                     200);
    assert_true(fabs(json_number_value(json_object_get(r.json, "score")) - 35.0) < 1e-9);
    cbt_resp_free(&r);
    /* The instrument cannot change; a missing item is a 400 naming it. */
    expect(ANN, "PATCH", path, "{\"instrument\":\"wemwbs\"}", 400, "instrument");
    measure_body(body, sizeof(body), G.person, "swemwbs",
                 "{\"q1\":3,\"q2\":3,\"q3\":3,\"q4\":3,\"q5\":3,\"q6\":3}", NULL);
    expect(ANN, "POST", "/api/measures", body, 400, "responses.q7");
    measure_body(body, sizeof(body), G.person, "swemwbs",
                 "{\"q1\":3,\"q2\":3,\"q3\":3,\"q4\":3,\"q5\":3,\"q6\":3,\"q7\":6}", NULL);
    expect(ANN, "POST", "/api/measures", body, 400, "responses.q7");
    measure_body(body, sizeof(body), G.person, "nosuch", "{}", NULL);
    expect(ANN, "POST", "/api/measures", body, 400, "instrument");
    /* ... unless the coach stores it as incomplete on purpose: no score. */
    measure_body(body, sizeof(body), G.person, "swemwbs",
                 "{\"q1\":3,\"q2\":3,\"q3\":3,\"q4\":3,\"q5\":3,\"q6\":3}",
                 ",\"allow_incomplete\":true");
    assert_int_equal(req(ANN, "POST", "/api/measures", body, &r), 201);
    assert_true(json_is_false(json_object_get(r.json, "complete")));
    assert_true(json_is_null(json_object_get(r.json, "score")));
    cbt_resp_free(&r);
    /* PHQ-9 item 9 >= 1 raises the safeguarding flag. */
    measure_body(
        body, sizeof(body), G.person, "phq9",
        "{\"q1\":0,\"q2\":0,\"q3\":0,\"q4\":0,\"q5\":0,\"q6\":0,\"q7\":0,\"q8\":0,\"q9\":1}", NULL);
    assert_int_equal(req(ANN, "POST", "/api/measures", body, &r), 201);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "flags"), 0)),
                        "safeguarding");
    cbt_resp_free(&r);
    /* A severe blood pressure asks for same-day advice. */
    measure_body(body, sizeof(body), G.person, "bp", "{\"systolic\":182,\"diastolic\":95}", NULL);
    assert_int_equal(req(ANN, "POST", "/api/measures", body, &r), 201);
    assert_non_null(strstr(r.body, "urgent_same_day"));
    cbt_resp_free(&r);
    /* BMI 24.2 takes the participant's ethnic group: overweight on the lower thresholds. */
    measure_body(body, sizeof(body), G.person, "bmi", "{\"height_cm\":170,\"weight_kg\":70}", NULL);
    assert_int_equal(req(ANN, "POST", "/api/measures", body, &r), 201);
    assert_string_equal(cbt_jstr(&r, "band"), "overweight");
    cbt_resp_free(&r);
    /* The person's measures, newest first; the instrument list for forms. */
    snprintf(path, sizeof(path), "/api/participants/%s/measures", G.person);
    assert_int_equal(req(ANN, "GET", path, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 5);
    cbt_resp_free(&r);
    assert_int_equal(req(ANN, "GET", "/api/measures/instruments", NULL, &r), 200);
    assert_true(json_array_size(json_object_get(r.json, "items")) >= 17);
    cbt_resp_free(&r);
}

static void test_consents_goals_referrals(void **state)
{
    (void)state;
    char body[1024], goal[40], ref[40], consent[40], path[200];
    struct cbt_resp r;
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"kind\":\"share_gp\",\"given\":true,"
             "\"date\":\"2026-10-01\"}",
             G.person);
    create(ANN, "/api/consents", body, consent);
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"kind\":\"photos\",\"given\":true,"
             "\"date\":\"2026-10-01\"}",
             G.person);
    expect(ANN, "POST", "/api/consents", body, 400, "kind");
    snprintf(path, sizeof(path), "/api/consents/%s", consent);
    expect(ANN, "DELETE", path, NULL, 405, NULL); /* a change of mind is a new consent */

    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"text\":\"Walk 30 minutes, 3 days a week\","
             "\"topic\":\"physical_activity\",\"agreed_date\":\"2026-10-01\"}",
             G.person);
    assert_int_equal(req(ANN, "POST", "/api/goals", body, &r), 201);
    assert_string_equal(cbt_jstr(&r, "status"), "agreed");
    snprintf(goal, sizeof(goal), "%s", cbt_jstr(&r, "id"));
    cbt_resp_free(&r);
    snprintf(body, sizeof(body),
             "{\"goal_id\":\"%s\",\"reviewed_on\":\"2026-11-01\",\"status\":\"fully_achieved\"}",
             goal);
    assert_int_equal(req(ANN, "POST", "/api/goal-reviews", body, &r), 201);
    assert_string_equal(cbt_jstr(&r, "participant_id"), G.person);
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/goals/%s", goal);
    assert_int_equal(req(ANN, "GET", path, NULL, &r), 200);
    assert_string_equal(cbt_jstr(&r, "status"), "fully_achieved");
    cbt_resp_free(&r);
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"text\":\"x\",\"topic\":\"juggling\","
             "\"agreed_date\":\"2026-10-01\"}",
             G.person);
    expect(ANN, "POST", "/api/goals", body, 400, "topic");
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"text\":\"x\",\"topic\":\"diet\","
             "\"agreed_date\":\"2999-10-01\"}",
             G.person);
    expect(ANN, "POST", "/api/goals", body, 400, "agreed_date");

    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"destination\":\"stop_smoking\","
             "\"sent_date\":\"2026-10-02\"}",
             G.person);
    assert_int_equal(req(ANN, "POST", "/api/referrals", body, &r), 201);
    assert_string_equal(cbt_jstr(&r, "status"), "sent");
    snprintf(ref, sizeof(ref), "%s", cbt_jstr(&r, "id"));
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/referrals/%s", ref);
    expect(ANN, "PATCH", path, "{\"status\":\"accepted\",\"status_date\":\"2026-10-09\"}", 200,
           NULL);
    /* Each status keeps its own date: accepted on the 9th, attended on the 20th. */
    expect(ANN, "PATCH", path, "{\"status\":\"attended\",\"status_date\":\"2026-10-20\"}", 200,
           NULL);
    assert_int_equal(req(ANN, "GET", path, NULL, &r), 200);
    assert_string_equal(cbt_jstr(&r, "status"), "attended");
    assert_string_equal(cbt_jstr(&r, "status_date"), "2026-10-20");
    assert_string_equal(cbt_jstr(&r, "accepted_date"), "2026-10-09");
    assert_string_equal(cbt_jstr(&r, "attended_date"), "2026-10-20");
    assert_true(json_is_null(json_object_get(r.json, "declined_date")));
    cbt_resp_free(&r);
    /* A status date before the referral was sent is refused; nothing changes. */
    expect(ANN, "PATCH", path, "{\"status\":\"declined\",\"status_date\":\"2026-10-01\"}", 400,
           "status_date");
    expect(ANN, "PATCH", path, "{\"accepted_date\":\"2026-09-30\"}", 400, "accepted_date");
    /* F37: nor can sent_date move after a stored status date */
    expect(ANN, "PATCH", path, "{\"sent_date\":\"2026-10-21\"}", 400, "status_date");
    expect(ANN, "PATCH", path, "{\"sent_date\":\"2026-10-10\"}", 400, "accepted_date");
    expect_str(ANN, path, "sent_date", "2026-10-02");
    /* Without a status_date the change is dated today. */
    {
        char today[16];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(today, sizeof(today), "%Y-%m-%d", &tm);
        expect(ANN, "PATCH", path, "{\"status\":\"declined\"}", 200, NULL);
        assert_int_equal(req(ANN, "GET", path, NULL, &r), 200);
        assert_string_equal(cbt_jstr(&r, "declined_date"), today);
        assert_string_equal(cbt_jstr(&r, "status_date"), today);
        assert_string_equal(cbt_jstr(&r, "accepted_date"), "2026-10-09");
        cbt_resp_free(&r);
    }
    expect(ANN, "PATCH", path, "{\"status\":\"lost\"}", 400, "status");
    expect(ANN, "PATCH", path, "{\"participant_id\":\"01a21800-0000-7000-8000-000000000000\"}", 400,
           "participant_id");
    /* Tombstone: gone from reads and lists, still in the audit trail. */
    expect(ANN, "DELETE", path, NULL, 200, NULL);
    expect(ANN, "GET", path, NULL, 404, NULL);
    snprintf(path, sizeof(path), "/api/participants/%s/referrals", G.person);
    assert_int_equal(req(ANN, "GET", path, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
    cbt_resp_free(&r);
    snprintf(path, sizeof(path), "/api/participants/%s/audit", G.person);
    assert_int_equal(req(MEG, "GET", path, NULL, &r), 200);
    assert_non_null(strstr(r.body, "referral.delete"));
    assert_non_null(strstr(r.body, "goal_review.create"));
    assert_non_null(strstr(r.body, "consent.create"));
    cbt_resp_free(&r);
    expect(ANN, "GET", path, NULL, 403, NULL); /* only managers read audit trails */
}

static void test_access_across_teams_and_roles(void **state)
{
    (void)state;
    char body[1024], goal[40], path[200];
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"text\":\"Stop smoking\",\"topic\":\"smoking\","
             "\"agreed_date\":\"2026-10-01\"}",
             G.other);
    create(BEN, "/api/goals", body, goal);
    /* Ann (another team) learns nothing: 404 on reads, writes and lists. */
    snprintf(path, sizeof(path), "/api/goals/%s", goal);
    expect(ANN, "GET", path, NULL, 404, NULL);
    expect(ANN, "PATCH", path, "{\"status\":\"not_achieved\"}", 404, NULL);
    expect(ANN, "DELETE", path, NULL, 404, NULL);
    snprintf(path, sizeof(path), "/api/participants/%s/goals", G.other);
    expect(ANN, "GET", path, NULL, 404, NULL);
    /* ...and each attempt is in the person's audit trail, as denied. */
    {
        struct cbt_resp r;
        int denied_list = 0, denied_read = 0;
        snprintf(path, sizeof(path), "/api/participants/%s/audit", G.other);
        assert_int_equal(req(MEG, "GET", path, NULL, &r), 200);
        json_t *items = json_object_get(r.json, "items"), *ev;
        size_t i;
        json_array_foreach(items, i, ev)
        {
            const char *act = json_string_value(json_object_get(ev, "action"));
            const char *out = json_string_value(json_object_get(ev, "outcome"));
            const char *actor = json_string_value(json_object_get(ev, "username"));
            if (act && out && actor && strcmp(out, "denied") == 0 && strcmp(actor, "ann") == 0) {
                denied_list += strcmp(act, "goal.list") == 0;
                denied_read += strcmp(act, "goal") == 0;
            }
        }
        cbt_resp_free(&r);
        assert_int_equal(denied_list, 1);
        assert_true(denied_read >= 1);
    }
    /* Writing about someone in another team names the field, not whether they exist. */
    expect(ANN, "POST", "/api/goals", body, 400, "participant_id");
    /* The manager sees everyone; the admin sees no records. */
    snprintf(path, sizeof(path), "/api/goals/%s", goal);
    expect(MEG, "GET", path, NULL, 200, NULL);
    expect(ADA, "GET", path, NULL, 403, NULL);
    expect(ADA, "POST", "/api/goals", body, 403, NULL);
    snprintf(path, sizeof(path), "/api/participants/%s/measures", G.other);
    expect(ADA, "GET", path, NULL, 403, NULL);
}

static void test_venues_and_programmes(void **state)
{
    (void)state;
    char venue[40], prog[40], path[200], body[512];
    struct cbt_resp r;
    create(ANN, "/api/venues",
           "{\"name\":\"Bury library\",\"team\":\"bury-town\",\"postcode\":\"bl9 0dg\"}", venue);
    expect(ANN, "POST", "/api/venues", "{\"name\":\"Elsewhere\",\"team\":\"radcliffe\"}", 403,
           "team");
    expect(ADA, "POST", "/api/venues", "{\"name\":\"Hub\",\"team\":\"radcliffe\"}", 201, NULL);
    assert_int_equal(req(BEN, "GET", "/api/venues", NULL, &r), 200); /* reference data */
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 2);
    assert_non_null(strstr(r.body, "BL9 0DG"));
    cbt_resp_free(&r);
    snprintf(body, sizeof(body),
             "{\"name\":\"Strength and balance\",\"topic\":\"frailty_falls\","
             "\"team\":\"bury-town\",\"venue\":\"%s\",\"start_date\":\"2026-12-01\","
             "\"weeks\":12}",
             venue);
    create(ANN, "/api/programmes", body, prog);
    snprintf(path, sizeof(path), "/api/programmes/%s", prog);
    expect(BEN, "GET", path, NULL, 404, NULL);
    expect(MEG, "GET", path, NULL, 200, NULL);
    expect(ANN, "PATCH", path, "{\"weeks\":0}", 400, "weeks");
    expect(ANN, "PATCH", path, "{\"team\":\"radcliffe\"}", 403, "team");
    expect(ANN, "PATCH", path, "{\"status\":\"running\"}", 200, NULL);
}

static void test_conflicts_api(void **state)
{
    (void)state;
    struct cbt_resp r;
    assert_int_equal(req(ANN, "GET", "/api/conflicts", NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
    cbt_resp_free(&r);
    expect(ANN, "GET", "/api/conflicts?status=maybe", NULL, 400, "status");
    expect(ANN, "PATCH", "/api/conflicts/01a21800-0000-7000-8000-000000000000",
           "{\"status\":\"resolved\"}", 404, NULL);
    assert_int_equal(req(ANN, "GET", "/api/sync/status", NULL, &r), 200);
    assert_true(json_is_false(json_object_get(r.json, "enrolled")));
    assert_true(json_is_null(json_object_get(r.json, "last_sync_at")));
    cbt_resp_free(&r);
    expect(ANN, "POST", "/api/sync/now", NULL, 409, NULL);
}

/* GET path and assert the string field's value. */
static void expect_str(int u, const char *path, const char *field, const char *want)
{
    struct cbt_resp r;
    assert_int_equal(req(u, "GET", path, NULL, &r), 200);
    const char *got = cbt_jstr(&r, field);
    if (!got || strcmp(got, want) != 0) {
        fail_msg("GET %s: want %s %s, got %s", path, field, want, r.body);
    }
    cbt_resp_free(&r);
}

/* F30: the goal's status is that of its latest review, whichever review is written. */
static void test_goal_status_follows_latest_review(void **state)
{
    (void)state;
    char body[512], goal[40], r1[40], r2[40], r0[40], gpath[120], path[120];
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"text\":\"Five a day\",\"topic\":\"diet\","
             "\"agreed_date\":\"2026-10-01\"}",
             G.person);
    create(ANN, "/api/goals", body, goal);
    snprintf(gpath, sizeof(gpath), "/api/goals/%s", goal);
    snprintf(body, sizeof(body),
             "{\"goal_id\":\"%s\",\"reviewed_on\":\"2026-11-10\",\"status\":\"partly_achieved\"}",
             goal);
    create(ANN, "/api/goal-reviews", body, r1);
    snprintf(body, sizeof(body),
             "{\"goal_id\":\"%s\",\"reviewed_on\":\"2026-11-20\",\"status\":\"fully_achieved\"}",
             goal);
    create(ANN, "/api/goal-reviews", body, r2);
    expect_str(ANN, gpath, "status", "fully_achieved");
    /* Editing the older review does not set the goal back. */
    snprintf(path, sizeof(path), "/api/goal-reviews/%s", r1);
    expect(ANN, "PATCH", path, "{\"note\":\"typo fixed\"}", 200, NULL);
    expect_str(ANN, gpath, "status", "fully_achieved");
    /* Nor does a back-dated review. */
    snprintf(body, sizeof(body),
             "{\"goal_id\":\"%s\",\"reviewed_on\":\"2026-11-05\",\"status\":\"not_achieved\"}",
             goal);
    create(ANN, "/api/goal-reviews", body, r0);
    expect_str(ANN, gpath, "status", "fully_achieved");
    /* Moving the latest review before the others hands the goal to the new latest. */
    snprintf(path, sizeof(path), "/api/goal-reviews/%s", r2);
    expect(ANN, "PATCH", path, "{\"reviewed_on\":\"2026-11-01\"}", 200, NULL);
    expect_str(ANN, gpath, "status", "partly_achieved");
    /* Changing the latest review's status changes the goal's. */
    snprintf(path, sizeof(path), "/api/goal-reviews/%s", r1);
    expect(ANN, "PATCH", path, "{\"status\":\"not_achieved\"}", 200, NULL);
    expect_str(ANN, gpath, "status", "not_achieved");
    /* F38: deleting the goal takes its reviews with it */
    expect(ANN, "DELETE", gpath, NULL, 200, NULL);
    expect(ANN, "GET", path, NULL, 404, NULL);
    expect(ANN, "PATCH", path, "{\"note\":\"after\"}", 404, NULL);
    struct cbt_resp r;
    snprintf(path, sizeof(path), "/api/participants/%s/goal-reviews", G.person);
    assert_int_equal(req(ANN, "GET", path, NULL, &r), 200);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        assert_string_not_equal(json_string_value(json_object_get(it, "goal_id")), goal);
    }
    cbt_resp_free(&r);
}

/* POST and assert 400 with error field and message "no such record"; returns the message. */
static void expect_no_such(int u, const char *method, const char *path, const char *body,
                           const char *field)
{
    struct cbt_resp r;
    long got = req(u, method, path, body, &r);
    const char *f = cbt_jstr(&r, "error.field");
    const char *m = cbt_jstr(&r, "error.message");
    if (got != 400 || !f || strcmp(f, field) != 0 || !m || !strstr(m, "no such record")) {
        fail_msg("%s %s: want 400 %s no such record, got %ld: %s", method, path, field, got,
                 r.body);
    }
    cbt_resp_free(&r);
}

/* F34: a measure's contact is a live contact of the same person, else "no such record". */
static void test_measure_encounter_checked(void **state)
{
    (void)state;
    char body[1024], theirs[40], own[40], sibling[40], second[40], m[40], path[120];
    snprintf(
        body, sizeof(body),
        "{\"participant_id\":\"%s\",\"type\":\"phone\",\"occurred_at\":\"2026-10-01T09:00:00Z\"}",
        G.other);
    create(BEN, "/api/encounters", body, theirs);
    snprintf(
        body, sizeof(body),
        "{\"participant_id\":\"%s\",\"type\":\"phone\",\"occurred_at\":\"2026-10-01T09:00:00Z\"}",
        G.person);
    create(ANN, "/api/encounters", body, own);
    create(ANN, "/api/participants",
           "{\"given_name\":\"Sam\",\"family_name\":\"Shah\",\"date_of_birth\":\"1980-01-01\"}",
           second);
    snprintf(
        body, sizeof(body),
        "{\"participant_id\":\"%s\",\"type\":\"phone\",\"occurred_at\":\"2026-10-01T09:00:00Z\"}",
        second);
    create(ANN, "/api/encounters", body, sibling);
    const char *const bad[] = {theirs, sibling, "01a21800-0000-7000-8000-00000000dead"};
    char extra[200];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(extra, sizeof(extra), ",\"encounter_id\":\"%s\"", bad[i]);
        measure_body(body, sizeof(body), G.person, "cfs", "{\"level\":3}", extra);
        expect_no_such(ANN, "POST", "/api/measures", body, "encounter_id");
    }
    snprintf(extra, sizeof(extra), ",\"encounter_id\":\"%s\"", own);
    measure_body(body, sizeof(body), G.person, "cfs", "{\"level\":3}", extra);
    create(ANN, "/api/measures", body, m);
    snprintf(path, sizeof(path), "/api/measures/%s", m);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body), "{\"encounter_id\":\"%s\"}", bad[i]);
        expect_no_such(ANN, "PATCH", path, body, "encounter_id");
    }
    /* A deleted contact no longer links. */
    snprintf(path, sizeof(path), "/api/encounters/%s", own);
    expect(ANN, "DELETE", path, NULL, 200, NULL);
    measure_body(body, sizeof(body), G.person, "cfs", "{\"level\":3}", extra);
    expect_no_such(ANN, "POST", "/api/measures", body, "encounter_id");
}

/* F36: null for a field that cannot be empty is a 400 naming it, on every kind. */
static void test_null_refused_on_update(void **state)
{
    (void)state;
    char body[512], goal[40], ref[40], chk[40], path[120];
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"text\":\"Sleep\",\"topic\":\"diet\","
             "\"agreed_date\":\"2026-10-01\",\"target_date\":\"2026-12-01\"}",
             G.person);
    create(ANN, "/api/goals", body, goal);
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"destination\":\"gp\",\"sent_date\":\"2026-10-02\"}",
             G.person);
    create(ANN, "/api/referrals", body, ref);
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"arrived_at\":\"2026-10-02T09:00:00Z\"}", G.person);
    create(ANN, "/api/checkins", body, chk);
    snprintf(path, sizeof(path), "/api/goals/%s", goal);
    expect(ANN, "PATCH", path, "{\"status\":null}", 400, "status");
    expect(ANN, "PATCH", path, "{\"target_date\":null}", 200, NULL); /* may be empty */
    expect_str(ANN, path, "status", "agreed");
    snprintf(path, sizeof(path), "/api/referrals/%s", ref);
    expect(ANN, "PATCH", path, "{\"status\":null}", 400, "status");
    snprintf(path, sizeof(path), "/api/checkins/%s", chk);
    expect(ANN, "PATCH", path, "{\"status\":null}", 400, "status");
    snprintf(path, sizeof(path), "/api/participants/%s", G.person);
    expect(ANN, "PATCH", path, "{\"status\":null}", 400, "status");
    expect_str(ANN, path, "status", "active");
}

/* F39: every stored date and time lies within 1900-2099; a smoking follow-up is not after
 * the day of the measure. */
static void test_date_ranges(void **state)
{
    (void)state;
    char body[1024], prog[40];
    expect(ANN, "POST", "/api/programmes",
           "{\"name\":\"Walk\",\"topic\":\"physical_activity\",\"team\":\"bury-town\","
           "\"start_date\":\"0000-02-29\",\"weeks\":4}",
           400, "start_date");
    expect(ANN, "POST", "/api/programmes",
           "{\"name\":\"Walk\",\"topic\":\"physical_activity\",\"team\":\"bury-town\","
           "\"start_date\":\"2100-01-01\",\"weeks\":4}",
           400, "start_date");
    create(ANN, "/api/programmes",
           "{\"name\":\"Walk\",\"topic\":\"physical_activity\",\"team\":\"bury-town\","
           "\"start_date\":\"2099-12-31\",\"weeks\":4}",
           prog);
    snprintf(
        body, sizeof(body),
        "{\"programme_id\":\"%s\",\"session_number\":1,\"starts_at\":\"9999-12-31T23:59:59Z\"}",
        prog);
    expect(ANN, "POST", "/api/group-sessions", body, 400, "starts_at");
    snprintf(
        body, sizeof(body),
        "{\"participant_id\":\"%s\",\"type\":\"phone\",\"occurred_at\":\"2026-10-01T09:00:00Z\","
        "\"next_follow_up\":\"0000-01-01\"}",
        G.person);
    expect(ANN, "POST", "/api/encounters", body, 400, "next_follow_up");
    measure_body(body, sizeof(body), G.person, "smoking",
                 "{\"status\":\"quit_attempt\",\"quit_date\":\"2199-01-01\"}", NULL);
    expect(ANN, "POST", "/api/measures", body, 400, "responses.quit_date");
    measure_body(body, sizeof(body), G.person, "smoking",
                 "{\"status\":\"quit_attempt\",\"quit_date\":\"2026-09-01\","
                 "\"followup_date\":\"2199-01-01\",\"self_reported_quit\":true}",
                 NULL);
    expect(ANN, "POST", "/api/measures", body, 400, "responses.followup_date");
    /* taken 2026-10-01: a follow-up on the 2nd has not happened yet */
    measure_body(body, sizeof(body), G.person, "smoking",
                 "{\"status\":\"quit_attempt\",\"quit_date\":\"2026-09-01\","
                 "\"followup_date\":\"2026-10-02\",\"self_reported_quit\":true}",
                 NULL);
    expect(ANN, "POST", "/api/measures", body, 400, "responses.followup_date");
    measure_body(body, sizeof(body), G.person, "smoking",
                 "{\"status\":\"quit_attempt\",\"quit_date\":\"2026-09-01\","
                 "\"followup_date\":\"2026-10-01\",\"self_reported_quit\":true}",
                 NULL);
    expect(ANN, "POST", "/api/measures", body, 201, NULL);
}

/* F40: one live waiting check-in per person and day; distinct session numbers per programme. */
static void test_duplicates_refused(void **state)
{
    (void)state;
    char body[512], c1[40], c2[40], prog[40], s1[40], s2[40], path[120];
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"arrived_at\":\"2026-10-03T09:00:00Z\"}", G.person);
    create(ANN, "/api/checkins", body, c1);
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"arrived_at\":\"2026-10-03T15:00:00Z\"}", G.person);
    expect(ANN, "POST", "/api/checkins", body, 409, "participant_id");
    snprintf(body, sizeof(body),
             "{\"participant_id\":\"%s\",\"arrived_at\":\"2026-10-04T09:00:00Z\"}", G.person);
    create(ANN, "/api/checkins", body, c2);
    snprintf(path, sizeof(path), "/api/checkins/%s", c2);
    expect(ANN, "PATCH", path, "{\"arrived_at\":\"2026-10-03T16:00:00Z\"}", 409, "participant_id");
    /* once the first is seen, the person may wait again that day */
    snprintf(path, sizeof(path), "/api/checkins/%s", c1);
    expect(ANN, "PATCH", path, "{\"status\":\"seen\"}", 200, NULL);
    snprintf(path, sizeof(path), "/api/checkins/%s", c2);
    expect(ANN, "PATCH", path, "{\"arrived_at\":\"2026-10-03T16:00:00Z\"}", 200, NULL);

    create(ANN, "/api/programmes",
           "{\"name\":\"Cook\",\"topic\":\"diet\",\"team\":\"bury-town\","
           "\"start_date\":\"2026-10-01\",\"weeks\":4}",
           prog);
    snprintf(
        body, sizeof(body),
        "{\"programme_id\":\"%s\",\"session_number\":1,\"starts_at\":\"2026-10-01T10:00:00Z\"}",
        prog);
    create(ANN, "/api/group-sessions", body, s1);
    snprintf(
        body, sizeof(body),
        "{\"programme_id\":\"%s\",\"session_number\":1,\"starts_at\":\"2026-10-08T10:00:00Z\"}",
        prog);
    expect(ANN, "POST", "/api/group-sessions", body, 409, "session_number");
    snprintf(
        body, sizeof(body),
        "{\"programme_id\":\"%s\",\"session_number\":2,\"starts_at\":\"2026-10-08T10:00:00Z\"}",
        prog);
    create(ANN, "/api/group-sessions", body, s2);
    snprintf(path, sizeof(path), "/api/group-sessions/%s", s2);
    expect(ANN, "PATCH", path, "{\"session_number\":1}", 409, "session_number");
    expect(ANN, "PATCH", path, "{\"session_number\":2,\"notes\":\"same\"}", 200, NULL);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_measures_scored_on_server),
        cmocka_unit_test(test_consents_goals_referrals),
        cmocka_unit_test(test_access_across_teams_and_roles),
        cmocka_unit_test(test_venues_and_programmes),
        cmocka_unit_test(test_conflicts_api),
        cmocka_unit_test(test_goal_status_follows_latest_review),
        cmocka_unit_test(test_measure_encounter_checked),
        cmocka_unit_test(test_null_refused_on_update),
        cmocka_unit_test(test_date_ranges),
        cmocka_unit_test(test_duplicates_refused),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
