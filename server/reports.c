/*
 * reports.c - manager reporting (reports.h; figures defined in
 * docs/REPORTS.md).
 *
 * One engine serves every report.  It runs in three phases inside one read
 * transaction:
 *   1. event streams: contacts, group attendance, referrals, goals, measure
 *      pairs and smoking quits of the period are read through covering
 *      indexes (migration 6) and accumulated per person in a hash table
 *      keyed by participant id, so no per-contact join is ever made;
 *   2. attributes: the people touched get their split attributes (age,
 *      sex, ethnic group, IMD decile, cohort flags, ...) either by one scan
 *      of participants or by primary-key probes, whichever reads less;
 *      people deleted, merged, outside the team or the cohort drop out;
 *   3. roll-up: per-person totals and event lists are added into the total
 *      and into the groups of the split.  The records route marks the
 *      people behind one count with the same predicates as the roll-up.
 *
 * Query plans (EXPLAIN QUERY PLAN on the migration-6 schema, no ANALYZE):
 *   contacts     whole months and years: SEARCH contact_years / contact_months USING
 *                PRIMARY KEY (team=? AND year|month>? AND ...<?) team by team (migrations
 *                13, 15); part-months: SEARCH encounters USING COVERING INDEX
 *                encounters_report (team=? AND occurred_at>? AND occurred_at<?); topic=
 *                the same on COVERING INDEX encounters_topic; venue= SEARCH USING
 *                COVERING INDEX encounters_venue_report (migration 8; venue=? AND
 *                occurred_at>? ...); coach= / programme= SEARCH USING INDEX
 *                encounters_coach (coach=? AND occurred_at>? ...) / encounters_session
 *   attendance   SEARCH s USING INDEX group_sessions_report (starts_at>? AND starts_at<?),
 *                programmes by primary key, SEARCH a USING INDEX attendance_unique
 *   referrals    SEARCH USING COVERING INDEX referrals_report (team=? AND sent_date>? ...)
 *   goals        SEARCH USING COVERING INDEX goals_report (team=? AND agreed_date>? ...)
 *   pairs        SEARCH measures USING COVERING INDEX measures_pairs (instrument=? AND
 *                taken_at>? AND taken_at<?): the period's follow-ups, each carrying its
 *                person's earliest baseline (migration 11's trigger-kept pb_* / pbt_*).
 *                The reference engine (tests): few follow-ups: SEARCH USING COVERING INDEX
 *                measures_report (instrument=? AND participant_id=? AND taken_at<?) over a
 *                LIST SUBQUERY on measures_pairs; else SEARCH USING COVERING INDEX
 *                measures_report (instrument=?)
 *   quits        SEARCH measures USING INDEX measures_band (instrument=? AND band=?)
 *   attributes   SEARCH participants USING COVERING INDEX participants_report (team=?, and
 *                id<? or id>? on two threads) per live team, or SEARCH USING INDEX
 *                sqlite_autoindex_participants_1 (id=?) per person
 *   records      SCAN participants USING INDEX participants_family (name order), or by id
 *   venues       SEARCH encounters USING COVERING INDEX encounters_venue_report (venue=? AND
 *                occurred_at>? ...) per live venue, counted per (person, venue) in C
 *   data quality SCAN measures USING COVERING INDEX measures_report (baselines), COVERING
 *                INDEX encounters_no_topic, measures_incomplete, each joined to COVERING
 *                INDEX participants_active (migration 11); participants_nhs
 */
#include "coachbox/reports.h"
#include "coachbox/audit.h"
#include "coachbox/json.h"
#include "coachbox/measures.h"
#include "coachbox/record.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"
#include "migrations.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
/* Every team, written so SQLite reads the (team, time) covering indexes team by team. */
#define ALL_TEAMS " AND team IN (SELECT id FROM teams)"
#define DAY_MS    86400000LL
#define HOUR_MS   3600000LL
#define SQL_MAX   8192

/* ================================================================ splits */

enum split_id {
    SP_NONE = -1,
    SP_TEAM,
    SP_AGE,
    SP_AGE_RETURN,
    SP_SEX,
    SP_ETHNIC,
    SP_IMD,
    SP_COHORT,
    SP_EMPLOYMENT,
    SP_REFERRAL_SOURCE,
    SP_MAIN_BARRIER,
    SP_COUNT
};

static const char *const split_names[SP_COUNT] = {
    "team",   "age_band",          "age_band_return", "sex",         "ethnic_group", "imd_decile",
    "cohort", "employment_status", "referral_source", "main_barrier"};

static const char *const age_keys[] = {"under_16", "16_24",   "25_34", "35_49",
                                       "50_64",    "65_plus", NULL};
static const char *const age_return_keys[] = {"up_to_35", "36_49", "50_plus", NULL};
static const char *const sex_codes[] = {"female", "male", "not_stated", NULL};
static const char *const ethnic_keys[] = {"asian", "black",      "mixed", "white",
                                          "other", "not_stated", NULL};
static const char *const imd_keys[] = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", NULL};
static const char *const cohort_keys[] = {"veteran", "learning_disability", "carer",
                                          "long_term_condition", NULL};
#define NCOHORTS 4

#define NOT_RECORDED "not_recorded"

/* Index of s in a NULL-terminated list, or the list's length when absent/NULL. */
static int code_index(const char *const *list, const char *s)
{
    int i = 0;
    for (; list[i]; i++) {
        if (s && strcmp(list[i], s) == 0) {
            return i;
        }
    }
    return i;
}

static int list_len(const char *const *list)
{
    return code_index(list, NULL);
}

static int split_parse(const char *s)
{
    for (int i = 0; i < SP_COUNT; i++) {
        if (strcmp(s, split_names[i]) == 0) {
            return i;
        }
    }
    return SP_NONE;
}

/* ======================================================= dates and times */

/* Day number of the last Sunday of month m (a month of 31 days). */
static int64_t last_sunday(int y, int m)
{
    int64_t d = cb_days_from_civil(y, m, 31);
    int64_t weekday = ((d % 7) + 7 + 4) % 7; /* 0 = Sunday; 1970-01-01 was a Thursday */
    return d - weekday;
}

/* Civil date of a day number (Howard Hinnant's algorithm). */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

/*
 * The UTC instant of 00:00 Europe/London on day number days, formatted as
 * stored times are.  Midnight is in British Summer Time exactly when the day
 * falls after the last Sunday of March and on or before the last Sunday of
 * October (clocks change at 01:00 UTC on those Sundays).
 */
static void london_midnight(int64_t days, char out[CB_TIME_STRLEN])
{
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    int bst = days > last_sunday(y, 3) && days <= last_sunday(y, 10);
    cb_time_format(days * DAY_MS - (bst ? HOUR_MS : 0), out);
}

static void days_date(int64_t days, char out[CB_DATE_STRLEN])
{
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    char t[48];
    snprintf(t, sizeof(t), "%04d-%02d-%02d", y, m, d);
    memcpy(out, t, CB_DATE_STRLEN - 1);
    out[CB_DATE_STRLEN - 1] = '\0';
}

/* Parse a strict YYYY-MM-DD in 1900..2199 into a day number. */
static int date_param(const char *name, const char *s, int64_t *days, struct cb_field_error *fe)
{
    int y, m, d;
    if (!s || strlen(s) != 10 || cb_date_parse(s, &y, &m, &d) != CB_OK || y < 1900 || y > 2199) {
        return cb_field_fail(fe, name, "must be a date YYYY-MM-DD");
    }
    *days = cb_days_from_civil(y, m, d);
    return CB_OK;
}

/* Whole number in [lo, hi]; absent gives def. */
static int int_param(const char *name, const char *s, long lo, long hi, long def, long *out,
                     struct cb_field_error *fe)
{
    if (!s) {
        *out = def;
        return CB_OK;
    }
    int ok = s[0] != '\0' && strlen(s) <= 9;
    for (const char *p = s; ok && *p; p++) {
        ok = *p >= '0' && *p <= '9';
    }
    long v = ok ? strtol(s, NULL, 10) : 0;
    if (!ok || v < lo || v > hi) {
        return cb_field_fail(fe, name, "must be a whole number from %ld to %ld", lo, hi);
    }
    *out = v;
    return CB_OK;
}

/* ============================================================ sql helpers */

static int step_done(sqlite3_stmt *st, int s)
{
    cb_stmt_done(st);
    return s == SQLITE_DONE || s == SQLITE_ROW ? CB_OK : cb_store_rc(s);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static json_t *col_json_str(sqlite3_stmt *st, int i)
{
    const char *s = col_text(st, i);
    return s ? json_string(s) : json_null();
}

/* 1 if a live row of table with this id exists (table is a fixed name). */
static int row_exists(struct cb_conn *c, const char *sql, const char *id, int *exists)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    *exists = s == SQLITE_ROW;
    return step_done(st, s);
}

/* A read snapshot over several statements. */
static int read_begin(struct cb_conn *c)
{
    return cb_conn_exec(c, "BEGIN");
}

static void read_end(struct cb_conn *c)
{
    if (cb_conn_exec(c, "COMMIT") != CB_OK) {
        cb_conn_rollback(c);
    }
}

int cb_report_threshold(struct cb_conn *c, int *threshold)
{
    char v[32];
    *threshold = CB_REPORT_THRESHOLD_DEFAULT;
    int rc = cb_setting_get(c, "small_number_threshold", v, sizeof(v));
    if (rc == CB_ENOTFOUND) {
        return CB_OK;
    }
    if (rc) {
        return rc;
    }
    long t = 0;
    if (int_param("small_number_threshold", v, 1, 1000, CB_REPORT_THRESHOLD_DEFAULT, &t, NULL) ==
        CB_OK) {
        *threshold = (int)t;
    }
    return CB_OK;
}

/* ======================================================= the parameters */

/* Resolved, validated report parameters. */
struct rp {
    int64_t from_days, to_days;
    char from[CB_DATE_STRLEN], to[CB_DATE_STRLEN];       /* inclusive dates */
    char from_ts[CB_TIME_STRLEN], to_ts[CB_TIME_STRLEN]; /* [from_ts, to_ts) instants */
    int has_period;
    char team[80]; /* "" = every team */
    char venue[CB_UUID_STRLEN], coach[CB_UUID_STRLEN], programme[CB_UUID_STRLEN];
    char topic[40], topic_pat[44]; /* code, and "\"code\"" for JSON arrays */
    int cohort;                    /* -1 none */
    int split;                     /* SP_NONE */
    int suppress;
    int threshold;
    int filters; /* any of venue, coach, programme, topic */
};

enum access { ACC_TEAM, ACC_MANAGER };

static int is_manager(const struct cb_actor *a)
{
    return a && strcmp(a->user->role, "manager") == 0;
}

/*
 * Check the role and resolve team: managers (a NULL actor is the command
 * line, which is treated as one) may name any existing team or none;
 * coaches and leads get their own team (ACC_TEAM routes only).  A coach or
 * lead without a team is refused (CB_EFORBIDDEN): an empty team means every
 * team, which only a manager may see.
 */
static int resolve_team(struct cb_conn *c, const struct cb_actor *a, enum access acc,
                        const char *team, struct rp *p, struct cb_field_error *fe)
{
    if (a && !cb_user_is_clinical(a->user)) {
        return CB_EFORBIDDEN;
    }
    int manager = !a || is_manager(a);
    if (!manager && acc == ACC_MANAGER) {
        return CB_EFORBIDDEN;
    }
    if (!manager && !a->user->team[0]) {
        cb_field_fail(fe, "team", "is not set on your account: ask an admin to set it");
        return CB_EFORBIDDEN;
    }
    p->team[0] = '\0';
    if (team && team[0]) {
        if (strlen(team) >= sizeof(p->team)) {
            return cb_field_fail(fe, "team", "is not a known team");
        }
        if (!manager && strcmp(team, a->user->team) != 0) {
            cb_field_fail(fe, "team", "can only be your own team");
            return CB_EFORBIDDEN;
        }
        int exists = 0;
        int rc = row_exists(c, "SELECT 1 FROM teams WHERE id = ?1 AND deleted = 0", team, &exists);
        if (rc) {
            return rc;
        }
        if (!exists) {
            return cb_field_fail(fe, "team", "is not a known team");
        }
        snprintf(p->team, sizeof(p->team), "%s", team);
    } else if (!manager) {
        snprintf(p->team, sizeof(p->team), "%s", a->user->team);
    }
    assert(manager || p->team[0]); /* a coach's or lead's scope is never every team */
    return CB_OK;
}

/* from/to: both required when need, else both or neither. */
static int resolve_period(const struct cb_report_query *q, int need, struct rp *p,
                          struct cb_field_error *fe)
{
    if (!q->from && !q->to && !need) {
        return CB_OK;
    }
    if (!q->from) {
        return cb_field_fail(fe, "from", "is required (YYYY-MM-DD)");
    }
    if (!q->to) {
        return cb_field_fail(fe, "to", "is required (YYYY-MM-DD)");
    }
    int rc = date_param("from", q->from, &p->from_days, fe);
    if (!rc) {
        rc = date_param("to", q->to, &p->to_days, fe);
    }
    if (rc) {
        return rc;
    }
    if (p->to_days < p->from_days) {
        return cb_field_fail(fe, "to", "must not be before from");
    }
    days_date(p->from_days, p->from);
    days_date(p->to_days, p->to);
    london_midnight(p->from_days, p->from_ts);
    london_midnight(p->to_days + 1, p->to_ts);
    p->has_period = 1;
    return CB_OK;
}

/* An optional id parameter naming a live row (sql selects it by ?1). */
static int id_param(struct cb_conn *c, const char *name, const char *v, const char *sql,
                    char out[CB_UUID_STRLEN], int *filters, struct cb_field_error *fe)
{
    out[0] = '\0';
    if (!v) {
        return CB_OK;
    }
    int exists = 0;
    if (!cb_uuid_valid(v)) {
        return cb_field_fail(fe, name, "is not an id");
    }
    int rc = row_exists(c, sql, v, &exists);
    if (rc) {
        return rc;
    }
    if (!exists) {
        return cb_field_fail(fe, name, "is not a known %s", name);
    }
    snprintf(out, CB_UUID_STRLEN, "%s", v);
    *filters = 1;
    return CB_OK;
}

/* Filters, cohort, split and suppression shared by outcomes, records and reach. */
static int resolve_filters(struct cb_conn *c, const struct cb_actor *a,
                           const struct cb_report_query *q, struct rp *p, struct cb_field_error *fe)
{
    int rc = id_param(c, "venue", q->venue, "SELECT 1 FROM venues WHERE id = ?1 AND deleted = 0",
                      p->venue, &p->filters, fe);
    if (!rc) {
        rc = id_param(c, "coach", q->coach, "SELECT 1 FROM users WHERE id = ?1", p->coach,
                      &p->filters, fe);
    }
    if (!rc && q->programme) {
        rc = id_param(c, "programme", q->programme,
                      "SELECT team FROM programmes WHERE id = ?1 AND deleted = 0", p->programme,
                      &p->filters, fe);
        if (!rc && a && !is_manager(a)) {
            /* another team's programme is not known to a coach or lead */
            sqlite3_stmt *st;
            rc = cb_conn_prepare(c, "SELECT team FROM programmes WHERE id = ?1", &st);
            if (!rc) {
                sqlite3_bind_text(st, 1, p->programme, -1, SQLITE_TRANSIENT);
                int s = sqlite3_step(st);
                int mine = s == SQLITE_ROW && col_text(st, 0) &&
                           strcmp(col_text(st, 0), a->user->team) == 0;
                rc = step_done(st, s);
                if (!rc && !mine) {
                    rc = cb_field_fail(fe, "programme", "is not a known programme");
                }
            }
        }
    }
    if (rc) {
        return rc;
    }
    p->topic[0] = p->topic_pat[0] = '\0';
    if (q->topic) {
        if (code_index(cb_topics, q->topic) == list_len(cb_topics)) {
            return cb_field_fail(fe, "topic", "is not a known topic");
        }
        snprintf(p->topic, sizeof(p->topic), "%s", q->topic);
        snprintf(p->topic_pat, sizeof(p->topic_pat), "\"%s\"", q->topic);
        p->filters = 1;
    }
    p->cohort = -1;
    if (q->cohort) {
        p->cohort = code_index(cohort_keys, q->cohort);
        if (p->cohort == NCOHORTS) {
            return cb_field_fail(fe, "cohort",
                                 "must be veteran, learning_disability, carer or "
                                 "long_term_condition");
        }
    }
    p->split = SP_NONE;
    if (q->split) {
        p->split = split_parse(q->split);
        if (p->split == SP_NONE) {
            return cb_field_fail(fe, "split",
                                 "must be team, age_band, age_band_return, sex, ethnic_group, "
                                 "imd_decile, cohort, employment_status, referral_source or "
                                 "main_barrier");
        }
    }
    p->suppress = 0;
    if (q->suppress) {
        if (strcmp(q->suppress, "1") != 0 && strcmp(q->suppress, "0") != 0) {
            return cb_field_fail(fe, "suppress", "must be 0 or 1");
        }
        p->suppress = q->suppress[0] == '1';
    }
    return cb_report_threshold(c, &p->threshold);
}

/* ================================================================ engine */

/* cb_report_set_reference(): pairs from the measure histories (tests). */
static int reference_engine;

void cb_report_set_reference(int on)
{
    reference_engine = on != 0;
}

/* Above this many people, records are read in name order instead of by id. */
#define RECORDS_PROBE_MAX 2000
static size_t records_probe_max = RECORDS_PROBE_MAX;

void cb_report_set_records_probe_max(size_t probe_max)
{
    records_probe_max = probe_max;
}

#define NTYPES     6 /* cb_encounter_types */
#define NATT       3 /* cb_attendance_statuses */
#define NGOALST    4 /* cb_goal_statuses */
#define NDEST      9 /* cb_referral_destinations */
#define NRSTAT     4 /* cb_referral_statuses */
#define T_DNA      5 /* index of "dna" */
#define A_ATTENDED 0

enum pflag {
    P_SEEN = 1u << 0,      /* a contact (not a DNA) or an attended session in the period */
    P_LIVE = 1u << 1,      /* attributes loaded: live, in the team and the cohort */
    P_QUIT_SET = 1u << 2,  /* a quit date in the period */
    P_QUIT_SELF = 1u << 3, /* a self-reported 4-week quit followed up in the period */
    P_QUIT_CO = 1u << 4,   /* ... CO-validated */
    P_MARK = 1u << 5,      /* behind the figure the records route lists */
    P_ACTIVE = 1u << 6     /* participant status active (data quality) */
};

struct person {
    char id[CB_UUID_STRLEN];
    uint32_t contacts[NTYPES];
    uint32_t att[NATT];
    uint32_t goals[NGOALST];
    uint16_t flags;
    int16_t age;
    int8_t team, sex, eth, imd, emp, rsrc, barrier;
    uint8_t cohort; /* bit i: cohort_keys[i] */
};

/* Instruments with before/after pairs. */
enum instr { I_SWEMWBS, I_ONS4, I_GPPAQ, I_BMI, I_AUDITC, NINSTR };
static const char *const instr_ids[NINSTR] = {"swemwbs", "ons4", "gppaq", "bmi", "audit_c"};

/* A before/after pair: v[0] the score (ONS4: q1..q4; BMI: bmi, weight_kg). */
struct pair {
    uint32_t person;
    double b[4], f[4];
    int64_t brow, frow; /* measures rowids (the reference engine reads values from result JSON) */
    uint8_t vals;       /* stream_pairs_pb: bit 0 the baseline's values are all there, bit 1 the
                           follow-up's (ONS4 answers, BMI weight; always 3 for other instruments) */
    uint8_t tie;        /* stream_pairs_pb: same person and history order as the row before */
};

struct ref_ev {
    uint32_t person;
    uint8_t dest, status;
};

enum stream {
    S_CONTACTS = 1u << 0,
    S_ATTENDANCE = 1u << 1,
    S_REFERRALS = 1u << 2,
    S_GOALS = 1u << 3,
    S_PAIRS = 1u << 4,
    S_QUITS = 1u << 5,
    S_ALL = 0x3f,
    /* not a stream: give people every split attribute, not only those of p->split */
    S_ALL_ATTRS = 1u << 6
};

struct slot;

/* Teams a report can split by (a person's team is an int8_t index). */
#define MAX_TEAMS 120

struct eng {
    struct cb_conn *c;
    const struct rp *p;
    struct person *pp;
    size_t np, cap;
    struct slot *slots;
    size_t nslots;
    struct ref_ev *refs;
    size_t nrefs, caprefs;
    struct pair *pairs[NINSTR];
    size_t npairs[NINSTR], cappairs[NINSTR];
    char teams[MAX_TEAMS][80]; /* live teams in scope, by name */
    size_t nteams;
    int need_imd;
    int all_attrs;           /* S_ALL_ATTRS: every split's attributes (else only p->split's) */
    int age_y, age_m, age_d; /* ages are taken on this date (the period's last day) */
};

static void eng_free(struct eng *e)
{
    free(e->pp);
    free(e->slots);
    free(e->refs);
    for (int i = 0; i < NINSTR; i++) {
        free(e->pairs[i]);
    }
    memset(e, 0, sizeof(*e));
}

/* 64-bit hash of an id: 8-byte words mixed multiplicatively, splitmix64 finaliser. */
static uint64_t hash_id(const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0x94D049BB133111EBULL;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    return h ^ (h >> 32);
}

/* Open addressing: a slot holds person index + 1 (0 empty) and 32 bits of the hash. */
struct slot {
    uint32_t idx;
    uint32_t tag;
};

static int eng_rehash(struct eng *e, size_t nslots)
{
    struct slot *s = calloc(nslots, sizeof(*s));
    if (!s) {
        return CB_ENOMEM;
    }
    for (size_t i = 0; i < e->np; i++) {
        uint64_t hv = hash_id(e->pp[i].id, strlen(e->pp[i].id));
        size_t h = (size_t)hv & (nslots - 1);
        while (s[h].idx) {
            h = (h + 1) & (nslots - 1);
        }
        s[h].idx = (uint32_t)(i + 1);
        s[h].tag = (uint32_t)(hv >> 32);
    }
    free(e->slots);
    e->slots = s;
    e->nslots = nslots;
    return CB_OK;
}

/* The person with this id: *idx gets its index (created when create is set), or -1. */
/*
 * Probe e's table (which has slots) for id of length n with hash hv: its
 * person index, or -1 with *slot the empty slot where it would go.
 */
static int64_t eng_probe(const struct eng *e, const char *id, size_t n, uint64_t hv, size_t *slot)
{
    assert(e->slots && n < CB_UUID_STRLEN);
    uint32_t tag = (uint32_t)(hv >> 32);
    size_t h = (size_t)hv & (e->nslots - 1);
    while (e->slots[h].idx) {
        if (e->slots[h].tag == tag) {
            const struct person *p = &e->pp[e->slots[h].idx - 1];
            if (memcmp(p->id, id, n + 1) == 0) {
                return (int64_t)(e->slots[h].idx - 1);
            }
        }
        h = (h + 1) & (e->nslots - 1);
    }
    *slot = h;
    return -1;
}

/* The index of person id in e, or -1 (*idx) when e does not hold them. */
static void eng_find(const struct eng *e, const char *id, int64_t *idx)
{
    size_t n = id ? strlen(id) : 0, slot;
    *idx = id && e->slots && n < CB_UUID_STRLEN ? eng_probe(e, id, n, hash_id(id, n), &slot) : -1;
}

static int eng_person(struct eng *e, const char *id, int create, int64_t *idx)
{
    *idx = -1;
    if (!id) {
        return CB_OK;
    }
    size_t n = strlen(id);
    if (n >= CB_UUID_STRLEN) {
        return CB_OK; /* not an id this store can hold */
    }
    if (!e->slots) {
        int rc = eng_rehash(e, 1024);
        if (rc) {
            return rc;
        }
    }
    uint64_t hv = hash_id(id, n);
    uint32_t tag = (uint32_t)(hv >> 32);
    size_t h;
    if ((*idx = eng_probe(e, id, n, hv, &h)) >= 0 || !create) {
        return CB_OK;
    }
    if (e->np == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 1024;
        struct person *np = realloc(e->pp, cap * sizeof(*np));
        if (!np) {
            return CB_ENOMEM;
        }
        e->pp = np;
        e->cap = cap;
    }
    struct person *p = &e->pp[e->np];
    memset(p, 0, sizeof(*p));
    memcpy(p->id, id, n + 1);
    p->age = -1;
    p->team = -1;
    e->slots[h].idx = (uint32_t)(e->np + 1);
    e->slots[h].tag = tag;
    *idx = (int64_t)e->np++;
    if (e->np * 2 > e->nslots) {
        return eng_rehash(e, e->nslots * 2);
    }
    return CB_OK;
}

