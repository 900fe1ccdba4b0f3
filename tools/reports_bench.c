/*
 * reports_bench.c - generate a large synthetic Live Well record straight
 * into a data directory (SQLite bulk inserts, not through the API) and time
 * every report on it: in process (the domain functions plus JSON
 * serialisation) and, with --http, through a real `coachbox serve`.
 *
 * usage: coachbox-reports-bench --data DIR [--participants N] [--contacts M]
 *            [--years Y] [--runs R] [--no-generate] [--http]
 * Defaults: 250,000 participants, 2,000,000 contacts over 3 years ending
 * yesterday, 5 runs per report (the first run is shown apart: cold cache).
 * Each person starts at a random time; their contacts fall in the six months
 * after (about 8 each), measures at the start and 8-22 weeks later, goals in
 * the first 3 months, referrals in the first 4; 100 group programmes.
 * The data is fictitious (999 NHS numbers, made-up names and postcodes).
 * COACHBOX_BIN names the coachbox binary for --http (default ./coachbox).
 */
#include "harness.h"

#include "coachbox/measures.h"
#include "coachbox/participant.h"
#include "coachbox/reports.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N(a)   (sizeof(a) / sizeof((a)[0]))
#define DAY_MS 86400000LL

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform integer in [0, n). */
static long rn(long n)
{
    return (long)(rnd() % (uint64_t)n);
}

/* Index chosen by weights (percentages need not sum to 100). */
static int pick(const int *w, int n)
{
    int total = 0;
    for (int i = 0; i < n; i++) {
        total += w[i];
    }
    long r = rn(total);
    for (int i = 0; i < n; i++) {
        if (r < w[i]) {
            return i;
        }
        r -= w[i];
    }
    return n - 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread (the in-process reports run on it). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A UUIDv7-shaped lowercase id for time ms. */
static void mkid(int64_t ms, char out[37])
{
    uint64_t a = rnd(), b = rnd();
    char t[64];
    snprintf(t, sizeof(t), "%08llx-%04llx-7%03llx-%04llx-%012llx",
             (unsigned long long)(((uint64_t)ms >> 16) & 0xffffffffU),
             (unsigned long long)((uint64_t)ms & 0xffffU), (unsigned long long)(a & 0xfffU),
             (unsigned long long)(0x8000U | ((a >> 12) & 0x3fffU)),
             (unsigned long long)(b & 0xffffffffffffULL));
    memcpy(out, t, 36);
    out[36] = '\0';
}

static void iso(int64_t ms, char out[CB_TIME_STRLEN])
{
    cb_time_format(ms, out);
}

static void date_of(int64_t ms, char out[CB_DATE_STRLEN])
{
    char t[CB_TIME_STRLEN];
    cb_time_format(ms, t);
    memcpy(out, t, 10);
    out[10] = '\0';
}

static void die_sql(struct cb_conn *c, const char *what)
{
    fprintf(stderr, "reports-bench: %s: %s\n", what, sqlite3_errmsg(cb_conn_db(c)));
    exit(1);
}

static sqlite3_stmt *prep(struct cb_conn *c, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(cb_conn_db(c), sql, -1, &st, NULL) != SQLITE_OK) {
        die_sql(c, sql);
    }
    return st;
}

