/* common/histogram.c - HdrHistogram-style log-linear histogram.
 *
 * The design, the error bound and the percentile convention are argued in
 * histogram.h. This file holds the index arithmetic, which follows
 * HdrHistogram's C port (hdr_histogram.c: counts_index, value_from_index,
 * buckets_to_cover) so that anyone who knows that code can check this one:
 *
 *   pow2ceiling   = bit length of (v | sub_bucket_mask)      (>= u + h + 1)
 *   bucket        = pow2ceiling - u - (h + 1)                 (0 for small v)
 *   sub_bucket    = v >> (bucket + u)                         (in [half, count)
 *                                                              except bucket 0)
 *   counts_index  = ((bucket + 1) << h) + (sub_bucket - half)
 *
 * OR-ing the mask in forces every value below sub_bucket_count << u into
 * bucket 0, where all sub_bucket_count sub-buckets are used; in every other
 * bucket the lower half would repeat bucket - 1 and is skipped. Hence
 * counts_len = (bucket_count + 1) * half.
 */
#include "common/histogram.h"
#include "common/error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- index arithmetic --------------------------------------------------------- */

static int hist_bit_length(uint64_t x) /* x > 0 */
{
    return 64 - __builtin_clzll(x);
}

static int hist_bucket_index(const hist *h, uint64_t v)
{
    int pow2ceiling = hist_bit_length(v | h->sub_bucket_mask);
    return pow2ceiling - h->unit_magnitude - (h->sub_bucket_half_count_magnitude + 1);
}

static uint64_t hist_counts_index(const hist *h, uint64_t v)
{
    int bucket = hist_bucket_index(h, v);
    uint64_t sub = v >> (bucket + h->unit_magnitude);
    return ((uint64_t)(bucket + 1) << h->sub_bucket_half_count_magnitude) +
           (sub - h->sub_bucket_half_count);
}

/* Lowest value held by slot `index`. */
static uint64_t hist_value_from_index(const hist *h, uint64_t index)
{
    int bucket = (int)(index >> h->sub_bucket_half_count_magnitude) - 1;
    uint64_t sub = (index & (h->sub_bucket_half_count - 1)) + h->sub_bucket_half_count;
    if (bucket < 0) {
        sub -= h->sub_bucket_half_count;
        bucket = 0;
    }
    return sub << (bucket + h->unit_magnitude);
}

/* Width of the slot holding v. */
static uint64_t hist_slot_width(const hist *h, uint64_t v)
{
    int bucket = hist_bucket_index(h, v);
    uint64_t sub = v >> (bucket + h->unit_magnitude);
    int adjusted = sub >= h->sub_bucket_count ? bucket + 1 : bucket;
    return UINT64_C(1) << (h->unit_magnitude + adjusted);
}

uint64_t hist_lowest_equivalent(const hist *h, uint64_t v)
{
    int bucket = hist_bucket_index(h, v);
    uint64_t sub = v >> (bucket + h->unit_magnitude);
    return sub << (bucket + h->unit_magnitude);
}

uint64_t hist_highest_equivalent(const hist *h, uint64_t v)
{
    return hist_lowest_equivalent(h, v) + hist_slot_width(h, v) - 1;
}

double hist_relative_error(const hist *h)
{
    return ldexp(1.0, -h->sub_bucket_half_count_magnitude);
}

/* ---- life cycle ---------------------------------------------------------------- */

