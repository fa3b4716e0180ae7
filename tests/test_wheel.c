/*
 * tests/test_wheel.c - the timing wheel (timers/wheel.c) and the timer
 * driver (timers/timer.c) with an injected clock: deterministic, no
 * runtime. Ordering, ties, every level boundary and cascade, the level-0
 * ring across a block boundary, cancel in every place an entry can be,
 * overflow, re-arm, exact next deadline, never early, a random stress
 * against a sorted reference model (also with near deadlines), the
 * driver's batches, wakers that arm and cancel from inside fire, notify
 * while parked, teardown, and one two-thread run for the sanitizers.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/context.h"
#include "timers/timer.h"
#include "timers/wheel.h"
#include "weft/time.h"

/* ---- helpers ------------------------------------------------------------------ */

typedef struct tent {
    wheel_entry e;
    int id;
} tent;

#define TENT(we) ((tent *)((char *)(we) - offsetof(tent, e)))

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    uint64_t x = rng_state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}
static uint64_t rnd_below(uint64_t n) { return n ? rnd() % n : 0; }

static tent *tents_new(size_t n)
{
    tent *t = calloc(n, sizeof *t);
    assert_non_null(t);
    for (size_t i = 0; i < n; i++) {
        wheel_entry_init(&t[i].e);
        t[i].id = (int)i;
    }
    return t;
}

/* Pops everything due at now into ids[]; returns the count. */
static size_t pop_all(wheel *w, uint64_t now, int *ids, size_t max)
{
    size_t n = 0;
    wheel_entry *e;
    while ((e = wheel_pop_expired(w, now)) != NULL) {
        assert_true(n < max);
        assert_int_equal(e->state, WHEEL_FIRED);
        assert_true(e->deadline_ns <= now);
        ids[n++] = TENT(e)->id;
    }
    assert_int_equal(wheel_check(w), 0);
    return n;
}

/* ---- wheel: ordering ------------------------------------------------------------ */

static void test_order_random(void **state)
{
    (void)state;
    enum { N = 5000 };
    wheel w;
    assert_int_equal(wheel_init(&w, 1000, 0, 0), 0);
    tent *t = tents_new(N);
    for (int i = 0; i < N; i++) wheel_arm(&w, &t[i].e, rnd_below(50ull * 1000 * 1000 * 1000));
    assert_int_equal(wheel_count(&w), N);
    assert_int_equal(wheel_check(&w), 0);
    static int ids[N];
    /* in uneven steps, then all at once */
    uint64_t now = 0;
    size_t got = 0;
    uint64_t last = 0;
    while (got < N) {
        now += rnd_below(2000000000ull);
        size_t n = pop_all(&w, now, ids + got, N - got);
        for (size_t i = 0; i < n; i++) {
            uint64_t d = t[ids[got + i]].e.deadline_ns;
            assert_true(d >= last);
            assert_true(d <= now);
            last = d;
        }
        got += n;
        /* nothing still armed is due */
        assert_true(wheel_next_deadline(&w) > now);
    }
    assert_int_equal(wheel_count(&w), 0);
    assert_int_equal(wheel_next_deadline(&w), UINT64_MAX);
    free(t);
}

static void test_ties_in_arming_order(void **state)
{
    (void)state;
    enum { N = 300 };
    wheel w;
    assert_int_equal(wheel_init(&w, 1000000, 0, 0), 0);
    tent *t = tents_new(N);
    const uint64_t d = 5000ull * 1000000 + 123; /* level 2 from E = 0 */
    /* Armed at different E, so the same deadline takes different paths
     * through the levels (level 2, then 1, then 0), yet arm order wins. */
    int order[N];
    int k = 0;
    for (int i = 0; i < 100; i++) {
        wheel_arm(&w, &t[(i * 7) % 100].e, d);
        order[k++] = (i * 7) % 100;
    }
    assert_null(wheel_pop_expired(&w, 4100ull * 1000000)); /* E in d's level-1 block */
    for (int i = 100; i < 200; i++) {
        wheel_arm(&w, &t[i].e, d);
        order[k++] = i;
    }
    /* group 1 went level 2 -> 1, group 2 straight to 1; group 3 below goes
     * straight to 0 while 1 and 2 cascade again */
    assert_int_equal(t[0].e.level, 1);
    assert_int_equal(t[100].e.level, 1);
    assert_null(wheel_pop_expired(&w, d - 1)); /* E in d's tick */
    assert_int_equal(t[0].e.level, 0);
    for (int i = 200; i < N; i++) {
        wheel_arm(&w, &t[i].e, d);
        order[k++] = i;
    }
    /* re-arming one of the first moves it to the back */
    wheel_arm(&w, &t[order[0]].e, d);
    int first = order[0];
    memmove(order, order + 1, (N - 1) * sizeof order[0]);
    order[N - 1] = first;
    assert_int_equal(wheel_next_deadline(&w), d);
    int ids[N];
    assert_int_equal(pop_all(&w, d, ids, N), N);
    for (int i = 0; i < N; i++) assert_int_equal(ids[i], order[i]);
    free(t);
}

/* ---- wheel: every level boundary, cascades, never early ------------------------ */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void boundaries_run(uint64_t tick, unsigned levels, uint64_t base_ticks, int one_jump)
{
    enum { MAXE = 7 * 9 };
    wheel w;
    uint64_t base = base_ticks * tick;
    assert_int_equal(wheel_init(&w, tick, levels, base), 0);
    tent *t = tents_new(MAXE);
    uint64_t dls[MAXE];
    int n = 0;
    for (unsigned k = 0; k <= levels; k++) {
        uint64_t span = 1;
        for (unsigned i = 0; i < k; i++) span *= WHEEL_SLOTS;
        for (int dt = -1; dt <= 1; dt++) {
            for (int dns = -1; dns <= 1; dns++) {
                int64_t off = (int64_t)((span + (uint64_t)(int64_t)dt) * tick) + dns;
                uint64_t d = (int64_t)base + off < 0 ? 0 : (uint64_t)((int64_t)base + off);
                dls[n] = d;
                wheel_arm(&w, &t[n].e, d);
                n++;
            }
        }
    }
    assert_int_equal(wheel_check(&w), 0);
    if (base_ticks == 0) {
        /* where they landed: tick 64^k is the first tick of level k, except
         * that level 0 also holds the next 64 ticks (the two-block ring), so
         * tick 64 is at level 0 and tick 128 the first of level 1 */
        for (unsigned k = 1; k <= levels; k++) {
            tent *exact = &t[k * 9 + 4];      /* dt = 0, dns = 0 */
            tent *below = &t[k * 9 + 1];      /* dt = -1, dns = 0 */
            unsigned want = k == 1 ? 0 : k < levels ? k : WHEEL_LEVEL_OVERFLOW;
            assert_int_equal(exact->e.level, want);
            if (k > 1) assert_int_equal(below->e.level, k - 1);
        }
        if (levels > 1) { /* the ring's end: tick 127 at level 0, 128 at level 1 */
            tent x[2];
            wheel_entry_init(&x[0].e);
            wheel_entry_init(&x[1].e);
            wheel_arm(&w, &x[0].e, 127 * tick + tick - 1);
            wheel_arm(&w, &x[1].e, 128 * tick);
            assert_int_equal(x[0].e.level, 0);
            assert_int_equal(x[1].e.level, 1);
            assert_int_equal(wheel_check(&w), 0);
            assert_true(wheel_cancel(&w, &x[0].e));
            assert_true(wheel_cancel(&w, &x[1].e));
        }
    }
    uint64_t sorted[MAXE];
    memcpy(sorted, dls, sizeof sorted);
    qsort(sorted, (size_t)n, sizeof sorted[0], cmp_u64);
    int ids[MAXE];
    if (one_jump) {
        assert_int_equal(pop_all(&w, sorted[n - 1], ids, MAXE), n);
        for (int i = 1; i < n; i++) assert_true(dls[ids[i - 1]] <= dls[ids[i]]);
    } else {
        int fired = 0;
        for (int i = 0; i < n; i++) {
            uint64_t d = sorted[i];
            if (i > 0 && sorted[i - 1] == d) continue;
            assert_int_equal(wheel_next_deadline(&w), d); /* exact, through cascades */
            if (d > 0) assert_int_equal(pop_all(&w, d - 1, ids, MAXE), 0); /* never early */
            assert_int_equal(wheel_next_deadline(&w), d);
            size_t got = pop_all(&w, d, ids, MAXE);
            int want = 0;
            for (int j = 0; j < n; j++) want += dls[j] == d;
            assert_int_equal(got, want);
            for (size_t j = 0; j < got; j++) assert_int_equal(dls[ids[j]], d);
            fired += (int)got;
        }
        assert_int_equal(fired, n);
    }
    assert_int_equal(wheel_count(&w), 0);
    assert_int_equal(wheel_next_deadline(&w), UINT64_MAX);
    free(t);
}

