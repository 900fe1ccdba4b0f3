/* test_timeutil.c - ISO 8601 formatting and strict parsing (timeutil.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "coachbox/err.h"
#include "coachbox/timeutil.h"

/* Parse s, failing the test unless it parses to want. */
static void expect_parse(const char *s, int64_t want)
{
    int64_t got = -12345;
    int rc = cb_time_parse(s, &got);
    if (rc != CB_OK) {
        fail_msg("cb_time_parse(\"%s\") = %d, expected success", s, rc);
    }
    if (got != want) {
        fail_msg("cb_time_parse(\"%s\") = %lld, expected %lld", s, (long long)got, (long long)want);
    }
}

static void expect_bad(const char *s)
{
    int64_t got = -12345;
    int rc = cb_time_parse(s, &got);
    if (rc != CB_EPARSE) {
        fail_msg("cb_time_parse(\"%s\") = %d (%lld), expected CB_EPARSE", s, rc, (long long)got);
    }
    assert_int_equal(got, -12345); /* untouched on failure */
}

static void test_days_from_civil_known_values(void **state)
{
    (void)state;
    assert_int_equal(cb_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(cb_days_from_civil(1970, 1, 2), 1);
    assert_true(cb_days_from_civil(1969, 12, 31) == -1);
    assert_int_equal(cb_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(cb_days_from_civil(2024, 2, 29), 19782);
    assert_int_equal(cb_days_from_civil(2024, 3, 1), 19783);
    assert_int_equal(cb_days_from_civil(2026, 11, 26), 20783);
    assert_true(cb_days_from_civil(1900, 1, 1) == -25567);
    assert_true(cb_days_from_civil(1600, 3, 1) == -135080);
    /* Year boundaries: 365 or 366 days apart. */
    assert_int_equal(cb_days_from_civil(2001, 1, 1) - cb_days_from_civil(2000, 1, 1), 366);
    assert_int_equal(cb_days_from_civil(1901, 1, 1) - cb_days_from_civil(1900, 1, 1), 365);
    assert_int_equal(cb_days_from_civil(2101, 1, 1) - cb_days_from_civil(2100, 1, 1), 365);
}

static void test_format_known_values(void **state)
{
    (void)state;
    char out[CB_TIME_STRLEN];
    cb_time_format(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    cb_time_format(1, out);
    assert_string_equal(out, "1970-01-01T00:00:00.001Z");
    cb_time_format(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    cb_time_format(951782400000LL, out); /* 2000-02-29 */
    assert_string_equal(out, "2000-02-29T00:00:00.000Z");
    cb_time_format(1795696786123LL, out);
    assert_string_equal(out, "2026-11-26T12:39:46.123Z");
    assert_int_equal(strlen(out), CB_TIME_STRLEN - 1);
}

static void test_format_parse_round_trip(void **state)
{
    (void)state;
    static const int64_t samples[] = {
        0,
        1,
        999,
        1000,
        86399999,
        86400000,
        -1,
        -86400000,
        951782400000LL,
        1709164800123LL,
        1795696786123LL,
        4102444799999LL, /* 2099-12-31T23:59:59.999Z */
        -2208988800000LL /* 1900-01-01 */
    };
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char out[CB_TIME_STRLEN];
        int64_t back = 0;
        cb_time_format(samples[i], out);
        assert_int_equal(cb_time_parse(out, &back), CB_OK);
        if (back != samples[i]) {
            fail_msg("%lld -> %s -> %lld", (long long)samples[i], out, (long long)back);
        }
    }
    /* And a sweep of awkward values through a leap year. */
    for (int64_t t = 1704067200000LL; t < 1735689600000LL; t += 86400000LL * 7 + 3601001) {
        char out[CB_TIME_STRLEN];
        int64_t back = 0;
        cb_time_format(t, out);
        assert_int_equal(cb_time_parse(out, &back), CB_OK);
        assert_true(back == t);
    }
}

static void test_format_agrees_with_gmtime(void **state)
{
    (void)state;
    for (int64_t secs = 0; secs < 4102444800LL; secs += 86400LL * 97 + 12345) {
        time_t tt = (time_t)secs;
        struct tm tm;
        char want[64], got[CB_TIME_STRLEN];
        gmtime_r(&tt, &tm);
        strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
        cb_time_format(secs * 1000, got);
        assert_string_equal(got, want);
    }
}

static void test_parse_offsets(void **state)
{
    (void)state;
    const int64_t base = 1795696786000LL; /* 2026-11-26T12:39:46Z */
    expect_parse("2026-11-26T12:39:46Z", base);
    expect_parse("2026-11-26T13:39:46+01:00", base);
    expect_parse("2026-11-26T11:39:46-01:00", base);
    expect_parse("2026-11-26T18:09:46+05:30", base);
    expect_parse("2026-11-26T12:39:46+00:00", base);
    expect_parse("2026-11-26T12:39:46-00:00", base);
    /* Offsets crossing a day boundary. */
    expect_parse("2026-11-27T00:39:46+12:00", base);
    expect_parse("2026-11-25T23:39:46-13:00", base);
    /* British Summer Time: 10:30 BST is 09:30 UTC. */
    expect_parse("2026-06-01T10:30:00+01:00", 1780306200000LL);
    expect_parse("2026-06-01T09:30:00Z", 1780306200000LL);
}

static void test_parse_optional_seconds_and_fraction(void **state)
{
    (void)state;
    const int64_t base = 1795696740000LL; /* 2026-11-26T12:39:00Z */
    expect_parse("2026-11-26T12:39Z", base);
    expect_parse("2026-11-26T12:39:00Z", base);
    expect_parse("2026-11-26T12:39:46.1Z", base + 46100);
    expect_parse("2026-11-26T12:39:46.12Z", base + 46120);
    expect_parse("2026-11-26T12:39:46.123Z", base + 46123);
    /* Beyond milliseconds the extra digits are truncated, not rounded. */
    expect_parse("2026-11-26T12:39:46.1239Z", base + 46123);
    expect_parse("2026-11-26T12:39:46.999999999Z", base + 46999);
    expect_parse("2026-11-26T13:39:46.500+01:00", base + 46500);
    expect_parse("2026-11-26T12:39:46.000Z", base + 46000);
}

static void test_parse_rejects_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "2026-11-26",                      /* date only */
        "2026-11-26T12:39:46",             /* missing zone */
        "2026-11-26T12:39:46.123",         /* missing zone */
        "2026-11-26 12:39:46Z",            /* space instead of T */
        "2026-11-26t12:39:46Z",            /* lower-case t */
        "2026-11-26T12:39:46z",            /* lower-case z */
        "2026-11-26T12:39:46ZZ",           /* trailing junk */
        "2026-11-26T12:39:46Z ",           /* trailing space */
        " 2026-11-26T12:39:46Z",           /* leading space */
        "2026-11-26T12:39:46+01:00x",      /* trailing junk after offset */
        "2026-11-26T12:39:46+0100",        /* offset without colon */
        "2026-11-26T12:39:46+01",          /* short offset */
        "2026-11-26T12:39:46+15:00",       /* offset out of range */
        "2026-11-26T12:39:46+01:60",       /* offset minutes out of range */
        "2026-13-26T12:39:46Z",            /* month 13 */
        "2026-00-26T12:39:46Z",            /* month 0 */
        "2026-11-00T12:39:46Z",            /* day 0 */
        "2026-11-31T12:39:46Z",            /* 31 November */
        "2026-02-29T12:00:00Z",            /* not a leap year */
        "1900-02-29T12:00:00Z",            /* century, not a leap year */
        "2026-11-26T24:00:00Z",            /* hour 24 */
        "2026-11-26T12:60:00Z",            /* minute 60 */
        "2026-11-26T12:39:60Z",            /* second 60 */
        "2026-11-26T12:39:46.Z",           /* empty fraction */
        "2026-11-26T12:39:46.1234567890Z", /* ten fraction digits */
        "2026-11-26T12:39.5Z",             /* fraction without seconds */
        "2026-11-26T12Z",                  /* hour only */
        "2026-11-26T1:39:46Z",             /* one-digit hour */
        "2026-1-26T12:39:46Z",             /* one-digit month */
        "26-11-26T12:39:46Z",              /* two-digit year */
        "2026/11/26T12:39:46Z",            /* wrong separators */
        "+2026-11-26T12:39:46Z",
        "2026-11-26T12:39:46+01:00:00",
        "2026-11-26T12:39:46.123Z-junk-junk-junk-junk-junk",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_bad(bad[i]);
    }
    int64_t v = 0;
    assert_int_equal(cb_time_parse(NULL, &v), CB_EPARSE);
}

static void test_parse_accepts_leap_days(void **state)
{
    (void)state;
    expect_parse("2024-02-29T00:00:00Z", cb_days_from_civil(2024, 2, 29) * 86400000LL);
    expect_parse("2000-02-29T00:00:00Z", 951782400000LL);
    expect_parse("2026-12-31T23:59:59.999Z", cb_days_from_civil(2027, 1, 1) * 86400000LL - 1);
}

static void test_date_parse_strict(void **state)
{
    (void)state;
    int y = 0, m = 0, d = 0;
    assert_int_equal(cb_date_parse("2026-11-26", &y, &m, &d), CB_OK);
    assert_int_equal(y, 2026);
    assert_int_equal(m, 11);
    assert_int_equal(d, 26);
    assert_int_equal(cb_date_parse("2024-02-29", &y, &m, &d), CB_OK);
    assert_int_equal(d, 29);
    assert_int_equal(cb_date_parse("2000-02-29", &y, &m, &d), CB_OK);
    assert_int_equal(cb_date_parse("1900-01-01", &y, &m, &d), CB_OK);
    assert_int_equal(cb_date_parse("2026-12-31", &y, &m, &d), CB_OK);

    static const char *const bad[] = {
        "",
        "2026-11-2",
        "2026-11-260",
        "2026-11-26T00:00:00Z",
        "2026-11-26 ",
        " 2026-11-26",
        "2026/11/26",
        "26-11-2026",
        "2026-02-29",
        "1900-02-29",
        "2100-02-29",
        "2026-04-31",
        "2026-06-31",
        "2026-09-31",
        "2026-13-01",
        "2026-00-10",
        "2026-01-00",
        "2026-01-32",
        "2026-1-01x",
        "abcd-ef-gh",
        "2026-11-2a",
        "-026-11-26",
        "2026--1-26",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        y = m = d = -7;
        if (cb_date_parse(bad[i], &y, &m, &d) != CB_EPARSE) {
            fail_msg("cb_date_parse accepted \"%s\"", bad[i]);
        }
        assert_int_equal(y, -7); /* outputs untouched on failure */
    }
    assert_int_equal(cb_date_parse(NULL, &y, &m, &d), CB_EPARSE);
}

static void test_every_day_of_a_leap_year_parses_and_round_trips(void **state)
{
    (void)state;
    static const int dim[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t expect = cb_days_from_civil(2024, 1, 1);
    for (int m = 1; m <= 12; m++) {
        for (int d = 1; d <= dim[m - 1]; d++) {
            char s[CB_DATE_STRLEN + 16], fmt[CB_TIME_STRLEN];
            int yy, mm, dd;
            snprintf(s, sizeof(s), "2024-%02d-%02d", m, d);
            assert_int_equal(cb_date_parse(s, &yy, &mm, &dd), CB_OK);
            assert_int_equal(cb_days_from_civil(yy, mm, dd), expect);
            cb_time_format(expect * 86400000LL, fmt);
            assert_memory_equal(fmt, s, 10);
            expect++;
        }
        char over[32];
        int yy, mm, dd;
        snprintf(over, sizeof(over), "2024-%02d-%02d", m, dim[m - 1] + 1);
        assert_int_equal(cb_date_parse(over, &yy, &mm, &dd), CB_EPARSE);
    }
    assert_int_equal(expect, cb_days_from_civil(2025, 1, 1));
}

static void test_clocks_and_today(void **state)
{
    (void)state;
    int64_t now = cb_now_ms();
    time_t t = time(NULL);
    /* within a couple of seconds of time(2) */
    assert_true(now / 1000 >= (int64_t)t - 2 && now / 1000 <= (int64_t)t + 2);
    int64_t m1 = cb_mono_ms();
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int64_t m2 = cb_mono_ms();
    assert_true(m2 - m1 >= 19);
    assert_true(m2 - m1 < 5000);

    char today[CB_DATE_STRLEN], stamp[CB_TIME_STRLEN];
    cb_today(today);
    cb_time_format(cb_now_ms(), stamp);
    assert_int_equal(strlen(today), 10);
    int y, m, d;
    assert_int_equal(cb_date_parse(today, &y, &m, &d), CB_OK);
    /* Same date as a fresh timestamp (unless midnight passed in between). */
    if (strncmp(stamp, today, 10) != 0) {
        assert_true(strcmp(stamp + 11, "00:00:01") < 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days_from_civil_known_values),
        cmocka_unit_test(test_format_known_values),
        cmocka_unit_test(test_format_parse_round_trip),
        cmocka_unit_test(test_format_agrees_with_gmtime),
        cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test(test_parse_optional_seconds_and_fraction),
        cmocka_unit_test(test_parse_rejects_malformed),
        cmocka_unit_test(test_parse_accepts_leap_days),
        cmocka_unit_test(test_date_parse_strict),
        cmocka_unit_test(test_every_day_of_a_leap_year_parses_and_round_trips),
        cmocka_unit_test(test_clocks_and_today),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
