/*
 * workloads/blocking_mix.c - the mixed workload of WORKLOADS.md: short
 * async tasks (a sleep of 1 ms, then done) while spawn_blocking jobs of
 * 10 ms of CPU work each keep the blocking pool busy.
 *
 * What it asks of a runtime: blocking work must not sit on the async
 * workers. The J blocking jobs go to the pool (weft_spawn_blocking), one
 * pool thread each, and busy-spin (wl_spin_ns: CPU work, not a sleep), so
 * the pool threads compete with the workers for the CPUs exactly as
 * CPU-heavy blocking calls do. The root spawns the jobs first, then the S
 * short tasks, each with its spawn time; a short task sleeps 1 ms (from
 * its first poll, as weft_sleep does) and records
 *
 *     latency = completion - (spawn + sleep)
 *
 * i.e. how much later than the ideal it finished: queueing before the
 * first poll, timer lateness, and the wait to be polled again after the
 * timer fired. "Short-task latency must stay near 1 ms" in WORKLOADS.md is
 * this excess staying near 0. Each task writes its own slot of an array
 * (no lock, no shared line per sample); the runner builds the histogram
 * after block_on. The root then awaits every job's join handle, so the
 * iteration includes the jobs: its time is the longer of "all short tasks
 * done" and "all jobs done", and with 64 jobs on 2 cores the jobs dominate
 * (about 0.2-0.3 s measured). wl_spin_ns spins until its wall-clock time
 * has passed, so with more jobs than cores a job does less than 10 ms of
 * CPU work; what stays true is that the pool threads are runnable, and
 * compete with the workers for the CPUs, for 10 ms each.
 *
 * Verified: all S short tasks completed, none finished before spawn +
 * sleep, every job ran exactly once and its join handle returned the job's
 * own argument. Fault injection drops one short task.
 *
 * Join handles are owned by the runner (an array it allocates), not by the
 * root: if block_on fails, the runner waits for the jobs still running
 * (weft_join_wait) before it frees the array the jobs write into.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/clock.h"
#include "weft/sync.h"
#include "weft/time.h"
#include "workloads/wl_internal.h"

#define FAULT() weft_workload_fault_injection()
#define BM_UNSET UINT64_MAX

typedef struct bm_job {
    uint64_t spin_ns;
    uint64_t sink;           /* the spin's result, so it cannot be removed */
    struct bm_run *run;
} bm_job;

typedef struct bm_run {
    wl_latch done;           /* counts the short tasks still to finish; the last sends */
    _Atomic int root_started;
    uint64_t sleep_ns;
    uint64_t *latency;       /* [short], BM_UNSET until written */
    bm_job *jobs;            /* [jobs] */
    weft_join_handle *handles; /* [jobs], owned by the runner */
    long njobs;
    _Atomic long job_runs;
    _Atomic long early;
    _Atomic long sleep_errors;
    _Atomic long spawn_errors;
    long jobs_joined_ok;     /* root only */
    long job_errors;         /* root only */
} bm_run;

static void *bm_job_main(void *arg)
{
    bm_job *j = arg;
    j->sink = wl_spin_ns(j->spin_ns);
    atomic_fetch_add_explicit(&j->run->job_runs, 1, memory_order_relaxed); /* read after the joins */
    return arg;
}

typedef struct bm_short {
    int coro;
    bm_run *run;
    long i;
    uint64_t spawn_ns;
    weft_sleep sleep;
} bm_short;

