/* jload.c - jansson trees lexed by YAJL; see jload.h for the contract. */
#include "coachbox/jload.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

/* Flags handled here; any other goes to json_loadb. */
#define HANDLED_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

/* Longest number copied on the stack to be NUL-terminated for strtoll/strtod. */
#define NUMBER_STACK 96

/* The tree under construction.  stack[0..depth) are the open containers; key
 * is the pending object key (YAJL's pointer is only valid in its callback). */
struct build {
    yajl_handle h;
    size_t root_end; /* bytes of the text up to the root's closing bracket */
    json_t *root;
    json_t *stack[CB_JLOAD_MAX_DEPTH];
    int depth;
    int reject_dups;
    char *key;
    size_t key_len, key_alloc;
    int key_ascii;
};

/*
 * Would YAJL read text differently from jansson in a way a callback cannot
 * see?  A form feed or vertical tab byte (white space to YAJL, an error to
 * jansson wherever it appears) or a \u escape of a surrogate (YAJL turns an
 * unpaired high one into '?').  A false alarm (an escaped backslash before
 * "ud800") only costs the fast path.
 */
static int needs_jansson(const char *text, size_t len)
{
    if (memchr(text, '\f', len) || memchr(text, '\v', len)) {
        return 1;
    }
    const char *p = text, *end = text + len;
    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        if (end - p >= 4 && p[1] == 'u' && (p[2] == 'd' || p[2] == 'D') &&
            memchr("89abcdefABCDEF", p[3], 14)) {
            return 1;
        }
        p += 2; /* past the escaped character, whatever it is */
        if (p >= end) {
            break;
        }
    }
    return 0;
}

/* Only ASCII bytes in s[0, len)?  Such text is valid UTF-8 as it stands; other
 * text is checked by jansson (YAJL lets overlong forms, surrogates and code
 * points past U+10FFFF through). */
static int is_ascii(const unsigned char *s, size_t len)
{
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < len; i++) {
        acc |= s[i];
    }
    return (acc & 0x8080808080808080ULL) == 0;
}

/* Attach v (a new reference, or NULL when allocation failed) to the open
 * container, or make it the root.  0 stops the parse (YAJL: client canceled). */
static int add(struct build *b, json_t *v)
{
    if (!v) {
        return 0;
    }
    if (b->depth == 0) {
        if (b->root) { /* YAJL refuses a second value; defensive */
            json_decref(v);
            return 0;
        }
        b->root = v;
        return 1;
    }
    json_t *top = b->stack[b->depth - 1];
    if (json_is_array(top)) {
        return json_array_append_new(top, v) == 0;
    }
    if (!b->key) {
        json_decref(v);
        return 0;
    }
    if (b->reject_dups && json_object_getn(top, b->key, b->key_len)) {
        json_decref(v);
        return 0;
    }
    /* A key that is not ASCII is validated as UTF-8, as jansson's parser does. */
    return (b->key_ascii ? json_object_setn_new_nocheck(top, b->key, b->key_len, v)
                         : json_object_setn_new(top, b->key, b->key_len, v)) == 0;
}

static int on_null(void *ctx)
{
    return add(ctx, json_null());
}

static int on_boolean(void *ctx, int v)
{
    return add(ctx, v ? json_true() : json_false());
}

/*
 * A number as jansson reads it: an integer when it has no '.', 'e' or 'E'
 * (refused when it overflows json_int_t), else a real (refused when it
 * overflows a double; an underflow is accepted, as jansson accepts it).
 */
static int on_number(void *ctx, const char *s, size_t len)
{
    char stackbuf[NUMBER_STACK];
    char *buf = len < sizeof(stackbuf) ? stackbuf : malloc(len + 1);
    if (!buf) {
        return 0;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    json_t *v = NULL;
    char *end = NULL;
    errno = 0;
    if (!memchr(s, '.', len) && !memchr(s, 'e', len) && !memchr(s, 'E', len)) {
        long long n = strtoll(buf, &end, 10);
        if (errno == 0 && end == buf + len) {
            v = json_integer((json_int_t)n);
        }
    } else {
        double d = strtod(buf, &end);
        if (end == buf + len && !((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)) {
            v = json_real(d);
        }
    }
    if (buf != stackbuf) {
        free(buf);
    }
    return add(ctx, v);
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    /* jansson refuses NUL in a string (JSON_ALLOW_NUL is not handled here);
     * text that is not ASCII is checked as UTF-8 by json_stringn. */
    if (memchr(s, '\0', len)) {
        return 0;
    }
    return add(ctx, is_ascii(s, len) ? json_stringn_nocheck((const char *)s, len)
                                     : json_stringn((const char *)s, len));
}

static int open_container(struct build *b, json_t *c)
{
    if (!c || b->depth >= CB_JLOAD_MAX_DEPTH) {
        json_decref(c);
        return 0;
    }
    json_incref(c); /* one reference for the stack, one given to the parent */
    if (!add(b, c)) {
        json_decref(c);
        return 0;
    }
    b->stack[b->depth++] = c;
    return 1;
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, json_object());
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, json_array());
}

