/*
 * workloads/sched_micro.c - the scheduler micro-workloads of WORKLOADS.md:
 * spawn_many, yield_many, ping_pong, chained_spawn (the shapes of Tokio's
 * benches/rt_multi_threaded.rs, so numbers can sit beside Tokio's),
 * spawn_remote and fanout_skew.
 *
 * Each iteration is timed from outside, around the whole weft_block_on (or,
 * for the outside-spawn workloads, from the first spawn to the last
 * completion), as Tokio's benches time `rt.block_on(...)`. Completion is
 * signalled through a one-shot channel that the root task awaits, so the
 * same code runs on fifo (where the waiting thread is the worker) and on
 * the multi-threaded policies. Every workload counts what actually ran in
 * separate counters from the ones that signal completion, so a lost task is
 * a failed check rather than a hang or a silently short run; fault
 * injection drops one unit of work to prove it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/clock.h"
#include "weft/sync.h"
#include "workloads/wl_internal.h"

#define FAULT() weft_workload_fault_injection()

/* Shared by the tasks of one iteration; lives on the runner's stack, which
 * outlives every access (the last access is the send that ends the run).
 *
 * Each side of `latch.done` is released exactly once. The sender: by the
 * latch (the task that signals), or by the runner when block_on failed
 * before anyone did. The receiver: by the root task from its first poll on
 * (a READY recv, or its drop function when it is cancelled), or by the
 * runner when block_on failed before the root was ever polled
 * (`receiver_taken`): a root that was never spawned, or was cancelled
 * unpolled, has nothing to release. */
typedef struct shared {
    wl_latch latch;
    _Atomic long ran;
    _Atomic long extra;
    _Atomic int receiver_taken;
} shared;

static inline void shared_signal(shared *sh) { wl_latch_signal(&sh->latch); }

/* Decrements `remaining`; the task that takes it to zero signals. */
static inline void shared_count_down(shared *sh, long n) { wl_latch_count_down(&sh->latch, n); }

/* The root's first poll takes the receiver side: it returns sh->latch.done, or
 * NULL when the runner already released it (block_on had failed). */
static weft_oneshot *shared_claim_receiver(shared *sh)
{
    /* pairs with the runner's exchange in shared_release_after_failure */
    return atomic_exchange_explicit(&sh->receiver_taken, 1, memory_order_acq_rel) == 0 ? sh->latch.done
                                                                                         : NULL;
}

/* The runner's cleanup after weft_block_on failed (before spawning the
 * root, or with the root cancelled): release the sides no task took. */
static void shared_release_after_failure(shared *sh)
{
    wl_latch_release_sender(&sh->latch);
    if (atomic_exchange_explicit(&sh->receiver_taken, 1, memory_order_acq_rel) == 0)
        weft_oneshot_receiver_drop(sh->latch.done);
}


/* The root futures' receiver side: `rx` is NULL until the first poll
 * claims it and again once a READY recv released it; the drop function of
 * a cancelled root releases what it still holds. */
static void root_drop_receiver(weft_oneshot **rx)
{
    if (*rx) weft_oneshot_receiver_drop(*rx);
    *rx = NULL;
}

/* A root future that awaits sh->latch.done (created by the runner). */
typedef struct wait_state {
    int coro;
    shared *sh;
    weft_oneshot *rx;
    int rc;
} wait_state;

static weft_poll wait_poll(void *p, weft_context *cx, void *out)
{
    wait_state *s = p;
    WEFT_CORO_BEGIN(s);
    if (!(s->rx = shared_claim_receiver(s->sh))) return WEFT_READY;
    {
        uint64_t v;
        WEFT_AWAIT(s, weft_oneshot_recv_poll(s->rx, cx, &v, &s->rc));
        s->rx = NULL;
    }
    WEFT_CORO_END(s);
}
static void wait_drop(void *p) { root_drop_receiver(&((wait_state *)p)->rx); }
static const weft_future_type wait_type = {"wait_done", wait_poll, wait_drop, sizeof(wait_state), 0};