/* wheel_tick_of (a reciprocal multiply and one correction) equals the
 * division for every tick width class and the values where an off-by-one
 * would show: multiples of the tick, one either side, 0, UINT64_MAX, and
 * random values. */
static void test_tick_of_exact(void **state)
{
    (void)state;
    const uint64_t ticks[] = {1,       2,           3,          7,         1000,         999983,
                              1000000, 1048576,     4000000,    1000000007, 3600000000000ull,
                              (1ull << 63) - 1, 1ull << 63, (1ull << 63) + 1, UINT64_MAX - 1, UINT64_MAX};
    for (size_t k = 0; k < sizeof ticks / sizeof ticks[0]; k++) {
        wheel w;
        w.tick_ns = ticks[k];
        w.tick_inv = UINT64_MAX / ticks[k];
        uint64_t d = ticks[k];
        const uint64_t fixed[] = {0, 1, d - 1, d, d + 1, 2 * d - 1, 2 * d, UINT64_MAX, UINT64_MAX - 1,
                                  UINT64_MAX / d * d, UINT64_MAX / d * d - 1};
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
            assert_int_equal(wheel_tick_of(&w, fixed[i]), fixed[i] / d);
        for (int i = 0; i < 20000; i++) {
            uint64_t x = rnd();
            uint64_t m = (x / d) * d; /* a multiple, then its neighbours */
            assert_int_equal(wheel_tick_of(&w, x), x / d);
            assert_int_equal(wheel_tick_of(&w, m), m / d);
            if (m) assert_int_equal(wheel_tick_of(&w, m - 1), (m - 1) / d);
            if (m < UINT64_MAX) assert_int_equal(wheel_tick_of(&w, m + 1), (m + 1) / d);
        }
    }
}

static void test_level_boundaries(void **state)
{
    (void)state;
    boundaries_run(1000, 6, 0, 0);
    boundaries_run(1000, 6, 0, 1);
    boundaries_run(1000000, 6, 0, 0);
    boundaries_run(7, 3, 0, 0);
    boundaries_run(7, 3, 0, 1);
    boundaries_run(1, 1, 0, 0);
    /* the same from an unaligned start: E in the middle of every level */
    boundaries_run(1000, 6, 0x123456789ull, 0);
    boundaries_run(3, 2, 4095, 0);
    boundaries_run(3, 2, 4095, 1);
}

static void test_cascade_path(void **state)
{
    (void)state;
    const uint64_t tick = 1000;
    wheel w;
    assert_int_equal(wheel_init(&w, tick, 6, 0), 0);
    tent *t = tents_new(1);
    /* tick 64^3 + 64^2*5 + 64*7 + 9, plus 17 ns: starts at level 3 */
    uint64_t ticks = 262144ull + 4096 * 5 + 64 * 7 + 9;
    uint64_t d = ticks * tick + 17;
    wheel_arm(&w, &t[0].e, d);
    assert_int_equal(t[0].e.level, 3);
    int ids[1];
    /* at the start of its level-3 slot it cascades to level 2 ... */
    assert_int_equal(pop_all(&w, 262144ull * tick, ids, 1), 0);
    assert_int_equal(t[0].e.level, 2);
    assert_int_equal(pop_all(&w, (262144ull + 4096 * 5) * tick, ids, 1), 0);
    assert_int_equal(t[0].e.level, 1);
    assert_int_equal(pop_all(&w, (262144ull + 4096 * 5 + 64 * 7) * tick, ids, 1), 0);
    assert_int_equal(t[0].e.level, 0);
    assert_int_equal(wheel_next_deadline(&w), d);
    assert_int_equal(pop_all(&w, d - 1, ids, 1), 0);
    assert_int_equal(t[0].e.state, WHEEL_ARMED);
    assert_int_equal(pop_all(&w, d, ids, 1), 1);
    assert_int_equal(t[0].e.state, WHEEL_FIRED);
    free(t);
}

/* Deadlines less than 64 ticks ahead never leave level 0, also across a
 * 64-tick block boundary (the two-block ring), so no cascade walks them; and
 * they come out in order, never early, in small clock steps. */
static void test_ring_across_block(void **state)
{
    (void)state;
    enum { N = 2000 };
    const uint64_t tick = 1000000;
    wheel w;
    assert_int_equal(wheel_init(&w, tick, 0, 60 * tick + 123), 0); /* E = 60, block [0, 64) */
    tent *t = tents_new(N);
    uint64_t now = 60 * tick + 123;
    for (int i = 0; i < N; i++) {
        wheel_arm(&w, &t[i].e, now + 1 + rnd_below(63 * tick)); /* up to tick 123 */
        assert_int_equal(t[i].e.level, 0);
    }
    assert_int_equal(wheel_check(&w), 0);
    static int ids[N];
    size_t got = 0;
    uint64_t last = 0;
    while (got < N) {
        now += rnd_below(tick / 4);
        size_t n = pop_all(&w, now, ids + got, N - got);
        for (size_t i = 0; i < n; i++) {
            uint64_t d = t[ids[got + i]].e.deadline_ns;
            assert_true(d >= last && d <= now);
            last = d;
        }
        got += n;
        for (int i = 0; i < N; i++) /* what is still armed stayed at level 0 */
            if (t[i].e.state == WHEEL_ARMED) assert_int_equal(t[i].e.level, 0);
        assert_true(wheel_next_deadline(&w) > now);
    }
    assert_true(w.elapsed >= 64); /* E did cross into the next block */
    free(t);
}

static void test_never_early_same_tick(void **state)
{
    (void)state;
    /* many entries inside one tick, popped nanosecond by nanosecond */
    wheel w;
    assert_int_equal(wheel_init(&w, 1000000, 0, 0), 0);
    enum { N = 200 };
    tent *t = tents_new(N);
    const uint64_t base = 777ull * 1000000;
    for (int i = 0; i < N; i++) wheel_arm(&w, &t[i].e, base + (uint64_t)(N - 1 - i) * 997);
    int ids[N];
    size_t fired = 0;
    for (int i = 0; i < N; i++) {
        uint64_t d = base + (uint64_t)i * 997;
        assert_int_equal(wheel_next_deadline(&w), d);
        assert_int_equal(pop_all(&w, d - 1, ids, N), 0);
        assert_int_equal(pop_all(&w, d, ids, N), 1);
        assert_int_equal(ids[0], N - 1 - i);
        fired++;
    }
    assert_int_equal(fired, N);
    free(t);
}

/* ---- wheel: cancel everywhere, overflow, re-arm, past deadlines ------------------ */

static void test_cancel_every_level(void **state)
{
    (void)state;
    const uint64_t tick = 1000;
    wheel w;
    assert_int_equal(wheel_init(&w, tick, 6, 0), 0);
    enum { N = 64 };
    tent *t = tents_new(N);
    int n = 0;
    /* a past one, two per level, overflow */
    wheel_arm(&w, &t[n++].e, 0);
    uint64_t span = 1;
    for (unsigned k = 0; k < 6; k++, span *= 64) {
        wheel_arm(&w, &t[n++].e, span * tick + 5);
        wheel_arm(&w, &t[n++].e, (span * 2 + 1) * tick);
    }
    wheel_arm(&w, &t[n++].e, span * tick);           /* 64^6 ticks: overflow */
    wheel_arm(&w, &t[n++].e, UINT64_MAX);            /* never */
    assert_int_equal(t[n - 1].e.level, WHEEL_LEVEL_OVERFLOW);
    assert_int_equal(t[n - 2].e.level, WHEEL_LEVEL_OVERFLOW);
    /* and some in the ready list: pop one of three due ones */
    wheel_arm(&w, &t[n++].e, 0);
    wheel_arm(&w, &t[n++].e, 1);
    wheel_entry *first = wheel_pop_expired(&w, 1);
    assert_ptr_equal(first, &t[0].e);
    assert_int_equal(t[n - 1].e.level, WHEEL_LEVEL_READY);
    assert_int_equal(wheel_check(&w), 0);
    assert_int_equal(wheel_count(&w), (size_t)n - 1);
    assert_false(wheel_cancel(&w, first)); /* fired: nothing to cancel */
    unsigned seen = 0;
    for (int i = 1; i < n; i++) {
        if (t[i].e.level < 6) seen |= 1u << t[i].e.level;
        if (t[i].e.level == WHEEL_LEVEL_READY) seen |= 1u << 6;
        if (t[i].e.level == WHEEL_LEVEL_OVERFLOW) seen |= 1u << 7;
    }
    assert_int_equal(seen, 0xFFu);
    for (int i = n - 1; i >= 1; i--) {
        assert_true(wheel_cancel(&w, &t[i].e));
        assert_false(wheel_cancel(&w, &t[i].e));
        assert_int_equal(t[i].e.state, WHEEL_IDLE);
        assert_int_equal(wheel_check(&w), 0);
    }
    assert_int_equal(wheel_count(&w), 0);
    for (unsigned l = 0; l < 6; l++) assert_int_equal(w.occupied[l], 0);
    assert_null(w.overflow);
    assert_null(w.ready);
    assert_int_equal(wheel_next_deadline(&w), UINT64_MAX);
    assert_null(wheel_pop_expired(&w, UINT64_MAX - 1));
    free(t);
}

