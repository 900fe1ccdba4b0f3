/* test_err.c - the error enum's names, messages and HTTP statuses (err.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "coachbox/err.h"

static void test_every_code_has_distinct_name_and_message(void **state)
{
    (void)state;
    for (int a = CB_OK; a >= CB_ERR_MIN; a--) {
        const char *na = cb_errname(a);
        const char *ma = cb_strerror(a);
        assert_non_null(na);
        assert_non_null(ma);
        assert_true(strlen(na) > 0);
        assert_true(strlen(ma) > 0);
        for (int b = a - 1; b >= CB_ERR_MIN; b--) {
            if (strcmp(na, cb_errname(b)) == 0) {
                fail_msg("codes %d and %d share the name %s", a, b, na);
            }
        }
        int st = cb_err_http_status(a);
        assert_in_range(st, 200, 599);
        if (a != CB_OK) {
            assert_true(st >= 400);
        }
    }
}

static void test_known_names_and_statuses(void **state)
{
    (void)state;
    static const struct {
        int code;
        const char *name;
        int http;
    } cases[] = {
        {CB_OK, "ok", 200},
        {CB_EINVAL, "invalid", 400},
        {CB_ENOTFOUND, "not_found", 404},
        {CB_ECONFLICT, "conflict", 409},
        {CB_ETOOLARGE, "too_large", 413},
        {CB_EUNAUTH, "unauthenticated", 401},
        {CB_EFORBIDDEN, "forbidden", 403},
        {CB_ECSRF, "csrf", 403},
        {CB_ETHROTTLED, "throttled", 429},
        {CB_EPARSE, "malformed", 400},
        {CB_EMETHOD, "method_not_allowed", 405},
        {CB_EFULL, "disk_full", 507},
        {CB_EBUSY, "busy", 503},
        {CB_EREADONLY, "read_only", 503},
        {CB_ESCHEMA, "schema_mismatch", 500},
        {CB_ECORRUPT, "corrupt", 500},
        {CB_EINTERNAL, "internal", 500},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_string_equal(cb_errname(cases[i].code), cases[i].name);
        assert_int_equal(cb_err_http_status(cases[i].code), cases[i].http);
    }
}

static void test_unknown_code_is_internal(void **state)
{
    (void)state;
    static const int unknown[] = {1, 42, CB_ERR_MIN - 1, -1000};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_string_equal(cb_errname(unknown[i]), "internal");
        assert_int_equal(cb_err_http_status(unknown[i]), 500);
        assert_non_null(cb_strerror(unknown[i]));
    }
}

static void test_field_fail_fills_and_returns_einval(void **state)
{
    (void)state;
    struct cb_field_error fe;
    memset(&fe, 'x', sizeof(fe));
    assert_int_equal(cb_field_fail(&fe, "nhs_number", "bad %s %d", "digit", 7), CB_EINVAL);
    assert_string_equal(fe.field, "nhs_number");
    assert_string_equal(fe.message, "bad digit 7");

    assert_int_equal(cb_field_fail(&fe, NULL, "%s", "no field"), CB_EINVAL);
    assert_string_equal(fe.field, "");
    assert_string_equal(fe.message, "no field");

    /* fe may be NULL */
    assert_int_equal(cb_field_fail(NULL, "x", "y"), CB_EINVAL);
}

static void test_field_fail_truncates_safely(void **state)
{
    (void)state;
    struct cb_field_error fe;
    char longfield[300], longmsg[600];
    memset(longfield, 'f', sizeof(longfield) - 1);
    longfield[sizeof(longfield) - 1] = '\0';
    memset(longmsg, 'm', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    assert_int_equal(cb_field_fail(&fe, longfield, "%s", longmsg), CB_EINVAL);
    assert_int_equal(strlen(fe.field), sizeof(fe.field) - 1);
    assert_int_equal(strlen(fe.message), sizeof(fe.message) - 1);
    assert_memory_equal(fe.field, longfield, sizeof(fe.field) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_distinct_name_and_message),
        cmocka_unit_test(test_known_names_and_statuses),
        cmocka_unit_test(test_unknown_code_is_internal),
        cmocka_unit_test(test_field_fail_fills_and_returns_einval),
        cmocka_unit_test(test_field_fail_truncates_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