/* ---- spawn_many ------------------------------------------------------------------ */

typedef struct leaf_state {
    shared *sh;
} leaf_state;

static weft_poll sm_leaf(void *p, weft_context *cx, void *out)
{
    shared *sh = ((leaf_state *)p)->sh;
    atomic_fetch_add_explicit(&sh->ran, 1, memory_order_relaxed);
    shared_count_down(sh, 1);
    return WEFT_READY;
}
static const weft_future_type sm_leaf_type = {"spawn_many.leaf", sm_leaf, NULL, sizeof(leaf_state), 0};

typedef struct sm_root {
    int coro;
    shared *sh;
    weft_oneshot *rx;
    long n;
    int rc;
} sm_root;

static weft_poll sm_root_poll(void *p, weft_context *cx, void *out)
{
    sm_root *s = p;
    WEFT_CORO_BEGIN(s);
    if (!(s->rx = shared_claim_receiver(s->sh))) return WEFT_READY;
    {
        leaf_state ls = {s->sh};
        weft_runtime *rt = weft_context_runtime(cx);
        long n = s->n;
        if (FAULT()) { /* drop one task's work but still complete */
            n--;
            shared_count_down(s->sh, 1);
        }
        for (long i = 0; i < n; i++) {
            int rc = weft_spawn(rt, &sm_leaf_type, &ls, NULL);
            if (rc < 0) {
                atomic_fetch_add_explicit(&s->sh->extra, 1, memory_order_relaxed);
                shared_count_down(s->sh, 1);
            }
        }
    }
    {
        uint64_t v;
        WEFT_AWAIT(s, weft_oneshot_recv_poll(s->rx, cx, &v, &s->rc));
        s->rx = NULL;
    }
    WEFT_CORO_END(s);
}
static void sm_root_drop(void *p) { root_drop_receiver(&((sm_root *)p)->rx); }
static const weft_future_type sm_root_type = {"spawn_many.root", sm_root_poll, sm_root_drop,
                                              sizeof(sm_root), 0};

static int shared_init(shared *sh, long remaining)
{
    atomic_init(&sh->ran, 0);
    atomic_init(&sh->extra, 0);
    atomic_init(&sh->receiver_taken, 0);
    return wl_latch_init(&sh->latch, remaining);
}

static int run_spawn_many(weft_runtime *rt, const int64_t *params, const char *variant,
                          weft_wl_result *out)
{
    long n = (long)params[0];
    shared sh;
    if (shared_init(&sh, n) < 0) return -ENOMEM;
    sm_root root = {0, &sh, NULL, n, 0};
    uint64_t t0 = clock_now_ns();
    int rc = weft_block_on(rt, &sm_root_type, &root, NULL);
    out->elapsed_ns = clock_now_ns() - t0;
    if (rc < 0) {
        shared_release_after_failure(&sh);
        return rc;
    }
    out->units = (double)n;
    wl_check(out, "tasks_ran", (double)atomic_load(&sh.ran));
    WL_EXPECT_EQ(out, "spawn errors", atomic_load(&sh.extra), 0);
    WL_EXPECT_EQ(out, "completion signals", atomic_load(&sh.latch.signals), 1);
    WL_EXPECT_EQ(out, "counter", atomic_load(&sh.latch.remaining), 0);
    WL_EXPECT_EQ(out, "tasks that ran", atomic_load(&sh.ran), n);
    return 0;
}

const weft_workload wl_spawn_many = {
    .name = "spawn_many",
    .description = "from inside a task, spawn N tasks that count down a shared counter; the last signals",
    .unit_name = "task",
    .kind = "spawn",
    .nparams = 1,
    .params = {{"n", "tasks spawned", {1000, 10000, 100000}, 1, 100000000}},
    .run = run_spawn_many,
    .iterations = {20, 30, 5},
    .rank_metric = "ns_per_unit",
    .rank_better = "lower",
    .standard_trim = "",
};