int hist_init(hist *h, uint64_t lowest, uint64_t highest, int sigfigs)
{
    memset(h, 0, sizeof *h);
    if (lowest < 1) {
        return err_fail(-EINVAL, "hist_init: lowest must be >= 1 (got 0); use 1 for nanoseconds");
    }
    if (highest > HIST_HIGHEST_MAX || highest / 2 < lowest) {
        return err_fail(-EINVAL,
                        "hist_init: need 2 * lowest <= highest <= 2^62, got lowest=%llu highest=%llu",
                        (unsigned long long)lowest, (unsigned long long)highest);
    }
    if (sigfigs < HIST_SIGFIGS_MIN || sigfigs > HIST_SIGFIGS_MAX) {
        return err_fail(-EINVAL, "hist_init: sigfigs must be in [%d, %d], got %d", HIST_SIGFIGS_MIN,
                        HIST_SIGFIGS_MAX, sigfigs);
    }

    /* Largest value that must keep unit resolution: 2 * 10^s (so that the
     * slot width stays below 10^-s of the value, HdrHistogram's rule). */
    uint64_t single_unit = 2;
    for (int i = 0; i < sigfigs; i++)
        single_unit *= 10;
    int count_magnitude = hist_bit_length(single_unit - 1); /* ceil(log2) */
    int half_magnitude = count_magnitude > 1 ? count_magnitude - 1 : 0;
    int unit_magnitude = hist_bit_length(lowest) - 1; /* floor(log2) */
    /* sub_bucket_count << unit_magnitude must fit in 63 bits. */
    if (unit_magnitude + half_magnitude > 61) {
        return err_fail(-EINVAL, "hist_init: lowest=%llu with %d significant figures exceeds 64 bits",
                        (unsigned long long)lowest, sigfigs);
    }

    h->lowest = lowest;
    h->highest = highest;
    h->sigfigs = sigfigs;
    h->unit_magnitude = unit_magnitude;
    h->sub_bucket_half_count_magnitude = half_magnitude;
    h->sub_bucket_count = UINT64_C(1) << (half_magnitude + 1);
    h->sub_bucket_half_count = h->sub_bucket_count / 2;
    h->sub_bucket_mask = (h->sub_bucket_count - 1) << unit_magnitude;

    /* Buckets to cover `highest`: bucket b reaches sub_bucket_count << (u+b). */
    uint64_t smallest_untrackable = h->sub_bucket_count << unit_magnitude;
    int buckets = 1;
    while (smallest_untrackable <= highest) {
        smallest_untrackable <<= 1; /* highest <= 2^62 ends this before 2^63 */
        buckets++;
    }
    h->bucket_count = buckets;
    h->counts_len = (uint64_t)(buckets + 1) * h->sub_bucket_half_count;
    h->counts = calloc(h->counts_len, sizeof *h->counts);
    if (!h->counts)
        return -ENOMEM;
    h->min = UINT64_MAX;
    /* The slot of `highest` is the last one hist_record can touch. */
    if (hist_counts_index(h, highest) >= h->counts_len) {
        fprintf(stderr, "hist_init: internal error, highest maps past the counts\n");
        abort();
    }
    return 0;
}

void hist_destroy(hist *h)
{
    free(h->counts);
    h->counts = NULL;
    h->counts_len = 0;
}

void hist_reset(hist *h)
{
    memset(h->counts, 0, h->counts_len * sizeof *h->counts);
    h->total_count = 0;
    h->overflows = 0;
    h->min = UINT64_MAX;
    h->max = 0;
    h->sum_lo = 0;
    h->sum_hi = 0;
}

/* ---- recording ----------------------------------------------------------------- */

static void hist_sum_add(hist *h, uint64_t lo, uint64_t hi)
{
    uint64_t old = h->sum_lo;
    h->sum_lo += lo;
    h->sum_hi += hi + (h->sum_lo < old);
}

void hist_record_n(hist *h, uint64_t v, uint64_t n)
{
    if (n == 0)
        return;
    uint64_t slot_value = v;
    if (v > h->highest) {
        slot_value = h->highest;
        h->overflows += n;
    }
    h->counts[hist_counts_index(h, slot_value)] += n;
    h->total_count += n;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    /* v * n as 128 bits: split v into 32-bit halves. */
    uint64_t vlo = v & 0xffffffffu, vhi = v >> 32;
    uint64_t a = vlo * (n & 0xffffffffu), b = vlo * (n >> 32);
    uint64_t c = vhi * (n & 0xffffffffu), d = vhi * (n >> 32);
    uint64_t mid = (a >> 32) + (b & 0xffffffffu) + (c & 0xffffffffu);
    uint64_t lo = (a & 0xffffffffu) | (mid << 32);
    uint64_t hi = d + (b >> 32) + (c >> 32) + (mid >> 32);
    hist_sum_add(h, lo, hi);
}