static void test_far_deadlines(void **state)
{
    (void)state;
    /* 1 ms tick, 6 levels: the top level ends at 2^36 ms (~795 days) */
    const uint64_t tick = 1000000;
    const uint64_t top = (1ull << 36) * tick;
    wheel w;
    assert_int_equal(wheel_init(&w, tick, 6, 0), 0);
    tent *t = tents_new(6);
    wheel_arm(&w, &t[0].e, 3 * top + 11);
    wheel_arm(&w, &t[1].e, top + 5);
    wheel_arm(&w, &t[2].e, top - 1);        /* last ns of the top level: not overflow */
    wheel_arm(&w, &t[3].e, 40 * top);
    wheel_arm(&w, &t[4].e, top + 5);        /* tie, armed later */
    wheel_arm(&w, &t[5].e, UINT64_MAX);
    assert_int_equal(t[2].e.level, 5);
    assert_int_equal(t[1].e.level, WHEEL_LEVEL_OVERFLOW);
    assert_int_equal(wheel_next_deadline(&w), top - 1);
    int ids[6];
    assert_int_equal(pop_all(&w, top - 2, ids, 6), 0);
    assert_int_equal(pop_all(&w, top - 1, ids, 6), 1);
    assert_int_equal(ids[0], 2);
    /* only overflow left: next deadline scans it */
    assert_int_equal(wheel_next_deadline(&w), top + 5);
    assert_int_equal(pop_all(&w, top + 4, ids, 6), 0);
    assert_int_equal(wheel_next_deadline(&w), top + 5);
    assert_int_equal(pop_all(&w, top + 5, ids, 6), 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 4);
    /* a jump over several top-level blocks in one advance */
    assert_int_equal(pop_all(&w, 39 * top, ids, 6), 1);
    assert_int_equal(ids[0], 0);
    assert_int_equal(wheel_next_deadline(&w), 40 * top);
    assert_int_equal(pop_all(&w, 40 * top, ids, 6), 1);
    assert_int_equal(ids[0], 3);
    assert_int_equal(wheel_next_deadline(&w), UINT64_MAX - 0); /* t[5] */
    assert_int_equal(pop_all(&w, UINT64_MAX - 1, ids, 6), 0);
    assert_int_equal(pop_all(&w, UINT64_MAX, ids, 6), 1);
    assert_int_equal(ids[0], 5);
    free(t);
}

static void test_rearm(void **state)
{
    (void)state;
    const uint64_t tick = 1000000;
    wheel w;
    assert_int_equal(wheel_init(&w, tick, 0, 0), 0);
    tent *t = tents_new(3);
    int ids[3];
    wheel_arm(&w, &t[0].e, 10 * tick);
    wheel_arm(&w, &t[1].e, 20 * tick);
    wheel_arm(&w, &t[2].e, 5000 * tick);
    /* later */
    wheel_arm(&w, &t[0].e, 30 * tick + 1);
    assert_int_equal(wheel_count(&w), 3);
    assert_int_equal(wheel_next_deadline(&w), 20 * tick);
    /* earlier, from a high level to level 0 */
    wheel_arm(&w, &t[2].e, 7 * tick + 3);
    assert_int_equal(t[2].e.level, 0);
    assert_int_equal(wheel_next_deadline(&w), 7 * tick + 3);
    assert_int_equal(wheel_check(&w), 0);
    assert_int_equal(pop_all(&w, 25 * tick, ids, 3), 2);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 1);
    /* re-arm a fired entry, and one into the past */
    wheel_arm(&w, &t[2].e, 26 * tick);
    wheel_arm(&w, &t[1].e, 1);
    assert_int_equal(wheel_next_deadline(&w), 1);
    assert_int_equal(pop_all(&w, 25 * tick, ids, 3), 1); /* the past one, at once */
    assert_int_equal(ids[0], 1);
    assert_int_equal(pop_all(&w, 40 * tick, ids, 3), 2);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 0);
    /* re-arm from the ready list */
    wheel_arm(&w, &t[0].e, 41 * tick);
    wheel_arm(&w, &t[1].e, 41 * tick);
    assert_ptr_equal(wheel_pop_expired(&w, 41 * tick), &t[0].e);
    assert_int_equal(t[1].e.level, WHEEL_LEVEL_READY);
    wheel_arm(&w, &t[1].e, 50 * tick);
    assert_int_equal(wheel_check(&w), 0);
    assert_null(wheel_pop_expired(&w, 41 * tick));
    assert_int_equal(pop_all(&w, 50 * tick, ids, 3), 1);
    free(t);
}

static void test_clock_backwards_and_pop_any(void **state)
{
    (void)state;
    const uint64_t tick = 1000;
    wheel w;
    assert_int_equal(wheel_init(&w, tick, 2, 100 * tick), 0);
    tent *t = tents_new(4);
    int ids[4];
    assert_int_equal(pop_all(&w, 200 * tick, ids, 4), 0); /* E = 200 */
    wheel_arm(&w, &t[0].e, 150 * tick);                   /* past */
    wheel_arm(&w, &t[1].e, 120 * tick);                   /* further past */
    wheel_arm(&w, &t[2].e, 200 * tick + 500);
    /* the clock reads earlier than E: only what is due at that reading fires */
    assert_int_equal(pop_all(&w, 130 * tick, ids, 4), 1);
    assert_int_equal(ids[0], 1);
    assert_int_equal(pop_all(&w, 200 * tick + 499, ids, 4), 1);
    assert_int_equal(ids[0], 0);
    wheel_arm(&w, &t[3].e, 1ull << 40); /* overflow with 2 levels */
    assert_int_equal(wheel_count(&w), 2);
    int got = 0;
    wheel_entry *e;
    while ((e = wheel_pop_any(&w)) != NULL) {
        assert_int_equal(e->state, WHEEL_IDLE);
        got++;
    }
    assert_int_equal(got, 2);
    assert_int_equal(wheel_check(&w), 0);
    assert_int_equal(wheel_init(&w, tick, WHEEL_MAX_LEVELS + 1, 0), -EINVAL);
    free(t);
}

/* wheel_advance's callback may arm and cancel */
struct adv_ctx {
    wheel *w;
    tent *t;
    int order[16];
    int n;
};
static void adv_cb(wheel_entry *e, void *p)
{
    struct adv_ctx *c = p;
    int id = TENT(e)->id;
    c->order[c->n++] = id;
    if (id == 0) {
        wheel_cancel(c->w, &c->t[2].e);            /* due, not yet handed out */
        wheel_arm(c->w, &c->t[3].e, 5);            /* due now: handed out in this call */
        wheel_arm(c->w, &c->t[0].e, 1000000);      /* itself, later */
    }
}
static void test_advance_callback(void **state)
{
    (void)state;
    wheel w;
    assert_int_equal(wheel_init(&w, 10, 0, 0), 0);
    tent *t = tents_new(4);
    wheel_arm(&w, &t[0].e, 10);
    wheel_arm(&w, &t[1].e, 20);
    wheel_arm(&w, &t[2].e, 30);
    struct adv_ctx c = {&w, t, {0}, 0};
    assert_int_equal(wheel_advance(&w, 100, adv_cb, &c), 3);
    assert_int_equal(c.order[0], 0);
    assert_int_equal(c.order[1], 3); /* armed by the callback, deadline 5 < 20 */
    assert_int_equal(c.order[2], 1);
    assert_int_equal(t[2].e.state, WHEEL_IDLE);
    assert_int_equal(wheel_count(&w), 1);
    assert_int_equal(wheel_next_deadline(&w), 1000000);
    free(t);
}

/* ---- wheel: random stress against a sorted reference model --------------------- */

struct model {
    uint64_t *dl;
    uint64_t *seq;
    char *armed;
    uint64_t next_seq;
};

