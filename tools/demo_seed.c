/*
 * demo_seed.c - fill a data directory with demo accounts and realistic,
 * entirely synthetic participants and contacts (NHS test numbers 999...,
 * Bury-area postcodes).  Safe to run twice: does nothing if the demo
 * manager account already exists.
 *
 * usage: coachbox-demo-seed [--central] DATA_DIR [PARTICIPANTS]
 *   --central  make DATA_DIR a central store first, so the demo data is in its
 *              change log and enrolled field sites receive it.
 */
#include "coachbox/auth.h"
#include "coachbox/capture.h"
#include "coachbox/err.h"
#include "coachbox/kind.h"
#include "coachbox/participant.h"
#include "coachbox/rng.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEMO_PASSWORD "livewell-demo"

static const char *const given[] = {
    "Amelia", "Oliver",  "Aisha",    "Mohammed", "Grace", "Jack",    "Fatima", "Harry",   "Sophie",
    "Thomas", "Priya",   "Daniel",   "Chloe",    "Kwame", "Emily",   "Yusuf",  "Hannah",  "Liam",
    "Zara",   "George",  "Margaret", "Peter",    "Irene", "Stanley", "Joan",   "Bernard", "Ewa",
    "Tomasz", "Siobhan", "Declan",   "Mei",      "Wei",   "Abdul",   "Nadia",  "Carol",   "Derek"};
static const char *const family[] = {
    "Smith",  "Jones",   "Taylor", "Brown",  "Khan",     "Hussain",  "Williams", "Wilson",
    "Patel",  "Begum",   "Walker", "Wright", "Thompson", "Ahmed",    "Robinson", "Kowalski",
    "Murphy", "O'Brien", "Okafor", "Chen",   "Hughes",   "Edwards",  "Green",    "Hall",
    "Wood",   "Clarke",  "Ali",    "Shah",   "Lewis",    "Harrison", "Kelly",    "Nowak"};
static const char *const teams[] = {"prestwich", "whitefield", "radcliffe", "bury-town",
                                    "ramsbottom-tottington"};
static const char *const postcodes[] = {"M25 1AX", "M25 9LN", "M45 6TB", "M45 7QF", "M26 2SN",
                                        "M26 4DF", "BL9 0EJ", "BL9 7HX", "BL0 9AN", "BL8 4DA"};
static const char *const types[] = {"drop_in", "one_to_one", "phone",
                                    "group",   "one_to_one", "video"};
static const char *const notes[] = {
    "Talked about walking more; agreed to try the Tuesday health walk.",
    "Wants to cut down smoking before surgery. Referred to stop-smoking service.",
    "Weight and blood pressure checked. Discussed small swaps for lunch.",
    "Worried about falls since winter; booked strength and balance group.",
    "Bowel screening kit not returned; explained the kit and how to use it.",
    "Feeling low after losing job; talked through options and wellbeing."};

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;
static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* A valid 999-range test NHS number for sequence i. */
static void test_nhs(unsigned i, char out[11])
{
    for (;;) {
        snprintf(out, 11, "999%06u", i % 1000000);
        int sum = 0;
        for (int k = 0; k < 9; k++) {
            sum += (out[k] - '0') * (10 - k);
        }
        int check = 11 - sum % 11;
        if (check == 11) {
            check = 0;
        }
        if (check != 10) {
            out[9] = (char)('0' + check);
            out[10] = '\0';
            return;
        }
        i += 1000003;
    }
}

