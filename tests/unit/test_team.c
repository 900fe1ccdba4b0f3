/* test_team.c - adding neighbourhood teams (team.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coachbox/audit.h"
#include "coachbox/err.h"
#include "coachbox/store.h"
#include "coachbox/team.h"

#include "unit_store.h"

static void expect_team_error(const char *id, const char *name, int want_rc, const char *field)
{
    struct cb_field_error fe;
    memset(&fe, 0, sizeof(fe));
    long long before = cbu_count("SELECT count(*) FROM teams", NULL);
    int rc = cb_team_add(cbu.conn, id, name, &fe);
    if (rc != want_rc || strcmp(fe.field, field) != 0) {
        fail_msg("team_add(%s, %s) gave %d on '%s' (%s); expected %d on '%s'", id ? id : "(null)",
                 name ? name : "(null)", rc, fe.field, fe.message, want_rc, field);
    }
    assert_true(strlen(fe.message) > 0);
    assert_int_equal(cbu_count("SELECT count(*) FROM teams", NULL), before);
    assert_int_equal(sqlite3_get_autocommit(cb_conn_db(cbu.conn)),
                     1); /* no transaction left open */
}

static void test_add_team(void **state)
{
    (void)state;
    struct cb_field_error fe;
    memset(&fe, 0, sizeof(fe));
    assert_int_equal(cb_team_add(cbu.conn, "tottington-north", "Tottington North", &fe), CB_OK);
    assert_int_equal(cbu_count("SELECT count(*) FROM teams WHERE id = ?1 AND deleted = 0 AND "
                               "name = 'Tottington North'",
                               "tottington-north"),
                     1);
    assert_int_equal(cbu_count("SELECT count(*) FROM teams", NULL), 6);
    /* created_at / updated_at are ISO timestamps */
    assert_int_equal(cbu_count("SELECT count(*) FROM teams WHERE id = ?1 AND "
                               "created_at LIKE '____-__-__T__:__:__.___Z' AND "
                               "updated_at = created_at",
                               "tottington-north"),
                     1);
    /* audited */
    assert_int_equal(cbu_count("SELECT count(*) FROM audit_events WHERE action = 'team.create' "
                               "AND entity = 'teams' AND entity_id = ?1 AND outcome = 'ok'",
                               "tottington-north"),
                     1);
}

static void test_id_rules(void **state)
{
    (void)state;
    struct cb_field_error fe;
    char id64[65], id65[66];
    memset(id64, 'a', 64);
    id64[64] = '\0';
    memset(id65, 'b', 65);
    id65[65] = '\0';
    assert_int_equal(cb_team_add(cbu.conn, "ab", "Two", &fe), CB_OK);
    assert_int_equal(cb_team_add(cbu.conn, id64, "Sixty-four", &fe), CB_OK);
    assert_int_equal(cb_team_add(cbu.conn, "team-2-b", "Digits", &fe), CB_OK);
    static const char *const bad[] = {"a",           "",        "Prestwich",   "has space",
                                      "under_score", "dot.ted", "caf\xc3\xa9", "slash/x",
                                      "semi;colon"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_team_error(bad[i], "Name", CB_EINVAL, "id");
    }
    expect_team_error(id65, "Name", CB_EINVAL, "id");
    expect_team_error(NULL, "Name", CB_EINVAL, "id");
}

static void test_name_rules(void **state)
{
    (void)state;
    struct cb_field_error fe;
    char name[400];
    /* 100 characters, 200 bytes: fine */
    for (int i = 0; i < 100; i++) {
        name[2 * i] = '\xc3';
        name[2 * i + 1] = '\xa9';
    }
    name[200] = '\0';
    assert_int_equal(cb_team_add(cbu.conn, "long-name", name, &fe), CB_OK);
    memset(name, 'n', 101);
    name[101] = '\0';
    expect_team_error("too-long", name, CB_EINVAL, "name");
    expect_team_error("empty-name", "", CB_EINVAL, "name");
    expect_team_error("null-name", NULL, CB_EINVAL, "name");
    expect_team_error("two-lines", "Bury\nNorth", CB_EINVAL, "name");
    expect_team_error("tabbed", "Bury\tNorth", CB_EINVAL, "name");
    expect_team_error("latin1", "Caf\xe9", CB_EINVAL, "name");
}

static void test_duplicate_id(void **state)
{
    (void)state;
    expect_team_error("prestwich", "Prestwich again", CB_ECONFLICT, "id");
    expect_team_error("tottington-north", "Again", CB_ECONFLICT, "id");
    /* A failed add leaves no audit event behind. */
    assert_int_equal(cbu_count("SELECT count(*) FROM audit_events WHERE entity = 'teams' "
                               "AND entity_id = ?1",
                               "prestwich"),
                     0);
    /* The original is unchanged. */
    assert_int_equal(
        cbu_count("SELECT count(*) FROM teams WHERE id = ?1 AND name = 'Prestwich'", "prestwich"),
        1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_team),
        cmocka_unit_test(test_id_rules),
        cmocka_unit_test(test_name_rules),
        cmocka_unit_test(test_duplicate_id),
    };
    return cmocka_run_group_tests(tests, cbu_store_setup, cbu_teardown);
}