static struct model *model_cmp_ctx;
static int model_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    const struct model *m = model_cmp_ctx;
    if (m->dl[x] != m->dl[y]) return m->dl[x] < m->dl[y] ? -1 : 1;
    return m->seq[x] < m->seq[y] ? -1 : m->seq[x] > m->seq[y];
}

/* Near mode: deadlines and clock steps mostly within a tick or two, so most
 * arms, cancels and pops land in level-0 sub-slots around the current tick
 * and cross sub-slot and tick boundaries in small steps. */
static int stress_near;

static uint64_t stress_offset(uint64_t tick, unsigned levels)
{
    uint64_t span = tick;
    for (unsigned i = 0; i < levels; i++) span *= WHEEL_SLOTS;
    if (stress_near && rnd_below(8) != 0) return rnd_below(rnd_below(2) ? tick / 8 + 1 : tick * 2);
    switch (rnd_below(8)) {
    case 0: return rnd_below(tick * 2);
    case 1: return rnd_below(tick * 64);
    case 2: return rnd_below(tick * 4096);
    case 3: return rnd_below(span / 64 + 1);
    case 4: return rnd_below(span * 3);            /* often overflow */
    case 5: return (rnd_below(3) + 1) * span / 64; /* level boundaries */
    default: return rnd_below(tick * 300);
    }
}

static void stress_run(uint64_t tick, unsigned levels, int ops, int nent, uint64_t start)
{
    wheel w;
    assert_int_equal(wheel_init(&w, tick, levels, start), 0);
    tent *t = tents_new((size_t)nent);
    struct model m = {calloc((size_t)nent, 8), calloc((size_t)nent, 8), calloc((size_t)nent, 1), 0};
    int *got = calloc((size_t)nent, sizeof(int));
    int *want = calloc((size_t)nent, sizeof(int));
    assert_true(m.dl && m.seq && m.armed && got && want);
    uint64_t now = start;
    uint64_t span = tick;
    for (unsigned i = 0; i < levels; i++) span *= WHEEL_SLOTS;
    long fired_total = 0, cancelled_total = 0;
    for (int op = 0; op < ops; op++) {
        int i = (int)rnd_below((uint64_t)nent);
        unsigned r = (unsigned)rnd_below(100);
        if (r < 50) {
            uint64_t d = rnd_below(10) == 0 ? now - rnd_below(tick * 100 < now ? tick * 100 : now)
                                            : now + stress_offset(tick, levels);
            wheel_arm(&w, &t[i].e, d);
            m.armed[i] = 1;
            m.dl[i] = d;
            m.seq[i] = m.next_seq++;
        } else if (r < 70) {
            bool c = wheel_cancel(&w, &t[i].e);
            assert_int_equal(c, m.armed[i]);
            cancelled_total += c;
            m.armed[i] = 0;
        } else {
            uint64_t step;
            switch (stress_near && rnd_below(4) != 0 ? 6 : rnd_below(6)) {
            case 6: step = rnd_below(tick / 64 + 2); break;
            case 0: step = rnd_below(tick); break;
            case 1: step = rnd_below(tick * 64); break;
            case 2: step = rnd_below(tick * 5000); break;
            case 3: step = rnd_below(span / 8 + 1); break;
            case 4: /* whole top-level spans, while the clock has room */
                step = rnd_below(10) == 0 && now < (UINT64_MAX >> 2) ? span * (1 + rnd_below(3)) : 0;
                break;
            default: step = rnd_below(tick * 3); break;
            }
            uint64_t probe = now + step;
            if (rnd_below(20) == 0) { /* the clock went back */
                uint64_t back = rnd_below(tick * 2);
                probe = now >= back ? now - back : 0;
            } else {
                now = probe;
            }
            size_t ng = 0;
            wheel_entry *e;
            while ((e = wheel_pop_expired(&w, probe)) != NULL) {
                assert_true(ng < (size_t)nent);
                got[ng++] = TENT(e)->id;
            }
            size_t nw = 0;
            for (int j = 0; j < nent; j++)
                if (m.armed[j] && m.dl[j] <= probe) want[nw++] = j;
            model_cmp_ctx = &m;
            qsort(want, nw, sizeof want[0], model_cmp);
            assert_int_equal(ng, nw);
            for (size_t j = 0; j < nw; j++) {
                assert_int_equal(got[j], want[j]);
                m.armed[want[j]] = 0;
            }
            fired_total += (long)nw;
        }
        /* exact next deadline and exact count, every step */
        uint64_t min = UINT64_MAX;
        size_t cnt = 0;
        for (int j = 0; j < nent; j++)
            if (m.armed[j]) {
                cnt++;
                if (m.dl[j] < min) min = m.dl[j];
            }
        assert_int_equal(wheel_count(&w), cnt);
        if (rnd_below(4) == 0) assert_int_equal(wheel_next_deadline(&w), min);
        if (op % 64 == 0) assert_int_equal(wheel_check(&w), 0);
    }
    assert_true(fired_total > ops / 20);
    assert_true(cancelled_total > 0);
    free(t);
    free(m.dl);
    free(m.seq);
    free(m.armed);
    free(got);
    free(want);
}

static void test_stress_vs_model(void **state)
{
    (void)state;
    rng_state = 0xC0FFEEull;
    stress_run(1000000, 6, 40000, 200, 0);
    stress_run(1000000, 6, 40000, 64, 123456789012345ull);
    stress_run(7, 2, 60000, 300, 1000);
    stress_run(1, 1, 40000, 100, 5);
    stress_run(1000, 3, 40000, 500, 987654321ull);
    stress_near = 1;
    stress_run(1000000, 6, 40000, 300, 5ull * 1000000 + 999999);
    stress_run(1000, 2, 40000, 200, 123);
    stress_run(64, 6, 40000, 100, 0);
    stress_run(3, 2, 20000, 50, 7);
    stress_near = 0;
}

/* ---- driver helpers: a counting waker ------------------------------------------ */

typedef struct ctask {
    int refs;
    int wakes;
    void (*on_wake)(struct ctask *self);
    void *arg;
} ctask;

static const weft_waker_vtable ctask_vt;
static weft_waker ctask_clone(const void *d)
{
    ((ctask *)d)->refs++;
    return (weft_waker){&ctask_vt, d};
}
static void ctask_wake_by_ref(const void *d)
{
    ctask *c = (ctask *)d;
    c->wakes++;
    if (c->on_wake) c->on_wake(c);
}
static void ctask_wake(const void *d)
{
    ctask_wake_by_ref(d);
    ((ctask *)d)->refs--;
}
static void ctask_drop(const void *d) { ((ctask *)d)->refs--; }
static const weft_waker_vtable ctask_vt = {ctask_clone, ctask_wake, ctask_wake_by_ref, ctask_drop};
static weft_waker ctask_waker(ctask *c) { return (weft_waker){&ctask_vt, c}; } /* borrowed */

static int fake_clock_reads;
static uint64_t fake_clock(void *ctx)
{
    fake_clock_reads++;
    return *(const uint64_t *)ctx;
}

static int notify_count;
static timer_driver *notify_td;
static uint64_t notify_seen_deadline;
static void count_notify(void *ctx)
{
    (void)ctx;
    notify_count++;
    /* outside the lock: this would deadlock otherwise */
    notify_seen_deadline = timer_driver_next_deadline(notify_td);
}

/* ---- driver tests ------------------------------------------------------------------- */

static void test_driver_fire_batches(void **state)
{
    (void)state;
    enum { N = 1000 };
    uint64_t now = 0;
    timer_driver td;
    assert_int_equal(timer_driver_init(&td, 1000, fake_clock, &now, NULL, NULL), 0);
    timer_entry *e = calloc(N, sizeof *e);
    ctask *c = calloc(N, sizeof *c);
    assert_true(e && c);
    for (int i = 0; i < N; i++) {
        timer_entry_init(&e[i]);
        weft_waker w = ctask_waker(&c[i]);
        assert_int_equal(timer_driver_arm(&td, &e[i], (uint64_t)(i % 97) * 1000 + (uint64_t)i, &w), 0);
        assert_int_equal(c[i].refs, 1);
        assert_ptr_equal(e[i].owner, &td);
    }
    /* re-arming with the same waker does not clone again */
    weft_waker w0 = ctask_waker(&c[0]);
    assert_int_equal(timer_driver_arm(&td, &e[0], 5, &w0), 0);
    assert_int_equal(c[0].refs, 1);
    assert_int_equal(timer_driver_count(&td), N);
    assert_int_equal(timer_driver_next_deadline(&td), 5);
    assert_int_equal(timer_driver_fire(&td, 4), 0);
    size_t want_early = 0;
    for (int i = 0; i < N; i++) want_early += e[i].w.deadline_ns <= 50 * 1000;
    size_t early = timer_driver_fire(&td, 50 * 1000);
    assert_int_equal(early, want_early);
    size_t woken = 0;
    for (int i = 0; i < N; i++) woken += (size_t)c[i].wakes;
    assert_int_equal(woken, early);
    size_t rest = timer_driver_fire(&td, 1000000);
    assert_int_equal(early + rest, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(c[i].wakes, 1);
        assert_int_equal(c[i].refs, 0);
        assert_int_equal(e[i].fired, 1);
        assert_true(weft_waker_is_none(&e[i].waker));
        assert_false(timer_driver_cancel(&td, &e[i]));
    }
    assert_int_equal(timer_driver_count(&td), 0);
    timer_driver_destroy(&td);
    free(e);
    free(c);
}

