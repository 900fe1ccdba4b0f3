/*
 * fuzz_measures.c - outcome-measure scoring input (measures.h).
 *
 * Input: a selector byte (instrument index; an index past the list means the
 * instrument id is the body's first line, so unknown and odd ids are tried
 * too), a flags byte (CB_MEASURE_ALLOW_INCOMPLETE), then the responses as a
 * JSON object - what POST /api/measures passes to cb_measure_score after the
 * strict body parse.  The same bytes also go through
 * cb_measure_value_from_text, the CLI / form path.
 *
 * Invariants: a failure is CB_EINVAL naming a key (or CB_ENOMEM) with no
 * output; a success has the documented shape; and scoring is stable: the
 * normalised "raw" inputs of a result score to the same score, band,
 * completeness and flags.
 */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "coachbox/json.h"
#include "coachbox/measures.h"
#include "fuzz_common.h"

static void check_shape(const char *inst, const json_t *out)
{
    FUZZ_CHECK(json_is_object(out), "result is not an object");
    FUZZ_CHECK(json_is_string(json_object_get(out, "instrument")) &&
                   strcmp(json_string_value(json_object_get(out, "instrument")), inst) == 0,
               "instrument missing or different");
    FUZZ_CHECK(json_is_string(json_object_get(out, "rule_version")), "no rule_version");
    FUZZ_CHECK(json_is_boolean(json_object_get(out, "complete")), "no complete");
    json_t *score = json_object_get(out, "score");
    FUZZ_CHECK(score && (json_is_null(score) || json_is_number(score)), "score not number/null");
    FUZZ_CHECK(!json_is_real(score) || isfinite(json_real_value(score)), "score not finite");
    json_t *band = json_object_get(out, "band");
    FUZZ_CHECK(band && (json_is_null(band) || json_is_string(band)), "band not string/null");
    json_t *flags = json_object_get(out, "flags");
    FUZZ_CHECK(json_is_array(flags), "flags not an array");
    size_t i;
    json_t *f;
    json_array_foreach(flags, i, f)
    {
        FUZZ_CHECK(json_is_string(f), "a flag is not a string");
    }
    FUZZ_CHECK(json_is_object(json_object_get(out, "raw")), "raw not an object");
    if (!json_is_true(json_object_get(out, "complete"))) {
        FUZZ_CHECK(json_is_null(score), "an incomplete result has a score");
        FUZZ_CHECK(json_is_array(json_object_get(out, "missing")), "incomplete without missing");
    }
    char *text = cb_json_dump(out);
    FUZZ_CHECK(text != NULL, "result does not serialise");
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    const char *const *ids;
    size_t n;
    cb_measure_list(&ids, &n);
    unsigned flags = data[1] & 1u ? CB_MEASURE_ALLOW_INCOMPLETE : 0u;
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    char inst[80];
    if (data[0] < n) {
        snprintf(inst, sizeof(inst), "%s", ids[data[0]]);
    } else {
        const char *nl = memchr(body, '\n', len);
        size_t k = nl ? (size_t)(nl - body) : 0;
        if (k >= sizeof(inst) || memchr(body, '\0', k)) {
            return 0;
        }
        memcpy(inst, body, k);
        inst[k] = '\0';
        body += nl ? k + 1 : 0;
        len -= nl ? k + 1 : 0;
    }

    /* The CLI / form path: text to a JSON value. */
    {
        char text[256];
        size_t k = len < sizeof(text) - 1 ? len : sizeof(text) - 1;
        memcpy(text, body, k);
        text[k] = '\0';
        json_t *v = NULL;
        int vrc = cb_measure_value_from_text(text, &v);
        json_t *probe = json_string(text);
        /* Text that is not UTF-8 is refused: CB_EINVAL once finding F5 is fixed, CB_ENOMEM
         * before (the CLI then says "out of memory").  Anything else must convert. */
        FUZZ_CHECK((vrc == CB_OK && v) || ((vrc == CB_EINVAL || vrc == CB_ENOMEM) && !probe),
                   "value_from_text failed (%d)", vrc);
        json_decref(probe);
        if (!v) {
            text[0] = '\0';
            FUZZ_CHECK(cb_measure_value_from_text(text, &v) == CB_OK, "empty text");
        }
        FUZZ_CHECK(json_is_integer(v) || json_is_string(v) ||
                       (json_is_real(v) && isfinite(json_real_value(v))),
                   "value_from_text gave an odd value");
        json_decref(v);
    }

    json_t *in = NULL;
    if (cb_json_parse_object(body, len, &in, NULL) != CB_OK) {
        return 0;
    }
    json_t *out = NULL;
    struct cb_field_error fe = {"", ""};
    int rc = cb_measure_score(inst, in, flags, &out, &fe);
    if (rc) {
        FUZZ_CHECK(rc == CB_EINVAL || rc == CB_ENOMEM, "score returned %d", rc);
        FUZZ_CHECK(out == NULL, "output on failure");
        FUZZ_CHECK(memchr(fe.field, '\0', sizeof(fe.field)) &&
                       memchr(fe.message, '\0', sizeof(fe.message)),
                   "unterminated error");
        FUZZ_CHECK(rc != CB_EINVAL || fe.field[0] || json_object_get(in, ""),
                   "a refusal names no key");
        /* The scorer must not have modified its (borrowed) input. */
        json_decref(in);
        return 0;
    }
    FUZZ_CHECK(cb_measure_known(inst), "an unknown instrument scored");
    check_shape(inst, out);

    /* Stable: the normalised inputs score the same. */
    json_t *raw = json_deep_copy(json_object_get(out, "raw"));
    json_t *out2 = NULL;
    struct cb_field_error fe2 = {"", ""};
    rc = cb_measure_score(inst, raw, flags, &out2, &fe2);
    FUZZ_CHECK(rc == CB_OK, "normalised inputs of %s are refused: %s %s", inst, fe2.field,
               fe2.message);
    static const char *const same[] = {"score", "band", "complete", "flags", "rule_version", NULL};
    for (int i = 0; same[i]; i++) {
        if (!json_equal(json_object_get(out, same[i]), json_object_get(out2, same[i]))) {
            char *a = cb_json_dump(out), *b = cb_json_dump(out2);
            FUZZ_CHECK(0, "%s: %s differs when re-scored from raw:\n  %s\n  %s", inst, same[i],
                       a ? a : "?", b ? b : "?");
        }
    }
    json_decref(out2);
    json_decref(raw);
    json_decref(out);
    json_decref(in);
    return 0;
}
