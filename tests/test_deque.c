/*
 * tests/test_deque.c - single-threaded unit tests of the Chase-Lev deque
 * (common/deque.c): empty deque, LIFO pops, FIFO steals, growth from
 * capacity 2 through many doublings, a long random interleaving of push,
 * pop and steal checked step by step against a reference model (wrap-around
 * and growth with top far from 0), steal_half counts and order, and argument
 * checking, the owner's cached top (no growth and no overwrite past a
 * stale one). Concurrency is in test_stress_deque.c.
 *
 * Items are small integers i encoded as the non-NULL pointer i + 1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <errno.h>

#include "common/deque.h"

#define ITEM(i) ((void *)((uintptr_t)(i) + 1))
#define VAL(p) ((uintptr_t)(p) - 1)

static void test_empty(void **state)
{
    (void)state;
    deque d;
    assert_int_equal(deque_init(&d, 2), 0);
    assert_int_equal(deque_len_owner(&d), 0);
    assert_int_equal(deque_len_estimate(&d), 0);
    /* several empty pops must leave bottom where it was */
    for (int i = 0; i < 5; i++) assert_null(deque_pop(&d));
    int status = -1;
    assert_null(deque_steal(&d, &status));
    assert_int_equal(status, DEQUE_EMPTY);
    assert_null(deque_steal(&d, NULL)); /* status is optional */
    assert_int_equal(deque_len_owner(&d), 0);
    assert_int_equal(deque_push(&d, NULL), -EINVAL);
    assert_int_equal(deque_len_owner(&d), 0);
    /* still usable after all that */
    assert_int_equal(deque_push(&d, ITEM(7)), 0);
    assert_int_equal(deque_len_owner(&d), 1);
    assert_ptr_equal(deque_pop(&d), ITEM(7));
    assert_null(deque_pop(&d));
    assert_int_equal(deque_push(&d, ITEM(8)), 0);
    assert_ptr_equal(deque_steal(&d, &status), ITEM(8));
    assert_int_equal(status, DEQUE_OK);
    assert_null(deque_steal(&d, &status));
    assert_int_equal(status, DEQUE_EMPTY);
    assert_null(deque_pop(&d));
    assert_int_equal(deque_capacity_owner(&d), 2);
    deque_destroy(&d);
}

static void test_lifo_owner(void **state)
{
    (void)state;
    deque d;
    assert_int_equal(deque_init(&d, 4), 0);
    for (uintptr_t i = 0; i < 100; i++) assert_int_equal(deque_push(&d, ITEM(i)), 0);
    assert_int_equal(deque_len_owner(&d), 100);
    assert_int_equal(deque_len_estimate(&d), 100);
    for (uintptr_t i = 100; i-- > 0;) assert_ptr_equal(deque_pop(&d), ITEM(i));
    assert_null(deque_pop(&d));
    assert_int_equal(deque_len_owner(&d), 0);
    /* the thief-less pop: the same LIFO order, the same empty answer */
    for (uintptr_t i = 0; i < 100; i++) assert_int_equal(deque_push(&d, ITEM(i)), 0);
    for (uintptr_t i = 100; i-- > 50;) assert_ptr_equal(deque_pop_unshared(&d), ITEM(i));
    assert_ptr_equal(deque_steal(&d, NULL), ITEM(0)); /* the owner's own steal is fine */
    for (uintptr_t i = 50; i-- > 1;) assert_ptr_equal(deque_pop_unshared(&d), ITEM(i));
    assert_null(deque_pop_unshared(&d));
    assert_null(deque_pop(&d));
    assert_int_equal(deque_len_owner(&d), 0);
    deque_destroy(&d);
}

static void test_fifo_steal(void **state)
{
    (void)state;
    deque d;
    assert_int_equal(deque_init(&d, 4), 0);
    for (uintptr_t i = 0; i < 100; i++) assert_int_equal(deque_push(&d, ITEM(i)), 0);
    for (uintptr_t i = 0; i < 100; i++) {
        int status = -1;
        assert_ptr_equal(deque_steal(&d, &status), ITEM(i));
        assert_int_equal(status, DEQUE_OK);
        assert_int_equal(deque_len_estimate(&d), (int64_t)(99 - i));
    }
    int status = -1;
    assert_null(deque_steal(&d, &status));
    assert_int_equal(status, DEQUE_EMPTY);
    assert_null(deque_pop(&d));
    deque_destroy(&d);
}

/* The owner's cached top (top_cache): a push checks room against the top it
 * last read, reloading only when that says full. With capacity 2: a, b fill
 * it; a thief takes a; the push of c finds the cache full, reloads, and
 * reuses a's slot without growing. The thief then gets b (not c, which a
 * push past a stale top would have written over b's slot), the owner c.
 * The bound reads no top and is >= the length; sync makes it exact. */