/* Wakers that arm and cancel other timers while the driver fires. */
static timer_driver *cb_td;
static timer_entry *cb_e;
static ctask *cb_c;
enum { CB_N = 70 };
static void wake_rearms(ctask *self)
{
    (void)self;
    weft_waker w;
    /* cancel one that is due but in a later batch (deadline 100) */
    assert_true(timer_driver_cancel(cb_td, &cb_e[CB_N]));
    /* arm a new one already due: it fires in a later batch of this fire */
    w = ctask_waker(&cb_c[CB_N + 1]);
    timer_driver_arm(cb_td, &cb_e[CB_N + 1], 50, &w);
    /* arm one not due */
    w = ctask_waker(&cb_c[CB_N + 2]);
    timer_driver_arm(cb_td, &cb_e[CB_N + 2], 300, &w);
    /* re-arm an entry that fired in this batch: due, fires again */
    timer_driver_arm(cb_td, &cb_e[1], 150, NULL);
    w = ctask_waker(&cb_c[1]);
    timer_driver_arm(cb_td, &cb_e[1], 150, &w);
}
static void test_driver_wake_arms_and_cancels(void **state)
{
    (void)state;
    uint64_t now = 0;
    timer_driver td;
    assert_int_equal(timer_driver_init(&td, 10, fake_clock, &now, NULL, NULL), 0);
    timer_entry e[CB_N + 3];
    ctask c[CB_N + 3];
    memset(c, 0, sizeof c);
    for (int i = 0; i < CB_N + 3; i++) timer_entry_init(&e[i]);
    cb_td = &td;
    cb_e = e;
    cb_c = c;
    c[0].on_wake = wake_rearms;
    /* 64 entries due at 1..64 fill the first batch; entry CB_N due at 100 */
    for (int i = 0; i < 64; i++) {
        weft_waker w = ctask_waker(&c[i]);
        timer_driver_arm(&td, &e[i], (uint64_t)i + 1, &w);
    }
    for (int i = 64; i <= CB_N; i++) {
        weft_waker w = ctask_waker(&c[i]);
        timer_driver_arm(&td, &e[i], i == CB_N ? 100 : 1000 + (uint64_t)i, &w);
    }
    now = 200;
    /* batch 1: 64 entries; their wakes cancel CB_N, arm CB_N+1 (50) and
     * CB_N+2 (300), re-arm entry 1 (150). Batch 2: CB_N+1 and entry 1. */
    assert_int_equal(timer_driver_fire(&td, now), 66);
    assert_int_equal(c[CB_N].wakes, 0);
    assert_int_equal(c[CB_N].refs, 0); /* cancel dropped its waker */
    assert_int_equal(c[CB_N + 1].wakes, 1);
    assert_int_equal(c[CB_N + 2].wakes, 0);
    assert_int_equal(c[1].wakes, 2);
    for (int i = 2; i < 64; i++) assert_int_equal(c[i].wakes, 1);
    assert_int_equal(timer_driver_count(&td), (size_t)(CB_N - 64) + 1);
    assert_int_equal(timer_driver_fire(&td, 300), 1);
    assert_int_equal(c[CB_N + 2].wakes, 1);
    timer_driver_destroy(&td);
    for (int i = 0; i < CB_N + 3; i++) assert_int_equal(c[i].refs, 0);
    for (int i = 64; i < CB_N; i++) {
        assert_null(e[i].owner); /* destroy detached them */
        assert_int_equal(e[i].w.state, WHEEL_IDLE);
    }
}

static void test_driver_notify_while_parked(void **state)
{
    (void)state;
    uint64_t now = 0;
    timer_driver td;
    assert_int_equal(timer_driver_init(&td, 1000000, fake_clock, &now, count_notify, NULL), 0);
    notify_td = &td;
    notify_count = 0;
    timer_entry e[8];
    for (int i = 0; i < 8; i++) timer_entry_init(&e[i]);
    assert_int_equal(timer_driver_park_begin(&td), UINT64_MAX);
    timer_driver_arm(&td, &e[0], 100 * 1000000ull, NULL); /* earlier than "never" */
    assert_int_equal(notify_count, 1);
    assert_int_equal(notify_seen_deadline, 100 * 1000000ull);
    timer_driver_park_end(&td);
    assert_int_equal(timer_driver_park_begin(&td), 100 * 1000000ull);
    timer_driver_arm(&td, &e[1], 200 * 1000000ull, NULL); /* later: no */
    assert_int_equal(notify_count, 1);
    timer_driver_arm(&td, &e[2], 100 * 1000000ull, NULL); /* equal: no */
    assert_int_equal(notify_count, 1);
    timer_driver_arm(&td, &e[3], 50 * 1000000ull + 7, NULL); /* earlier: yes */
    assert_int_equal(notify_count, 2);
    assert_int_equal(notify_seen_deadline, 50 * 1000000ull + 7);
    timer_driver_arm(&td, &e[4], 60 * 1000000ull, NULL); /* earlier than the park, not than the last notify */
    assert_int_equal(notify_count, 2);
    ctask c = {0};
    weft_waker w = ctask_waker(&c);
    assert_int_equal(timer_driver_poll_entry(&td, &e[5], 50 * 1000000ull, &w), WEFT_PENDING); /* via poll */
    assert_int_equal(notify_count, 3);
    timer_driver_arm(&td, &e[0], 10, NULL); /* re-arm earlier */
    assert_int_equal(notify_count, 4);
    timer_driver_park_end(&td);
    timer_driver_arm(&td, &e[6], 1, NULL); /* not parked: no */
    assert_int_equal(notify_count, 4);
    assert_int_equal(timer_driver_next_deadline(&td), 1);
    timer_driver_destroy(&td);
    assert_int_equal(c.refs, 0);
}

