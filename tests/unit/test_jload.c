/*
 * test_jload.c - cb_jload (jload.h) returns what json_loadb returns: the same
 * values, types and key order, and on failure the same error, for a table of
 * corner cases (numbers, escapes, surrogates, UTF-8, white space, NUL,
 * duplicates, depth, top-level scalars) under each handled flag, and for
 * 200,000 deterministic mutations of them.  The fast path (cb_jload_fast) must
 * take ordinary documents (a sync page) and never accept a text jansson
 * refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coachbox/jload.h"
#include "../fuzz/jload_same.h"

static const size_t flag_sets[] = {0, JSON_REJECT_DUPLICATES, JSON_DECODE_ANY,
                                   JSON_REJECT_DUPLICATES | JSON_DECODE_ANY};

/*
 * Compare both parsers on text under flags; returns whether the fast path
 * took it.  Fails the test on any difference.
 */
static int check_one(const char *text, size_t len, size_t flags)
{
    json_error_t ej, ef;
    json_t *f = cb_jload(text, len, flags, &ef);
    if (cb_jload_too_deep(text, len)) {
        /* The one difference from json_loadb (jload.h): refused here. */
        assert_null(f);
        assert_non_null(strstr(ef.text, "nested more than"));
        assert_null(cb_jload_fast(text, len, flags));
        return 0;
    }
    json_t *j = json_loadb(text, len, flags, &ej);
    json_t *fast = cb_jload_fast(text, len, flags);
    if (!j != !f) {
        fail_msg("acceptance differs (flags %zu) on [%.*s]: jansson %s", flags, (int)len, text,
                 j ? "accepts" : ej.text);
    }
    if (j) {
        if (!jload_same_tree(j, f)) {
            fail_msg("trees differ (flags %zu) on [%.*s]", flags, (int)len, text);
        }
    } else {
        assert_int_equal(ej.line, ef.line);
        assert_int_equal(ej.column, ef.column);
        assert_int_equal(ej.position, ef.position);
        assert_string_equal(ej.text, ef.text);
    }
    if (fast && (!j || !jload_same_tree(j, fast))) {
        fail_msg("fast path accepted differently (flags %zu) on [%.*s]", flags, (int)len, text);
    }
    int took = fast != NULL;
    json_decref(j);
    json_decref(f);
    json_decref(fast);
    return took;
}

static const char *const cases[] = {
    "{}",
    "[]",
    "  {\"a\" : 1 , \"b\":[true,false,null]}\r\n\t",
    "{\"a\":1,\"a\":2}",
    "{\"b\":1,\"a\":2,\"b\":3}",
    "[0,-0,1,-1,9223372036854775807,-9223372036854775808]",
    "[9223372036854775808]",
    "[-9223372036854775809]",
    "[1.0,-0.0,1e5,1E5,1e+5,1e-5,0.1,2.5e-308,1e-400,1.7976931348623157e308]",
    "[1e400]",
    "[-1e400]",
    "[01]",
    "[-]",
    "[1.]",
    "[.5]",
    "[1e]",
    "[+1]",
    "[0x10]",
    "[NaN]",
    "[Infinity]",
    "[\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"]",
    "[\"\\u0041\\u00e9\\u20ac\\uFFFF\"]",
    "[\"\\ud83d\\ude00\"]",
    "[\"\\ud800\"]",
    "[\"\\udc00\"]",
    "[\"\\ud800x\"]",
    "[\"\\ud800\\u0041\"]",
    "[\"\\u0000\"]",
    "{\"\\u0000\":1}",
    "{\"a\\u0000b\":1}",
    "[\"\\x\"]",
    "[\"\\u12\"]",
    "[\"tab\there\"]",
    "[\"caf\xc3\xa9\"]",
    "[\"\xc0\xaf\"]",
    "[\"\xed\xa0\x80\"]",
    "[\"\xf4\x90\x80\x80\"]",
    "[\"\xf0\x9f\x98\x80\"]",
    "[\"\xe2\x82\"]",
    "[\"\x80\"]",
    "{\"\xc3\xa9\":\"\xff\"}",
    "{\"\xff\":1}",
    "\xef\xbb\xbf{}",
    "{}\f",
    "\v[]",
    "[1,]",
    "{\"a\":1,}",
    "[1 2]",
    "{\"a\" 1}",
    "{a:1}",
    "{'a':1}",
    "[1]/* c */",
    "[1]//",
    "{} x",
    "[1]\"/",
    "{}\"",
    "[1] \"abc",
    "{} 1",
    "[] t",
    "[]  \r\n\t ",
    "{}{}",
    "",
    "   ",
    "1",
    "\"s\"",
    "null",
    "true",
    "-5",
    "1.5",
    "[tru]",
    "[nul]",
    "[true false]",
    "{\"a\":{\"b\":{\"c\":[[[]]]}}}",
    "[\"a\",",
    "{\"a\":",
    "[\"unterminated",
};

