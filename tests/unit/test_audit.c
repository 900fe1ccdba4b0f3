/* test_audit.c - the append-only audit log (audit.h). */
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
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"

#include "unit_store.h"

static json_t *list(const char *participant)
{
    json_t *out = NULL;
    assert_int_equal(cb_audit_list(cbu.conn, participant, &out), CB_OK);
    assert_non_null(out);
    json_t *items = json_object_get(out, "items");
    assert_true(json_is_array(items));
    return out;
}

static const char *str(const json_t *item, const char *key)
{
    return json_string_value(json_object_get(item, key));
}

static void test_round_trip_all_fields(void **state)
{
    (void)state;
    char uid[CB_UUID_STRLEN];
    assert_int_equal(cb_uuid7(uid), CB_OK);
    sqlite3_stmt *st;
    assert_int_equal(cb_conn_prepare(cbu.conn,
                                     "INSERT INTO users(id, username, display_name, role, "
                                     "password_hash, created_at, updated_at) VALUES (?1, "
                                     "'auditor', 'Auditor', 'manager', 'x', 'x', 'x')",
                                     &st),
                     CB_OK);
    sqlite3_bind_text(st, 1, uid, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    cb_stmt_done(st);

    cb_audit_set_site("bury-hub");
    int64_t before = cb_now_ms();
    struct cb_audit_event e = {.actor = uid,
                               .action = "participant.read",
                               .entity = "participants",
                               .entity_id = "p-123",
                               .address = "192.0.2.7",
                               .outcome = "denied",
                               .detail = "outside team",
                               .participant = "p-123"};
    assert_int_equal(cb_audit(cbu.conn, &e), CB_OK);
    int64_t after = cb_now_ms();

    json_t *out = list("p-123");
    json_t *items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 1);
    json_t *it = json_array_get(items, 0);
    assert_true(json_is_integer(json_object_get(it, "seq")));
    assert_true(json_integer_value(json_object_get(it, "seq")) > 0);
    assert_string_equal(str(it, "actor"), uid);
    assert_string_equal(str(it, "username"), "auditor");
    assert_string_equal(str(it, "action"), "participant.read");
    assert_string_equal(str(it, "entity"), "participants");
    assert_string_equal(str(it, "entity_id"), "p-123");
    assert_string_equal(str(it, "address"), "192.0.2.7");
    assert_string_equal(str(it, "site"), "bury-hub");
    assert_string_equal(str(it, "outcome"), "denied");
    assert_string_equal(str(it, "detail"), "outside team");
    int64_t at = 0;
    assert_int_equal(cb_time_parse(str(it, "at"), &at), CB_OK);
    assert_true(at >= before - 1 && at <= after + 1);
    assert_int_equal(strlen(str(it, "at")), CB_TIME_STRLEN - 1);
    json_decref(out);
    cb_audit_set_site(NULL);
}

static void test_minimal_event_defaults(void **state)
{
    (void)state;
    cb_audit_set_site("");
    struct cb_audit_event e = {.action = "participant.search", .participant = "p-min"};
    assert_int_equal(cb_audit(cbu.conn, &e), CB_OK);
    json_t *out = list("p-min");
    json_t *it = json_array_get(json_object_get(out, "items"), 0);
    assert_non_null(it);
    assert_string_equal(str(it, "outcome"), "ok"); /* NULL outcome means ok */
    assert_string_equal(str(it, "action"), "participant.search");
    static const char *const nulls[] = {"actor",  "username", "address",  "site",
                                        "detail", "entity",   "entity_id"};
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        if (!json_is_null(json_object_get(it, nulls[i]))) {
            fail_msg("%s should be null", nulls[i]);
        }
    }
    json_decref(out);
    /* An actor that is not a user id: listed, without a username. */
    struct cb_audit_event e2 = {
        .actor = "someone-else", .action = "x.y", .outcome = "failed", .participant = "p-min"};
    assert_int_equal(cb_audit(cbu.conn, &e2), CB_OK);
    out = list("p-min");
    it = json_array_get(json_object_get(out, "items"), 1);
    assert_string_equal(str(it, "actor"), "someone-else");
    assert_true(json_is_null(json_object_get(it, "username")));
    assert_string_equal(str(it, "outcome"), "failed");
    json_decref(out);
}

