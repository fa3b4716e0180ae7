/*
 * tests/test_claim_back.c - join claim-back (schedulers/task.c's essay,
 * sched_ops.take_back): a joiner that finds its child queued and not running
 * in its own worker's LIFO slot or deque bottom polls it inline.
 *
 * One-worker ws/numa runtimes are deterministic (nobody steals), so the
 * first tests check exact poll, drop and wake counts and that the child ran
 * inside the parent's poll: claimed READY, the claimed fast path (the
 * child's word during its poll, freed by the join itself, white-box through
 * the worker's task cache) and the cases it must leave to the general
 * transitions (a waker kept, a woken child claimed again), claimed PENDING then woken,
 * aborted while claimable, a child that is not claimable (deeper in the
 * deque), a dropped join handle, and a chain deeper than the nesting bound.
 * Policies without take_back (fifo, global) must keep the ordinary path.
 * The stress test runs a fork-join tree on 2..8 workers where thieves race
 * the owner's claim-back for the deque's last item, and checks that every
 * task was polled exactly once and the sum is right (TSan build: smaller).
 * deque_pop_if itself is checked on a bare deque.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/deque.h"
#include "schedulers/runtime_internal.h"
#include "schedulers/task.h"
#include "test_util.h"
#include "weft/runtime.h"

/* ---- a child that records what happened to it ------------------------------ */

/* C_KEEP_WAKER: clones its waker, keeps it, READY; C_CLONE_DROP: clones it
 * and drops the clone, READY; C_SELF_WAKE: clones it and wakes itself with
 * the clone (a consuming wake while RUNNING), READY. */
enum { C_READY, C_PEND_ONCE, C_KEEP_WAKER, C_CLONE_DROP, C_SELF_WAKE };

typedef struct child_rec {
    _Atomic int polls, drops, inline_polls;
    weft_waker saved; /* C_PEND_ONCE: the waker of the first poll; C_KEEP_WAKER: the clone */
    _Atomic int saved_set;
    uint64_t word[2]; /* white-box: the task's state word seen by its first two polls */
} child_rec;

/* Set by the parent around its join poll (one worker: plain thread-local is
 * enough; the child reads it on the same thread when it runs inline). */
static _Thread_local int parent_in_join;

typedef struct child {
    child_rec *rec;
    int mode;
    int value;
} child;

static weft_poll child_poll(void *p, weft_context *cx, void *out)
{
    child *c = p;
    int n = atomic_fetch_add_explicit(&c->rec->polls, 1, memory_order_relaxed) + 1;
    if (parent_in_join) atomic_fetch_add_explicit(&c->rec->inline_polls, 1, memory_order_relaxed);
    if (n <= 2) c->rec->word[n - 1] = atomic_load_explicit(&((task *)cx->task)->state, memory_order_relaxed);
    if (c->mode == C_KEEP_WAKER) {
        c->rec->saved = weft_waker_clone(weft_context_waker(cx));
        atomic_store_explicit(&c->rec->saved_set, 1, memory_order_release);
    } else if (c->mode == C_CLONE_DROP) {
        weft_waker w = weft_waker_clone(weft_context_waker(cx));
        weft_waker_drop(&w);
    } else if (c->mode == C_SELF_WAKE) {
        weft_waker w = weft_waker_clone(weft_context_waker(cx));
        weft_waker_wake(&w);
    }
    if (c->mode == C_PEND_ONCE && n == 1) {
        c->rec->saved = weft_waker_clone(weft_context_waker(cx));
        atomic_store_explicit(&c->rec->saved_set, 1, memory_order_release);
        return WEFT_PENDING;
    }
    *(int *)out = c->value;
    return WEFT_READY;
}
static void child_drop(void *p) { atomic_fetch_add_explicit(&((child *)p)->rec->drops, 1, memory_order_relaxed); }
static const weft_future_type child_type = {"claim_child", child_poll, child_drop, sizeof(child), sizeof(int)};

/* ---- the parent: spawns children, optionally aborts or drops, joins one ------ */

/* P_WAKE_THEN_CLAIM: as P_WAKE_OWN_CHILD, but the parent joins again in the
 * same poll right after the wake, so the woken child (in the LIFO slot) is
 * claimed a second time. */
enum { P_JOIN, P_ABORT_THEN_JOIN, P_DROP, P_WAKE_OWN_CHILD, P_WAKE_THEN_CLAIM };