/* Grow a dynamic array of elem-sized items to hold one more. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) {
        return CB_OK;
    }
    size_t nc = *cap ? *cap * 2 : 256;
    void *p = realloc(*arr, nc * elem);
    if (!p) {
        return CB_ENOMEM;
    }
    *arr = p;
    *cap = nc;
    return CB_OK;
}

/* Load the live teams in scope (every team, or the one named), by name. */
static int eng_teams(struct eng *e)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(e->c,
                             "SELECT id FROM teams WHERE deleted = 0 AND (?1 = '' OR id = ?1) "
                             "ORDER BY name, id",
                             &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, e->p->team, -1, SQLITE_TRANSIENT);
    int s;
    e->nteams = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (e->nteams == MAX_TEAMS) {
            cb_stmt_done(st);
            return CB_ETOOLARGE; /* never silently leave a team out */
        }
        snprintf(e->teams[e->nteams++], sizeof(e->teams[0]), "%s", col_text(st, 0));
    }
    return step_done(st, s);
}

/* Prepare sql built in b (freed here). */
static int prepare_buf(struct cb_conn *c, struct cb_buf *b, int build_rc, sqlite3_stmt **st)
{
    int rc = build_rc ? build_rc : cb_conn_prepare(c, cb_buf_str(b), st);
    cb_buf_free(b);
    return rc;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    if (v && v[0]) {
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    }
}

/* Estimated number of participant rows (the largest rowid). */
static int participants_estimate(struct cb_conn *c, int64_t *n)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, "SELECT max(rowid) FROM participants", &st);
    if (rc) {
        return rc;
    }
    int s = sqlite3_step(st);
    *n = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    return step_done(st, s);
}

/* ---- batched lookups ---- */

/*
 * Looking a person up costs two cache misses (the slot, then the person);
 * over millions of rows that dominates.  Rows are therefore resolved in
 * batches: hash all, prefetch the slots, find candidates, prefetch the
 * people, then verify.  Anything unusual (a tag collision, a new person)
 * takes the plain eng_person() path, so the result is the same.
 */
#define BATCH 64

struct batch {
    int n;
    char id[BATCH][CB_UUID_STRLEN];
    uint8_t len[BATCH];
    int64_t idx[BATCH];
};

/* Queue id (copied); returns its position in the batch. */
static int batch_add(struct batch *b, const char *id)
{
    int k = b->n++;
    size_t n = id ? strlen(id) : 0;
    if (n >= CB_UUID_STRLEN) {
        n = 0; /* not an id this store can hold: resolves to -1 */
    }
    memcpy(b->id[k], id ? id : "", n);
    b->id[k][n] = '\0';
    b->len[k] = (uint8_t)n;
    return k;
}

/* Resolve every queued id to b->idx[] (-1: none), creating people when create is set. */
static int batch_resolve(struct eng *e, struct batch *b, int create)
{
    uint64_t hv[BATCH];
    uint32_t cand[BATCH];
    if (!e->slots) {
        int rc = eng_rehash(e, 1024);
        if (rc) {
            return rc;
        }
    }
    for (int k = 0; k < b->n; k++) {
        hv[k] = b->len[k] ? hash_id(b->id[k], b->len[k]) : 0;
        __builtin_prefetch(&e->slots[hv[k] & (e->nslots - 1)]);
    }
    for (int k = 0; k < b->n; k++) {
        size_t h = hv[k] & (e->nslots - 1);
        uint32_t tag = (uint32_t)(hv[k] >> 32);
        cand[k] = 0;
        while (b->len[k] && e->slots[h].idx) {
            if (e->slots[h].tag == tag) {
                cand[k] = e->slots[h].idx;
                __builtin_prefetch(&e->pp[cand[k] - 1]);
                break;
            }
            h = (h + 1) & (e->nslots - 1);
        }
    }
    for (int k = 0; k < b->n; k++) {
        b->idx[k] = -1;
        if (!b->len[k]) {
            continue;
        }
        if (cand[k] && memcmp(e->pp[cand[k] - 1].id, b->id[k], (size_t)b->len[k] + 1) == 0) {
            b->idx[k] = cand[k] - 1;
            continue;
        }
        int rc = eng_person(e, b->id[k], create, &b->idx[k]);
        if (rc) {
            return rc;
        }
    }
    return CB_OK;
}

/* Index of an encounter type (one comparison instead of a list walk). */
static int type_index(const char *t)
{
    int i = !t            ? NTYPES
            : t[0] == 'd' ? (t[1] == 'r' ? 0 : T_DNA)
            : t[0] == 'o' ? 1
            : t[0] == 'p' ? 2
            : t[0] == 'v' ? 3
            : t[0] == 'g' ? 4
                          : NTYPES;
    return i < NTYPES && strcmp(t, cb_encounter_types[i]) == 0 ? i : NTYPES;
}

/* ---- stream: contacts ---- */

static void contacts_apply(struct eng *e, const struct batch *b, const int8_t *type)
{
    for (int k = 0; k < b->n; k++) {
        if (b->idx[k] < 0 || type[k] >= NTYPES) {
            continue;
        }
        struct person *pe = &e->pp[b->idx[k]];
        pe->contacts[type[k]]++;
        if (type[k] != T_DNA) {
            pe->flags |= P_SEEN;
        }
    }
}

/*
 * The period's contacts in [from, to) (UTC instants), row by row from the
 * covering indexes; odd: only those whose time is not canonical (the
 * partial index encounters_odd_time, normally empty).
 */
static int contacts_raw(struct eng *e, const char *from, const char *to, int odd)
{
    const struct rp *p = e->p;
    struct cb_buf sql;
    cb_buf_init(&sql, SQL_MAX);
    int rc = cb_buf_adds(&sql, odd ? "SELECT participant_id, type FROM encounters INDEXED BY "
                                     "encounters_odd_time WHERE NOT " CB_CANON_TIME(
                                         "occurred_at") " AND deleted = 0 AND occurred_at >= "
                                                        "?1 AND occurred_at < ?2"
                                   : "SELECT participant_id, type FROM encounters WHERE deleted = "
                                     "0 AND occurred_at >= ?1 AND occurred_at < ?2");
    /* venue, coach and programme have their own indexes: keep SQLite on them ("+team") */
    int narrow = p->venue[0] || p->coach[0] || p->programme[0];
    if (!rc && p->team[0]) {
        rc = cb_buf_adds(&sql, narrow ? " AND +team = ?3" : " AND team = ?3");
    } else if (!rc && !narrow) {
        rc = cb_buf_adds(&sql, ALL_TEAMS);
    }
    if (!rc && p->venue[0]) {
        rc = cb_buf_adds(&sql, " AND venue = ?4");
    }
    if (!rc && p->coach[0]) {
        rc = cb_buf_adds(&sql, " AND coach = ?5");
    }
    if (!rc && p->programme[0]) {
        rc = cb_buf_adds(&sql, " AND group_session_id IS NOT NULL AND group_session_id IN "
                               "(SELECT id FROM group_sessions WHERE programme_id = ?6 AND "
                               "deleted = 0)");
    }
    if (!rc && p->topic[0]) {
        rc = cb_buf_adds(&sql, " AND topics IS NOT NULL AND instr(topics, ?7) > 0");
    }
    sqlite3_stmt *st;
    if ((rc = prepare_buf(e->c, &sql, rc, &st)) != CB_OK) {
        return rc;
    }
    sqlite3_bind_text(st, 1, from, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, to, -1, SQLITE_TRANSIENT);
    bind_opt(st, 3, p->team);
    bind_opt(st, 4, p->venue);
    bind_opt(st, 5, p->coach);
    bind_opt(st, 6, p->programme);
    bind_opt(st, 7, p->topic_pat);
    struct batch *b = malloc(sizeof(*b));
    int8_t type[BATCH];
    int s = SQLITE_DONE;
    rc = b ? CB_OK : CB_ENOMEM;
    if (b) {
        b->n = 0;
    }
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        int k = batch_add(b, col_text(st, 0));
        type[k] = (int8_t)type_index(col_text(st, 1));
        if (b->n == BATCH) {
            rc = batch_resolve(e, b, 1);
            if (!rc) {
                contacts_apply(e, b, type);
            }
            b->n = 0;
        }
    }
    if (!rc && b && b->n) {
        rc = batch_resolve(e, b, 1);
        if (!rc) {
            contacts_apply(e, b, type);
        }
    }
    free(b);
    int rc2 = step_done(st, s);
    return rc ? rc : rc2;
}

/* The first instant of the UTC month of canonical time ts (next: of the month after);
 * -1 when that is not a four-digit year (the caller then reads rows). */
static int month_start(const char *ts, int next, char out[CB_TIME_STRLEN])
{
    int y = 0, m = 0;
    for (int i = 0; i < 4; i++) {
        y = y * 10 + (ts[i] - '0');
    }
    m = (ts[5] - '0') * 10 + (ts[6] - '0');
    if (next && ++m > 12) {
        m = 1;
        y++;
    }
    if (y < 0 || y > 9999 || m < 1 || m > 12) {
        return -1;
    }
    snprintf(out, CB_TIME_STRLEN, "%04d-%02d-01T00:00:00.000Z", y, m);
    return 0;
}

/* Add (sign 1) or take away (-1) summed rows: a person's counts by type.  Counts are
 * unsigned and wrap while a year's row waits for its months out of the period to be taken
 * away; the total is exact (P_SEEN is set from it afterwards, contacts_seen). */
static void months_apply(struct eng *e, const struct batch *b, const uint32_t (*n)[NTYPES],
                         int sign)
{
    for (int k = 0; k < b->n; k++) {
        if (b->idx[k] < 0) {
            continue;
        }
        struct person *pe = &e->pp[b->idx[k]];
        for (int t = 0; t < NTYPES; t++) {
            pe->contacts[t] += sign > 0 ? n[k][t] : 0u - n[k][t];
        }
    }
}

/* P_SEEN for everyone in e with a contact that is not a DNA. */
static void contacts_seen(struct eng *e)
{
    for (size_t i = 0; i < e->np; i++) {
        struct person *pe = &e->pp[i];
        for (int t = 0; t < NTYPES; t++) {
            if (t != T_DNA && pe->contacts[t]) {
                pe->flags |= P_SEEN;
                break;
            }
        }
    }
}

/*
 * The contacts of the whole UTC months [lo, hi) from contact_months
 * (migration 13), or of the whole UTC years from contact_years (years set;
 * migration 15): per team, month or year and person, counts by type, kept by
 * triggers; only canonical times, the others are read by contacts_raw(odd).
 * A row exists only for a person with a live contact in it; taken away
 * (sign -1, contacts_whole) a person can be left with all counts 0, which no
 * figure counts (each needs a count above 0 or a flag).  lo and hi are
 * instants at the start of a month (of a year when years is set).
 */
static int contacts_summed(struct eng *e, const char *lo, const char *hi, int years, int sign)
{
    static const char *const sql[2][2] = {
        {"SELECT participant_id, c_drop_in, c_one_to_one, c_phone, c_video, c_group, c_dna FROM "
         "contact_months WHERE month >= ?1 AND month < ?2" ALL_TEAMS,
         "SELECT participant_id, c_drop_in, c_one_to_one, c_phone, c_video, c_group, c_dna FROM "
         "contact_months WHERE team = ?3 AND month >= ?1 AND month < ?2"},
        {"SELECT participant_id, c_drop_in, c_one_to_one, c_phone, c_video, c_group, c_dna FROM "
         "contact_years WHERE year >= ?1 AND year < ?2" ALL_TEAMS,
         "SELECT participant_id, c_drop_in, c_one_to_one, c_phone, c_video, c_group, c_dna FROM "
         "contact_years WHERE team = ?3 AND year >= ?1 AND year < ?2"}};
    const struct rp *p = e->p;
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(e->c, sql[years != 0][p->team[0] != '\0'], &st);
    if (rc) {
        return rc;
    }
    int keylen = years ? 4 : 7; /* "YYYY" or "YYYY-MM" */
    sqlite3_bind_text(st, 1, lo, keylen, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, hi, keylen, SQLITE_TRANSIENT);
    bind_opt(st, 3, p->team);
    /* the count columns are in cb_encounter_types order (type_index) */
    _Static_assert(NTYPES == 6, "contact_months and contact_years have a column per type");
    struct batch *b = malloc(sizeof(*b));
    uint32_t(*n)[NTYPES] = malloc(BATCH * sizeof(*n));
    int s = SQLITE_DONE;
    rc = b && n ? CB_OK : CB_ENOMEM;
    if (b) {
        b->n = 0;
    }
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        int k = batch_add(b, col_text(st, 0));
        for (int t = 0; t < NTYPES; t++) {
            int64_t v = sqlite3_column_int64(st, 1 + t);
            n[k][t] = v > 0 && v <= (int64_t)UINT32_MAX ? (uint32_t)v : 0;
        }
        if (b->n == BATCH) {
            rc = batch_resolve(e, b, 1);
            if (!rc) {
                months_apply(e, b, (const uint32_t(*)[NTYPES])n, sign);
            }
            b->n = 0;
        }
    }
    if (!rc && b && b->n) {
        rc = batch_resolve(e, b, 1);
        if (!rc) {
            months_apply(e, b, (const uint32_t(*)[NTYPES])n, sign);
        }
    }
    free(b);
    free(n);
    int rc2 = step_done(st, s);
    return rc ? rc : rc2;
}

/* The month index (year * 12 + month - 1) of a month_start() result. */
static int month_index(const char *ms)
{
    int y = 0;
    for (int i = 0; i < 4; i++) {
        y = y * 10 + (ms[i] - '0');
    }
    return y * 12 + (ms[5] - '0') * 10 + (ms[6] - '0') - 1;
}

/* The first instant of month index mi (0 .. 9999 * 12 + 11). */
static void month_text(int mi, char out[CB_TIME_STRLEN])
{
    assert(mi >= 0 && mi < 10000 * 12);
    unsigned u = (unsigned)mi;
    snprintf(out, CB_TIME_STRLEN, "%04u-%02u-01T00:00:00.000Z", (u / 12u) % 10000u, u % 12u + 1u);
}

/* Months [a, b) of contact_months, added (sign 1) or taken away (-1); nothing when empty.
 * b < 10000 * 12 (contacts_whole never asks past 9999-12). */
static int contacts_months(struct eng *e, int a, int b, int sign)
{
    char lo[CB_TIME_STRLEN], hi[CB_TIME_STRLEN];
    if (a >= b) {
        return CB_OK;
    }
    month_text(a, lo);
    month_text(b, hi);
    return contacts_summed(e, lo, hi, 0, sign);
}

/*
 * The contacts of the whole UTC months [a, b) (month indices), year by year:
 * a year more than half of whose months are in the range is read as its
 * contact_years rows with the contact_months rows of its months outside the
 * range taken away (the months after today hold nothing, so a period up to
 * today reads its current year as one row per person); any other year as its
 * months' rows.  Either way each count is exact; P_SEEN is set afterwards.
 */
static int contacts_whole(struct eng *e, int a, int b)
{
    int rc = CB_OK;
    for (int y = a / 12; !rc && y <= (b - 1) / 12; y++) {
        int lo = a > y * 12 ? a : y * 12, hi = b < y * 12 + 12 ? b : y * 12 + 12;
        if (hi - lo > 6 && y < 9999) {
            char ys[CB_TIME_STRLEN], ye[CB_TIME_STRLEN];
            month_text(y * 12, ys);
            month_text(y * 12 + 12, ye);
            rc = contacts_summed(e, ys, ye, 1, 1);
            rc = rc ? rc : contacts_months(e, y * 12, lo, -1);
            rc = rc ? rc : contacts_months(e, hi, y * 12 + 12, -1);
        } else {
            rc = contacts_months(e, lo, hi, 1);
        }
    }
    if (!rc) {
        contacts_seen(e);
    }
    return rc;
}

/*
 * Phase 1, contacts.  With an activity filter (venue, coach, programme,
 * topic), and in the reference engine, every contact row of the period is
 * read.  Otherwise the whole UTC months [ws, we) inside the period come from
 * contact_years and contact_months (contacts_whole; plus any contact there
 * whose time is not canonical), and only the part-months [from, ws) and
 * [we, to) row by row.
 */
static int stream_contacts(struct eng *e)
{
    const struct rp *p = e->p;
    char ws[CB_TIME_STRLEN], we[CB_TIME_STRLEN];
    int filtered = p->venue[0] || p->coach[0] || p->programme[0] || p->topic[0];
    if (reference_engine || filtered) {
        return contacts_raw(e, p->from_ts, p->to_ts, 0);
    }
    int bad = month_start(p->from_ts, 0, ws);
    if (!bad && strcmp(ws, p->from_ts) != 0) {
        bad = month_start(p->from_ts, 1, ws);
    }
    bad = bad || month_start(p->to_ts, 0, we);
    if (bad || strcmp(ws, we) >= 0) {
        return contacts_raw(e, p->from_ts, p->to_ts, 0);
    }
    int rc = contacts_raw(e, p->from_ts, ws, 0);
    if (!rc) {
        rc = contacts_whole(e, month_index(ws), month_index(we));
    }
    if (!rc) {
        rc = contacts_raw(e, ws, we, 1);
    }
    if (!rc) {
        rc = contacts_raw(e, we, p->to_ts, 0);
    }
    return rc;
}

/* ---- stream: group attendance (sessions starting in the period) ---- */

static int stream_attendance(struct eng *e)
{
    const struct rp *p = e->p;
    struct cb_buf b;
    cb_buf_init(&b, SQL_MAX);
    int rc = cb_buf_adds(&b, "SELECT a.participant_id, a.status FROM group_sessions s "
                             "JOIN attendance a ON a.session_id = s.id AND a.deleted = 0 "
                             "JOIN programmes pr ON pr.id = s.programme_id "
                             "WHERE s.deleted = 0 AND pr.deleted = 0 AND s.starts_at >= ?1 AND "
                             "s.starts_at < ?2");
    if (!rc && p->team[0]) {
        rc = cb_buf_adds(&b, " AND a.team = ?3");
    }
    if (!rc && p->venue[0]) {
        rc = cb_buf_adds(&b, " AND coalesce(s.venue, pr.venue) = ?4");
    }
    if (!rc && p->coach[0]) {
        rc = cb_buf_adds(&b, " AND (pr.lead = ?5 OR pr.co_lead = ?5)");
    }
    if (!rc && p->programme[0]) {
        rc = cb_buf_adds(&b, " AND s.programme_id = ?6");
    }
    if (!rc && p->topic[0]) {
        rc = cb_buf_adds(&b, " AND pr.topic = ?7");
    }
    sqlite3_stmt *st;
    if ((rc = prepare_buf(e->c, &b, rc, &st)) != CB_OK) {
        return rc;
    }
    sqlite3_bind_text(st, 1, p->from_ts, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, p->to_ts, -1, SQLITE_TRANSIENT);
    bind_opt(st, 3, p->team);
    bind_opt(st, 4, p->venue);
    bind_opt(st, 5, p->coach);
    bind_opt(st, 6, p->programme);
    bind_opt(st, 7, p->topic);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t i;
        if ((rc = eng_person(e, col_text(st, 0), 1, &i)) != CB_OK) {
            break;
        }
        int a = code_index(cb_attendance_statuses, col_text(st, 1));
        if (i < 0 || a >= NATT) {
            continue;
        }
        e->pp[i].att[a]++;
        if (a == A_ATTENDED) {
            e->pp[i].flags |= P_SEEN;
        }
    }
    int rc2 = step_done(st, s);
    return rc ? rc : rc2;
}

/* ---- stream: onward referrals sent in the period ---- */

static int refs_apply(struct eng *e, const struct batch *b, const uint8_t *dest,
                      const uint8_t *status)
{
    for (int k = 0; k < b->n; k++) {
        if (b->idx[k] < 0 || dest[k] >= NDEST || status[k] >= NRSTAT) {
            continue;
        }
        int rc = grow((void **)&e->refs, &e->caprefs, e->nrefs, sizeof(*e->refs));
        if (rc) {
            return rc;
        }
        e->refs[e->nrefs++] = (struct ref_ev){(uint32_t)b->idx[k], dest[k], status[k]};
    }
    return CB_OK;
}

static int stream_referrals(struct eng *e)
{
    const struct rp *p = e->p;
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(
        e->c,
        p->team[0] ? "SELECT participant_id, destination, status FROM referrals "
                     "WHERE deleted = 0 AND sent_date >= ?1 AND sent_date <= ?2 "
                     "AND team = ?3"
                   : "SELECT participant_id, destination, status FROM referrals "
                     "WHERE deleted = 0 AND sent_date >= ?1 AND sent_date <= ?2" ALL_TEAMS,
        &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, p->from, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, p->to, -1, SQLITE_TRANSIENT);
    bind_opt(st, 3, p->team);
    struct batch *b = malloc(sizeof(*b));
    uint8_t dest[BATCH], status[BATCH];
    int s = SQLITE_DONE;
    rc = b ? CB_OK : CB_ENOMEM;
    if (b) {
        b->n = 0;
    }
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        int k = batch_add(b, col_text(st, 0));
        dest[k] = (uint8_t)code_index(cb_referral_destinations, col_text(st, 1));
        status[k] = (uint8_t)code_index(cb_referral_statuses, col_text(st, 2));
        if (b->n == BATCH) {
            rc = batch_resolve(e, b, 1);
            rc = rc ? rc : refs_apply(e, b, dest, status);
            b->n = 0;
        }
    }
    if (!rc && b && b->n) {
        rc = batch_resolve(e, b, 1);
        rc = rc ? rc : refs_apply(e, b, dest, status);
    }
    free(b);
    int rc2 = step_done(st, s);
    return rc ? rc : rc2;
}

/* ---- stream: goals agreed in the period ---- */

static void goals_apply(struct eng *e, const struct batch *b, const uint8_t *status)
{
    for (int k = 0; k < b->n; k++) {
        if (b->idx[k] >= 0 && status[k] < NGOALST) {
            e->pp[b->idx[k]].goals[status[k]]++;
        }
    }
}

static int stream_goals(struct eng *e)
{
    const struct rp *p = e->p;
    struct cb_buf sql;
    cb_buf_init(&sql, SQL_MAX);
    int rc = cb_buf_adds(&sql, "SELECT participant_id, status FROM goals WHERE deleted = 0 "
                               "AND agreed_date >= ?1 AND agreed_date <= ?2");
    if (!rc) {
        rc = cb_buf_adds(&sql, p->team[0] ? " AND team = ?3" : ALL_TEAMS);
    }
    if (!rc && p->topic[0]) {
        rc = cb_buf_adds(&sql, " AND topic = ?7");
    }
    sqlite3_stmt *st;
    if ((rc = prepare_buf(e->c, &sql, rc, &st)) != CB_OK) {
        return rc;
    }
    sqlite3_bind_text(st, 1, p->from, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, p->to, -1, SQLITE_TRANSIENT);
    bind_opt(st, 3, p->team);
    bind_opt(st, 7, p->topic);
    struct batch *b = malloc(sizeof(*b));
    uint8_t status[BATCH];
    int s = SQLITE_DONE;
    rc = b ? CB_OK : CB_ENOMEM;
    if (b) {
        b->n = 0;
    }
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        int k = batch_add(b, col_text(st, 0));
        status[k] = (uint8_t)code_index(cb_goal_statuses, col_text(st, 1));
        if (b->n == BATCH) {
            rc = batch_resolve(e, b, 1);
            if (!rc) {
                goals_apply(e, b, status);
            }
            b->n = 0;
        }
    }
    if (!rc && b && b->n) {
        rc = batch_resolve(e, b, 1);
        if (!rc) {
            goals_apply(e, b, status);
        }
    }
    free(b);
    int rc2 = step_done(st, s);
    return rc ? rc : rc2;
}

/* ---- stream: before/after pairs of one instrument ---- */

/*
 * Who counts.  Activity figures (contacts, attendance; already narrowed by
 * the filters in SQL) count every live person: in the team and the cohort,
 * not deleted or merged.  Person-level figures (pairs, goals, referrals,
 * quits) count people in scope: live and, when an activity filter (venue,
 * coach, programme, topic) is given, seen through it in the period.
 */
static int is_live(const struct person *pe)
{
    return (pe->flags & P_LIVE) != 0;
}

static int in_scope(const struct eng *e, const struct person *pe)
{
    return is_live(pe) && (!e->p->filters || (pe->flags & P_SEEN));
}

/* A measure whose result JSON holds a pair's values: which pair, which end. */
struct vref {
    int64_t row;
    uint32_t pair;
    uint8_t end; /* 0 baseline, 1 follow-up */
};

