/* lathist.c - see lathist.h. */
#include "lathist.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#define LH_GROWTH 1.02 /* each bucket is 2% wider than the one before */

void lh_init(struct lh *h)
{
    memset(h, 0, sizeof(*h));
}

/* Bucket 0 holds samples under 1 us; bucket i >= 1 holds [1.02^(i-1), 1.02^i) us. */
static int bucket_of(double seconds)
{
    double us = seconds * 1e6;
    if (!(us >= 1.0)) {
        return 0;
    }
    double i = floor(log(us) / log(LH_GROWTH)) + 1;
    return i >= LH_BUCKETS - 1 ? LH_BUCKETS - 1 : (int)i;
}

void lh_add(struct lh *h, double seconds)
{
    int b = bucket_of(seconds);
    assert(b >= 0 && b < LH_BUCKETS);
    h->bucket[b]++;
    h->count++;
    if (seconds > h->max_s) {
        h->max_s = seconds;
    }
}

void lh_merge(struct lh *dst, const struct lh *src)
{
    for (int i = 0; i < LH_BUCKETS; i++) {
        dst->bucket[i] += src->bucket[i];
    }
    dst->count += src->count;
    if (src->max_s > dst->max_s) {
        dst->max_s = src->max_s;
    }
}

double lh_quantile(const struct lh *h, double q)
{
    assert(q > 0 && q <= 1);
    if (h->count == 0) {
        return 0;
    }
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    rank = rank ? rank : 1;
    uint64_t seen = 0;
    for (int i = 0; i < LH_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            if (i == 0) {
                return 0.5e-6;
            }
            double mid = pow(LH_GROWTH, (double)i - 0.5) * 1e-6;
            return mid > h->max_s ? h->max_s : mid;
        }
    }
    return h->max_s;
}
