/* test_json.c - strict JSON input helpers (json.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "coachbox/buf.h"
#include "coachbox/err.h"
#include "coachbox/json.h"

static json_t *sentinel(void)
{
    static json_t *s;
    if (!s) {
        s = json_string("sentinel"); /* never freed: one per process */
    }
    return s;
}

/* Expect text to be refused; return the message. */
static void expect_bad(const char *text, size_t len, struct cb_field_error *fe)
{
    json_t *out = sentinel();
    memset(fe, 0, sizeof(*fe));
    int rc = cb_json_parse_object(text, len, &out, fe);
    if (rc != CB_EPARSE) {
        fail_msg("parse of '%.*s' gave %d, expected CB_EPARSE", (int)len, text, rc);
    }
    assert_ptr_equal(out, sentinel()); /* *out untouched on failure */
    assert_true(strlen(fe->message) > 0);
}

static void test_parse_object(void **state)
{
    (void)state;
    struct cb_field_error fe = {{0}, {0}};
    const char *text = "{\"a\": 1, \"b\": \"two\", \"c\": {\"a\": 3}, \"d\": [1, 1]}";
    json_t *out = NULL;
    assert_int_equal(cb_json_parse_object(text, strlen(text), &out, &fe), CB_OK);
    assert_non_null(out);
    assert_true(json_is_object(out));
    assert_int_equal(json_integer_value(json_object_get(out, "a")), 1);
    assert_string_equal(cb_json_str(out, "b"), "two");
    /* the same key in a nested object is not a duplicate */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "c"), "a")), 3);
    json_decref(out);

    assert_int_equal(cb_json_parse_object("{}", 2, &out, &fe), CB_OK);
    assert_int_equal(json_object_size(out), 0);
    json_decref(out);
}

static void test_parse_uses_len_not_nul(void **state)
{
    (void)state;
    struct cb_field_error fe;
    json_t *out = NULL;
    /* Only the first len bytes count; no terminator is needed. */
    const char text[] = "{\"a\":1}garbage";
    assert_int_equal(cb_json_parse_object(text, 7, &out, &fe), CB_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "a")), 1);
    json_decref(out);
    char noterm[2] = {'{', '}'};
    assert_int_equal(cb_json_parse_object(noterm, sizeof(noterm), &out, &fe), CB_OK);
    json_decref(out);
    /* ... and the garbage is refused when it is inside len. */
    expect_bad(text, strlen(text), &fe);
    /* A truncated body is refused. */
    expect_bad(text, 6, &fe);
}

static void test_duplicate_keys_rejected(void **state)
{
    (void)state;
    struct cb_field_error fe;
    const char *t1 = "{\"a\": 1, \"a\": 2}";
    expect_bad(t1, strlen(t1), &fe);
    assert_non_null(strstr(fe.message, "malformed JSON at line 1, column"));
    assert_non_null(strstr(fe.message, "duplicate"));
    const char *t2 = "{\"x\": {\"k\": 1, \"k\": 1}}";
    expect_bad(t2, strlen(t2), &fe);
    assert_non_null(strstr(fe.message, "duplicate"));
}

static void test_error_names_line_and_column(void **state)
{
    (void)state;
    struct cb_field_error fe;
    const char *text = "{\n  \"a\": 1,\n  \"b\": tru\n}";
    expect_bad(text, strlen(text), &fe);
    assert_non_null(strstr(fe.message, "malformed JSON at line 3, column "));
    int line = 0, col = 0;
    assert_int_equal(sscanf(fe.message, "malformed JSON at line %d, column %d", &line, &col), 2);
    assert_int_equal(line, 3);
    assert_true(col >= 8 && col <= 12);

    const char *dup = "{\n\"a\": 1,\n\n\"a\": 2}";
    expect_bad(dup, strlen(dup), &fe);
    assert_non_null(strstr(fe.message, "line 4"));
}