static weft_poll bm_short_poll(void *p, weft_context *cx, void *out)
{
    bm_short *s = p;
    WEFT_CORO_BEGIN(s);
    weft_sleep_init(&s->sleep, s->run->sleep_ns);
    WEFT_AWAIT(s, weft_sleep_poll(&s->sleep, cx));
    {
        uint64_t now = weft_now_ns(), ideal = s->spawn_ns + s->run->sleep_ns;
        int r = weft_sleep_result(&s->sleep);
        weft_sleep_drop(&s->sleep);
        if (r != 0) atomic_fetch_add_explicit(&s->run->sleep_errors, 1, memory_order_relaxed);
        else if (now < ideal) atomic_fetch_add_explicit(&s->run->early, 1, memory_order_relaxed);
        else s->run->latency[s->i] = now - ideal;
    }
    wl_latch_count_down(&s->run->done, 1);
    WEFT_CORO_END(s);
}
static void bm_short_drop(void *p) { weft_sleep_drop(&((bm_short *)p)->sleep); }
static const weft_future_type bm_short_type = {"blocking_mix.short", bm_short_poll, bm_short_drop,
                                               sizeof(bm_short), 0};

typedef struct bm_root {
    int coro;
    bm_run *run;
    long nshort;
    long j;
    weft_oneshot *rx;
    void *ret;
    int jrc;
    int rc;
} bm_root;

static weft_poll bm_root_poll(void *p, weft_context *cx, void *out)
{
    bm_root *s = p;
    bm_run *run = s->run;
    WEFT_CORO_BEGIN(s);
    /* release: pairs with the runner's acquire after a failed block_on */
    atomic_store_explicit(&run->root_started, 1, memory_order_release);
    for (long j = 0; j < run->njobs; j++)
        if (weft_spawn_blocking(weft_context_runtime(cx), bm_job_main, &run->jobs[j],
                                &run->handles[j]) < 0)
            atomic_fetch_add_explicit(&run->spawn_errors, 1, memory_order_relaxed);
    for (long i = 0; i < s->nshort; i++) {
        if (FAULT() && i == 0) { /* one short task that never runs */
            wl_latch_count_down(&run->done, 1);
            continue;
        }
        bm_short t;
        memset(&t, 0, sizeof t);
        t.run = run;
        t.i = i;
        t.spawn_ns = weft_now_ns();
        if (weft_spawn(weft_context_runtime(cx), &bm_short_type, &t, NULL) < 0) {
            atomic_fetch_add_explicit(&run->spawn_errors, 1, memory_order_relaxed);
            wl_latch_count_down(&run->done, 1);
        }
    }
    {
        uint64_t v;
        WEFT_AWAIT(s, weft_oneshot_recv_poll(s->rx, cx, &v, &s->rc));
        s->rx = NULL;
    }
    for (s->j = 0; s->j < run->njobs; s->j++) {
        if (!run->handles[s->j].task) continue; /* never spawned: counted above */
        WEFT_AWAIT(s, weft_join_poll(&run->handles[s->j], cx, &s->ret, &s->jrc));
        if (s->jrc == 0 && s->ret == &run->jobs[s->j]) run->jobs_joined_ok++;
        else run->job_errors++;
    }
    WEFT_CORO_END(s);
}
static void bm_root_drop(void *p)
{
    bm_root *s = p;
    if (s->rx) weft_oneshot_receiver_drop(s->rx);
    s->rx = NULL;
}
static const weft_future_type bm_root_type = {"blocking_mix.root", bm_root_poll, bm_root_drop,
                                              sizeof(bm_root), 0};