static int on_end(void *ctx)
{
    struct build *b = ctx;
    assert(b->depth > 0);
    json_decref(b->stack[--b->depth]);
    if (b->depth == 0) {
        /* In a callback YAJL's count runs to the end of the token just read. */
        b->root_end = yajl_get_bytes_consumed(b->h);
    }
    return 1;
}

static int on_map_key(void *ctx, const unsigned char *s, size_t len)
{
    struct build *b = ctx;
    if (memchr(s, '\0', len)) {
        return 0; /* jansson: "NUL byte in object key not supported" */
    }
    if (len + 1 > b->key_alloc) {
        size_t n = b->key_alloc ? b->key_alloc : 64;
        while (n < len + 1) {
            n *= 2;
        }
        char *k = realloc(b->key, n);
        if (!k) {
            return 0;
        }
        b->key = k;
        b->key_alloc = n;
    }
    memcpy(b->key, s, len);
    b->key[len] = '\0';
    b->key_len = len;
    b->key_ascii = is_ascii(s, len);
    return 1;
}

static const yajl_callbacks callbacks = {
    on_null,      on_boolean, NULL,   NULL,           on_number, on_string,
    on_start_map, on_map_key, on_end, on_start_array, on_end,
};

/* Only JSON white space (which jansson allows) in text[from, len)? */
static int only_space(const char *text, size_t from, size_t len)
{
    for (size_t i = from; i < len; i++) {
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') {
            return 0;
        }
    }
    return 1;
}

/*
 * Parse with YAJL into a jansson tree; NULL when YAJL or a callback refused.
 * The root must be an object or an array (a scalar document goes to jansson),
 * followed by white space only: YAJL accepts a trailing token cut short by
 * the end of the text ("[1]\"x") as if nothing followed.
 */
static json_t *parse_fast(const char *text, size_t len, size_t flags)
{
    struct build *b = calloc(1, sizeof(*b));
    if (!b) {
        return NULL;
    }
    b->reject_dups = (flags & JSON_REJECT_DUPLICATES) != 0;
    json_t *out = NULL;
    yajl_handle h = yajl_alloc(&callbacks, NULL, b);
    b->h = h;
    if (h) {
        yajl_status st = yajl_parse(h, (const unsigned char *)text, len);
        if (st == yajl_status_ok) {
            st = yajl_complete_parse(h);
        }
        if (st == yajl_status_ok && b->depth == 0 && b->root &&
            (json_is_object(b->root) || json_is_array(b->root)) && b->root_end > 0 &&
            b->root_end <= len && only_space(text, b->root_end, len)) {
            out = b->root;
            b->root = NULL;
        }
        yajl_free(h);
    }
    while (b->depth > 0) {
        json_decref(b->stack[--b->depth]);
    }
    json_decref(b->root);
    free(b->key);
    free(b);
    return out;
}

json_t *cb_jload_fast(const char *text, size_t len, size_t flags)
{
    if (!text || (flags & ~(size_t)HANDLED_FLAGS) || needs_jansson(text, len)) {
        return NULL;
    }
    return parse_fast(text, len, flags);
}

size_t cb_jload_too_deep(const char *text, size_t len)
{
    int depth = 0, in_string = 0;
    for (size_t i = 0; text && i < len; i++) {
        char ch = text[i];
        if (in_string) {
            if (ch == '\\') {
                i++; /* the escaped character, whatever it is */
            } else if (ch == '"') {
                in_string = 0;
            }
        } else if (ch == '"') {
            in_string = 1;
        } else if (ch == '[' || ch == '{') {
            if (++depth > CB_JLOAD_MAX_DEPTH) {
                return i + 1;
            }
        } else if ((ch == ']' || ch == '}') && depth > 0) {
            depth--;
        }
    }
    return 0;
}

json_t *cb_jload(const char *text, size_t len, size_t flags, json_error_t *err)
{
    json_t *v = cb_jload_fast(text, len, flags);
    if (!v) {
        size_t deep = cb_jload_too_deep(text, len);
        if (deep) {
            /* Never to jansson: its parser recurses once per level, and a few
             * hundred levels overflow a server thread's stack (one request
             * could stop the server). */
            if (err) {
                memset(err, 0, sizeof(*err));
                err->line = 1;
                size_t line_start = 0;
                for (size_t i = 0; i + 1 < deep; i++) {
                    if (text[i] == '\n') {
                        err->line++;
                        line_start = i + 1;
                    }
                }
                err->column = (int)(deep - line_start);
                err->position = (int)deep;
                snprintf(err->source, sizeof(err->source), "%s", "<buffer>");
                snprintf(err->text, sizeof(err->text), "nested more than %d levels deep",
                         CB_JLOAD_MAX_DEPTH);
            }
            return NULL;
        }
        /* Refused here: jansson decides, and names the error. */
        return json_loadb(text, len, flags, err);
    }
    if (err) {
        /* As json_loadb leaves it on success. */
        memset(err, 0, sizeof(*err));
        err->line = err->column = -1;
        err->position = 0;
        snprintf(err->source, sizeof(err->source), "%s", "<buffer>");
    }
    return v;
}
