/* common/histogram.h - log-linear latency histogram with a stated relative error.
 *
 * The problem
 * -----------
 * Workloads record millions of latencies (nanoseconds, 1 ns .. hours) on the
 * hot path and report percentiles at the end. Storing samples costs memory and
 * a sort; a fixed linear histogram wastes precision at one end and range at the
 * other. What a latency report needs is a *relative* error bound: 1.000 ms and
 * 1.001 ms must stay apart, 3.600000 s and 3.600001 s need not.
 *
 * The design: HdrHistogram's bucketing (Gil Tene, HdrHistogram, 2012-;
 * the C port by Mike Barker, hdr_histogram.c)
 * -----------------------------------------------------------------------
 * Significant figures s give the number of linear sub-buckets per power of two:
 * sub_bucket_count = 2^ceil(log2(2 * 10^s)) (s = 3: 2048), half of it
 * sub_bucket_half_count = 2^h (s = 3: h = 10, 1024). Bucket 0 covers
 * [0, sub_bucket_count << u) in steps of 2^u, where u = floor(log2(lowest));
 * bucket k >= 1 covers [half << (k+u), count << (k+u)) in steps of 2^(k+u),
 * i.e. only its upper half is stored (the lower half is bucket k-1). A value's
 * slot is found from its bit length (one clz), a shift and an add: O(1), no
 * branches on the data, no allocation.
 *
 * The error bound (what every percentile promises)
 * -------------------------------------------------
 * Let eps = 2^-h, returned by hist_relative_error():
 *     s = 1: eps = 2^-4  = 6.25 %       s = 2: eps = 2^-7  = 0.78125 %
 *     s = 3: eps = 2^-10 = 0.09765625 % s = 4: eps = 2^-14 = 0.006103515625 %
 *     s = 5: eps = 2^-17 = 0.00076293945 %
 * (always < 10^-s). Every slot holding a value v >= 2^h << u (for lowest = 1,
 * every v, because slots below 2^(h+1) are exact) is narrower than v * eps, so
 * the value reported for v satisfies   v <= reported < v * (1 + eps),
 * i.e. reported - v < v * eps. Below 2^h << u the error is at most 2^u - 1
 * absolute (slot width 2^u): pick lowest = 1 for nanoseconds.
 *
 * Percentile convention ("highest equivalent value", as HdrHistogram)
 * --------------------------------------------------------------------
 * hist_percentile(h, p) for N samples takes the nearest-rank sample
 * k = max(1, ceil(p * N / 100)) (computed in double as written), finds the slot
 * holding the k-th smallest sample, and returns that slot's highest equivalent
 * value (its upper end), clamped into [min, max], which are tracked exactly.
 * So, with t the true k-th smallest sample:  t <= result < t * (1 + eps), and
 * the result is never below the true minimum nor above the true maximum.
 * p <= 0 returns the exact min; p >= 100 returns the exact max.
 * An empty histogram returns 0 for every percentile, min, max and mean.
 *
 * Out-of-range values
 * -------------------
 * A value above `highest` is recorded as `highest` and counted in `overflows`;
 * its contribution to the error bound is then lost (it reads as `highest`),
 * but min, max and mean still use its true value. Values below `lowest`
 * (including 0) are recorded in bucket 0 with absolute error < 2^u.
 *
 * Rejected alternatives
 * ---------------------
 * - Storing samples and sorting: exact, but O(N) memory and a sort per report.
 * - Pure log2 buckets: 64 counters, but 100 % error — useless for p99.
 * - DDSketch-style log_gamma(v) buckets: same guarantee, but a log() per record.
 * - Approximate mean from the buckets (HdrHistogram does this): we keep an exact
 *   128-bit sum (two uint64 words with carry) instead; it costs one add-carry.
 *
 * Concurrency
 * -----------
 * A histogram has a single writer and no internal synchronisation. To record
 * from several threads, give each thread its own histogram (hist_init with the
 * same parameters), let each thread record into its own, and after the threads
 * have been joined (pthread_join is the happens-before edge) hist_merge them into
 * one on the reporting thread. This costs nothing on the hot path (no atomic RMW,
 * no shared cache line) and merging is one vector add per histogram. Reading a
 * histogram while its owner records is a data race: don't.
 *
 * Memory: counts_len * 8 bytes; lowest = 1, highest = 1 hour, s = 3 is
 * 33 buckets x 1024 slots = 264 KiB.
 */
