/*
 * tests/test_stress_deque.c - the Chase-Lev deque (common/deque.c) under real
 * concurrency, with exact checks:
 *
 *  owner_vs_3_thieves   1 owner, 3 thieves (4 threads on a 2-core machine, so
 *                       preemption lands anywhere), 10^6 items in 16 rounds,
 *                       each round a fresh deque of capacity 2 filled in bursts
 *                       of up to 1024, so the array doubles about ten times per
 *                       round while thieves steal. The owner interleaves pushes
 *                       and pops. Checked after join: every item taken exactly
 *                       once (a per-item atomic counter: all exactly 1, total
 *                       10^6; the bug class of crossbeam's CVE-2021-32810),
 *                       each owner pop returned the newest item it had pushed
 *                       and not popped (LIFO among what it saw), each thief saw
 *                       strictly increasing items (they were pushed in
 *                       increasing order, so steals are FIFO), every round grew.
 *  last_element_race    10^6 rounds of: owner pushes one item and pops it while
 *                       one thief, released at the same moment, steals. Exactly
 *                       one of them gets it each round; wins are counted, and
 *                       both sides must win some (the race really ran).
 *  two_item_race        5*10^5 rounds of the same with two items: the owner's
 *                       pop takes the newer one without a CAS while the thief
 *                       takes the older and tries for the newer. This is the
 *                       test that fails (on x86) when pop lacks its seq_cst
 *                       fence.
 *  steal_half           as the first, but each thief moves half the victim into
 *                       its own deque with deque_steal_half and pops them from
 *                       there: counts exact, each batch pops in strictly
 *                       decreasing order, batches strictly increase, and what
 *                       steal_half reported moved is what was popped.
 *
 * Every item points at a payload word the owner writes with a plain store
 * just before pushing it; whoever takes it checks the word with a plain load.
 * That checks publication, and lets ThreadSanitizer see a missing
 * release/acquire edge as a data race (with slots alone it could not: they
 * are atomics).
 *
 * The full counts run under ThreadSanitizer too (DEQUE_TSAN_MODE; about 2.5 s
 * on 2 cores with gcc 12 or clang 14), so nothing is scaled down.
 * Worker threads only record; all assertions run on the test's thread after
 * pthread_join.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/deque.h"
#include "common/spinlock.h" /* cpu_relax */

enum {
    N_ITEMS = 1000000,
    N_RACES = 1000000,
    N_THIEVES = 3,
    N_ROUNDS = 16,          /* fresh capacity-2 deque per round: more grows */
    BURST_MAX = 1024,       /* pushes back to back: fills faster than thieves drain */
    SPINS_BEFORE_YIELD = 64, /* 4 threads on 2 cores: let the preempted one run */
    SPINS_BEFORE_SLEEP = 64 * 16, /* then 16 yields, then sleep (see wait_step) */
    OWNER_WORK = 16,        /* pauses per item the owner pops ("running the task",
                             * ~0.1-0.5 us): without it the owner finishes a round
                             * before the thieves wake, and little is stolen */
    RACE_DELAY_MAX = 32     /* the race owner waits 0..31 pauses before popping,
                             * sweeping its pop across the thief's steal */
};

/* One step of a wait for the other thread: spin, then yield, then sleep.
 * On an oversubscribed machine (CPU hogs beside the test) sched_yield does
 * not make the scheduler run the thread we wait for - the hogs get the
 * core - so each of the 10^6 handshakes waited for a time slice and the
 * test took minutes instead of a second. Sleeping frees the core, and the
 * waited-for thread, which has run less than the hogs, is picked next.
 * Only the timing changes: the counts the test checks stay exact. */
static void wait_step(unsigned spins)
{
    if (spins % SPINS_BEFORE_YIELD != 0) {
        cpu_relax();
    } else if (spins < SPINS_BEFORE_SLEEP) {
        sched_yield();
    } else {
        struct timespec ts = {0, 20000}; /* 20 us */
        nanosleep(&ts, NULL);
    }
}


static void pause_n(unsigned n)
{
    for (unsigned k = 0; k < n; k++) cpu_relax();
}

/* Item i is a pointer to payload[i], written with a plain store by the owner
 * just before the push and read with a plain load by whoever takes it: the
 * deque's release/acquire must order the two (a stale read counts as an
 * error), and ThreadSanitizer checks that they are ordered. Set up before the
 * threads start; freed after they are joined. */
