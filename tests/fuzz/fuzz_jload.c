/*
 * fuzz_jload.c - cb_jload (jload.h) against json_loadb.
 *
 * Input: one selector byte (its low two bits pick the flags: none,
 * JSON_REJECT_DUPLICATES, JSON_DECODE_ANY, both), then a JSON text.
 *
 * Invariants checked beyond "no crash, no leak, no UB" (a text nested deeper
 * than CB_JLOAD_MAX_DEPTH is refused by cb_jload and never given to jansson):
 *   - cb_jload accepts exactly what json_loadb accepts, with an equal tree
 *     that dumps to the same text (same types, values and key order), and
 *     otherwise fails with jansson's error (line, column, position, text);
 *   - the fast path alone (cb_jload_fast) never accepts a text json_loadb
 *     refuses, and when it accepts, its tree is json_loadb's.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coachbox/jload.h"
#include "jload_same.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    static const size_t flag_sets[] = {0, JSON_REJECT_DUPLICATES, JSON_DECODE_ANY,
                                       JSON_REJECT_DUPLICATES | JSON_DECODE_ANY};
    size_t flags = flag_sets[data[0] & 3];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    json_error_t ej, ef;
    json_t *f = cb_jload(text, len, flags, &ef);
    json_t *fast = cb_jload_fast(text, len, flags);
    if (cb_jload_too_deep(text, len)) {
        /* The one difference from json_loadb (jload.h): refused here, never parsed
         * by jansson (whose recursion overflowed a server thread's stack). */
        FUZZ_CHECK(!f && !fast, "a text nested too deeply was accepted");
        json_decref(f);
        json_decref(fast);
        return 0;
    }
    json_t *j = json_loadb(text, len, flags, &ej);
    FUZZ_CHECK(!j == !f, "acceptance differs (jansson: %s)", j ? "accepts" : ej.text);
    if (j) {
        FUZZ_CHECK(jload_same_tree(j, f), "trees differ");
    } else {
        FUZZ_CHECK(ej.line == ef.line && ej.column == ef.column && ej.position == ef.position &&
                       strcmp(ej.text, ef.text) == 0,
                   "errors differ: %s / %s", ej.text, ef.text);
    }
    FUZZ_CHECK(!fast || (j && jload_same_tree(j, fast)), "the fast path accepted differently");
    json_decref(j);
    json_decref(f);
    json_decref(fast);
    return 0;
}