static void test_top_cache(void **state)
{
    (void)state;
    deque d;
    assert_int_equal(deque_init(&d, 2), 0);
    assert_int_equal(deque_push(&d, ITEM(0)), 0);
    assert_int_equal(deque_push(&d, ITEM(1)), 0);
    int status = -1;
    assert_ptr_equal(deque_steal(&d, &status), ITEM(0));
    assert_int_equal(deque_len_owner(&d), 1);
    assert_int_equal(deque_len_bound_owner(&d), 2); /* the cache still says top = 0 */
    assert_int_equal(deque_push(&d, ITEM(2)), 0);
    assert_int_equal(deque_capacity_owner(&d), 2); /* the reload found room: no growth */
    assert_int_equal(deque_len_bound_owner(&d), 2); /* reloaded: exact */
    assert_ptr_equal(deque_steal(&d, &status), ITEM(1));
    assert_int_equal(deque_len_bound_owner(&d), 2);
    assert_int_equal(deque_len_sync_owner(&d), 1);
    assert_int_equal(deque_len_bound_owner(&d), 1);
    assert_ptr_equal(deque_pop(&d), ITEM(2));
    assert_null(deque_pop(&d));
    /* many wraps with a thief one behind: every item once, in order, and the
     * array never grows, so no push ever wrote over an item still present */
    for (uintptr_t i = 3; i < 1003; i++) {
        assert_int_equal(deque_push(&d, ITEM(i)), 0);
        if (i > 3) assert_ptr_equal(deque_steal(&d, &status), ITEM(i - 1));
    }
    assert_int_equal(deque_capacity_owner(&d), 2);
    assert_ptr_equal(deque_pop(&d), ITEM(1002));
    assert_null(deque_pop(&d));
    deque_destroy(&d);

    /* The cache is used: pushes with room by the cache read no top. With
     * capacity 4, four pushes fill it without a reload; a thief takes one;
     * the fifth push finds the cache full and reloads once (and the
     * reload finds room, so no growth); the bound lags the steal until then. */
    assert_int_equal(deque_init(&d, 4), 0);
    for (uintptr_t i = 0; i < 4; i++) assert_int_equal(deque_push(&d, ITEM(i)), 0);
    assert_int_equal(d.top_reloads, 0);
    assert_ptr_equal(deque_steal(&d, &status), ITEM(0));
    assert_int_equal(deque_len_bound_owner(&d), 4); /* stale: the push read no top */
    assert_int_equal(deque_push(&d, ITEM(4)), 0);
    assert_int_equal(d.top_reloads, 1);
    assert_int_equal(deque_capacity_owner(&d), 4);
    assert_int_equal(deque_len_bound_owner(&d), 4); /* reloaded: exact (4 items) */
    assert_int_equal(deque_len_sync_owner(&d), 4);
    for (uintptr_t i = 4; i >= 1; i--) assert_ptr_equal(deque_pop(&d), ITEM(i));
    assert_null(deque_pop(&d));
    deque_destroy(&d);
}

static size_t next_pow2_at_least(size_t n, size_t floor)
{
    size_t c = floor;
    while (c < n) c *= 2;
    return c;
}

/* From capacity 2 through 17 doublings; the capacity is exactly the next
 * power of two that holds the contents, and every item survives each copy.
 * Then again with top far from 0, so each copy wraps around the old array. */