static int vref_cmp(const void *x, const void *y)
{
    const struct vref *a = x, *b = y;
    return a->row < b->row ? -1 : a->row > b->row;
}

/* Parse up to n numbers of a JSON array text "[a,b,...]"; returns how many were numbers. */
static int json_numbers(const char *t, double *v, int n)
{
    int got = 0;
    if (!t || *t != '[') {
        return 0;
    }
    t++;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        double d = strtod(t, &end);
        if (end == t || errno) {
            return got;
        }
        v[i] = d;
        got++;
        t = end;
        if (*t == ',') {
            t++;
        }
    }
    return got;
}

/*
 * Keep the pairs of instrument in of people who count (after phase 2) whose
 * values are all there: stream_pairs_pb() read the values from
 * measures_pairs (migration 12's columns, pair.vals).  Order is kept.
 */
static void pair_values_kept(struct eng *e, int in)
{
    size_t w = 0;
    for (size_t j = 0; j < e->npairs[in]; j++) {
        const struct pair *pr = &e->pairs[in][j];
        if (pr->vals == 3 && pr->person < e->np && in_scope(e, &e->pp[pr->person])) {
            e->pairs[in][w++] = *pr;
        }
    }
    e->npairs[in] = w;
}

/*
 * ONS4 answers and BMI weights: the report (stream_pairs_pb) has them from
 * the index already (pair_values_kept).  The reference engine reads them from
 * the result JSON, independently of migration 12's columns: for the pairs of
 * people who count (after phase 2), in rowid order (neighbouring rows share
 * pages), one parse per row.  Other pairs, and a pair whose values are
 * missing, are dropped.
 */
static int pair_values(struct eng *e, int in)
{
    size_t n = e->npairs[in];
    int ncol = in == I_ONS4 ? 4 : 2;
    if (!reference_engine) {
        pair_values_kept(e, in);
        return CB_OK;
    }
    if (n == 0) {
        return CB_OK;
    }
    struct vref *v = malloc(2 * n * sizeof(*v));
    uint8_t *ok = calloc(n, 1);
    if (!v || !ok) {
        free(v);
        free(ok);
        return CB_ENOMEM;
    }
    size_t nv = 0;
    for (size_t j = 0; j < n; j++) {
        const struct pair *pr = &e->pairs[in][j];
        if (pr->person < e->np && in_scope(e, &e->pp[pr->person])) {
            v[nv++] = (struct vref){pr->brow, (uint32_t)j, 0};
            v[nv++] = (struct vref){pr->frow, (uint32_t)j, 1};
        }
    }
    if (nv > 1) {
        qsort(v, nv, sizeof(*v), vref_cmp);
    }
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(e->c,
                             in == I_ONS4 ? "SELECT json_extract(result, '$.raw.q1', '$.raw.q2', "
                                            "'$.raw.q3', '$.raw.q4') FROM measures WHERE rowid = ?1"
                                          : "SELECT json_extract(result, '$.raw.weight_kg', "
                                            "'$.raw.weight_kg') FROM measures WHERE rowid = ?1",
                             &st);
    for (size_t k = 0; !rc && k < nv; k++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, v[k].row);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            struct pair *pr = &e->pairs[in][v[k].pair];
            double vals[4];
            int got = json_numbers(col_text(st, 0), vals, ncol);
            if (got == ncol) {
                double *dst = v[k].end ? pr->f : pr->b;
                if (in == I_ONS4) {
                    memcpy(dst, vals, sizeof(vals));
                } else {
                    dst[1] = vals[0]; /* dst[0] is the BMI score */
                }
                ok[v[k].pair] |= (uint8_t)(1u << v[k].end);
            }
        } else if (s != SQLITE_DONE) {
            rc = cb_store_rc(s);
        }
    }
    if (!rc) {
        cb_stmt_done(st);
        size_t w = 0;
        for (size_t j = 0; j < n; j++) {
            if (ok[j] == 3) {
                e->pairs[in][w++] = e->pairs[in][j];
            }
        }
        e->npairs[in] = w;
    }
    free(v);
    free(ok);
    return rc;
}

/* Keep a person's pair: their id is resolved later, in batches. */
struct pending {
    char id[CB_UUID_STRLEN];
};

/*
 * Pairs of instrument in: per person, the earliest complete baseline taken
 * before the period ends, and the latest complete review or exit taken in
 * the period and after that baseline.
 */
/* Follow-ups of instrument in the period (an index range count: cheap). */
static int count_followups(struct eng *e, int in, long *n)
{
    const struct rp *p = e->p;
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(e->c,
                             "SELECT count(*) FROM measures WHERE instrument = ?1 AND "
                             "taken_at >= ?2 AND taken_at < ?3 AND timepoint <> 'baseline' AND "
                             "complete = 1 AND deleted = 0",
                             &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, instr_ids[in], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p->from_ts, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, p->to_ts, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    *n = s == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : 0;
    return step_done(st, s);
}

/*
 * The reference engine (cb_report_set_reference; the report itself uses
 * stream_pairs_pb): rows for the pairs of instrument in, by person then time.  Two plans with
 * the same rows: when few people have a follow-up in the period (a quarter,
 * a year), only their histories are read (measures_followup finds them,
 * measures_report is sought per person); otherwise the whole instrument is
 * scanned in person order through measures_report.
 */
static const char *const pairs_sql[2][2] = {
    {"SELECT participant_id, rowid, taken_at, timepoint, score FROM measures "
     "WHERE deleted = 0 AND instrument = ?1 AND complete = 1 AND taken_at < ?2 "
     "ORDER BY participant_id, taken_at",
     "SELECT participant_id, rowid, taken_at, timepoint, score FROM measures "
     "WHERE deleted = 0 AND instrument = ?1 AND complete = 1 AND taken_at < ?2 "
     "AND team = ?3 ORDER BY participant_id, taken_at"},
    {"SELECT participant_id, rowid, taken_at, timepoint, score FROM measures "
     "WHERE deleted = 0 AND instrument = ?1 AND complete = 1 AND taken_at < ?2 "
     "AND participant_id IN (SELECT participant_id FROM measures WHERE instrument = ?1 "
     "AND taken_at >= ?4 AND taken_at < ?2 AND timepoint <> 'baseline' AND complete = 1 "
     "AND deleted = 0) ORDER BY participant_id, taken_at",
     "SELECT participant_id, rowid, taken_at, timepoint, score FROM measures "
     "WHERE deleted = 0 AND instrument = ?1 AND complete = 1 AND taken_at < ?2 AND team = ?3 "
     "AND participant_id IN (SELECT participant_id FROM measures WHERE instrument = ?1 "
     "AND taken_at >= ?4 AND taken_at < ?2 AND timepoint <> 'baseline' AND complete = 1 "
     "AND deleted = 0 AND team = ?3) ORDER BY participant_id, taken_at"}};

static int stream_pairs(struct eng *e, int in)
{
    const struct rp *p = e->p;
    long followups = 0;
    int64_t people = 0;
    int rc = count_followups(e, in, &followups);
    if (!rc) {
        rc = participants_estimate(e->c, &people);
    }
    if (rc) {
        return rc;
    }
    int probe = (int64_t)followups * 4 < people;
    sqlite3_stmt *st;
    rc = cb_conn_prepare(e->c, pairs_sql[probe][p->team[0] != '\0'], &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, instr_ids[in], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p->to_ts, -1, SQLITE_TRANSIENT);
    bind_opt(st, 3, p->team);
    if (probe) {
        sqlite3_bind_text(st, 4, p->from_ts, -1, SQLITE_TRANSIENT);
    }
    struct pending *ids = NULL;
    size_t capids = 0, first = e->npairs[in];
    char cur[CB_UUID_STRLEN] = "", b_at[CB_TIME_STRLEN] = "";
    size_t curlen = 0;
    struct pair pr;
    int have_b = 0, have_f = 0, s;
    memset(&pr, 0, sizeof(pr));
    for (;;) {
        s = sqlite3_step(st);
        const char *pid = s == SQLITE_ROW ? col_text(st, 0) : NULL;
        size_t plen = pid ? (size_t)sqlite3_column_bytes(st, 0) : 0;
        if (!pid || plen != curlen || memcmp(pid, cur, plen) != 0) {
            /* a person's rows are over: keep their pair */
            if (have_b && have_f) {
                size_t k = e->npairs[in] - first;
                if ((rc = grow((void **)&e->pairs[in], &e->cappairs[in], e->npairs[in],
                               sizeof(pr))) != CB_OK ||
                    (rc = grow((void **)&ids, &capids, k, sizeof(*ids))) != CB_OK) {
                    break;
                }
                memcpy(ids[k].id, cur, curlen + 1);
                e->pairs[in][e->npairs[in]++] = pr;
            }
            if (!pid) {
                break;
            }
            curlen = plen < CB_UUID_STRLEN ? plen : 0;
            memcpy(cur, pid, curlen);
            cur[curlen] = '\0';
            have_b = have_f = 0;
        }
        const char *at = col_text(st, 2), *tp = col_text(st, 3);
        if (!at || !tp || !curlen) {
            continue;
        }
        int scored = sqlite3_column_type(st, 4) != SQLITE_NULL;
        if (!scored && in != I_ONS4) {
            continue;
        }
        int baseline = tp[0] == 'b'; /* baseline | review | exit */
        if (!have_b) {
            if (baseline) {
                have_b = 1;
                pr.b[0] = sqlite3_column_double(st, 4);
                pr.brow = sqlite3_column_int64(st, 1);
                size_t n = (size_t)sqlite3_column_bytes(st, 2);
                n = n < sizeof(b_at) ? n : sizeof(b_at) - 1;
                memcpy(b_at, at, n);
                b_at[n] = '\0';
            }
        } else if (!baseline && strcmp(at, p->from_ts) >= 0 && strcmp(at, b_at) > 0) {
            /* rows come in time order: the last one wins; strictly after the baseline */
            have_f = 1;
            pr.f[0] = sqlite3_column_double(st, 4);
            pr.frow = sqlite3_column_int64(st, 1);
        }
    }
    int rc2 = step_done(st, s);
    rc = rc ? rc : rc2;
    /* resolve the people of the new pairs in batches */
    struct batch *b = rc ? NULL : malloc(sizeof(*b));
    if (!rc && !b) {
        rc = CB_ENOMEM;
    }
    size_t np = e->npairs[in] - first;
    for (size_t j = 0; !rc && j < np; j += BATCH) {
        b->n = 0;
        for (size_t k = j; k < np && k < j + BATCH; k++) {
            batch_add(b, ids[k].id);
        }
        rc = batch_resolve(e, b, 1);
        for (int k = 0; !rc && k < b->n; k++) {
            e->pairs[in][first + j + (size_t)k].person = (uint32_t)b->idx[k];
        }
    }
    free(b);
    free(ids);
    return rc;
}

/*
 * The history order of a measure (person, taken_at, timepoint, score, team;
 * complete and deleted are fixed by the pairs query) as bytes in *key: type,
 * length, value of each of st's columns 0-4, read in that order.  Two rows
 * tie in history order when their keys are equal (pb_tie).  Capped at
 * PB_KEY_MAX (CB_ETOOLARGE).
 */
#define PB_KEY_MAX 65536
static int pb_key(sqlite3_stmt *st, char **key, size_t *cap, size_t *len)
{
    *len = 0;
    for (int col = 0; col < 5; col++) {
        int t = sqlite3_column_type(st, col);
        double d = 0;
        const void *v = NULL;
        size_t n = 0;
        if (t == SQLITE_INTEGER || t == SQLITE_FLOAT) {
            t = SQLITE_FLOAT; /* 3 and 3.0 are equal in an index */
            d = sqlite3_column_double(st, col);
            v = &d;
            n = sizeof(d);
        } else if (t == SQLITE_TEXT || t == SQLITE_BLOB) {
            v = t == SQLITE_TEXT ? (const void *)sqlite3_column_text(st, col)
                                 : sqlite3_column_blob(st, col);
            n = (size_t)sqlite3_column_bytes(st, col);
        }
        uint32_t n32 = (uint32_t)n;
        size_t need = *len + 1 + sizeof(n32) + n;
        if (n > PB_KEY_MAX || need > PB_KEY_MAX) {
            return CB_ETOOLARGE;
        }
        if (need > *cap) {
            size_t c = *cap ? *cap : 256;
            while (c < need) {
                c *= 2;
            }
            char *k = realloc(*key, c);
            if (!k) {
                return CB_ENOMEM;
            }
            *key = k;
            *cap = c;
        }
        (*key)[(*len)++] = (char)t;
        memcpy(*key + *len, &n32, sizeof(n32));
        *len += sizeof(n32);
        if (n) {
            memcpy(*key + *len, v, n);
            *len += n;
        }
    }
    return CB_OK;
}

/*
 * *tie = 1 if measures rows a and b are equal in history order (pb_key of
 * each, read from the table on e's connection in its read transaction: the
 * same values measures_pairs holds).  Called with no other statement of e->c
 * running.  CB_EINTERNAL if a row is gone (it cannot be, in one snapshot).
 */
static int pb_tie(struct eng *e, int64_t a, int64_t b, int *tie)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(e->c,
                             "SELECT participant_id, taken_at, timepoint, score, team FROM "
                             "measures WHERE rowid = ?1",
                             &st);
    if (rc) {
        return rc;
    }
    char *key[2] = {NULL, NULL};
    size_t cap[2] = {0, 0}, len[2] = {0, 0};
    for (int i = 0; !rc && i < 2; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, i ? b : a);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            /* the stream takes participant_id's type after its text (a BLOB then says TEXT) */
            (void)col_text(st, 0);
        }
        rc = s == SQLITE_ROW    ? pb_key(st, &key[i], &cap[i], &len[i])
             : s == SQLITE_DONE ? CB_EINTERNAL
                                : cb_store_rc(s);
    }
    cb_stmt_done(st);
    *tie = !rc && len[0] == len[1] && memcmp(key[0], key[1], len[0]) == 0;
    free(key[0]);
    free(key[1]);
    return rc;
}

/*
 * Pairs of instrument in from the baseline columns of migration 11: every
 * measure of a paired instrument carries its person's earliest pairable
 * baseline (pb_*: any team; pbt_*: of the row's own team, for team=), kept
 * by triggers on every write.  So the pairs are the period's complete
 * follow-ups strictly after that baseline, read in one range of the
 * covering index measures_pairs in time order; per person the last such row
 * is the follow-up.  Within a person the index order (taken_at, timepoint,
 * complete, score, team, deleted, then rowid, as pb_* are equal) is the
 * order stream_pairs() reads a history in, so ties resolve the same way.
 * Pairs are appended in participant id order, as stream_pairs() appends
 * them, so means are summed in the same order.
 *
 * The rows are kept in stream order (pb_row) and sorted through small keys
 * (pb_sk): the id's first 16 bytes, up to its first NUL and NUL-padded, as
 * two big-endian words (so comparing words compares as strcmp does), then
 * the rest of the id by strcmp when both have 16 bytes or more, then the
 * stream position.
 */
struct pb_row {
    char id[CB_UUID_STRLEN];
    uint8_t idlen; /* bytes of participant_id (< CB_UUID_STRLEN) */
    uint8_t text;  /* participant_id's type is TEXT (taken after its text: a BLOB says TEXT) */
    uint8_t cand;  /* may tie with the row before: not two TEXT ids differing in bytes */
    struct pair pr;
};

struct pb_sk {
    uint64_t hi, lo;
    uint32_t row; /* index into the pb_row array: stream order */
};

/* *k for rows[row]: see above. */
static void pb_sk_set(struct pb_sk *k, const struct pb_row *rows, uint32_t row)
{
    unsigned char b[16] = {0};
    memcpy(b, rows[row].id, strnlen(rows[row].id, sizeof(b)));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t w[2];
    memcpy(w, b, sizeof(w));
    k->hi = __builtin_bswap64(w[0]);
    k->lo = __builtin_bswap64(w[1]);
#else
    k->hi = k->lo = 0;
    for (int i = 0; i < 8; i++) {
        k->hi = k->hi << 8 | b[i];
        k->lo = k->lo << 8 | b[8 + i];
    }
#endif
    k->row = row;
}

/* strcmp of the ids of a and b (rows of both), given equal words. */
static int pb_sk_rest(const struct pb_sk *a, const struct pb_sk *b, const struct pb_row *rows)
{
    assert(a->hi == b->hi && a->lo == b->lo);
    /* byte 15 zero: both ids end within the 16 bytes, at the same place */
    return (a->lo & 0xff) ? strcmp(rows[a->row].id + 16, rows[b->row].id + 16) : 0;
}

static inline int pb_sk_less(const struct pb_sk *a, const struct pb_sk *b,
                             const struct pb_row *rows)
{
    if (a->hi != b->hi) {
        return a->hi < b->hi;
    }
    if (a->lo != b->lo) {
        return a->lo < b->lo;
    }
    int r = pb_sk_rest(a, b, rows);
    return r ? r < 0 : a->row < b->row;
}

static inline int pb_sk_same_id(const struct pb_sk *a, const struct pb_sk *b,
                                const struct pb_row *rows)
{
    return a->hi == b->hi && a->lo == b->lo && pb_sk_rest(a, b, rows) == 0;
}

/*
 * Sort k[0..n) by pb_sk_less (a total order: row is unique), tmp holding n
 * more: insertion sort of runs of 16, then bottom-up merges.  The result is
 * in k.
 */
static void pb_sk_sort(struct pb_sk *k, struct pb_sk *tmp, size_t n, const struct pb_row *rows)
{
    enum { RUN = 16 };
    for (size_t lo = 0; lo < n; lo += RUN) {
        size_t hi = lo + RUN < n ? lo + RUN : n;
        for (size_t i = lo + 1; i < hi; i++) {
            struct pb_sk x = k[i];
            size_t j = i;
            while (j > lo && pb_sk_less(&x, &k[j - 1], rows)) {
                k[j] = k[j - 1];
                j--;
            }
            k[j] = x;
        }
    }
    struct pb_sk *src = k, *dst = tmp;
    for (size_t w = RUN; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                dst[o++] = pb_sk_less(&src[j], &src[i], rows) ? src[j++] : src[i++];
            }
            while (i < mid) {
                dst[o++] = src[i++];
            }
            while (j < hi) {
                dst[o++] = src[j++];
            }
        }
        struct pb_sk *t = src;
        src = dst;
        dst = t;
    }
    if (src != k) {
        memcpy(k, src, n * sizeof(*k));
    }
}

/*
 * The pairs query: b the baseline columns (pb, pbt), v the value columns, team the team term,
 * score the score term (an ONS4 follow-up need not be scored).
 */
#define PB_SQL(b, v, team, score)                                                                  \
    "SELECT participant_id, rowid, score, " b "_score, " b "_row" v " FROM measures INDEXED BY "   \
    "measures_pairs WHERE instrument = ?1 AND taken_at >= ?4 AND taken_at < ?2 AND timepoint "     \
    "<> 'baseline' AND complete = 1 AND deleted = 0" team score " AND " b "_at IS NOT NULL AND "   \
    "taken_at > " b "_at ORDER BY taken_at"
#define PB_V_ONS4(b) ", rv1, rv2, rv3, rv4, " b "_v1, " b "_v2, " b "_v3, " b "_v4"
#define PB_V_BMI(b)  ", rv1, " b "_v1"
#define PB_TEAM      " AND team = ?3"
#define PB_SCORED    " AND score IS NOT NULL"

/* [team][0 other, 1 ONS4 (q1..q4), 2 BMI (weight)]: columns 5.. are the values (follow-up's,
 * then the baseline's) */
static const char *const pb_sql[2][3] = {
    {PB_SQL("pb", "", "", PB_SCORED), PB_SQL("pb", PB_V_ONS4("pb"), "", ""),
     PB_SQL("pb", PB_V_BMI("pb"), "", PB_SCORED)},
    {PB_SQL("pbt", "", PB_TEAM, PB_SCORED), PB_SQL("pbt", PB_V_ONS4("pbt"), PB_TEAM, ""),
     PB_SQL("pbt", PB_V_BMI("pbt"), PB_TEAM, PB_SCORED)}};

static int stream_pairs_pb(struct eng *e, int in)
{
    const struct rp *p = e->p;
    sqlite3_stmt *st;
    int nv = in == I_ONS4 ? 4 : in == I_BMI ? 1 : 0, at = in == I_ONS4 ? 0 : 1;
    int rc = cb_conn_prepare(e->c,
                             pb_sql[p->team[0] != '\0'][in == I_ONS4  ? 1
                                                        : in == I_BMI ? 2
                                                                      : 0],
                             &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, instr_ids[in], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p->to_ts, -1, SQLITE_TRANSIENT);
    bind_opt(st, 3, p->team);
    sqlite3_bind_text(st, 4, p->from_ts, -1, SQLITE_TRANSIENT);
    struct pb_row *rows = NULL;
    size_t n = 0, cap = 0, ncand = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *pid = col_text(st, 0);
        size_t plen = pid ? (size_t)sqlite3_column_bytes(st, 0) : 0;
        if (!pid || plen == 0 || plen >= CB_UUID_STRLEN) {
            continue;
        }
        if ((rc = grow((void **)&rows, &cap, n, sizeof(*rows))) != CB_OK) {
            break;
        }
        struct pb_row *r = &rows[n];
        memset(r, 0, sizeof(*r));
        memcpy(r->id, pid, plen + 1);
        r->idlen = (uint8_t)plen;
        r->text = sqlite3_column_type(st, 0) == SQLITE_TEXT;
        /* two TEXT ids differing in bytes differ in history order: no tie (most rows) */
        r->cand = n > 0 && !(r->text && rows[n - 1].text &&
                             (plen != rows[n - 1].idlen || memcmp(pid, rows[n - 1].id, plen) != 0));
        ncand += r->cand;
        r->pr.frow = sqlite3_column_int64(st, 1);
        r->pr.f[0] = sqlite3_column_double(st, 2);
        r->pr.b[0] = sqlite3_column_double(st, 3);
        r->pr.brow = sqlite3_column_int64(st, 4);
        r->pr.vals = 3;
        /* ONS4: q1..q4 replace the score; BMI: [1] is the weight (migration 12) */
        for (int k = 0; k < nv; k++) {
            if (sqlite3_column_type(st, 5 + k) == SQLITE_NULL) {
                r->pr.vals &= (uint8_t)~2u;
            }
            if (sqlite3_column_type(st, 5 + nv + k) == SQLITE_NULL) {
                r->pr.vals &= (uint8_t)~1u;
            }
            r->pr.f[at + k] = sqlite3_column_double(st, 5 + k);
            r->pr.b[at + k] = sqlite3_column_double(st, 5 + nv + k);
        }
        n++;
    }
    int rc2 = step_done(st, s);
    rc = rc ? rc : rc2;
    /* a row ties with the row before when they are equal in history order (pb_tie): rows
     * equal in it are adjacent in the stream and differ in index order by their values only.
     * Only candidates (same person as the row before; none in most reports) are read again. */
    for (size_t j = 1; !rc && ncand && j < n; j++) {
        if (rows[j].cand) {
            int tie = 0;
            rc = pb_tie(e, rows[j - 1].pr.frow, rows[j].pr.frow, &tie);
            rows[j].pr.tie = (uint8_t)tie;
        }
    }
    struct pb_sk *k = NULL;
    if (!rc && n > 0) {
        assert(n <= UINT32_MAX);
        k = malloc(2 * n * sizeof(*k));
        if (!k) {
            rc = CB_ENOMEM;
        }
    }
    for (size_t j = 0; !rc && j < n; j++) {
        pb_sk_set(&k[j], rows, (uint32_t)j);
    }
    if (!rc && n > 1) {
        pb_sk_sort(k, k + n, n, rows);
    }
    /* the last row of each person is their follow-up; rows tied with it in history order
     * (adjacent in the stream, so here too) differ in index order by their values only,
     * where the history walk goes by rowid: the largest rowid of them wins */
    size_t w = 0;
    for (size_t j = 0; !rc && j < n; j++) {
        if (j + 1 < n && pb_sk_same_id(&k[j], &k[j + 1], rows)) {
            continue;
        }
        size_t best = j;
        for (size_t t = j; t > 0 && rows[k[t].row].pr.tie; t--) {
            assert(pb_sk_same_id(&k[t - 1], &k[t], rows) && k[t - 1].row + 1 == k[t].row);
            if (rows[k[t - 1].row].pr.frow > rows[k[best].row].pr.frow) {
                best = t - 1;
            }
        }
        k[w++].row = k[best].row; /* w <= this person's first position <= best */
    }
    struct batch *b = rc ? NULL : malloc(sizeof(*b));
    if (!rc && !b) {
        rc = CB_ENOMEM;
    }
    for (size_t j = 0; !rc && j < w; j += BATCH) {
        b->n = 0;
        for (size_t q = j; q < w && q < j + BATCH; q++) {
            batch_add(b, rows[k[q].row].id);
        }
        rc = batch_resolve(e, b, 1);
        for (int q = 0; !rc && q < b->n; q++) {
            rc = grow((void **)&e->pairs[in], &e->cappairs[in], e->npairs[in],
                      sizeof(e->pairs[in][0]));
            if (!rc) {
                struct pair *pr = &e->pairs[in][e->npairs[in]++];
                *pr = rows[k[j + (size_t)q].row].pr;
                pr->person = (uint32_t)b->idx[q];
            }
        }
    }
    free(b);
    free(k);
    free(rows);
    return rc;
}

