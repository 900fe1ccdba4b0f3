/*
 * test_hlc.c - the hybrid logical clock (hlc.h) and its persistence by the
 * store (setting "hlc", written in the same transaction as each captured
 * write, read back by cb_store_open).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "coachbox/err.h"
#include "coachbox/hlc.h"
#include "coachbox/record.h"
#include "coachbox/store.h"
#include "coachbox/team.h"
#include "coachbox/timeutil.h"

#include "unit_store.h"

/* A fixed "now" (2026-03-01T12:00:00Z) so the tests do not depend on the wall clock. */
#define NOW_MS 1772366400000LL

/* ------------------------------------------------------------ pure clock */

static void test_pack_and_compare(void **state)
{
    (void)state;
    uint64_t a = cb_hlc_pack(NOW_MS, 0), b = cb_hlc_pack(NOW_MS, 1), c = cb_hlc_pack(NOW_MS + 1, 0);
    assert_true(a < b);
    assert_true(b < c);
    assert_int_equal(cb_hlc_ms(b), NOW_MS);
    assert_int_equal(cb_hlc_ms(c), NOW_MS + 1);
    assert_int_equal(b & 0xffffu, 1);
}

static void test_ticks_are_monotonic(void **state)
{
    (void)state;
    struct cb_hlc h;
    cb_hlc_init(&h, 0);
    uint64_t first = cb_hlc_tick(&h, NOW_MS);
    assert_true(first >= cb_hlc_pack(NOW_MS, 0));
    assert_int_equal(cb_hlc_ms(first), NOW_MS);
    uint64_t prev = first;
    /* The same millisecond many times: the counter advances. */
    for (int i = 0; i < 1000; i++) {
        uint64_t t = cb_hlc_tick(&h, NOW_MS);
        assert_true(t > prev);
        prev = t;
    }
    assert_int_equal(cb_hlc_ms(prev), NOW_MS);
    assert_int_equal(prev - first, 1000);
    /* The wall clock moves on: the physical part follows it, the counter resets. */
    uint64_t later = cb_hlc_tick(&h, NOW_MS + 5);
    assert_true(later > prev);
    assert_int_equal(later, cb_hlc_pack(NOW_MS + 5, 0));
    assert_int_equal(cb_hlc_peek(&h), later);
    cb_hlc_destroy(&h);
}

static void test_restart_from_persisted_value_in_the_future(void **state)
{
    (void)state;
    /* The last run persisted a value an hour ahead of the wall clock now
     * (e.g. the clock was later corrected backwards). */
    uint64_t persisted = cb_hlc_pack(NOW_MS + 3600 * 1000, 42);
    struct cb_hlc h;
    cb_hlc_init(&h, persisted);
    assert_int_equal(cb_hlc_peek(&h), persisted);
    uint64_t t = cb_hlc_tick(&h, NOW_MS);
    assert_true(t > persisted);
    assert_int_equal(t, persisted + 1);
    cb_hlc_destroy(&h);

    /* A persisted value in the past does not hold the clock back. */
    cb_hlc_init(&h, cb_hlc_pack(NOW_MS - 1000, 7));
    assert_int_equal(cb_hlc_tick(&h, NOW_MS), cb_hlc_pack(NOW_MS, 0));
    cb_hlc_destroy(&h);
}

static void test_wall_clock_stepping_back(void **state)
{
    (void)state;
    struct cb_hlc h;
    cb_hlc_init(&h, 0);
    uint64_t a = cb_hlc_tick(&h, NOW_MS);
    uint64_t b = cb_hlc_tick(&h, NOW_MS - 60 * 1000); /* NTP stepped back a minute */
    uint64_t c = cb_hlc_tick(&h, NOW_MS - 120 * 1000);
    assert_true(b > a);
    assert_true(c > b);
    /* The physical part stays at the highest wall time seen. */
    assert_int_equal(cb_hlc_ms(c), NOW_MS);
    /* Back to the right time: follows the wall clock again. */
    uint64_t d = cb_hlc_tick(&h, NOW_MS + 10);
    assert_int_equal(d, cb_hlc_pack(NOW_MS + 10, 0));
    cb_hlc_destroy(&h);
}

static void test_counter_overflow_carries(void **state)
{
    (void)state;
    struct cb_hlc h;
    cb_hlc_init(&h, cb_hlc_pack(NOW_MS, 0xfffe));
    uint64_t a = cb_hlc_tick(&h, NOW_MS);
    assert_int_equal(a, cb_hlc_pack(NOW_MS, 0xffff));
    uint64_t b = cb_hlc_tick(&h, NOW_MS);
    assert_true(b > a);
    /* The counter is full: the increment carries into the millisecond part. */
    assert_int_equal(b, cb_hlc_pack(NOW_MS + 1, 0));
    assert_int_equal(cb_hlc_ms(b), NOW_MS + 1);
    uint64_t c = cb_hlc_tick(&h, NOW_MS);
    assert_int_equal(c, cb_hlc_pack(NOW_MS + 1, 1));
    cb_hlc_destroy(&h);
}

