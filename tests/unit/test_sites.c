/*
 * test_sites.c - site names on central (sites.h) and in a site's sync status
 * (sync.h): a name is limited in characters, so it comes back whole however
 * many bytes of UTF-8 those characters take (finding F20, the same pattern
 * as the report's names).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coachbox/err.h"
#include "coachbox/sites.h"
#include "coachbox/store.h"
#include "coachbox/sync.h"
#include "coachbox/validate.h"

#include "unit_store.h"

/* 100 characters of 3 bytes each (300 bytes): the longest name by characters. */
static void long_name(char out[CB_UTF8_STRLEN(CB_NAME_CHARS)])
{
    for (int i = 0; i < CB_NAME_CHARS; i++) {
        memcpy(out + 3 * i, "\xe2\x82\xac", 4); /* the euro sign and the NUL */
    }
}

static void test_site_name_whole(void **state)
{
    (void)state;
    char name[CB_UTF8_STRLEN(CB_NAME_CHARS)], code[CB_CODE_STRLEN];
    long_name(name);
    assert_int_equal(strlen(name), 300);
    struct cb_field_error fe;
    memset(&fe, 0, sizeof(fe));
    struct cb_site site, got;
    json_t *teams = json_pack("[s]", "prestwich");
    assert_int_equal(cb_site_add(cbu.conn, name, teams, &site, code, &fe), CB_OK);
    json_decref(teams);
    assert_string_equal(site.name, name);
    assert_int_equal(cb_site_get(cbu.conn, site.id, &got), CB_OK);
    assert_string_equal(got.name, name);
    cb_site_clear(&got);
    /* the enrollment answer carries the name central has */
    assert_int_equal(cb_site_enroll(cbu.conn, code, 1, &got), CB_OK);
    assert_string_equal(got.name, name);
    cb_site_clear(&got);
    cb_site_clear(&site);
}

static void test_sync_status_site_name_whole(void **state)
{
    (void)state;
    char name[CB_UTF8_STRLEN(CB_NAME_CHARS)];
    long_name(name);
    assert_int_equal(cb_setting_set(cbu.conn, "site_name", name), CB_OK);
    json_t *st = NULL;
    assert_int_equal(cb_sync_status(cbu.store, &st), CB_OK);
    assert_non_null(st);
    assert_string_equal(json_string_value(json_object_get(st, "site_name")), name);
    json_decref(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_site_name_whole),
        cmocka_unit_test(test_sync_status_site_name_whole),
    };
    return cmocka_run_group_tests_name("test_sites", tests, cbu_store_setup, cbu_teardown);
}