typedef struct parent {
    child_rec *rec;     /* the joined child's record */
    int mode;
    int nchildren;      /* children spawned; the one joined is `join_index` */
    int join_index;
    int phase;
    int polls;
    int first_join;     /* what the first join poll returned (WEFT_READY / WEFT_PENDING) */
    int result, value;
    int child_mode;     /* P_JOIN: the children's mode (C_READY by default) */
    int freed_at_join;  /* task blocks the worker's task cache gained across the READY join poll */
    int freed_at_drop;  /* C_KEEP_WAKER: and across the drop of the child's kept waker after it */
    weft_join_handle h[4];
} parent;

/* Where the parent copies its state when it completes (NULL: nowhere): the
 * output carries only its poll count. One worker, one test at a time. */
static parent *final_state;

/* White-box: the blocks in the calling worker's task cache (every class). */
static long cache_blocks(void)
{
    worker *w = rt_current_worker();
    long n = 0;
    for (int i = 0; i < TASK_CACHE_CLASSES; i++) n += w->tcache.count[i];
    return n;
}

static weft_poll parent_poll(void *p, weft_context *cx, void *out)
{
    parent *s = p;
    s->polls++;
    parent_in_join = 1; /* the children spawned here cannot run before we join */
    if (s->phase == 0) {
        s->phase = 1;
        for (int i = 0; i < s->nchildren; i++) {
            int cm = s->mode == P_WAKE_OWN_CHILD || s->mode == P_WAKE_THEN_CLAIM ? C_PEND_ONCE : s->child_mode;
            child init = {s->rec, cm, 100 + i};
            assert_int_equal(weft_spawn(weft_context_runtime(cx), &child_type, &init, &s->h[i]), 0);
        }
        if (s->mode == P_ABORT_THEN_JOIN) assert_int_equal(weft_join_abort(&s->h[s->join_index]), 0);
        if (s->mode == P_DROP) {
            for (int i = 0; i < s->nchildren; i++) weft_join_drop(&s->h[i]);
            parent_in_join = 0;
            *(int *)out = 0;
            return WEFT_READY;
        }
    }
    long before = cache_blocks();
    weft_poll r = weft_join_poll(&s->h[s->join_index], cx, &s->value, &s->result);
    if (s->phase == 1) {
        s->phase = 2;
        s->first_join = r;
        /* the claimed child saved its waker and is idle: wake it from here */
        if (r == WEFT_PENDING && (s->mode == P_WAKE_OWN_CHILD || s->mode == P_WAKE_THEN_CLAIM)) {
            assert_int_equal(atomic_load_explicit(&s->rec->saved_set, memory_order_acquire), 1);
            weft_waker_wake(&s->rec->saved);
            if (s->mode == P_WAKE_THEN_CLAIM) {
                before = cache_blocks();
                r = weft_join_poll(&s->h[s->join_index], cx, &s->value, &s->result);
            }
        }
    }
    if (r == WEFT_READY) {
        s->freed_at_join = (int)(cache_blocks() - before);
        if (s->child_mode == C_KEEP_WAKER && s->phase == 2) {
            s->phase = 3;
            before = cache_blocks();
            weft_waker_drop(&s->rec->saved);
            s->freed_at_drop = (int)(cache_blocks() - before);
        }
    }
    if (r == WEFT_PENDING) {
        parent_in_join = 0;
        return WEFT_PENDING;
    }
    for (int i = 0; i < s->nchildren; i++) {
        if (i == s->join_index) continue;
        int rc = 1, v = 0;
        if (weft_join_poll(&s->h[i], cx, &v, &rc) == WEFT_PENDING) {
            parent_in_join = 0;
            return WEFT_PENDING;
        }
    }
    parent_in_join = 0;
    if (final_state) *final_state = *s;
    *(int *)out = s->polls;
    return WEFT_READY;
}
static const weft_future_type parent_type = {"claim_parent", parent_poll, NULL, sizeof(parent), sizeof(int)};

static void rec_init(child_rec *r)
{
    memset(r, 0, sizeof *r);
    atomic_init(&r->polls, 0);
    atomic_init(&r->drops, 0);
    atomic_init(&r->inline_polls, 0);
    atomic_init(&r->saved_set, 0);
    r->saved = WEFT_WAKER_NONE;
}

/* Runs one parent on a fresh runtime; returns the parent's state after it
 * completed (its output, the parent's poll count, is checked by callers
 * through s->polls) and the runtime's counters. */
