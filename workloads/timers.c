/*
 * workloads/timers.c - the timer workloads of WORKLOADS.md: timer_storm,
 * timeout_cancel and interval_jitter.
 *
 * All three measure the runtime's timer driver (timers/timer.c: one wheel
 * behind one lock, driven by the worker that parks in the reactor) as a
 * task sees it, through the public futures of weft/time.h, never the
 * driver's internals. They share the structure of sched_micro.c: the
 * iteration is timed from outside around weft_block_on; a root task spawns
 * the work and awaits a one-shot that the last task to finish sends; every
 * task writes what it observed into its own slot of an array the runner
 * preallocated, so the hot path has no shared lock and no shared cache line
 * per sample (one histogram per task would cost 264 KiB each; one global
 * histogram would need a lock). The runner builds the histogram after
 * block_on returned: the count-down's acq_rel RMW, the one-shot and the
 * join inside block_on order every slot write before that read.
 *
 * timer_storm
 *   The root spawns N tasks. Task i, when it first runs, computes its
 *   deadline as now + d_i, where d_i is splitmix64(seed + i) mod (D + 1),
 *   so the deadlines are the same set on every run and every scheduler, but
 *   the absolute times depend on when each task got to run (as the table
 *   says). It sleeps until the deadline with weft_sleep_until and records
 *   lateness = (clock read after the sleep completed) - deadline. A wake
 *   before the deadline is a failed check, never a negative sample.
 *
 * timeout_cancel
 *   The RPC-timeout pattern: arm a 10 s timeout around a request, the
 *   response wins, the timeout is cancelled. The inner future is modelled
 *   as "pending on the first poll, ready on the second" (a response that
 *   arrives after the request was sent): the first weft_timeout_poll, with
 *   an inner PENDING, arms the timer in the driver (with the task's waker);
 *   the second, with an inner READY, cancels it. An inner future that is
 *   ready on the very first poll would be rejected: weft_timeout_poll then
 *   returns at once without ever touching the driver, so it would measure
 *   nothing. Both polls happen in the same task poll, so the cost per pair
 *   is the arm plus the cancel, with no task switch in between. (Since the
 *   deferred stamp, timers/timer.c, an arm by the task with its own waker
 *   links the entry on the worker's list, to be stamped and put in the
 *   wheel when the task poll returns; a cancel before that unlinks it, so
 *   here the pair reads no clock and never reaches the wheel. The entry
 *   still counts as armed, weft_runtime_timers_armed, and a timeout whose
 *   task poll returns does fire: tests/test_timer_defer.c.) Parameter
 *   polls = 2 measures the pair a real RPC pays, whose response comes in a
 *   later task poll: the task yields between the arm and the cancel, so
 *   the arm is stamped (a clock read) and inserted into the wheel when the
 *   first task poll returns, and the cancel unlinks it from the wheel; the
 *   pair then also costs one yield (yield_many's row). The pairs are
 *   split over T tasks (16 by default) so the multi-threaded schedulers arm
 *   and cancel from every worker at once, contending on the driver's lock
 *   as a server's request handlers would; every task yields every 1024
 *   pairs so the tasks interleave on a single worker too. Verified: every
 *   first poll left the timer armed (PENDING), every second poll reported
 *   "inner won" (result 0, never -ETIMEDOUT), the driver held an armed
 *   entry right after each task's first arm (weft_runtime_timers_armed), and it
 *   holds as many armed entries after the iteration as before it (nothing
 *   leaked, nothing fired).
 *
 * interval_jitter
 *   K tasks each run a weft_interval of period P until their own start +
 *   L. Tick 0 is due at the first poll ("start"); tick k is scheduled at
 *   start + k P. The missed-tick policy is BURST: it is the one that keeps
 *   the k P schedule - a late tick does not move later ticks (DELAY would
 *   shift the whole schedule by the lateness) and no tick is dropped (SKIP
 *   would drop ticks and hide the lateness as a lower count). With BURST a
 *   runtime that falls behind shows it twice: as jitter (the caught-up
 *   ticks are late) and, if it is still behind at the end, as a short
 *   count. A task counts the ticks delivered before start + L; on time that
 *   is ceil(L / P), and the check allows 1 % (at least one tick) for the
 *   tick that straddles the end. Every tick's scheduled time must equal
 *   start + k P exactly and no tick may be delivered before it.
 *
 * Fault injection (weft_workload_fault_injection) drops one unit of work:
 * one timer task, one arm+cancel pair, one interval task, so the count
 * checks fail with "expected N, got N - 1".
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/clock.h"
#include "schedulers/runtime_internal.h" /* weft_runtime_timers{,_armed} */
#include "timers/timer.h"
#include "weft/sync.h"
#include "weft/time.h"
#include "workloads/wl_internal.h"

