/* json.c - strict JSON helpers over jansson; see json.h. */
#include "coachbox/json.h"
#include "coachbox/buf.h"
#include "coachbox/jload.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cb_buf_add with the common case inline: n bytes that fit the allocation (this
 * runs for every piece of every value written). */
static inline int put(struct cb_buf *b, const void *p, size_t n)
{
    if (n < b->alloc - b->len && n <= b->max - b->len && b->data) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return CB_OK;
    }
    return cb_buf_add(b, p, n);
}

int cb_json_parse_object(const char *text, size_t len, json_t **out, struct cb_field_error *fe)
{
    json_error_t e;
    json_t *v = cb_jload(text, len, JSON_REJECT_DUPLICATES, &e);
    if (!v) {
        cb_field_fail(fe, "", "malformed JSON at line %d, column %d: %s", e.line, e.column, e.text);
        return CB_EPARSE;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        cb_field_fail(fe, "", "the request body must be a JSON object");
        return CB_EPARSE;
    }
    *out = v;
    return CB_OK;
}

int cb_json_only_keys(const json_t *obj, const char *const *allowed, struct cb_field_error *fe)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)(uintptr_t)obj, key, val)
    {
        int ok = 0;
        (void)val;
        for (const char *const *a = allowed; *a; a++) {
            if (strcmp(*a, key) == 0) {
                ok = 1;
                break;
            }
        }
        if (!ok) {
            return cb_field_fail(fe, key, "unknown field \"%s\"", key);
        }
    }
    return CB_OK;
}

const char *cb_json_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

char *cb_json_dump(const json_t *v)
{
    return json_dumps(v,
                      JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
}

/*
 * Decode the UTF-8 sequence at p (lead byte c = p[0] >= 0x80) into *cp; its
 * length, or 0 when it is not well-formed UTF-8 (overlong, surrogate, past
 * U+10FFFF, truncated): the rules jansson's own decoder applies.
 */
static size_t utf8_decode(const unsigned char *p, int32_t *cp)
{
    unsigned c = p[0];
    size_t n;
    int32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = (int32_t)(c & 0x1F);
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = (int32_t)(c & 0x0F);
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = (int32_t)(c & 0x07);
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0; /* also the terminating NUL: truncated */
        }
        v = (v << 6) | (int32_t)(p[i] & 0x3F);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
        (v >= 0xD800 && v <= 0xDFFF)) {
        return 0;
    }
    *cp = v;
    return n;
}

int cb_json_buf_add_string(struct cb_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p; /* start of the bytes not written yet */
    size_t start = b->len;
    int rc = put(b, "\"", 1);
    while (rc == CB_OK && *p) {
        unsigned c = *p;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            p++; /* written as it is (DEL included, as jansson does) */
            continue;
        }
        if (p > run) {
            rc = put(b, run, (size_t)(p - run));
        }
        char esc[12];
        size_t len = 2;
        int32_t cp = (int32_t)c;
        size_t n = 1;
        if (c >= 0x80 && (n = utf8_decode(p, &cp)) == 0) {
            /* not UTF-8 (jansson refuses such a string too): b as it was */
            b->len = start;
            b->data[start] = '\0';
            return CB_EINVAL;
        }
        /* the two-character escapes jansson writes, else "\\u" and four upper-case hex digits
         * (past the BMP a UTF-16 surrogate pair) */
        static const char short_from[] = "\"\\\b\f\n\r\t", short_to[] = "\"\\bfnrt";
        const char *sh = cp > 0 && cp < 0x80 ? strchr(short_from, (int)cp) : NULL;
        if (sh) {
            esc[0] = '\\';
            esc[1] = short_to[sh - short_from];
        } else {
            int32_t units[2];
            int nu = 1;
            units[0] = cp;
            if (cp >= 0x10000) {
                int32_t v = cp - 0x10000;
                units[0] = 0xD800 | (v >> 10);
                units[1] = 0xDC00 | (v & 0x3FF);
                nu = 2;
            }
            len = 0;
            for (int i = 0; i < nu; i++) {
                esc[len++] = '\\';
                esc[len++] = 'u';
                for (int bits = 12; bits >= 0; bits -= 4) {
                    esc[len++] = hex[(units[i] >> bits) & 0xF];
                }
            }
        }
        if (rc == CB_OK) {
            rc = put(b, esc, len);
        }
        p += n;
        run = p;
    }
    if (rc == CB_OK && p > run) {
        rc = put(b, run, (size_t)(p - run));
    }
    return rc ? rc : put(b, "\"", 1);
}