static void test_growth(void **state)
{
    (void)state;
    enum { N = 1 << 17 };
    deque d;
    assert_int_equal(deque_init(&d, 2), 0);
    for (uintptr_t i = 0; i < N; i++) {
        assert_int_equal(deque_push(&d, ITEM(i)), 0);
        assert_int_equal(deque_capacity_owner(&d), next_pow2_at_least(i + 1, 2));
    }
    assert_int_equal(deque_capacity_owner(&d), N);
    assert_int_equal(deque_len_owner(&d), N);
    /* oldest half by steal (FIFO), newest half by pop (LIFO) */
    for (uintptr_t i = 0; i < N / 2; i++) assert_ptr_equal(deque_steal(&d, NULL), ITEM(i));
    for (uintptr_t i = N; i-- > N / 2;) assert_ptr_equal(deque_pop(&d), ITEM(i));
    assert_null(deque_pop(&d));
    assert_int_equal(deque_capacity_owner(&d), N); /* never shrinks */
    deque_destroy(&d);

    /* Offset start: top = bottom = 1001 (odd, so not slot 0), then grow. */
    assert_int_equal(deque_init(&d, 2), 0);
    for (uintptr_t i = 0; i < 1001; i++) {
        assert_int_equal(deque_push(&d, ITEM(i)), 0);
        assert_ptr_equal(deque_steal(&d, NULL), ITEM(i));
    }
    assert_int_equal(deque_capacity_owner(&d), 2);
    for (uintptr_t i = 0; i < 4096; i++) {
        assert_int_equal(deque_push(&d, ITEM(10000 + i)), 0);
        if (i % 3 == 2) /* keep top moving while the array grows */
            assert_ptr_equal(deque_steal(&d, NULL), ITEM(10000 + i / 3));
    }
    int64_t len = deque_len_owner(&d);
    assert_int_equal(len, 4096 - 4096 / 3);
    assert_int_equal(deque_capacity_owner(&d), next_pow2_at_least((size_t)len, 2));
    for (uintptr_t i = 4096 / 3; i < 4096; i++)
        assert_ptr_equal(deque_steal(&d, NULL), ITEM(10000 + i));
    assert_null(deque_steal(&d, NULL));
    deque_destroy(&d);
}

/* xorshift64*: deterministic, good enough to pick operations */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Reference model: an array with head (oldest) and tail (next free). */
typedef struct {
    uintptr_t *v;
    size_t head, tail;
} model;

/* unshared: every other pop is deque_pop_unshared (legal: no other thread) */
static void run_model(size_t initial_capacity, uint64_t seed, size_t ops, bool unshared)
{
    deque d;
    assert_int_equal(deque_init(&d, initial_capacity), 0);
    model m = {calloc(ops, sizeof(uintptr_t)), 0, 0};
    assert_non_null(m.v);
    uintptr_t next = 0;
    size_t pushes = 0, pops = 0, steals = 0, empties = 0;
    for (size_t k = 0; k < ops; k++) {
        /* Phases of 1000 ops alternate a push bias (grow) and a take bias
         * (drain to empty, so top passes many capacities). */
        unsigned push_pct = (k / 1000) % 2 ? 35 : 65;
        unsigned r = (unsigned)(rng_next(&seed) % 100);
        if (r < push_pct) {
            assert_int_equal(deque_push(&d, ITEM(next)), 0);
            m.v[m.tail++] = next++;
            pushes++;
        } else if (r < push_pct + (100 - push_pct) / 2) {
            void *got = unshared && (k & 1) ? deque_pop_unshared(&d) : deque_pop(&d);
            if (m.head == m.tail) {
                assert_null(got);
                empties++;
            } else {
                assert_ptr_equal(got, ITEM(m.v[--m.tail]));
                pops++;
            }
        } else {
            int status = -1;
            void *got = deque_steal(&d, &status);
            if (m.head == m.tail) {
                assert_null(got);
                assert_int_equal(status, DEQUE_EMPTY);
                empties++;
            } else {
                assert_int_equal(status, DEQUE_OK);
                assert_ptr_equal(got, ITEM(m.v[m.head++]));
                steals++;
            }
        }
        int64_t len = (int64_t)(m.tail - m.head);
        assert_int_equal(deque_len_owner(&d), len);
        assert_int_equal(deque_len_estimate(&d), len);
        assert_true(deque_capacity_owner(&d) >= (size_t)len);
        if (m.head == m.tail) m.head = m.tail = 0; /* reuse model space */
    }
    /* every kind of step happened many times */
    assert_true(pushes > ops / 3 && pops > ops / 10 && steals > ops / 10 && empties > 100);
    while (m.head < m.tail) assert_ptr_equal(deque_steal(&d, NULL), ITEM(m.v[m.head++]));
    assert_null(deque_pop(&d));
    free(m.v);
    deque_destroy(&d);
}

static void test_model_interleaved(void **state)
{
    (void)state;
    run_model(2, 0x9e3779b97f4a7c15ull, 200000, false);
    run_model(4, 12345, 200000, false);
    run_model(64, 777, 200000, false);
    run_model(2, 0x9e3779b97f4a7c15ull, 200000, true);
    run_model(4, 12345, 200000, true);
}

/* steal_half moves exactly ceil(n/2) items when uncontended, oldest first,
 * into the end of the thief's deque, which may already hold items. */
