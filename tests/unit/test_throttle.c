/* test_throttle.c - login throttling (throttle.h).  All times are synthetic. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "coachbox/err.h"
#include "coachbox/throttle.h"

#define MIN_MS (60 * 1000LL)
#define T0     1000000000LL /* an arbitrary monotonic clock origin */

static struct cb_throttle *make(int threshold, int64_t base, int64_t max)
{
    struct cb_throttle *t = NULL;
    assert_int_equal(cb_throttle_new(threshold, base, max, &t), CB_OK);
    assert_non_null(t);
    return t;
}

/* Retry-After for key at now, or 0 when not locked. */
static int retry(struct cb_throttle *t, const char *key, int64_t now)
{
    int r = -7;
    int rc = cb_throttle_check(t, key, now, &r);
    if (rc == CB_OK) {
        assert_int_equal(r, -7); /* untouched when not locked */
        return 0;
    }
    assert_int_equal(rc, CB_ETHROTTLED);
    assert_true(r >= 1);
    return r;
}

static void test_locks_at_threshold(void **state)
{
    (void)state;
    struct cb_throttle *t = make(3, 10000, 80000);
    const char *k = "user:alice";
    assert_int_equal(retry(t, k, T0), 0); /* unknown key */
    cb_throttle_fail(t, k, T0);
    assert_int_equal(retry(t, k, T0), 0);
    cb_throttle_fail(t, k, T0 + 100);
    assert_int_equal(retry(t, k, T0 + 100), 0);
    cb_throttle_fail(t, k, T0 + 200); /* third failure: locked for 10 s */
    assert_int_equal(retry(t, k, T0 + 200), 10);
    assert_int_equal(retry(t, k, T0 + 200 + 9999), 1);
    assert_int_equal(retry(t, k, T0 + 200 + 10000), 0); /* expires exactly on time */
    assert_int_equal(retry(t, k, T0 + 200 + 20000), 0);
    cb_throttle_free(t);
}

static void test_retry_after_rounds_up(void **state)
{
    (void)state;
    struct cb_throttle *t = make(1, 60000, 600000);
    const char *k = "addr:192.0.2.1";
    cb_throttle_fail(t, k, T0);
    assert_int_equal(retry(t, k, T0), 60);
    assert_int_equal(retry(t, k, T0 + 1), 60);   /* 59.999 s -> 60 */
    assert_int_equal(retry(t, k, T0 + 999), 60); /* 59.001 s -> 60 */
    assert_int_equal(retry(t, k, T0 + 1000), 59);
    assert_int_equal(retry(t, k, T0 + 59001), 1); /* 0.999 s -> 1 */
    assert_int_equal(retry(t, k, T0 + 59999), 1); /* 1 ms -> 1, never 0 */
    assert_int_equal(retry(t, k, T0 + 60000), 0);
    cb_throttle_free(t);
}

static void test_lock_doubles_and_caps(void **state)
{
    (void)state;
    struct cb_throttle *t = make(3, 1000, 8000);
    const char *k = "user:bob";
    int64_t now = T0;
    cb_throttle_fail(t, k, now);
    cb_throttle_fail(t, k, now);
    static const int want[] = {1, 2, 4, 8, 8, 8};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        cb_throttle_fail(t, k, now);
        assert_int_equal(retry(t, k, now), want[i]);
        now += (int64_t)want[i] * 1000; /* wait out the lock, then fail again */
        assert_int_equal(retry(t, k, now), 0);
    }
    cb_throttle_free(t);
}

