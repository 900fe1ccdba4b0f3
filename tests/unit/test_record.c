/* test_record.c - table-driven validation and SQL for records (record.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coachbox/buf.h"
#include "coachbox/capture.h"
#include "coachbox/json.h"
#include "coachbox/err.h"
#include "coachbox/record.h"
#include "coachbox/store.h"
#include "coachbox/timeutil.h"
#include "coachbox/uuid.h"

#include "unit_store.h"

/* ------------------------------------------------------------------------ */
/* Fixture: one store for the whole group                                    */
/* ------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j) {
        fail_msg("bad test JSON %s: %s", text, e.text);
    }
    return j;
}

static const char *const MINIMAL = "{\"given_name\": \"Ada\", \"family_name\": \"Lovelace\","
                                   " \"date_of_birth\": \"1985-12-10\", \"team\": \"prestwich\"}";

/* Validate in (stolen) for t; return rc, *out set on success. */
static int validate(const struct cb_table *t, json_t *in, int creating, int allow_test,
                    struct cb_conn *c, json_t **out, struct cb_field_error *fe)
{
    struct cb_validate_opts o = {creating, allow_test};
    memset(fe, 0, sizeof(*fe));
    *out = NULL;
    int rc = cb_record_validate(c, t, in, &o, out, fe);
    json_decref(in);
    if (rc != CB_OK) {
        assert_null(*out);
    }
    return rc;
}

/* Expect validation of in (stolen) to fail naming field. */
static void expect_field_error(const struct cb_table *t, json_t *in, int creating,
                               struct cb_conn *c, const char *field, const char *msg_part)
{
    struct cb_field_error fe;
    json_t *out;
    char *text = json_dumps(in, JSON_COMPACT);
    int rc = validate(t, in, creating, 0, c, &out, &fe);
    if (rc != CB_EINVAL || strcmp(fe.field, field) != 0) {
        print_error("%s (creating %d): rc %d field '%s' (%s); expected an error on '%s'\n", text,
                    creating, rc, fe.field, fe.message, field);
        free(text);
        json_decref(out);
        fail();
    }
    free(text);
    assert_true(strlen(fe.message) > 0);
    if (msg_part && !strstr(fe.message, msg_part)) {
        fail_msg("message '%s' lacks '%s'", fe.message, msg_part);
    }
}

/* The minimal participant with key set to the JSON value text (or removed if NULL). */
static json_t *minimal_with(const char *key, const char *value_json)
{
    json_t *in = J(MINIMAL);
    if (value_json) {
        json_error_t e;
        json_t *v = json_loads(value_json, JSON_DECODE_ANY, &e);
        if (!v) {
            fail_msg("bad JSON value %s", value_json);
        }
        json_object_set_new(in, key, v);
    } else {
        json_object_del(in, key);
    }
    return in;
}

static json_t *validated_participant(json_t *in, int creating)
{
    struct cb_field_error fe;
    json_t *out;
    int rc = validate(&cb_table_participants, in, creating, 0, cbu.conn, &out, &fe);
    if (rc != CB_OK) {
        fail_msg("validation failed: %d %s: %s", rc, fe.field, fe.message);
    }
    return out;
}