int main(int argc, char **argv)
{
    int central = argc > 1 && strcmp(argv[1], "--central") == 0;
    if (central) {
        argv++;
        argc--;
    }
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: coachbox-demo-seed [--central] DATA_DIR [PARTICIPANTS]\n");
        return 2;
    }
    long count = 300;
    if (argc == 3) {
        char *end;
        errno = 0;
        count = strtol(argv[2], &end, 10);
        if (errno || *end || count < 0 || count > 1000000) {
            fprintf(stderr, "coachbox-demo-seed: PARTICIPANTS must be 0-1000000\n");
            return 2;
        }
    }
    struct cb_store *s;
    struct cb_conn *c;
    if (cb_store_open(argv[1], &s) || cb_store_conn(s, &c)) {
        fprintf(stderr, "coachbox-demo-seed: cannot open %s\n", argv[1]);
        return 1;
    }
    if (central && (cb_store_set_role(s, "central") || cb_capture_bootstrap_central(c))) {
        fprintf(stderr, "coachbox-demo-seed: cannot make %s a central store\n", argv[1]);
        cb_store_close(s);
        return 1;
    }
    struct cb_user mgr;
    if (cb_user_find(c, "manager", &mgr, NULL, 0) == CB_OK) {
        printf("demo data already present in %s\n", argv[1]);
        cb_store_close(s);
        return 0;
    }
    static const struct {
        const char *username, *name, *role, *team;
    } users[] = {
        {"coach.prestwich", "Sam Coach (Prestwich)", "coach", "prestwich"},
        {"coach.whitefield", "Alex Coach (Whitefield)", "coach", "whitefield"},
        {"coach.radcliffe", "Jo Coach (Radcliffe)", "coach", "radcliffe"},
        {"coach.bury", "Priya Coach (Bury town)", "coach", "bury-town"},
        {"coach.ramsbottom", "Chris Coach (Ramsbottom)", "coach", "ramsbottom-tottington"},
        {"lead.bury", "Dee Group Lead (Bury town)", "lead", "bury-town"},
        {"manager", "Morgan Manager", "manager", NULL},
        {"admin", "Ade Admin", "admin", NULL},
    };
    struct cb_user coaches[5];
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        struct cb_user u;
        struct cb_field_error fe = {"", ""};
        int rc = cb_user_create(c, users[i].username, users[i].name, users[i].role, users[i].team,
                                DEMO_PASSWORD, &u, &fe);
        if (rc) {
            fprintf(stderr, "coachbox-demo-seed: user %s: %s %s\n", users[i].username, fe.field,
                    fe.message[0] ? fe.message : cb_strerror(rc));
            cb_store_close(s);
            return 1;
        }
        if (i < 5) {
            coaches[i] = u;
        }
    }
    int64_t now = cb_now_ms();
    for (long i = 0; i < count; i++) {
        unsigned t = rnd(5);
        struct cb_actor a = {&coaches[t], "127.0.0.1", 1};
        char nhs[11], dob[16];
        test_nhs((unsigned)i * 7 + 11, nhs);
        snprintf(dob, sizeof(dob), "%04u-%02u-%02u", 1940 + rnd(66), 1 + rnd(12), 1 + rnd(28));
        json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:s}", "given_name", given[rnd(36)],
                               "family_name", family[rnd(32)], "date_of_birth", dob, "team",
                               teams[t], "postcode", postcodes[rnd(10)]);
        if (rnd(10) < 8) {
            json_object_set_new(in, "nhs_number", json_string(nhs));
        }
        json_t *p = NULL;
        struct cb_field_error fe = {"", ""};
        int rc = cb_participant_create(c, &a, in, &p, &fe);
        json_decref(in);
        if (rc) {
            fprintf(stderr, "coachbox-demo-seed: participant: %s %s\n", fe.field, fe.message);
            cb_store_close(s);
            return 1;
        }
        unsigned ne = 1 + rnd(4);
        for (unsigned k = 0; k < ne; k++) {
            char when[CB_TIME_STRLEN];
            cb_time_format(now - (int64_t)(1 + rnd(120)) * 86400000LL - rnd(28800000), when);
            json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "participant_id",
                                  json_string_value(json_object_get(p, "id")), "type",
                                  types[rnd(6)], "occurred_at", when, "notes", notes[rnd(6)]);
            json_t *eo = NULL;
            rc = cb_kind_create(c, &a, &cb_kind_encounters, e, &eo, &fe);
            json_decref(e);
            json_decref(eo);
            if (rc) {
                fprintf(stderr, "coachbox-demo-seed: contact: %s %s\n", fe.field, fe.message);
                cb_store_close(s);
                return 1;
            }
        }
        json_decref(p);
    }
    cb_store_close(s);
    printf("demo data: 8 accounts (password '%s'), %ld participants in %s\n", DEMO_PASSWORD, count,
           argv[1]);
    return 0;
}