#ifndef WEFT_COMMON_HISTOGRAM_H
#define WEFT_COMMON_HISTOGRAM_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Limits of hist_init's arguments. HIST_HIGHEST_MAX keeps `v | mask` and all
 * shifts below 2^63. */
#define HIST_SIGFIGS_MIN 1
#define HIST_SIGFIGS_MAX 5
#define HIST_HIGHEST_MAX (UINT64_C(1) << 62)

/* Fields are read-only to users; use the functions. Every field is written only
 * by the owning thread (hist_init/record/merge-into/reset).
 * Invariants (checked by hist_check):
 *   sum(counts[0..counts_len)) == total_count;
 *   total_count == 0  =>  min == UINT64_MAX && max == 0 && sum == 0;
 *   total_count > 0   =>  min <= max; overflows <= total_count. */
typedef struct hist {
    /* configuration, fixed by hist_init */
    uint64_t lowest;              /* smallest value told apart from 0 (>= 1) */
    uint64_t highest;             /* largest trackable value; above: clamped */
    int sigfigs;                  /* significant decimal digits, 1..5 */
    int unit_magnitude;           /* u = floor(log2(lowest)) */
    int sub_bucket_half_count_magnitude; /* h: eps = 2^-h */
    int bucket_count;             /* buckets needed to reach highest */
    uint64_t sub_bucket_count;    /* 2^(h+1) */
    uint64_t sub_bucket_half_count; /* 2^h */
    uint64_t sub_bucket_mask;     /* (sub_bucket_count - 1) << u */
    uint64_t counts_len;          /* (bucket_count + 1) * sub_bucket_half_count */
    uint64_t *counts;             /* counts_len slots, calloc'ed */
    /* statistics */
    uint64_t total_count;         /* samples recorded, overflows included */
    uint64_t overflows;           /* samples > highest, recorded as highest */
    uint64_t min;                 /* exact, UINT64_MAX when empty */
    uint64_t max;                 /* exact, 0 when empty */
    uint64_t sum_lo, sum_hi;      /* exact 128-bit sum of raw values */
} hist;

/* Set up an empty histogram for values in [lowest, highest] with `sigfigs`
 * significant digits. Requires 1 <= lowest, 2 * lowest <= highest <=
 * HIST_HIGHEST_MAX, 1 <= sigfigs <= 5. Returns 0, -EINVAL (message in err_last())
 * or -ENOMEM. Typical latency use: hist_init(&h, 1, 3600000000000, 3). */
int hist_init(hist *h, uint64_t lowest, uint64_t highest, int sigfigs);
/* Free the counts; h may be destroyed twice or after a failed init. */
void hist_destroy(hist *h);
/* Record one value. Owner thread only; O(1), no allocation. */
void hist_record(hist *h, uint64_t v);
/* Record `n` copies of v (n may be 0). Owner thread only; O(1). */
void hist_record_n(hist *h, uint64_t v, uint64_t n);
/* Add src into dst (owner of dst; src must not be written concurrently).
 * Same configuration: slot-by-slot add. Different configuration: each src slot
 * is re-recorded at its lowest equivalent value (HdrHistogram's rule), so the
 * errors of dst and src add up, and samples count as dst overflows by their
 * src slot's lowest value (exact when dst->highest ends a src slot). min, max
 * and mean merge exactly; same configuration: overflows too. */
void hist_merge(hist *dst, const hist *src);
/* Empty the histogram, keeping its configuration and memory. */
void hist_reset(hist *h);

/* Value at percentile p in [0, 100], see "Percentile convention" above. */
uint64_t hist_percentile(const hist *h, double p);
uint64_t hist_min(const hist *h);    /* exact; 0 when empty */
uint64_t hist_max(const hist *h);    /* exact; 0 when empty */
double hist_mean(const hist *h);     /* exact sum / count; 0.0 when empty */
uint64_t hist_count(const hist *h);  /* samples recorded, overflows included */
uint64_t hist_overflows(const hist *h);

/* eps = 2^-h: the relative error bound of this histogram. */
double hist_relative_error(const hist *h);
/* The ends of the slot that holds v (v <= highest). */
uint64_t hist_lowest_equivalent(const hist *h, uint64_t v);
uint64_t hist_highest_equivalent(const hist *h, uint64_t v);
/* Check the invariants above in O(counts_len): 0 if they hold, else -EINVAL
 * with the message in err_last(). For assert() in tests and debug builds. */
int hist_check(const hist *h);

#ifdef __cplusplus
}
#endif
#endif