static void test_driver_poll_entry(void **state)
{
    (void)state;
    uint64_t now = 0;
    timer_driver td;
    assert_int_equal(timer_driver_init(&td, 1000, fake_clock, &now, NULL, NULL), 0);
    timer_entry e;
    timer_entry_init(&e);
    ctask a = {0}, b = {0};
    weft_waker wa = ctask_waker(&a), wb = ctask_waker(&b);
    assert_int_equal(timer_driver_poll_entry(&td, &e, 5000, &wa), WEFT_PENDING);
    assert_int_equal(a.refs, 1);
    assert_int_equal(timer_driver_poll_entry(&td, &e, 5000, &wa), WEFT_PENDING);
    assert_int_equal(a.refs, 1);
    uint64_t seq = e.w.seq;
    /* a new waker replaces the old, which is dropped; same deadline: not re-armed */
    assert_int_equal(timer_driver_poll_entry(&td, &e, 5000, &wb), WEFT_PENDING);
    assert_int_equal(a.refs, 0);
    assert_int_equal(b.refs, 1);
    assert_int_equal(e.w.seq, seq);
    assert_int_equal(timer_driver_fire(&td, 5000), 1);
    assert_int_equal(b.wakes, 1);
    assert_int_equal(timer_driver_poll_entry(&td, &e, 5000, &wb), WEFT_READY);
    assert_int_equal(timer_driver_poll_entry(&td, &e, 4000, &wb), WEFT_READY);
    /* fired at 5000, asked for a later deadline: armed again */
    assert_int_equal(timer_driver_poll_entry(&td, &e, 6000, &wb), WEFT_PENDING);
    assert_int_equal(e.fired, 0);
    assert_int_equal(b.refs, 1);
    timer_driver other;
    assert_int_equal(timer_driver_init(&other, 0, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(timer_driver_arm(&other, &e, 1, NULL), -EXDEV);
    assert_true(timer_driver_cancel(&td, &e));
    assert_int_equal(b.refs, 0);
    timer_driver_destroy(&other);
    timer_driver_destroy(&td);
    assert_int_equal(timer_driver_init(&td, 4000ull * 1000000000ull, NULL, NULL, NULL, NULL), -EINVAL);
}

/* Two threads: one arms and cancels, one advances the clock and fires.
 * Every arm ends as exactly one of: cancelled while armed, or fired. */
static timer_driver mt_td;
static atomic_ullong mt_clock;
static atomic_long mt_wakes;
static atomic_int mt_stop;
static uint64_t mt_now(void *ctx)
{
    (void)ctx;
    return atomic_load_explicit(&mt_clock, memory_order_relaxed); /* a value, orders nothing */
}
static const weft_waker_vtable mt_vt;
static weft_waker mt_clone(const void *d) { return (weft_waker){&mt_vt, d}; }
static void mt_wake(const void *d)
{
    (void)d;
    atomic_fetch_add_explicit(&mt_wakes, 1, memory_order_relaxed); /* read after join */
}
static void mt_drop(const void *d) { (void)d; }
static const weft_waker_vtable mt_vt = {mt_clone, mt_wake, mt_wake, mt_drop};

struct mt_result {
    long arms, cancels;
};
static void *mt_armer(void *p)
{
    struct mt_result *r = p;
    enum { E = 128 };
    static timer_entry e[E];
    uint64_t x = 12345;
    for (int i = 0; i < E; i++) timer_entry_init(&e[i]);
    weft_waker w = {&mt_vt, NULL};
    for (int i = 0; i < 200000; i++) {
        timer_entry *t = &e[i % E];
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (timer_driver_cancel(&mt_td, t)) r->cancels++;
        if (x % 4 != 0) {
            uint64_t now = mt_now(NULL);
            timer_driver_arm(&mt_td, t, now + x % 50000, &w);
            r->arms++;
        }
    }
    for (int i = 0; i < E; i++)
        if (timer_driver_cancel(&mt_td, &e[i])) r->cancels++;
    atomic_store_explicit(&mt_stop, 1, memory_order_release); /* pairs with acquire in mt_firer */
    return NULL;
}
static void *mt_firer(void *p)
{
    long *fired = p;
    /* acquire pairs with the release in mt_armer */
    while (!atomic_load_explicit(&mt_stop, memory_order_acquire)) {
        uint64_t now = atomic_fetch_add_explicit(&mt_clock, 1000, memory_order_relaxed) + 1000;
        *fired += (long)timer_driver_fire(&mt_td, now);
        (void)timer_driver_next_deadline(&mt_td);
    }
    return NULL;
}
static void test_driver_two_threads(void **state)
{
    (void)state;
    atomic_store_explicit(&mt_clock, 0, memory_order_relaxed);
    atomic_store_explicit(&mt_wakes, 0, memory_order_relaxed);
    atomic_store_explicit(&mt_stop, 0, memory_order_relaxed);
    assert_int_equal(timer_driver_init(&mt_td, 1000, mt_now, NULL, NULL, NULL), 0);
    struct mt_result r = {0, 0};
    long fired = 0;
    pthread_t a, b;
    assert_int_equal(pthread_create(&a, NULL, mt_armer, &r), 0);
    assert_int_equal(pthread_create(&b, NULL, mt_firer, &fired), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    assert_int_equal(timer_driver_count(&mt_td), 0);
    assert_true(r.arms > 100000);
    assert_int_equal(r.arms, r.cancels + fired);
    assert_int_equal(fired, atomic_load_explicit(&mt_wakes, memory_order_relaxed));
    timer_driver_destroy(&mt_td);
}

/* The driver lock (a futex lock: timer.c, LOCKING) under more threads than
 * cores, so holders are preempted and waiters go through the spin and the
 * futex sleep: K armers, each on its own entries, and one firer share one
 * driver. Exact counts: every arm ends cancelled or fired exactly once,
 * every fire wakes once, the wheel ends empty and consistent. A lost
 * unlock hangs (ctest's timeout), a broken mutual exclusion corrupts the
 * wheel lists (wheel_check) or the counts. */
enum { MTK_THREADS = 6, MTK_ENTRIES = 64, MTK_ROUNDS = 40000 };
struct mtk_armer {
    timer_entry e[MTK_ENTRIES];
    long arms, cancels;
    uint64_t seed;
};
static _Atomic int mtk_running;
static void *mtk_armer_main(void *p)
{
    struct mtk_armer *a = p;
    uint64_t x = a->seed;
    weft_waker w = {&mt_vt, NULL};
    for (int i = 0; i < MTK_ENTRIES; i++) timer_entry_init(&a->e[i]);
    for (int i = 0; i < MTK_ROUNDS; i++) {
        timer_entry *t = &a->e[i % MTK_ENTRIES];
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (timer_driver_cancel(&mt_td, t)) a->cancels++;
        if (x % 4 != 0) {
            timer_driver_arm(&mt_td, t, mt_now(NULL) + x % 20000, &w);
            a->arms++;
        }
    }
    for (int i = 0; i < MTK_ENTRIES; i++)
        if (timer_driver_cancel(&mt_td, &a->e[i])) a->cancels++;
    /* release: this armer's entries are settled before the firer stops */
    atomic_fetch_sub_explicit(&mtk_running, 1, memory_order_release);
    return NULL;
}
static void *mtk_firer_main(void *p)
{
    long *fired = p;
    /* acquire pairs with the armers' release decrements */
    while (atomic_load_explicit(&mtk_running, memory_order_acquire) > 0) {
        uint64_t now = atomic_fetch_add_explicit(&mt_clock, 500, memory_order_relaxed) + 500;
        *fired += (long)timer_driver_fire(&mt_td, now);
        (void)timer_driver_next_deadline(&mt_td);
    }
    return NULL;
}
static void test_driver_lock_oversubscribed(void **state)
{
    (void)state;
    atomic_store_explicit(&mt_clock, 0, memory_order_relaxed);
    atomic_store_explicit(&mt_wakes, 0, memory_order_relaxed);
    atomic_store_explicit(&mtk_running, MTK_THREADS, memory_order_relaxed);
    assert_int_equal(timer_driver_init(&mt_td, 1000, mt_now, NULL, NULL, NULL), 0);
    static struct mtk_armer armers[MTK_THREADS];
    pthread_t th[MTK_THREADS], firer;
    long fired = 0;
    for (int k = 0; k < MTK_THREADS; k++) {
        armers[k].arms = armers[k].cancels = 0;
        armers[k].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(k + 1);
        assert_int_equal(pthread_create(&th[k], NULL, mtk_armer_main, &armers[k]), 0);
    }
    assert_int_equal(pthread_create(&firer, NULL, mtk_firer_main, &fired), 0);
    long arms = 0, cancels = 0;
    for (int k = 0; k < MTK_THREADS; k++) {
        pthread_join(th[k], NULL);
        arms += armers[k].arms;
        cancels += armers[k].cancels;
    }
    pthread_join(firer, NULL);
    assert_int_equal(timer_driver_count(&mt_td), 0);
    assert_int_equal(wheel_check(&mt_td.wheel), 0);
    assert_true(arms > (long)MTK_THREADS * MTK_ROUNDS / 2);
    assert_int_equal(arms, cancels + fired);
    assert_int_equal(fired, atomic_load_explicit(&mt_wakes, memory_order_relaxed));
    timer_driver_destroy(&mt_td);
}

/* ---- futures without a runtime ------------------------------------------------------ */

static void test_futures_outside_runtime(void **state)
{
    (void)state;
    weft_context cx = {WEFT_WAKER_NONE, NULL, NULL, -1, 0, NULL};
    weft_sleep s;
    weft_sleep_init(&s, 10 * WEFT_MS);
    assert_int_equal(weft_sleep_deadline(&s), 0);
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_READY);
    assert_int_equal(weft_sleep_result(&s), -ENOTSUP);
    weft_sleep_drop(&s);
    weft_sleep_drop(&s);
    /* an empty budget: PENDING and the task is told to yield */
    weft_context empty = {WEFT_WAKER_NONE, NULL, NULL, 0, 0, NULL};
    weft_sleep_until_init(&s, 1);
    assert_int_equal(weft_sleep_poll(&s, &empty), WEFT_PENDING);
    assert_int_equal(empty.yielded, 1);
    assert_int_equal(weft_sleep_deadline(&s), 1);
    /* timeout: the inner wins without touching a timer */
    weft_timeout to;
    weft_timeout_init(&to, 5 * WEFT_MS);
    assert_int_equal(weft_timeout_poll(&to, &cx, WEFT_READY), WEFT_READY);
    assert_int_equal(weft_timeout_result(&to), 0);
    weft_timeout_drop(&to);
    weft_timeout_init(&to, 5 * WEFT_MS);
    assert_int_equal(weft_timeout_poll(&to, &cx, WEFT_PENDING), WEFT_READY);
    assert_int_equal(weft_timeout_result(&to), -ENOTSUP);
    weft_timeout_drop(&to);
    /* interval: bad arguments and no runtime */
    weft_interval iv;
    uint64_t sched = 99;
    assert_int_equal(weft_interval_init(&iv, 0, WEFT_MISSED_BURST), -EINVAL);
    assert_int_equal(weft_interval_poll(&iv, &cx, &sched), WEFT_READY);
    assert_int_equal(sched, 0);
    assert_int_equal(weft_interval_result(&iv), -EINVAL);
    assert_int_equal(weft_interval_init(&iv, 1, (weft_missed_tick)7), -EINVAL);
    assert_int_equal(weft_interval_init(&iv, WEFT_MS, WEFT_MISSED_SKIP), 0);
    assert_int_equal(weft_interval_poll(&iv, &cx, &sched), WEFT_READY);
    assert_int_equal(weft_interval_result(&iv), -ENOTSUP);
    weft_interval_drop(&iv);
    /* a zero-filled sleep is a valid 0 ns sleep */
    weft_sleep z;
    memset(&z, 0, sizeof z);
    assert_int_equal(weft_sleep_poll(&z, &cx), WEFT_READY);
    weft_sleep_drop(&z);
}

/* ---- futures on fake runtimes with an injected clock ---------------------------------
 * The futures take their driver from the context (common/context.h) and
 * compare its group tag, so two drivers in two groups stand in for two
 * runtimes; no runtime is needed. */
static timer_driver fake_td_a, fake_td_b;
static weft_drivers fake_drv_a, fake_drv_b;
static uint64_t fake_now;
static int fake_setup(void **state)
{
    (void)state;
    fake_now = 1000 * WEFT_MS;
    if (timer_driver_init(&fake_td_a, 0, fake_clock, &fake_now, NULL, NULL)) return -1;
    if (timer_driver_init(&fake_td_b, 0, fake_clock, &fake_now, NULL, NULL)) return -1;
    if (fake_td_a.group == fake_td_b.group) return -1; /* each driver starts in its own group */
    fake_drv_a = (weft_drivers){&fake_td_a, NULL, NULL, NULL};
    fake_drv_b = (weft_drivers){&fake_td_b, NULL, NULL, NULL};
    return 0;
}
static int fake_teardown(void **state)
{
    (void)state;
    timer_driver_destroy(&fake_td_a);
    timer_driver_destroy(&fake_td_b);
    return 0;
}
static weft_context fake_cx(const weft_drivers *drv, ctask *task)
{
    return (weft_context){ctask_waker(task), NULL, NULL, -1, 0, drv};
}
#define RT_A (&fake_drv_a)
#define RT_B (&fake_drv_b)

static void test_sleep_fake_runtime(void **state)
{
    (void)state;
    ctask task = {0};
    weft_context cx = fake_cx(RT_A, &task);
    const uint64_t t0 = fake_now;
    weft_sleep s;
    weft_sleep_init(&s, 10 * WEFT_MS + 1);
    fake_now = t0 + 5 * WEFT_MS; /* the deadline counts from the first poll */
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
    const uint64_t d = t0 + 15 * WEFT_MS + 1;
    assert_int_equal(weft_sleep_deadline(&s), d);
    assert_int_equal(timer_driver_next_deadline(&fake_td_a), d);
    assert_int_equal(task.refs, 1);
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING); /* same waker: no clone */
    assert_int_equal(task.refs, 1);
    fake_now = d - 1;
    assert_int_equal(timer_driver_fire(&fake_td_a, fake_now), 0);
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING); /* never early */
    fake_now = d;
    assert_int_equal(timer_driver_fire(&fake_td_a, fake_now), 1);
    assert_int_equal(task.wakes, 1);
    assert_int_equal(task.refs, 0);
    int reads = fake_clock_reads;
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_READY);
    assert_int_equal(fake_clock_reads, reads); /* the fired flag answers: no clock read */
    assert_int_equal(weft_sleep_result(&s), 0);
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_READY); /* stays READY */
    weft_sleep_drop(&s);
    /* ready at the first poll when the clock already passed the deadline: no arm */
    weft_sleep_until_init(&s, fake_now);
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_READY);
    assert_int_equal(timer_driver_count(&fake_td_a), 0);
    /* the clock passes the deadline before the driver fires: the poll
     * completes and cancels the armed entry, dropping the waker */
    weft_sleep_until_init(&s, fake_now + 100);
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
    fake_now += 100;
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_READY);
    assert_int_equal(timer_driver_count(&fake_td_a), 0);
    assert_int_equal(task.refs, 0);
    /* reset after completion: pending again, then ready at the new deadline */
    weft_sleep_reset(&s, fake_now + 7 * WEFT_MS);
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
    fake_now += 7 * WEFT_MS;
    assert_int_equal(timer_driver_fire(&fake_td_a, fake_now), 1);
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_READY);
    /* reset while armed moves the entry */
    weft_sleep_reset(&s, fake_now + 50 * WEFT_MS);
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
    weft_sleep_reset(&s, fake_now + 20 * WEFT_MS);
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
    assert_int_equal(timer_driver_count(&fake_td_a), 1);
    assert_int_equal(timer_driver_next_deadline(&fake_td_a), fake_now + 20 * WEFT_MS);
    /* the entry was disarmed behind the future's back: the next poll re-arms it */
    assert_true(timer_driver_cancel(&fake_td_a, &s.entry));
    assert_int_equal(task.refs, 0);
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
    assert_int_equal(timer_driver_count(&fake_td_a), 1);
    assert_int_equal(task.refs, 1);
    /* dropped while armed: cancelled, waker released, idempotent */
    weft_sleep_drop(&s);
    weft_sleep_drop(&s);
    assert_int_equal(timer_driver_count(&fake_td_a), 0);
    assert_int_equal(task.refs, 0);
    /* the driver fired it between the future's clock read and its lock:
     * READY from the fired flag, although this clock read is still earlier */
    weft_sleep_until_init(&s, fake_now + 5);
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
    assert_int_equal(timer_driver_fire(&fake_td_a, fake_now + 5), 1);
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_READY);
    assert_int_equal(weft_sleep_result(&s), 0);
    weft_sleep_drop(&s);
    weft_interval iv;
    uint64_t sched = 0;
    assert_int_equal(weft_interval_init(&iv, 1000, WEFT_MISSED_BURST), 0);
    assert_int_equal(weft_interval_poll(&iv, &cx, &sched), WEFT_READY);
    assert_int_equal(sched, fake_now);
    assert_int_equal(weft_interval_poll(&iv, &cx, &sched), WEFT_PENDING);
    assert_int_equal(timer_driver_fire(&fake_td_a, fake_now + 1000), 1);
    assert_int_equal(weft_interval_poll(&iv, &cx, &sched), WEFT_READY);
    assert_int_equal(sched, fake_now + 1000);
    weft_interval_drop(&iv);
    assert_int_equal(task.refs, 0);
}