static void test_corner_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++) {
            check_one(cases[i], strlen(cases[i]), flag_sets[f]);
        }
    }
    /* Embedded NUL bytes, inside and outside a string. */
    static const char nul1[] = "[\"a\0b\"]", nul2[] = "[1,\0 2]";
    check_one(nul1, sizeof(nul1) - 1, 0);
    check_one(nul2, sizeof(nul2) - 1, 0);
    /* A long number (past the stack copy) and a long key. */
    char big[600];
    size_t n = (size_t)snprintf(big, sizeof(big), "[1.");
    while (n < 500) {
        big[n++] = '5';
    }
    memcpy(big + n, "e2]", 4);
    assert_true(check_one(big, strlen(big), 0));
    /* Brackets inside strings (escaped quotes too) are not nesting. */
    char deep_str[1200];
    size_t m = (size_t)snprintf(deep_str, sizeof(deep_str), "[\"\\\"");
    memset(deep_str + m, '[', 1000);
    memcpy(deep_str + m + 1000, "\"]", 3);
    assert_int_equal(cb_jload_too_deep(deep_str, strlen(deep_str)), 0);
    assert_true(check_one(deep_str, strlen(deep_str), 0));
    char key[2100] = "{\"";
    memset(key + 2, 'k', 2000);
    memcpy(key + 2002, "\":1}", 5);
    assert_true(check_one(key, strlen(key), 0));
}

/* Nesting at, past and far past this module's limit and jansson's (2048):
 * past CB_JLOAD_MAX_DEPTH refused by cb_jload itself (never to jansson, whose
 * recursion overflowed a server thread's stack), naming where. */
static void test_depth(void **state)
{
    (void)state;
    const int depths[] = {
        CB_JLOAD_MAX_DEPTH - 1, CB_JLOAD_MAX_DEPTH, CB_JLOAD_MAX_DEPTH + 1, 2047, 2048, 2049, 3000};
    for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
        int n = depths[d];
        char *t = malloc((size_t)n * 2 + 1);
        assert_non_null(t);
        memset(t, '[', (size_t)n);
        memset(t + n, ']', (size_t)n);
        t[2 * n] = '\0';
        int took = check_one(t, (size_t)n * 2, 0);
        assert_int_equal(took, n <= CB_JLOAD_MAX_DEPTH);
        if (n > CB_JLOAD_MAX_DEPTH) {
            json_error_t e;
            assert_null(cb_jload(t, (size_t)n * 2, 0, &e));
            assert_int_equal(e.position, CB_JLOAD_MAX_DEPTH + 1);
            assert_int_equal(e.line, 1);
        }
        free(t);
    }
}

/* A sync page as central writes it (ids, times, text with escapes, nested
 * JSON values): the fast path takes it, and the tree is jansson's. */