static void test_observe_peer_slightly_ahead(void **state)
{
    (void)state;
    struct cb_hlc h;
    cb_hlc_init(&h, 0);
    uint64_t mine = cb_hlc_tick(&h, NOW_MS);
    uint64_t remote = cb_hlc_pack(NOW_MS + 2000, 9); /* a peer 2 s ahead */
    assert_int_equal(cb_hlc_observe(&h, remote, NOW_MS), CB_OK);
    assert_true(cb_hlc_peek(&h) >= remote);
    uint64_t t = cb_hlc_tick(&h, NOW_MS);
    assert_true(t > remote);
    assert_true(t > mine);
    /* Later ticks, even with the wall clock still behind the peer, stay above it. */
    uint64_t u = cb_hlc_tick(&h, NOW_MS + 1000);
    assert_true(u > t);
    /* Observing an older value never moves the clock back. */
    uint64_t before = cb_hlc_peek(&h);
    assert_int_equal(cb_hlc_observe(&h, cb_hlc_pack(NOW_MS - 5000, 0), NOW_MS), CB_OK);
    assert_int_equal(cb_hlc_peek(&h), before);
    assert_true(cb_hlc_tick(&h, NOW_MS) > before);
    cb_hlc_destroy(&h);
}

static void test_observe_peer_too_far_ahead_refused(void **state)
{
    (void)state;
    struct cb_hlc h;
    cb_hlc_init(&h, 0);
    uint64_t mine = cb_hlc_tick(&h, NOW_MS);
    uint64_t bad = cb_hlc_pack(NOW_MS + CB_HLC_MAX_SKEW_MS + 60 * 1000, 0); /* 6 minutes ahead */
    assert_int_equal(cb_hlc_observe(&h, bad, NOW_MS), CB_EINVAL);
    assert_int_equal(cb_hlc_peek(&h), mine); /* unchanged */
    uint64_t t = cb_hlc_tick(&h, NOW_MS);
    assert_true(t < bad);
    assert_int_equal(t, mine + 1);
    /* A year ahead: refused too. */
    assert_int_equal(cb_hlc_observe(&h, cb_hlc_pack(NOW_MS + 365LL * 24 * 3600 * 1000, 0), NOW_MS),
                     CB_EINVAL);
    assert_int_equal(cb_hlc_peek(&h), t);
    cb_hlc_destroy(&h);
}

static void test_too_far_ahead_boundary(void **state)
{
    (void)state;
    const int64_t edge = NOW_MS + CB_HLC_MAX_SKEW_MS;
    assert_int_equal(CB_HLC_MAX_SKEW_MS, 5 * 60 * 1000);
    assert_false(cb_hlc_too_far_ahead(cb_hlc_pack(NOW_MS, 0), NOW_MS));
    assert_false(cb_hlc_too_far_ahead(cb_hlc_pack(NOW_MS - 3600 * 1000, 0), NOW_MS));
    assert_false(cb_hlc_too_far_ahead(cb_hlc_pack(edge - 1, 0xffff), NOW_MS));
    /* Exactly 5 minutes ahead (any counter) is still acceptable... */
    assert_false(cb_hlc_too_far_ahead(cb_hlc_pack(edge, 0), NOW_MS));
    assert_false(cb_hlc_too_far_ahead(cb_hlc_pack(edge, 0xffff), NOW_MS));
    /* ...one millisecond more is not. */
    assert_true(cb_hlc_too_far_ahead(cb_hlc_pack(edge + 1, 0), NOW_MS));

    struct cb_hlc h;
    cb_hlc_init(&h, 0);
    assert_int_equal(cb_hlc_observe(&h, cb_hlc_pack(edge, 0xffff), NOW_MS), CB_OK);
    assert_int_equal(cb_hlc_peek(&h), cb_hlc_pack(edge, 0xffff));
    uint64_t t = cb_hlc_tick(&h, NOW_MS);
    assert_int_equal(t, cb_hlc_pack(edge + 1, 0));
    assert_int_equal(cb_hlc_observe(&h, cb_hlc_pack(edge + 1, 5), NOW_MS), CB_EINVAL);
    assert_int_equal(cb_hlc_peek(&h), t);
    cb_hlc_destroy(&h);
}

