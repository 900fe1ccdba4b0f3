/* throttle.c - login throttling table; see throttle.h. */
#include "coachbox/throttle.h"
#include "coachbox/err.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW_MS (15 * 60 * 1000)

struct slot {
    char key[160];
    int pending; /* attempts admitted by cb_throttle_begin, not yet ended */
    int failures;
    int64_t last_fail_ms;
    int64_t locked_until_ms;
};

struct cb_throttle {
    pthread_mutex_t lock;
    int threshold;
    int64_t base_lock_ms, max_lock_ms;
    struct slot slots[CB_THROTTLE_SLOTS];
};

int cb_throttle_new(int threshold, int64_t base_lock_ms, int64_t max_lock_ms,
                    struct cb_throttle **out)
{
    struct cb_throttle *t = calloc(1, sizeof(*t));
    if (!t) {
        return CB_ENOMEM;
    }
    pthread_mutex_init(&t->lock, NULL);
    t->threshold = threshold;
    t->base_lock_ms = base_lock_ms;
    t->max_lock_ms = max_lock_ms;
    *out = t;
    return CB_OK;
}

void cb_throttle_free(struct cb_throttle *t)
{
    if (t) {
        pthread_mutex_destroy(&t->lock);
        free(t);
    }
}

/* Find key's slot; with create, take a free or the least recently failed one. */
static struct slot *find(struct cb_throttle *t, const char *key_in, int create)
{
    /* Compare in the stored (truncated) form so over-long keys are found again. */
    char key[sizeof(t->slots[0].key)];
    snprintf(key, sizeof(key), "%s", key_in);
    struct slot *oldest = NULL;
    for (int i = 0; i < CB_THROTTLE_SLOTS; i++) {
        struct slot *s = &t->slots[i];
        if (s->key[0] && strcmp(s->key, key) == 0) {
            return s;
        }
        /* a slot with attempts in flight is never recycled: their end finds it */
        if (create && s->pending == 0 && (!oldest || s->last_fail_ms < oldest->last_fail_ms)) {
            oldest = s;
        }
    }
    if (oldest) {
        memset(oldest, 0, sizeof(*oldest));
        snprintf(oldest->key, sizeof(oldest->key), "%s", key);
    }
    return oldest;
}

int cb_throttle_check(struct cb_throttle *t, const char *key, int64_t now_ms, int *retry_after_s)
{
    int rc = CB_OK;
    pthread_mutex_lock(&t->lock);
    struct slot *s = find(t, key, 0);
    if (s && s->locked_until_ms > now_ms) {
        int64_t wait = (s->locked_until_ms - now_ms + 999) / 1000;
        *retry_after_s = wait < 1 ? 1 : (int)wait;
        rc = CB_ETHROTTLED;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* Count a failure on s (caller holds t->lock). */
static void fail_locked(struct cb_throttle *t, struct slot *s, int64_t now_ms)
{
    if (now_ms - s->last_fail_ms > WINDOW_MS && s->locked_until_ms <= now_ms) {
        s->failures = 0;
    }
    s->failures++;
    s->last_fail_ms = now_ms;
    if (s->failures >= t->threshold) {
        int64_t lock = t->base_lock_ms;
        for (int i = t->threshold; i < s->failures && lock < t->max_lock_ms; i++) {
            lock *= 2;
        }
        if (lock > t->max_lock_ms) {
            lock = t->max_lock_ms;
        }
        s->locked_until_ms = now_ms + lock;
    }
}

void cb_throttle_fail(struct cb_throttle *t, const char *key, int64_t now_ms)
{
    pthread_mutex_lock(&t->lock);
    struct slot *s = find(t, key, 1);
    if (s) {
        fail_locked(t, s, now_ms);
    }
    pthread_mutex_unlock(&t->lock);
}

int cb_throttle_begin(struct cb_throttle *t, const char *key, int64_t now_ms, int *retry_after_s)
{
    int rc = CB_OK;
    pthread_mutex_lock(&t->lock);
    struct slot *s = find(t, key, 1);
    if (!s) {
        *retry_after_s = 1; /* every slot has attempts in flight */
        rc = CB_ETHROTTLED;
    } else if (s->locked_until_ms > now_ms) {
        int64_t wait = (s->locked_until_ms - now_ms + 999) / 1000;
        *retry_after_s = wait < 1 ? 1 : (int)wait;
        rc = CB_ETHROTTLED;
    } else {
        /* Failures that still count (as fail_locked decides) and attempts in flight,
         * each of which may be one more: no more may start than would reach the
         * threshold, so concurrent guesses cannot outrun the lock; past it (a lock
         * that ran out) one at a time, as each failure locks the key again. */
        int counted = now_ms - s->last_fail_ms > WINDOW_MS ? 0 : s->failures;
        int allowed = counted >= t->threshold ? 1 : t->threshold - counted;
        if (s->pending >= allowed) {
            *retry_after_s = 1; /* the attempts in flight decide first */
            rc = CB_ETHROTTLED;
        } else {
            s->pending++;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void cb_throttle_end(struct cb_throttle *t, const char *key, int64_t now_ms,
                     enum cb_throttle_outcome outcome)
{
    pthread_mutex_lock(&t->lock);
    struct slot *s = find(t, key, 0);
    assert(s && s->pending > 0);
    if (s) {
        s->pending -= s->pending > 0;
        if (outcome == CB_THROTTLE_FAILED) {
            fail_locked(t, s, now_ms);
        } else if (outcome == CB_THROTTLE_CLEAR) {
            int pending = s->pending;
            memset(s, 0, sizeof(*s));
            if (pending) { /* others still in flight: keep the slot for their end */
                snprintf(s->key, sizeof(s->key), "%s", key);
                s->pending = pending;
            }
        }
    }
    pthread_mutex_unlock(&t->lock);
}

void cb_throttle_clear(struct cb_throttle *t, const char *key)
{
    pthread_mutex_lock(&t->lock);
    struct slot *s = find(t, key, 0);
    if (s) {
        int pending = s->pending;
        memset(s, 0, sizeof(*s));
        if (pending) {
            snprintf(s->key, sizeof(s->key), "%s", key);
            s->pending = pending;
        }
    }
    pthread_mutex_unlock(&t->lock);
}
