/*
 * hlc.h - hybrid logical clock (design.md section 4): 48-bit Unix
 * milliseconds and a 16-bit counter packed in a uint64_t, so HLCs compare as
 * integers.  A clock never goes backwards: not across restarts (the last
 * value is persisted by the caller and passed to cb_hlc_init), not when the
 * wall clock steps back, and not past a remote value it has observed.
 * Remote values more than CB_HLC_MAX_SKEW_MS ahead of the wall clock are not
 * adopted, so a peer with a wrong clock cannot drag everyone forward.
 * Thread-safe (one mutex per clock).
 */
#ifndef COACHBOX_HLC_H
#define COACHBOX_HLC_H

#include <pthread.h>
#include <stdint.h>

#define CB_HLC_MAX_SKEW_MS (5 * 60 * 1000)

struct cb_hlc {
    pthread_mutex_t lock;
    uint64_t last;
};

static inline uint64_t cb_hlc_pack(int64_t ms, unsigned counter)
{
    return ((uint64_t)ms << 16) | (counter & 0xffffu);
}
static inline int64_t cb_hlc_ms(uint64_t h)
{
    return (int64_t)(h >> 16);
}

void cb_hlc_init(struct cb_hlc *h, uint64_t persisted);
void cb_hlc_destroy(struct cb_hlc *h);
/* A new local timestamp: greater than every value returned or observed so far. */
uint64_t cb_hlc_tick(struct cb_hlc *h, int64_t wall_ms);
/*
 * Observe a remote timestamp.  Returns 0 and advances the clock past it, or
 * CB_EINVAL (clock unchanged) if it is more than CB_HLC_MAX_SKEW_MS ahead
 * of wall_ms.
 */
int cb_hlc_observe(struct cb_hlc *h, uint64_t remote, int64_t wall_ms);
/* The current value (for persisting). */
uint64_t cb_hlc_peek(struct cb_hlc *h);
/* 1 if remote is more than CB_HLC_MAX_SKEW_MS ahead of wall_ms. */
int cb_hlc_too_far_ahead(uint64_t remote, int64_t wall_ms);

#endif