/* ---- stream: smoking quits ---- */

static int stream_quits(struct eng *e)
{
    const struct rp *p = e->p;
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(
        e->c,
        p->team[0] ? "SELECT participant_id, band, json_extract(result, '$.raw.quit_date'), "
                     "json_extract(result, '$.raw.followup_date') FROM measures WHERE deleted = 0 "
                     "AND instrument = 'smoking' AND band IN ('awaiting_followup', "
                     "'outside_followup_window', 'not_quit', 'quit_self_reported', "
                     "'quit_not_co_validated', 'quit_co_validated') AND team = ?3"
                   : "SELECT participant_id, band, json_extract(result, '$.raw.quit_date'), "
                     "json_extract(result, '$.raw.followup_date') FROM measures WHERE deleted = 0 "
                     "AND instrument = 'smoking' AND band IN ('awaiting_followup', "
                     "'outside_followup_window', 'not_quit', 'quit_self_reported', "
                     "'quit_not_co_validated', 'quit_co_validated')",
        &st);
    if (rc) {
        return rc;
    }
    bind_opt(st, 3, p->team);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *band = col_text(st, 1), *qd = col_text(st, 2), *fd = col_text(st, 3);
        int set = qd && strcmp(qd, p->from) >= 0 && strcmp(qd, p->to) <= 0;
        int fu = fd && strcmp(fd, p->from) >= 0 && strcmp(fd, p->to) <= 0;
        int self = fu && band && strncmp(band, "quit_", 5) == 0;
        int co = self && strcmp(band, "quit_co_validated") == 0;
        if (!set && !self) {
            continue;
        }
        int64_t i;
        if ((rc = eng_person(e, col_text(st, 0), 1, &i)) != CB_OK) {
            break;
        }
        if (i >= 0) {
            e->pp[i].flags |=
                (set ? P_QUIT_SET : 0) | (self ? P_QUIT_SELF : 0) | (co ? P_QUIT_CO : 0);
        }
    }
    int rc2 = step_done(st, s);
    return rc ? rc : rc2;
}

/* ---- attributes ---- */

#define ATTR_COLS                                                                                  \
    "id, date_of_birth, sex, ethnic_group, employment_status, referral_source, main_barrier, "     \
    "veteran, learning_disability, carer, long_term_condition, team, postcode, status"

/* A small cache of code -> index: most rows repeat a handful of codes. */
#define MEMO_MAX 40
struct memo {
    int n;
    char key[MEMO_MAX][40];
    int8_t val[MEMO_MAX];
};

struct attr_memos {
    struct memo team, sex, eth, emp, rsrc, barrier;
};

static int8_t ethnic_index(const char *code)
{
    for (int k = 0; k < CB_ETHNIC_GROUP_COUNT; k++) {
        if (strcmp(cb_ethnic_groups[k].code, code) == 0) {
            return (int8_t)code_index(ethnic_keys, cb_ethnic_groups[k].group);
        }
    }
    return (int8_t)list_len(ethnic_keys); /* an unknown code counts as not recorded */
}

/* Index of s: list position (list non-NULL), team position (teams), or ethnic group. */
static int8_t memo_get(struct memo *m, const char *s, const char *const *list,
                       const struct eng *teams)
{
    if (!s) {
        return list ? (int8_t)list_len(list) : teams ? -1 : (int8_t)list_len(ethnic_keys);
    }
    for (int i = 0; i < m->n; i++) {
        if (strcmp(m->key[i], s) == 0) {
            return m->val[i];
        }
    }
    int8_t v;
    if (list) {
        v = (int8_t)code_index(list, s);
    } else if (teams) {
        v = -1;
        for (size_t k = 0; k < teams->nteams; k++) {
            if (strcmp(teams->teams[k], s) == 0) {
                v = (int8_t)k;
            }
        }
    } else {
        v = ethnic_index(s);
    }
    if (m->n < MEMO_MAX && strlen(s) < sizeof(m->key[0])) {
        memcpy(m->key[m->n], s, strlen(s) + 1);
        m->val[m->n++] = v;
    }
    return v;
}

/* A person's attributes as read from one row of ATTR_COLS. */
struct attrs {
    uint64_t postcode; /* canonical postcode packed into 8 bytes, 0 if none */
    int16_t age;
    int8_t team, sex, eth, emp, rsrc, barrier;
    uint8_t cohort, active, live; /* live: in the team list and the cohort */
};

static uint64_t pack_postcode(const char *pc)
{
    uint64_t v = 0;
    size_t n = pc ? strlen(pc) : 0;
    if (n == 0 || n > 8) {
        return 0;
    }
    memcpy(&v, pc, n);
    return v;
}

/* Whole years from "YYYY-MM-DD" to (y, m, d); -1 if unreadable. */
static int16_t fast_age(const char *dob, int y, int m, int d)
{
    if (!dob || strlen(dob) != 10) {
        return -1;
    }
    for (int i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && (dob[i] < '0' || dob[i] > '9')) {
            return -1;
        }
    }
    int by = (dob[0] - '0') * 1000 + (dob[1] - '0') * 100 + (dob[2] - '0') * 10 + (dob[3] - '0');
    int bm = (dob[5] - '0') * 10 + (dob[6] - '0'), bd = (dob[8] - '0') * 10 + (dob[9] - '0');
    int age = y - by - ((m < bm || (m == bm && d < bd)) ? 1 : 0);
    return (int16_t)(age < 0 ? -1 : age);
}

/*
 * Read one row of ATTR_COLS.  Team, cohort flags and status are always read
 * (liveness, cohort=, data quality); the other attributes only when the
 * split needs them (or every split's, S_ALL_ATTRS), else they stay at
 * "not recorded" (only person_groups() reads them, and only for p->split).
 */
static void parse_attrs(const struct eng *e, struct attr_memos *mm, sqlite3_stmt *st,
                        struct attrs *a)
{
    int sp = e->all_attrs ? SP_COUNT : e->p->split;
#define NEED(x) (sp == SP_COUNT || sp == (x))
    a->team = memo_get(&mm->team, col_text(st, 11), NULL, e);
    a->cohort = 0;
    for (int k = 0; k < NCOHORTS; k++) {
        if (sqlite3_column_int(st, 7 + k) == 1) {
            a->cohort |= (uint8_t)(1u << k);
        }
    }
    a->live = a->team >= 0 && (e->p->cohort < 0 || (a->cohort & (1u << e->p->cohort)));
    a->age = NEED(SP_AGE) || NEED(SP_AGE_RETURN)
                 ? fast_age(col_text(st, 1), e->age_y, e->age_m, e->age_d)
                 : -1;
    a->sex = memo_get(&mm->sex, NEED(SP_SEX) ? col_text(st, 2) : NULL, sex_codes, NULL);
    a->eth = memo_get(&mm->eth, NEED(SP_ETHNIC) ? col_text(st, 3) : NULL, NULL, NULL);
    a->emp = memo_get(&mm->emp, NEED(SP_EMPLOYMENT) ? col_text(st, 4) : NULL,
                      cb_employment_statuses, NULL);
    a->rsrc = memo_get(&mm->rsrc, NEED(SP_REFERRAL_SOURCE) ? col_text(st, 5) : NULL,
                       cb_referral_sources, NULL);
    a->barrier = memo_get(&mm->barrier, NEED(SP_MAIN_BARRIER) ? col_text(st, 6) : NULL,
                          cb_main_barriers, NULL);
    a->postcode = NEED(SP_IMD) ? pack_postcode(col_text(st, 12)) : 0;
#undef NEED
    const char *status = col_text(st, 13);
    a->active = status && strcmp(status, "active") == 0;
}

/* IMD deciles by packed postcode: a hash map when the table is small, else probes. */
struct imdmap {
    uint64_t *keys; /* 0 empty */
    int8_t *dec;
    size_t n;         /* slots, a power of two; 0: not loaded (probe instead) */
    sqlite3_stmt *st; /* probe statement when not loaded */
};

#define IMD_LOAD_MAX 200000

static size_t imd_slot(const struct imdmap *m, uint64_t k)
{
    uint64_t h = k * 0x9E3779B97F4A7C15ULL;
    size_t i = (size_t)(h ^ (h >> 32)) & (m->n - 1);
    while (m->keys[i] && m->keys[i] != k) {
        i = (i + 1) & (m->n - 1);
    }
    return i;
}

static int imd_open(struct cb_conn *c, struct imdmap *m)
{
    memset(m, 0, sizeof(*m));
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, "SELECT count(*) FROM (SELECT 1 FROM imd LIMIT ?1)", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_int(st, 1, IMD_LOAD_MAX + 1);
    int s = sqlite3_step(st);
    long rows = s == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : 0;
    if ((rc = step_done(st, s)) != CB_OK) {
        return rc;
    }
    if (rows > IMD_LOAD_MAX) {
        return cb_conn_prepare(c, "SELECT decile FROM imd WHERE postcode = ?1", &m->st);
    }
    m->n = 64;
    while (m->n < (size_t)rows * 2) {
        m->n *= 2;
    }
    m->keys = calloc(m->n, sizeof(*m->keys));
    m->dec = calloc(m->n, sizeof(*m->dec));
    if (!m->keys || !m->dec) {
        return CB_ENOMEM;
    }
    if ((rc = cb_conn_prepare(c, "SELECT postcode, decile FROM imd", &st)) != CB_OK) {
        return rc;
    }
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t k = pack_postcode(col_text(st, 0));
        if (k) {
            size_t i = imd_slot(m, k);
            m->keys[i] = k;
            m->dec[i] = (int8_t)sqlite3_column_int(st, 1);
        }
    }
    return step_done(st, s);
}

static void imd_close(struct imdmap *m)
{
    free(m->keys);
    free(m->dec);
    cb_stmt_done(m->st);
    memset(m, 0, sizeof(*m));
}

/* Decile index 0..9 of a packed postcode, or 10 (unknown). */
static int imd_get(struct imdmap *m, uint64_t pc, int *rc)
{
    int d = 0;
    if (!pc) {
        return 10;
    }
    if (m->n) {
        size_t i = imd_slot(m, pc);
        d = m->keys[i] ? m->dec[i] : 0;
    } else if (m->st) {
        char s[9];
        memcpy(s, &pc, 8);
        s[8] = '\0';
        sqlite3_reset(m->st);
        sqlite3_bind_text(m->st, 1, s, -1, SQLITE_TRANSIENT);
        int r = sqlite3_step(m->st);
        d = r == SQLITE_ROW ? sqlite3_column_int(m->st, 0) : 0;
        if (r != SQLITE_ROW && r != SQLITE_DONE) {
            *rc = cb_store_rc(r);
        }
    }
    return d >= 1 && d <= 10 ? d - 1 : 10;
}

/* Give person pe the attributes a (when live: in the team list and the cohort). */
static int apply_attrs(struct eng *e, struct person *pe, const struct attrs *a, struct imdmap *m)
{
    if (!a->live) {
        return CB_OK;
    }
    int rc = CB_OK;
    pe->team = a->team;
    pe->cohort = a->cohort;
    pe->age = a->age;
    pe->sex = a->sex;
    pe->eth = a->eth;
    pe->emp = a->emp;
    pe->rsrc = a->rsrc;
    pe->barrier = a->barrier;
    pe->imd = (int8_t)(e->need_imd ? imd_get(m, a->postcode, &rc) : 10);
    pe->flags |= (uint16_t)(P_LIVE | (a->active ? P_ACTIVE : 0));
    return rc;
}

/*
 * The select list of ATTR_COLS for e: a column parse_attrs() does not read
 * for this split is NULL instead (same positions), so SQLite does not copy it
 * out of the index row for every participant.  The reference engine reads
 * every column (so the randomized test checks this choice).
 */
static int attr_select(const struct eng *e, char *out, size_t len)
{
    static const char *const cols[] = {"id",
                                       "date_of_birth",
                                       "sex",
                                       "ethnic_group",
                                       "employment_status",
                                       "referral_source",
                                       "main_barrier",
                                       "veteran",
                                       "learning_disability",
                                       "carer",
                                       "long_term_condition",
                                       "team",
                                       "postcode",
                                       "status"};
    int sp = e->all_attrs || reference_engine ? SP_COUNT : e->p->split;
#define NEED(x) (sp == SP_COUNT || sp == (x))
    const int need[] = {1,
                        NEED(SP_AGE) || NEED(SP_AGE_RETURN),
                        NEED(SP_SEX),
                        NEED(SP_ETHNIC),
                        NEED(SP_EMPLOYMENT),
                        NEED(SP_REFERRAL_SOURCE),
                        NEED(SP_MAIN_BARRIER),
                        1,
                        1,
                        1,
                        1,
                        1,
                        NEED(SP_IMD),
                        1};
#undef NEED
    size_t at = 0;
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        int n = snprintf(out + at, len - at, "%s%s", i ? ", " : "", need[i] ? cols[i] : "NULL");
        if (n < 0 || (size_t)n >= len - at) {
            return CB_ETOOLARGE;
        }
        at += (size_t)n;
    }
    return CB_OK;
}

/*
 * Scan the participants of e's teams on connection c (e's, or a twin on its
 * snapshot), giving attributes to the people touched: team by team from the
 * covering index participants_report (a person of another team is not live
 * anyway), each row parsed and its id resolved in batches as the event
 * streams do.  mid: only ids below it (upper 0) or from it on (upper 1), so
 * two threads can share the scan; NULL: all.  Only reads e's table (people
 * found are written, each by one thread), so two scans of disjoint id ranges
 * can run at once; mm and m are the caller's (m read-only when loaded).
 */
static int attrs_scan(struct eng *e, struct cb_conn *c, struct attr_memos *mm, struct imdmap *m,
                      const char *mid, int upper)
{
    sqlite3_stmt *st;
    char cols[512], sql[700];
    int rc = attr_select(e, cols, sizeof(cols));
    if (rc) {
        return rc;
    }
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM participants WHERE team = ?1%s AND deleted = 0 AND merged_into IS "
             "NULL",
             cols,
             !mid    ? ""
             : upper ? " AND id >= ?2"
                     : " AND id < ?2");
    rc = cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    struct batch *b = malloc(sizeof(*b));
    struct attrs *a = malloc(BATCH * sizeof(*a));
    int s = SQLITE_DONE;
    rc = b && a ? CB_OK : CB_ENOMEM;
    if (b) {
        b->n = 0;
    }
    for (size_t t = 0; !rc && t < e->nteams; t++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, e->teams[t], -1, SQLITE_TRANSIENT);
        if (mid) {
            sqlite3_bind_text(st, 2, mid, -1, SQLITE_TRANSIENT);
        }
        for (;;) {
            s = rc ? SQLITE_DONE : sqlite3_step(st);
            if (s == SQLITE_ROW) {
                int k = batch_add(b, col_text(st, 0));
                parse_attrs(e, mm, st, &a[k]);
            }
            if (!rc && b->n && (b->n == BATCH || s != SQLITE_ROW)) {
                rc = batch_resolve(e, b, 0);
                for (int k = 0; !rc && k < b->n; k++) {
                    if (b->idx[k] >= 0) {
                        rc = apply_attrs(e, &e->pp[b->idx[k]], &a[k], m);
                    }
                }
                b->n = 0;
            }
            if (s != SQLITE_ROW) {
                break;
            }
        }
        if (s != SQLITE_DONE && !rc) {
            rc = cb_store_rc(s);
        }
    }
    free(b);
    free(a);
    cb_stmt_done(st);
    return rc;
}

/* Probe participants one by one (few people touched). */
static int attrs_probe(struct eng *e, struct attr_memos *mm, struct imdmap *m)
{
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(e->c,
                             "SELECT " ATTR_COLS " FROM participants WHERE id = ?1 AND "
                             "deleted = 0 AND merged_into IS NULL",
                             &st);
    for (size_t i = 0; !rc && i < e->np; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, e->pp[i].id, -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            struct attrs a;
            parse_attrs(e, mm, st, &a);
            rc = apply_attrs(e, &e->pp[i], &a, m);
        } else if (s != SQLITE_DONE) {
            rc = cb_store_rc(s);
        }
    }
    if (!rc) {
        cb_stmt_done(st);
    }
    return rc;
}

static int strp_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* An id near the median of e's people (from an even sample), into mid; "" when none. */
static void median_id(const struct eng *e, char mid[CB_UUID_STRLEN])
{
    enum { SAMPLE = 1025 };
    const char *ids[SAMPLE];
    size_t n = e->np < SAMPLE ? e->np : SAMPLE;
    for (size_t i = 0; i < n; i++) {
        ids[i] = e->pp[i * e->np / n].id;
    }
    qsort(ids, n, sizeof(ids[0]), strp_cmp);
    snprintf(mid, CB_UUID_STRLEN, "%s", n ? ids[n / 2] : "");
}

/* The twin's half of a shared scan (eng_attrs). */
struct attrs_job {
    struct eng *e;
    struct cb_conn *c;
    struct imdmap *m;
    const char *mid;
    int rc;
};

static void *attrs_main(void *arg)
{
    struct attrs_job *j = arg;
    struct attr_memos *mm = calloc(1, sizeof(*mm));
    struct imdmap own;
    memset(&own, 0, sizeof(own));
    struct imdmap *m = j->m;
    j->rc = mm ? CB_OK : CB_ENOMEM;
    if (!j->rc && m->st) {
        /* probing: a statement of the twin's own connection */
        j->rc = imd_open(j->c, &own);
        m = &own;
    }
    if (!j->rc) {
        j->rc = attrs_scan(j->e, j->c, mm, m, j->mid, 1);
    }
    imd_close(&own);
    free(mm);
    return NULL;
}

/*
 * Phase 2: attributes of every person touched, by a scan or by probes.
 * With twin (a connection on c's snapshot), a scan is shared: the ids from
 * about the median on are read on a second thread.
 */
static int eng_attrs_two(struct eng *e, struct cb_conn *twin)
{
    int64_t total = 0;
    int rc = participants_estimate(e->c, &total);
    if (rc || e->np == 0) {
        return rc;
    }
    struct imdmap m;
    memset(&m, 0, sizeof(m));
    if (e->need_imd && (rc = imd_open(e->c, &m)) != CB_OK) {
        imd_close(&m);
        return rc;
    }
    struct attr_memos *mm = calloc(1, sizeof(*mm));
    char mid[CB_UUID_STRLEN] = "";
    if (twin) {
        median_id(e, mid);
    }
    if (!mm) {
        rc = CB_ENOMEM;
    } else if ((int64_t)e->np * 6 <= total) {
        rc = attrs_probe(e, mm, &m);
    } else if (!twin || !mid[0]) {
        rc = attrs_scan(e, e->c, mm, &m, NULL, 0);
    } else {
        struct attrs_job j = {e, twin, &m, mid, CB_OK};
        pthread_t th;
        int started = pthread_create(&th, NULL, attrs_main, &j) == 0;
        rc = attrs_scan(e, e->c, mm, &m, started ? mid : NULL, 0);
        if (started) {
            pthread_join(th, NULL);
            rc = rc ? rc : j.rc;
        }
    }
    free(mm);
    imd_close(&m);
    return rc;
}

static int eng_attrs(struct eng *e)
{
    return eng_attrs_two(e, NULL);
}

/* Set up e for p: teams in scope, the person table sized for everyone. */
static int eng_init(struct eng *e, struct cb_conn *c, const struct rp *p, unsigned streams,
                    int need_imd)
{
    memset(e, 0, sizeof(*e));
    e->c = c;
    e->p = p;
    e->need_imd = need_imd;
    e->all_attrs = (streams & S_ALL_ATTRS) != 0;
    civil_from_days(p->to_days, &e->age_y, &e->age_m, &e->age_d);
    int rc = eng_teams(e);
    /* size the table for everyone once, instead of growing it row by row */
    int64_t total = 0;
    if (!rc) {
        rc = participants_estimate(c, &total);
    }
    size_t want = 1024;
    while (!rc && (int64_t)want < total * 2 && want < ((size_t)1 << 26)) {
        want *= 2;
    }
    if (!rc) {
        rc = eng_rehash(e, want);
    }
    return rc;
}

/*
 * Phase 1 as tasks: each stream, and each instrument's pairs, is one task,
 * listed largest first (as measured on the benchmark's data: contacts, then
 * SWEMWBS pairs, goals, the other pairs, referrals, quits, attendance).  A
 * task writes only its own figures (counts of its kind, its flags, its
 * array), so tasks can run on two threads, each into its own engine, and the
 * engines be merged (eng_merge) to what one thread would have built.
 */
#define T_NTASKS (5 + NINSTR)
_Static_assert(NINSTR == 5, "one pairs task per instrument in task_stream and task_instr");
static const unsigned task_stream[T_NTASKS] = {S_CONTACTS, S_PAIRS,     S_GOALS, S_PAIRS,
                                               S_PAIRS,    S_PAIRS,     S_PAIRS, S_REFERRALS,
                                               S_QUITS,    S_ATTENDANCE};
static const int task_instr[T_NTASKS] = {-1,    I_SWEMWBS, -1, I_ONS4, I_GPPAQ,
                                         I_BMI, I_AUDITC,  -1, -1,     -1};

static int run_task(struct eng *e, int t)
{
    switch (task_stream[t]) {
    case S_CONTACTS:
        return stream_contacts(e);
    case S_ATTENDANCE:
        return stream_attendance(e);
    case S_REFERRALS:
        return stream_referrals(e);
    case S_GOALS:
        return stream_goals(e);
    case S_QUITS:
        return stream_quits(e);
    case S_PAIRS:
        return reference_engine ? stream_pairs(e, task_instr[t])
                                : stream_pairs_pb(e, task_instr[t]);
    default:
        return CB_OK;
    }
}

/* Two threads (cb_report_set_threads); 1 in tests of the one-thread path. */
static int report_threads = 2;
/* Threads the last report on this thread read with (cb_report_last_threads). */
static _Thread_local int last_threads;

void cb_report_set_threads(int n)
{
    report_threads = n < 2 ? 1 : 2;
}

int cb_report_last_threads(void)
{
    return last_threads;
}

/* The tasks two engines share: the next one to take, the first error. */
struct tasks {
    unsigned streams;
    atomic_int next;
    atomic_int failed;
};

/* Take and run tasks on e until none is left or one failed (the first error stops both). */
static int run_tasks(struct eng *e, struct tasks *ts)
{
    for (;;) {
        if (atomic_load(&ts->failed)) {
            return CB_OK; /* the other thread's error is the report's */
        }
        int t = atomic_fetch_add(&ts->next, 1);
        if (t >= T_NTASKS) {
            return CB_OK;
        }
        if (!(ts->streams & task_stream[t])) {
            continue;
        }
        int rc = run_task(e, t);
        if (rc) {
            atomic_store(&ts->failed, 1);
            return rc;
        }
    }
}

/* The twin thread's side: its own engine on the twin connection. */
struct twin_job {
    struct eng e;
    struct cb_conn *c;
    const struct rp *p;
    unsigned streams;
    int need_imd;
    struct tasks *ts;
    int rc;
};

static void *twin_main(void *arg)
{
    struct twin_job *j = arg;
    j->rc = eng_init(&j->e, j->c, j->p, j->streams, j->need_imd);
    if (j->rc) {
        atomic_store(&j->ts->failed, 1);
    } else {
        j->rc = run_tasks(&j->e, j->ts);
    }
    return NULL;
}

/* Move b's pairs and referrals (people renumbered through map) into a, which has none of them. */
static void move_arrays(struct eng *a, struct eng *b, const uint32_t *map)
{
    for (int in = 0; in < NINSTR; in++) {
        if (!b->npairs[in]) {
            continue;
        }
        assert(a->npairs[in] == 0); /* one task per instrument */
        for (size_t k = 0; k < b->npairs[in]; k++) {
            b->pairs[in][k].person = map[b->pairs[in][k].person];
        }
        free(a->pairs[in]);
        a->pairs[in] = b->pairs[in];
        a->npairs[in] = b->npairs[in];
        a->cappairs[in] = b->cappairs[in];
        b->pairs[in] = NULL;
        b->npairs[in] = b->cappairs[in] = 0;
    }
    if (b->nrefs) {
        assert(a->nrefs == 0); /* one task for referrals */
        for (size_t k = 0; k < b->nrefs; k++) {
            b->refs[k].person = map[b->refs[k].person];
        }
        free(a->refs);
        a->refs = b->refs;
        a->nrefs = b->nrefs;
        a->caprefs = b->caprefs;
        b->refs = NULL;
        b->nrefs = b->caprefs = 0;
    }
}