static char *page_text(size_t *len)
{
    size_t cap = 1 << 20, off = 0;
    char *t = malloc(cap);
    assert_non_null(t);
    off += (size_t)snprintf(t + off, cap - off, "{\"changes\":[");
    for (int i = 0; i < 1000; i++) {
        off += (size_t)snprintf(
            t + off, cap - off,
            "%s{\"seq\":%d,\"tbl\":\"measures\",\"row_id\":\"01a21c54-bd63-73a0-93d5-%012d\","
            "\"fields\":{\"participant_id\":\"01a21c54-bd4e-75f1-bbe3-b7a923e6da73\","
            "\"instrument\":\"wemwbs\",\"taken_at\":\"2025-06-01T10:00:00.000Z\",\"score\":%d,"
            "\"weight_kg\":%d.%d,\"responses\":{\"q1\":4,\"q2\":[1,2,3]},\"notes\":\"said "
            "\\\"better\\\"\\nJos\\u00e9 "
            "\\u20ac5\",\"deleted\":0,\"venue\":null,\"complete\":true},"
            "\"hlc\":1176876905452666%02d,\"site\":\"01a21c54-b8e4-7763-b71c-706c50e72b96\"}",
            i ? "," : "", i + 1, i, 14 + i % 56, 60 + i % 40, i % 10, i % 100);
    }
    off += (size_t)snprintf(t + off, cap - off, "],\"next\":1000,\"more\":true}");
    assert_true(off < cap);
    *len = off;
    return t;
}

static void test_page_takes_fast_path(void **state)
{
    (void)state;
    size_t len;
    char *t = page_text(&len);
    for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++) {
        assert_true(check_one(t, len, flag_sets[f]));
    }
    free(t);
}

/* xorshift64*: deterministic mutations, the same every run. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/*
 * 200,000 mutations of the corner cases and a page fragment: bytes replaced,
 * inserted or deleted with characters that matter to a JSON lexer (quotes,
 * escapes, surrogate digits, white space of both kinds, UTF-8 lead and
 * continuation bytes, NUL), and truncations.
 */
static void test_mutations(void **state)
{
    (void)state;
    static const char alphabet[] = "\"\\u dD8aEe.-+0159{}[],:tfn\f\v\t\r\n\x00\x80\xbf\xc0\xc3"
                                   "\xe2\xed\xef\xf0\xf4\xff";
    const size_t nalpha = sizeof(alphabet) - 1;
    size_t plen;
    char *page = page_text(&plen);
    char buf[512];
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    size_t ncases = sizeof(cases) / sizeof(cases[0]);
    int taken = 0;
    for (int it = 0; it < 200000; it++) {
        size_t len;
        const char *src;
        uint64_t r = rnd(&s);
        if (r % 4 == 0) {
            src = page + (r >> 8) % (plen - 300);
            len = 40 + (size_t)((r >> 20) % 200);
        } else {
            src = cases[(r >> 8) % ncases];
            len = strlen(src);
        }
        memcpy(buf, src, len);
        int edits = 1 + (int)(rnd(&s) % 4);
        for (int e = 0; e < edits; e++) {
            uint64_t q = rnd(&s);
            size_t at = len ? (size_t)(q >> 8) % (len + 1) : 0;
            char c = alphabet[(q >> 40) % nalpha];
            switch (q % 4) {
            case 0: /* replace */
                if (at < len) {
                    buf[at] = c;
                }
                break;
            case 1: /* insert */
                if (len < sizeof(buf) - 1) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = c;
                    len++;
                }
                break;
            case 2: /* delete */
                if (at < len) {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
                break;
            default: /* truncate */
                len = at < len ? at : len;
                break;
            }
        }
        taken += check_one(buf, len, flag_sets[rnd(&s) % 4]);
    }
    free(page);
    /* Most mutants are invalid, but the fast path must have taken some valid ones. */
    assert_true(taken > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corner_cases),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_page_takes_fast_path),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