static void test_cap_not_a_power_of_two(void **state)
{
    (void)state;
    struct cb_throttle *t = make(2, 3000, 10000);
    const char *k = "user:carol";
    cb_throttle_fail(t, k, T0);
    cb_throttle_fail(t, k, T0);
    assert_int_equal(retry(t, k, T0), 3);
    cb_throttle_fail(t, k, T0 + 1); /* failing while locked also escalates */
    assert_int_equal(retry(t, k, T0 + 1), 6);
    cb_throttle_fail(t, k, T0 + 2);
    assert_int_equal(retry(t, k, T0 + 2), 10); /* 12 s capped to 10 s */
    for (int i = 0; i < 100; i++) {
        cb_throttle_fail(t, k, T0 + 3 + i); /* no overflow however many */
    }
    assert_int_equal(retry(t, k, T0 + 103), 10);
    cb_throttle_free(t);
}

static void test_clear_forgets_key(void **state)
{
    (void)state;
    struct cb_throttle *t = make(3, 5000, 50000);
    const char *k = "user:dave";
    for (int i = 0; i < 5; i++) {
        cb_throttle_fail(t, k, T0 + i);
    }
    assert_true(retry(t, k, T0 + 5) > 0);
    cb_throttle_clear(t, k);
    assert_int_equal(retry(t, k, T0 + 5), 0);
    /* The count starts again: two failures do not lock, the third does, at base. */
    cb_throttle_fail(t, k, T0 + 6);
    cb_throttle_fail(t, k, T0 + 7);
    assert_int_equal(retry(t, k, T0 + 7), 0);
    cb_throttle_fail(t, k, T0 + 8);
    assert_int_equal(retry(t, k, T0 + 8), 5);
    cb_throttle_clear(t, "user:unknown"); /* clearing an unknown key is harmless */
    assert_int_equal(retry(t, k, T0 + 8), 5);
    cb_throttle_free(t);
}

static void test_window_reset(void **state)
{
    (void)state;
    struct cb_throttle *t = make(3, 1000, 60000);
    /* Two failures, then a third just over 15 minutes later: count restarted. */
    const char *k = "user:erin";
    cb_throttle_fail(t, k, T0);
    cb_throttle_fail(t, k, T0 + 1000);
    cb_throttle_fail(t, k, T0 + 1000 + 15 * MIN_MS + 1);
    assert_int_equal(retry(t, k, T0 + 1000 + 15 * MIN_MS + 1), 0);
    cb_throttle_fail(t, k, T0 + 1000 + 15 * MIN_MS + 2);
    assert_int_equal(retry(t, k, T0 + 1000 + 15 * MIN_MS + 2), 0);
    cb_throttle_fail(t, k, T0 + 1000 + 15 * MIN_MS + 3);
    assert_int_equal(retry(t, k, T0 + 1000 + 15 * MIN_MS + 3), 1);

    /* Within the window the failures accumulate. */
    const char *k2 = "user:frank";
    cb_throttle_fail(t, k2, T0);
    cb_throttle_fail(t, k2, T0 + 7 * MIN_MS);
    cb_throttle_fail(t, k2, T0 + 14 * MIN_MS);
    assert_int_equal(retry(t, k2, T0 + 14 * MIN_MS), 1);

    /* After a long quiet spell an escalated lock starts again from base. */
    const char *k3 = "user:grace";
    for (int i = 0; i < 6; i++) {
        cb_throttle_fail(t, k3, T0 + i);
    }
    assert_int_equal(retry(t, k3, T0 + 5), 8); /* failures 3..6: 1 s doubled 3 times */
    int64_t later = T0 + 5 + 60 * MIN_MS;
    assert_int_equal(retry(t, k3, later), 0);
    cb_throttle_fail(t, k3, later);
    assert_int_equal(retry(t, k3, later), 0); /* one failure, fresh count */
    cb_throttle_free(t);
}

static void test_keys_are_independent(void **state)
{
    (void)state;
    struct cb_throttle *t = make(2, 1000, 1000);
    cb_throttle_fail(t, "user:a", T0);
    cb_throttle_fail(t, "user:a", T0);
    assert_int_equal(retry(t, "user:a", T0), 1);
    assert_int_equal(retry(t, "user:b", T0), 0);
    assert_int_equal(retry(t, "user:", T0), 0);
    assert_int_equal(retry(t, "user:aa", T0), 0);
    assert_int_equal(retry(t, "addr:user:a", T0), 0);
    cb_throttle_fail(t, "user:b", T0);
    assert_int_equal(retry(t, "user:b", T0), 0);
    cb_throttle_clear(t, "user:b");
    assert_int_equal(retry(t, "user:a", T0), 1);
    cb_throttle_free(t);
}