static void test_syntax_errors_rejected(void **state)
{
    (void)state;
    struct cb_field_error fe;
    static const char *const bad[] = {
        "",
        " ",
        "{",
        "{\"a\":}",
        "{\"a\" 1}",
        "{'a': 1}",
        "{\"a\": 1,}",
        "{a: 1}",
        "{\"a\": NaN}",
        "{\"a\": 01}",
        "{} {}",
        "{\"a\": \"\\u0000\"}", /* NUL in a string */
        "{\"a\": \"\xff\"}",    /* invalid UTF-8 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_bad(bad[i], strlen(bad[i]), &fe);
        assert_non_null(strstr(fe.message, "malformed JSON at line"));
    }
}

static void test_non_object_top_level_rejected(void **state)
{
    (void)state;
    struct cb_field_error fe;
    static const char *const bad[] = {"[]", "[{\"a\":1}]", "42", "\"str\"", "null", "true"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_bad(bad[i], strlen(bad[i]), &fe);
    }
}

static void test_only_keys(void **state)
{
    (void)state;
    static const char *const allowed[] = {"username", "password", NULL};
    static const char *const none[] = {NULL};
    struct cb_field_error fe;
    json_t *o = json_pack("{s:s, s:s}", "username", "a", "password", "b");
    memset(&fe, 0, sizeof(fe));
    assert_int_equal(cb_json_only_keys(o, allowed, &fe), CB_OK);
    assert_string_equal(fe.field, "");
    json_decref(o);

    o = json_pack("{s:s}", "username", "a");
    assert_int_equal(cb_json_only_keys(o, allowed, &fe), CB_OK); /* subset is fine */
    assert_int_equal(cb_json_only_keys(o, none, &fe), CB_EINVAL);
    assert_string_equal(fe.field, "username");
    json_decref(o);

    o = json_pack("{s:s, s:s, s:i}", "username", "a", "password", "b", "pasword", 1);
    assert_int_equal(cb_json_only_keys(o, allowed, &fe), CB_EINVAL);
    assert_string_equal(fe.field, "pasword");
    assert_non_null(strstr(fe.message, "pasword"));
    json_decref(o);

    /* Case matters: "Username" is not "username". */
    o = json_pack("{s:s}", "Username", "a");
    assert_int_equal(cb_json_only_keys(o, allowed, &fe), CB_EINVAL);
    assert_string_equal(fe.field, "Username");
    json_decref(o);

    o = json_object();
    assert_int_equal(cb_json_only_keys(o, none, &fe), CB_OK);
    assert_int_equal(cb_json_only_keys(o, allowed, NULL), CB_OK);
    json_decref(o);
}

static void test_str_helper(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:s, s:i, s:n, s:b, s:[]}", "s", "text", "i", 3, "n", "b", 1, "a");
    assert_string_equal(cb_json_str(o, "s"), "text");
    assert_null(cb_json_str(o, "i"));
    assert_null(cb_json_str(o, "n"));
    assert_null(cb_json_str(o, "b"));
    assert_null(cb_json_str(o, "a"));
    assert_null(cb_json_str(o, "absent"));
    json_decref(o);
}

static void test_dump_compact_ascii(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:s, s:[i, i]}", "name", "Zo\xc3\xab", "n", 1, 2);
    char *s = cb_json_dump(o);
    assert_non_null(s);
    /* compact, and non-ASCII escaped (jansson writes the hex digits in upper case) */
    assert_int_equal(strcasecmp(s, "{\"name\":\"Zo\\u00eb\",\"n\":[1,2]}"), 0);
    for (const char *p = s; *p; p++) {
        assert_true((unsigned char)*p < 0x80);
    }
    free(s);
    json_decref(o);
}

/* cb_json_buf_add_value writes exactly the text cb_json_dump writes. */
static void test_buf_add_value_as_dump(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{}",
        "[]",
        "{\"a\":1,\"b\":-42,\"c\":9223372036854775807,\"d\":-9223372036854775808,\"e\":0}",
        "{\"s\":\"plain\",\"q\":\"say \\\"hi\\\" \\\\ / \\n\\t\\u0001\",\"u\":\"Zo\\u00eb "
        "\\ud83d\\ude00\"}",
        "{\"nul\":\"a\\u0000b\",\"r\":1.5,\"r2\":0.1,\"r3\":-2e+300,\"r4\":3.0}",
        "{\"t\":true,\"f\":false,\"n\":null,\"z\":[1,[2,{\"k\":[]}],\"x\",null]}",
        "{\"\\u00e9t\\u00e9\":{\"*\":[12,7345678901234567,\"4b1f0c1e-0000-7000-8000-000000000000\"]"
        "}}",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        json_error_t err;
        json_t *v = json_loads(texts[i], JSON_ALLOW_NUL, &err);
        assert_non_null(v);
        char *want = cb_json_dump(v);
        struct cb_buf b;
        cb_buf_init(&b, 4096);
        assert_int_equal(cb_json_buf_add_value(&b, v), CB_OK);
        assert_string_equal(cb_buf_str(&b), want);
        /* and past the cap, CB_ETOOLARGE */
        struct cb_buf small;
        cb_buf_init(&small, 4);
        assert_int_equal(cb_json_buf_add_value(&small, v), strlen(want) > 4 ? CB_ETOOLARGE : CB_OK);
        cb_buf_free(&small);
        cb_buf_free(&b);
        free(want);
        json_decref(v);
    }
}

