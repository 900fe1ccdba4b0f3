/*
 * throttle.h - in-memory login throttling by key ("user:NAME", "addr:IP").
 *
 * After `threshold` failures within the window a key is locked for
 * base_lock_ms, doubling with each further failure up to max_lock_ms.  A
 * success clears the key.  The table holds at most CB_THROTTLE_SLOTS keys,
 * recycling the least recently failed.  Thread-safe (one mutex).  State is
 * lost on restart, which only ever loosens throttling (documented).
 */
#ifndef COACHBOX_THROTTLE_H
#define COACHBOX_THROTTLE_H

#include <stdint.h>

#define CB_THROTTLE_SLOTS 4096

struct cb_throttle;

int cb_throttle_new(int threshold, int64_t base_lock_ms, int64_t max_lock_ms,
                    struct cb_throttle **out);
void cb_throttle_free(struct cb_throttle *t);
/* CB_ETHROTTLED with *retry_after_s (>= 1) while key is locked; else CB_OK. */
int cb_throttle_check(struct cb_throttle *t, const char *key, int64_t now_ms, int *retry_after_s);
/* Record a failure for key. */
void cb_throttle_fail(struct cb_throttle *t, const char *key, int64_t now_ms);
/* Forget key (after a successful login). */
void cb_throttle_clear(struct cb_throttle *t, const char *key);

/*
 * Admit one attempt for key, counted in flight until cb_throttle_end: CB_OK,
 * or CB_ETHROTTLED with *retry_after_s (>= 1) while the key is locked, or
 * while its counted failures plus the attempts in flight already reach the
 * threshold (so concurrent attempts cannot pass a check that only their
 * failures would close).  After CB_OK the caller ends the attempt exactly once.
 */
int cb_throttle_begin(struct cb_throttle *t, const char *key, int64_t now_ms, int *retry_after_s);
enum cb_throttle_outcome {
    CB_THROTTLE_FAILED, /* a failure (as cb_throttle_fail) */
    CB_THROTTLE_CLEAR,  /* a success that forgets the key's failures (as cb_throttle_clear) */
    CB_THROTTLE_KEEP    /* a success that leaves them (e.g. the address of one user) */
};
void cb_throttle_end(struct cb_throttle *t, const char *key, int64_t now_ms,
                     enum cb_throttle_outcome outcome);

#endif