static void run(struct cb_conn *c, sqlite3_stmt *st, const char *what)
{
    if (sqlite3_step(st) != SQLITE_DONE) {
        die_sql(c, what);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void txt(sqlite3_stmt *st, int i, const char *v)
{
    if (v) {
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    } else {
        sqlite3_bind_null(st, i);
    }
}

static void exec(struct cb_conn *c, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(cb_conn_db(c), sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "reports-bench: %s: %s\n", sql, err ? err : "?");
        exit(1);
    }
}

/* ---------------------------------------------------------------- data */

static const char *const teams[] = {"prestwich", "whitefield", "radcliffe", "bury-town",
                                    "ramsbottom-tottington"};
#define NTEAMS   5
#define NCOACH   8 /* per team */
#define NVENUE   3 /* per team */
#define NPC      6000
#define NPROG    20 /* per team */
#define NSESSION 10 /* per programme */

struct person {
    char id[37];
    int team;
    int64_t start; /* when their time with the service began */
};

struct gen {
    struct cb_conn *c;
    long np, nc;
    int years;
    int64_t start_ms, end_ms;
    struct person *people;
    char coach[NTEAMS][NCOACH][37];
    char venue[NTEAMS][NVENUE][37];
    char (*postcodes)[9];
    char now[CB_TIME_STRLEN];
};

static int64_t when(const struct gen *g)
{
    return g->start_ms + (int64_t)(rnd() % (uint64_t)(g->end_ms - g->start_ms));
}

/* A time within `days` days after a person's start (never after the end). */
static int64_t after_start(const struct gen *g, const struct person *p, int days)
{
    int64_t span = g->end_ms - p->start;
    int64_t w = (int64_t)days * DAY_MS;
    return p->start + (int64_t)(rnd() % (uint64_t)(span < w ? (span > 0 ? span : 1) : w));
}

static void gen_reference(struct gen *g)
{
    sqlite3_stmt *u = prep(g->c, "INSERT INTO users(id, username, display_name, role, team, "
                                 "password_hash, created_at, updated_at) VALUES "
                                 "(?1, ?2, ?3, 'coach', ?4, 'bench:no-login', ?5, ?5)");
    sqlite3_stmt *v = prep(g->c, "INSERT INTO venues(id, name, team, created_at, updated_at) "
                                 "VALUES (?1, ?2, ?3, ?4, ?4)");
    for (int t = 0; t < NTEAMS; t++) {
        for (int k = 0; k < NCOACH; k++) {
            char name[64];
            mkid(g->start_ms, g->coach[t][k]);
            snprintf(name, sizeof(name), "bench.%s.%d", teams[t], k);
            txt(u, 1, g->coach[t][k]);
            txt(u, 2, name);
            txt(u, 3, name);
            txt(u, 4, teams[t]);
            txt(u, 5, g->now);
            run(g->c, u, "user");
        }
        for (int k = 0; k < NVENUE; k++) {
            char name[64];
            mkid(g->start_ms, g->venue[t][k]);
            snprintf(name, sizeof(name), "%s venue %d", teams[t], k);
            txt(v, 1, g->venue[t][k]);
            txt(v, 2, name);
            txt(v, 3, teams[t]);
            txt(v, 4, g->now);
            run(g->c, v, "venue");
        }
    }
    sqlite3_finalize(u);
    sqlite3_finalize(v);
    /* postcodes: BL0..BL9, M25, M26, M45 with a deprivation gradient */
    static const char *const outward[] = {"BL0", "BL8", "BL9", "M25", "M26", "M45", "BL1", "BL2"};
    static const int base_decile[] = {8, 5, 2, 6, 3, 7, 4, 5};
    g->postcodes = calloc(NPC, sizeof(*g->postcodes));
    sqlite3_stmt *im = prep(g->c, "INSERT OR IGNORE INTO imd(postcode, decile) VALUES (?1, ?2)");
    for (int i = 0; i < NPC; i++) {
        int o = (int)rn((long)N(outward));
        snprintf(g->postcodes[i], 9, "%s %d%c%c", outward[o], (int)rn(10), 'A' + (int)rn(20),
                 'A' + (int)rn(20));
        if (i % 30 == 0) {
            continue; /* about 3% of postcodes are not in the IMD file */
        }
        int d = base_decile[o] + (int)rn(5) - 2;
        txt(im, 1, g->postcodes[i]);
        sqlite3_bind_int(im, 2, d < 1 ? 1 : d > 10 ? 10 : d);
        run(g->c, im, "imd");
    }
    sqlite3_finalize(im);
}

static void gen_participants(struct gen *g)
{
    static const char *const sexes[] = {"female", "male", "not_stated", NULL};
    static const int sex_w[] = {52, 45, 2, 1};
    static const char *const eth[] = {
        "white_british",     "asian_pakistani",   "asian_indian", "white_other", "black_african",
        "mixed_white_asian", "asian_bangladeshi", "other_arab",   "not_stated",  NULL};
    static const int eth_w[] = {72, 8, 3, 4, 2, 2, 1, 1, 2, 5};
    static const char *const emp[] = {"in_work", "out_of_work", "economically_inactive",
                                      "not_stated", NULL};
    static const int emp_w[] = {45, 15, 25, 5, 10};
    static const char *const src[] = {"self",      "gp",       "social_prescriber",
                                      "jobcentre", "employer", "community_organisation",
                                      "other",     NULL};
    static const int src_w[] = {30, 30, 12, 5, 4, 6, 3, 10};
    static const char *const bar[] = {
        "mental_health",         "musculoskeletal", "autism", "heart_blood_pressure",
        "learning_difficulties", "other",           NULL};
    static const int bar_w[] = {15, 12, 2, 8, 3, 10, 50};
    static const char *const given[] = {"Amelia", "Olivia", "Isla",   "Ava",   "Mohammed", "Noah",
                                        "Oliver", "George", "Fatima", "Aisha", "Jack",     "Harry"};
    static const char *const family[] = {"Smith", "Jones",  "Taylor", "Brown",  "Khan",   "Patel",
                                         "Ahmed", "Wilson", "Evans",  "Thomas", "Walker", "Hughes"};
    sqlite3_stmt *st = prep(
        g->c, "INSERT INTO participants(id, given_name, family_name, date_of_birth, nhs_number, "
              "postcode, team, created_at, updated_at, sex, ethnic_group, veteran, "
              "learning_disability, carer, long_term_condition, employment_status, "
              "referral_source, main_barrier, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
              "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)");
    g->people = calloc((size_t)g->np, sizeof(*g->people));
    for (long i = 0; i < g->np; i++) {
        struct person *p = &g->people[i];
        int64_t created = when(g);
        p->start = created;
        mkid(created, p->id);
        p->team = (int)rn(NTEAMS);
        char dob[CB_DATE_STRLEN], at[CB_TIME_STRLEN], nhs[16];
        date_of((int64_t)(-30 * 365 + rn(68 * 365)) * DAY_MS, dob); /* 1940..2007 */
        iso(created, at);
        snprintf(nhs, sizeof(nhs), "999%07ld", i % 10000000);
        txt(st, 1, p->id);
        txt(st, 2, given[rn((long)N(given))]);
        txt(st, 3, family[rn((long)N(family))]);
        txt(st, 4, dob);
        txt(st, 5, rn(10) == 0 ? NULL : nhs);
        txt(st, 6, rn(20) == 0 ? NULL : g->postcodes[rn(NPC)]);
        txt(st, 7, teams[p->team]);
        txt(st, 8, at);
        txt(st, 9, sexes[pick(sex_w, 4)]);
        txt(st, 10, eth[pick(eth_w, 10)]);
        sqlite3_bind_int(st, 11, rn(100) < 4);
        sqlite3_bind_int(st, 12, rn(100) < 3);
        sqlite3_bind_int(st, 13, rn(100) < 10);
        sqlite3_bind_int(st, 14, rn(100) < 30);
        txt(st, 15, emp[pick(emp_w, 5)]);
        txt(st, 16, src[pick(src_w, 8)]);
        txt(st, 17, bar[pick(bar_w, 7)]);
        txt(st, 18, rn(10) < 7 ? "active" : "discharged");
        run(g->c, st, "participant");
    }
    sqlite3_finalize(st);
}

static void gen_contacts(struct gen *g)
{
    static const char *const types[] = {"drop_in", "one_to_one", "phone", "video", "group", "dna"};
    static const int type_w[] = {25, 35, 20, 5, 10, 5};
    static const char *const topics[] = {
        "smoking",        "physical_activity", "weight",      "diet", "alcohol",
        "blood_pressure", "mental_wellbeing",  "work_health", "other"};
    sqlite3_stmt *st = prep(
        g->c, "INSERT INTO encounters(id, participant_id, type, occurred_at, coach, team, "
              "created_at, updated_at, duration_minutes, venue, topics) VALUES (?1, ?2, ?3, ?4, "
              "?5, ?6, ?4, ?4, ?7, ?8, ?9)");
    for (long i = 0; i < g->nc; i++) {
        const struct person *p = &g->people[rn(g->np)];
        int64_t t = after_start(g, p, 182); /* engagement lasts up to six months */
        char id[37], at[CB_TIME_STRLEN], top[80];
        mkid(t, id);
        iso(t, at);
        int k = rn(20) == 0 ? 0 : 1 + (int)rn(2);
        int a = (int)rn((long)N(topics)),
            b = (a + 1 + (int)rn((long)N(topics) - 1)) % (int)N(topics);
        if (k == 1) {
            snprintf(top, sizeof(top), "[\"%s\"]", topics[a]);
        } else if (k == 2) {
            snprintf(top, sizeof(top), "[\"%s\",\"%s\"]", topics[a], topics[b]);
        }
        txt(st, 1, id);
        txt(st, 2, p->id);
        txt(st, 3, types[pick(type_w, 6)]);
        txt(st, 4, at);
        txt(st, 5, g->coach[p->team][rn(NCOACH)]);
        txt(st, 6, teams[p->team]);
        sqlite3_bind_int(st, 7, 15 + (int)rn(46));
        txt(st, 8, rn(10) < 7 ? g->venue[p->team][rn(NVENUE)] : NULL);
        txt(st, 9, k ? top : NULL);
        run(g->c, st, "encounter");
        if (i % 500000 == 499999) {
            fprintf(stderr, "  %ld contacts\n", i + 1);
        }
    }
    sqlite3_finalize(st);
}

/* One measure row; result is the JSON text the reports read. */
static void measure(struct gen *g, sqlite3_stmt *st, const struct person *p, const char *instr,
                    const char *tp, int64_t t, double score, int has_score, const char *band,
                    const char *raw)
{
    char id[37], at[CB_TIME_STRLEN], result[600];
    mkid(t, id);
    iso(t, at);
    snprintf(result, sizeof(result),
             "{\"instrument\":\"%s\",\"rule_version\":\"%s-1\",\"complete\":true,\"raw\":%s}",
             instr, instr, raw);
    txt(st, 1, id);
    txt(st, 2, p->id);
    txt(st, 3, instr);
    txt(st, 4, tp);
    txt(st, 5, at);
    txt(st, 6, raw);
    if (has_score) {
        sqlite3_bind_double(st, 7, score);
    }
    txt(st, 8, band);
    txt(st, 9, result);
    txt(st, 10, teams[p->team]);
    char rv[32];
    snprintf(rv, sizeof(rv), "%s-1", instr);
    txt(st, 11, rv);
    run(g->c, st, "measure");
}

static double swem_metric(int raw)
{
    static const double m[] = {7.00,  9.51,  11.25, 12.40, 13.33, 14.08, 14.75, 15.32, 15.84, 16.36,
                               16.88, 17.43, 17.98, 18.59, 19.25, 19.98, 20.73, 21.54, 22.35, 23.21,
                               24.11, 25.03, 26.02, 27.03, 28.13, 29.31, 30.70, 32.55, 35.00};
    return m[raw < 7 ? 0 : raw > 35 ? 28 : raw - 7];
}

static void gen_measures(struct gen *g)
{
    sqlite3_stmt *st =
        prep(g->c, "INSERT INTO measures(id, participant_id, instrument, timepoint, taken_at, "
                   "responses, score, band, rule_version, complete, result, team, created_at, "
                   "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?11, 1, ?9, ?10, ?5, ?5)");
    long n = 0;
    for (long i = 0; i < g->np; i++) {
        const struct person *p = &g->people[i];
        char raw[300];
        int64_t t0 = after_start(g, p, 14);
        int64_t t1 = t0 + (8 + rn(14)) * 7 * DAY_MS, t2 = t1 + (6 + rn(10)) * 7 * DAY_MS;
        if (rn(100) < 60) { /* SWEMWBS */
            int r0 = 12 + (int)rn(16), r1 = r0 + (int)rn(9) - 2;
            r1 = r1 > 35 ? 35 : r1;
            snprintf(raw, sizeof(raw), "{\"q1\":3}");
            measure(g, st, p, "swemwbs", "baseline", t0, swem_metric(r0), 1, NULL, raw);
            n++;
            if (rn(100) < 60 && t1 < g->end_ms) {
                measure(g, st, p, "swemwbs", "review", t1, swem_metric(r1), 1, NULL, raw);
                n++;
                if (rn(100) < 40 && t2 < g->end_ms) {
                    measure(g, st, p, "swemwbs", rn(2) ? "exit" : "review", t2,
                            swem_metric(r1 + 1 > 35 ? 35 : r1 + 1), 1, NULL, raw);
                    n++;
                }
            }
        }
        if (rn(100) < 30) { /* ONS4 */
            for (int k = 0; k < 2; k++) {
                int64_t t = k ? t1 : t0;
                if (t >= g->end_ms || (k && rn(2))) {
                    break;
                }
                snprintf(raw, sizeof(raw), "{\"q1\":%d,\"q2\":%d,\"q3\":%d,\"q4\":%d}", (int)rn(11),
                         (int)rn(11), (int)rn(11), (int)rn(11));
                measure(g, st, p, "ons4", k ? "review" : "baseline", t, 0, 0, NULL, raw);
                n++;
            }
        }
        if (rn(100) < 40) { /* GPPAQ */
            int a = 1 + (int)rn(4), b = a + (int)rn(3) - 1;
            b = b < 1 ? 1 : b > 4 ? 4 : b;
            snprintf(raw, sizeof(raw), "{\"occupation\":\"sedentary\"}");
            measure(g, st, p, "gppaq", "baseline", t0, a, 1, NULL, raw);
            n++;
            if (t1 < g->end_ms && rn(2)) {
                measure(g, st, p, "gppaq", "review", t1, b, 1, NULL, raw);
                n++;
            }
        }
        if (rn(100) < 35) { /* BMI */
            double h = 1.55 + (double)rn(40) / 100.0, w = 60 + (double)rn(600) / 10.0;
            double w2 = w - (double)rn(60) / 10.0 + 1.5;
            snprintf(raw, sizeof(raw), "{\"height_cm\":%.1f,\"weight_kg\":%.1f}", h * 100, w);
            measure(g, st, p, "bmi", "baseline", t0, round(w / (h * h) * 10) / 10, 1, NULL, raw);
            n++;
            if (t1 < g->end_ms && rn(2)) {
                snprintf(raw, sizeof(raw), "{\"height_cm\":%.1f,\"weight_kg\":%.1f}", h * 100, w2);
                measure(g, st, p, "bmi", "review", t1, round(w2 / (h * h) * 10) / 10, 1, NULL, raw);
                n++;
            }
        }
        if (rn(100) < 25) { /* AUDIT-C */
            int a = (int)rn(13), b = a - (int)rn(4);
            snprintf(raw, sizeof(raw), "{\"q1\":1,\"q2\":1,\"q3\":1}");
            measure(g, st, p, "audit_c", "baseline", t0, a, 1, NULL, raw);
            n++;
            if (t1 < g->end_ms && rn(2)) {
                measure(g, st, p, "audit_c", "review", t1, b < 0 ? 0 : b, 1, NULL, raw);
                n++;
            }
        }
        if (rn(100) < 25) { /* smoking status, and sometimes a quit attempt */
            static const char *const st_codes[] = {"never", "ex_smoker", "current"};
            static const char *const st_bands[] = {"never_smoked", "ex_smoker", "current_smoker"};
            int k = (int)rn(3);
            snprintf(raw, sizeof(raw), "{\"status\":\"%s\"}", st_codes[k]);
            measure(g, st, p, "smoking", "baseline", t0, 0, 0, st_bands[k], raw);
            n++;
            if (k == 2 && rn(100) < 40 && t0 + 30 * DAY_MS < g->end_ms) {
                char qd[CB_DATE_STRLEN], fd[CB_DATE_STRLEN];
                date_of(t0, qd);
                date_of(t0 + 28 * DAY_MS, fd);
                int quit = rn(100) < 45, co = rn(100) < 12;
                const char *band = !quit   ? "not_quit"
                                   : co    ? "quit_self_reported"
                                   : rn(4) ? "quit_co_validated"
                                           : "quit_not_co_validated";
                snprintf(raw, sizeof(raw),
                         "{\"status\":\"quit_attempt\",\"quit_date\":\"%s\",\"followup_date\":"
                         "\"%s\",\"self_reported_quit\":%s}",
                         qd, fd, quit ? "true" : "false");
                measure(g, st, p, "smoking", "review", t0 + 28 * DAY_MS, 0, 0, band, raw);
                n++;
            }
        }
    }
    sqlite3_finalize(st);
    fprintf(stderr, "  %ld measures\n", n);
}

static void gen_goals_referrals(struct gen *g)
{
    static const char *const gst[] = {"agreed", "partly_achieved", "fully_achieved",
                                      "not_achieved"};
    static const int gst_w[] = {35, 20, 35, 10};
    static const char *const topics[] = {"smoking", "physical_activity", "weight",
                                         "diet",    "alcohol",           "mental_wellbeing"};
    static const char *const dest[] = {
        "stop_smoking", "exercise_referral",  "weight_management", "bowel_screening",
        "gp",           "social_prescribing", "mental_health",     "employment_support",
        "other"};
    static const char *const rst[] = {"sent", "accepted", "declined", "attended"};
    sqlite3_stmt *go = prep(
        g->c, "INSERT INTO goals(id, participant_id, text, topic, agreed_date, status, team, "
              "created_at, updated_at) VALUES (?1, ?2, 'Walk 30 minutes a day', ?3, ?4, ?5, ?6, "
              "?7, ?7)");
    sqlite3_stmt *rf = prep(
        g->c, "INSERT INTO referrals(id, participant_id, destination, status, sent_date, team, "
              "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)");
    long ng = 0, nr = 0;
    for (long i = 0; i < g->np; i++) {
        const struct person *p = &g->people[i];
        int k = (int)rn(4);
        for (int j = 0; j < k; j++, ng++) {
            int64_t t = after_start(g, p, 90);
            char id[37], d[CB_DATE_STRLEN], at[CB_TIME_STRLEN];
            mkid(t, id);
            date_of(t, d);
            iso(t, at);
            txt(go, 1, id);
            txt(go, 2, p->id);
            txt(go, 3, topics[rn((long)N(topics))]);
            txt(go, 4, d);
            txt(go, 5, gst[pick(gst_w, 4)]);
            txt(go, 6, teams[p->team]);
            txt(go, 7, at);
            run(g->c, go, "goal");
        }
        if (rn(100) < 50) {
            int64_t t = after_start(g, p, 120);
            char id[37], d[CB_DATE_STRLEN], at[CB_TIME_STRLEN];
            mkid(t, id);
            date_of(t, d);
            iso(t, at);
            txt(rf, 1, id);
            txt(rf, 2, p->id);
            txt(rf, 3, dest[rn((long)N(dest))]);
            txt(rf, 4, rst[rn(4)]);
            txt(rf, 5, d);
            txt(rf, 6, teams[p->team]);
            txt(rf, 7, at);
            run(g->c, rf, "referral");
            nr++;
        }
    }
    sqlite3_finalize(go);
    sqlite3_finalize(rf);
    fprintf(stderr, "  %ld goals, %ld referrals\n", ng, nr);
}

static void gen_groups(struct gen *g)
{
    static const char *const ast[] = {"attended", "absent", "apologies"};
    static const int ast_w[] = {75, 15, 10};
    sqlite3_stmt *pr = prep(
        g->c, "INSERT INTO programmes(id, name, topic, team, venue, lead, start_date, weeks, "
              "status, created_at, updated_at) VALUES (?1, 'Healthy steps', 'physical_activity', "
              "?2, ?3, ?4, ?5, 10, 'finished', ?6, ?6)");
    sqlite3_stmt *se =
        prep(g->c, "INSERT INTO group_sessions(id, programme_id, session_number, starts_at, team, "
                   "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?4)");
    sqlite3_stmt *at =
        prep(g->c, "INSERT OR IGNORE INTO attendance(id, session_id, programme_id, status, "
                   "participant_id, team, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                   "?7, ?7)");
    long na = 0;
    for (int t = 0; t < NTEAMS; t++) {
        for (int k = 0; k < NPROG; k++) {
            int64_t s0 = when(g);
            char pid[37], d[CB_DATE_STRLEN], ts[CB_TIME_STRLEN];
            mkid(s0, pid);
            date_of(s0, d);
            iso(s0, ts);
            txt(pr, 1, pid);
            txt(pr, 2, teams[t]);
            txt(pr, 3, g->venue[t][rn(NVENUE)]);
            txt(pr, 4, g->coach[t][rn(NCOACH)]);
            txt(pr, 5, d);
            txt(pr, 6, ts);
            run(g->c, pr, "programme");
            /* twelve people of the team */
            const struct person *members[12];
            int nm = 0;
            while (nm < 12) {
                const struct person *p = &g->people[rn(g->np)];
                if (p->team == t) {
                    members[nm++] = p;
                }
            }
            for (int s = 0; s < NSESSION; s++) {
                int64_t st = s0 + s * 7 * DAY_MS;
                char sid[37], sts[CB_TIME_STRLEN];
                mkid(st, sid);
                iso(st, sts);
                txt(se, 1, sid);
                txt(se, 2, pid);
                sqlite3_bind_int(se, 3, s + 1);
                txt(se, 4, sts);
                txt(se, 5, teams[t]);
                run(g->c, se, "session");
                for (int m = 0; m < nm; m++) {
                    char aid[37];
                    mkid(st, aid);
                    txt(at, 1, aid);
                    txt(at, 2, sid);
                    txt(at, 3, pid);
                    txt(at, 4, ast[pick(ast_w, 3)]);
                    txt(at, 5, members[m]->id);
                    txt(at, 6, teams[t]);
                    txt(at, 7, sts);
                    run(g->c, at, "attendance");
                    na++;
                }
            }
        }
    }
    sqlite3_finalize(pr);
    sqlite3_finalize(se);
    sqlite3_finalize(at);
    fprintf(stderr, "  %d programmes, %ld attendance records\n", NTEAMS * NPROG, na);
}

static int generate(struct cb_conn *c, long np, long nc, int years)
{
    struct gen g;
    memset(&g, 0, sizeof(g));
    g.c = c;
    g.np = np;
    g.nc = nc;
    g.years = years;
    int64_t today = cb_now_ms() / DAY_MS * DAY_MS;
    g.end_ms = today - 1;
    g.start_ms = today - (int64_t)years * 365 * DAY_MS;
    iso(cb_now_ms(), g.now);
    double t0 = now_s();
    exec(c, "PRAGMA synchronous=OFF; PRAGMA cache_size=-1000000; BEGIN");
    gen_reference(&g);
    gen_participants(&g);
    fprintf(stderr, "  %ld participants (%.1f s)\n", np, now_s() - t0);
    gen_contacts(&g);
    gen_measures(&g);
    gen_goals_referrals(&g);
    gen_groups(&g);
    exec(c, "COMMIT; PRAGMA synchronous=FULL; PRAGMA wal_checkpoint(TRUNCATE)");
    fprintf(stderr, "generated in %.1f s\n", now_s() - t0);
    free(g.people);
    free(g.postcodes);
    return 0;
}

/* ------------------------------------------------------------- timing */

struct timing {
    const char *name;
    struct cb_report_query q;
    int kind; /* 0 outcomes, 1 records, 2 reach, 3 data quality, 4 quarterly, 5 venues */
    const char *url;
};

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Run one report in process; returns seconds, or -1 on error. */
static double time_one(struct cb_conn *c, const struct cb_actor *a, const struct timing *t,
                       size_t *bytes, double *cpu)
{
    struct cb_field_error fe = {"", ""};
    json_t *out = NULL;
    struct cb_buf b;
    cb_buf_init(&b, 64 * 1024 * 1024);
    double t0 = now_s(), c0 = cpu_s();
    int rc;
    switch (t->kind) {
    case 0:
        rc = cb_report_outcomes(c, a, &t->q, &out, &fe);
        break;
    case 1:
        rc = cb_report_records(c, a, &t->q, &out, &fe);
        break;
    case 2:
        rc = cb_report_reach(c, a, &t->q, &out, &fe);
        break;
    case 3:
        rc = cb_report_data_quality(c, a, &t->q, &out, &fe);
        break;
    case 5:
        rc = cb_report_venues(c, a, &t->q, &out, &fe);
        break;
    default:
        rc = cb_report_quarterly_csv(c, a, t->q.quarter, t->q.team, &b, &fe);
        break;
    }
    *bytes = b.len;
    if (out) {
        char *s = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(15));
        *bytes = s ? strlen(s) : 0;
        free(s);
        json_decref(out);
    }
    double dt = now_s() - t0;
    *cpu = cpu_s() - c0;
    cb_buf_free(&b);
    if (rc) {
        fprintf(stderr, "%s: %s %s %s\n", t->name, cb_strerror(rc), fe.field, fe.message);
        return -1;
    }
    return dt;
}