/* A driver freed and initialised again at the same address (a freed
 * runtime's successor) is another group: a sleep bound to the first is
 * refused, not armed on memory it does not belong to. */
static void test_sleep_reused_driver_exdev(void **state)
{
    (void)state;
    ctask task = {0};
    timer_driver td;
    assert_int_equal(timer_driver_init(&td, 0, fake_clock, &fake_now, NULL, NULL), 0);
    weft_drivers drv = {&td, NULL, NULL, NULL};
    weft_context cx = fake_cx(&drv, &task);
    weft_sleep s;
    weft_sleep_init(&s, 1 * WEFT_SEC);
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
    weft_sleep_drop(&s);
    timer_driver_destroy(&td);
    assert_int_equal(timer_driver_init(&td, 0, fake_clock, &fake_now, NULL, NULL), 0);
    weft_sleep_reset(&s, fake_now + WEFT_SEC);
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_READY);
    assert_int_equal(weft_sleep_result(&s), -EXDEV);
    assert_int_equal(timer_driver_count(&td), 0);
    assert_int_equal(task.refs, 0);
    weft_sleep_drop(&s);
    timer_driver_destroy(&td);
}

static void test_sleep_other_runtime_exdev(void **state)
{
    (void)state;
    ctask ta = {0}, tb = {0};
    weft_context ca = fake_cx(RT_A, &ta), cb = fake_cx(RT_B, &tb);
    weft_sleep s;
    weft_sleep_init(&s, 1 * WEFT_SEC);
    assert_int_equal(weft_sleep_poll(&s, &ca), WEFT_PENDING);
    assert_int_equal(timer_driver_count(&fake_td_a), 1);
    assert_int_equal(weft_sleep_poll(&s, &cb), WEFT_READY);
    assert_int_equal(weft_sleep_result(&s), -EXDEV);
    /* released on the first runtime's driver, nothing armed on the second */
    assert_int_equal(timer_driver_count(&fake_td_a), 0);
    assert_int_equal(timer_driver_count(&fake_td_b), 0);
    assert_int_equal(ta.refs, 0);
    assert_int_equal(tb.refs, 0);
    weft_sleep_drop(&s);
    /* the same for an interval, and the error is sticky */
    weft_interval iv;
    uint64_t sched = 1;
    assert_int_equal(weft_interval_init(&iv, WEFT_MS, WEFT_MISSED_BURST), 0);
    assert_int_equal(weft_interval_poll(&iv, &ca, &sched), WEFT_READY);
    assert_int_equal(weft_interval_poll(&iv, &ca, &sched), WEFT_PENDING);
    assert_int_equal(weft_interval_poll(&iv, &cb, &sched), WEFT_READY);
    assert_int_equal(sched, 0);
    assert_int_equal(weft_interval_result(&iv), -EXDEV);
    assert_int_equal(weft_interval_poll(&iv, &ca, &sched), WEFT_READY);
    assert_int_equal(weft_interval_result(&iv), -EXDEV);
    assert_int_equal(timer_driver_count(&fake_td_a), 0);
    assert_int_equal(ta.refs, 0);
    weft_interval_drop(&iv);
}