static void date_offset(int days, char out[CB_DATE_STRLEN])
{
    char t[CB_TIME_STRLEN];
    cb_time_format(cb_now_ms() + (int64_t)days * 86400000LL, t);
    memcpy(out, t, 10);
    out[10] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Tables                                                                    */
/* ------------------------------------------------------------------------ */

static void test_table_lookup_and_columns(void **state)
{
    (void)state;
    assert_ptr_equal(cb_table_find("participants"), &cb_table_participants);
    assert_ptr_equal(cb_table_find("encounters"), &cb_table_encounters);
    assert_null(cb_table_find("nope"));
    assert_null(cb_table_find("Participants"));
    const struct cb_field *f = cb_table_field(&cb_table_participants, "postcode");
    assert_non_null(f);
    assert_int_equal(f->type, CB_F_POSTCODE);
    assert_int_equal(cb_table_field(&cb_table_participants, "nhs_number")->type, CB_F_NHS);
    assert_null(cb_table_field(&cb_table_participants, "nope"));
    assert_null(cb_table_field(&cb_table_participants, "id"));

    /* Every field of every table is found in declaration order (the lookup's
     * hint), in reverse, and in a pattern interleaving two tables and misses;
     * the extra synced columns are synced, unknown names and "id" are not. */
    for (size_t ti = 0; ti < cb_table_count(); ti++) {
        const struct cb_table *t = cb_table_at(ti), *u = cb_table_at((ti + 1) % cb_table_count());
        for (size_t i = 0; i < t->nfields; i++) {
            assert_ptr_equal(cb_table_field(t, t->fields[i].name), &t->fields[i]);
        }
        for (size_t i = t->nfields; i-- > 0;) {
            assert_ptr_equal(cb_table_field(t, t->fields[i].name), &t->fields[i]);
        }
        for (size_t i = 0; i < t->nfields; i++) {
            size_t j = (i * 7 + 3) % t->nfields;
            assert_ptr_equal(cb_table_field(t, t->fields[j].name), &t->fields[j]);
            assert_ptr_equal(cb_table_field(u, u->fields[i % u->nfields].name),
                             &u->fields[i % u->nfields]);
            assert_null(cb_table_field(t, "nope"));
            assert_true(cb_record_synced_column(t, t->fields[j].name));
        }
        assert_true(cb_record_synced_column(t, "created_at"));
        assert_true(cb_record_synced_column(t, "created_by"));
        assert_true(cb_record_synced_column(t, "deleted"));
        assert_false(cb_record_synced_column(t, "id"));
        assert_false(cb_record_synced_column(t, "updated_at"));
        assert_false(cb_record_synced_column(t, "created"));
        assert_false(cb_record_synced_column(t, "deleted_at"));
        assert_false(cb_record_synced_column(t, ""));
    }

    struct cb_buf want;
    cb_buf_init(&want, 1 << 16);
    assert_int_equal(cb_buf_adds(&want, "id"), CB_OK);
    for (size_t i = 0; i < cb_table_participants.nfields; i++) {
        assert_int_equal(cb_buf_addf(&want, ", %s", cb_table_participants.fields[i].name), CB_OK);
    }
    assert_int_equal(cb_buf_adds(&want, ", created_at, updated_at"), CB_OK);
    const char *cols = cb_record_columns(&cb_table_participants);
    assert_string_equal(cols, cb_buf_str(&want));
    assert_memory_equal(cols,
                        "id, given_name, family_name, date_of_birth, nhs_number, "
                        "postcode, team",
                        strlen("id, given_name, family_name, date_of_birth, nhs_number, "
                               "postcode, team"));
    assert_ptr_equal(cb_record_columns(&cb_table_participants), cols); /* cached */
    assert_ptr_not_equal(cb_record_columns(&cb_table_encounters), cols);
    cb_buf_free(&want);
}

/* ------------------------------------------------------------------------ */
/* Participant validation                                                    */
/* ------------------------------------------------------------------------ */

static void test_minimal_participant_valid(void **state)
{
    (void)state;
    json_t *in = J("{\"given_name\": \"  Ada \", \"family_name\": \"Lovelace\\t\","
                   " \"date_of_birth\": \"1985-12-10\", \"team\": \"prestwich\"}");
    json_t *out = validated_participant(in, 1);
    assert_string_equal(json_string_value(json_object_get(out, "given_name")), "Ada");
    assert_string_equal(json_string_value(json_object_get(out, "family_name")), "Lovelace");
    assert_string_equal(json_string_value(json_object_get(out, "date_of_birth")), "1985-12-10");
    assert_string_equal(json_string_value(json_object_get(out, "team")), "prestwich");
    assert_null(json_object_get(out, "nhs_number"));
    assert_null(json_object_get(out, "postcode"));
    /* Fields with a declared default get it on create. */
    for (size_t i = 0; i < cb_table_participants.nfields; i++) {
        const struct cb_field *f = &cb_table_participants.fields[i];
        if (f->def) {
            assert_string_equal(json_string_value(json_object_get(out, f->name)), f->def);
        }
    }
    json_decref(out);
}

static void test_required_fields(void **state)
{
    (void)state;
    static const char *const req[] = {"given_name", "family_name", "date_of_birth", "team"};
    for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
        /* absent on create */
        expect_field_error(&cb_table_participants, minimal_with(req[i], NULL), 1, cbu.conn, req[i],
                           "required");
        /* null on create and on update */
        expect_field_error(&cb_table_participants, minimal_with(req[i], "null"), 1, cbu.conn,
                           req[i], "required");
        json_t *upd = json_object();
        json_object_set_new(upd, req[i], json_null());
        expect_field_error(&cb_table_participants, upd, 0, cbu.conn, req[i], "required");
    }
    /* blank names */
    expect_field_error(&cb_table_participants, minimal_with("given_name", "\"\""), 1, cbu.conn,
                       "given_name", NULL);
    expect_field_error(&cb_table_participants, minimal_with("family_name", "\"  \\t \""), 1,
                       cbu.conn, "family_name", NULL);
    /* absent required fields are fine on update (partial update) */
    json_t *out = validated_participant(J("{\"family_name\": \"Byron\"}"), 0);
    assert_int_equal(json_object_size(out), 1);
    json_decref(out);
}

static void test_unknown_and_reserved_keys(void **state)
{
    (void)state;
    expect_field_error(&cb_table_participants, minimal_with("favourite_colour", "\"blue\""), 1,
                       cbu.conn, "favourite_colour", NULL);
    expect_field_error(&cb_table_participants, minimal_with("Given_Name", "\"Ada\""), 1, cbu.conn,
                       "Given_Name", NULL);
    static const char *const reserved[] = {"created_at", "updated_at", "created_by", "deleted"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        expect_field_error(&cb_table_participants, minimal_with(reserved[i], "\"x\""), 1, cbu.conn,
                           reserved[i], NULL);
        json_t *upd = json_object();
        json_object_set_new(upd, reserved[i], json_string("x"));
        expect_field_error(&cb_table_participants, upd, 0, cbu.conn, reserved[i], NULL);
    }
    /* id passes only on create */
    expect_field_error(&cb_table_participants,
                       J("{\"id\": \"01890a5d-ac96-774b-bcce-b302099a8057\"}"), 0, cbu.conn, "id",
                       NULL);
}