/* Append code point cp to s as UTF-8; returns the new end. */
static char *put_utf8(char *s, unsigned cp)
{
    if (cp < 0x80) {
        *s++ = (char)cp;
    } else if (cp < 0x800) {
        *s++ = (char)(0xC0 | (cp >> 6));
        *s++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *s++ = (char)(0xE0 | (cp >> 12));
        *s++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *s++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *s++ = (char)(0xF0 | (cp >> 18));
        *s++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *s++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *s++ = (char)(0x80 | (cp & 0x3F));
    }
    return s;
}

/*
 * The escaping of strings and the formatting of reals in cb_json_buf_add_value
 * are its own (not jansson's): the same text as cb_json_dump over thousands of
 * random strings (controls, quotes, backslashes, DEL, two-, three- and four-byte
 * characters) and reals (random bit patterns, and decimals of every scale).
 */
static void test_buf_add_value_random(void **state)
{
    (void)state;
    unsigned long long x = 0x9E3779B97F4A7C15ULL;
#define NEXT() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
    for (int round = 0; round < 4000; round++) {
        char text[256];
        char *p = text;
        int len = (int)(NEXT() % 24);
        for (int i = 0; i < len; i++) {
            unsigned cp;
            switch (NEXT() % 6) {
            case 0:
                cp = 1 + (unsigned)(NEXT() % 0x20);
                break; /* controls (no NUL) */
            case 1:
                cp = "\"\\/\x7f a"[NEXT() % 6];
                break;
            case 2:
                cp = 0x80 + (unsigned)(NEXT() % (0x800 - 0x80));
                break;
            case 3:
                cp = 0x800 + (unsigned)(NEXT() % (0x10000 - 0x800));
                if (cp >= 0xD800 && cp <= 0xDFFF) {
                    cp = 0xFFFD;
                }
                break;
            case 4:
                cp = 0x10000 + (unsigned)(NEXT() % (0x110000 - 0x10000));
                break;
            default:
                cp = 0x20 + (unsigned)(NEXT() % 0x5F);
                break;
            }
            p = put_utf8(p, cp);
        }
        *p = '\0';
        double r;
        if (round % 2) {
            unsigned long long bits = NEXT();
            memcpy(&r, &bits, sizeof(r));
            if (!isfinite(r)) {
                r = 0.5;
            }
        } else {
            long long mant = (long long)(NEXT() % 2000001) - 1000000;
            int scale = (int)(NEXT() % 40) - 20;
            r = (double)mant * pow(10.0, (double)scale);
        }
        json_t *v = json_pack("{s:s, s:f, s:[f, s]}", "s", text, "r", r, "a", -r, text);
        assert_non_null(v);
        char *want = cb_json_dump(v);
        assert_non_null(want);
        struct cb_buf b;
        cb_buf_init(&b, 4096);
        assert_int_equal(cb_json_buf_add_value(&b, v), CB_OK);
        assert_string_equal(cb_buf_str(&b), want);
        cb_buf_free(&b);
        free(want);
        json_decref(v);
    }
#undef NEXT
    /* not UTF-8 (overlong, a lone continuation byte, a surrogate, truncated): refused, and
     * the buffer is left as it was */
    static const char *const bad[] = {"a\xc0\xafz", "\x80", "x\xed\xa0\x80", "ok\xe2\x82"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cb_buf b;
        cb_buf_init(&b, 64);
        assert_int_equal(cb_buf_adds(&b, "[1,"), CB_OK);
        assert_int_equal(cb_json_buf_add_string(&b, bad[i]), CB_EINVAL);
        assert_string_equal(cb_buf_str(&b), "[1,");
        cb_buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_object),
        cmocka_unit_test(test_parse_uses_len_not_nul),
        cmocka_unit_test(test_duplicate_keys_rejected),
        cmocka_unit_test(test_error_names_line_and_column),
        cmocka_unit_test(test_syntax_errors_rejected),
        cmocka_unit_test(test_non_object_top_level_rejected),
        cmocka_unit_test(test_only_keys),
        cmocka_unit_test(test_str_helper),
        cmocka_unit_test(test_dump_compact_ascii),
        cmocka_unit_test(test_buf_add_value_as_dump),
        cmocka_unit_test(test_buf_add_value_random),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(sentinel());
    return rc;
}