void hist_record(hist *h, uint64_t v)
{
    uint64_t slot_value = v;
    if (v > h->highest) {
        slot_value = h->highest;
        h->overflows++;
    }
    h->counts[hist_counts_index(h, slot_value)]++;
    h->total_count++;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    hist_sum_add(h, v, 0);
}

void hist_merge(hist *dst, const hist *src)
{
    if (src->total_count == 0)
        return;
    int same_layout = dst->unit_magnitude == src->unit_magnitude &&
                      dst->sub_bucket_half_count_magnitude == src->sub_bucket_half_count_magnitude &&
                      dst->bucket_count == src->bucket_count && dst->highest == src->highest;
    if (same_layout) {
        for (uint64_t i = 0; i < src->counts_len; i++)
            dst->counts[i] += src->counts[i];
        dst->overflows += src->overflows;
    } else {
        /* Re-record each slot at its lowest equivalent value. The slot of
         * src->highest also holds src's overflows, which are counted once. */
        uint64_t src_top = hist_counts_index(src, src->highest);
        uint64_t clamped = 0;
        for (uint64_t i = 0; i < src->counts_len; i++) {
            uint64_t c = src->counts[i];
            if (c == 0)
                continue;
            uint64_t v = hist_value_from_index(src, i);
            if (v > dst->highest) {
                clamped += i == src_top ? c - src->overflows : c;
                v = dst->highest;
            }
            dst->counts[hist_counts_index(dst, v)] += c;
        }
        dst->overflows += src->overflows + clamped;
    }
    dst->total_count += src->total_count;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    hist_sum_add(dst, src->sum_lo, src->sum_hi);
}

/* ---- queries ------------------------------------------------------------------- */

uint64_t hist_percentile(const hist *h, double p)
{
    uint64_t n = h->total_count;
    if (n == 0)
        return 0;
    if (!(p > 0.0)) /* also NaN */
        return h->min;
    if (p >= 100.0)
        return h->max;
    /* Nearest rank; p * n first, so that e.g. 99.9 * 1000 / 100 is exactly 999. */
    double x = ceil(p * (double)n / 100.0);
    uint64_t rank = x < 1.0 ? 1 : (x >= (double)n ? n : (uint64_t)x);
    uint64_t cum = 0;
    for (uint64_t i = 0; i < h->counts_len; i++) {
        cum += h->counts[i];
        if (cum >= rank) {
            uint64_t v = hist_highest_equivalent(h, hist_value_from_index(h, i));
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max; /* unreachable when hist_check holds */
}

uint64_t hist_min(const hist *h)
{
    return h->total_count ? h->min : 0;
}

uint64_t hist_max(const hist *h)
{
    return h->max;
}

double hist_mean(const hist *h)
{
    if (h->total_count == 0)
        return 0.0;
    long double sum = (long double)h->sum_hi * 18446744073709551616.0L + (long double)h->sum_lo;
    return (double)(sum / (long double)h->total_count);
}

uint64_t hist_count(const hist *h)
{
    return h->total_count;
}

uint64_t hist_overflows(const hist *h)
{
    return h->overflows;
}

int hist_check(const hist *h)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < h->counts_len; i++)
        sum += h->counts[i];
    const char *bad = NULL;
    if (sum != h->total_count)
        bad = "slot counts do not add up to total_count";
    else if (h->total_count == 0 && (h->min != UINT64_MAX || h->max != 0 || h->sum_lo || h->sum_hi))
        bad = "empty histogram with min/max/sum set";
    else if (h->total_count > 0 && h->min > h->max)
        bad = "min > max";
    else if (h->overflows > h->total_count)
        bad = "more overflows than samples";
    if (bad) {
        return err_fail(-EINVAL, "hist_check: %s (total %llu, slots %llu)", bad,
                        (unsigned long long)h->total_count, (unsigned long long)sum);
    }
    return 0;
}