static void test_steal_half_counts(void **state)
{
    (void)state;
    for (uintptr_t n = 0; n <= 40; n++) {
        deque victim, into;
        assert_int_equal(deque_init(&victim, 2), 0);
        assert_int_equal(deque_init(&into, 2), 0);
        uintptr_t pre = n % 3; /* items the thief already holds */
        for (uintptr_t i = 0; i < pre; i++) assert_int_equal(deque_push(&into, ITEM(1000 + i)), 0);
        for (uintptr_t i = 0; i < n; i++) assert_int_equal(deque_push(&victim, ITEM(i)), 0);
        size_t moved = deque_steal_half(&victim, &into);
        uintptr_t want = (n + 1) / 2;
        assert_int_equal(moved, want);
        assert_int_equal(deque_len_owner(&victim), (int64_t)(n - want));
        assert_int_equal(deque_len_owner(&into), (int64_t)(pre + want));
        /* the thief pops what it stole newest-first, then its own items */
        for (uintptr_t i = want; i-- > 0;) assert_ptr_equal(deque_pop(&into), ITEM(i));
        for (uintptr_t i = pre; i-- > 0;) assert_ptr_equal(deque_pop(&into), ITEM(1000 + i));
        assert_null(deque_pop(&into));
        /* the victim kept the newer half, in order */
        for (uintptr_t i = want; i < n; i++) assert_ptr_equal(deque_steal(&victim, NULL), ITEM(i));
        assert_null(deque_pop(&victim));
        deque_destroy(&victim);
        deque_destroy(&into);
    }
    /* repeated halving: 100 -> 50 -> 25 -> 12 -> 6 -> 3 -> 1 -> 0 left */
    deque victim, into;
    assert_int_equal(deque_init(&victim, 2), 0);
    assert_int_equal(deque_init(&into, 2), 0);
    for (uintptr_t i = 0; i < 100; i++) assert_int_equal(deque_push(&victim, ITEM(i)), 0);
    static const size_t expect[] = {50, 25, 13, 6, 3, 2, 1, 0};
    for (size_t k = 0; k < sizeof expect / sizeof expect[0]; k++)
        assert_int_equal(deque_steal_half(&victim, &into), expect[k]);
    assert_int_equal(deque_len_owner(&into), 100);
    for (uintptr_t i = 100; i-- > 0;) assert_ptr_equal(deque_pop(&into), ITEM(i));
    /* a deque cannot be its own thief */
    assert_int_equal(deque_push(&victim, ITEM(1)), 0);
    assert_int_equal(deque_steal_half(&victim, &victim), 0);
    assert_int_equal(deque_len_owner(&victim), 1);
    deque_destroy(&victim);
    deque_destroy(&into);
}

/* steal_half_max moves min(ceil(n/2), max), the oldest first, and leaves the
 * rest in order; max 0 moves nothing. */
static void test_steal_half_max(void **state)
{
    (void)state;
    static const size_t maxes[] = {0, 1, 3, 7, 128, SIZE_MAX};
    for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
        for (uintptr_t n = 0; n <= 300; n += 13) {
            deque victim, into;
            assert_int_equal(deque_init(&victim, 2), 0);
            assert_int_equal(deque_init(&into, 2), 0);
            for (uintptr_t i = 0; i < n; i++) assert_int_equal(deque_push(&victim, ITEM(i)), 0);
            size_t want = (size_t)(n + 1) / 2;
            if (want > maxes[m]) want = maxes[m];
            assert_int_equal(deque_steal_half_max(&victim, &into, maxes[m]), want);
            assert_int_equal(deque_len_owner(&into), (int64_t)want);
            assert_int_equal(deque_len_owner(&victim), (int64_t)(n - want));
            for (uintptr_t i = want; i-- > 0;) assert_ptr_equal(deque_pop(&into), ITEM(i));
            assert_null(deque_pop(&into));
            for (uintptr_t i = want; i < n; i++) assert_ptr_equal(deque_steal(&victim, NULL), ITEM(i));
            assert_null(deque_pop(&victim));
            deque_destroy(&victim);
            deque_destroy(&into);
        }
    }
}

static void test_bad_capacity(void **state)
{
    (void)state;
    static const size_t bad[] = {0, 1, 3, 6, 12, 100, 1023, (size_t)-1,
                                 (size_t)DEQUE_CAPACITY_MAX * 2};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        deque d;
        assert_int_equal(deque_init(&d, bad[k]), -EINVAL);
    }
    static const size_t good[] = {2, 4, 1024};
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        deque d;
        assert_int_equal(deque_init(&d, good[k]), 0);
        assert_int_equal(deque_capacity_owner(&d), good[k]);
        deque_destroy(&d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_lifo_owner),
        cmocka_unit_test(test_fifo_steal),
        cmocka_unit_test(test_top_cache),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_model_interleaved),
        cmocka_unit_test(test_steal_half_counts),
        cmocka_unit_test(test_steal_half_max),
        cmocka_unit_test(test_bad_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