static void test_server_only_fields_refused(void **state)
{
    (void)state;
    int tested = 0;
    for (size_t i = 0; i < cb_table_participants.nfields; i++) {
        const struct cb_field *f = &cb_table_participants.fields[i];
        if (f->flags & CB_FF_SERVER) {
            expect_field_error(&cb_table_participants,
                               minimal_with(f->name, "\"01890a5d-ac96-774b-bcce-b302099a8057\""), 1,
                               cbu.conn, f->name, "server");
            tested++;
        }
    }
    for (size_t i = 0; i < cb_table_encounters.nfields; i++) {
        const struct cb_field *f = &cb_table_encounters.fields[i];
        if (f->flags & CB_FF_SERVER) {
            json_t *in = json_object();
            json_object_set_new(in, f->name, json_string("prestwich"));
            expect_field_error(&cb_table_encounters, in, 1, NULL, f->name, "server");
            in = json_object();
            json_object_set_new(in, f->name, json_null()); /* even null */
            expect_field_error(&cb_table_encounters, in, 0, NULL, f->name, "server");
            tested++;
        }
    }
    assert_true(tested >= 2); /* encounters.coach and encounters.team at least */
}

static void test_immutable_on_update(void **state)
{
    (void)state;
    const struct cb_field *f = cb_table_field(&cb_table_encounters, "participant_id");
    assert_non_null(f);
    assert_true(f->flags & CB_FF_IMMUTABLE);
    const char *uuid = "\"01890a5d-ac96-774b-bcce-b302099a8057\"";
    char text[200];
    snprintf(text, sizeof(text), "{\"participant_id\": %s}", uuid);
    expect_field_error(&cb_table_encounters, J(text), 0, NULL, "participant_id", "changed");
    /* Accepted on create (no connection: existence not checked). */
    snprintf(text, sizeof(text),
             "{\"participant_id\": %s, \"type\": \"phone\", "
             "\"occurred_at\": \"2026-01-05T10:00:00Z\"}",
             uuid);
    struct cb_field_error fe;
    json_t *out;
    assert_int_equal(validate(&cb_table_encounters, J(text), 1, 0, NULL, &out, &fe), CB_OK);
    json_decref(out);
}

static void test_null_clears_optional_on_update(void **state)
{
    (void)state;
    json_t *out = validated_participant(J("{\"postcode\": null, \"nhs_number\": null}"), 0);
    assert_int_equal(json_object_size(out), 2);
    assert_true(json_is_null(json_object_get(out, "postcode")));
    assert_true(json_is_null(json_object_get(out, "nhs_number")));
    json_decref(out);
    /* On create a null optional field is simply left out. */
    json_t *in = minimal_with("postcode", "null");
    out = validated_participant(in, 1);
    assert_null(json_object_get(out, "postcode"));
    json_decref(out);
}

static void test_team_must_exist_with_connection(void **state)
{
    (void)state;
    expect_field_error(&cb_table_participants, minimal_with("team", "\"atlantis\""), 1, cbu.conn,
                       "team", "atlantis");
    json_t *upd = J("{\"team\": \"atlantis\"}");
    expect_field_error(&cb_table_participants, upd, 0, cbu.conn, "team", NULL);
    expect_field_error(&cb_table_participants, minimal_with("team", "\"\""), 1, cbu.conn, "team",
                       NULL);
    expect_field_error(&cb_table_participants, minimal_with("team", "7"), 1, cbu.conn, "team",
                       NULL);
    /* Without a connection only the shape is checked. */
    struct cb_field_error fe;
    json_t *out;
    assert_int_equal(validate(&cb_table_participants, minimal_with("team", "\"atlantis\""), 1, 0,
                              NULL, &out, &fe),
                     CB_OK);
    json_decref(out);
    /* A deleted (tombstoned) team does not count. */
    assert_int_equal(cb_conn_exec(cbu.conn,
                                  "INSERT INTO teams(id, name, created_at, updated_at, "
                                  "deleted) VALUES ('closed-team', 'Closed', 'x', 'x', 1)"),
                     CB_OK);
    expect_field_error(&cb_table_participants, minimal_with("team", "\"closed-team\""), 1, cbu.conn,
                       "team", NULL);
    /* Every seeded team is accepted. */
    static const char *const teams[] = {"\"prestwich\"", "\"whitefield\"", "\"radcliffe\"",
                                        "\"bury-town\"", "\"ramsbottom-tottington\""};
    for (size_t i = 0; i < 5; i++) {
        out = validated_participant(minimal_with("team", teams[i]), 1);
        json_decref(out);
    }
}

static void test_canonical_nhs_and_postcode(void **state)
{
    (void)state;
    json_t *in = J(MINIMAL);
    json_object_set_new(in, "nhs_number", json_string("943 476 5919"));
    json_object_set_new(in, "postcode", json_string("bl90ej"));
    json_t *out = validated_participant(in, 1);
    assert_string_equal(json_string_value(json_object_get(out, "nhs_number")), "9434765919");
    assert_string_equal(json_string_value(json_object_get(out, "postcode")), "BL9 0EJ");
    json_decref(out);

    out = validated_participant(J("{\"postcode\": \"sw1a1aa\"}"), 0);
    assert_string_equal(json_string_value(json_object_get(out, "postcode")), "SW1A 1AA");
    json_decref(out);

    expect_field_error(&cb_table_participants, minimal_with("nhs_number", "\"9434765918\""), 1,
                       cbu.conn, "nhs_number", NULL);
    expect_field_error(&cb_table_participants, minimal_with("nhs_number", "9434765919"), 1,
                       cbu.conn, "nhs_number", NULL); /* a number, not a string */
    expect_field_error(&cb_table_participants, minimal_with("postcode", "\"BL9\""), 1, cbu.conn,
                       "postcode", NULL);
    /* 999 test numbers only with allow_test_nhs */
    expect_field_error(&cb_table_participants, minimal_with("nhs_number", "\"9990000018\""), 1,
                       cbu.conn, "nhs_number", NULL);
    struct cb_field_error fe;
    assert_int_equal(validate(&cb_table_participants,
                              minimal_with("nhs_number", "\"999 000 0018\""), 1, 1, cbu.conn, &out,
                              &fe),
                     CB_OK);
    assert_string_equal(json_string_value(json_object_get(out, "nhs_number")), "9990000018");
    json_decref(out);
}