#define FAULT() weft_workload_fault_injection()

/* Slots not written by any task. */
#define TM_UNSET UINT64_MAX

/* Builds a latency histogram (ns) from the written slots of samples[0..n);
 * returns how many slots were written, or -ENOMEM. */
static long tm_hist_from(hist *h, const uint64_t *samples, size_t n)
{
    if (hist_init(h, 1, 3600ull * WEFT_SEC, 3) < 0) return -ENOMEM;
    long written = 0;
    for (size_t i = 0; i < n; i++)
        if (samples[i] != TM_UNSET) {
            hist_record(h, samples[i]);
            written++;
        }
    return written;
}

/* Every timer workload's root: claim the receiver (or, if the runner
 * already released it after a failed weft_block_on, start nothing), spawn
 * n children (child i's initial state
 * made by init(state, run, i) in a zeroed buffer), then await the one-shot
 * that the last child's count-down sends. With fault injection and
 * skip_first set, child 0 is never spawned (its unit of work goes missing)
 * and is counted down at once, so the run completes and the check fails.
 * Not handled: a root cancelled after it spawned children (a runtime fault,
 * or weft_runtime_free from another thread during the block_on) leaves
 * those children pointing into the runner's frame. */
typedef struct tm_root {
    int coro;
    wl_latch *done;
    _Atomic long *spawn_errors;
    const weft_future_type *child;
    void (*init)(void *state, void *run, long i);
    void *run;
    long n;
    bool skip_first;
    weft_oneshot *rx; /* claimed on the first poll (wl_latch_claim_receiver); NULL once received */
    int rc;
} tm_root;

static weft_poll tm_root_poll(void *p, weft_context *cx, void *out)
{
    tm_root *s = p;
    WEFT_CORO_BEGIN(s);
    /* the runner released it: block_on failed before this root ran */
    if (!(s->rx = wl_latch_claim_receiver(s->done))) return WEFT_READY;
    for (long i = 0; i < s->n; i++) {
        if (s->skip_first && FAULT() && i == 0) {
            wl_latch_count_down(s->done, 1);
            continue;
        }
        _Alignas(16) unsigned char state[256];
        if (s->child->state_size > sizeof state) abort(); /* a child state outgrew the buffer */
        memset(state, 0, s->child->state_size);
        s->init(state, s->run, i);
        if (weft_spawn(weft_context_runtime(cx), s->child, state, NULL) < 0) {
            atomic_fetch_add_explicit(s->spawn_errors, 1, memory_order_relaxed);
            wl_latch_count_down(s->done, 1);
        }
    }
    {
        uint64_t v;
        WEFT_AWAIT(s, weft_oneshot_recv_poll(s->rx, cx, &v, &s->rc));
        s->rx = NULL;
    }
    WEFT_CORO_END(s);
}
static void tm_root_drop(void *p)
{
    tm_root *s = p;
    if (s->rx) weft_oneshot_receiver_drop(s->rx);
    s->rx = NULL;
}
static const weft_future_type tm_root_type = {"timers.root", tm_root_poll, tm_root_drop,
                                              sizeof(tm_root), 0};