static void test_list_order_and_filter(void **state)
{
    (void)state;
    static const char *const actions[] = {"encounter.create", "goal.create", "goal.update",
                                          "participant.read"};
    static const char *const entities[] = {"encounters", "goals", "goals", "participants"};
    for (size_t i = 0; i < 4; i++) {
        struct cb_audit_event e = {.action = actions[i],
                                   .entity = entities[i],
                                   .entity_id = "r-1",
                                   .participant = "p-ord"};
        assert_int_equal(cb_audit(cbu.conn, &e), CB_OK);
        /* noise: another participant, and an event about no participant */
        struct cb_audit_event n1 = {
            .action = "noise", .entity = entities[i], .entity_id = "r-1", .participant = "p-other"};
        struct cb_audit_event n2 = {
            .action = "noise", .entity = "participants", .entity_id = "p-ord"};
        assert_int_equal(cb_audit(cbu.conn, &n1), CB_OK);
        assert_int_equal(cb_audit(cbu.conn, &n2), CB_OK);
    }
    json_t *out = list("p-ord");
    json_t *items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 4);
    json_int_t prev = 0;
    for (size_t i = 0; i < 4; i++) {
        json_t *it = json_array_get(items, i);
        assert_string_equal(str(it, "action"), actions[i]);
        assert_string_equal(str(it, "entity"), entities[i]);
        json_int_t seq = json_integer_value(json_object_get(it, "seq"));
        assert_true(seq > prev);
        prev = seq;
    }
    json_decref(out);
    out = list("p-other");
    assert_int_equal(json_array_size(json_object_get(out, "items")), 4);
    json_decref(out);
    out = list("no-such-participant");
    assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
    json_decref(out);
    out = list("");
    assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
    json_decref(out);
    /* The events without a participant were stored all the same. */
    assert_int_equal(cbu_count("SELECT count(*) FROM audit_events WHERE action = 'noise' "
                               "AND participant_id IS NULL AND entity_id = ?1",
                               "p-ord"),
                     4);
}

static void test_follows_the_transaction(void **state)
{
    (void)state;
    struct cb_audit_event e = {.action = "tx.rolled-back", .participant = "p-tx"};
    assert_int_equal(cb_conn_begin(cbu.conn), CB_OK);
    assert_int_equal(cb_audit(cbu.conn, &e), CB_OK);
    cb_conn_rollback(cbu.conn);
    json_t *out = list("p-tx");
    assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
    json_decref(out);

    e.action = "tx.committed";
    assert_int_equal(cb_conn_begin(cbu.conn), CB_OK);
    assert_int_equal(cb_audit(cbu.conn, &e), CB_OK);
    assert_int_equal(cb_conn_commit(cbu.conn), CB_OK);
    out = list("p-tx");
    assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
    assert_string_equal(str(json_array_get(json_object_get(out, "items"), 0), "action"),
                        "tx.committed");
    json_decref(out);
}

static void test_event_without_action_refused(void **state)
{
    (void)state;
    long long n = cbu_count("SELECT count(*) FROM audit_events", NULL);
    struct cb_audit_event e = {.entity = "teams", .entity_id = "t-x", .participant = "p-x"};
    assert_int_not_equal(cb_audit(cbu.conn, &e), CB_OK);
    assert_int_equal(cbu_count("SELECT count(*) FROM audit_events", NULL), n);
}

/*
 * BUG (latent; audit.c, cb_audit_list): when json_pack() fails for a row
 * (e.g. a detail or address that is not valid UTF-8, which cb_audit stores
 * without complaint) the NULL item is passed to json_array_append_new() and
 * the event silently vanishes from the listing.  Either cb_audit should
 * refuse the event or cb_audit_list should not drop it.
 */
static void test_BUG_stored_event_never_silently_dropped(void **state)
{
    (void)state;
    struct cb_audit_event e = {
        .action = "bad.detail", .detail = "caf\xe9", .participant = "p-utf8"};
    int rc = cb_audit(cbu.conn, &e);
    if (rc != CB_OK) {
        return; /* refusing the event up front is an acceptable fix */
    }
    json_t *out = NULL;
    rc = cb_audit_list(cbu.conn, "p-utf8", &out);
    size_t n = rc == CB_OK ? json_array_size(json_object_get(out, "items")) : 0;
    json_decref(out);
    if (rc == CB_OK && n == 0) {
        fail_msg("an event stored by cb_audit is missing from cb_audit_list");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_all_fields),
        cmocka_unit_test(test_minimal_event_defaults),
        cmocka_unit_test(test_list_order_and_filter),
        cmocka_unit_test(test_follows_the_transaction),
        cmocka_unit_test(test_event_without_action_refused),
        cmocka_unit_test(test_BUG_stored_event_never_silently_dropped),
    };
    return cmocka_run_group_tests(tests, cbu_store_setup, cbu_teardown);
}