static void test_date_of_birth_rules(void **state)
{
    (void)state;
    char today[CB_DATE_STRLEN], tomorrow[CB_DATE_STRLEN], v[32];
    date_offset(0, today);
    date_offset(1, tomorrow);
    snprintf(v, sizeof(v), "\"%s\"", tomorrow);
    expect_field_error(&cb_table_participants, minimal_with("date_of_birth", v), 1, cbu.conn,
                       "date_of_birth", "future");
    snprintf(v, sizeof(v), "\"%d-01-01\"", (int)strtol(today, NULL, 10) + 1);
    expect_field_error(&cb_table_participants, minimal_with("date_of_birth", v), 1, cbu.conn,
                       "date_of_birth", "future");
    expect_field_error(&cb_table_participants, minimal_with("date_of_birth", "\"1899-12-31\""), 1,
                       cbu.conn, "date_of_birth", "1900");
    expect_field_error(&cb_table_participants, minimal_with("date_of_birth", "\"1066-10-14\""), 1,
                       cbu.conn, "date_of_birth", "1900");
    static const char *const bad[] = {"\"1985-02-30\"", "\"10/12/1985\"", "\"1985-12-10T00:00Z\"",
                                      "\"\"",           "19851210",       "true"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_field_error(&cb_table_participants, minimal_with("date_of_birth", bad[i]), 1,
                           cbu.conn, "date_of_birth", NULL);
    }
    /* boundaries that are fine */
    json_t *out = validated_participant(minimal_with("date_of_birth", "\"1900-01-01\""), 1);
    json_decref(out);
    snprintf(v, sizeof(v), "\"%s\"", today);
    out = validated_participant(minimal_with("date_of_birth", v), 1);
    json_decref(out);
    out = validated_participant(minimal_with("date_of_birth", "\"2000-02-29\""), 1);
    json_decref(out);
}

static void test_text_length_and_content(void **state)
{
    (void)state;
    char name[1024], v[1100];
    /* 100 characters is the limit ... */
    memset(name, 'a', 100);
    name[100] = '\0';
    snprintf(v, sizeof(v), "\"%s\"", name);
    json_t *out = validated_participant(minimal_with("given_name", v), 1);
    json_decref(out);
    /* ... 101 is refused ... */
    memset(name, 'a', 101);
    name[101] = '\0';
    snprintf(v, sizeof(v), "\"%s\"", name);
    expect_field_error(&cb_table_participants, minimal_with("given_name", v), 1, cbu.conn,
                       "given_name", "100");
    /* ... counted in characters, not bytes: 100 x U+00E9 is 200 bytes. */
    for (int i = 0; i < 100; i++) {
        name[2 * i] = '\xc3';
        name[2 * i + 1] = '\xa9';
    }
    name[200] = '\0';
    json_t *in = J(MINIMAL);
    json_object_set_new(in, "family_name", json_string(name));
    out = validated_participant(in, 1);
    assert_string_equal(json_string_value(json_object_get(out, "family_name")), name);
    json_decref(out);
    name[200] = '\xc3';
    name[201] = '\xa9';
    name[202] = '\0';
    in = J(MINIMAL);
    json_object_set_new(in, "family_name", json_string(name));
    expect_field_error(&cb_table_participants, in, 1, cbu.conn, "family_name", NULL);
    /* Surrounding white space does not count towards the limit. */
    memset(name, 'b', 100);
    name[100] = '\0';
    snprintf(v, sizeof(v), "\"   %s  \"", name);
    out = validated_participant(minimal_with("given_name", v), 1);
    assert_int_equal(strlen(json_string_value(json_object_get(out, "given_name"))), 100);
    json_decref(out);
    /* Names are single-line, without control characters, and text. */
    expect_field_error(&cb_table_participants, minimal_with("given_name", "\"A\\nB\""), 1, cbu.conn,
                       "given_name", NULL);
    expect_field_error(&cb_table_participants, minimal_with("given_name", "\"A\\u0007B\""), 1,
                       cbu.conn, "given_name", NULL);
    expect_field_error(&cb_table_participants, minimal_with("given_name", "42"), 1, cbu.conn,
                       "given_name", "text");
    expect_field_error(&cb_table_participants, minimal_with("given_name", "[\"Ada\"]"), 1, cbu.conn,
                       "given_name", NULL);
}

