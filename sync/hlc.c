/* hlc.c - hybrid logical clock; see hlc.h. */
#include "coachbox/hlc.h"
#include "coachbox/err.h"

void cb_hlc_init(struct cb_hlc *h, uint64_t persisted)
{
    pthread_mutex_init(&h->lock, NULL);
    h->last = persisted;
}

void cb_hlc_destroy(struct cb_hlc *h)
{
    pthread_mutex_destroy(&h->lock);
}

uint64_t cb_hlc_tick(struct cb_hlc *h, int64_t wall_ms)
{
    pthread_mutex_lock(&h->lock);
    uint64_t wall = cb_hlc_pack(wall_ms, 0);
    uint64_t next = h->last + 1 > wall ? h->last + 1 : wall;
    h->last = next;
    pthread_mutex_unlock(&h->lock);
    return next;
}

int cb_hlc_too_far_ahead(uint64_t remote, int64_t wall_ms)
{
    return cb_hlc_ms(remote) > wall_ms + CB_HLC_MAX_SKEW_MS;
}

int cb_hlc_observe(struct cb_hlc *h, uint64_t remote, int64_t wall_ms)
{
    if (cb_hlc_too_far_ahead(remote, wall_ms)) {
        return CB_EINVAL;
    }
    pthread_mutex_lock(&h->lock);
    if (remote > h->last) {
        h->last = remote;
    }
    pthread_mutex_unlock(&h->lock);
    return CB_OK;
}

uint64_t cb_hlc_peek(struct cb_hlc *h)
{
    pthread_mutex_lock(&h->lock);
    uint64_t v = h->last;
    pthread_mutex_unlock(&h->lock);
    return v;
}