static parent run_parent_ex(const char *sched, int mode, int child_mode, int nchildren, int join_index,
                            child_rec *rec, weft_worker_stats *st, parent *final);

static parent run_parent(const char *sched, int mode, int nchildren, int join_index, child_rec *rec,
                         weft_worker_stats *st)
{
    return run_parent_ex(sched, mode, C_READY, nchildren, join_index, rec, st, NULL);
}

static parent run_parent_ex(const char *sched, int mode, int child_mode, int nchildren, int join_index,
                            child_rec *rec, weft_worker_stats *st, parent *final)
{
    weft_runtime *rt = tu_rt_new(sched, 1, NULL);
    parent init;
    memset(&init, 0, sizeof init);
    init.rec = rec;
    init.mode = mode;
    init.nchildren = nchildren;
    init.join_index = join_index;
    init.first_join = -1;
    init.child_mode = child_mode;
    for (int i = 0; i < 4; i++) init.h[i] = WEFT_JOIN_HANDLE_INIT;
    final_state = final;
    /* the parent's state lives in its task: run it through a spawned handle so
     * the test can read the state's counters from the output */
    int polls = -1;
    tu_block_on_ok(rt, &parent_type, &init, &polls);
    weft_runtime_stats(rt, NULL, 0, st);
    weft_runtime_free(rt);
    init.polls = polls;
    return init;
}

static const char *const claim_scheds[] = {"ws", "numa"};

/* Claimed READY: the child runs inside the parent's first join poll, no
 * waker, no wake, one poll each. */
static void test_claim_ready(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < 2; k++) {
        child_rec rec;
        rec_init(&rec);
        weft_worker_stats st;
        parent s = run_parent(claim_scheds[k], P_JOIN, 1, 0, &rec, &st);
        assert_int_equal(s.polls, 1);
        assert_int_equal(rec.polls, 1);
        assert_int_equal(rec.inline_polls, 1);
        assert_int_equal(rec.drops, 1); /* the drop after READY, exactly once */
        assert_int_equal(st.local_wakes, 0);
        assert_int_equal(st.polls, 2); /* the parent and the child */
    }
}

/* The claimed fast path (task.h, "A claimed child's word"): a child holding
 * just its queue's and its handle's references is polled with the word the
 * general transition makes (RUNNING | JOIN_INTEREST, two references; seen
 * from inside its poll) and freed by the join itself, exactly one block
 * back in the worker's cache across the join poll. */
static void test_claim_fast_word_and_free(void **unused)
{
    (void)unused;
    const int modes[] = {C_READY, C_CLONE_DROP, C_SELF_WAKE};
    for (size_t k = 0; k < 2; k++) {
        for (size_t m = 0; m < 3; m++) {
            child_rec rec;
            rec_init(&rec);
            weft_worker_stats st;
            parent fin;
            memset(&fin, 0, sizeof fin);
            parent s = run_parent_ex(claim_scheds[k], P_JOIN, modes[m], 1, 0, &rec, &st, &fin);
            assert_int_equal(s.polls, 1);
            assert_int_equal(rec.polls, 1);
            assert_int_equal(rec.inline_polls, 1);
            assert_int_equal(rec.drops, 1);
            assert_int_equal(rec.word[0], TASK_RUNNING | TASK_JOIN_INTEREST | 2 * TASK_REF_ONE);
            assert_int_equal(fin.result, 0);
            assert_int_equal(fin.value, 100);
            assert_int_equal(fin.freed_at_join, 1);
            /* a wake of a running task sets NOTIFIED and queues nothing */
            assert_int_equal(st.local_wakes, 0);
            assert_int_equal(st.polls, 2);
        }
    }
}

/* Not the fast path: the claimed child keeps a clone of its waker, so a
 * third reference exists when it completes. The join still reads the
 * output at once, but the task must outlive it until the waker is dropped:
 * no block comes back at the join, one at the drop (a fast path taken here
 * would free it under the waker: ASan's use after free, and 1 at the join). */