static int run_blocking_mix(weft_runtime *rt, const int64_t *params, const char *variant,
                            weft_wl_result *out)
{
    long nshort = (long)params[0], njobs = (long)params[2];
    bm_run run;
    memset(&run, 0, sizeof run);
    atomic_init(&run.root_started, 0);
    atomic_init(&run.job_runs, 0);
    atomic_init(&run.early, 0);
    atomic_init(&run.sleep_errors, 0);
    atomic_init(&run.spawn_errors, 0);
    run.sleep_ns = (uint64_t)params[1] * WEFT_US;
    run.njobs = njobs;
    run.latency = malloc((size_t)nshort * sizeof *run.latency);
    run.jobs = calloc((size_t)njobs + 1, sizeof *run.jobs);
    run.handles = calloc((size_t)njobs + 1, sizeof *run.handles);
    if (!run.latency || !run.jobs || !run.handles || wl_latch_init(&run.done, nshort) < 0) {
        free(run.latency);
        free(run.jobs);
        free(run.handles);
        return -ENOMEM;
    }
    for (long i = 0; i < nshort; i++) run.latency[i] = BM_UNSET;
    for (long j = 0; j < njobs; j++) {
        run.jobs[j].spin_ns = (uint64_t)params[3] * WEFT_US;
        run.jobs[j].run = &run;
    }

    bm_root root = {0, &run, nshort, 0, run.done.done, NULL, 0, 0};
    uint64_t t0 = clock_now_ns();
    int rc = weft_block_on(rt, &bm_root_type, &root, NULL);
    out->elapsed_ns = clock_now_ns() - t0;
    if (rc < 0) {
        wl_latch_release_sender(&run.done);
        /* acquire: pairs with the root's release store */
        if (!atomic_load_explicit(&run.root_started, memory_order_acquire))
            weft_oneshot_receiver_drop(run.done.done);
    }
    /* jobs the root did not join (block_on failed): wait, they write into run.jobs */
    for (long j = 0; j < njobs; j++)
        if (run.handles[j].task) weft_join_wait(&run.handles[j], NULL);
    free(run.jobs);
    free(run.handles);
    if (rc < 0) {
        free(run.latency);
        return rc;
    }

    hist h;
    if (hist_init(&h, 1, 3600ull * WEFT_SEC, 3) < 0) {
        free(run.latency);
        return -ENOMEM;
    }
    long completed = 0;
    for (long i = 0; i < nshort; i++)
        if (run.latency[i] != BM_UNSET) {
            hist_record(&h, run.latency[i]);
            completed++;
        }
    free(run.latency);
    wl_latency_from_hist(out, &h);
    hist_destroy(&h);
    out->units = (double)nshort;
    wl_check(out, "short_tasks_completed", (double)completed);
    wl_check(out, "blocking_jobs_ran", (double)atomic_load_explicit(&run.job_runs, memory_order_relaxed));
    WL_EXPECT_EQ(out, "spawn errors", atomic_load_explicit(&run.spawn_errors, memory_order_relaxed), 0);
    WL_EXPECT_EQ(out, "sleep errors", atomic_load_explicit(&run.sleep_errors, memory_order_relaxed), 0);
    WL_EXPECT_EQ(out, "short tasks that finished before spawn + sleep",
                 atomic_load_explicit(&run.early, memory_order_relaxed), 0);
    WL_EXPECT_EQ(out, "short tasks completed", completed, nshort);
    WL_EXPECT_EQ(out, "blocking jobs that ran", atomic_load_explicit(&run.job_runs, memory_order_relaxed), njobs);
    WL_EXPECT_EQ(out, "blocking jobs joined with their own result", run.jobs_joined_ok, njobs);
    return 0;
}

const weft_workload wl_blocking_mix = {
    .name = "blocking_mix",
    .description = "S short tasks (sleep 1 ms, done) while J spawn_blocking jobs of 10 ms CPU work "
                   "keep the pool busy; latency = completion - (spawn + sleep), jobs joined",
    .unit_name = "short task",
    .kind = "blocking",
    .nparams = 4,
    .params = {{"short_tasks", "S: short async tasks", {200, 500, 10000}, 1, 10000000},
               {"sleep_us", "each short task's sleep (us)", {1000, 1000, 1000}, 0, 60000000},
               {"blocking_jobs", "J: spawn_blocking jobs", {8, 32, 256}, 0, 100000},
               {"blocking_us", "CPU work per blocking job (us)", {2000, 10000, 10000}, 0, 60000000}},
    .run = run_blocking_mix,
    .iterations = {1, 1, 1},
    .rank_metric = "p99_us",
    .rank_better = "lower",
    .standard_trim = "500 short tasks and 32 blocking jobs, not 1 000 and 64 (full: 10 000 and 256): 0.13 s per iteration, the same mix at half the count",
};
