/* test_uuid.c - UUIDv7 minting and validation (uuid.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coachbox/err.h"
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* The 48-bit millisecond timestamp of a UUIDv7 string. */
static int64_t uuid_ms(const char *u)
{
    int64_t ms = 0;
    for (int i = 0; i < 13; i++) {
        if (i == 8) {
            continue;
        }
        ms = ms * 16 + hexval(u[i]);
    }
    return ms;
}

/* Lowercase canonical text, version 7 and RFC 9562 variant. */
static void assert_v7_shape(const char *u)
{
    assert_int_equal(strlen(u), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            assert_int_equal(u[i], '-');
        } else if (hexval(u[i]) < 0) {
            fail_msg("non-lowercase-hex character '%c' at %d in %s", u[i], i, u);
        }
    }
    assert_int_equal(u[14], '7');           /* version */
    assert_non_null(strchr("89ab", u[19])); /* variant 10xx */
    assert_true(cb_uuid_valid(u));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_version_variant_and_time(void **state)
{
    (void)state;
    char u[CB_UUID_STRLEN];
    int64_t before = cb_now_ms();
    assert_int_equal(cb_uuid7(u), CB_OK);
    int64_t after = cb_now_ms();
    assert_v7_shape(u);
    int64_t ms = uuid_ms(u);
    /* The embedded time is now (it may be pushed forward by at most a few ms
     * when the 12-bit sequence overflows). */
    assert_true(ms >= before);
    assert_true(ms <= after + 5);
}

static void test_uuid7_at_embeds_timestamp(void **state)
{
    (void)state;
    char u[CB_UUID_STRLEN];
    /* A timestamp well in the future so it is not below the process's last. */
    const int64_t t = 4102444800000LL; /* 2100-01-01 */
    assert_int_equal(cb_uuid7_at(t, u), CB_OK);
    assert_v7_shape(u);
    assert_true(uuid_ms(u) == t);
    assert_memory_equal(u, "03bb2cc3-d800-7", 15); /* 0x03bb2cc3d800 = 4102444800000 */
}

static void test_thousand_ids_strictly_increasing(void **state)
{
    (void)state;
    enum { N = 1000 };
    char(*ids)[CB_UUID_STRLEN] = calloc(N, CB_UUID_STRLEN);
    char(*sorted)[CB_UUID_STRLEN] = calloc(N, CB_UUID_STRLEN);
    assert_non_null(ids);
    assert_non_null(sorted);
    for (int i = 0; i < N; i++) {
        assert_int_equal(cb_uuid7(ids[i]), CB_OK);
        assert_v7_shape(ids[i]);
    }
    for (int i = 1; i < N; i++) {
        if (strcmp(ids[i - 1], ids[i]) >= 0) {
            fail_msg("id %d (%s) is not above id %d (%s)", i, ids[i], i - 1, ids[i - 1]);
        }
    }
    memcpy(sorted, ids, (size_t)N * CB_UUID_STRLEN);
    qsort(sorted, N, CB_UUID_STRLEN, cmp_str);
    assert_memory_equal(sorted, ids, (size_t)N * CB_UUID_STRLEN);
    free(ids);
    free(sorted);
}

static void test_same_and_earlier_ms_stay_monotonic(void **state)
{
    (void)state;
    /* Many ids with one fixed timestamp: the 12-bit counter must roll over
     * into the next millisecond rather than wrap. */
    enum { N = 5000 };
    const int64_t t = 4102444900000LL;
    char prev[CB_UUID_STRLEN], cur[CB_UUID_STRLEN];
    assert_int_equal(cb_uuid7_at(t, prev), CB_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(cb_uuid7_at(t, cur), CB_OK);
        assert_v7_shape(cur);
        if (strcmp(prev, cur) >= 0) {
            fail_msg("ids not increasing at %d: %s then %s", i, prev, cur);
        }
        assert_true(uuid_ms(cur) >= t);
        memcpy(prev, cur, sizeof(cur));
    }
    /* 5000 ids cannot fit in one millisecond's 12-bit counter. */
    assert_true(uuid_ms(cur) > t);
    /* An earlier clock (step backwards) still yields a larger id. */
    assert_int_equal(cb_uuid7_at(1000, cur), CB_OK);
    assert_true(strcmp(prev, cur) < 0);
    assert_int_equal(cb_uuid7(cur), CB_OK);
    assert_true(strcmp(prev, cur) < 0);
}