/* Many threads ticking one clock: every value is unique. */
#define THREADS 4
#define PER     5000

struct tick_arg {
    struct cb_hlc *h;
    uint64_t *out;
};

static void *ticker(void *p)
{
    struct tick_arg *a = p;
    for (int i = 0; i < PER; i++) {
        a->out[i] = cb_hlc_tick(a->h, NOW_MS);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_concurrent_ticks_unique(void **state)
{
    (void)state;
    struct cb_hlc h;
    cb_hlc_init(&h, 0);
    uint64_t *all = calloc(THREADS * PER, sizeof(uint64_t));
    assert_non_null(all);
    pthread_t th[THREADS];
    struct tick_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i].h = &h;
        args[i].out = all + (size_t)i * PER;
        assert_int_equal(pthread_create(&th[i], NULL, ticker, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    qsort(all, THREADS * PER, sizeof(uint64_t), cmp_u64);
    for (size_t i = 1; i < THREADS * PER; i++) {
        assert_true(all[i] > all[i - 1]);
    }
    assert_int_equal(cb_hlc_peek(&h), all[THREADS * PER - 1]);
    free(all);
    cb_hlc_destroy(&h);
}

/* ------------------------------------------------------------ persistence by the store */

static uint64_t setting_hlc(struct cb_conn *c)
{
    char buf[32];
    assert_int_equal(cb_setting_get(c, "hlc", buf, sizeof(buf)), CB_OK);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    assert_int_equal(errno, 0);
    assert_true(*end == '\0');
    return (uint64_t)v;
}

static uint64_t max_outbox_hlc(struct cb_conn *c)
{
    sqlite3_stmt *st;
    assert_int_equal(cb_conn_prepare(c, "SELECT coalesce(max(hlc), 0) FROM outbox", &st), CB_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    uint64_t v = (uint64_t)sqlite3_column_int64(st, 0);
    cb_stmt_done(st);
    return v;
}

static void insert_participant(struct cb_conn *c, const char *id, const char *given)
{
    char now[CB_TIME_STRLEN];
    cb_time_format(cb_now_ms(), now);
    json_t *v = json_pack("{s:s, s:s, s:s, s:s}", "given_name", given, "family_name", "Hlc",
                          "date_of_birth", "1980-05-17", "team", "bury-town");
    assert_non_null(v);
    assert_int_equal(cb_conn_begin(c), CB_OK);
    assert_int_equal(cb_record_insert(c, &cb_table_participants, id, v, now, NULL), CB_OK);
    assert_int_equal(cb_conn_commit(c), CB_OK);
    json_decref(v);
}

static void test_field_store_persists_clock(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s;
    struct cb_conn *c;
    snprintf(dir, sizeof(dir), "%s/field", cbu.root);
    assert_int_equal(cb_store_open(dir, &s), CB_OK);
    assert_string_equal(cb_store_role(s), "field");
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    char buf[32];
    assert_int_equal(cb_setting_get(c, "hlc", buf, sizeof(buf)), CB_ENOTFOUND);

    int64_t before = cb_now_ms();
    insert_participant(c, "0190a000-0000-7000-8000-000000000001", "First");
    uint64_t p1 = setting_hlc(c);
    assert_true(cb_hlc_ms(p1) >= before);
    assert_true(cb_hlc_ms(p1) <= cb_now_ms());
    assert_int_equal(cb_hlc_peek(cb_store_hlc(s)), p1);
    /* The outbox row carries the same value. */
    assert_int_equal(max_outbox_hlc(c), p1);

    insert_participant(c, "0190a000-0000-7000-8000-000000000002", "Second");
    uint64_t p2 = setting_hlc(c);
    assert_true(p2 > p1);
    assert_int_equal(max_outbox_hlc(c), p2);
    cb_store_close(s);

    /* Reopen: the clock resumes from the persisted value. */
    assert_int_equal(cb_store_open(dir, &s), CB_OK);
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    assert_int_equal(setting_hlc(c), p2);
    assert_true(cb_hlc_peek(cb_store_hlc(s)) >= p2);
    insert_participant(c, "0190a000-0000-7000-8000-000000000003", "Third");
    uint64_t p3 = setting_hlc(c);
    assert_true(p3 > p2);
    cb_store_close(s);

    /* A persisted value far in the future (the wall clock was wrong, then fixed):
     * after a restart the next write is still stamped above it. */
    assert_int_equal(cb_store_open(dir, &s), CB_OK);
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    uint64_t future = cb_hlc_pack(cb_now_ms() + 24LL * 3600 * 1000, 3);
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)future);
    assert_int_equal(cb_setting_set(c, "hlc", buf), CB_OK);
    cb_store_close(s);
    assert_int_equal(cb_store_open(dir, &s), CB_OK);
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    assert_int_equal(cb_hlc_peek(cb_store_hlc(s)), future);
    insert_participant(c, "0190a000-0000-7000-8000-000000000004", "Fourth");
    assert_int_equal(setting_hlc(c), future + 1);
    assert_int_equal(max_outbox_hlc(c), future + 1);
    cb_store_close(s);
}

static void test_failed_write_does_not_persist_clock(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s;
    struct cb_conn *c;
    snprintf(dir, sizeof(dir), "%s/rollback", cbu.root);
    assert_int_equal(cb_store_open(dir, &s), CB_OK);
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    insert_participant(c, "0190a000-0000-7000-8000-000000000011", "Kept");
    uint64_t p1 = setting_hlc(c);
    /* A write that rolls back takes its outbox row and its clock value with it. */
    char now[CB_TIME_STRLEN];
    cb_time_format(cb_now_ms(), now);
    json_t *v = json_pack("{s:s, s:s, s:s, s:s}", "given_name", "Gone", "family_name", "Hlc",
                          "date_of_birth", "1980-05-17", "team", "bury-town");
    assert_int_equal(cb_conn_begin(c), CB_OK);
    assert_int_equal(cb_record_insert(c, &cb_table_participants,
                                      "0190a000-0000-7000-8000-000000000012", v, now, NULL),
                     CB_OK);
    cb_conn_rollback(c);
    json_decref(v);
    assert_int_equal(setting_hlc(c), p1);
    assert_int_equal(max_outbox_hlc(c), p1);
    /* The in-memory clock may have advanced; the next write is above both. */
    insert_participant(c, "0190a000-0000-7000-8000-000000000013", "Next");
    assert_true(setting_hlc(c) > p1);
    cb_store_close(s);
}

static void test_central_store_persists_clock(void **state)
{
    (void)state;
    char dir[256];
    struct cb_store *s;
    struct cb_conn *c;
    struct cb_field_error fe = {"", ""};
    snprintf(dir, sizeof(dir), "%s/central", cbu.root);
    assert_int_equal(cb_store_open(dir, &s), CB_OK);
    assert_int_equal(cb_store_set_role(s, "central"), CB_OK);
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    assert_int_equal(cb_team_add(c, "heywood", "Heywood", &fe), CB_OK);
    uint64_t p1 = setting_hlc(c);
    assert_true(p1 > 0);
    /* The change log row carries the clock value. */
    sqlite3_stmt *st;
    assert_int_equal(
        cb_conn_prepare(c, "SELECT hlc FROM changes WHERE tbl = 'teams' AND row_id = 'heywood'",
                        &st),
        CB_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal((uint64_t)sqlite3_column_int64(st, 0), p1);
    cb_stmt_done(st);
    cb_store_close(s);

    assert_int_equal(cb_store_open(dir, &s), CB_OK);
    assert_string_equal(cb_store_role(s), "central");
    assert_int_equal(cb_store_conn(s, &c), CB_OK);
    assert_int_equal(setting_hlc(c), p1);
    assert_true(cb_hlc_peek(cb_store_hlc(s)) >= p1);
    assert_int_equal(cb_team_add(c, "middleton", "Middleton", &fe), CB_OK);
    assert_true(setting_hlc(c) > p1);
    cb_store_close(s);
}

int main(void)
{
    const struct CMUnitTest clock_tests[] = {
        cmocka_unit_test(test_pack_and_compare),
        cmocka_unit_test(test_ticks_are_monotonic),
        cmocka_unit_test(test_restart_from_persisted_value_in_the_future),
        cmocka_unit_test(test_wall_clock_stepping_back),
        cmocka_unit_test(test_counter_overflow_carries),
        cmocka_unit_test(test_observe_peer_slightly_ahead),
        cmocka_unit_test(test_observe_peer_too_far_ahead_refused),
        cmocka_unit_test(test_too_far_ahead_boundary),
        cmocka_unit_test(test_concurrent_ticks_unique),
    };
    const struct CMUnitTest store_tests[] = {
        cmocka_unit_test(test_field_store_persists_clock),
        cmocka_unit_test(test_failed_write_does_not_persist_clock),
        cmocka_unit_test(test_central_store_persists_clock),
    };
    int rc = cmocka_run_group_tests_name("hlc", clock_tests, NULL, NULL);
    rc += cmocka_run_group_tests_name("hlc_store", store_tests, cbu_dir_setup, cbu_teardown);
    return rc;
}
