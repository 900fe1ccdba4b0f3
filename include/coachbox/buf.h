/*
 * buf.h - growable byte buffer with a hard cap (curl dynbuf style).
 *
 * A cb_buf never grows past the max given to cb_buf_init(); an append that
 * would exceed it fails with CB_ETOOLARGE and leaves the buffer unchanged.
 * The data is always NUL-terminated (the terminator does not count in len).
 * The buffer owns its memory; cb_buf_free() releases it.
 */
#ifndef COACHBOX_BUF_H
#define COACHBOX_BUF_H

#include <stddef.h>

struct cb_buf {
    char *data;   /* NULL until the first append */
    size_t len;   /* bytes used, excluding the terminator */
    size_t alloc; /* bytes allocated */
    size_t max;   /* hard cap on len */
};

void cb_buf_init(struct cb_buf *b, size_t max);
/* Append n bytes; CB_ETOOLARGE past the cap, CB_ENOMEM on allocation failure. */
int cb_buf_add(struct cb_buf *b, const void *p, size_t n);
/* Append a NUL-terminated string. */
int cb_buf_adds(struct cb_buf *b, const char *s);
/* Append printf-style formatted text. */
int cb_buf_addf(struct cb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Return the contents ("" when empty); valid until the next append or free. */
const char *cb_buf_str(const struct cb_buf *b);
void cb_buf_reset(struct cb_buf *b);
/* Drop the bytes past len (len <= b->len): the buffer as it was at that length. */
void cb_buf_truncate(struct cb_buf *b, size_t len);
void cb_buf_free(struct cb_buf *b);

#endif
