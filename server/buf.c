/* buf.c - capped growable buffer; see buf.h. */
#include "coachbox/buf.h"
#include "coachbox/err.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cb_buf_init(struct cb_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->max = max;
}

/* Make room for need more bytes plus a terminator. */
static int grow(struct cb_buf *b, size_t need)
{
    if (need > b->max - b->len) {
        return CB_ETOOLARGE;
    }
    size_t want = b->len + need + 1;
    if (want <= b->alloc) {
        return CB_OK;
    }
    size_t n = b->alloc ? b->alloc : 256;
    while (n < want) {
        n *= 2;
    }
    if (n > b->max + 1) {
        n = b->max + 1;
    }
    char *p = realloc(b->data, n);
    if (!p) {
        return CB_ENOMEM;
    }
    b->data = p;
    b->alloc = n;
    return CB_OK;
}

int cb_buf_add(struct cb_buf *b, const void *p, size_t n)
{
    int rc = grow(b, n);
    if (rc) {
        return rc;
    }
    if (n) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return CB_OK;
}

int cb_buf_adds(struct cb_buf *b, const char *s)
{
    return cb_buf_add(b, s, strlen(s));
}

int cb_buf_addf(struct cb_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return CB_EINVAL;
    }
    int rc = grow(b, (size_t)n);
    if (rc) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return CB_OK;
}

const char *cb_buf_str(const struct cb_buf *b)
{
    return b->data ? b->data : "";
}

void cb_buf_reset(struct cb_buf *b)
{
    b->len = 0;
    if (b->data) {
        b->data[0] = '\0';
    }
}

void cb_buf_truncate(struct cb_buf *b, size_t len)
{
    assert(len <= b->len);
    if (len < b->len) {
        b->len = len;
        b->data[len] = '\0';
    }
}

void cb_buf_free(struct cb_buf *b)
{
    free(b->data);
    cb_buf_init(b, b->max);
}