static void test_claim_waker_kept_outlives_join(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < 2; k++) {
        child_rec rec;
        rec_init(&rec);
        weft_worker_stats st;
        parent fin;
        memset(&fin, 0, sizeof fin);
        parent s = run_parent_ex(claim_scheds[k], P_JOIN, C_KEEP_WAKER, 1, 0, &rec, &st, &fin);
        assert_int_equal(s.polls, 1);
        assert_int_equal(rec.polls, 1);
        assert_int_equal(rec.inline_polls, 1);
        assert_int_equal(rec.drops, 1);
        assert_int_equal(rec.word[0], TASK_RUNNING | TASK_JOIN_INTEREST | 2 * TASK_REF_ONE);
        assert_int_equal(fin.result, 0);
        assert_int_equal(fin.value, 100);
        assert_int_equal(fin.freed_at_join, 0);
        assert_int_equal(fin.freed_at_drop, 1);
        assert_int_equal(st.local_wakes, 0);
        assert_int_equal(st.polls, 2);
    }
}

/* Claimed twice: the first claimed poll returns PENDING (the child goes on
 * the owned list, its waker saved), the parent wakes it (to the LIFO slot)
 * and joins again in the same poll: the second claim takes the general
 * transitions (three references: queue, handle, list), completes it,
 * unlinks it and frees it at the join. */
static void test_claim_woken_child_again(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < 2; k++) {
        child_rec rec;
        rec_init(&rec);
        weft_worker_stats st;
        parent fin;
        memset(&fin, 0, sizeof fin);
        parent s = run_parent_ex(claim_scheds[k], P_WAKE_THEN_CLAIM, C_READY, 1, 0, &rec, &st, &fin);
        assert_int_equal(s.polls, 1);
        assert_int_equal(rec.polls, 2);
        assert_int_equal(rec.inline_polls, 2);
        assert_int_equal(rec.drops, 1);
        assert_int_equal(rec.word[0], TASK_RUNNING | TASK_JOIN_INTEREST | 2 * TASK_REF_ONE);
        /* the join's waker of the parent is registered (JOIN_WAKER) and the
         * list holds a reference; the saved waker was consumed by the wake */
        assert_int_equal(rec.word[1], TASK_RUNNING | TASK_JOIN_INTEREST | TASK_JOIN_WAKER | 3 * TASK_REF_ONE);
        assert_int_equal(fin.first_join, WEFT_PENDING);
        assert_int_equal(fin.result, 0);
        assert_int_equal(fin.value, 100);
        assert_int_equal(fin.freed_at_join, 1);
        assert_int_equal(st.local_wakes, 1); /* the child, by the parent */
        assert_int_equal(st.polls, 3);
    }
}

/* The joined child is the older of two: displaced from the LIFO slot to the
 * deque's bottom, still claimable; the younger one (in the slot) is joined
 * after it and claimed too. */
static void test_claim_from_deque_bottom(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < 2; k++) {
        child_rec rec;
        rec_init(&rec);
        weft_worker_stats st;
        parent s = run_parent(claim_scheds[k], P_JOIN, 2, 0, &rec, &st);
        assert_int_equal(s.polls, 1);
        assert_int_equal(rec.polls, 2);
        assert_int_equal(rec.inline_polls, 2);
        assert_int_equal(st.local_wakes, 0);
        assert_int_equal(st.polls, 3);
    }
}

/* Three children: the slot holds the third, the deque [first, second]; the
 * first is not at the bottom, so the parent waits the ordinary way: the
 * worker runs the others, the first completes and wakes the parent. */
static void test_not_claimable_waits(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < 2; k++) {
        child_rec rec;
        rec_init(&rec);
        weft_worker_stats st;
        parent s = run_parent(claim_scheds[k], P_JOIN, 3, 0, &rec, &st);
        assert_int_equal(s.polls, 2);
        assert_int_equal(rec.polls, 3);
        assert_int_equal(rec.inline_polls, 0);
        assert_int_equal(st.local_wakes, 1); /* the first child woke the parent */
        assert_int_equal(st.polls, 5);
    }
}

/* Claimed, the child returns PENDING (its waker saved): it goes idle as after
 * any poll, the join registers its waker and returns PENDING; the parent
 * wakes the child, which completes on the worker and wakes the parent. */
static void test_claim_pending_then_woken(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < 2; k++) {
        child_rec rec;
        rec_init(&rec);
        weft_worker_stats st;
        parent s = run_parent(claim_scheds[k], P_WAKE_OWN_CHILD, 1, 0, &rec, &st);
        assert_int_equal(s.polls, 2);
        assert_int_equal(rec.polls, 2);
        assert_int_equal(rec.inline_polls, 1); /* the first poll only */
        assert_int_equal(rec.drops, 1);
        assert_int_equal(st.local_wakes, 2); /* the child by the parent, the parent by the child */
        assert_int_equal(st.polls, 4);
    }
}