struct mint_arg {
    char ids[500][CB_UUID_STRLEN];
};

static void *mint_thread(void *p)
{
    struct mint_arg *a = p;
    for (int i = 0; i < 500; i++) {
        if (cb_uuid7(a->ids[i]) != CB_OK) {
            a->ids[i][0] = '\0';
        }
    }
    return NULL;
}

static void test_unique_across_threads(void **state)
{
    (void)state;
    struct mint_arg *a = calloc(4, sizeof(*a));
    assert_non_null(a);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, mint_thread, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    char(*all)[CB_UUID_STRLEN] = calloc(2000, CB_UUID_STRLEN);
    assert_non_null(all);
    for (int t = 0; t < 4; t++) {
        for (int i = 1; i < 500; i++) {
            /* each thread's own ids increase (the counter is process-wide) */
            assert_true(strcmp(a[t].ids[i - 1], a[t].ids[i]) < 0);
        }
        memcpy(all[t * 500], a[t].ids, sizeof(a[t].ids));
    }
    qsort(all, 2000, CB_UUID_STRLEN, cmp_str);
    for (int i = 0; i < 2000; i++) {
        assert_true(cb_uuid_valid(all[i]));
        if (i > 0 && strcmp(all[i - 1], all[i]) == 0) {
            fail_msg("duplicate id %s", all[i]);
        }
    }
    free(all);
    free(a);
}

static void test_valid_accepts_and_rejects(void **state)
{
    (void)state;
    assert_true(cb_uuid_valid("01890a5d-ac96-774b-bcce-b302099a8057"));
    assert_false(cb_uuid_valid("01890A5D-AC96-774B-BCCE-B302099A8057")); /* lowercase only */
    assert_true(cb_uuid_valid("550e8400-e29b-41d4-a716-446655440000"));  /* v4 */
    assert_true(cb_uuid_valid("00000000-0000-0000-0000-000000000000"));

    static const char *const bad[] = {
        "",
        "01890a5d-ac96-774b-bcce-b302099a805",   /* 35 chars */
        "01890a5d-ac96-774b-bcce-b302099a80577", /* 37 chars */
        "01890a5dac96774bbcceb302099a8057",      /* no hyphens */
        "01890a5dac96774bbcceb302099a80570000",  /* 36 chars, no hyphens */
        "01890a5d-ac96-774b-bcce_b302099a8057",  /* wrong separator */
        "01890a5d-ac96-774b-bcceb-302099a8057",  /* hyphen in wrong place */
        "01890a5g-ac96-774b-bcce-b302099a8057",  /* non-hex */
        "{1890a5d-ac96-774b-bcce-b302099a8057",
        " 1890a5d-ac96-774b-bcce-b302099a8057",
        "01890a5d-ac96-774b-bcce-b302099a805 ",
        "01890a5d ac96-774b-bcce-b302099a8057",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (cb_uuid_valid(bad[i])) {
            fail_msg("cb_uuid_valid accepted \"%s\"", bad[i]);
        }
    }
    assert_false(cb_uuid_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_variant_and_time),
        cmocka_unit_test(test_thousand_ids_strictly_increasing),
        cmocka_unit_test(test_unique_across_threads),
        cmocka_unit_test(test_valid_accepts_and_rejects),
        /* These two push the process's last timestamp into the future. */
        cmocka_unit_test(test_uuid7_at_embeds_timestamp),
        cmocka_unit_test(test_same_and_earlier_ms_stay_monotonic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