/* ---- timer_storm ---------------------------------------------------------------------- */

#define TS_SEED 0x7157u /* fixed: the same d_i on every run */

typedef struct ts_run {
    wl_latch done;
    uint64_t max_delay_ns;
    uint64_t *lateness; /* [n], TM_UNSET until task i wrote it */
    _Atomic long early; /* woke before the deadline */
    _Atomic long errors; /* sleep completed with an error */
    _Atomic long spawn_errors;
} ts_run;

typedef struct ts_task {
    int coro;
    ts_run *run;
    long i;
    uint64_t deadline;
    weft_sleep sleep;
} ts_task;

static weft_poll ts_task_poll(void *p, weft_context *cx, void *out)
{
    ts_task *s = p;
    ts_run *run = s->run;
    WEFT_CORO_BEGIN(s);
    {
        uint64_t d = wl_splitmix64(TS_SEED + (uint64_t)s->i) % (run->max_delay_ns + 1);
        s->deadline = weft_now_ns() + d;
        weft_sleep_until_init(&s->sleep, s->deadline);
    }
    WEFT_AWAIT(s, weft_sleep_poll(&s->sleep, cx));
    {
        uint64_t now = weft_now_ns();
        int r = weft_sleep_result(&s->sleep);
        weft_sleep_drop(&s->sleep);
        if (r != 0) atomic_fetch_add_explicit(&run->errors, 1, memory_order_relaxed);
        else if (now < s->deadline) atomic_fetch_add_explicit(&run->early, 1, memory_order_relaxed);
        else run->lateness[s->i] = now - s->deadline;
    }
    wl_latch_count_down(&run->done, 1);
    WEFT_CORO_END(s);
}
static void ts_task_drop(void *p) { weft_sleep_drop(&((ts_task *)p)->sleep); }
static const weft_future_type ts_task_type = {"timer_storm.timer", ts_task_poll, ts_task_drop,
                                              sizeof(ts_task), 0};

static void ts_init(void *state, void *run, long i)
{
    ts_task *t = state;
    t->run = run;
    t->i = i;
}

static int run_timer_storm(weft_runtime *rt, const int64_t *params, const char *variant,
                           weft_wl_result *out)
{
    long n = (long)params[0];
    ts_run run;
    run.max_delay_ns = (uint64_t)params[1] * WEFT_US;
    atomic_init(&run.early, 0);
    atomic_init(&run.errors, 0);
    atomic_init(&run.spawn_errors, 0);
    run.lateness = malloc((size_t)n * sizeof *run.lateness);
    if (!run.lateness) return -ENOMEM;
    for (long i = 0; i < n; i++) run.lateness[i] = TM_UNSET;
    if (wl_latch_init(&run.done, n) < 0) {
        free(run.lateness);
        return -ENOMEM;
    }
    tm_root root = {0, &run.done, &run.spawn_errors, &ts_task_type, ts_init, &run, n, true,
                    NULL, 0};
    uint64_t t0 = clock_now_ns();
    int rc = weft_block_on(rt, &tm_root_type, &root, NULL);
    out->elapsed_ns = clock_now_ns() - t0;
    if (rc < 0) {
        wl_latch_release_after_failure(&run.done);
        free(run.lateness);
        return rc;
    }
    hist h;
    long completed = tm_hist_from(&h, run.lateness, (size_t)n);
    free(run.lateness);
    if (completed < 0) return -ENOMEM;
    out->units = (double)n;
    wl_latency_from_hist(out, &h);
    hist_destroy(&h);
    wl_check(out, "timers_completed", (double)completed);
    wl_check(out, "woke_early", (double)atomic_load_explicit(&run.early, memory_order_relaxed));
    WL_EXPECT_EQ(out, "spawn errors", atomic_load_explicit(&run.spawn_errors, memory_order_relaxed), 0);
    WL_EXPECT_EQ(out, "sleep errors", atomic_load_explicit(&run.errors, memory_order_relaxed), 0);
    WL_EXPECT_EQ(out, "timers that woke before their deadline",
                 atomic_load_explicit(&run.early, memory_order_relaxed), 0);
    WL_EXPECT_EQ(out, "completion signals", atomic_load_explicit(&run.done.signals, memory_order_relaxed), 1);
    WL_EXPECT_EQ(out, "timers completed", completed, n);
    return 0;
}

