/* tests/test_histogram.c - common/histogram: error bound, percentiles, merge.
 *
 * The central check is the header's promise: for the nearest-rank sample t of
 * percentile p, t <= hist_percentile(p) < t * (1 + eps), eps = 2^-h, checked in
 * integer arithmetic as (r - t) << h < t. True percentiles come from sorted
 * copies of the recorded data.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/histogram.h"

#define ONE_HOUR_NS UINT64_C(3600000000000)

static const double test_ps[] = {0,  0.001, 0.1, 1,    5,     10,     25,    50,   75,
                                 90, 95,    99,  99.5, 99.9, 99.99, 99.999, 99.9999, 100};
#define N_PS (sizeof test_ps / sizeof test_ps[0])

/* splitmix64: a tiny deterministic generator for test data. */
static uint64_t test_rng(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Log-uniform in [1, 1 hour]: exercises every bucket. */
static uint64_t test_log_uniform(uint64_t *s)
{
    int bits = 1 + (int)(test_rng(s) % 42); /* 2^41 < 1 hour < 2^42 */
    uint64_t v = test_rng(s) & ((UINT64_C(1) << bits) - 1);
    if (v == 0)
        v = 1;
    return v > ONE_HOUR_NS ? ONE_HOUR_NS : v;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Same rank rule as the header: max(1, ceil(p * n / 100)), p in (0, 100). */
static uint64_t true_percentile(const uint64_t *sorted, uint64_t n, double p)
{
    if (p <= 0)
        return sorted[0];
    if (p >= 100)
        return sorted[n - 1];
    double x = ceil(p * (double)n / 100.0);
    uint64_t rank = x < 1 ? 1 : (x > (double)n ? n : (uint64_t)x);
    return sorted[rank - 1];
}

/* The bound of the header, exact in integers. */
static void assert_within_bound(const hist *h, uint64_t t, uint64_t r)
{
    if (r < t || ((r - t) << h->sub_bucket_half_count_magnitude) >= t)
        fail_msg("percentile %llu outside [%llu, %llu * (1 + 2^-%d))", (unsigned long long)r,
                 (unsigned long long)t, (unsigned long long)t, h->sub_bucket_half_count_magnitude);
}

static void check_all_percentiles(const hist *h, const uint64_t *sorted, uint64_t n)
{
    for (size_t i = 0; i < N_PS; i++) {
        uint64_t t = true_percentile(sorted, n, test_ps[i]);
        uint64_t r = hist_percentile(h, test_ps[i]);
        assert_within_bound(h, t, r);
    }
    /* and a fine sweep */
    for (int k = 1; k < 1000; k++) {
        double p = k / 10.0;
        assert_within_bound(h, true_percentile(sorted, n, p), hist_percentile(h, p));
    }
}

/* ---- configuration ---------------------------------------------------------------- */

static void test_init_rejects_bad_arguments(void **state)
{
    (void)state;
    hist h;
    assert_int_equal(hist_init(&h, 0, 1000, 3), -EINVAL);
    assert_int_equal(hist_init(&h, 10, 19, 3), -EINVAL);
    assert_int_equal(hist_init(&h, 1, HIST_HIGHEST_MAX + 1, 3), -EINVAL);
    assert_int_equal(hist_init(&h, 1, 1000, 0), -EINVAL);
    assert_int_equal(hist_init(&h, 1, 1000, 6), -EINVAL);
    hist_destroy(&h); /* safe after a failed init */
    assert_int_equal(hist_init(&h, 1, HIST_HIGHEST_MAX, 5), 0);
    hist_destroy(&h);
    hist_destroy(&h); /* and twice */
}

static void test_layout_and_error_bound_values(void **state)
{
    (void)state;
    /* eps = 2^-h for s = 1..5, each < 10^-s */
    static const int want_h[] = {4, 7, 10, 14, 17};
    for (int s = 1; s <= 5; s++) {
        hist h;
        assert_int_equal(hist_init(&h, 1, ONE_HOUR_NS, s), 0);
        assert_int_equal(h.sub_bucket_half_count_magnitude, want_h[s - 1]);
        assert_true(hist_relative_error(&h) == ldexp(1.0, -want_h[s - 1]));
        assert_true(hist_relative_error(&h) < pow(10.0, -s));
        hist_destroy(&h);
    }
    /* 1 ns .. 1 hour, 3 digits: 33 buckets of 1024 slots (264 KiB) */
    hist h;
    assert_int_equal(hist_init(&h, 1, ONE_HOUR_NS, 3), 0);
    assert_int_equal(h.bucket_count, 32);
    assert_int_equal(h.counts_len, 33 * 1024);
    hist_destroy(&h);
}

/* Every value up to 2^22 and a sample up to 2^42: the slot bounds and the
 * relative width promised by the header, and index monotonicity. */
static void test_slot_bounds(void **state)
{
    (void)state;
    for (int s = 1; s <= 5; s++) {
        hist h;
        assert_int_equal(hist_init(&h, 1, ONE_HOUR_NS, s), 0);
        int hm = h.sub_bucket_half_count_magnitude;
        uint64_t prev_lo = 0;
        for (uint64_t v = 1; v < (UINT64_C(1) << 22); v++) {
            uint64_t lo = hist_lowest_equivalent(&h, v), hi = hist_highest_equivalent(&h, v);
            if (lo > v || hi < v || ((hi - v) << hm) >= v || lo < prev_lo)
                fail_msg("s=%d v=%llu slot [%llu, %llu]", s, (unsigned long long)v,
                         (unsigned long long)lo, (unsigned long long)hi);
            if (v < h.sub_bucket_count && lo != v)
                fail_msg("s=%d: v=%llu should be exact", s, (unsigned long long)v);
            prev_lo = lo;
        }
        uint64_t seed = 7;
        for (int i = 0; i < 200000; i++) {
            uint64_t v = test_log_uniform(&seed);
            uint64_t lo = hist_lowest_equivalent(&h, v), hi = hist_highest_equivalent(&h, v);
            if (lo > v || hi < v || ((hi - v) << hm) >= v)
                fail_msg("s=%d v=%llu slot [%llu, %llu]", s, (unsigned long long)v,
                         (unsigned long long)lo, (unsigned long long)hi);
            /* the slot's ends map to the slot */
            assert_int_equal(hist_lowest_equivalent(&h, hi), lo);
            assert_int_equal(hist_lowest_equivalent(&h, hi + 1), hi + 1);
        }
        hist_destroy(&h);
    }
}

/* lowest > 1: unit 2^u = 512 for lowest = 1000. Below 2^h << u the slots are
 * 512 wide (absolute error < 2^u); above, the relative bound holds. */
static void test_lowest_above_one(void **state)
{
    (void)state;
    hist h;
    assert_int_equal(hist_init(&h, 1000, 1000000000, 3), 0);
    assert_int_equal(h.unit_magnitude, 9);
    int hm = h.sub_bucket_half_count_magnitude;
    uint64_t seed = 3;
    for (int i = 0; i < 100000; i++) {
        uint64_t v = test_rng(&seed) % 1000000000;
        uint64_t lo = hist_lowest_equivalent(&h, v), hi = hist_highest_equivalent(&h, v);
        assert_true(lo <= v && v <= hi);
        if (v >= (UINT64_C(1) << (hm + 9)))
            assert_true(((hi - v) << hm) < v);
        else
            assert_true(hi - lo == 511);
    }
    hist_record(&h, 5);
    hist_record(&h, 700);
    assert_int_equal(hist_percentile(&h, 50), 511); /* slot [0, 511] */
    assert_int_equal(hist_percentile(&h, 0), 5);
    assert_int_equal(hist_percentile(&h, 100), 700);
    hist_destroy(&h);
}

/* ---- known distributions ---------------------------------------------------------- */

static void test_uniform_1_to_1e6(void **state)
{
    (void)state;
    const uint64_t n = 1000000;
    uint64_t *sorted = malloc(n * sizeof *sorted);
    assert_non_null(sorted);
    for (uint64_t i = 0; i < n; i++)
        sorted[i] = i + 1;
    for (int s = 1; s <= 5; s++) {
        hist h;
        assert_int_equal(hist_init(&h, 1, ONE_HOUR_NS, s), 0);
        for (uint64_t v = n; v >= 1; v--) /* order does not matter */
            hist_record(&h, v);
        assert_int_equal(hist_check(&h), 0);
        assert_int_equal(hist_count(&h), n);
        assert_int_equal(hist_min(&h), 1);
        assert_int_equal(hist_max(&h), n);
        assert_true(hist_mean(&h) == 500000.5);
        check_all_percentiles(&h, sorted, n);
        /* spot values: the median sample is 500000 */
        uint64_t med = hist_percentile(&h, 50);
        assert_true(med >= 500000 && med < 500000u + (500000u >> h.sub_bucket_half_count_magnitude));
        if (s == 3)
            assert_int_equal(med, 500223); /* slot [499968, 500223], width 256 */
        hist_destroy(&h);
    }
    free(sorted);
}

static void test_log_uniform_random(void **state)
{
    (void)state;
    const uint64_t n = 200000;
    uint64_t *vals = malloc(n * sizeof *vals);
    assert_non_null(vals);
    uint64_t seed = 12345;
    hist h;
    assert_int_equal(hist_init(&h, 1, ONE_HOUR_NS, 3), 0);
    for (uint64_t i = 0; i < n; i++) {
        vals[i] = test_log_uniform(&seed);
        hist_record(&h, vals[i]);
    }
    qsort(vals, n, sizeof *vals, cmp_u64);
    assert_int_equal(hist_min(&h), vals[0]);
    assert_int_equal(hist_max(&h), vals[n - 1]);
    check_all_percentiles(&h, vals, n);
    hist_destroy(&h);
    free(vals);
}

static void test_constant(void **state)
{
    (void)state;
    hist h;
    assert_int_equal(hist_init(&h, 1, ONE_HOUR_NS, 3), 0);
    for (int i = 0; i < 1000; i++)
        hist_record(&h, 123456789);
    /* clamping into [min, max] makes every percentile exact */
    for (size_t i = 0; i < N_PS; i++)
        assert_int_equal(hist_percentile(&h, test_ps[i]), 123456789);
    assert_true(hist_mean(&h) == 123456789.0);
    hist_destroy(&h);
}

static void test_two_point(void **state)
{
    (void)state;
    hist h;
    assert_int_equal(hist_init(&h, 1, ONE_HOUR_NS, 3), 0);
    hist_record_n(&h, 100, 900);
    hist_record_n(&h, 1000000, 100);
    assert_int_equal(hist_count(&h), 1000);
    assert_int_equal(hist_percentile(&h, 0), 100);
    assert_int_equal(hist_percentile(&h, 50), 100);
    assert_int_equal(hist_percentile(&h, 90), 100);     /* rank 900 */
    assert_int_equal(hist_percentile(&h, 90.05), 1000000); /* rank 901 */
    assert_int_equal(hist_percentile(&h, 99.9), 1000000);
    assert_int_equal(hist_percentile(&h, 100), 1000000);
    assert_true(hist_mean(&h) == (900.0 * 100 + 100.0 * 1000000) / 1000);
    hist_destroy(&h);
}

static void test_min_max_exact_and_extremes(void **state)
{
    (void)state;
    hist h;
    assert_int_equal(hist_init(&h, 1, ONE_HOUR_NS, 2), 0);
    /* values that sit in wide slots: min/max/p0/p100 must still be exact */
    hist_record(&h, 987654321987);
    hist_record(&h, 1234567);
    hist_record(&h, 555555555);
    assert_int_equal(hist_min(&h), 1234567);
    assert_int_equal(hist_max(&h), 987654321987);
    assert_int_equal(hist_percentile(&h, 0), 1234567);
    assert_int_equal(hist_percentile(&h, -5), 1234567);
    assert_int_equal(hist_percentile(&h, 100), 987654321987);
    assert_int_equal(hist_percentile(&h, 250), 987654321987);
    assert_int_equal(hist_percentile(&h, NAN), 1234567);
    /* rank 2 of 3 at p=50: within bound of 555555555, never outside [min, max] */
    uint64_t r = hist_percentile(&h, 50);
    assert_within_bound(&h, 555555555, r);
    /* rank 3 at p=99: highest equivalent of the max's slot, clamped to max */
    assert_int_equal(hist_percentile(&h, 99), 987654321987);
    /* value 0 is accepted (bucket 0) */
    hist_record(&h, 0);
    assert_int_equal(hist_min(&h), 0);
    assert_int_equal(hist_percentile(&h, 1), 0);
    assert_int_equal(hist_check(&h), 0);
    hist_destroy(&h);
}

static void test_overflow_clamping(void **state)
{
    (void)state;
    hist h;
    assert_int_equal(hist_init(&h, 1, 1000000, 3), 0);
    for (uint64_t v = 1; v <= 1000; v++)
        hist_record(&h, v);
    hist_record(&h, 1000000);       /* == highest: not an overflow */
    hist_record(&h, 2000000);       /* overflows */
    hist_record_n(&h, UINT64_MAX, 2); /* overflows, sum needs 128 bits */
    assert_int_equal(hist_check(&h), 0);
    assert_int_equal(hist_count(&h), 1004);
    assert_int_equal(hist_overflows(&h), 3);
    assert_int_equal(hist_max(&h), UINT64_MAX);
    /* the three overflowed samples sit in highest's slot */
    /* 1000000 itself (rank 1001) and the three overflows share highest's slot */
    uint64_t top = hist_highest_equivalent(&h, 1000000);
    assert_int_equal(hist_percentile(&h, 99.65), top); /* rank 1001 */
    assert_int_equal(hist_percentile(&h, 99.8), top); /* rank 1002: an overflow */
    assert_int_equal(hist_percentile(&h, 100), UINT64_MAX);
    /* exact mean from the 128-bit sum */
    long double want = (500500.0L + 1000000.0L + 2000000.0L + 2.0L * 18446744073709551615.0L) / 1004.0L;
    assert_true(hist_mean(&h) == (double)want);
    hist_destroy(&h);
}

static void test_empty(void **state)
{
    (void)state;
    hist h, other;
    assert_int_equal(hist_init(&h, 1, ONE_HOUR_NS, 3), 0);
    assert_int_equal(hist_init(&other, 1, ONE_HOUR_NS, 3), 0);
    assert_int_equal(hist_count(&h), 0);
    assert_int_equal(hist_min(&h), 0);
    assert_int_equal(hist_max(&h), 0);
    assert_true(hist_mean(&h) == 0.0);
    for (size_t i = 0; i < N_PS; i++)
        assert_int_equal(hist_percentile(&h, test_ps[i]), 0);
    hist_merge(&h, &other);
    assert_int_equal(hist_check(&h), 0);
    assert_int_equal(hist_count(&h), 0);
    /* reset returns to exactly this state */
    hist_record(&h, 42);
    hist_reset(&h);
    assert_int_equal(hist_check(&h), 0);
    assert_int_equal(hist_percentile(&h, 50), 0);
    assert_int_equal(hist_min(&h), 0);
    hist_destroy(&h);
    hist_destroy(&other);
}

static void test_record_n_equals_repeated_record(void **state)
{
    (void)state;
    hist a, b;
    assert_int_equal(hist_init(&a, 1, ONE_HOUR_NS, 3), 0);
    assert_int_equal(hist_init(&b, 1, ONE_HOUR_NS, 3), 0);
    uint64_t seed = 99;
    for (int i = 0; i < 1000; i++) {
        uint64_t v = test_log_uniform(&seed), n = test_rng(&seed) % 50;
        hist_record_n(&a, v, n);
        for (uint64_t k = 0; k < n; k++)
            hist_record(&b, v);
    }
    assert_memory_equal(a.counts, b.counts, a.counts_len * sizeof *a.counts);
    assert_int_equal(a.total_count, b.total_count);
    assert_int_equal(a.sum_lo, b.sum_lo);
    assert_int_equal(a.sum_hi, b.sum_hi);
    hist_destroy(&a);
    hist_destroy(&b);
}

/* ---- merging ---------------------------------------------------------------------- */

static void assert_hist_equal(const hist *a, const hist *b)
{
    assert_int_equal(a->counts_len, b->counts_len);
    assert_memory_equal(a->counts, b->counts, a->counts_len * sizeof *a->counts);
    assert_int_equal(hist_count(a), hist_count(b));
    assert_int_equal(hist_overflows(a), hist_overflows(b));
    assert_int_equal(hist_min(a), hist_min(b));
    assert_int_equal(hist_max(a), hist_max(b));
    assert_true(hist_mean(a) == hist_mean(b));
    for (size_t i = 0; i < N_PS; i++)
        assert_int_equal(hist_percentile(a, test_ps[i]), hist_percentile(b, test_ps[i]));
}

static void test_merge_equals_single(void **state)
{
    (void)state;
    enum { PARTS = 4, N = 100000 };
    hist all, parts[PARTS], merged;
    assert_int_equal(hist_init(&all, 1, 1000000000, 3), 0);
    assert_int_equal(hist_init(&merged, 1, 1000000000, 3), 0);
    for (int i = 0; i < PARTS; i++)
        assert_int_equal(hist_init(&parts[i], 1, 1000000000, 3), 0);
    uint64_t seed = 2024;
    for (int i = 0; i < N; i++) {
        uint64_t v = test_log_uniform(&seed); /* some exceed 1e9: overflows */
        hist_record(&all, v);
        hist_record(&parts[test_rng(&seed) % PARTS], v);
    }
    assert_true(hist_overflows(&all) > 0);
    for (int i = 0; i < PARTS; i++)
        hist_merge(&merged, &parts[i]);
    assert_int_equal(hist_check(&merged), 0);
    assert_hist_equal(&merged, &all);
    for (int i = 0; i < PARTS; i++)
        hist_destroy(&parts[i]);
    hist_destroy(&all);
    hist_destroy(&merged);
}

/* Merging across configurations: counts and exact stats carry over; the
 * percentile error is at most the two bounds combined. */
static void test_merge_different_config(void **state)
{
    (void)state;
    enum { N = 50000 };
    hist coarse, fine;
    assert_int_equal(hist_init(&coarse, 1, ONE_HOUR_NS, 2), 0);
    /* 999423 ends a coarse slot ([999424, 1003519] is the next), so the
     * overflow count, kept at slot granularity, is exact here */
    assert_int_equal(hist_init(&fine, 1, 999423, 3), 0);
    assert_int_equal(hist_lowest_equivalent(&coarse, 999424), 999424);
    uint64_t *vals = malloc(N * sizeof *vals);
    assert_non_null(vals);
    uint64_t seed = 5;
    uint64_t over = 0;
    for (int i = 0; i < N; i++) {
        vals[i] = test_log_uniform(&seed) % 2000000 + 1;
        over += vals[i] > 999423;
        hist_record(&coarse, vals[i]);
    }
    hist_merge(&fine, &coarse);
    assert_int_equal(hist_check(&fine), 0);
    assert_int_equal(hist_count(&fine), N);
    assert_int_equal(hist_overflows(&fine), over);
    assert_int_equal(hist_min(&fine), hist_min(&coarse));
    assert_int_equal(hist_max(&fine), hist_max(&coarse));
    assert_true(hist_mean(&fine) == hist_mean(&coarse));
    qsort(vals, N, sizeof *vals, cmp_u64);
    /* below the clamp, the result is within the coarse slot plus a fine slot */
    for (int k = 1; k < 100; k++) {
        uint64_t t = true_percentile(vals, N, k);
        if (t > 900000)
            break;
        uint64_t r = hist_percentile(&fine, k);
        double rel = fabs((double)r - (double)t) / (double)t;
        assert_true(rel < hist_relative_error(&coarse) + hist_relative_error(&fine));
    }
    free(vals);
    hist_destroy(&coarse);
    hist_destroy(&fine);
}

/* The documented concurrency pattern: one histogram per thread, merged by the
 * reporting thread after pthread_join. Run under TSan it must be silent. */
enum { THREADS = 4, PER_THREAD = 50000 };
struct worker {
    pthread_t tid;
    hist h;
    uint64_t seed;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++)
        hist_record(&w->h, test_log_uniform(&w->seed));
    return NULL;
}

static void test_per_thread_then_merge(void **state)
{
    (void)state;
    struct worker w[THREADS];
    hist total, expect;
    assert_int_equal(hist_init(&total, 1, ONE_HOUR_NS, 3), 0);
    assert_int_equal(hist_init(&expect, 1, ONE_HOUR_NS, 3), 0);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(hist_init(&w[i].h, 1, ONE_HOUR_NS, 3), 0);
        w[i].seed = 1000 + (uint64_t)i;
        /* the same stream, recorded here for comparison */
        uint64_t s = w[i].seed;
        for (int k = 0; k < PER_THREAD; k++)
            hist_record(&expect, test_log_uniform(&s));
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&w[i].tid, NULL, worker_main, &w[i]), 0);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(w[i].tid, NULL), 0);
        hist_merge(&total, &w[i].h);
        hist_destroy(&w[i].h);
    }
    assert_int_equal(hist_count(&total), THREADS * PER_THREAD);
    assert_hist_equal(&total, &expect);
    hist_destroy(&total);
    hist_destroy(&expect);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rejects_bad_arguments),
        cmocka_unit_test(test_layout_and_error_bound_values),
        cmocka_unit_test(test_slot_bounds),
        cmocka_unit_test(test_lowest_above_one),
        cmocka_unit_test(test_uniform_1_to_1e6),
        cmocka_unit_test(test_log_uniform_random),
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_two_point),
        cmocka_unit_test(test_min_max_exact_and_extremes),
        cmocka_unit_test(test_overflow_clamping),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_record_n_equals_repeated_record),
        cmocka_unit_test(test_merge_equals_single),
        cmocka_unit_test(test_merge_different_config),
        cmocka_unit_test(test_per_thread_then_merge),
    };
    return cmocka_run_group_tests_name("histogram", tests, NULL, NULL);
}