/* ---- yield_many ---------------------------------------------------------------------- */

typedef struct ym_task {
    int coro;
    shared *sh;
    long yields, i;
    weft_yield y;
} ym_task;

static weft_poll ym_poll(void *p, weft_context *cx, void *out)
{
    ym_task *s = p;
    WEFT_CORO_BEGIN(s);
    for (s->i = 0; s->i < s->yields; s->i++) WEFT_YIELD_NOW(s, y, cx);
    /* s->i counts the polls that resumed after a yield; added once per task so
     * the verification costs no shared atomic per yield */
    atomic_fetch_add_explicit(&s->sh->ran, s->i, memory_order_relaxed);
    shared_count_down(s->sh, 1);
    WEFT_CORO_END(s);
}
static const weft_future_type ym_type = {"yield_many.task", ym_poll, NULL, sizeof(ym_task), 0};

static int run_yield_many(weft_runtime *rt, const int64_t *params, const char *variant,
                          weft_wl_result *out)
{
    long tasks = (long)params[0], yields = (long)params[1];
    shared sh;
    if (shared_init(&sh, tasks) < 0) return -ENOMEM;
    ym_task init = {0, &sh, yields, 0, {0}};
    uint64_t t0 = clock_now_ns();
    long spawned = 0;
    for (long i = 0; i < tasks; i++) {
        if (FAULT() && i == 0) { /* one task's yields go missing */
            shared_count_down(&sh, 1);
            continue;
        }
        if (weft_spawn(rt, &ym_type, &init, NULL) == 0) spawned++;
        else shared_count_down(&sh, 1);
    }
    wait_state ws = {0, &sh, NULL, 0};
    int rc = weft_block_on(rt, &wait_type, &ws, NULL);
    out->elapsed_ns = clock_now_ns() - t0;
    if (rc < 0) {
        shared_release_after_failure(&sh);
        return rc;
    }
    out->units = (double)(tasks * yields);
    wl_check(out, "signals", (double)(tasks - atomic_load(&sh.latch.remaining)));
    wl_check(out, "polls_after_yield", (double)atomic_load(&sh.ran));
    WL_EXPECT_EQ(out, "tasks spawned", spawned, tasks);
    WL_EXPECT_EQ(out, "completion signals", atomic_load(&sh.latch.signals), 1);
    WL_EXPECT_EQ(out, "polls after a yield", atomic_load(&sh.ran), tasks * yields);
    return 0;
}

const weft_workload wl_yield_many = {
    .name = "yield_many",
    .description = "from outside the runtime, spawn T tasks that each yield Y times, then signal",
    .unit_name = "yield",
    .kind = "message",
    .nparams = 2,
    .params = {{"tasks", "tasks spawned", {50, 200, 200}, 1, 10000000},
               {"yields", "yields per task", {200, 1000, 1000}, 0, 100000000}},
    .run = run_yield_many,
    .iterations = {5, 4, 4},
    .rank_metric = "ns_per_unit",
    .rank_better = "lower",
    .standard_trim = "",
};

/* ---- ping_pong --------------------------------------------------------------------------- */

typedef struct pong_state {
    int coro;
    weft_oneshot *rx1, *tx2;
    int rc;
} pong_state;

static weft_poll pong_poll(void *p, weft_context *cx, void *out)
{
    pong_state *s = p;
    WEFT_CORO_BEGIN(s);
    {
        uint64_t v;
        WEFT_AWAIT(s, weft_oneshot_recv_poll(s->rx1, cx, &v, &s->rc));
        s->rx1 = NULL;
    }
    if (s->rc == 0) weft_oneshot_send(s->tx2, 2);
    else weft_oneshot_sender_drop(s->tx2);
    s->tx2 = NULL;
    WEFT_CORO_END(s);
}
static void pong_drop(void *p)
{
    pong_state *s = p;
    if (s->rx1) weft_oneshot_receiver_drop(s->rx1);
    if (s->tx2) weft_oneshot_sender_drop(s->tx2);
}
static const weft_future_type pong_type = {"ping_pong.pong", pong_poll, pong_drop, sizeof(pong_state), 0};

