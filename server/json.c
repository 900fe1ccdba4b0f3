/* json.c - strict JSON helpers over jansson; see json.h. */
#include "coachbox/json.h"
#include "coachbox/buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int cb_json_parse_object(const char *text, size_t len, json_t **out, struct cb_field_error *fe)
{
    json_error_t e;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
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

int cb_json_buf_add_string(struct cb_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    for (; *p; p++) {
        if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') {
            break;
        }
    }
    if (!*p) {
        int rc = cb_buf_add(b, "\"", 1);
        if (rc == CB_OK) {
            rc = cb_buf_add(b, s, (size_t)((const char *)p - s));
        }
        return rc ? rc : cb_buf_add(b, "\"", 1);
    }
    json_t *v = json_string(s);
    char *text = v ? cb_json_dump(v) : NULL;
    json_decref(v);
    if (!text) {
        return CB_ENOMEM;
    }
    int rc = cb_buf_adds(b, text);
    free(text);
    return rc;
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
    return cb_buf_add(b, d + n, sizeof(d) - n);
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

int cb_json_buf_add_value(struct cb_buf *b, const json_t *v)
{
    int rc = CB_OK;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *m;
        int first = 1;
        rc = cb_buf_add(b, "{", 1);
        json_object_foreach((json_t *)(uintptr_t)v, key, m)
        {
            if (rc == CB_OK && !first) {
                rc = cb_buf_add(b, ",", 1);
            }
            first = 0;
            if (rc == CB_OK) {
                rc = cb_json_buf_add_string(b, key);
            }
            if (rc == CB_OK) {
                rc = cb_buf_add(b, ":", 1);
            }
            if (rc == CB_OK) {
                rc = cb_json_buf_add_value(b, m);
            }
        }
        return rc ? rc : cb_buf_add(b, "}", 1);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *m;
        rc = cb_buf_add(b, "[", 1);
        json_array_foreach(v, i, m)
        {
            if (rc == CB_OK && i > 0) {
                rc = cb_buf_add(b, ",", 1);
            }
            if (rc == CB_OK) {
                rc = cb_json_buf_add_value(b, m);
            }
        }
        return rc ? rc : cb_buf_add(b, "]", 1);
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
        return cb_buf_add(b, "true", 4);
    case JSON_FALSE:
        return cb_buf_add(b, "false", 5);
    case JSON_NULL:
        return cb_buf_add(b, "null", 4);
    default: /* reals: jansson's own formatting (precision 15) */
        return buf_add_dumped(b, v);
    }
}
