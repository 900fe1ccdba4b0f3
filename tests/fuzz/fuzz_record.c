/*
 * fuzz_record.c - JSON request bodies and record validation.
 *
 * Input: one selector byte, then a request body.  The selector picks the
 * record table (cb_table_at), create or update, and whether 999 test NHS
 * numbers are allowed.  The body goes through exactly what a handler does
 * with it: cb_json_parse_object (strict: duplicate keys, non-objects refused),
 * cb_json_only_keys against the table's fields, then cb_record_validate with
 * no connection (references are checked for shape only).
 *
 * Invariants checked beyond "no crash, no leak, no UB":
 *   - every failure names its field and message as NUL-terminated text, and
 *     validation fails only with CB_EINVAL / CB_ENOMEM;
 *   - the canonical output is a fixed point: validating it again (update
 *     mode) succeeds and gives the same values, so a stored value can always
 *     be read back, edited and synced without changing;
 *   - the output holds only the table's own fields (and "id" on create),
 *     never a server-only field.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "coachbox/json.h"
#include "coachbox/record.h"
#include "fuzz_common.h"

static void check_fe(const struct cb_field_error *fe)
{
    FUZZ_CHECK(memchr(fe->field, '\0', sizeof(fe->field)) != NULL, "field not terminated");
    FUZZ_CHECK(memchr(fe->message, '\0', sizeof(fe->message)) != NULL, "message not terminated");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    unsigned sel = data[0];
    const struct cb_table *t = cb_table_at((sel & 0x1fu) % cb_table_count());
    struct cb_validate_opts opts = {(sel >> 5) & 1u, (sel >> 6) & 1u};
    struct cb_field_error fe;
    memset(&fe, 0x5a, sizeof(fe)); /* catch an unterminated copy */
    fe.field[0] = fe.message[0] = '\0';
    json_t *in = NULL;
    int rc = cb_json_parse_object((const char *)data + 1, size - 1, &in, &fe);
    if (rc) {
        FUZZ_CHECK(rc == CB_EPARSE, "parse returned %d", rc);
        check_fe(&fe);
        FUZZ_CHECK(strncmp(fe.message, "malformed JSON", 14) == 0 ||
                       strstr(fe.message, "JSON object") != NULL,
                   "unexpected parse message %s", fe.message);
        return 0;
    }
    FUZZ_CHECK(json_is_object(in), "parse gave a non-object");

    /* The allowed keys a handler would pass: the table's fields, plus id. */
    const char *allowed[80];
    size_t na = 0;
    for (size_t i = 0; i < t->nfields && na + 2 < sizeof(allowed) / sizeof(allowed[0]); i++) {
        allowed[na++] = t->fields[i].name;
    }
    allowed[na++] = "id";
    allowed[na] = NULL;
    rc = cb_json_only_keys(in, allowed, &fe);
    if (rc) {
        FUZZ_CHECK(rc == CB_EINVAL, "only_keys returned %d", rc);
        check_fe(&fe);
        FUZZ_CHECK(strlen(fe.field) + 1 >= sizeof(fe.field) || json_object_get(in, fe.field),
                   "only_keys named a key not in the body");
    }

    json_t *out = NULL;
    memset(&fe, 0, sizeof(fe));
    rc = cb_record_validate(NULL, t, in, &opts, &out, &fe);
    if (rc) {
        FUZZ_CHECK(rc == CB_EINVAL || rc == CB_ENOMEM, "validate returned %d", rc);
        FUZZ_CHECK(out == NULL, "output set on failure");
        check_fe(&fe);
        /* (A body key "" is refused as unknown with an empty field name.) */
        FUZZ_CHECK(rc != CB_EINVAL || fe.field[0] != '\0' || json_object_get(in, ""),
                   "a validation failure names no field");
        FUZZ_CHECK(rc != CB_EINVAL || fe.message[0] != '\0', "a validation failure has no message");
        json_decref(in);
        return 0;
    }
    FUZZ_CHECK(json_is_object(out), "validate gave a non-object");
    const char *key;
    json_t *v;
    json_object_foreach(out, key, v)
    {
        const struct cb_field *f = cb_table_field(t, key);
        FUZZ_CHECK(f != NULL || (opts.creating && strcmp(key, "id") == 0),
                   "output has a key that is not a field of %s: %s", t->name, key);
        FUZZ_CHECK(f == NULL || !(f->flags & CB_FF_SERVER), "server-only field %s accepted", key);
    }
    /* Canonical values are a fixed point (id and immutable fields stay as on create). */
    json_t *again_in = json_deep_copy(out);
    struct cb_validate_opts o2 = opts;
    json_t *again = NULL;
    struct cb_field_error fe2 = {"", ""};
    rc = cb_record_validate(NULL, t, again_in, &o2, &again, &fe2);
    FUZZ_CHECK(rc == CB_OK, "canonical %s value does not validate again: %s %s", t->name, fe2.field,
               fe2.message);
    if (!json_equal(out, again)) {
        char *a = cb_json_dump(out), *b = cb_json_dump(again);
        FUZZ_CHECK(0, "canonicalisation of %s is not idempotent:\n  %s\n  %s", t->name, a ? a : "?",
                   b ? b : "?");
    }
    char *text = cb_json_dump(out);
    FUZZ_CHECK(text != NULL, "canonical output does not serialise");
    free(text);
    json_decref(again);
    json_decref(again_in);
    json_decref(out);
    json_decref(in);
    return 0;
}