static void test_client_id_on_create(void **state)
{
    (void)state;
    json_t *out =
        validated_participant(minimal_with("id", "\"01890a5d-ac96-774b-bcce-b302099a8057\""), 1);
    assert_string_equal(json_string_value(json_object_get(out, "id")),
                        "01890a5d-ac96-774b-bcce-b302099a8057");
    json_decref(out);
    expect_field_error(&cb_table_participants, minimal_with("id", "\"not-a-uuid\""), 1, cbu.conn,
                       "id", NULL);
    expect_field_error(&cb_table_participants, minimal_with("id", "12"), 1, cbu.conn, "id", NULL);
}

/* ------------------------------------------------------------------------ */
/* Encounter validation (TIME, ENUM, REF)                                    */
/* ------------------------------------------------------------------------ */

static void test_encounter_fields(void **state)
{
    (void)state;
    struct cb_field_error fe;
    json_t *out;
    const char *pid = "01890a5d-ac96-774b-bcce-b302099a8057";
    json_t *in = json_pack("{s:s, s:s, s:s}", "participant_id", pid, "type", "one_to_one",
                           "occurred_at", "2026-03-29T10:30:00+01:00");
    assert_int_equal(validate(&cb_table_encounters, in, 1, 0, NULL, &out, &fe), CB_OK);
    assert_string_equal(json_string_value(json_object_get(out, "occurred_at")),
                        "2026-03-29T09:30:00.000Z");
    json_decref(out);

    char future[CB_TIME_STRLEN];
    cb_time_format(cb_now_ms() + 86400000LL, future);
    in =
        json_pack("{s:s, s:s, s:s}", "participant_id", pid, "type", "phone", "occurred_at", future);
    expect_field_error(&cb_table_encounters, in, 1, NULL, "occurred_at", "future");
    in = json_pack("{s:s, s:s, s:s}", "participant_id", pid, "type", "phone", "occurred_at",
                   "2026-03-29T10:30:00");
    expect_field_error(&cb_table_encounters, in, 1, NULL, "occurred_at", NULL);
    in = json_pack("{s:s, s:s, s:s}", "participant_id", pid, "type", "phone", "occurred_at",
                   "1899-12-31T23:59:59Z");
    expect_field_error(&cb_table_encounters, in, 1, NULL, "occurred_at", "1900");
    in = json_pack("{s:s, s:s, s:s}", "participant_id", pid, "type", "telepathy", "occurred_at",
                   "2026-03-29T10:30:00Z");
    expect_field_error(&cb_table_encounters, in, 1, NULL, "type", NULL);
    in = json_pack("{s:s, s:s, s:s}", "participant_id", "p-1", "type", "phone", "occurred_at",
                   "2026-03-29T10:30:00Z");
    expect_field_error(&cb_table_encounters, in, 1, NULL, "participant_id", NULL);
    /* With a connection the referenced participant must exist. */
    in = json_pack("{s:s, s:s, s:s}", "participant_id", pid, "type", "phone", "occurred_at",
                   "2026-03-29T10:30:00Z");
    expect_field_error(&cb_table_encounters, in, 1, cbu.conn, "participant_id", NULL);
}

/* ------------------------------------------------------------------------ */
/* SQL round trip                                                            */
/* ------------------------------------------------------------------------ */

static void insert_participant(const char *id, json_t *vals, const char *now, const char *actor)
{
    assert_int_equal(cb_conn_begin(cbu.conn), CB_OK);
    int rc = cb_record_insert(cbu.conn, &cb_table_participants, id, vals, now, actor);
    if (rc) {
        cb_conn_rollback(cbu.conn);
        fail_msg("insert failed: %d", rc);
    }
    assert_int_equal(cb_conn_commit(cbu.conn), CB_OK);
}