typedef struct ping_state {
    int coro;
    shared *sh;
    weft_oneshot *rx2;
    int rc;
    uint64_t v;
} ping_state;

static weft_poll ping_poll(void *p, weft_context *cx, void *out)
{
    ping_state *s = p;
    WEFT_CORO_BEGIN(s);
    {
        weft_oneshot *c1, *c2;
        if (weft_oneshot_new(&c1) < 0) return WEFT_READY;
        if (weft_oneshot_new(&c2) < 0) {
            weft_oneshot_sender_drop(c1);
            weft_oneshot_receiver_drop(c1);
            return WEFT_READY;
        }
        pong_state ps = {0, c1, c2, 0};
        if (weft_spawn(weft_context_runtime(cx), &pong_type, &ps, NULL) < 0) {
            pong_drop(&ps);
            weft_oneshot_receiver_drop(c2);
            weft_oneshot_sender_drop(c1);
            shared_count_down(s->sh, 1);
            return WEFT_READY;
        }
        weft_oneshot_send(c1, 1);
        s->rx2 = c2;
    }
    WEFT_AWAIT(s, weft_oneshot_recv_poll(s->rx2, cx, &s->v, &s->rc));
    s->rx2 = NULL;
    if (s->rc == 0 && s->v == 2) atomic_fetch_add_explicit(&s->sh->ran, 1, memory_order_relaxed);
    shared_count_down(s->sh, 1);
    WEFT_CORO_END(s);
}
static void ping_drop(void *p)
{
    ping_state *s = p;
    if (s->rx2) weft_oneshot_receiver_drop(s->rx2);
}
static const weft_future_type ping_type = {"ping_pong.ping", ping_poll, ping_drop, sizeof(ping_state), 0};

typedef struct pp_root {
    int coro;
    shared *sh;
    weft_oneshot *rx;
    long n;
    int rc;
} pp_root;

static weft_poll pp_root_poll(void *p, weft_context *cx, void *out)
{
    pp_root *s = p;
    WEFT_CORO_BEGIN(s);
    if (!(s->rx = shared_claim_receiver(s->sh))) return WEFT_READY;
    {
        ping_state ps = {0, s->sh, NULL, 0, 0};
        for (long i = 0; i < s->n; i++) {
            if (FAULT() && i == 0) { /* a round trip that never happens */
                shared_count_down(s->sh, 1);
                continue;
            }
            if (weft_spawn(weft_context_runtime(cx), &ping_type, &ps, NULL) < 0)
                shared_count_down(s->sh, 1);
        }
    }
    {
        uint64_t v;
        WEFT_AWAIT(s, weft_oneshot_recv_poll(s->rx, cx, &v, &s->rc));
        s->rx = NULL;
    }
    WEFT_CORO_END(s);
}
static void pp_root_drop(void *p) { root_drop_receiver(&((pp_root *)p)->rx); }
static const weft_future_type pp_root_type = {"ping_pong.root", pp_root_poll, pp_root_drop,
                                              sizeof(pp_root), 0};