/*
 * Merge engine b's people into a (found by id, created when new): counts
 * added, flags joined; b's pairs and referrals move to a with their people
 * renumbered.  Nothing in the figures depends on the order people were
 * created in, only on each array's own order, which is kept.  CB_ENOMEM.
 */
static int eng_merge(struct eng *a, struct eng *b)
{
    uint32_t *map = malloc((b->np ? b->np : 1) * sizeof(*map));
    struct batch *bt = malloc(sizeof(*bt));
    int rc = bt && map ? CB_OK : CB_ENOMEM;
    for (size_t j = 0; !rc && j < b->np; j += BATCH) {
        bt->n = 0;
        for (size_t k = j; k < b->np && k < j + BATCH; k++) {
            batch_add(bt, b->pp[k].id);
        }
        rc = batch_resolve(a, bt, 1);
        for (int k = 0; !rc && k < bt->n; k++) {
            if (bt->idx[k] < 0) {
                rc = CB_EINTERNAL; /* b holds only ids a can hold */
                break;
            }
            const struct person *from = &b->pp[j + (size_t)k];
            struct person *to = &a->pp[bt->idx[k]];
            for (int t = 0; t < NTYPES; t++) {
                to->contacts[t] += from->contacts[t];
            }
            for (int t = 0; t < NATT; t++) {
                to->att[t] += from->att[t];
            }
            for (int t = 0; t < NGOALST; t++) {
                to->goals[t] += from->goals[t];
            }
            to->flags |= from->flags;
            map[j + (size_t)k] = (uint32_t)bt->idx[k];
        }
    }
    if (!rc) {
        move_arrays(a, b, map);
    }
    free(bt);
    free(map);
    return rc;
}

/*
 * Phase 1 on two threads: e (on c) takes tasks here while a second engine
 * on twin (c's snapshot, cb_store_read_twin) takes them on a new thread;
 * then the twin's engine is merged into e.  If the thread cannot start, this
 * one takes every task.
 */
static int eng_tasks_two(struct eng *e, struct cb_conn *twin, const struct rp *p, unsigned streams,
                         int need_imd, struct tasks *ts)
{
    struct twin_job *j = calloc(1, sizeof(*j));
    pthread_t th;
    int started = 0;
    if (j) {
        *j = (struct twin_job){
            .c = twin, .p = p, .streams = streams, .need_imd = need_imd, .ts = ts};
        started = pthread_create(&th, NULL, twin_main, j) == 0;
    }
    if (!started) {
        last_threads = 1;
    }
    int rc = run_tasks(e, ts);
    if (started) {
        pthread_join(th, NULL);
        rc = rc ? rc : j->rc;
        if (!rc) {
            rc = eng_merge(e, &j->e);
        }
        eng_free(&j->e);
    }
    free(j);
    return rc;
}

/* Tasks of streams (more than one: worth a second thread). */
static int task_count(unsigned streams)
{
    int n = 0;
    for (int t = 0; t < T_NTASKS; t++) {
        n += (streams & task_stream[t]) != 0;
    }
    return n;
}

/*
 * Run phases 1 and 2 for the streams asked for.  c holds a transaction
 * (BEGIN) that has not read yet; when a twin connection can join its
 * snapshot, phase 1 runs on two threads (not for the reference engine, which
 * tests compare with).
 */
static int eng_run(struct eng *e, struct cb_conn *c, const struct rp *p, unsigned streams,
                   int need_imd)
{
    struct tasks ts = {.streams = streams};
    atomic_init(&ts.next, 0);
    atomic_init(&ts.failed, 0);
    struct cb_conn *twin = NULL;
    if (report_threads > 1 && !reference_engine && task_count(streams) > 1) {
        int trc = cb_store_read_twin(c, &twin);
        /* c must not have started reading (the reports begin their transaction just
         * before): that would be a caller's bug, silently costing the second thread */
        assert(trc != CB_EINVAL);
        if (trc != CB_OK) {
            twin = NULL; /* a writer held the lock (or no connection): one thread */
        }
    }
    int rc = eng_init(e, c, p, streams, need_imd);
    last_threads = twin ? 2 : 1;
    if (!rc) {
        rc = twin ? eng_tasks_two(e, twin, p, streams, need_imd, &ts) : run_tasks(e, &ts);
    }
    if (!rc) {
        rc = eng_attrs_two(e, twin);
    }
    cb_store_twin_end(twin);
    /* ONS4 answers and BMI weights: read only for pairs of people who count */
    for (int in = I_ONS4; !rc && (streams & S_PAIRS) && in <= I_BMI; in += I_BMI - I_ONS4) {
        rc = pair_values(e, in);
    }
    return rc;
}

/* ================================================================ groups */

static int split_ngroups(const struct eng *e, int split)
{
    switch (split) {
    case SP_TEAM:
        return (int)e->nteams;
    case SP_AGE:
        return list_len(age_keys);
    case SP_AGE_RETURN:
        return list_len(age_return_keys);
    case SP_SEX:
        return list_len(sex_codes) + 1;
    case SP_ETHNIC:
        return list_len(ethnic_keys) + 1;
    case SP_IMD:
        return list_len(imd_keys) + 1;
    case SP_COHORT:
        return NCOHORTS + 1;
    case SP_EMPLOYMENT:
        return list_len(cb_employment_statuses) + 1;
    case SP_REFERRAL_SOURCE:
        return list_len(cb_referral_sources) + 1;
    case SP_MAIN_BARRIER:
        return list_len(cb_main_barriers) + 1;
    default:
        return 0;
    }
}

/* Key of group g of split (codes; a trailing "not_recorded" / "unknown" / "none"). */
static const char *split_key(const struct eng *e, int split, int g)
{
    const char *const *list = NULL;
    const char *extra = NOT_RECORDED;
    switch (split) {
    case SP_TEAM:
        return g < (int)e->nteams ? e->teams[g] : NULL;
    case SP_AGE:
        return g < list_len(age_keys) ? age_keys[g] : NULL;
    case SP_AGE_RETURN:
        return g < list_len(age_return_keys) ? age_return_keys[g] : NULL;
    case SP_SEX:
        list = sex_codes;
        break;
    case SP_ETHNIC:
        list = ethnic_keys;
        break;
    case SP_IMD:
        list = imd_keys;
        extra = "unknown";
        break;
    case SP_COHORT:
        list = cohort_keys;
        extra = "none";
        break;
    case SP_EMPLOYMENT:
        list = cb_employment_statuses;
        break;
    case SP_REFERRAL_SOURCE:
        list = cb_referral_sources;
        break;
    case SP_MAIN_BARRIER:
        list = cb_main_barriers;
        break;
    default:
        return NULL;
    }
    int n = list_len(list);
    return g < n ? list[g] : g == n ? extra : NULL;
}

/* The groups of split a person belongs to (several only for cohorts); returns how many. */
static int person_groups(const struct person *pe, int split, int out[NCOHORTS + 1])
{
    int a = pe->age;
    switch (split) {
    case SP_TEAM:
        out[0] = pe->team;
        return pe->team >= 0;
    case SP_AGE:
        out[0] = a < 0 ? -1 : a < 16 ? 0 : a < 25 ? 1 : a < 35 ? 2 : a < 50 ? 3 : a < 65 ? 4 : 5;
        return a >= 0;
    case SP_AGE_RETURN:
        out[0] = a < 0 ? -1 : a <= 35 ? 0 : a < 50 ? 1 : 2;
        return a >= 0;
    case SP_SEX:
        out[0] = pe->sex;
        return 1;
    case SP_ETHNIC:
        out[0] = pe->eth;
        return 1;
    case SP_IMD:
        out[0] = pe->imd;
        return 1;
    case SP_COHORT: {
        int n = 0;
        for (int k = 0; k < NCOHORTS; k++) {
            if (pe->cohort & (1u << k)) {
                out[n++] = k;
            }
        }
        if (n == 0) {
            out[n++] = NCOHORTS;
        }
        return n;
    }
    case SP_EMPLOYMENT:
        out[0] = pe->emp;
        return 1;
    case SP_REFERRAL_SOURCE:
        out[0] = pe->rsrc;
        return 1;
    case SP_MAIN_BARRIER:
        out[0] = pe->barrier;
        return 1;
    default:
        return 0;
    }
}

int cb_report_group_valid(struct cb_conn *c, const char *split, const char *key)
{
    int sp = split ? split_parse(split) : SP_NONE;
    if (sp == SP_NONE || !key) {
        return 0;
    }
    if (sp == SP_TEAM) {
        int exists = 0;
        return row_exists(c, "SELECT 1 FROM teams WHERE id = ?1 AND deleted = 0", key, &exists) ==
                   CB_OK &&
               exists;
    }
    struct eng e;
    memset(&e, 0, sizeof(e));
    for (int g = 0; g < split_ngroups(&e, sp); g++) {
        if (strcmp(split_key(&e, sp, g), key) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ================================================================ roll-up */

struct pstat {
    long n;
    double sb, sf;
};

struct agg {
    long seen;
    long contacts[NTYPES];
    long att[NATT];
    long ref[NDEST][NRSTAT];
    struct pstat swem, gppaq, bmi, weight, auditc, ons[4];
    long swem_up, swem_down, gppaq_up, gppaq_down, auditc_pos_b, auditc_pos_f;
    long quit_set, quit_self, quit_co;
    long goals[NGOALST], goal_people;
};

/* Classification of a pair, shared by the roll-up and the records route. */
enum pclass {
    PC_UP = 1u << 0,    /* SWEMWBS improved by >= the meaningful change; GPPAQ moved up */
    PC_DOWN = 1u << 1,  /* ... declined by as much; GPPAQ moved down */
    PC_POS_B = 1u << 2, /* AUDIT-C positive (>= 5) at baseline */
    PC_POS_F = 1u << 3  /* ... at follow-up */
};

static unsigned pair_class(int in, const struct pair *pr)
{
    double d = pr->f[0] - pr->b[0];
    switch (in) {
    case I_SWEMWBS:
        /* scores are 2 dp from the Warwick table; compare in hundredths */
        return (llround(d * 100) >= llround(CB_SWEMWBS_MEANINGFUL_CHANGE * 100) ? PC_UP : 0) |
               (llround(-d * 100) >= llround(CB_SWEMWBS_MEANINGFUL_CHANGE * 100) ? PC_DOWN : 0);
    case I_GPPAQ:
        return (d > 0.5 ? PC_UP : 0) | (d < -0.5 ? PC_DOWN : 0);
    case I_AUDITC:
        return (pr->b[0] >= 5 ? PC_POS_B : 0) | (pr->f[0] >= 5 ? PC_POS_F : 0);
    default:
        return 0;
    }
}

static void pstat_add(struct pstat *s, double b, double f)
{
    s->n++;
    s->sb += b;
    s->sf += f;
}

/* Add a live person's activity, and their person-level figures when scoped. */
static void agg_person(struct agg *g, const struct person *pe, int scoped)
{
    g->seen += (pe->flags & P_SEEN) != 0;
    for (int t = 0; t < NTYPES; t++) {
        g->contacts[t] += pe->contacts[t];
    }
    for (int a = 0; a < NATT; a++) {
        g->att[a] += pe->att[a];
    }
    if (!scoped) {
        return;
    }
    long goals = 0;
    for (int s = 0; s < NGOALST; s++) {
        g->goals[s] += pe->goals[s];
        goals += pe->goals[s];
    }
    g->goal_people += goals > 0;
    g->quit_set += (pe->flags & P_QUIT_SET) != 0;
    g->quit_self += (pe->flags & P_QUIT_SELF) != 0;
    g->quit_co += (pe->flags & P_QUIT_CO) != 0;
}

static void agg_pair(struct agg *g, int in, const struct pair *pr)
{
    unsigned k = pair_class(in, pr);
    switch (in) {
    case I_SWEMWBS:
        pstat_add(&g->swem, pr->b[0], pr->f[0]);
        g->swem_up += (k & PC_UP) != 0;
        g->swem_down += (k & PC_DOWN) != 0;
        break;
    case I_ONS4:
        for (int j = 0; j < 4; j++) {
            pstat_add(&g->ons[j], pr->b[j], pr->f[j]);
        }
        break;
    case I_GPPAQ:
        pstat_add(&g->gppaq, pr->b[0], pr->f[0]);
        g->gppaq_up += (k & PC_UP) != 0;
        g->gppaq_down += (k & PC_DOWN) != 0;
        break;
    case I_BMI:
        pstat_add(&g->bmi, pr->b[0], pr->f[0]);
        pstat_add(&g->weight, pr->b[1], pr->f[1]);
        break;
    case I_AUDITC:
        pstat_add(&g->auditc, pr->b[0], pr->f[0]);
        g->auditc_pos_b += (k & PC_POS_B) != 0;
        g->auditc_pos_f += (k & PC_POS_F) != 0;
        break;
    default:
        break;
    }
}

/*
 * Phase 3: add everyone in scope into total and into groups[ngroups] of
 * split (groups may be NULL with SP_NONE).
 */
static void eng_rollup(const struct eng *e, int split, struct agg *total, struct agg *groups)
{
    int gs[NCOHORTS + 1];
    for (size_t i = 0; i < e->np; i++) {
        const struct person *pe = &e->pp[i];
        if (!is_live(pe)) {
            continue;
        }
        int scoped = in_scope(e, pe);
        agg_person(total, pe, scoped);
        int n = split == SP_NONE ? 0 : person_groups(pe, split, gs);
        for (int k = 0; k < n; k++) {
            if (gs[k] >= 0) {
                agg_person(&groups[gs[k]], pe, scoped);
            }
        }
    }
    for (size_t j = 0; j < e->nrefs; j++) {
        const struct ref_ev *r = &e->refs[j];
        const struct person *pe = &e->pp[r->person];
        if (!in_scope(e, pe)) {
            continue;
        }
        total->ref[r->dest][r->status]++;
        int n = split == SP_NONE ? 0 : person_groups(pe, split, gs);
        for (int k = 0; k < n; k++) {
            if (gs[k] >= 0) {
                groups[gs[k]].ref[r->dest][r->status]++;
            }
        }
    }
    for (int in = 0; in < NINSTR; in++) {
        for (size_t j = 0; j < e->npairs[in]; j++) {
            const struct pair *pr = &e->pairs[in][j];
            if (pr->person >= e->np) {
                continue;
            }
            const struct person *pe = &e->pp[pr->person];
            if (!in_scope(e, pe)) {
                continue;
            }
            agg_pair(total, in, pr);
            int n = split == SP_NONE ? 0 : person_groups(pe, split, gs);
            for (int k = 0; k < n; k++) {
                if (gs[k] >= 0) {
                    agg_pair(&groups[gs[k]], in, pr);
                }
            }
        }
    }
}

/* ============================================================ JSON output */

struct fmt {
    int suppress;
    int threshold;
};

static json_t *jcount(const struct fmt *f, long n)
{
    if (f->suppress && n > 0 && n < f->threshold) {
        char s[24];
        snprintf(s, sizeof(s), "<%d", f->threshold);
        return json_string(s);
    }
    return json_integer(n);
}

static double round_to(double v, double scale)
{
    return round(v * scale) / scale;
}

/* Mean of sum over n (2 dp), or null when n is 0 or suppressed. */
static json_t *jmean(const struct fmt *f, double sum, long n)
{
    if (n == 0 || (f->suppress && n < f->threshold)) {
        return json_null();
    }
    return json_real(round_to(sum / (double)n, 100));
}

/* num/den (4 dp), or null when den is 0 or either count is suppressed. */
static json_t *jshare(const struct fmt *f, long num, long den)
{
    if (den == 0 || (f->suppress && (den < f->threshold || (num > 0 && num < f->threshold)))) {
        return json_null();
    }
    return json_real(round_to((double)num / (double)den, 10000));
}

static json_t *jmeans(const struct fmt *f, const struct pstat *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "baseline_mean", jmean(f, s->sb, s->n));
    json_object_set_new(o, "followup_mean", jmean(f, s->sf, s->n));
    json_t *chg = json_null();
    if (s->n > 0 && !(f->suppress && s->n < f->threshold)) {
        chg = json_real(round_to((s->sf - s->sb) / (double)s->n, 100));
    }
    json_object_set_new(o, "mean_change", chg);
    return o;
}

static json_t *jpairs(const struct fmt *f, const struct pstat *s)
{
    json_t *o = jmeans(f, s);
    json_object_set_new(o, "pairs", jcount(f, s->n));
    return o;
}

static json_t *figures_json(const struct fmt *f, const struct agg *g)
{
    json_t *o = json_object();
    json_object_set_new(o, "people_seen", jcount(f, g->seen));

    json_t *ct = json_object();
    long total = 0;
    for (int t = 0; t < NTYPES; t++) {
        total += t == T_DNA ? 0 : g->contacts[t];
    }
    json_object_set_new(ct, "total", jcount(f, total));
    for (int t = 0; t < NTYPES; t++) {
        json_object_set_new(ct, cb_encounter_types[t], jcount(f, g->contacts[t]));
    }
    json_object_set_new(o, "contacts", ct);

    json_t *at = json_object();
    long den = 0;
    for (int a = 0; a < NATT; a++) {
        json_object_set_new(at, cb_attendance_statuses[a], jcount(f, g->att[a]));
        den += g->att[a];
    }
    json_object_set_new(at, "rate", jshare(f, g->att[A_ATTENDED], den));
    json_object_set_new(o, "group_attendance", at);

    json_t *rf = json_object(), *bd = json_object(), *bs = json_object();
    long rtotal = 0, bystatus[NRSTAT] = {0};
    for (int d = 0; d < NDEST; d++) {
        json_t *dd = json_object();
        long dt = 0;
        for (int s = 0; s < NRSTAT; s++) {
            dt += g->ref[d][s];
            bystatus[s] += g->ref[d][s];
        }
        json_object_set_new(dd, "total", jcount(f, dt));
        for (int s = 0; s < NRSTAT; s++) {
            json_object_set_new(dd, cb_referral_statuses[s], jcount(f, g->ref[d][s]));
        }
        json_object_set_new(bd, cb_referral_destinations[d], dd);
        rtotal += dt;
    }
    for (int s = 0; s < NRSTAT; s++) {
        json_object_set_new(bs, cb_referral_statuses[s], jcount(f, bystatus[s]));
    }
    json_object_set_new(rf, "total", jcount(f, rtotal));
    json_object_set_new(rf, "by_destination", bd);
    json_object_set_new(rf, "by_status", bs);
    json_object_set_new(o, "referrals", rf);

    json_t *sw = jpairs(f, &g->swem);
    json_object_set_new(sw, "improved", jcount(f, g->swem_up));
    json_object_set_new(sw, "improved_share", jshare(f, g->swem_up, g->swem.n));
    json_object_set_new(sw, "declined", jcount(f, g->swem_down));
    json_object_set_new(sw, "no_meaningful_change",
                        jcount(f, g->swem.n - g->swem_up - g->swem_down));
    json_object_set_new(o, "swemwbs", sw);

    static const char *const ons_q[4] = {"life_satisfaction", "worthwhile", "happiness", "anxiety"};
    json_t *on = json_object();
    json_object_set_new(on, "pairs", jcount(f, g->ons[0].n));
    for (int j = 0; j < 4; j++) {
        json_object_set_new(on, ons_q[j], jmeans(f, &g->ons[j]));
    }
    json_object_set_new(o, "ons4", on);

    json_t *gp = jpairs(f, &g->gppaq);
    json_object_set_new(gp, "moved_up", jcount(f, g->gppaq_up));
    json_object_set_new(gp, "moved_down", jcount(f, g->gppaq_down));
    json_object_set_new(gp, "no_change", jcount(f, g->gppaq.n - g->gppaq_up - g->gppaq_down));
    json_object_set_new(o, "gppaq", gp);

    json_object_set_new(o, "bmi", jpairs(f, &g->bmi));
    json_object_set_new(o, "weight_kg", jpairs(f, &g->weight));

    json_t *au = jpairs(f, &g->auditc);
    json_object_set_new(au, "positive_at_baseline", jcount(f, g->auditc_pos_b));
    json_object_set_new(au, "positive_at_followup", jcount(f, g->auditc_pos_f));
    json_object_set_new(o, "audit_c", au);

    json_t *sm = json_object();
    json_object_set_new(sm, "quit_dates_set", jcount(f, g->quit_set));
    json_object_set_new(sm, "quits_self_reported", jcount(f, g->quit_self));
    json_object_set_new(sm, "quits_co_validated", jcount(f, g->quit_co));
    json_object_set_new(o, "smoking", sm);

    /* cb_goal_statuses: agreed, partly_achieved, fully_achieved, not_achieved */
    json_t *go = json_object();
    long agreed = 0;
    for (int s = 0; s < NGOALST; s++) {
        agreed += g->goals[s];
    }
    long outcome = agreed - g->goals[0];
    json_object_set_new(go, "agreed", jcount(f, agreed));
    json_object_set_new(go, "people", jcount(f, g->goal_people));
    json_object_set_new(go, "fully_achieved", jcount(f, g->goals[2]));
    json_object_set_new(go, "partly_achieved", jcount(f, g->goals[1]));
    json_object_set_new(go, "not_achieved", jcount(f, g->goals[3]));
    json_object_set_new(go, "open", jcount(f, g->goals[0]));
    json_object_set_new(go, "fully_achieved_share", jshare(f, g->goals[2], outcome));
    json_object_set_new(go, "partly_achieved_share", jshare(f, g->goals[1], outcome));
    json_object_set_new(o, "goals", go);
    return o;
}

/* "period" and "filters" objects shared by the JSON reports. */
static void describe(json_t *o, const struct rp *p, const struct cb_report_query *q)
{
    json_object_set_new(o, "period", json_pack("{s:s, s:s}", "from", p->from, "to", p->to));
    json_object_set_new(
        o, "filters",
        json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "team", p->team[0] ? p->team : NULL,
                  "venue", p->venue[0] ? p->venue : NULL, "coach", p->coach[0] ? p->coach : NULL,
                  "programme", p->programme[0] ? p->programme : NULL, "topic",
                  p->topic[0] ? p->topic : NULL, "cohort", q->cohort));
    json_object_set_new(o, "split",
                        p->split == SP_NONE ? json_null() : json_string(split_names[p->split]));
    json_object_set_new(o, "age_at", json_string(p->to));
    json_object_set_new(o, "suppressed", json_boolean(p->suppress));
    json_object_set_new(o, "small_number_threshold", json_integer(p->threshold));
}

/* One audit event for a report; detail lists the parameters (no personal data). */
static void audit_report(struct cb_conn *c, const struct cb_actor *a, const char *action,
                         const struct cb_report_query *q)
{
    struct {
        const char *name, *v;
    } kv[] = {{"from", q->from},   {"to", q->to},
              {"team", q->team},   {"venue", q->venue},
              {"coach", q->coach}, {"programme", q->programme},
              {"topic", q->topic}, {"cohort", q->cohort},
              {"split", q->split}, {"figure", q->figure},
              {"group", q->group}, {"quarter", q->quarter},
              {"weeks", q->weeks}, {"suppress", q->suppress}};
    char detail[400];
    size_t o = 0;
    detail[0] = '\0';
    for (size_t i = 0; i < N(kv) && o < sizeof(detail); i++) {
        if (kv[i].v) {
            int w = snprintf(detail + o, sizeof(detail) - o, "%s%s=%.80s", o ? "&" : "", kv[i].name,
                             kv[i].v);
            o = w < 0 ? sizeof(detail) : o + (size_t)w;
        }
    }
    struct cb_audit_event ev = {
        a ? a->user->id : NULL,    action, NULL, NULL, a ? a->address : NULL, "ok",
        detail[0] ? detail : NULL, NULL};
    cb_audit(c, &ev);
}

/* Parameters of outcomes, records and reach. */
static int resolve_all(struct cb_conn *c, const struct cb_actor *a, enum access acc,
                       const struct cb_report_query *q, struct rp *p, struct cb_field_error *fe)
{
    memset(p, 0, sizeof(*p));
    int rc = resolve_team(c, a, acc, q->team, p, fe);
    if (!rc) {
        rc = resolve_period(q, 1, p, fe);
    }
    if (!rc) {
        rc = resolve_filters(c, a, q, p, fe);
    }
    return rc;
}

int cb_report_outcomes(struct cb_conn *c, const struct cb_actor *a, const struct cb_report_query *q,
                       json_t **out, struct cb_field_error *fe)
{
    struct rp p;
    *out = NULL;
    int rc = resolve_all(c, a, ACC_TEAM, q, &p, fe);
    if (rc) {
        return rc;
    }
    struct eng e;
    if ((rc = read_begin(c)) != CB_OK) {
        return rc;
    }
    rc = eng_run(&e, c, &p, S_ALL, p.split == SP_IMD);
    read_end(c);
    int ng = p.split == SP_NONE ? 0 : split_ngroups(&e, p.split);
    struct agg total, *groups = calloc((size_t)ng + 1, sizeof(*groups));
    memset(&total, 0, sizeof(total));
    if (!rc && !groups) {
        rc = CB_ENOMEM;
    }
    if (!rc) {
        eng_rollup(&e, p.split, &total, groups);
        struct fmt f = {p.suppress, p.threshold};
        json_t *o = json_object();
        describe(o, &p, q);
        json_object_set_new(o, "swemwbs_meaningful_change",
                            json_real(CB_SWEMWBS_MEANINGFUL_CHANGE));
        json_object_set_new(o, "total", figures_json(&f, &total));
        if (p.split != SP_NONE) {
            json_t *arr = json_array();
            for (int g = 0; g < ng; g++) {
                json_array_append_new(arr, json_pack("{s:s, s:o}", "key", split_key(&e, p.split, g),
                                                     "figures", figures_json(&f, &groups[g])));
            }
            json_object_set_new(o, "groups", arr);
        }
        *out = o;
        audit_report(c, a, "report.outcomes", q);
    }
    free(groups);
    eng_free(&e);
    return rc;
}

/* ================================================================= venues */

/*
 * Activity by venue.  Per (person, venue): contacts that are not DNAs, DNAs,
 * and whether seen there (such a contact, or an attended session whose
 * venue, else the programme's, is the venue); then the live people of the
 * teams in scope (the engine's attribute phase) summed by venue - the
 * outcomes report's rules with venue= (docs/REPORTS.md "Who counts").
 * Contacts are read per live venue through the covering index
 * encounters_venue_report (migration 8) and counted in C, keyed by person
 * index and venue index in an open-addressing table.
 */
struct pv {
    uint32_t person, venue;
    uint32_t ok, dna;
    uint8_t seen;
};

struct pvmap {
    uint64_t *keys; /* person * nvenues + venue + 1; 0 empty */
    uint32_t *at;   /* index into pv */
    size_t nslots;
    struct pv *pv;
    size_t n, cap;
    size_t nvenues;
};

static size_t pv_slot(const struct pvmap *m, uint64_t k)
{
    uint64_t h = k * 0x9E3779B97F4A7C15ULL;
    size_t i = (size_t)(h ^ (h >> 29)) & (m->nslots - 1);
    while (m->keys[i] && m->keys[i] != k) {
        i = (i + 1) & (m->nslots - 1);
    }
    return i;
}

static int pv_rehash(struct pvmap *m, size_t nslots)
{
    uint64_t *keys = calloc(nslots, sizeof(*keys));
    uint32_t *at = calloc(nslots, sizeof(*at));
    if (!keys || !at) {
        free(keys);
        free(at);
        return CB_ENOMEM;
    }
    free(m->keys);
    free(m->at);
    m->keys = keys;
    m->at = at;
    m->nslots = nslots;
    for (size_t j = 0; j < m->n; j++) {
        uint64_t k = (uint64_t)m->pv[j].person * m->nvenues + m->pv[j].venue + 1;
        size_t i = pv_slot(m, k);
        m->keys[i] = k;
        m->at[i] = (uint32_t)j;
    }
    return CB_OK;
}

/* The counters of (person, venue) (venue < m->nvenues), created on first use; *out stays
 * valid until the next pv_get.  CB_ENOMEM. */
static int pv_get(struct pvmap *m, uint32_t person, uint32_t venue, struct pv **out)
{
    if (!m->nslots || (m->n + 1) * 2 > m->nslots) {
        int rc = pv_rehash(m, m->nslots ? m->nslots * 2 : 4096);
        if (rc) {
            return rc;
        }
    }
    assert(venue < m->nvenues);
    uint64_t k = (uint64_t)person * m->nvenues + venue + 1;
    size_t i = pv_slot(m, k);
    if (!m->keys[i]) {
        int rc = grow((void **)&m->pv, &m->cap, m->n, sizeof(*m->pv));
        if (rc) {
            return rc;
        }
        m->pv[m->n] = (struct pv){person, venue, 0, 0, 0};
        m->keys[i] = k;
        m->at[i] = (uint32_t)m->n++;
    }
    *out = &m->pv[m->at[i]];
    return CB_OK;
}

/* A venue id and its position in the answer's items. */
struct venue_ix {
    char id[CB_UUID_STRLEN];
    uint32_t item;
};

static int venue_ix_cmp(const void *x, const void *y)
{
    return strcmp(((const struct venue_ix *)x)->id, ((const struct venue_ix *)y)->id);
}

/* Item index of venue id, or -1 when it is not a listed (live) venue. */
static int64_t venue_find(const struct venue_ix *v, size_t n, const char *id)
{
    if (!id || strlen(id) >= CB_UUID_STRLEN) {
        return -1;
    }
    struct venue_ix key;
    memset(&key, 0, sizeof(key));
    memcpy(key.id, id, strlen(id) + 1);
    const struct venue_ix *hit = n ? bsearch(&key, v, n, sizeof(*v), venue_ix_cmp) : NULL;
    return hit ? (int64_t)hit->item : -1;
}

/* Count one resolved batch of rows: venue[k] item index (-1 skip), dna[k] a DNA, seen_only[k]
 * an attended session.  CB_ENOMEM. */
static int venues_apply(struct pvmap *m, const struct batch *b, const int32_t *venue,
                        const uint8_t *dna, const uint8_t *seen_only)
{
    for (int k = 0; k < b->n; k++) {
        if (b->idx[k] < 0 || venue[k] < 0) {
            continue;
        }
        struct pv *x;
        int rc = pv_get(m, (uint32_t)b->idx[k], (uint32_t)venue[k], &x);
        if (rc) {
            return rc;
        }
        if (seen_only[k]) {
            x->seen = 1;
        } else if (dna[k]) {
            x->dna++;
        } else {
            x->ok++;
            x->seen = 1;
        }
    }
    return CB_OK;
}

/* Stream st's rows (venue, participant_id[, type]) into m; seen_only: attendance rows. */
static int venues_stream(struct eng *e, struct pvmap *m, sqlite3_stmt *st,
                         const struct venue_ix *vx, size_t nv, int seen_only)
{
    struct batch *b = malloc(sizeof(*b));
    int32_t venue[BATCH];
    uint8_t dna[BATCH], so[BATCH];
    char last[CB_UUID_STRLEN] = "";
    int64_t last_ix = -1;
    int s = SQLITE_DONE, rc = b ? CB_OK : CB_ENOMEM;
    if (b) {
        b->n = 0;
    }
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *v = col_text(st, 0);
        if (!v) {
            continue;
        }
        if (strcmp(v, last) != 0) {
            /* rows come venue by venue: look a venue up once per run */
            last_ix = venue_find(vx, nv, v);
            snprintf(last, sizeof(last), "%s", strlen(v) < sizeof(last) ? v : "");
        }
        if (last_ix < 0) {
            continue;
        }
        int k = batch_add(b, col_text(st, 1));
        venue[k] = (int32_t)last_ix;
        so[k] = (uint8_t)seen_only;
        const char *t = seen_only ? NULL : col_text(st, 2);
        dna[k] = (uint8_t)(t && strcmp(t, "dna") == 0);
        if (b->n == BATCH) {
            rc = batch_resolve(e, b, 1);
            rc = rc ? rc : venues_apply(m, b, venue, dna, so);
            b->n = 0;
        }
    }
    if (!rc && b && b->n) {
        rc = batch_resolve(e, b, 1);
        rc = rc ? rc : venues_apply(m, b, venue, dna, so);
    }
    free(b);
    int rc2 = step_done(st, s);
    return rc ? rc : rc2;
}