/* Append the decimal text of i to b (no printf: this runs for every pushed value). */
static int buf_add_int(struct cb_buf *b, json_int_t i)
{
    char d[24];
    size_t n = sizeof(d);
    unsigned long long u = i < 0 ? 0ULL - (unsigned long long)i : (unsigned long long)i;
    do {
        d[--n] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u && n > 1);
    if (i < 0) {
        d[--n] = '-';
    }
    return put(b, d + n, sizeof(d) - n);
}

/* Append v as jansson writes it (cb_json_dump), one value on its own. */
static int buf_add_dumped(struct cb_buf *b, const json_t *v)
{
    char *text = cb_json_dump(v);
    if (!text) {
        return CB_ENOMEM;
    }
    int rc = cb_buf_adds(b, text);
    free(text);
    return rc;
}

/*
 * Append real r as jansson writes it with JSON_REAL_PRECISION(15) (its dtostr:
 * "%.15g", ".0" added when there is neither a point nor an exponent, the
 * exponent without "+" or leading zeros).  The process keeps the C locale, so
 * the point is ".".  Not a finite number: jansson refuses it too.
 */
static int buf_add_real(struct cb_buf *b, double r)
{
    char d[48];
    if (!isfinite(r)) {
        return CB_EINVAL;
    }
    int n = snprintf(d, sizeof(d), "%.15g", r);
    if (n < 0 || (size_t)n >= sizeof(d) - 3) {
        return CB_EINVAL;
    }
    size_t len = (size_t)n;
    char *e = strchr(d, 'e');
    if (!e && !strchr(d, '.')) {
        memcpy(d + len, ".0", 3);
        len += 2;
    }
    if (e) {
        char *from = e + 1, *to = e + 1;
        if (*from == '-') {
            from++;
            to++;
        } else if (*from == '+') {
            from++;
        }
        while (*from == '0' && from[1] != '\0') {
            from++;
        }
        memmove(to, from, len + 1 - (size_t)(from - d));
        len -= (size_t)(from - to);
    }
    return put(b, d, len);
}

int cb_json_buf_add_value(struct cb_buf *b, const json_t *v)
{
    int rc = CB_OK;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *m;
        int first = 1;
        rc = put(b, "{", 1);
        json_object_foreach((json_t *)(uintptr_t)v, key, m)
        {
            if (rc == CB_OK && !first) {
                rc = put(b, ",", 1);
            }
            first = 0;
            if (rc == CB_OK) {
                rc = cb_json_buf_add_string(b, key);
            }
            if (rc == CB_OK) {
                rc = put(b, ":", 1);
            }
            if (rc == CB_OK) {
                rc = cb_json_buf_add_value(b, m);
            }
        }
        return rc ? rc : put(b, "}", 1);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *m;
        rc = put(b, "[", 1);
        json_array_foreach(v, i, m)
        {
            if (rc == CB_OK && i > 0) {
                rc = put(b, ",", 1);
            }
            if (rc == CB_OK) {
                rc = cb_json_buf_add_value(b, m);
            }
        }
        return rc ? rc : put(b, "]", 1);
    }
    case JSON_STRING:
        /* A string holding a NUL byte is written by jansson (\u0000). */
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            return buf_add_dumped(b, v);
        }
        return cb_json_buf_add_string(b, json_string_value(v));
    case JSON_INTEGER:
        return buf_add_int(b, json_integer_value(v));
    case JSON_TRUE:
        return put(b, "true", 4);
    case JSON_FALSE:
        return put(b, "false", 5);
    case JSON_NULL:
        return put(b, "null", 4);
    case JSON_REAL:
        return buf_add_real(b, json_real_value(v));
    default:
        return buf_add_dumped(b, v);
    }
}