const weft_workload wl_timer_storm = {
    .name = "timer_storm",
    .description = "from inside a task, spawn N tasks; each sleeps until now + d_i (d_i pseudo-random "
                   "in [0, D], fixed seed) and records lateness = wake - deadline",
    .unit_name = "timer",
    .kind = "timer",
    .nparams = 2,
    .params = {{"n", "timer tasks", {5000, 100000, 1000000}, 1, 100000000},
               {"max_delay_us", "D: deadlines are drawn from [0, D] (us)", {20000, 50000, 100000},
                0, 3600000000}},
    .run = run_timer_storm,
    .iterations = {1, 1, 1},
    .rank_metric = "p99_us",
    .rank_better = "lower",
    .standard_trim = "",
};

/* ---- timeout_cancel ------------------------------------------------------------------ */

#define TC_TIMEOUT_NS (10 * WEFT_SEC)
/* Pairs between yields: enough that the yield costs < 1 % of the pairs,
 * few enough that T tasks interleave on one worker. */
#define TC_YIELD_EVERY 1024

typedef struct tc_run {
    wl_latch done;
    weft_runtime *rt;
    _Atomic long pairs;       /* arm+cancel pairs completed */
    _Atomic long not_armed;   /* first poll did not leave the timer pending */
    _Atomic long fired;       /* second poll did not report "inner won" */
    _Atomic long seen_armed;  /* tasks that saw their entry in the driver */
    _Atomic long spawn_errors;
    long n, tasks;            /* pairs, and the tasks that share them */
    long polls;               /* task polls per pair: 1 or 2 (param polls) */
} tc_run;

typedef struct tc_task {
    int coro;
    tc_run *run;
    long n, i;
    long pairs, not_armed, fired;
    weft_timeout to;
    weft_yield y;
} tc_task;

static weft_poll tc_task_poll(void *p, weft_context *cx, void *out)
{
    tc_task *s = p;
    WEFT_CORO_BEGIN(s);
    for (s->i = 0; s->i < s->n; s->i++) {
        if (s->i > 0 && s->i % TC_YIELD_EVERY == 0) WEFT_YIELD_NOW(s, y, cx);
        weft_timeout_init(&s->to, TC_TIMEOUT_NS);
        /* the request is in flight: arms the 10 s timer */
        if (weft_timeout_poll(&s->to, cx, WEFT_PENDING) != WEFT_PENDING) {
            s->not_armed++;
        } else {
            if (s->i == 0 && weft_runtime_timers_armed(s->run->rt) > 0)
                atomic_fetch_add_explicit(&s->run->seen_armed, 1, memory_order_relaxed);
            /* polls = 2: the response comes in a later task poll, so the
             * arm is stamped into the wheel when this poll returns and the
             * cancel takes it out of the wheel */
            if (s->run->polls == 2) WEFT_YIELD_NOW(s, y, cx);
            /* the response arrived: the inner wins, the timer is cancelled */
            if (weft_timeout_poll(&s->to, cx, WEFT_READY) != WEFT_READY ||
                weft_timeout_result(&s->to) != 0)
                s->fired++;
        }
        weft_timeout_drop(&s->to);
        s->pairs++;
    }
    atomic_fetch_add_explicit(&s->run->pairs, s->pairs, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->run->not_armed, s->not_armed, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->run->fired, s->fired, memory_order_relaxed);
    wl_latch_count_down(&s->run->done, 1);
    WEFT_CORO_END(s);
}
static void tc_task_drop(void *p) { weft_timeout_drop(&((tc_task *)p)->to); }
static const weft_future_type tc_task_type = {"timeout_cancel.task", tc_task_poll, tc_task_drop,
                                              sizeof(tc_task), 0};