int cb_report_venues(struct cb_conn *c, const struct cb_actor *a, const struct cb_report_query *q,
                     json_t **out, struct cb_field_error *fe)
{
    struct rp p;
    *out = NULL;
    memset(&p, 0, sizeof(p));
    int rc = resolve_team(c, a, ACC_TEAM, q->team, &p, fe);
    if (!rc) {
        rc = resolve_period(q, 1, &p, fe);
    }
    if (rc) {
        return rc;
    }
    p.split = SP_NONE;
    p.cohort = -1;
    if ((rc = read_begin(c)) != CB_OK) {
        return rc;
    }
    json_t *items = json_array();
    struct venue_ix *vx = NULL;
    size_t nv = 0, capv = 0;
    struct pvmap m;
    memset(&m, 0, sizeof(m));
    struct eng e;
    memset(&e, 0, sizeof(e));
    sqlite3_stmt *st;
    rc = cb_conn_prepare(c,
                         "SELECT id, name, team FROM venues WHERE deleted = 0 "
                         "ORDER BY lower(name), id",
                         &st);
    if (!rc) {
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            const char *id = col_text(st, 0);
            if (id && strlen(id) < CB_UUID_STRLEN) { /* else listed, never matched */
                if ((rc = grow((void **)&vx, &capv, nv, sizeof(*vx))) != CB_OK) {
                    break;
                }
                memcpy(vx[nv].id, id, strlen(id) + 1);
                vx[nv].item = (uint32_t)json_array_size(items);
                nv++;
            }
            json_array_append_new(items,
                                  json_pack("{s:s?, s:s?, s:o, s:i, s:i, s:i}", "venue", id, "name",
                                            col_text(st, 1), "team", col_json_str(st, 2),
                                            "people_seen", 0, "contacts", 0, "dna", 0));
        }
        rc = rc ? (cb_stmt_done(st), rc) : step_done(st, s);
    }
    if (!rc && nv > 1) {
        qsort(vx, nv, sizeof(*vx), venue_ix_cmp);
    }
    m.nvenues = json_array_size(items) ? json_array_size(items) : 1;
    if (!rc) {
        rc = eng_init(&e, c, &p, 0, 0);
    }
    if (!rc) {
        rc = cb_conn_prepare(c,
                             "SELECT venue, participant_id, type FROM encounters WHERE venue IN "
                             "(SELECT id FROM venues WHERE deleted = 0) AND deleted = 0 AND "
                             "occurred_at >= ?1 AND occurred_at < ?2 AND (?3 = '' OR +team = ?3)",
                             &st);
    }
    if (!rc) {
        sqlite3_bind_text(st, 1, p.from_ts, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, p.to_ts, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, p.team, -1, SQLITE_TRANSIENT);
        rc = venues_stream(&e, &m, st, vx, nv, 0);
    }
    if (!rc) {
        rc = cb_conn_prepare(c,
                             "SELECT coalesce(s.venue, pr.venue), a.participant_id "
                             "FROM group_sessions s JOIN attendance a ON a.session_id = s.id AND "
                             "a.deleted = 0 AND a.status = 'attended' JOIN programmes pr ON "
                             "pr.id = s.programme_id WHERE s.deleted = 0 AND pr.deleted = 0 AND "
                             "s.starts_at >= ?1 "
                             "AND s.starts_at < ?2 AND (?3 = '' OR a.team = ?3)",
                             &st);
    }
    if (!rc) {
        sqlite3_bind_text(st, 1, p.from_ts, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, p.to_ts, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, p.team, -1, SQLITE_TRANSIENT);
        rc = venues_stream(&e, &m, st, vx, nv, 1);
    }
    /* live people of the teams in scope */
    if (!rc) {
        rc = eng_attrs(&e);
    }
    read_end(c);
    if (!rc) {
        size_t ni = json_array_size(items);
        long *sum = calloc(3 * (ni ? ni : 1), sizeof(*sum));
        rc = sum ? CB_OK : CB_ENOMEM;
        for (size_t j = 0; !rc && j < m.n; j++) {
            const struct pv *x = &m.pv[j];
            if (x->venue < ni && x->person < e.np && is_live(&e.pp[x->person])) {
                sum[3 * x->venue] += x->ok;
                sum[3 * x->venue + 1] += x->dna;
                sum[3 * x->venue + 2] += x->seen;
            }
        }
        for (size_t i = 0; !rc && i < ni; i++) {
            json_t *it = json_array_get(items, i);
            json_object_set_new(it, "contacts", json_integer(sum[3 * i]));
            json_object_set_new(it, "dna", json_integer(sum[3 * i + 1]));
            json_object_set_new(it, "people_seen", json_integer(sum[3 * i + 2]));
        }
        free(sum);
    }
    free(vx);
    free(m.keys);
    free(m.at);
    free(m.pv);
    eng_free(&e);
    if (rc) {
        json_decref(items);
        return rc;
    }
    json_t *o = json_object();
    json_object_set_new(o, "period", json_pack("{s:s, s:s}", "from", p.from, "to", p.to));
    json_object_set_new(o, "team", p.team[0] ? json_string(p.team) : json_null());
    json_object_set_new(o, "items", items);
    *out = o;
    audit_report(c, a, "report.venues", q);
    return CB_OK;
}

/* ================================================================ records */

/* A count of the figures object, by its dotted path. */
enum fkind {
    F_SEEN,
    F_CONTACTS_TOTAL,
    F_CONTACTS, /* a: type */
    F_ATT,      /* a: status */
    F_REF_TOTAL,
    F_REF_DEST,     /* a: destination */
    F_REF_DEST_ST,  /* a: destination, b: status */
    F_REF_STATUS,   /* b: status */
    F_PAIRS,        /* a: instrument */
    F_PAIR_CLASS,   /* a: instrument, b: pclass bits that must all be set */
    F_PAIR_NONE,    /* a: instrument: neither up nor down */
    F_QUIT,         /* b: person flag */
    F_GOALS_AGREED, /* goals agreed (any status) */
    F_GOAL_STATUS,  /* a: goal status */
    F_GOAL_PEOPLE
};

struct figure {
    enum fkind kind;
    int a;
    unsigned b;
};

static int split_path(const char *s, char parts[4][48])
{
    int n = 0;
    const char *p = s;
    while (n < 4) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len == 0 || len >= 48) {
            return -1;
        }
        memcpy(parts[n], p, len);
        parts[n][len] = '\0';
        n++;
        if (!dot) {
            return n;
        }
        p = dot + 1;
    }
    return -1;
}

static int figure_parse(const char *s, struct figure *f)
{
    char x[4][48];
    int n = s ? split_path(s, x) : -1;
    memset(f, 0, sizeof(*f));
    if (n == 1 && strcmp(x[0], "people_seen") == 0) {
        f->kind = F_SEEN;
        return CB_OK;
    }
    if (n == 2 && strcmp(x[0], "contacts") == 0) {
        f->a = code_index(cb_encounter_types, x[1]);
        f->kind = strcmp(x[1], "total") == 0 ? F_CONTACTS_TOTAL : F_CONTACTS;
        return f->kind == F_CONTACTS_TOTAL || f->a < NTYPES ? CB_OK : CB_EINVAL;
    }
    if (n == 2 && strcmp(x[0], "group_attendance") == 0) {
        f->kind = F_ATT;
        f->a = code_index(cb_attendance_statuses, x[1]);
        return f->a < NATT ? CB_OK : CB_EINVAL;
    }
    if (strcmp(x[0], "referrals") == 0) {
        if (n == 2 && strcmp(x[1], "total") == 0) {
            f->kind = F_REF_TOTAL;
            return CB_OK;
        }
        if (n == 3 && strcmp(x[1], "by_status") == 0) {
            f->kind = F_REF_STATUS;
            f->b = (unsigned)code_index(cb_referral_statuses, x[2]);
            return f->b < NRSTAT ? CB_OK : CB_EINVAL;
        }
        if (n == 4 && strcmp(x[1], "by_destination") == 0) {
            f->a = code_index(cb_referral_destinations, x[2]);
            f->kind = strcmp(x[3], "total") == 0 ? F_REF_DEST : F_REF_DEST_ST;
            f->b = (unsigned)code_index(cb_referral_statuses, x[3]);
            return f->a < NDEST && (f->kind == F_REF_DEST || f->b < NRSTAT) ? CB_OK : CB_EINVAL;
        }
        return CB_EINVAL;
    }
    if (n == 2 && strcmp(x[0], "smoking") == 0) {
        f->kind = F_QUIT;
        f->b = strcmp(x[1], "quit_dates_set") == 0        ? P_QUIT_SET
               : strcmp(x[1], "quits_self_reported") == 0 ? P_QUIT_SELF
               : strcmp(x[1], "quits_co_validated") == 0  ? P_QUIT_CO
                                                          : 0;
        return f->b ? CB_OK : CB_EINVAL;
    }
    if (n == 2 && strcmp(x[0], "goals") == 0) {
        if (strcmp(x[1], "agreed") == 0) {
            f->kind = F_GOALS_AGREED;
            return CB_OK;
        }
        if (strcmp(x[1], "people") == 0) {
            f->kind = F_GOAL_PEOPLE;
            return CB_OK;
        }
        f->kind = F_GOAL_STATUS;
        f->a = strcmp(x[1], "open") == 0 ? 0 : code_index(cb_goal_statuses, x[1]);
        return f->a > 0 || strcmp(x[1], "open") == 0 ? (f->a < NGOALST ? CB_OK : CB_EINVAL)
                                                     : CB_EINVAL;
    }
    static const struct {
        const char *path;
        int instr;
        enum fkind kind;
        unsigned cls;
    } pairs[] = {
        {"swemwbs.pairs", I_SWEMWBS, F_PAIRS, 0},
        {"swemwbs.improved", I_SWEMWBS, F_PAIR_CLASS, PC_UP},
        {"swemwbs.declined", I_SWEMWBS, F_PAIR_CLASS, PC_DOWN},
        {"swemwbs.no_meaningful_change", I_SWEMWBS, F_PAIR_NONE, 0},
        {"ons4.pairs", I_ONS4, F_PAIRS, 0},
        {"gppaq.pairs", I_GPPAQ, F_PAIRS, 0},
        {"gppaq.moved_up", I_GPPAQ, F_PAIR_CLASS, PC_UP},
        {"gppaq.moved_down", I_GPPAQ, F_PAIR_CLASS, PC_DOWN},
        {"gppaq.no_change", I_GPPAQ, F_PAIR_NONE, 0},
        {"bmi.pairs", I_BMI, F_PAIRS, 0},
        {"weight_kg.pairs", I_BMI, F_PAIRS, 0},
        {"audit_c.pairs", I_AUDITC, F_PAIRS, 0},
        {"audit_c.positive_at_baseline", I_AUDITC, F_PAIR_CLASS, PC_POS_B},
        {"audit_c.positive_at_followup", I_AUDITC, F_PAIR_CLASS, PC_POS_F},
    };
    for (size_t i = 0; s && i < N(pairs); i++) {
        if (strcmp(s, pairs[i].path) == 0) {
            f->kind = pairs[i].kind;
            f->a = pairs[i].instr;
            f->b = pairs[i].cls;
            return CB_OK;
        }
    }
    return CB_EINVAL;
}

/* Does person pe add to person-level figure f?  (Activity counts need a live
 * person, the others a person in scope, as in the roll-up.) */
static int person_hits(const struct eng *e, const struct figure *f, const struct person *pe)
{
    long n = 0;
    int activity = f->kind == F_SEEN || f->kind == F_CONTACTS_TOTAL || f->kind == F_CONTACTS ||
                   f->kind == F_ATT;
    if (activity ? !is_live(pe) : !in_scope(e, pe)) {
        return 0;
    }
    switch (f->kind) {
    case F_SEEN:
        return (pe->flags & P_SEEN) != 0;
    case F_CONTACTS_TOTAL:
        for (int t = 0; t < NTYPES; t++) {
            n += t == T_DNA ? 0 : pe->contacts[t];
        }
        return n > 0;
    case F_CONTACTS:
        return pe->contacts[f->a] > 0;
    case F_ATT:
        return pe->att[f->a] > 0;
    case F_QUIT:
        return (pe->flags & f->b) != 0;
    case F_GOALS_AGREED:
    case F_GOAL_PEOPLE:
        for (int s = 0; s < NGOALST; s++) {
            n += pe->goals[s];
        }
        return n > 0;
    case F_GOAL_STATUS:
        return pe->goals[f->a] > 0;
    default:
        return 0;
    }
}

static int ref_hits(const struct figure *f, const struct ref_ev *r)
{
    switch (f->kind) {
    case F_REF_TOTAL:
        return 1;
    case F_REF_DEST:
        return r->dest == f->a;
    case F_REF_DEST_ST:
        return r->dest == f->a && r->status == f->b;
    case F_REF_STATUS:
        return r->status == f->b;
    default:
        return 0;
    }
}

static int pair_hits(const struct figure *f, int in, const struct pair *pr)
{
    if ((f->kind != F_PAIRS && f->kind != F_PAIR_CLASS && f->kind != F_PAIR_NONE) || f->a != in) {
        return 0;
    }
    unsigned k = pair_class(in, pr);
    return f->kind == F_PAIRS || (f->kind == F_PAIR_CLASS && (k & f->b) == f->b) ||
           (f->kind == F_PAIR_NONE && !(k & (PC_UP | PC_DOWN)));
}

/* 1 if the person is in group g of split (g < 0: every group). */
static int in_group(const struct person *pe, int split, int g)
{
    int gs[NCOHORTS + 1];
    if (g < 0) {
        return 1;
    }
    int n = person_groups(pe, split, gs);
    for (int k = 0; k < n; k++) {
        if (gs[k] == g) {
            return 1;
        }
    }
    return 0;
}

/* Mark (P_MARK) everyone in scope and in group g behind figure f. */
static void mark_figure(struct eng *e, const struct figure *f, int split, int g)
{
    for (size_t i = 0; i < e->np; i++) {
        struct person *pe = &e->pp[i];
        if (in_group(pe, split, g) && person_hits(e, f, pe)) {
            pe->flags |= P_MARK;
        }
    }
    for (size_t j = 0; j < e->nrefs; j++) {
        struct person *pe = &e->pp[e->refs[j].person];
        if (in_scope(e, pe) && in_group(pe, split, g) && ref_hits(f, &e->refs[j])) {
            pe->flags |= P_MARK;
        }
    }
    for (int in = 0; in < NINSTR; in++) {
        for (size_t j = 0; j < e->npairs[in]; j++) {
            if (e->pairs[in][j].person >= e->np) {
                continue;
            }
            struct person *pe = &e->pp[e->pairs[in][j].person];
            if (in_scope(e, pe) && in_group(pe, split, g) && pair_hits(f, in, &e->pairs[in][j])) {
                pe->flags |= P_MARK;
            }
        }
    }
}

/* A person of a records answer; given and family are allocated (a name of 100
 * characters may take up to 400 bytes of UTF-8) and freed by rec_free. */
struct rec_item {
    char *given, *family, dob[CB_DATE_STRLEN], team[80];
    const struct person *pe;
};

static void rec_free(struct rec_item *items, size_t n)
{
    for (size_t i = 0; items && i < n; i++) {
        free(items[i].given);
        free(items[i].family);
    }
    free(items);
}

static int rec_cmp(const void *x, const void *y)
{
    const struct rec_item *a = x, *b = y;
    int r = strcasecmp(a->family, b->family);
    if (!r) {
        r = strcasecmp(a->given, b->given);
    }
    return r ? r : strcmp(a->pe->id, b->pe->id);
}