static int run_ping_pong(weft_runtime *rt, const int64_t *params, const char *variant,
                         weft_wl_result *out)
{
    long n = (long)params[0];
    shared sh;
    if (shared_init(&sh, n) < 0) return -ENOMEM;
    pp_root root = {0, &sh, NULL, n, 0};
    uint64_t t0 = clock_now_ns();
    int rc = weft_block_on(rt, &pp_root_type, &root, NULL);
    out->elapsed_ns = clock_now_ns() - t0;
    if (rc < 0) {
        shared_release_after_failure(&sh);
        return rc;
    }
    out->units = (double)n;
    wl_check(out, "round_trips", (double)atomic_load(&sh.ran));
    WL_EXPECT_EQ(out, "completion signals", atomic_load(&sh.latch.signals), 1);
    WL_EXPECT_EQ(out, "round trips completed", atomic_load(&sh.ran), n);
    return 0;
}

const weft_workload wl_ping_pong = {
    .name = "ping_pong",
    .description = "P pings, each spawning a pong and exchanging two one-shot messages with it",
    .unit_name = "round trip",
    .kind = "message",
    .nparams = 1,
    .params = {{"pings", "ping tasks", {200, 1000, 10000}, 1, 100000000}},
    .run = run_ping_pong,
    .iterations = {20, 100, 10},
    .rank_metric = "ns_per_unit",
    .rank_better = "lower",
    .standard_trim = "",
};

/* ---- chained_spawn ------------------------------------------------------------------------ */

typedef struct chain_state {
    shared *sh;
    long left;
} chain_state;

static const weft_future_type chain_type;
static weft_poll chain_poll(void *p, weft_context *cx, void *out)
{
    chain_state *s = p;
    atomic_fetch_add_explicit(&s->sh->ran, 1, memory_order_relaxed);
    if (s->left == 0 || (FAULT() && s->left == 1)) {
        shared_signal(s->sh);
        return WEFT_READY;
    }
    chain_state next = {s->sh, s->left - 1};
    if (weft_spawn(weft_context_runtime(cx), &chain_type, &next, NULL) < 0) shared_signal(s->sh);
    return WEFT_READY;
}
static const weft_future_type chain_type = {"chained_spawn.link", chain_poll, NULL, sizeof(chain_state), 0};

typedef struct chain_root {
    int coro;
    shared *sh;
    weft_oneshot *rx;
    long depth;
    int rc;
} chain_root;

static weft_poll chain_root_poll(void *p, weft_context *cx, void *out)
{
    chain_root *s = p;
    WEFT_CORO_BEGIN(s);
    if (!(s->rx = shared_claim_receiver(s->sh))) return WEFT_READY;
    {
        chain_state first = {s->sh, s->depth};
        if (weft_spawn(weft_context_runtime(cx), &chain_type, &first, NULL) < 0) shared_signal(s->sh);
    }
    {
        uint64_t v;
        WEFT_AWAIT(s, weft_oneshot_recv_poll(s->rx, cx, &v, &s->rc));
        s->rx = NULL;
    }
    WEFT_CORO_END(s);
}
static void chain_root_drop(void *p) { root_drop_receiver(&((chain_root *)p)->rx); }
static const weft_future_type chain_root_type = {"chained_spawn.root", chain_root_poll, chain_root_drop,
                                                 sizeof(chain_root), 0};

static int run_chained_spawn(weft_runtime *rt, const int64_t *params, const char *variant,
                             weft_wl_result *out)
{
    long depth = (long)params[0];
    shared sh;
    if (shared_init(&sh, 0) < 0) return -ENOMEM;
    chain_root root = {0, &sh, NULL, depth, 0};
    uint64_t t0 = clock_now_ns();
    int rc = weft_block_on(rt, &chain_root_type, &root, NULL);
    out->elapsed_ns = clock_now_ns() - t0;
    if (rc < 0) {
        shared_release_after_failure(&sh);
        return rc;
    }
    out->units = (double)depth;
    /* depth D: the first link plus D spawned links ran */
    wl_check(out, "depth", (double)(atomic_load(&sh.ran) - 1));
    WL_EXPECT_EQ(out, "completion signals", atomic_load(&sh.latch.signals), 1);
    WL_EXPECT_EQ(out, "depth reached", atomic_load(&sh.ran) - 1, depth);
    return 0;
}