static void test_timeout_fake_runtime(void **state)
{
    (void)state;
    ctask task = {0};
    weft_context cx = fake_cx(RT_A, &task);
    weft_timeout to;
    /* the inner completes first: timer cancelled, result 0 */
    weft_timeout_init(&to, 10 * WEFT_MS);
    assert_int_equal(weft_timeout_poll(&to, &cx, WEFT_PENDING), WEFT_PENDING);
    assert_int_equal(timer_driver_count(&fake_td_a), 1);
    fake_now += 3 * WEFT_MS;
    assert_int_equal(weft_timeout_poll(&to, &cx, WEFT_READY), WEFT_READY);
    assert_int_equal(weft_timeout_result(&to), 0);
    assert_int_equal(timer_driver_count(&fake_td_a), 0);
    assert_int_equal(task.refs, 0);
    weft_timeout_drop(&to);
    /* the deadline passes first: -ETIMEDOUT, and it is noticed even with no
     * budget left (the timeout charges none) */
    weft_timeout_init(&to, 10 * WEFT_MS);
    assert_int_equal(weft_timeout_poll(&to, &cx, WEFT_PENDING), WEFT_PENDING);
    fake_now += 10 * WEFT_MS;
    assert_int_equal(timer_driver_fire(&fake_td_a, fake_now), 1);
    cx.budget = 0;
    assert_int_equal(weft_timeout_poll(&to, &cx, WEFT_PENDING), WEFT_READY);
    assert_int_equal(weft_timeout_result(&to), -ETIMEDOUT);
    assert_int_equal(weft_timeout_poll(&to, &cx, WEFT_READY), WEFT_READY); /* sticky */
    assert_int_equal(weft_timeout_result(&to), -ETIMEDOUT);
    cx.budget = -1;
    weft_timeout_drop(&to);
    /* both at once: the inner wins */
    weft_timeout_until_init(&to, fake_now);
    assert_int_equal(weft_timeout_poll(&to, &cx, WEFT_READY), WEFT_READY);
    assert_int_equal(weft_timeout_result(&to), 0);
    weft_timeout_drop(&to);
    assert_int_equal(task.refs, 0);
}

/* Drives an interval: ticks whatever is due at fake_now into out[],
 * stopping at the first PENDING. */
static int interval_drain(weft_interval *iv, weft_context *cx, uint64_t *out, int max)
{
    int n = 0;
    uint64_t sched;
    timer_driver_fire(&fake_td_a, fake_now);
    while (n < max && weft_interval_poll(iv, cx, &sched) == WEFT_READY) out[n++] = sched;
    return n;
}

static void interval_case(weft_missed_tick policy, const int64_t *want_ms, int nwant)
{
    ctask task = {0};
    weft_context cx = fake_cx(RT_A, &task);
    weft_interval iv;
    const uint64_t ms = WEFT_MS, p = 10 * ms;
    assert_int_equal(weft_interval_init(&iv, p, policy), 0);
    uint64_t got[32];
    int n = 0;
    const uint64_t start = fake_now;
    n += interval_drain(&iv, &cx, got + n, 32 - n);   /* tick 0 at once */
    assert_int_equal(n, 1);
    assert_int_equal(got[0], start);
    fake_now = start + 10 * ms;                        /* on time */
    n += interval_drain(&iv, &cx, got + n, 32 - n);
    fake_now = start + 13 * ms;                        /* nothing due */
    n += interval_drain(&iv, &cx, got + n, 32 - n);
    fake_now = start + 47 * ms;                        /* stalled: 20, 30, 40 missed */
    n += interval_drain(&iv, &cx, got + n, 32 - n);
    for (uint64_t t = 48; t <= 80; t++) {              /* then the clock runs ms by ms */
        fake_now = start + t * ms;
        n += interval_drain(&iv, &cx, got + n, 32 - n);
    }
    assert_int_equal(n, nwant);
    for (int i = 0; i < n; i++) assert_int_equal(got[i], start + (uint64_t)want_ms[i] * ms);
    weft_interval_drop(&iv);
    assert_int_equal(timer_driver_count(&fake_td_a), 0);
    assert_int_equal(task.refs, 0);
}

static void test_interval_policies(void **state)
{
    (void)state;
    /* Tokio's semantics, period 10 ms, stalled from 10 to 47 ms */
    static const int64_t burst[] = {0, 10, 20, 30, 40, 50, 60, 70, 80};
    static const int64_t delay[] = {0, 10, 20, 57, 67, 77};
    static const int64_t skip[] = {0, 10, 20, 50, 60, 70, 80};
    interval_case(WEFT_MISSED_BURST, burst, 9);
    interval_case(WEFT_MISSED_DELAY, delay, 6);
    interval_case(WEFT_MISSED_SKIP, skip, 7);
    /* lateness under WEFT_INTERVAL_MISS_NS is not a miss, whatever the policy */
    ctask task = {0};
    weft_context cx = fake_cx(RT_A, &task);
    weft_interval iv;
    uint64_t s0, s1, s2;
    assert_int_equal(weft_interval_init(&iv, 10 * WEFT_MS, WEFT_MISSED_DELAY), 0);
    const uint64_t start = fake_now;
    assert_int_equal(weft_interval_poll(&iv, &cx, &s0), WEFT_READY);
    fake_now = start + 14 * WEFT_MS;
    assert_int_equal(weft_interval_poll(&iv, &cx, &s1), WEFT_READY);
    assert_int_equal(weft_interval_poll(&iv, &cx, &s2), WEFT_PENDING);
    fake_now = start + 20 * WEFT_MS;
    timer_driver_fire(&fake_td_a, fake_now);
    assert_int_equal(weft_interval_poll(&iv, &cx, &s2), WEFT_READY);
    assert_int_equal(s1 - s0, 10 * WEFT_MS);
    assert_int_equal(s2 - s0, 20 * WEFT_MS);
    weft_interval_drop(&iv);
    assert_int_equal(task.refs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_random),
        cmocka_unit_test(test_ties_in_arming_order),
        cmocka_unit_test(test_tick_of_exact),
        cmocka_unit_test(test_level_boundaries),
        cmocka_unit_test(test_cascade_path),
        cmocka_unit_test(test_ring_across_block),
        cmocka_unit_test(test_never_early_same_tick),
        cmocka_unit_test(test_cancel_every_level),
        cmocka_unit_test(test_far_deadlines),
        cmocka_unit_test(test_rearm),
        cmocka_unit_test(test_clock_backwards_and_pop_any),
        cmocka_unit_test(test_advance_callback),
        cmocka_unit_test(test_stress_vs_model),
        cmocka_unit_test(test_driver_fire_batches),
        cmocka_unit_test(test_driver_wake_arms_and_cancels),
        cmocka_unit_test(test_driver_notify_while_parked),
        cmocka_unit_test(test_driver_poll_entry),
        cmocka_unit_test(test_driver_two_threads),
        cmocka_unit_test(test_driver_lock_oversubscribed),
        cmocka_unit_test(test_futures_outside_runtime),
        cmocka_unit_test_setup_teardown(test_sleep_fake_runtime, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_sleep_reused_driver_exdev, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_sleep_other_runtime_exdev, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_fake_runtime, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_interval_policies, fake_setup, fake_teardown),
    };
    return cmocka_run_group_tests_name("wheel", tests, NULL, NULL);
}