static void test_table_recycles_least_recently_failed(void **state)
{
    (void)state;
    struct cb_throttle *t = make(1, 600000, 600000);
    char key[32];
    /* "old" failed first; then the table fills up with newer keys. */
    cb_throttle_fail(t, "user:old", T0);
    assert_true(retry(t, "user:old", T0 + 1) > 0);
    for (int i = 0; i < CB_THROTTLE_SLOTS - 1; i++) {
        snprintf(key, sizeof(key), "addr:%d", i);
        cb_throttle_fail(t, key, T0 + 10 + i);
    }
    /* Full: every key is still tracked. */
    assert_true(retry(t, "user:old", T0 + 20000) > 0);
    assert_true(retry(t, "addr:0", T0 + 20000) > 0);
    /* One more key recycles the least recently failed slot: "old". */
    cb_throttle_fail(t, "user:new", T0 + 20000);
    assert_true(retry(t, "user:new", T0 + 20001) > 0);
    assert_int_equal(retry(t, "user:old", T0 + 20001), 0);
    assert_true(retry(t, "addr:0", T0 + 20001) > 0);
    snprintf(key, sizeof(key), "addr:%d", CB_THROTTLE_SLOTS - 2);
    assert_true(retry(t, key, T0 + 20001) > 0);
    cb_throttle_free(t);
}