const weft_workload wl_chained_spawn = {
    .name = "chained_spawn",
    .description = "a task spawns a task ... D deep; the last one signals",
    .unit_name = "task",
    .kind = "spawn",
    .nparams = 1,
    .params = {{"depth", "chain length", {200, 1000, 10000}, 0, 100000000}},
    .run = run_chained_spawn,
    .iterations = {50, 300, 40},
    .rank_metric = "ns_per_unit",
    .rank_better = "lower",
    .standard_trim = "",
};

/* ---- spawn_remote ---------------------------------------------------------------------------- */

static weft_poll sr_leaf(void *p, weft_context *cx, void *out)
{
    shared *sh = ((leaf_state *)p)->sh;
    atomic_fetch_add_explicit(&sh->ran, 1, memory_order_relaxed);
    shared_count_down(sh, 1);
    return WEFT_READY;
}
static const weft_future_type sr_leaf_type = {"spawn_remote.leaf", sr_leaf, NULL, sizeof(leaf_state), 0};

typedef struct sr_arg {
    weft_runtime *rt;
    shared *sh;
    long n;
    long errors;
} sr_arg;

static void *sr_spawner(void *p)
{
    sr_arg *a = p;
    leaf_state ls = {a->sh};
    long n = a->n;
    if (FAULT()) {
        n--;
        shared_count_down(a->sh, 1);
    }
    for (long i = 0; i < n; i++)
        if (weft_spawn(a->rt, &sr_leaf_type, &ls, NULL) < 0) {
            a->errors++;
            shared_count_down(a->sh, 1);
        }
    return NULL;
}

static int run_spawn_remote(weft_runtime *rt, const int64_t *params, const char *variant,
                            weft_wl_result *out)
{
    long n = (long)params[0];
    shared sh;
    if (shared_init(&sh, n) < 0) return -ENOMEM;
    sr_arg a = {rt, &sh, n, 0};
    pthread_t th;
    uint64_t t0 = clock_now_ns();
    if (pthread_create(&th, NULL, sr_spawner, &a)) {
        weft_oneshot_sender_drop(sh.latch.done);
        weft_oneshot_receiver_drop(sh.latch.done);
        return -EAGAIN;
    }
    wait_state ws = {0, &sh, NULL, 0};
    int rc = weft_block_on(rt, &wait_type, &ws, NULL);
    out->elapsed_ns = clock_now_ns() - t0;
    pthread_join(th, NULL);
    if (rc < 0) {
        shared_release_after_failure(&sh);
        return rc;
    }
    out->units = (double)n;
    wl_check(out, "tasks_ran", (double)atomic_load(&sh.ran));
    WL_EXPECT_EQ(out, "spawn errors", a.errors, 0);
    WL_EXPECT_EQ(out, "tasks that ran", atomic_load(&sh.ran), n);
    return 0;
}

const weft_workload wl_spawn_remote = {
    .name = "spawn_remote",
    .description = "a thread outside the runtime spawns N empty tasks as fast as it can",
    .unit_name = "task",
    .kind = "spawn",
    .nparams = 1,
    .params = {{"n", "tasks spawned from outside", {10000, 100000, 1000000}, 1, 100000000}},
    .run = run_spawn_remote,
    .iterations = {1, 1, 1},
    .rank_metric = "ns_per_unit",
    .rank_better = "lower",
    .standard_trim = "",
};

/* ---- fanout_skew --------------------------------------------------------------------------------- */

typedef struct fs_leaf {
    shared *sh;
    uint64_t work_ns;
} fs_leaf;

static _Atomic uint64_t fs_sink;

static weft_poll fs_leaf_poll(void *p, weft_context *cx, void *out)
{
    fs_leaf *s = p;
    atomic_fetch_add_explicit(&fs_sink, wl_spin_ns(s->work_ns), memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sh->ran, 1, memory_order_relaxed);
    shared_count_down(s->sh, 1);
    return WEFT_READY;
}
static const weft_future_type fs_leaf_type = {"fanout_skew.leaf", fs_leaf_poll, NULL, sizeof(fs_leaf), 0};