/* Aborted while claimable: the claim drops it instead of polling it, exactly
 * as the worker would; the join sees -ECANCELED at once. */
static void test_claim_aborted_child(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < 2; k++) {
        child_rec rec;
        rec_init(&rec);
        weft_worker_stats st;
        weft_runtime *rt = tu_rt_new(claim_scheds[k], 1, NULL);
        parent init;
        memset(&init, 0, sizeof init);
        init.rec = &rec;
        init.mode = P_ABORT_THEN_JOIN;
        init.nchildren = 1;
        init.h[0] = WEFT_JOIN_HANDLE_INIT;
        int polls = -1;
        tu_block_on_ok(rt, &parent_type, &init, &polls);
        weft_runtime_stats(rt, NULL, 0, &st);
        weft_runtime_free(rt);
        assert_int_equal(polls, 1);
        assert_int_equal(rec.polls, 0);
        assert_int_equal(rec.drops, 1);
        assert_int_equal(st.local_wakes, 0);
    }
}

/* The parent drops the handle: nothing claims the child. The worker runs it
 * after the parent finished, or, when block_on returned and the runtime was
 * freed first (seen under clang TSan), shutdown drops it unpolled: either
 * way never inline, never twice, dropped exactly once. */
static void test_dropped_handle_runs_normally(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < 2; k++) {
        child_rec rec;
        rec_init(&rec);
        weft_worker_stats st;
        run_parent(claim_scheds[k], P_DROP, 2, 0, &rec, &st);
        assert_in_range(rec.polls, 0, 2);
        assert_int_equal(rec.inline_polls, 0);
        assert_int_equal(rec.drops, 2);
    }
}

/* Policies without take_back keep the ordinary path: the child is never
 * polled inside the join. */
static void test_no_take_back_policies(void **unused)
{
    (void)unused;
    const char *scheds[] = {"fifo", "global"};
    for (size_t k = 0; k < 2; k++) {
        child_rec rec;
        rec_init(&rec);
        weft_worker_stats st;
        parent s = run_parent(scheds[k], P_JOIN, 1, 0, &rec, &st);
        assert_int_equal(s.polls, 2);
        assert_int_equal(rec.polls, 1);
        assert_int_equal(rec.inline_polls, 0);
        assert_int_equal(st.local_wakes, 1);
    }
}

/* ---- a chain deeper than the nesting bound, and the fork-join stress -------- */

typedef struct chain {
    int depth;
    int phase;
    weft_join_handle h;
    _Atomic int *polls; /* polls[id]: each task's poll count */
    int id;             /* this task's index */
    int fanout_base;    /* tree: the next free id is id * 2 + 1 (binary tree ids) */
    int tree;           /* 1: binary tree of `depth` levels, spawn left, inline right */
    int64_t acc;
    weft_join_handle h2;
} chain;

static const weft_future_type chain_type;

/* polls[id] counts a task's polls, plus DONE once when it returns READY */
#define DONE 1000

/* chain: task d spawns task d-1 and joins it; output = number of tasks below + 1 */
static weft_poll chain_poll(void *p, weft_context *cx, void *out)
{
    chain *c = p;
    atomic_fetch_add_explicit(&c->polls[c->id], 1, memory_order_relaxed);
    if (c->phase == 0) {
        c->phase = 1;
        if (c->depth == 0) {
            atomic_fetch_add_explicit(&c->polls[c->id], DONE, memory_order_relaxed);
            *(int64_t *)out = 1;
            return WEFT_READY;
        }
        chain init = *c;
        init.phase = 0;
        init.h = WEFT_JOIN_HANDLE_INIT;
        init.h2 = WEFT_JOIN_HANDLE_INIT;
        init.acc = 0;
        init.depth = c->depth - 1;
        if (c->tree) {
            init.id = c->id * 2 + 1;
            assert_int_equal(weft_spawn(weft_context_runtime(cx), &chain_type, &init, &c->h), 0);
            init.id = c->id * 2 + 2;
            assert_int_equal(weft_spawn(weft_context_runtime(cx), &chain_type, &init, &c->h2), 0);
        } else {
            init.id = c->id + 1;
            assert_int_equal(weft_spawn(weft_context_runtime(cx), &chain_type, &init, &c->h), 0);
        }
    }
    int rc = 1;
    int64_t v = 0;
    if (c->tree && !weft_join_is_empty(&c->h2)) {
        /* the younger child first (the LIFO slot), then the older (deque bottom) */
        if (weft_join_poll(&c->h2, cx, &v, &rc) == WEFT_PENDING) return WEFT_PENDING;
        assert_int_equal(rc, 0);
        c->acc += v;
    }
    if (weft_join_poll(&c->h, cx, &v, &rc) == WEFT_PENDING) return WEFT_PENDING;
    assert_int_equal(rc, 0);
    atomic_fetch_add_explicit(&c->polls[c->id], DONE, memory_order_relaxed);
    *(int64_t *)out = c->acc + v + 1;
    return WEFT_READY;
}
static void chain_drop(void *p)
{
    chain *c = p;
    weft_join_drop(&c->h);
    weft_join_drop(&c->h2);
}
static const weft_future_type chain_type = {"claim_chain", chain_poll, chain_drop, sizeof(chain), sizeof(int64_t)};