/* Task t arms and cancels its share of the n pairs; with fault injection
 * task 0 does one pair fewer. */
static void tc_init(void *state, void *run, long t)
{
    tc_task *init = state;
    tc_run *r = run;
    init->run = r;
    init->n = r->n / r->tasks + (t < r->n % r->tasks ? 1 : 0);
    if (FAULT() && t == 0) init->n--; /* one pair that never happens */
}

static int run_timeout_cancel(weft_runtime *rt, const int64_t *params, const char *variant,
                              weft_wl_result *out)
{
    long n = (long)params[0], tasks = (long)params[1];
    if (tasks > n) tasks = n;
    tc_run run;
    run.rt = rt;
    run.polls = (long)params[2];
    atomic_init(&run.pairs, 0);
    atomic_init(&run.not_armed, 0);
    atomic_init(&run.fired, 0);
    atomic_init(&run.seen_armed, 0);
    atomic_init(&run.spawn_errors, 0);
    if (!weft_runtime_timers(rt)) return wl_fail(out, "the runtime has no timer driver");
    if (wl_latch_init(&run.done, tasks) < 0) return -ENOMEM;
    size_t armed_before = weft_runtime_timers_armed(rt);
    run.n = n;
    run.tasks = tasks;
    tm_root root = {0, &run.done, &run.spawn_errors, &tc_task_type, tc_init, &run, tasks, false,
                    NULL, 0};
    uint64_t t0 = clock_now_ns();
    int rc = weft_block_on(rt, &tm_root_type, &root, NULL);
    out->elapsed_ns = clock_now_ns() - t0;
    if (rc < 0) {
        wl_latch_release_after_failure(&run.done);
        return rc;
    }
    size_t armed_after = weft_runtime_timers_armed(rt);
    long pairs = atomic_load_explicit(&run.pairs, memory_order_relaxed);
    out->units = (double)n;
    wl_check(out, "pairs", (double)pairs);
    wl_check(out, "timers_fired", (double)atomic_load_explicit(&run.fired, memory_order_relaxed));
    wl_check(out, "armed_left", (double)armed_after - (double)armed_before);
    WL_EXPECT_EQ(out, "spawn errors", atomic_load_explicit(&run.spawn_errors, memory_order_relaxed), 0);
    WL_EXPECT_EQ(out, "arms that did not leave the timer pending",
                 atomic_load_explicit(&run.not_armed, memory_order_relaxed), 0);
    WL_EXPECT_EQ(out, "timeouts that fired instead of being cancelled",
                 atomic_load_explicit(&run.fired, memory_order_relaxed), 0);
    WL_EXPECT_EQ(out, "tasks that saw their armed timer in the driver",
                 atomic_load_explicit(&run.seen_armed, memory_order_relaxed), tasks);
    WL_EXPECT_EQ(out, "armed timers in the driver after the run", armed_after, armed_before);
    WL_EXPECT_EQ(out, "arm+cancel pairs", pairs, n);
    return 0;
}

const weft_workload wl_timeout_cancel = {
    .name = "timeout_cancel",
    .description = "N times: arm a 10 s weft_timeout around a request that is pending, then "
                   "complete it so the timeout is cancelled (split over T tasks)",
    .unit_name = "arm+cancel",
    .kind = "timer",
    .nparams = 3,
    .params = {{"n", "arm+cancel pairs", {20000, 250000, 10000000}, 1, 1000000000},
               {"tasks", "tasks sharing the pairs", {16, 16, 16}, 1, 100000},
               {"polls", "task polls per pair: 1 = arm and cancel in one task poll, 2 = the task "
                         "yields between them (the arm reaches the wheel, the cancel takes it out)",
                {1, 1, 1}, 1, 2}},
    .run = run_timeout_cancel,
    .iterations = {1, 1, 1},
    .rank_metric = "ns_per_unit",
    .rank_better = "lower",
    .standard_trim = "n = 250 000 pairs, not 1 000 000 (full: 10 M): a peer at ~500 ns per pair would take 0.5 s per iteration",
};