static void test_insert_update_get_round_trip(void **state)
{
    (void)state;
    char id[CB_UUID_STRLEN], now1[CB_TIME_STRLEN], now2[CB_TIME_STRLEN];
    assert_int_equal(cb_uuid7(id), CB_OK);
    json_t *in = J(MINIMAL);
    json_object_set_new(in, "nhs_number", json_string("943 476 5919"));
    json_object_set_new(in, "postcode", json_string("m25 1ax"));
    json_object_set_new(in, "given_name", json_string("Zo\xc3\xab"));
    json_t *vals = validated_participant(in, 1);
    cb_time_format(cb_now_ms(), now1);
    insert_participant(id, vals, now1, "actor-1");

    json_t *got = NULL;
    assert_int_equal(cb_record_get(cbu.conn, &cb_table_participants, id, &got), CB_OK);
    assert_non_null(got);
    assert_string_equal(json_string_value(json_object_get(got, "id")), id);
    assert_string_equal(json_string_value(json_object_get(got, "given_name")), "Zo\xc3\xab");
    assert_string_equal(json_string_value(json_object_get(got, "family_name")), "Lovelace");
    assert_string_equal(json_string_value(json_object_get(got, "date_of_birth")), "1985-12-10");
    assert_string_equal(json_string_value(json_object_get(got, "nhs_number")), "9434765919");
    assert_string_equal(json_string_value(json_object_get(got, "postcode")), "M25 1AX");
    assert_string_equal(json_string_value(json_object_get(got, "team")), "prestwich");
    assert_string_equal(json_string_value(json_object_get(got, "created_at")), now1);
    assert_string_equal(json_string_value(json_object_get(got, "updated_at")), now1);
    /* Every validated value comes back as it went in; every field is present. */
    const char *key;
    json_t *v;
    json_object_foreach(vals, key, v)
    {
        if (!json_equal(v, json_object_get(got, key))) {
            fail_msg("field %s did not round-trip", key);
        }
    }
    for (size_t i = 0; i < cb_table_participants.nfields; i++) {
        assert_non_null(json_object_get(got, cb_table_participants.fields[i].name));
    }
    assert_null(json_object_get(got, "deleted"));
    assert_null(json_object_get(got, "created_by"));
    json_decref(got);
    json_decref(vals);

    sqlite3_stmt *st;
    assert_int_equal(
        cb_conn_prepare(cbu.conn, "SELECT created_by FROM participants WHERE id = ?1", &st), CB_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "actor-1");
    cb_stmt_done(st);

    /* Update: change one field, clear another, leave the rest. */
    vals = validated_participant(J("{\"family_name\": \"Byron\", \"postcode\": null}"), 0);
    cb_time_format(cb_now_ms() + 1000, now2);
    assert_int_equal(cb_conn_begin(cbu.conn), CB_OK);
    assert_int_equal(cb_record_update(cbu.conn, &cb_table_participants, id, vals, now2), CB_OK);
    assert_int_equal(cb_conn_commit(cbu.conn), CB_OK);
    json_decref(vals);
    assert_int_equal(cb_record_get(cbu.conn, &cb_table_participants, id, &got), CB_OK);
    assert_string_equal(json_string_value(json_object_get(got, "family_name")), "Byron");
    assert_true(json_is_null(json_object_get(got, "postcode")));
    assert_string_equal(json_string_value(json_object_get(got, "nhs_number")), "9434765919");
    assert_string_equal(json_string_value(json_object_get(got, "given_name")), "Zo\xc3\xab");
    assert_string_equal(json_string_value(json_object_get(got, "created_at")), now1);
    assert_string_equal(json_string_value(json_object_get(got, "updated_at")), now2);
    json_decref(got);
}

static void test_insert_get_update_errors(void **state)
{
    (void)state;
    char id[CB_UUID_STRLEN], other[CB_UUID_STRLEN], now[CB_TIME_STRLEN], sql[200];
    assert_int_equal(cb_uuid7(id), CB_OK);
    assert_int_equal(cb_uuid7(other), CB_OK);
    cb_time_format(cb_now_ms(), now);
    json_t *vals = validated_participant(J(MINIMAL), 1);
    insert_participant(id, vals, now, NULL);

    /* Same id again: conflict, and the transaction can be rolled back cleanly. */
    assert_int_equal(cb_conn_begin(cbu.conn), CB_OK);
    assert_int_equal(cb_record_insert(cbu.conn, &cb_table_participants, id, vals, now, NULL),
                     CB_ECONFLICT);
    cb_conn_rollback(cbu.conn);
    json_decref(vals);

    json_t *got = NULL;
    assert_int_equal(cb_record_get(cbu.conn, &cb_table_participants, other, &got), CB_ENOTFOUND);
    assert_null(got);
    vals = validated_participant(J("{\"family_name\": \"Nobody\"}"), 0);
    assert_int_equal(cb_conn_begin(cbu.conn), CB_OK);
    assert_int_equal(cb_record_update(cbu.conn, &cb_table_participants, other, vals, now),
                     CB_ENOTFOUND);
    cb_conn_rollback(cbu.conn);

    /* A tombstoned row is neither readable nor updatable. */
    snprintf(sql, sizeof(sql), "UPDATE participants SET deleted = 1 WHERE id = '%s'", id);
    assert_int_equal(cb_conn_exec(cbu.conn, sql), CB_OK);
    assert_int_equal(cb_record_get(cbu.conn, &cb_table_participants, id, &got), CB_ENOTFOUND);
    assert_int_equal(cb_conn_begin(cbu.conn), CB_OK);
    assert_int_equal(cb_record_update(cbu.conn, &cb_table_participants, id, vals, now),
                     CB_ENOTFOUND);
    cb_conn_rollback(cbu.conn);
    json_decref(vals);
}

static void test_rolled_back_insert_leaves_nothing(void **state)
{
    (void)state;
    char id[CB_UUID_STRLEN], now[CB_TIME_STRLEN];
    assert_int_equal(cb_uuid7(id), CB_OK);
    cb_time_format(cb_now_ms(), now);
    json_t *vals = validated_participant(J(MINIMAL), 1);
    assert_int_equal(cb_conn_begin(cbu.conn), CB_OK);
    assert_int_equal(cb_record_insert(cbu.conn, &cb_table_participants, id, vals, now, NULL),
                     CB_OK);
    cb_conn_rollback(cbu.conn);
    json_decref(vals);
    json_t *got = NULL;
    assert_int_equal(cb_record_get(cbu.conn, &cb_table_participants, id, &got), CB_ENOTFOUND);
}