/* GET url on the running server; returns seconds or -1. */
static double time_http(struct cbt_client *cl, const char *url, size_t *bytes)
{
    struct cbt_resp r;
    double t0 = now_s();
    if (cbt_request(cl, "GET", url, NULL, &r) != 0) {
        return -1;
    }
    double dt = now_s() - t0;
    *bytes = r.body_len;
    long status = r.status;
    cbt_resp_free(&r);
    return status == 200 ? dt : -1;
}

static void first_id(struct cb_conn *c, const char *sql, char out[64])
{
    sqlite3_stmt *st;
    out[0] = '\0';
    if (sqlite3_prepare_v2(cb_conn_db(c), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out, 64, "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
}

static long count_of(struct cb_conn *c, const char *sql)
{
    sqlite3_stmt *st;
    long n = -1;
    if (sqlite3_prepare_v2(cb_conn_db(c), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        n = (long)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

int main(int argc, char **argv)
{
    const char *data = NULL;
    long np = 250000, nc = 2000000;
    int years = 3, runs = 5, gen = 1, http = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--data") == 0 && v) {
            data = argv[++i];
        } else if (strcmp(argv[i], "--participants") == 0 && v) {
            np = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--contacts") == 0 && v) {
            nc = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--years") == 0 && v) {
            years = (int)strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--runs") == 0 && v) {
            runs = (int)strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--no-generate") == 0) {
            gen = 0;
        } else if (strcmp(argv[i], "--only") == 0 && v) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--http") == 0) {
            http = 1;
        } else {
            fprintf(
                stderr,
                "usage: coachbox-reports-bench --data DIR [--participants N] "
                "[--contacts M] [--years Y] [--runs R] [--no-generate] [--http] [--only NAME]\n");
            return 2;
        }
    }
    if (!data || np < 100 || nc < 100 || years < 1 || runs < 1 || runs > 50) {
        fprintf(stderr, "reports-bench: --data DIR is required (and sane sizes)\n");
        return 2;
    }
    struct cb_store *s;
    struct cb_conn *c;
    if (cb_store_open(data, &s) != CB_OK || cb_store_conn(s, &c) != CB_OK) {
        fprintf(stderr, "reports-bench: cannot open %s\n", data);
        return 1;
    }
    if (gen) {
        if (count_of(c, "SELECT count(*) FROM participants") > 0) {
            fprintf(stderr, "reports-bench: %s already has data; use --no-generate\n", data);
            return 1;
        }
        fprintf(stderr, "generating %ld participants, %ld contacts over %d years...\n", np, nc,
                years);
        generate(c, np, nc, years);
    }
    printf("data: %ld participants, %ld contacts, %ld measures, %ld goals, %ld referrals, %ld "
           "attendance\n",
           count_of(c, "SELECT count(*) FROM participants"),
           count_of(c, "SELECT count(*) FROM encounters"),
           count_of(c, "SELECT count(*) FROM measures"), count_of(c, "SELECT count(*) FROM goals"),
           count_of(c, "SELECT count(*) FROM referrals"),
           count_of(c, "SELECT count(*) FROM attendance"));

    /* periods: the last full calendar quarter, the last 12 months, everything */
    char today[CB_DATE_STRLEN], y1[CB_DATE_STRLEN], y3[CB_DATE_STRLEN], w8[CB_DATE_STRLEN], qf[32],
        qt[32], quarter[16], venue[64], coach[64];
    cb_today(today);
    int y = (int)strtol(today, NULL, 10), m = (today[5] - '0') * 10 + (today[6] - '0');
    int q = (m - 1) / 3; /* the previous quarter: 0 means Q4 of last year */
    int qy = q == 0 ? y - 1 : y, qn = q == 0 ? 4 : q;
    snprintf(quarter, sizeof(quarter), "%04dQ%d", qy % 10000, qn % 10);
    snprintf(qf, sizeof(qf), "%04d-%02d-01", qy % 10000, (3 * qn - 2) % 100);
    static const char *const qend[] = {"", "03-31", "06-30", "09-30", "12-31"};
    snprintf(qt, sizeof(qt), "%04d-%s", qy % 10000, qend[qn]);
    date_of(cb_now_ms() - 365 * DAY_MS, y1);
    date_of(cb_now_ms() - 55 * DAY_MS, w8);
    date_of(cb_now_ms() - (int64_t)years * 366 * DAY_MS, y3);
    first_id(c, "SELECT id FROM venues ORDER BY id LIMIT 1", venue);
    first_id(c, "SELECT id FROM users WHERE role = 'coach' ORDER BY id LIMIT 1", coach);

    struct timing ts[] = {
        {"outcomes quarter", {.from = qf, .to = qt}, 0, NULL},
        {"outcomes 12 months", {.from = y1, .to = today}, 0, NULL},
        {"outcomes all years", {.from = y3, .to = today}, 0, NULL},
        {"outcomes 12m split=age_band", {.from = y1, .to = today, .split = "age_band"}, 0, NULL},
        {"outcomes 12m split=ethnic_group",
         {.from = y1, .to = today, .split = "ethnic_group"},
         0,
         NULL},
        {"outcomes 12m split=imd_decile",
         {.from = y1, .to = today, .split = "imd_decile"},
         0,
         NULL},
        {"outcomes 12m split=cohort", {.from = y1, .to = today, .split = "cohort"}, 0, NULL},
        {"outcomes 12m team=bury-town", {.from = y1, .to = today, .team = "bury-town"}, 0, NULL},
        {"outcomes 12m venue=V", {.from = y1, .to = today, .venue = venue}, 0, NULL},
        {"outcomes 12m coach=C", {.from = y1, .to = today, .coach = coach}, 0, NULL},
        {"outcomes 12m topic=smoking", {.from = y1, .to = today, .topic = "smoking"}, 0, NULL},
        {"outcomes 12m cohort=carer", {.from = y1, .to = today, .cohort = "carer"}, 0, NULL},
        {"outcomes 12m suppress=1 split=sex",
         {.from = y1, .to = today, .split = "sex", .suppress = "1"},
         0,
         NULL},
        {"records 12m swemwbs.improved",
         {.from = y1, .to = today, .figure = "swemwbs.improved"},
         1,
         NULL},
        {"records 12m people_seen", {.from = y1, .to = today, .figure = "people_seen"}, 1, NULL},
        {"reach 12m split=imd_decile", {.from = y1, .to = today, .split = "imd_decile"}, 2, NULL},
        {"reach all years split=ethnic_group",
         {.from = y3, .to = today, .split = "ethnic_group"},
         2,
         NULL},
        {"data quality (all time)", {.from = NULL}, 3, NULL},
        {"quarterly CSV", {.quarter = quarter}, 4, NULL},
        {"outcomes 8 weeks venue=V", {.from = w8, .to = today, .venue = venue}, 0, NULL},
        {"venues 8 weeks (caseloads screen)", {.from = w8, .to = today}, 5, NULL},
        {"venues 12 months", {.from = y1, .to = today}, 5, NULL},
    };
    struct cb_user mgr;
    memset(&mgr, 0, sizeof(mgr));
    snprintf(mgr.id, sizeof(mgr.id), "00000000-0000-7000-8000-000000000000");
    snprintf(mgr.role, sizeof(mgr.role), "manager");
    struct cb_actor actor = {&mgr, "bench", 1};
    printf("\nin process (domain + JSON), %d runs: wall ms first / median / max, CPU ms median\n",
           runs);
    int over = 0;
    for (size_t i = 0; i < N(ts); i++) {
        double d[50], cpu[50];
        size_t bytes = 0;
        if (only && !strstr(ts[i].name, only)) {
            continue;
        }
        for (int r = 0; r < runs; r++) {
            d[r] = time_one(c, &actor, &ts[i], &bytes, &cpu[r]);
        }
        double first = d[0];
        qsort(d, (size_t)runs, sizeof(double), cmp_d);
        qsort(cpu, (size_t)runs, sizeof(double), cmp_d);
        printf("  %-40s %7.1f %7.1f %7.1f  cpu %6.1f  (%zu bytes)\n", ts[i].name, first * 1000,
               d[runs / 2] * 1000, d[runs - 1] * 1000, cpu[runs / 2] * 1000, bytes);
        over += d[runs / 2] >= 0.5;
    }
    if (http) {
        cb_store_close(s);
        s = NULL;
        static const char *const pw = "bench-password-1";
        if (cbt_add_user(data, "bench.manager", "manager", NULL, pw) != 0) {
            fprintf(stderr, "(bench.manager exists already; reusing it)\n");
        }
        struct cbt_server srv;
        static const char *const args[] = {"--threads", "4", NULL};
        if (cbt_server_start(&srv, data, args) != 0) {
            fprintf(stderr, "reports-bench: the server did not start\n");
            return 1;
        }
        struct cbt_client cl;
        cbt_client_init(&cl, srv.url);
        if (cbt_login(&cl, "bench.manager", pw) != 200) {
            fprintf(stderr, "reports-bench: login failed\n");
            cbt_server_stop(&srv);
            return 1;
        }
        char urls[N(ts)][512];
        for (size_t i = 0; i < N(ts); i++) {
            const struct cb_report_query *x = &ts[i].q;
            static const char *const paths[] = {
                "/api/reports/outcomes",      "/api/reports/outcomes/records",
                "/api/reports/reach",         "/api/reports/data-quality",
                "/api/exports/quarterly.csv", "/api/reports/venues"};
            int n = snprintf(urls[i], sizeof(urls[i]), "%s?", paths[ts[i].kind]);
            struct {
                const char *k, *v;
            } kv[] = {{"from", x->from},     {"to", x->to},          {"team", x->team},
                      {"venue", x->venue},   {"coach", x->coach},    {"topic", x->topic},
                      {"cohort", x->cohort}, {"split", x->split},    {"suppress", x->suppress},
                      {"figure", x->figure}, {"quarter", x->quarter}};
            for (size_t k = 0; k < N(kv); k++) {
                if (kv[k].v) {
                    n += snprintf(urls[i] + n, sizeof(urls[i]) - (size_t)n, "%s=%s&", kv[k].k,
                                  kv[k].v);
                }
            }
            urls[i][n - 1] = '\0';
        }
        printf("\nover HTTP (GET, one keep-alive connection), %d runs: first / median / max ms\n",
               runs);
        for (size_t i = 0; i < N(ts); i++) {
            double d[50];
            size_t bytes = 0;
            for (int r = 0; r < runs; r++) {
                d[r] = time_http(&cl, urls[i], &bytes);
            }
            double first = d[0];
            qsort(d, (size_t)runs, sizeof(double), cmp_d);
            printf("  %-40s %7.1f %7.1f %7.1f   (%zu bytes)\n", ts[i].name, first * 1000,
                   d[runs / 2] * 1000, d[runs - 1] * 1000, bytes);
            over += d[runs / 2] >= 0.5 || d[0] < 0;
        }
        cbt_client_free(&cl);
        cbt_server_stop(&srv);
    }
    if (s) {
        cb_store_close(s);
    }
    printf("\n%d timings at or over 500 ms (median)\n", over);
    return 0;
}