/* ---- interval_jitter ---------------------------------------------------------------- */

typedef struct ij_run {
    wl_latch done;
    uint64_t period_ns, duration_ns;
    long cap;              /* sample slots per task: ceil(L / P) */
    uint64_t *jitter;      /* [tasks][cap], TM_UNSET when not delivered */
    long *ticks;           /* [tasks]: ticks delivered before start + L, -1 if never ran */
    _Atomic long off_schedule; /* scheduled time != start + k P */
    _Atomic long early;    /* delivered before the scheduled time */
    _Atomic long errors;   /* the interval reported an error */
    _Atomic long overflow; /* more ticks than slots */
    _Atomic long spawn_errors;
} ij_run;

typedef struct ij_task {
    int coro;
    ij_run *run;
    long idx;
    long k;
    uint64_t start, sched;
    weft_interval iv;
} ij_task;

static weft_poll ij_task_poll(void *p, weft_context *cx, void *out)
{
    ij_task *s = p;
    ij_run *run = s->run;
    WEFT_CORO_BEGIN(s);
    weft_interval_init(&s->iv, run->period_ns, WEFT_MISSED_BURST);
    for (;;) {
        WEFT_AWAIT(s, weft_interval_poll(&s->iv, cx, &s->sched));
        uint64_t now = weft_now_ns();
        if (weft_interval_result(&s->iv) != 0) {
            atomic_fetch_add_explicit(&run->errors, 1, memory_order_relaxed);
            break;
        }
        if (s->k == 0) s->start = s->sched;
        if (s->sched != s->start + (uint64_t)s->k * run->period_ns)
            atomic_fetch_add_explicit(&run->off_schedule, 1, memory_order_relaxed);
        if (now < s->sched) atomic_fetch_add_explicit(&run->early, 1, memory_order_relaxed);
        /* the ticks scheduled within L count, however late they run: a late
         * tick is jitter, not a missing tick (burst keeps tick k at start + k*P) */
        if (s->sched >= s->start + run->duration_ns) break;
        if (s->k < run->cap) run->jitter[s->idx * run->cap + s->k] = now - s->sched;
        else atomic_fetch_add_explicit(&run->overflow, 1, memory_order_relaxed);
        s->k++;
    }
    weft_interval_drop(&s->iv);
    run->ticks[s->idx] = s->k;
    wl_latch_count_down(&run->done, 1);
    WEFT_CORO_END(s);
}
static void ij_task_drop(void *p) { weft_interval_drop(&((ij_task *)p)->iv); }
static const weft_future_type ij_task_type = {"interval_jitter.task", ij_task_poll, ij_task_drop,
                                              sizeof(ij_task), 0};

static void ij_init(void *state, void *run, long t)
{
    ij_task *init = state;
    init->run = run;
    init->idx = t;
}