/* Text of one column of measure id on c. */
static void measure_text(struct cb_conn *c, const char *sql, const char *id, char *out, size_t len)
{
    sqlite3_stmt *st;
    assert_int_equal(cb_conn_prepare(c, sql, &st), CB_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    cb_stmt_done(st);
}

/* The texts a sync apply is handed for JSON-typed values (made before the
 * apply, on another thread): exactly cb_json_dump's, for those columns only,
 * none for a null, and none for a value past the scratch buffer's cap. */
static void test_dump_json_fields(void **state)
{
    (void)state;
    struct cb_buf scratch;
    cb_buf_init(&scratch, 4096);
    json_t *fields =
        J("{\"participant_id\": \"p-x\", \"type\": \"phone\", \"topics\": [\"diet\", "
          "\"smoking\"], \"notes\": \"caf\u00e9 \\\"q\\\"\", \"duration_minutes\": 20, "
          "\"follow_up\": null}");
    json_t *out = NULL;
    assert_int_equal(cb_record_dump_json_fields(&cb_table_encounters, fields, &scratch, &out),
                     CB_OK);
    assert_non_null(out);
    assert_int_equal(json_object_size(out), 1); /* topics only: the JSON-typed value */
    char *want = cb_json_dump(json_object_get(fields, "topics"));
    assert_string_equal(json_string_value(json_object_get(out, "topics")), want);
    free(want);
    json_decref(out);

    json_t *m = J("{\"instrument\": \"bmi\", \"responses\": {\"weight_kg\": 80.5, "
                  "\"note\": \"\u00fc\\n\", \"list\": [1, true, null]}, \"result\": null}");
    assert_int_equal(cb_record_dump_json_fields(&cb_table_measures, m, &scratch, &out), CB_OK);
    assert_int_equal(json_object_size(out), 1); /* a null result has no text */
    want = cb_json_dump(json_object_get(m, "responses"));
    assert_string_equal(json_string_value(json_object_get(out, "responses")), want);
    free(want);
    json_decref(out);

    /* No JSON-typed value: no map. */
    json_t *plain = J("{\"type\": \"phone\"}");
    assert_int_equal(cb_record_dump_json_fields(&cb_table_encounters, plain, &scratch, &out),
                     CB_OK);
    assert_null(out);

    /* Past the cap: left out (the apply dumps it itself). */
    struct cb_buf small;
    cb_buf_init(&small, 8);
    assert_int_equal(cb_record_dump_json_fields(&cb_table_measures, m, &small, &out), CB_OK);
    assert_null(out);
    cb_buf_free(&small);
    cb_buf_free(&scratch);
    json_decref(fields);
    json_decref(m);
    json_decref(plain);
}

/* The sync apply binds a JSON-typed value's given text (made on another thread)
 * instead of dumping the value; without it, the dump.  A new row's row-wide
 * version is written as the JSON path writes it. */
static void test_apply_dumped_and_row_version(void **state)
{
    (void)state;
    struct cb_conn *c;
    char text[256], now[CB_TIME_STRLEN];
    assert_int_equal(cb_store_sync_conn(cbu.store, &c), CB_OK);
    cb_time_format(cb_now_ms(), now);
    json_t *fields = J("{\"participant_id\": \"p-x\", \"instrument\": \"bmi\", \"timepoint\": "
                       "\"baseline\", \"taken_at\": \"2026-01-01T00:00:00.000Z\", \"responses\": "
                       "{\"weight_kg\": 80, \"height_cm\": 170}, \"rule_version\": \"r1\", "
                       "\"complete\": 1, \"team\": \"prestwich\", \"created_at\": "
                       "\"2026-01-01T00:00:00.000Z\"}");
    json_t *dumped = json_pack("{s:s}", "responses", "{\"given\":1}");
    int existed = -1;
    assert_int_equal(cb_conn_begin(c), CB_OK);
    assert_int_equal(
        cb_record_apply_dumped(c, &cb_table_measures, "m-dumped", fields, dumped, now, 1, &existed),
        CB_OK);
    assert_int_equal(existed, 0);
    measure_text(c, "SELECT responses FROM measures WHERE id = ?1", "m-dumped", text, sizeof(text));
    assert_string_equal(text, "{\"given\":1}");
    existed = 0;
    assert_int_equal(
        cb_record_apply_dumped(c, &cb_table_measures, "m-plain", fields, NULL, now, 0, &existed),
        CB_OK);
    char *want = cb_json_dump(json_object_get(fields, "responses"));
    measure_text(c, "SELECT responses FROM measures WHERE id = ?1", "m-plain", text, sizeof(text));
    assert_string_equal(text, want);
    free(want);

    /* Row-wide version: the same text both ways, HLCs past 2^63 and the extremes of
     * both integers included. */
    const char *site = "01a219d9-466f-7714-a4dc-d8582e080b66";
    const struct {
        int64_t seq;
        uint64_t hlc;
    } stamps[] = {
        {42, 0x8123456789abcdefULL},        {0, 0},          {1, 1},
        {INT64_MAX, 0x8000000000000000ULL}, {9, UINT64_MAX}, {1000000007, 0x7fffffffffffffffULL},
        {10, 117687690545266690ULL}};
    for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++) {
        json_t *versions = json_object();
        assert_int_equal(cb_capture_stamp(versions, fields, stamps[i].seq, stamps[i].hlc, site),
                         CB_OK);
        assert_int_equal(cb_capture_set_versions(c, "measures", "m-plain", versions), CB_OK);
        assert_int_equal(cb_capture_set_row_version(c, "measures", "m-dumped", stamps[i].seq,
                                                    stamps[i].hlc, site),
                         CB_OK);
        char a[256], b[256];
        measure_text(c, "SELECT versions FROM row_meta WHERE tbl = 'measures' AND row_id = ?1",
                     "m-plain", a, sizeof(a));
        measure_text(c, "SELECT versions FROM row_meta WHERE tbl = 'measures' AND row_id = ?1",
                     "m-dumped", b, sizeof(b));
        assert_string_equal(a, b);
        json_decref(versions);
    }
    char longsite[300];
    memset(longsite, 'a', sizeof(longsite) - 1);
    longsite[sizeof(longsite) - 1] = '\0';
    assert_int_equal(cb_capture_set_row_version(c, "measures", "m-x", 1, 1, longsite), CB_EINVAL);
    assert_int_equal(cb_capture_set_row_version(c, "measures", "m-x", 1, 1, "a\"b"), CB_EINVAL);
    cb_conn_rollback(c);
    json_decref(dumped);
    json_decref(fields);
}