static void test_long_keys(void **state)
{
    (void)state;
    /* Keys built from a 64-character username plus a prefix fit comfortably. */
    struct cb_throttle *t = make(2, 1000, 1000);
    char key[80];
    memset(key, 'x', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    memcpy(key, "user:", 5);
    cb_throttle_fail(t, key, T0);
    cb_throttle_fail(t, key, T0);
    assert_int_equal(retry(t, key, T0), 1);
    key[70] = 'y';
    assert_int_equal(retry(t, key, T0), 0);
    cb_throttle_free(t);
}

/*
 * BUG (latent; throttle.c, find): keys are stored truncated to 159 bytes but
 * looked up with strcmp against the full key, so a key of 160 bytes or more
 * is never found again: it never locks, and every failure takes a fresh slot
 * (recycling other keys' slots).  The login handler currently caps usernames
 * at 64 characters, so this is not reachable through /api/login today.
 */
static void test_BUG_keys_longer_than_slot_never_lock(void **state)
{
    (void)state;
    struct cb_throttle *t = make(2, 1000, 1000);
    char key[200];
    memset(key, 'z', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    memcpy(key, "user:", 5);
    cb_throttle_fail(t, key, T0);
    cb_throttle_fail(t, key, T0);
    cb_throttle_fail(t, key, T0);
    int locked = retry(t, key, T0);
    cb_throttle_free(t);
    assert_int_equal(locked, 1);
}

struct hammer_arg {
    struct cb_throttle *t;
    int id;
};

static void *hammer(void *p)
{
    struct hammer_arg *a = p;
    char key[32];
    for (int i = 0; i < 2000; i++) {
        int r;
        snprintf(key, sizeof(key), "user:%d", (a->id * 7 + i) % 50);
        cb_throttle_fail(a->t, key, T0 + i);
        cb_throttle_check(a->t, key, T0 + i, &r);
        if (i % 10 == 0) {
            cb_throttle_clear(a->t, key);
        }
    }
    return NULL;
}

static void test_concurrent_use(void **state)
{
    (void)state;
    struct cb_throttle *t = make(3, 1000, 8000);
    pthread_t th[4];
    struct hammer_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i].t = t;
        a[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    /* Still consistent afterwards. */
    cb_throttle_clear(t, "user:1");
    assert_int_equal(retry(t, "user:1", T0 + 5000), 0);
    for (int i = 0; i < 3; i++) {
        cb_throttle_fail(t, "user:1", T0 + 5000);
    }
    assert_int_equal(retry(t, "user:1", T0 + 5000), 1);
    cb_throttle_free(t);
    cb_throttle_free(NULL); /* safe */
}

/* Attempts in flight count as they start: no more may begin than their
 * failures would need to lock the key, so concurrent guesses cannot all pass
 * a check made before any of them failed (review finding: 30 concurrent
 * wrong sign-ins were all checked). */
static void test_begin_counts_attempts_in_flight(void **state)
{
    (void)state;
    struct cb_throttle *t = make(3, 10000, 80000);
    const char *k = "user:alice";
    int r = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cb_throttle_begin(t, k, T0, &r), CB_OK);
    }
    assert_int_equal(cb_throttle_begin(t, k, T0, &r), CB_ETHROTTLED); /* a fourth in flight */
    assert_int_equal(r, 1);
    assert_int_equal(retry(t, k, T0), 0); /* not locked yet: none has failed */
    cb_throttle_end(t, k, T0 + 10, CB_THROTTLE_FAILED);
    assert_int_equal(cb_throttle_begin(t, k, T0 + 10, &r), CB_ETHROTTLED); /* 1 failed + 2 */
    cb_throttle_end(t, k, T0 + 20, CB_THROTTLE_FAILED);
    cb_throttle_end(t, k, T0 + 30, CB_THROTTLE_FAILED);
    assert_int_equal(retry(t, k, T0 + 30), 10); /* three failures: locked */
    assert_int_equal(cb_throttle_begin(t, k, T0 + 30, &r), CB_ETHROTTLED);
    assert_int_equal(r, 10);
    /* After the lock, attempts begin again; a success clears the failures, and an
     * attempt still in flight keeps the key's slot for its own end. */
    int64_t later = T0 + 30 + 10000;
    assert_int_equal(cb_throttle_begin(t, k, later, &r), CB_OK);
    assert_int_equal(cb_throttle_begin(t, k, later, &r), CB_ETHROTTLED); /* one at a time */
    cb_throttle_end(t, k, later + 1, CB_THROTTLE_CLEAR);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cb_throttle_begin(t, k, later + 2, &r), CB_OK);
    }
    cb_throttle_end(t, k, later + 3, CB_THROTTLE_CLEAR);
    cb_throttle_end(t, k, later + 3, CB_THROTTLE_FAILED);
    cb_throttle_end(t, k, later + 3, CB_THROTTLE_KEEP);
    assert_int_equal(retry(t, k, later + 3), 0); /* one failure since the clear */
    assert_int_equal(cb_throttle_begin(t, k, later + 3, &r), CB_OK);
    assert_int_equal(cb_throttle_begin(t, k, later + 3, &r), CB_OK);
    assert_int_equal(cb_throttle_begin(t, k, later + 3, &r), CB_ETHROTTLED); /* 1 + 2 */
    cb_throttle_end(t, k, later + 4, CB_THROTTLE_KEEP);
    cb_throttle_end(t, k, later + 4, CB_THROTTLE_KEEP);
    cb_throttle_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locks_at_threshold),
        cmocka_unit_test(test_retry_after_rounds_up),
        cmocka_unit_test(test_lock_doubles_and_caps),
        cmocka_unit_test(test_cap_not_a_power_of_two),
        cmocka_unit_test(test_clear_forgets_key),
        cmocka_unit_test(test_window_reset),
        cmocka_unit_test(test_keys_are_independent),
        cmocka_unit_test(test_table_recycles_least_recently_failed),
        cmocka_unit_test(test_long_keys),
        cmocka_unit_test(test_BUG_keys_longer_than_slot_never_lock),
        cmocka_unit_test(test_concurrent_use),
        cmocka_unit_test(test_begin_counts_attempts_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