int cb_report_records(struct cb_conn *c, const struct cb_actor *a, const struct cb_report_query *q,
                      json_t **out, struct cb_field_error *fe)
{
    struct rp p;
    struct figure fig;
    *out = NULL;
    int rc = resolve_all(c, a, ACC_MANAGER, q, &p, fe);
    if (rc) {
        return rc;
    }
    if (!q->figure) {
        return cb_field_fail(fe, "figure", "is required (the dotted path of a count)");
    }
    if (figure_parse(q->figure, &fig) != CB_OK) {
        return cb_field_fail(fe, "figure", "is not a count of the outcomes report");
    }
    long limit = 0;
    if ((rc = int_param("limit", q->limit, 1, CB_REPORT_RECORDS_MAX, 1000, &limit, fe)) != CB_OK) {
        return rc;
    }
    struct eng e;
    memset(&e, 0, sizeof(e));
    int g = -1;
    if (q->group && p.split == SP_NONE) {
        return cb_field_fail(fe, "group", "needs split");
    }
    if ((rc = read_begin(c)) != CB_OK) {
        return rc;
    }
    rc = eng_run(&e, c, &p, S_ALL, p.split == SP_IMD);
    if (!rc && q->group) {
        for (int k = 0; k < split_ngroups(&e, p.split); k++) {
            if (strcmp(split_key(&e, p.split, k), q->group) == 0) {
                g = k;
            }
        }
        if (g < 0) {
            rc = cb_field_fail(fe, "group", "is not a group of split %s", split_names[p.split]);
        }
    }
    struct rec_item *items = NULL;
    size_t nitems = 0, k = 0;
    if (!rc) {
        mark_figure(&e, &fig, p.split, g);
        for (size_t i = 0; i < e.np; i++) {
            nitems += (e.pp[i].flags & P_MARK) != 0;
        }
        items = calloc(nitems ? nitems : 1, sizeof(*items));
        rc = items ? CB_OK : CB_ENOMEM;
    }
    /*
     * Few people: read each by id and sort.  Many: walk the ids in name order
     * (participants_family alone, no table row) and read the row of a marked
     * person only, until `limit` of them.  Marked people are live (P_LIVE:
     * not deleted, not merged), so the walk needs no liveness test.
     */
    int by_name = !reference_engine && nitems > records_probe_max;
    sqlite3_stmt *st = NULL, *walk = NULL;
    if (!rc) {
        rc = cb_conn_prepare(c,
                             "SELECT id, given_name, family_name, date_of_birth, team "
                             "FROM participants WHERE id = ?1",
                             &st);
    }
    if (!rc && by_name) {
        rc = cb_conn_prepare(c,
                             "SELECT id FROM participants INDEXED BY participants_family ORDER "
                             "BY lower(family_name), lower(given_name), id",
                             &walk);
    }
    for (size_t i = 0; !rc && (by_name ? k < (size_t)limit : i < e.np); i++) {
        int64_t at = (int64_t)i;
        if (by_name) {
            int w = sqlite3_step(walk);
            if (w != SQLITE_ROW) {
                rc = w == SQLITE_DONE ? CB_OK : cb_store_rc(w);
                break;
            }
            if ((rc = eng_person(&e, col_text(walk, 0), 0, &at)) != CB_OK || at < 0 ||
                !(e.pp[at].flags & P_MARK)) {
                continue;
            }
        } else if (!(e.pp[i].flags & P_MARK)) {
            continue;
        }
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, e.pp[at].id, -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        if (s != SQLITE_ROW) {
            rc = s == SQLITE_DONE ? CB_EINTERNAL : cb_store_rc(s);
            break;
        }
        struct rec_item *it = &items[k++];
        it->given = strdup(col_text(st, 1) ? col_text(st, 1) : "");
        it->family = strdup(col_text(st, 2) ? col_text(st, 2) : "");
        if (!it->given || !it->family) {
            rc = CB_ENOMEM;
            break;
        }
        snprintf(it->dob, sizeof(it->dob), "%s", col_text(st, 3) ? col_text(st, 3) : "");
        snprintf(it->team, sizeof(it->team), "%s", col_text(st, 4) ? col_text(st, 4) : "");
        it->pe = &e.pp[at];
    }
    cb_stmt_done(st);
    cb_stmt_done(walk);
    read_end(c);
    if (!rc) {
        if (!by_name) {
            if (k > 1) {
                qsort(items, k, sizeof(*items), rec_cmp);
            }
        }
        /* An item that cannot be built fails the answer: never a list shorter than count. */
        json_t *arr = json_array();
        rc = arr ? CB_OK : CB_ENOMEM;
        int gs[NCOHORTS + 1];
        for (size_t i = 0; !rc && i < k && i < (size_t)limit; i++) {
            json_t *grp = json_null();
            if (p.split != SP_NONE) {
                int n = person_groups(items[i].pe, p.split, gs);
                grp = g >= 0                 ? json_string(q->group)
                      : n >= 1 && gs[0] >= 0 ? json_string(split_key(&e, p.split, gs[0]))
                                             : json_null();
            }
            json_t *it =
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "id", items[i].pe->id, "given_name",
                          items[i].given, "family_name", items[i].family, "date_of_birth",
                          items[i].dob, "team", items[i].team, "group", grp);
            if (!it || json_array_append_new(arr, it) != 0) {
                rc = CB_ENOMEM;
            }
        }
        if (rc) {
            json_decref(arr);
        } else {
            json_t *o = json_object();
            describe(o, &p, q);
            json_object_set_new(o, "figure", json_string(q->figure));
            json_object_set_new(o, "group", q->group ? json_string(q->group) : json_null());
            json_object_set_new(o, "count", json_integer((json_int_t)nitems));
            json_object_set_new(o, "truncated", json_boolean(nitems > (size_t)limit));
            json_object_set_new(o, "items", arr);
            *out = o;
            audit_report(c, a, "report.records", q);
        }
    }
    rec_free(items, k);
    eng_free(&e);
    return rc;
}

/* ================================================================== reach */

/* Population of each group of split (-1 when not known). */
static int load_population(struct eng *e, int split, long *pop, int ng)
{
    for (int g = 0; g < ng; g++) {
        pop[g] = -1;
    }
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(e->c, "SELECT grp, people FROM population WHERE split = ?1", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, split_names[split], -1, SQLITE_STATIC);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        for (int g = 0; g < ng; g++) {
            const char *k = split_key(e, split, g);
            if (k && col_text(st, 0) && strcmp(k, col_text(st, 0)) == 0) {
                pop[g] = (long)sqlite3_column_int64(st, 1);
            }
        }
    }
    return step_done(st, s);
}

int cb_report_reach(struct cb_conn *c, const struct cb_actor *a, const struct cb_report_query *q,
                    json_t **out, struct cb_field_error *fe)
{
    struct rp p;
    *out = NULL;
    int rc = resolve_all(c, a, ACC_TEAM, q, &p, fe);
    if (rc) {
        return rc;
    }
    if (p.split == SP_NONE) {
        return cb_field_fail(fe, "split", "is required");
    }
    struct eng e;
    long pop[MAX_TEAMS + 16];
    if ((rc = read_begin(c)) != CB_OK) {
        return rc;
    }
    rc = eng_run(&e, c, &p, S_CONTACTS | S_ATTENDANCE, p.split == SP_IMD);
    int ng = split_ngroups(&e, p.split);
    if (!rc) {
        rc = load_population(&e, p.split, pop, ng);
    }
    read_end(c);
    struct agg total, *groups = calloc((size_t)ng + 1, sizeof(*groups));
    memset(&total, 0, sizeof(total));
    if (!rc && !groups) {
        rc = CB_ENOMEM;
    }
    if (!rc) {
        eng_rollup(&e, p.split, &total, groups);
        struct fmt f = {p.suppress, p.threshold};
        long poptotal = 0;
        int popknown = 0;
        for (int g = 0; g < ng; g++) {
            if (pop[g] >= 0) {
                poptotal += pop[g];
                popknown = 1;
            }
        }
        json_t *arr = json_array();
        for (int g = 0; g < ng; g++) {
            json_t *it = json_pack("{s:s, s:o, s:o}", "key", split_key(&e, p.split, g), "engaged",
                                   jcount(&f, groups[g].seen), "share",
                                   jshare(&f, groups[g].seen, total.seen));
            int known = pop[g] >= 0;
            json_object_set_new(it, "population", known ? json_integer(pop[g]) : json_null());
            json_object_set_new(it, "population_share",
                                known && poptotal > 0
                                    ? json_real(round_to((double)pop[g] / (double)poptotal, 10000))
                                    : json_null());
            json_t *rate = json_null(), *rep = json_null();
            int hidden = f.suppress && groups[g].seen > 0 && groups[g].seen < f.threshold;
            if (known && pop[g] > 0 && !hidden) {
                rate = json_real(round_to(1000.0 * (double)groups[g].seen / (double)pop[g], 100));
                if (total.seen > 0 && poptotal > 0 && !(f.suppress && total.seen < f.threshold)) {
                    double share = (double)groups[g].seen / (double)total.seen;
                    double pshare = (double)pop[g] / (double)poptotal;
                    rep = json_real(round_to(share / pshare, 100));
                }
            }
            json_object_set_new(it, "rate_per_1000", rate);
            json_object_set_new(it, "representation", rep);
            json_array_append_new(arr, it);
        }
        json_t *o = json_object();
        describe(o, &p, q);
        json_object_set_new(o, "engaged", jcount(&f, total.seen));
        json_object_set_new(o, "population_total", popknown ? json_integer(poptotal) : json_null());
        json_object_set_new(o, "groups", arr);
        *out = o;
        audit_report(c, a, "report.reach", q);
    }
    free(groups);
    eng_free(&e);
    return rc;
}

/* ========================================================== data quality */

#define DQ_PERSON_COLS "p.id, p.given_name, p.family_name, p.date_of_birth, p.team"
#define DQ_ACTIVE      "p.deleted = 0 AND p.merged_into IS NULL AND p.status = 'active'"

static json_t *dq_person(sqlite3_stmt *st)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "participant_id", col_json_str(st, 0),
                     "given_name", col_json_str(st, 1), "family_name", col_json_str(st, 2),
                     "date_of_birth", col_json_str(st, 3), "team", col_json_str(st, 4));
}

/*
 * One check: count_sql gives the count (or, when NULL, counted is it: a
 * count dq_people() or dq_contacts() made in C), list_sql the first items
 * (columns DQ_PERSON_COLS then extra named columns).  Both bind ?1 team
 * ('' = all), ?2/?3 the period bounds and ?4 a cut-off when used.
 */
static int dq_check(struct cb_conn *c, json_t *checks, const char *name, const char *count_sql,
                    long counted, const char *list_sql, const char *const *extra, const char *b1,
                    const char *b2, const char *b3, const char *b4)
{
    const char *binds[4] = {b1, b2, b3, b4};
    sqlite3_stmt *st;
    long count = counted;
    int rc, s;
    if (count_sql) {
        if ((rc = cb_conn_prepare(c, count_sql, &st)) != CB_OK) {
            return rc;
        }
        for (int i = 0; i < 4; i++) {
            if (binds[i] && i < sqlite3_bind_parameter_count(st)) {
                sqlite3_bind_text(st, i + 1, binds[i], -1, SQLITE_TRANSIENT);
            }
        }
        s = sqlite3_step(st);
        count = s == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : 0;
        if ((rc = step_done(st, s)) != CB_OK) {
            return rc;
        }
    }
    assert(count >= 0);
    if ((rc = cb_conn_prepare(c, list_sql, &st)) != CB_OK) {
        return rc;
    }
    for (int i = 0; i < 4; i++) {
        if (binds[i] && i < sqlite3_bind_parameter_count(st)) {
            sqlite3_bind_text(st, i + 1, binds[i], -1, SQLITE_TRANSIENT);
        }
    }
    json_t *items = json_array();
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *it = dq_person(st);
        for (int k = 0; extra && extra[k]; k++) {
            json_t *v;
            if (strcmp(extra[k], "missing") == 0) {
                const char *t = col_text(st, 5 + k);
                v = t ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;
                v = v ? v : json_null();
            } else if (sqlite3_column_type(st, 5 + k) == SQLITE_INTEGER) {
                v = json_integer(sqlite3_column_int64(st, 5 + k));
            } else {
                v = col_json_str(st, 5 + k);
            }
            json_object_set_new(it, extra[k], v);
        }
        json_array_append_new(items, it);
    }
    rc = step_done(st, s);
    if (rc) {
        json_decref(items);
        return rc;
    }
    json_object_set_new(checks, name,
                        json_pack("{s:I, s:b, s:o}", "count", (json_int_t)count, "truncated",
                                  count > (long)json_array_size(items), "items", items));
    return CB_OK;
}

/* A baseline that is the latest measure of its instrument for a person. */
struct lone_baseline {
    uint32_t person;
    int due; /* a baseline on or before the cut-off */
    char instrument[24];
    char taken_at[CB_TIME_STRLEN];
    int64_t row;
};

static int lone_cmp(const void *x, const void *y)
{
    const struct lone_baseline *a = x, *b = y;
    int r = strcmp(a->taken_at, b->taken_at);
    return r ? r : (a->row > b->row) - (a->row < b->row);
}

/*
 * Set checks.baselines_without_review from list[0..k): the lone baselines of
 * active people in e, oldest first (total is the count); the first
 * CB_REPORT_DQ_ITEMS_MAX are listed with their person's name, read on c.
 */
static int dq_baselines_out(struct cb_conn *c, const struct eng *e,
                            const struct lone_baseline *list, size_t k, size_t total,
                            json_t *checks)
{
    assert(k <= total);
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c,
                             "SELECT m.id, p.given_name, p.family_name, p.date_of_birth, p.team "
                             "FROM measures m JOIN participants p ON p.id = m.participant_id "
                             "WHERE m.rowid = ?1",
                             &st);
    if (rc) {
        return rc;
    }
    json_t *items = json_array();
    for (size_t j = 0; !rc && j < k && j < CB_REPORT_DQ_ITEMS_MAX; j++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, list[j].row);
        int s = sqlite3_step(st);
        if (s != SQLITE_ROW) {
            rc = s == SQLITE_DONE ? CB_EINTERNAL : cb_store_rc(s);
            break;
        }
        json_array_append_new(
            items,
            json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:s, s:s}", "participant_id",
                      e->pp[list[j].person].id, "given_name", col_json_str(st, 1), "family_name",
                      col_json_str(st, 2), "date_of_birth", col_json_str(st, 3), "team",
                      col_json_str(st, 4), "measure_id", col_json_str(st, 0), "instrument",
                      list[j].instrument, "baseline_at", list[j].taken_at));
    }
    cb_stmt_done(st);
    if (rc) {
        json_decref(items);
        return rc;
    }
    json_object_set_new(checks, "baselines_without_review",
                        json_pack("{s:I, s:b, s:o}", "count", (json_int_t)total, "truncated",
                                  total > json_array_size(items), "items", items));
    return CB_OK;
}

/*
 * baselines_without_review from the measures themselves (a team's report,
 * and the reference the tests compare dq_baselines_latest() with): per
 * active person and instrument, the latest live measure is a baseline taken
 * on or before cutoff.  One ordered pass over measures_report finds the
 * latest measure of each (instrument, person); the people are then checked
 * with the report engine's attribute scan; the oldest
 * CB_REPORT_DQ_ITEMS_MAX are listed, oldest first.  Own engine; c is in the
 * caller's read transaction.
 */
static int dq_baselines_scan(struct cb_conn *c, const struct rp *p, const char *cutoff,
                             json_t *checks)
{
    struct eng e;
    memset(&e, 0, sizeof(e));
    e.c = c;
    e.p = p;
    civil_from_days(cb_days_from_civil(2000, 1, 1), &e.age_y, &e.age_m, &e.age_d);
    int rc = eng_teams(&e);
    sqlite3_stmt *st = NULL;
    if (!rc) {
        rc = cb_conn_prepare(c,
                             p->team[0] ? "SELECT instrument, participant_id, taken_at, timepoint, "
                                          "rowid FROM measures WHERE deleted = 0 AND team = ?1 "
                                          "ORDER BY instrument, participant_id, taken_at"
                                        : "SELECT instrument, participant_id, taken_at, timepoint, "
                                          "rowid FROM measures WHERE deleted = 0 "
                                          "ORDER BY instrument, participant_id, taken_at",
                             &st);
    }
    struct lone_baseline *list = NULL, last;
    size_t n = 0, cap = 0;
    int have = 0, s = SQLITE_DONE;
    char cur[CB_UUID_STRLEN] = "";
    memset(&last, 0, sizeof(last));
    if (!rc) {
        bind_opt(st, 1, p->team);
    }
    while (!rc) {
        s = sqlite3_step(st);
        const char *in = s == SQLITE_ROW ? col_text(st, 0) : NULL;
        const char *pid = s == SQLITE_ROW ? col_text(st, 1) : NULL;
        if (have && (!pid || strcmp(pid, cur) != 0 || strcmp(in, last.instrument) != 0)) {
            /* the previous (instrument, person) ended with `last` */
            if (last.due) {
                int64_t i;
                rc = eng_person(&e, cur, 1, &i);
                if (!rc && i >= 0 && !(rc = grow((void **)&list, &cap, n, sizeof(*list)))) {
                    list[n] = last;
                    list[n++].person = (uint32_t)i;
                }
            }
            have = 0;
        }
        if (!pid || rc) {
            break;
        }
        const char *at = col_text(st, 2), *tp = col_text(st, 3);
        if (!in || !at || !tp || strlen(pid) >= sizeof(cur)) {
            continue;
        }
        /* copy only what changed: the person and instrument once per group, the time
         * only of a due baseline (only those are listed) */
        if (strcmp(cur, pid) != 0) {
            memcpy(cur, pid, strlen(pid) + 1);
        }
        if (strcmp(last.instrument, in) != 0) {
            snprintf(last.instrument, sizeof(last.instrument), "%s", in);
        }
        last.row = sqlite3_column_int64(st, 4);
        last.due = strcmp(tp, "baseline") == 0 && strcmp(at, cutoff) <= 0;
        if (last.due) {
            snprintf(last.taken_at, sizeof(last.taken_at), "%s", at);
        }
        have = 1;
    }
    int rc2 = st ? step_done(st, s) : CB_OK;
    rc = rc ? rc : rc2;
    if (!rc) {
        rc = eng_attrs(&e);
    }
    size_t k = 0;
    for (size_t j = 0; !rc && j < n; j++) {
        const struct person *pe = &e.pp[list[j].person];
        if (is_live(pe) && (pe->flags & P_ACTIVE)) {
            list[k++] = list[j];
        }
    }
    if (!rc && k > 1) {
        qsort(list, k, sizeof(*list), lone_cmp);
    }
    if (!rc) {
        rc = dq_baselines_out(c, &e, list, k, k, checks);
    }
    free(list);
    eng_free(&e);
    return rc;
}

/*
 * baselines_without_review for every team from measure_latest (migration
 * 14): the lone baselines on or before cutoff come in (taken_at, row) order
 * from its partial index, the order lone_cmp() sorts the scan's; a person
 * counts when dq_people() marked them live and active in e.  Same figures
 * as dq_baselines_scan() (test_reports_pairs compares them).
 */
static int dq_baselines_latest(struct cb_conn *c, const struct eng *e, const char *cutoff,
                               json_t *checks)
{
    assert(!e->p->team[0]);
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c,
                             "SELECT row, participant_id, instrument, taken_at FROM "
                             "measure_latest INDEXED BY measure_latest_baselines "
                             "WHERE baseline = 1 AND taken_at <= ?1 ORDER BY taken_at, row",
                             &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, cutoff, -1, SQLITE_TRANSIENT);
    struct lone_baseline *list = NULL;
    size_t total = 0, k = 0, cap = 0;
    int s;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t i;
        eng_find(e, col_text(st, 1), &i);
        if (i < 0 || !is_live(&e->pp[i]) || !(e->pp[i].flags & P_ACTIVE)) {
            continue;
        }
        total++;
        if (k < CB_REPORT_DQ_ITEMS_MAX && !(rc = grow((void **)&list, &cap, k, sizeof(*list)))) {
            struct lone_baseline *lb = &list[k++];
            memset(lb, 0, sizeof(*lb));
            lb->person = (uint32_t)i;
            lb->due = 1;
            lb->row = sqlite3_column_int64(st, 0);
            snprintf(lb->instrument, sizeof(lb->instrument), "%s", col_text(st, 2));
            snprintf(lb->taken_at, sizeof(lb->taken_at), "%s", col_text(st, 3));
        }
    }
    int rc2 = rc ? (cb_stmt_done(st), CB_OK) : step_done(st, s);
    rc = rc ? rc : rc2;
    if (!rc) {
        rc = dq_baselines_out(c, e, list, k, total, checks);
    }
    free(list);
    return rc;
}

/* At most this many people with a postcode the IMD lookup lacks are listed
 * from dq_people()'s ids; more (a lookup that covers few postcodes) and the
 * list is read in name order by SQL, which then meets 1,000 of them early. */
#define DQ_IMD_IDS_MAX 20000

/* What dq_people() finds: people whose postcode the IMD lookup lacks. */
struct dq_people {
    long not_in_imd;             /* in the report's team */
    char (*ids)[CB_UUID_STRLEN]; /* their ids while not_in_imd <= DQ_IMD_IDS_MAX */
    size_t nids, cap;
};

/* Is postcode pc in the IMD lookup m (loaded, or probed on c)?  *has: 1/0. */
static int dq_imd_has(struct cb_conn *c, struct imdmap *m, const char *pc, int *has)
{
    uint64_t k = pack_postcode(pc);
    if (m->n && k) {
        *has = m->keys[imd_slot(m, k)] != 0;
        return CB_OK;
    }
    sqlite3_stmt *st; /* not loaded, or a postcode the map cannot hold: ask SQLite */
    int rc = cb_conn_prepare(c, "SELECT 1 FROM imd WHERE postcode = ?1", &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, pc, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    *has = s == SQLITE_ROW;
    return step_done(st, s);
}

/*
 * Data quality's people pass, on e->c in the caller's read transaction: every
 * participant not deleted nor merged whose status is active (any team) is
 * registered in e with P_ACTIVE, and P_LIVE too when their team is one of
 * e->teams (eng_teams(): live, and the report's team if any).  Of those in
 * the report's team (all when none) it counts, and keeps the ids of, people
 * with a postcode the IMD lookup lacks (only when the lookup holds any): the
 * postcode_not_in_imd check.  out->ids is the caller's to free.  Errors:
 * CB_ENOMEM, store errors.
 */
static int dq_people(struct eng *e, struct dq_people *out)
{
    memset(out, 0, sizeof(*out));
    struct imdmap m;
    int rc = imd_open(e->c, &m), any_imd = 0, s;
    sqlite3_stmt *st;
    if (!rc && !(rc = cb_conn_prepare(e->c, "SELECT EXISTS (SELECT 1 FROM imd)", &st))) {
        s = sqlite3_step(st);
        any_imd = s == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
        rc = step_done(st, s);
    }
    int64_t est = 0;
    if (!rc && !(rc = participants_estimate(e->c, &est)) && !e->slots) {
        size_t slots = 1024; /* room for everyone at once: no rehash during the pass */
        while ((int64_t)slots < est * 2 && slots < ((size_t)1 << 30)) {
            slots *= 2;
        }
        rc = eng_rehash(e, slots);
    }
    if (!rc) {
        rc = cb_conn_prepare(e->c,
                             "SELECT id, team, postcode FROM participants INDEXED BY "
                             "participants_report WHERE deleted = 0 AND merged_into IS NULL AND "
                             "status = 'active'",
                             &st);
    }
    if (rc) {
        imd_close(&m);
        return rc;
    }
    char last_team[sizeof(e->teams[0])] = "";
    int last_live = 0;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = col_text(st, 0), *team = col_text(st, 1), *pc = col_text(st, 2);
        if (!id || !team) {
            continue;
        }
        if (strcmp(team, last_team) != 0) { /* rows come in team order: one lookup per team */
            last_live = 0;
            for (size_t t = 0; t < e->nteams; t++) {
                last_live |= strcmp(e->teams[t], team) == 0;
            }
            snprintf(last_team, sizeof(last_team), "%s", team);
        }
        int64_t i;
        if ((rc = eng_person(e, id, 1, &i)) != CB_OK || i < 0) {
            continue;
        }
        e->pp[i].flags |= (uint16_t)(P_ACTIVE | (last_live ? P_LIVE : 0));
        if (!pc || !any_imd || (e->p->team[0] && strcmp(team, e->p->team) != 0)) {
            continue;
        }
        int has = 1;
        if ((rc = dq_imd_has(e->c, &m, pc, &has)) != CB_OK || has) {
            continue;
        }
        if (++out->not_in_imd <= DQ_IMD_IDS_MAX &&
            !(rc = grow((void **)&out->ids, &out->cap, out->nids, sizeof(*out->ids)))) {
            memcpy(out->ids[out->nids++], e->pp[i].id, sizeof(*out->ids));
        }
    }
    int rc2 = rc ? (cb_stmt_done(st), CB_OK) : step_done(st, s);
    imd_close(&m);
    return rc ? rc : rc2;
}

/* A person listed by postcode_not_in_imd, with SQL's name-order key. */
struct dq_named {
    char *lf, *lg, *id; /* lower(family_name), lower(given_name), id */
    json_t *item;
};

static int dq_named_cmp(const void *x, const void *y)
{
    const struct dq_named *a = x, *b = y;
    int r = strcmp(a->lf, b->lf);
    r = r ? r : strcmp(a->lg, b->lg);
    return r ? r : strcmp(a->id, b->id);
}