static int run_interval_jitter(weft_runtime *rt, const int64_t *params, const char *variant,
                               weft_wl_result *out)
{
    long tasks = (long)params[0];
    ij_run run;
    run.period_ns = (uint64_t)params[1] * WEFT_US;
    run.duration_ns = (uint64_t)params[2] * WEFT_MS;
    long expected = (long)((run.duration_ns + run.period_ns - 1) / run.period_ns);
    run.cap = expected;
    atomic_init(&run.off_schedule, 0);
    atomic_init(&run.early, 0);
    atomic_init(&run.errors, 0);
    atomic_init(&run.overflow, 0);
    atomic_init(&run.spawn_errors, 0);
    size_t nslots = (size_t)tasks * (size_t)run.cap;
    run.jitter = malloc(nslots * sizeof *run.jitter);
    run.ticks = malloc((size_t)tasks * sizeof *run.ticks);
    if (!run.jitter || !run.ticks || wl_latch_init(&run.done, tasks) < 0) {
        free(run.jitter);
        free(run.ticks);
        return -ENOMEM;
    }
    for (size_t i = 0; i < nslots; i++) run.jitter[i] = TM_UNSET;
    for (long t = 0; t < tasks; t++) run.ticks[t] = -1;

    tm_root root = {0, &run.done, &run.spawn_errors, &ij_task_type, ij_init, &run, tasks, true,
                    NULL, 0};
    uint64_t t0 = clock_now_ns();
    int rc = weft_block_on(rt, &tm_root_type, &root, NULL);
    out->elapsed_ns = clock_now_ns() - t0;
    if (rc < 0) {
        wl_latch_release_after_failure(&run.done);
        free(run.jitter);
        free(run.ticks);
        return rc;
    }
    hist h;
    long samples = tm_hist_from(&h, run.jitter, nslots);
    free(run.jitter);
    if (samples < 0) {
        free(run.ticks);
        return -ENOMEM;
    }
    wl_latency_from_hist(out, &h);
    hist_destroy(&h);

    /* per task: ran, and delivered within 1 % (at least 1 tick) of ceil(L / P) */
    long tol = expected / 100 > 1 ? expected / 100 : 1;
    long finished = 0, total = 0, worst = -1, worst_ticks = 0;
    for (long t = 0; t < tasks; t++) {
        long c = run.ticks[t];
        if (c < 0) continue;
        finished++;
        total += c;
        long dev = c > expected ? c - expected : expected - c;
        if (dev > tol && worst < 0) {
            worst = t;
            worst_ticks = c;
        }
    }
    free(run.ticks);
    out->units = (double)total;
    wl_check(out, "ticks", (double)total);
    wl_check(out, "ticks_per_task_expected", (double)expected);
    wl_check(out, "early_ticks", (double)atomic_load_explicit(&run.early, memory_order_relaxed));
    WL_EXPECT_EQ(out, "spawn errors", atomic_load_explicit(&run.spawn_errors, memory_order_relaxed), 0);
    WL_EXPECT_EQ(out, "interval errors", atomic_load_explicit(&run.errors, memory_order_relaxed), 0);
    WL_EXPECT_EQ(out, "interval tasks that finished", finished, tasks);
    WL_EXPECT_EQ(out, "ticks delivered before their scheduled time",
                 atomic_load_explicit(&run.early, memory_order_relaxed), 0);
    WL_EXPECT_EQ(out, "ticks not at start + k * period",
                 atomic_load_explicit(&run.off_schedule, memory_order_relaxed), 0);
    WL_EXPECT_EQ(out, "jitter samples", samples, total);
    if (worst >= 0)
        return wl_fail(out, "ticks of task %ld: expected %ld (+-%ld), got %ld", worst, expected, tol,
                       worst_ticks);
    return 0;
}

const weft_workload wl_interval_jitter = {
    .name = "interval_jitter",
    .description = "K tasks each tick an interval of period P for L (burst policy: tick k at "
                   "start + k P); jitter = delivery - scheduled time",
    .unit_name = "tick",
    .kind = "timer",
    .nparams = 3,
    .params = {{"tasks", "K: interval tasks", {16, 16, 16}, 1, 100000},
               {"period_us", "P: interval period (us)", {1000, 1000, 1000}, 1, 60000000},
               {"duration_ms", "L: how long each task ticks (ms)", {100, 200, 10000}, 1, 3600000}},
    .run = run_interval_jitter,
    .iterations = {1, 1, 1},
    .rank_metric = "p99_us",
    .rank_better = "lower",
    .standard_trim = "L = 200 ms, not 1 s (full: 10 s): one iteration lasts L by design, and at 1 s its rows alone (weft and peers, 12 iterations each) took over 2.5 minutes",
};