typedef struct fs_root {
    int coro;
    shared *sh;
    weft_oneshot *rx;
    long n;
    uint64_t work_ns;
    int rc;
} fs_root;

static weft_poll fs_root_poll(void *p, weft_context *cx, void *out)
{
    fs_root *s = p;
    WEFT_CORO_BEGIN(s);
    if (!(s->rx = shared_claim_receiver(s->sh))) return WEFT_READY;
    {
        fs_leaf l = {s->sh, s->work_ns};
        long n = s->n;
        if (FAULT()) {
            n--;
            shared_count_down(s->sh, 1);
        }
        for (long i = 0; i < n; i++)
            if (weft_spawn(weft_context_runtime(cx), &fs_leaf_type, &l, NULL) < 0)
                shared_count_down(s->sh, 1);
    }
    {
        uint64_t v;
        WEFT_AWAIT(s, weft_oneshot_recv_poll(s->rx, cx, &v, &s->rc));
        s->rx = NULL;
    }
    WEFT_CORO_END(s);
}
static void fs_root_drop(void *p) { root_drop_receiver(&((fs_root *)p)->rx); }
static const weft_future_type fs_root_type = {"fanout_skew.root", fs_root_poll, fs_root_drop,
                                              sizeof(fs_root), 0};

static int run_fanout_skew(weft_runtime *rt, const int64_t *params, const char *variant,
                           weft_wl_result *out)
{
    long n = (long)params[0];
    uint64_t work_ns = (uint64_t)params[1] * 1000u;
    int nw = weft_runtime_config(rt)->workers;
    weft_worker_stats *before = calloc((size_t)nw, sizeof *before), *after = calloc((size_t)nw, sizeof *after);
    if (!before || !after) {
        free(before);
        free(after);
        return -ENOMEM;
    }
    shared sh;
    if (shared_init(&sh, n) < 0) {
        free(before);
        free(after);
        return -ENOMEM;
    }
    fs_root root = {0, &sh, NULL, n, work_ns, 0};
    weft_runtime_stats(rt, before, nw, NULL);
    uint64_t t0 = clock_now_ns();
    int rc = weft_block_on(rt, &fs_root_type, &root, NULL);
    out->elapsed_ns = clock_now_ns() - t0;
    weft_runtime_stats(rt, after, nw, NULL);
    double total = 0, maxp = 0;
    for (int i = 0; i < nw; i++) {
        double d = (double)(after[i].polls - before[i].polls);
        total += d;
        if (d > maxp) maxp = d;
    }
    free(before);
    free(after);
    if (rc < 0) {
        shared_release_after_failure(&sh);
        return rc;
    }
    out->units = (double)n;
    wl_check(out, "tasks_ran", (double)atomic_load(&sh.ran));
    /* the share of all polls run by the busiest worker: 1.0 = no spreading */
    wl_check(out, "max_worker_share", total > 0 ? maxp / total : 1.0);
    WL_EXPECT_EQ(out, "tasks that ran", atomic_load(&sh.ran), n);
    return 0;
}

const weft_workload wl_fanout_skew = {
    .name = "fanout_skew",
    .description = "one task spawns N tasks of W us busy work, no yields: only stealing spreads it",
    .unit_name = "task",
    .kind = "fork-join",
    .nparams = 2,
    .params = {{"n", "tasks", {1000, 10000, 100000}, 1, 100000000},
               {"work_us", "busy work per task (us)", {5, 5, 5}, 0, 1000000}},
    .run = run_fanout_skew,
    .iterations = {1, 1, 1},
    .rank_metric = "ns_per_unit",
    .rank_better = "lower",
    .standard_trim = "",
};