/* 200 nested joins: the bound (48) stops the inline chain and the rest waits
 * the ordinary way; every task still runs to completion with one poll per
 * claimed task and two for a task that had to wait. */
static void test_chain_past_the_bound(void **unused)
{
    (void)unused;
    enum { DEPTH = 200 };
    for (size_t k = 0; k < 2; k++) {
        _Atomic int *polls = calloc(DEPTH + 1, sizeof *polls);
        assert_non_null(polls);
        weft_runtime *rt = tu_rt_new(claim_scheds[k], 1, NULL);
        chain init;
        memset(&init, 0, sizeof init);
        init.depth = DEPTH;
        init.polls = polls;
        init.h = init.h2 = WEFT_JOIN_HANDLE_INIT;
        int64_t n = 0;
        tu_block_on_ok(rt, &chain_type, &init, &n);
        weft_worker_stats st;
        weft_runtime_stats(rt, NULL, 0, &st);
        weft_runtime_free(rt);
        assert_int_equal(n, DEPTH + 1);
        int waited = 0;
        for (int i = 0; i <= DEPTH; i++) {
            int p = atomic_load_explicit(&polls[i], memory_order_relaxed);
            assert_true(p == DONE + 1 || p == DONE + 2);
            waited += p == DONE + 2;
        }
        /* past the bound the whole inline chain above it waits (each task
         * once, woken once by its child); the last chain, shorter than the
         * bound, completes inline */
        assert_true(waited > 0);
        assert_true(waited < DEPTH + 1);
        assert_int_equal(st.local_wakes, waited);
        free(polls);
    }
}

/* Thieves race the owner's claim-back: a binary tree on 2..8 workers; every
 * task completes exactly once, after one poll plus at most one per child it
 * had to wait for (a stolen child, or a claimed child that itself waited),
 * and the count is right. A task run twice (claimed and stolen) would show
 * a second DONE. */
static void test_stress_tree_mt(void **unused)
{
    (void)unused;
    const int levels = TU_SCALE(14, 10);
    const int rounds = TU_SCALE(20, 4);
    const int ntasks = (1 << (levels + 1)) - 1;
    const int workers[] = {2, 4, 8};
    for (size_t k = 0; k < 2; k++) {
        for (size_t wi = 0; wi < 3; wi++) {
            weft_runtime *rt = tu_rt_new(claim_scheds[k], workers[wi], NULL);
            _Atomic int *polls = calloc((size_t)ntasks, sizeof *polls);
            assert_non_null(polls);
            uint64_t stolen = 0;
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < ntasks; i++) atomic_store_explicit(&polls[i], 0, memory_order_relaxed);
                weft_runtime_stats_reset(rt);
                chain init;
                memset(&init, 0, sizeof init);
                init.depth = levels;
                init.tree = 1;
                init.polls = polls;
                init.h = init.h2 = WEFT_JOIN_HANDLE_INIT;
                int64_t n = 0;
                tu_block_on_ok(rt, &chain_type, &init, &n);
                assert_int_equal(n, ntasks);
                weft_worker_stats st;
                weft_runtime_stats(rt, NULL, 0, &st);
                int total = 0;
                for (int i = 0; i < ntasks; i++) {
                    int p = atomic_load_explicit(&polls[i], memory_order_relaxed);
                    if (p / DONE != 1 || p % DONE < 1 || p % DONE > 3)
                        fail_msg("task %d: %d completions, %d polls (%s/%d)", i, p / DONE, p % DONE,
                                 claim_scheds[k], workers[wi]);
                    total += p % DONE;
                }
                /* every poll is counted by the worker that made it */
                assert_int_equal((int)st.polls, total);
                stolen += st.tasks_stolen;
            }
            print_message("claim stress %s/%d: %d rounds of %d tasks, %llu stolen\n", claim_scheds[k],
                          workers[wi], rounds, ntasks, (unsigned long long)stolen);
            free(polls);
            weft_runtime_free(rt);
        }
    }
}