static uint64_t *payload;
#define PAYLOAD_OF(i) (((uint64_t)(i) * 0x9E3779B97F4A7C15ull) ^ 0xA5A5u) /* never 0 here */

static void *item_make(uintptr_t i)
{
    payload[i] = PAYLOAD_OF(i);
    return &payload[i];
}

static uintptr_t item_index(void *x, uint64_t *payload_errors)
{
    uintptr_t i = (uintptr_t)((uint64_t *)x - payload);
    if (payload[i] != PAYLOAD_OF(i)) (*payload_errors)++;
    return i;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* ---- owner + thieves, in rounds ------------------------------------------- */

typedef struct shared {
    deque d;
    atomic_int done;             /* owner: release store when the round's deque is
                                  * empty for good; thieves: acquire load */
    pthread_barrier_t start, end; /* owner + thieves */
    atomic_uint *counts;         /* per item: times taken; relaxed increments,
                                  * read after pthread_join */
    int steal_half;              /* thieves use deque_steal_half */
} shared;

typedef struct owner_result {
    uint64_t pushed, popped, empty_pops, lifo_violations, push_errors, payload_errors;
    unsigned rounds_without_growth;
    size_t max_capacity;
} owner_result;

typedef struct thief_result {
    uint64_t stolen, aborts, empties, order_violations, payload_errors;
    uint64_t halves, moved, batch_violations, move_mismatch, init_errors;
} thief_result;

typedef struct owner_arg {
    shared *s;
    owner_result r;
} owner_arg;

typedef struct thief_arg {
    shared *s;
    thief_result r;
} thief_arg;

/* The owner's view: items it pushed and has not popped, oldest first. Thieves
 * remove from the bottom of this stack, so a pop must return its top. */
static void owner_take(owner_arg *o, uintptr_t *stack, size_t *sp, void *x)
{
    uintptr_t v = item_index(x, &o->r.payload_errors);
    if (*sp == 0 || stack[*sp - 1] != v) o->r.lifo_violations++;
    else (*sp)--;
    pause_n(OWNER_WORK);
    /* relaxed: a count, read after pthread_join */
    atomic_fetch_add_explicit(&o->s->counts[v], 1, memory_order_relaxed);
    o->r.popped++;
}

static void *owner_main(void *arg)
{
    owner_arg *o = arg;
    shared *s = o->s;
    uintptr_t *stack = malloc(sizeof(uintptr_t) * (N_ITEMS / N_ROUNDS + BURST_MAX));
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    uintptr_t per_round = N_ITEMS / N_ROUNDS;
    for (unsigned round = 0; round < N_ROUNDS; round++) {
        uintptr_t i = round * per_round;
        uintptr_t end = round + 1 == N_ROUNDS ? N_ITEMS : i + per_round;
        if (deque_init(&s->d, 2) != 0) abort(); /* cannot fail: valid capacity */
        /* relaxed: the barrier orders it before the thieves' loads */
        atomic_store_explicit(&s->done, 0, memory_order_relaxed);
        pthread_barrier_wait(&s->start);
        size_t sp = 0;
        while (i < end) {
            uintptr_t burst = 1 + rng_next(&rng) % BURST_MAX;
            if (burst > end - i) burst = end - i;
            for (uintptr_t k = 0; k < burst; k++, i++) {
                if (deque_push(&s->d, item_make(i)) != 0) o->r.push_errors++;
                stack[sp++] = i;
                o->r.pushed++;
            }
            uintptr_t npop = rng_next(&rng) % (burst + 1);
            for (uintptr_t k = 0; k < npop; k++) {
                void *x = deque_pop(&s->d);
                if (x == NULL) { /* thieves took everything we still had */
                    sp = 0;
                    o->r.empty_pops++;
                    break;
                }
                owner_take(o, stack, &sp, x);
            }
        }
        for (void *x; (x = deque_pop(&s->d)) != NULL;) owner_take(o, stack, &sp, x);
        size_t cap = deque_capacity_owner(&s->d);
        if (cap > o->r.max_capacity) o->r.max_capacity = cap;
        if (cap == 2) o->r.rounds_without_growth++;
        /* release: pairs with the thieves' acquire load; the deque is empty and
         * stays so until the end barrier */
        atomic_store_explicit(&s->done, 1, memory_order_release);
        pthread_barrier_wait(&s->end);
        deque_destroy(&s->d); /* every thief is past its last steal */
    }
    free(stack);
    return NULL;
}

static void thief_record(thief_arg *t, uintptr_t v)
{
    /* relaxed: a count, read after pthread_join */
    atomic_fetch_add_explicit(&t->s->counts[v], 1, memory_order_relaxed);
}

static void *thief_main(void *arg)
{
    thief_arg *t = arg;
    shared *s = t->s;
    int64_t last = -1; /* items arrive strictly increasing, across rounds too */
    uintptr_t *batch = malloc(sizeof(uintptr_t) * (N_ITEMS / N_ROUNDS + BURST_MAX));
    for (unsigned round = 0; round < N_ROUNDS; round++) {
        deque mine;
        if (s->steal_half && deque_init(&mine, 2) != 0) t->r.init_errors++;
        pthread_barrier_wait(&s->start);
        unsigned idle = 0;
        for (;;) {
            if (!s->steal_half) {
                int status;
                void *x = deque_steal(&s->d, &status);
                if (x != NULL) {
                    int64_t v = (int64_t)item_index(x, &t->r.payload_errors);
                    if (v <= last) t->r.order_violations++;
                    last = v;
                    thief_record(t, (uintptr_t)v);
                    t->r.stolen++;
                    continue;
                }
                if (status == DEQUE_ABORT) {
                    t->r.aborts++;
                    continue;
                }
            } else {
                size_t moved = deque_steal_half(&s->d, &mine);
                if (moved > 0) {
                    /* the batch went in oldest first, so pops come newest
                     * first: strictly decreasing, all above the last batch */
                    size_t n = 0;
                    for (void *x; (x = deque_pop(&mine)) != NULL;)
                        batch[n++] = item_index(x, &t->r.payload_errors);
                    if (n != moved) t->r.move_mismatch++;
                    for (size_t k = 0; k < n; k++) {
                        if (k > 0 && batch[k] >= batch[k - 1]) t->r.batch_violations++;
                        thief_record(t, batch[k]);
                    }
                    if (n > 0 && (int64_t)batch[n - 1] <= last) t->r.order_violations++;
                    if (n > 0) last = (int64_t)batch[0];
                    t->r.halves++;
                    t->r.moved += moved;
                    t->r.stolen += n;
                    continue;
                }
            }
            /* acquire: pairs with the owner's release store of done. Once set,
             * the deque is empty for the rest of the round. */
            if (atomic_load_explicit(&s->done, memory_order_acquire)) break;
            t->r.empties++;
            wait_step(++idle);
        }
        pthread_barrier_wait(&s->end);
        if (s->steal_half) deque_destroy(&mine);
    }
    free(batch);
    return NULL;
}

static void run_owner_thieves(int steal_half)
{
    shared *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->counts = calloc(N_ITEMS, sizeof *s->counts);
    assert_non_null(s->counts);
    payload = calloc(N_ITEMS, sizeof *payload);
    assert_non_null(payload);
    s->steal_half = steal_half;
    atomic_init(&s->done, 0);
    assert_int_equal(pthread_barrier_init(&s->start, NULL, 1 + N_THIEVES), 0);
    assert_int_equal(pthread_barrier_init(&s->end, NULL, 1 + N_THIEVES), 0);

    owner_arg o = {.s = s};
    thief_arg th[N_THIEVES];
    pthread_t tid[1 + N_THIEVES];
    memset(th, 0, sizeof th);
    for (unsigned k = 0; k < N_THIEVES; k++) {
        th[k].s = s;
        assert_int_equal(pthread_create(&tid[1 + k], NULL, thief_main, &th[k]), 0);
    }
    assert_int_equal(pthread_create(&tid[0], NULL, owner_main, &o), 0);
    for (unsigned k = 0; k <= N_THIEVES; k++) assert_int_equal(pthread_join(tid[k], NULL), 0);

    uint64_t stolen = 0, aborts = 0, halves = 0, moved = 0;
    for (unsigned k = 0; k < N_THIEVES; k++) {
        assert_int_equal(th[k].r.order_violations, 0);
        assert_int_equal(th[k].r.payload_errors, 0);
        assert_int_equal(th[k].r.batch_violations, 0);
        assert_int_equal(th[k].r.move_mismatch, 0);
        assert_int_equal(th[k].r.init_errors, 0);
        assert_int_equal(th[k].r.moved, steal_half ? th[k].r.stolen : 0);
        stolen += th[k].r.stolen;
        aborts += th[k].r.aborts;
        halves += th[k].r.halves;
        moved += th[k].r.moved;
    }
    assert_int_equal(o.r.push_errors, 0);
    assert_int_equal(o.r.lifo_violations, 0);
    assert_int_equal(o.r.payload_errors, 0);
    assert_int_equal(o.r.pushed, N_ITEMS);
    assert_int_equal(o.r.rounds_without_growth, 0);
    uint64_t total = 0, not_once = 0;
    for (size_t i = 0; i < N_ITEMS; i++) {
        /* relaxed: the joins ordered every increment before this */
        unsigned c = atomic_load_explicit(&s->counts[i], memory_order_relaxed);
        total += c;
        not_once += c != 1;
    }
    assert_int_equal(not_once, 0);
    assert_int_equal(total, N_ITEMS);
    assert_int_equal(o.r.popped + stolen, N_ITEMS);
    print_message("    %s: %d items: owner popped %llu (%llu empty pops), thieves took %llu, "
                  "max capacity %zu\n",
                  steal_half ? "steal_half" : "steal", (int)N_ITEMS,
                  (unsigned long long)o.r.popped, (unsigned long long)o.r.empty_pops,
                  (unsigned long long)stolen, o.r.max_capacity);
    if (!steal_half) print_message("    steal: %llu aborted steals\n", (unsigned long long)aborts);
    if (steal_half)
        print_message("    steal_half: %llu calls moved %llu items (%.1f per call)\n",
                      (unsigned long long)halves, (unsigned long long)moved,
                      halves ? (double)moved / (double)halves : 0.0);
    assert_true(stolen > 0 && o.r.popped > 0);
    pthread_barrier_destroy(&s->start);
    pthread_barrier_destroy(&s->end);
    free(s->counts);
    free(s);
    free(payload);
    payload = NULL;
}

static void test_owner_vs_3_thieves(void **state)
{
    (void)state;
    run_owner_thieves(0);
}

static void test_steal_half(void **state)
{
    (void)state;
    run_owner_thieves(1);
}

/* ---- the last-element race ------------------------------------------------- */

/*
 * Round i: the owner pushes `width` items, releases the thief and pops once:
 * on even rounds after a random 0..RACE_DELAY_MAX-1 pauses, on odd rounds as
 * soon as the thief says it is starting its steal (so the thief wins some
 * rounds even when both threads share a core). The thief steals until it
 * finds the deque empty or loses a CAS. After the thief acknowledges, the owner pops
 * whatever is left. Width 1 is the last-element race proper (both sides CAS
 * for the one item). Width 2 makes the owner's pop take the newer item WITHOUT
 * a CAS whenever it sees two items, while the thief takes the older one and
 * tries for the newer: the store-buffering pattern the seq_cst fences exist
 * for (a pop that loads top before its store of bottom is visible takes the
 * item a second time).
 */
typedef struct race {
    deque d;
    unsigned width;        /* items per round: 1 or 2 */
    long rounds;
    atomic_long ready;     /* owner: release store i+1 after pushing round i */
    atomic_long started;   /* thief: release store i+1 just before stealing in i */
    atomic_long acked;     /* thief: release store i+1 after its attempt on i */
    atomic_uchar *winners; /* per item: how many took it */
    /* thief_*: written by the thief, owner_*: by the owner; read after join */
    uint64_t owner_wins, owner_first_pop_wins, owner_wrong, owner_payload_errors, leftovers;
    uint64_t thief_wins, thief_wrong, thief_payload_errors, thief_aborts, thief_empties;
} race;

static void spin_until(atomic_long *x, long at_least)
{
    /* acquire: pairs with the other side's release store of *x */
    for (unsigned spins = 1; atomic_load_explicit(x, memory_order_acquire) < at_least; spins++)
        wait_step(spins);
}

/* the item must belong to round i: index in [i*width, (i+1)*width) */
static int race_take(race *r, long i, void *x, uint64_t *payload_errors)
{
    uintptr_t v = item_index(x, payload_errors);
    if (v < (uintptr_t)i * r->width || v >= (uintptr_t)(i + 1) * r->width) return 0;
    /* relaxed: a count, read after pthread_join */
    atomic_fetch_add_explicit(&r->winners[v], 1, memory_order_relaxed);
    return 1;
}

static void *race_thief(void *arg)
{
    race *r = arg;
    for (long i = 0; i < r->rounds; i++) {
        spin_until(&r->ready, i + 1);
        /* release: pairs with the owner's acquire in spin_until */
        atomic_store_explicit(&r->started, i + 1, memory_order_release);
        for (;;) {
            int status;
            void *x = deque_steal(&r->d, &status);
            if (x == NULL) {
                if (status == DEQUE_ABORT) r->thief_aborts++; /* lost the CAS to the owner */
                else r->thief_empties++;
                break;
            }
            if (!race_take(r, i, x, &r->thief_payload_errors)) r->thief_wrong++;
            r->thief_wins++;
        }
        /* release: pairs with the owner's acquire in spin_until */
        atomic_store_explicit(&r->acked, i + 1, memory_order_release);
    }
    return NULL;
}

static void run_race(unsigned width)
{
    race *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->width = width;
    r->rounds = N_RACES / (long)width;
    long n_items = r->rounds * (long)width;
    r->winners = calloc((size_t)n_items, sizeof *r->winners);
    assert_non_null(r->winners);
    payload = calloc((size_t)n_items, sizeof *payload);
    assert_non_null(payload);
    assert_int_equal(deque_init(&r->d, 2), 0); /* wraps around 2 slots forever */
    atomic_init(&r->ready, 0);
    atomic_init(&r->started, 0);
    atomic_init(&r->acked, 0);
    pthread_t tid;
    assert_int_equal(pthread_create(&tid, NULL, race_thief, r), 0);
    /* The owner runs on the test's thread but records only; it asserts after
     * the join. */
    uint64_t push_errors = 0, rng = 88172645463325252ull;
    for (long i = 0; i < r->rounds; i++) {
        for (unsigned j = 0; j < width; j++)
            if (deque_push(&r->d, item_make((uintptr_t)i * width + j)) != 0) push_errors++;
        /* release: pairs with the thief's acquire in spin_until */
        atomic_store_explicit(&r->ready, i + 1, memory_order_release);
        if (i & 1) spin_until(&r->started, i + 1);
        else pause_n((unsigned)(rng_next(&rng) % RACE_DELAY_MAX));
        void *x = deque_pop(&r->d);
        if (x != NULL) {
            if (!race_take(r, i, x, &r->owner_payload_errors)) r->owner_wrong++;
            r->owner_wins++;
            r->owner_first_pop_wins++;
        }
        spin_until(&r->acked, i + 1);
        for (; (x = deque_pop(&r->d)) != NULL; r->owner_wins++) /* the thief lost a CAS */
            if (!race_take(r, i, x, &r->owner_payload_errors)) r->owner_wrong++;
        if (deque_len_owner(&r->d) != 0) r->leftovers++;
    }
    assert_int_equal(pthread_join(tid, NULL), 0);
    assert_int_equal(push_errors, 0);
    assert_int_equal(r->owner_wrong, 0);
    assert_int_equal(r->thief_wrong, 0);
    assert_int_equal(r->owner_payload_errors, 0);
    assert_int_equal(r->thief_payload_errors, 0);
    assert_int_equal(r->leftovers, 0);
    uint64_t not_once = 0;
    for (long i = 0; i < n_items; i++)
        not_once += atomic_load_explicit(&r->winners[i], memory_order_relaxed) != 1;
    assert_int_equal(not_once, 0);
    assert_int_equal(r->owner_wins + r->thief_wins, n_items);
    assert_int_equal(r->thief_aborts + r->thief_empties, r->rounds); /* one failure per round */
    print_message("    %ld rounds of %u: owner won %llu (%llu by its racing pop), thief won "
                  "%llu; thief lost a CAS %llu times, found the deque empty %llu times\n",
                  r->rounds, width, (unsigned long long)r->owner_wins,
                  (unsigned long long)r->owner_first_pop_wins, (unsigned long long)r->thief_wins,
                  (unsigned long long)r->thief_aborts, (unsigned long long)r->thief_empties);
    /* the race ran both ways */
    assert_true(r->owner_first_pop_wins > 0 && r->thief_wins > 0);
    assert_int_equal(deque_capacity_owner(&r->d), 2); /* <= 2 items never grow it */
    deque_destroy(&r->d);
    free(r->winners);
    free(r);
    free(payload);
    payload = NULL;
}

static void test_last_element_race(void **state)
{
    (void)state;
    run_race(1);
}

static void test_two_item_race(void **state)
{
    (void)state;
    run_race(2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_vs_3_thieves),
        cmocka_unit_test(test_last_element_race),
        cmocka_unit_test(test_two_item_race),
        cmocka_unit_test(test_steal_half),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