/*
 * Set checks.postcode_not_in_imd from dq_people()'s ids (all of them: the
 * caller checked pp->nids == pp->not_in_imd): each person's row is read on c
 * and the first CB_REPORT_DQ_ITEMS_MAX in the list query's order
 * (lower(family_name), lower(given_name), id; lower() as SQLite's, binary
 * comparison) are listed.
 */
static int dq_imd_list(struct cb_conn *c, const struct dq_people *pp, json_t *checks)
{
    assert(pp->nids == (size_t)pp->not_in_imd);
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c,
                             "SELECT " DQ_PERSON_COLS ", p.postcode, lower(p.family_name), "
                             "lower(p.given_name) FROM participants p WHERE p.id = ?1",
                             &st);
    if (rc) {
        return rc;
    }
    struct dq_named *v = pp->nids ? calloc(pp->nids, sizeof(*v)) : NULL;
    size_t n = 0;
    if (pp->nids && !v) {
        rc = CB_ENOMEM;
    }
    for (size_t j = 0; !rc && j < pp->nids; j++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, pp->ids[j], -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        if (s != SQLITE_ROW) {
            rc = s == SQLITE_DONE ? CB_EINTERNAL : cb_store_rc(s);
            break;
        }
        const char *lf = col_text(st, 6), *lg = col_text(st, 7);
        v[n].lf = strdup(lf ? lf : "");
        v[n].lg = strdup(lg ? lg : "");
        v[n].id = strdup(pp->ids[j]);
        v[n].item = dq_person(st);
        json_object_set_new(v[n].item, "postcode", col_json_str(st, 5));
        if (!v[n].lf || !v[n].lg || !v[n].id || !v[n].item) {
            rc = CB_ENOMEM;
        }
        n++;
    }
    cb_stmt_done(st);
    if (!rc && n > 1) {
        qsort(v, n, sizeof(*v), dq_named_cmp);
    }
    json_t *items = json_array();
    for (size_t j = 0; j < n; j++) {
        if (!rc && j < CB_REPORT_DQ_ITEMS_MAX) {
            json_array_append(items, v[j].item);
        }
        json_decref(v[j].item);
        free(v[j].lf);
        free(v[j].lg);
        free(v[j].id);
    }
    free(v);
    if (rc) {
        json_decref(items);
        return rc;
    }
    json_object_set_new(checks, "postcode_not_in_imd",
                        json_pack("{s:I, s:b, s:o}", "count", (json_int_t)pp->not_in_imd,
                                  "truncated", n > json_array_size(items), "items", items));
    return CB_OK;
}

/*
 * contacts_without_topic's count: live contacts (not did-not-attend) with no
 * topic in [lo, hi) of the report's team, whose person dq_people() marked
 * active in e.  From the partial index encounters_no_topic.
 */
static int dq_contacts(const struct eng *e, const char *lo, const char *hi, long *count)
{
    sqlite3_stmt *st;
    *count = 0;
    int rc = cb_conn_prepare(e->c,
                             "SELECT participant_id FROM encounters INDEXED BY encounters_no_topic "
                             "WHERE deleted = 0 AND type <> 'dna' AND (topics IS NULL OR "
                             "topics = '[]') AND occurred_at >= ?2 AND occurred_at < ?3 AND "
                             "(?1 = '' OR team = ?1)",
                             &st);
    if (rc) {
        return rc;
    }
    sqlite3_bind_text(st, 1, e->p->team, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, lo, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, hi, -1, SQLITE_TRANSIENT);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t i;
        eng_find(e, col_text(st, 0), &i);
        *count += i >= 0 && (e->pp[i].flags & P_ACTIVE);
    }
    return step_done(st, s);
}

#define LIM " LIMIT 1000"

int cb_report_data_quality(struct cb_conn *c, const struct cb_actor *a,
                           const struct cb_report_query *q, json_t **out, struct cb_field_error *fe)
{
    struct rp p;
    memset(&p, 0, sizeof(p));
    p.cohort = -1;
    p.split = SP_NONE;
    *out = NULL;
    int rc = resolve_team(c, a, ACC_TEAM, q->team, &p, fe);
    if (!rc) {
        rc = resolve_period(q, 0, &p, fe);
    }
    long weeks = 12;
    if (!rc) {
        char v[32];
        long def = 12;
        if (cb_setting_get(c, "review_weeks", v, sizeof(v)) == CB_OK) {
            int_param("review_weeks", v, 1, 104, 12, &def, NULL);
        }
        rc = int_param("weeks", q->weeks, 1, 104, def, &weeks, fe);
    }
    if (rc) {
        return rc;
    }
    /* period bounds: the whole history when no period is given */
    const char *lo = p.has_period ? p.from_ts : "0000", *hi = p.has_period ? p.to_ts : "9999";
    char today[CB_DATE_STRLEN], cutoff[CB_TIME_STRLEN];
    cb_today(today);
    cb_time_format(cb_now_ms() - weeks * 7 * DAY_MS, cutoff);
    json_t *checks = json_object();
    if ((rc = read_begin(c)) != CB_OK) {
        json_decref(checks);
        return rc;
    }
    /* one pass over the people: three participant counts and who is active */
    struct eng e;
    memset(&e, 0, sizeof(e));
    e.c = c;
    e.p = &p;
    struct dq_people pp;
    long no_topic = 0;
    memset(&pp, 0, sizeof(pp));
    rc = eng_teams(&e);
    if (!rc) {
        rc = dq_people(&e, &pp);
    }
    if (!rc) {
        rc = dq_contacts(&e, lo, hi, &no_topic);
    }
    static const char *const no_extra[] = {NULL};
    static const char *const pc_extra[] = {"postcode", NULL};
    static const char *const m_extra[] = {"measure_id", "instrument", "taken_at", "missing", NULL};
    static const char *const e_extra[] = {"encounter_id", "occurred_at", "type", NULL};
    struct {
        const char *name, *count_sql;
        long counted;
        const char *list_sql;
        const char *const *extra;
    } dq[] = {
        {"missing_nhs_number",
         "SELECT count(*) FROM participants p WHERE p.nhs_number IS NULL AND " DQ_ACTIVE
         " AND (?1 = '' OR p.team = ?1)",
         0,
         "SELECT " DQ_PERSON_COLS " FROM participants p WHERE p.nhs_number IS NULL AND " DQ_ACTIVE
         " AND (?1 = '' OR p.team = ?1) ORDER BY lower(p.family_name), lower(p.given_name), "
         "p.id" LIM,
         no_extra},
        {"missing_ethnic_group",
         "SELECT count(*) FROM participants p WHERE p.ethnic_group IS NULL AND " DQ_ACTIVE
         " AND (?1 = '' OR p.team = ?1)",
         0,
         "SELECT " DQ_PERSON_COLS " FROM participants p WHERE p.ethnic_group IS NULL AND " DQ_ACTIVE
         " AND (?1 = '' OR p.team = ?1) ORDER BY lower(p.family_name), lower(p.given_name), "
         "p.id" LIM,
         no_extra},
        {"missing_postcode",
         "SELECT count(*) FROM participants p WHERE p.postcode IS NULL AND " DQ_ACTIVE
         " AND (?1 = '' OR p.team = ?1)",
         0,
         "SELECT " DQ_PERSON_COLS " FROM participants p WHERE p.postcode IS NULL AND " DQ_ACTIVE
         " AND (?1 = '' OR p.team = ?1) ORDER BY lower(p.family_name), lower(p.given_name), "
         "p.id" LIM,
         no_extra},
        {"postcode_not_in_imd", NULL, pp.not_in_imd,
         "SELECT " DQ_PERSON_COLS ", p.postcode FROM participants p WHERE p.postcode IS NOT NULL "
         "AND " DQ_ACTIVE " AND (?1 = '' OR p.team = ?1) AND EXISTS (SELECT 1 FROM imd) AND NOT "
         "EXISTS (SELECT 1 FROM imd i WHERE i.postcode = p.postcode) ORDER BY "
         "lower(p.family_name), lower(p.given_name), p.id" LIM,
         pc_extra},
        {"incomplete_measures",
         "SELECT count(*) FROM measures m JOIN participants p ON p.id = m.participant_id WHERE "
         "m.deleted = 0 AND m.complete = 0 AND m.taken_at >= ?2 AND m.taken_at < ?3 AND "
         "(?1 = '' OR m.team = ?1) AND " DQ_ACTIVE,
         0,
         "SELECT " DQ_PERSON_COLS ", m.id, m.instrument, m.taken_at, "
         "json_extract(m.result, '$.missing') FROM measures m JOIN participants p ON p.id = "
         "m.participant_id WHERE m.deleted = 0 AND m.complete = 0 AND m.taken_at >= ?2 AND "
         "m.taken_at < ?3 AND (?1 = '' OR m.team = ?1) AND " DQ_ACTIVE
         " ORDER BY m.taken_at, m.id" LIM,
         m_extra},
        {"contacts_without_topic", NULL, no_topic,
         "SELECT " DQ_PERSON_COLS ", e.id, e.occurred_at, e.type FROM encounters e JOIN "
         "participants p ON p.id = e.participant_id WHERE e.deleted = 0 AND e.type <> 'dna' AND "
         "(e.topics IS NULL OR e.topics = '[]') AND e.occurred_at >= ?2 AND e.occurred_at < ?3 "
         "AND (?1 = '' OR e.team = ?1) AND " DQ_ACTIVE " ORDER BY e.occurred_at, e.id" LIM,
         e_extra},
    };
    for (size_t i = 0; !rc && i < N(dq); i++) {
        if (!reference_engine && !strcmp(dq[i].name, "postcode_not_in_imd") &&
            pp.nids == (size_t)pp.not_in_imd) {
            rc = dq_imd_list(c, &pp, checks); /* a few: their rows by id, sorted here */
            continue;
        }
        rc = dq_check(c, checks, dq[i].name, dq[i].count_sql, dq[i].counted, dq[i].list_sql,
                      dq[i].extra, p.team, lo, hi, cutoff);
    }
    if (!rc) {
        /* a team's report reads its own measures (the latest of the team's rows) */
        rc = p.team[0] || reference_engine ? dq_baselines_scan(c, &p, cutoff, checks)
                                           : dq_baselines_latest(c, &e, cutoff, checks);
    }
    free(pp.ids);
    eng_free(&e);
    read_end(c);
    if (rc) {
        json_decref(checks);
        return rc;
    }
    json_t *o = json_object();
    json_object_set_new(o, "as_of", json_string(today));
    json_object_set_new(o, "team", p.team[0] ? json_string(p.team) : json_null());
    json_object_set_new(o, "weeks", json_integer(weeks));
    json_object_set_new(o, "period",
                        p.has_period ? json_pack("{s:s, s:s}", "from", p.from, "to", p.to)
                                     : json_null());
    json_object_set_new(o, "checks", checks);
    *out = o;
    audit_report(c, a, "report.data_quality", q);
    return CB_OK;
}

/* ===================================================================== CSV */

int cb_csv_field(struct cb_buf *b, const char *s, int guard)
{
    if (!s) {
        return CB_OK;
    }
    int quote = strpbrk(s, ",\"\r\n") != NULL;
    int prefix = guard && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' ||
                           s[0] == '\t' || s[0] == '\r');
    int rc = quote ? cb_buf_add(b, "\"", 1) : CB_OK;
    if (!rc && prefix) {
        rc = cb_buf_add(b, "'", 1);
    }
    for (const char *p = s; !rc && *p;) {
        const char *q = quote ? strchr(p, '"') : NULL;
        size_t n = q ? (size_t)(q - p) + 1 : strlen(p);
        rc = cb_buf_add(b, p, n);
        if (!rc && q) {
            rc = cb_buf_add(b, "\"", 1); /* a quote is doubled */
        }
        p += n;
    }
    if (!rc && quote) {
        rc = cb_buf_add(b, "\"", 1);
    }
    return rc;
}

/* ========================================================= quarterly CSV */

/* "YYYYQn" (calendar quarters) into first and last day numbers. */
static int quarter_parse(const char *s, int64_t *first, int64_t *last, struct cb_field_error *fe)
{
    int ok = s && strlen(s) == 6 && (s[4] == 'Q' || s[4] == 'q') && s[5] >= '1' && s[5] <= '4';
    for (int i = 0; ok && i < 4; i++) {
        ok = s[i] >= '0' && s[i] <= '9';
    }
    int y = ok ? (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') : 0;
    if (!ok || y < 1900 || y > 2199) {
        return cb_field_fail(fe, "quarter", "must be YYYYQn, e.g. 2026Q3 (July to September)");
    }
    int q = s[5] - '0';
    *first = cb_days_from_civil(y, 3 * q - 2, 1);
    *last = (q == 4 ? cb_days_from_civil(y + 1, 1, 1) : cb_days_from_civil(y, 3 * q + 1, 1)) - 1;
    return CB_OK;
}

static int csv_count(struct cb_buf *b, long n, int threshold)
{
    if (n > 0 && n < threshold) {
        return cb_buf_addf(b, "<%d", threshold);
    }
    return cb_buf_addf(b, "%ld", n);
}

int cb_report_quarterly_csv(struct cb_conn *c, const struct cb_actor *a, const char *quarter,
                            const char *team, struct cb_buf *out, struct cb_field_error *fe)
{
    struct rp p;
    memset(&p, 0, sizeof(p));
    int rc = resolve_team(c, a, ACC_MANAGER, team, &p, fe);
    if (!rc) {
        rc = quarter_parse(quarter, &p.from_days, &p.to_days, fe);
    }
    if (!rc) {
        rc = cb_report_threshold(c, &p.threshold);
    }
    if (rc) {
        return rc;
    }
    days_date(p.from_days, p.from);
    days_date(p.to_days, p.to);
    london_midnight(p.from_days, p.from_ts);
    london_midnight(p.to_days + 1, p.to_ts);
    p.has_period = 1;
    p.cohort = -1;
    p.split = SP_NONE;
    struct eng e;
    if ((rc = read_begin(c)) != CB_OK) {
        return rc;
    }
    rc = eng_run(&e, c, &p, S_CONTACTS | S_ATTENDANCE | S_GOALS | S_ALL_ATTRS, 0);
    read_end(c);
    static const int breakdowns[] = {SP_NONE,         SP_COHORT,     SP_REFERRAL_SOURCE,
                                     SP_MAIN_BARRIER, SP_EMPLOYMENT, SP_AGE_RETURN};
    char qname[8];
    snprintf(qname, sizeof(qname), "%.4s%c%c", quarter, 'Q', quarter[5]);
    const char *scope = p.team[0] ? p.team : "all";
    if (!rc) {
        rc = cb_buf_adds(out, "quarter,period_start,period_end,team,breakdown,group,"
                              "participants_engaged,action_plans_agreed\r\n");
    }
    for (size_t i = 0; !rc && i < N(breakdowns); i++) {
        int sp = breakdowns[i];
        int ng = sp == SP_NONE ? 1 : split_ngroups(&e, sp);
        struct agg total, *groups = calloc((size_t)ng, sizeof(*groups));
        if (!groups) {
            rc = CB_ENOMEM;
            break;
        }
        memset(&total, 0, sizeof(total));
        eng_rollup(&e, sp, &total, groups);
        for (int g = 0; !rc && g < ng; g++) {
            const struct agg *x = sp == SP_NONE ? &total : &groups[g];
            rc = cb_buf_addf(out, "%s,%s,%s,", qname, p.from, p.to);
            /* every text cell guarded: a team id may start with '-' */
            if (!rc) {
                rc = cb_csv_field(out, scope, 1);
            }
            if (!rc) {
                rc = cb_buf_add(out, ",", 1);
            }
            if (!rc) {
                rc = cb_csv_field(out, sp == SP_NONE ? "total" : split_names[sp], 1);
            }
            if (!rc) {
                rc = cb_buf_add(out, ",", 1);
            }
            if (!rc) {
                rc = cb_csv_field(out, sp == SP_NONE ? "all" : split_key(&e, sp, g), 1);
            }
            if (!rc) {
                rc = cb_buf_add(out, ",", 1);
            }
            if (!rc) {
                rc = csv_count(out, x->seen, p.threshold);
            }
            if (!rc) {
                rc = cb_buf_add(out, ",", 1);
            }
            if (!rc) {
                rc = csv_count(out, x->goal_people, p.threshold);
            }
            if (!rc) {
                rc = cb_buf_add(out, "\r\n", 2);
            }
        }
        free(groups);
    }
    if (!rc) {
        struct cb_report_query q;
        memset(&q, 0, sizeof(q));
        q.quarter = quarter;
        q.team = team && team[0] ? team : NULL;
        audit_report(c, a, "report.quarterly", &q);
    }
    eng_free(&e);
    return rc;
}

/* ================================================================ extract */

/* Reference tables written beside the record tables (fixed columns). */
static const struct {
    const char *file, *sql;
} extra_tables[] = {
    {"imd", "SELECT postcode, decile FROM imd ORDER BY postcode"},
    {"population", "SELECT split, grp AS \"group\", people AS population FROM population "
                   "ORDER BY split, grp"},
};

/* The record tables in the extract, in manifest order. */
static const struct cb_table *const extract_tables[] = {
    &cb_table_teams,        &cb_table_venues,     &cb_table_users,      &cb_table_participants,
    &cb_table_consents,     &cb_table_encounters, &cb_table_measures,   &cb_table_goals,
    &cb_table_goal_reviews, &cb_table_referrals,  &cb_table_programmes, &cb_table_group_sessions,
    &cb_table_enrolments,   &cb_table_attendance, &cb_table_checkins,
};

/* 1 if a field is never written to an extract. */
static int secret_field(const struct cb_table *t, const struct cb_field *f)
{
    return t == &cb_table_users && strcmp(f->name, "password_hash") == 0;
}

/*
 * Append the CSV row of st's current row to b.  Every text cell is guarded
 * against formula injection (not only free text: an e-mail address, a phone
 * number, a code or an admin-chosen team id may start with = + - @ too);
 * numbers stay numbers.  System ids and timestamps never start with one of
 * those characters, so the guard leaves them as they are.
 */
static int csv_row(struct cb_buf *b, sqlite3_stmt *st)
{
    int n = sqlite3_column_count(st), rc = CB_OK;
    for (int i = 0; !rc && i < n; i++) {
        if (i) {
            rc = cb_buf_add(b, ",", 1);
        }
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_NULL:
            break;
        case SQLITE_INTEGER:
            rc = rc ? rc : cb_buf_addf(b, "%lld", (long long)sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT:
            rc = rc ? rc : cb_buf_addf(b, "%.15g", sqlite3_column_double(st, i));
            break;
        default:
            rc = rc ? rc : cb_csv_field(b, col_text(st, i), 1);
            break;
        }
    }
    return rc ? rc : cb_buf_add(b, "\r\n", 2);
}

int cb_export_open_tmp(const char *tmp, int *fd)
{
    if (unlink(tmp) != 0 && errno != ENOENT) {
        *fd = -1;
        return CB_EIO;
    }
    *fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    return *fd >= 0 ? CB_OK : CB_EIO;
}

/* Write one query's rows (with a header of its column names) to dir/name.csv. */
static int extract_file(struct cb_conn *c, const char *dir, const char *name, const char *sql,
                        long *rows, struct cb_field_error *fe)
{
    char path[4096], tmp[4200];
    if (snprintf(path, sizeof(path), "%s/%s.csv", dir, name) >= (int)sizeof(path) ||
        snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        cb_field_fail(fe, "out", "the output path is too long");
        return CB_EIO;
    }
    sqlite3_stmt *st;
    int rc = cb_conn_prepare(c, sql, &st);
    if (rc) {
        return rc;
    }
    int fd;
    FILE *f = cb_export_open_tmp(tmp, &fd) == CB_OK ? fdopen(fd, "w") : NULL;
    if (!f) {
        cb_field_fail(fe, "out", "cannot create %s: %s", tmp, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        cb_stmt_done(st);
        return CB_EIO;
    }
    struct cb_buf b;
    cb_buf_init(&b, 8 * 1024 * 1024);
    for (int i = 0; !rc && i < sqlite3_column_count(st); i++) {
        rc = (i ? cb_buf_add(&b, ",", 1) : CB_OK);
        rc = rc ? rc : cb_csv_field(&b, sqlite3_column_name(st, i), 0);
    }
    rc = rc ? rc : cb_buf_add(&b, "\r\n", 2);
    int s = SQLITE_DONE;
    *rows = 0;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        rc = csv_row(&b, st);
        (*rows)++;
        if (!rc && b.len > 1024 * 1024) {
            rc = fwrite(b.data, 1, b.len, f) == b.len ? CB_OK : CB_EIO;
            cb_buf_reset(&b);
        }
    }
    int rc2 = step_done(st, s);
    rc = rc ? rc : rc2;
    if (!rc && b.len && fwrite(b.data, 1, b.len, f) != b.len) {
        rc = CB_EIO;
    }
    cb_buf_free(&b);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        rc = rc ? rc : CB_EIO;
    }
    if (fclose(f) != 0) {
        rc = rc ? rc : CB_EIO;
    }
    if (!rc && rename(tmp, path) != 0) {
        rc = CB_EIO;
    }
    if (rc) {
        if (rc == CB_EIO && !fe->message[0]) {
            cb_field_fail(fe, "out", "cannot write %s: %s", path, strerror(errno));
        }
        unlink(tmp);
    }
    return rc;
}

/* Write the manifest to dir/manifest.csv through manifest.csv.tmp, renamed into place. */
static int write_manifest(const char *dir, const struct cb_buf *manifest, struct cb_field_error *fe)
{
    char path[4096], tmp[4200];
    if (snprintf(path, sizeof(path), "%s/manifest.csv", dir) >= (int)sizeof(path) ||
        snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        cb_field_fail(fe, "out", "the output path is too long");
        return CB_EIO;
    }
    int fd;
    if (cb_export_open_tmp(tmp, &fd) != CB_OK) {
        cb_field_fail(fe, "out", "cannot create %s: %s", tmp, strerror(errno));
        return CB_EIO;
    }
    size_t done = 0;
    while (done < manifest->len) {
        ssize_t w = write(fd, manifest->data + done, manifest->len - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            break;
        }
        done += (size_t)w;
    }
    int ok = done == manifest->len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        cb_field_fail(fe, "out", "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return CB_EIO;
    }
    return CB_OK;
}

int cb_report_extract(struct cb_conn *c, const char *dir, size_t *files, struct cb_field_error *fe)
{
    *files = 0;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        cb_field_fail(fe, "out", "cannot create %s: %s", dir, strerror(errno));
        return CB_EIO;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        cb_field_fail(fe, "out", "%s is not a directory", dir);
        return CB_EIO;
    }
    struct cb_buf manifest;
    cb_buf_init(&manifest, 64 * 1024);
    char now[CB_TIME_STRLEN];
    cb_time_format(cb_now_ms(), now);
    int rc = cb_buf_adds(&manifest, "file,rows,extracted_at,schema_version\r\n");
    if (!rc) {
        rc = read_begin(c);
    }
    for (size_t i = 0; !rc && i < N(extract_tables) + N(extra_tables); i++) {
        struct cb_buf sql;
        const char *name;
        cb_buf_init(&sql, SQL_MAX);
        if (i < N(extract_tables)) {
            const struct cb_table *t = extract_tables[i];
            name = t->name;
            rc = cb_buf_adds(&sql, "SELECT id");
            for (size_t k = 0; !rc && k < t->nfields; k++) {
                if (secret_field(t, &t->fields[k])) {
                    continue;
                }
                rc = cb_buf_addf(&sql, ", %s", t->fields[k].name);
            }
            if (!rc) {
                rc = cb_buf_addf(&sql,
                                 ", created_at, updated_at, created_by FROM %s "
                                 "WHERE deleted = 0 ORDER BY id",
                                 t->name);
            }
        } else {
            name = extra_tables[i - N(extract_tables)].file;
            rc = cb_buf_adds(&sql, extra_tables[i - N(extract_tables)].sql);
        }
        long rows = 0;
        if (!rc) {
            rc = extract_file(c, dir, name, cb_buf_str(&sql), &rows, fe);
        }
        cb_buf_free(&sql);
        if (!rc) {
            rc = cb_buf_addf(&manifest, "%s.csv,%ld,%s,%d\r\n", name, rows, now,
                             cb_store_schema_version());
            (*files)++;
        }
    }
    read_end(c);
    if (!rc) {
        rc = write_manifest(dir, &manifest, fe);
    }
    cb_buf_free(&manifest);
    if (!rc) {
        struct cb_audit_event ev = {NULL, "report.extract", NULL, NULL, NULL, "ok", NULL, NULL};
        cb_audit(c, &ev);
    }
    return rc;
}
