/*
 * lathist.h - latency histograms for the benchmarks: fixed memory however long
 * a run lasts (log-spaced buckets 2% wide from 1 us to ~100 s), mergeable, and
 * quantiles to within the bucket width.  Not thread-safe: keep one per thread
 * and merge them afterwards.
 */
#ifndef COACHBOX_LATHIST_H
#define COACHBOX_LATHIST_H

#include <stdint.h>

#define LH_BUCKETS 1000

struct lh {
    uint64_t count;
    double max_s; /* largest sample, seconds */
    uint64_t bucket[LH_BUCKETS];
};

/* Empty the histogram. */
void lh_init(struct lh *h);
/* Count one sample of seconds (negative counts as 0; beyond ~100 s in the last bucket). */
void lh_add(struct lh *h, double seconds);
/* Add every sample of src to dst. */
void lh_merge(struct lh *dst, const struct lh *src);
/*
 * The q-quantile (0 < q <= 1) in seconds: the middle of the bucket holding the
 * ceil(q * count)-th smallest sample (within 1%), or 0 for an empty histogram.
 */
double lh_quantile(const struct lh *h, double q);

#endif