/* An attendance row as a sync change carries it whole: every declared field,
 * created_at, created_by and deleted. */
static json_t *whole_attendance(const char *status)
{
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "participant_id",
                          "p-whole", "session_id", "s-whole", "programme_id", "g-whole", "status",
                          status, "recorded_by", "u-whole", "team", "prestwich", "created_at",
                          "2026-01-01T00:00:00.000Z", "created_by", "u-whole", "deleted", 0);
    assert_non_null(f);
    assert_int_equal(json_object_size(f), cb_table_attendance.nfields + 3);
    return f;
}

/* Text of column col of attendance row id (the caller's buffer), or "-" if absent. */
static void attendance_col(struct cb_conn *c, const char *col, const char *id, char *out,
                           size_t len)
{
    char sql[128];
    sqlite3_stmt *st;
    snprintf(sql, sizeof(sql), "SELECT %s FROM attendance WHERE id = ?1", col);
    assert_int_equal(cb_conn_prepare(c, sql, &st), CB_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    snprintf(out, len, "%s", s == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "-");
    cb_stmt_done(st);
}

/* Apply fields to attendance row id through the sync path; check the result,
 * whether the row was there (want_existed, when rc is CB_OK) and its status
 * afterwards ("-": no such row). */
static void apply_attendance(struct cb_conn *c, const char *id, const json_t *fields,
                             const char *now, int want_rc, int want_existed,
                             const char *want_status)
{
    char text[64];
    int existed = -1;
    assert_int_equal(
        cb_record_apply_dumped(c, &cb_table_attendance, id, fields, NULL, now, 1, &existed),
        want_rc);
    if (want_rc == CB_OK) {
        assert_int_equal(existed, want_existed);
    }
    attendance_col(c, "status", id, text, sizeof(text));
    assert_string_equal(text, want_status);
}

/*
 * A whole row is applied without a probe (an INSERT that does nothing when the
 * id is there, then an UPDATE): a new row is inserted; the same id again is
 * updated in place, not refused for its own entry in a second unique index
 * (attendance_unique); another id clashing on that index is still a conflict;
 * a partial change of a row that is there is an update as before.
 */
static void test_apply_whole_row(void **state)
{
    (void)state;
    struct cb_conn *c;
    char now[CB_TIME_STRLEN];
    assert_int_equal(cb_store_sync_conn(cbu.store, &c), CB_OK);
    cb_time_format(cb_now_ms(), now);
    json_t *first = whole_attendance("attended"), *again = whole_attendance("did_not_attend");
    json_t *part = json_pack("{s:s}", "status", "cancelled");
    assert_int_equal(cb_conn_begin(c), CB_OK);
    apply_attendance(c, "a-whole", first, now, CB_OK, 0, "attended");
    apply_attendance(c, "a-whole", again, now, CB_OK, 1, "did_not_attend");
    apply_attendance(c, "a-other", first, now, CB_ECONFLICT, 0, "-");
    apply_attendance(c, "a-whole", part, now, CB_OK, 1, "cancelled");
    sqlite3_stmt *st;
    assert_int_equal(
        cb_conn_prepare(c, "SELECT count(*) FROM attendance WHERE session_id = 's-whole'", &st),
        CB_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    cb_stmt_done(st);
    cb_conn_rollback(c);
    json_decref(part);
    json_decref(again);
    json_decref(first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_lookup_and_columns),
        cmocka_unit_test(test_apply_dumped_and_row_version),
        cmocka_unit_test(test_apply_whole_row),
        cmocka_unit_test(test_minimal_participant_valid),
        cmocka_unit_test(test_required_fields),
        cmocka_unit_test(test_unknown_and_reserved_keys),
        cmocka_unit_test(test_server_only_fields_refused),
        cmocka_unit_test(test_immutable_on_update),
        cmocka_unit_test(test_null_clears_optional_on_update),
        cmocka_unit_test(test_team_must_exist_with_connection),
        cmocka_unit_test(test_canonical_nhs_and_postcode),
        cmocka_unit_test(test_date_of_birth_rules),
        cmocka_unit_test(test_text_length_and_content),
        cmocka_unit_test(test_client_id_on_create),
        cmocka_unit_test(test_encounter_fields),
        cmocka_unit_test(test_insert_update_get_round_trip),
        cmocka_unit_test(test_insert_get_update_errors),
        cmocka_unit_test(test_rolled_back_insert_leaves_nothing),
        cmocka_unit_test(test_dump_json_fields),
    };
    return cmocka_run_group_tests(tests, cbu_store_setup, cbu_teardown);
}
