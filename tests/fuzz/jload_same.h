/*
 * jload_same.h - are two parsed JSON trees the same document?  Shared by
 * tests/unit/test_jload.c and tests/fuzz/fuzz_jload.c, which compare cb_jload
 * with json_loadb: equal (json_equal), and the same compact text, so the same
 * key order and number forms too.
 */
#ifndef COACHBOX_JLOAD_SAME_H
#define COACHBOX_JLOAD_SAME_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static inline int jload_same_tree(const json_t *a, const json_t *b)
{
    if (!json_equal(a, b)) {
        return 0;
    }
    char *ta = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    char *tb = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    int same = ta && tb && strcmp(ta, tb) == 0;
    free(ta);
    free(tb);
    return same;
}

#endif