/* ---- deque_pop_if on a bare deque ------------------------------------------------- */

static void test_deque_pop_if(void **unused)
{
    (void)unused;
    deque d;
    assert_int_equal(deque_init(&d, 2), 0);
    int a, b, c;
    assert_false(deque_pop_if(&d, &a)); /* empty */
    assert_false(deque_pop_if(&d, NULL));
    assert_int_equal(deque_push(&d, &a), 0);
    assert_int_equal(deque_push(&d, &b), 0);
    assert_int_equal(deque_push(&d, &c), 0); /* grows */
    assert_false(deque_pop_if(&d, &a));      /* not the bottom */
    assert_false(deque_pop_if(&d, &b));
    assert_true(deque_pop_if(&d, &c));
    assert_false(deque_pop_if(&d, &c)); /* taken once */
    assert_int_equal(deque_len_owner(&d), 2);
    void *s = deque_steal(&d, NULL); /* a thief takes the oldest */
    assert_ptr_equal(s, &a);
    assert_false(deque_pop_if(&d, &a));
    assert_true(deque_pop_if(&d, &b)); /* the last item: through pop's CAS */
    assert_int_equal(deque_len_owner(&d), 0);
    assert_false(deque_pop_if(&d, &b));
    assert_int_equal(deque_push(&d, &a), 0);
    assert_false(deque_pop_if_unshared(&d, &b));
    assert_true(deque_pop_if_unshared(&d, &a));
    assert_false(deque_pop_if_unshared(&d, &a));
    assert_null(deque_pop(&d));
    deque_destroy(&d);
}

/* A thief and the owner race for the last item: exactly one gets it. */
typedef struct race_arg {
    deque *d;
    _Atomic int *go;
    void *got;
} race_arg;
static void *race_thief(void *p)
{
    race_arg *a = p;
    while (!atomic_load_explicit(a->go, memory_order_acquire)) {
    }
    int status;
    do {
        a->got = deque_steal(a->d, &status);
    } while (!a->got && status == DEQUE_ABORT);
    return NULL;
}
static void test_deque_pop_if_races_thief(void **unused)
{
    (void)unused;
    const int rounds = TU_SCALE(20000, 2000);
    int item;
    int owner_wins = 0, thief_wins = 0;
    for (int r = 0; r < rounds; r++) {
        deque d;
        assert_int_equal(deque_init(&d, 2), 0);
        assert_int_equal(deque_push(&d, &item), 0);
        _Atomic int go;
        atomic_init(&go, 0);
        race_arg a = {&d, &go, NULL};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, race_thief, &a), 0);
        atomic_store_explicit(&go, 1, memory_order_release);
        bool mine = deque_pop_if(&d, &item);
        pthread_join(th, NULL);
        if (mine == (a.got != NULL)) fail_msg("round %d: owner %d, thief %p", r, mine, a.got);
        owner_wins += mine;
        thief_wins += a.got != NULL;
        deque_destroy(&d);
    }
    assert_int_equal(owner_wins + thief_wins, rounds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deque_pop_if),
        cmocka_unit_test(test_deque_pop_if_races_thief),
        cmocka_unit_test(test_claim_ready),
        cmocka_unit_test(test_claim_fast_word_and_free),
        cmocka_unit_test(test_claim_waker_kept_outlives_join),
        cmocka_unit_test(test_claim_woken_child_again),
        cmocka_unit_test(test_claim_from_deque_bottom),
        cmocka_unit_test(test_not_claimable_waits),
        cmocka_unit_test(test_claim_pending_then_woken),
        cmocka_unit_test(test_claim_aborted_child),
        cmocka_unit_test(test_dropped_handle_runs_normally),
        cmocka_unit_test(test_no_take_back_policies),
        cmocka_unit_test(test_chain_past_the_bound),
        cmocka_unit_test(test_stress_tree_mt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
