/*
 * tests/test_blocking.c - the spawn_blocking pool (schedulers/blocking.c).
 *
 * Results through weft_join_wait and through a task's join (which must wake
 * the parked fifo worker from a pool thread); the thread cap (64 jobs of
 * 10 ms on 4 threads: a high-water counter of concurrently running jobs
 * must read exactly 4, and the run must take at least 16 rounds); idle
 * threads retiring after the keep-alive (the process's thread count from
 * /proc/self/task drops back); a burst submitted while one thread idles
 * still gets one thread per job up to the cap; abort of a queued job; and
 * shutdown, which waits for running jobs and cancels queued ones (their
 * joiners, including one blocked in another thread, see -ECANCELED).
 */
#include <dirent.h>
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

#include "test_util.h"
#include "weft/runtime.h"

static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* ---- results ---------------------------------------------------------------------- */

static void *add_one(void *arg) { return (void *)((uintptr_t)arg + 1); }

static _Atomic int g_detached_ran;
static void *detached_job(void *arg)
{
    (void)arg;
    atomic_fetch_add_explicit(&g_detached_ran, 1, memory_order_release); /* pairs with the test's acquire */
    return NULL;
}

static void test_result_via_join_wait(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    enum { N = 16 };
    weft_join_handle h[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(weft_spawn_blocking(rt, add_one, (void *)(uintptr_t)(i * 10), &h[i]), 0);
    for (int i = 0; i < N; i++) {
        void *out = NULL;
        assert_int_equal(weft_join_wait(&h[i], &out), 0);
        assert_int_equal((uintptr_t)out, (uintptr_t)(i * 10 + 1));
        assert_null(h[i].task);
        assert_int_equal(weft_join_wait(&h[i], &out), -EINVAL);
    }
    atomic_store_explicit(&g_detached_ran, 0, memory_order_relaxed);
    for (int i = 0; i < 8; i++) assert_int_equal(weft_spawn_blocking(rt, detached_job, NULL, NULL), 0);
    uint64_t end = tu_now_ms() + 10000;
    while (atomic_load_explicit(&g_detached_ran, memory_order_acquire) < 8 && tu_now_ms() < end) tu_sleep_ms(1);
    assert_int_equal(atomic_load_explicit(&g_detached_ran, memory_order_acquire), 8);
    weft_runtime_free(rt);
}

/* A task spawns a job and awaits it; the fifo worker parks meanwhile and the
 * completion, on a pool thread, must wake it. */
static void *slow_seven(void *arg)
{
    (void)arg;
    tu_sleep_ms(50);
    return (void *)(uintptr_t)7;
}

typedef struct awaiter {
    int coro;
    weft_join_handle h;
    void *out;
    int res;
    int polls;
} awaiter;
static weft_poll awaiter_poll(void *p, weft_context *cx, void *out)
{
    awaiter *st = p;
    st->polls++;
    WEFT_CORO_BEGIN(st);
    st->res = weft_spawn_blocking(weft_context_runtime(cx), slow_seven, NULL, &st->h);
    if (st->res) WEFT_CORO_RETURN(st, out, intptr_t, st->res);
    WEFT_AWAIT(st, weft_join_poll(&st->h, cx, &st->out, &st->res));
    WEFT_CORO_RETURN(st, out, intptr_t, st->res == 0 ? (intptr_t)st->out : st->res);
    WEFT_CORO_END(st);
}
static const weft_future_type awaiter_type = {"awaiter", awaiter_poll, NULL, sizeof(awaiter), sizeof(intptr_t)};

static void test_join_from_task_wakes_worker(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    awaiter a;
    memset(&a, 0, sizeof a);
    intptr_t out = 0;
    uint64_t t0 = weft_now_ns();
    tu_block_on_ok(rt, &awaiter_type, &a, &out);
    uint64_t took = weft_now_ns() - t0;
    assert_int_equal(out, 7);
    assert_true(took >= 50 * WEFT_MS);
    weft_worker_stats s;
    weft_runtime_stats(rt, NULL, 0, &s);
    assert_int_equal(s.polls, 2);        /* pending, then woken once by the job's completion */
    assert_int_equal(s.remote_wakes, 1); /* the wake came from a pool thread */
    assert_true(s.parks >= 1);           /* the worker slept while the job ran */
    assert_true(s.unparks >= 1);
    weft_runtime_free(rt);
}

/* ---- the thread cap ------------------------------------------------------------------- */

static _Atomic int g_running, g_hwm;
static _Atomic int g_ran[64];

static void *capped_job(void *arg)
{
    int now = atomic_fetch_add_explicit(&g_running, 1, memory_order_acq_rel) + 1;
    int hwm = atomic_load_explicit(&g_hwm, memory_order_relaxed);
    while (now > hwm && !atomic_compare_exchange_weak_explicit(&g_hwm, &hwm, now, memory_order_relaxed,
                                                               memory_order_relaxed)) {
    }
    atomic_fetch_add_explicit(&g_ran[(uintptr_t)arg], 1, memory_order_relaxed);
    tu_sleep_ms(10);
    atomic_fetch_sub_explicit(&g_running, 1, memory_order_acq_rel);
    return arg;
}

static void test_max_threads(void **unused)
{
    (void)unused;
    enum { N = 64, CAP = 4 };
    weft_runtime *rt = tu_rt_new("fifo", 1, "blocking_max_threads=4", NULL);
    atomic_store_explicit(&g_running, 0, memory_order_relaxed);
    atomic_store_explicit(&g_hwm, 0, memory_order_relaxed);
    for (int i = 0; i < N; i++) atomic_store_explicit(&g_ran[i], 0, memory_order_relaxed);
    int before = thread_count();
    weft_join_handle h[N];
    uint64_t t0 = weft_now_ns();
    for (int i = 0; i < N; i++) assert_int_equal(weft_spawn_blocking(rt, capped_job, (void *)(uintptr_t)i, &h[i]), 0);
    int during = thread_count();
    for (int i = 0; i < N; i++) {
        void *out = NULL;
        assert_int_equal(weft_join_wait(&h[i], &out), 0);
        assert_int_equal((uintptr_t)out, (uintptr_t)i);
    }
    uint64_t took = weft_now_ns() - t0;
    for (int i = 0; i < N; i++) assert_int_equal(atomic_load_explicit(&g_ran[i], memory_order_relaxed), 1);
    int hwm = atomic_load_explicit(&g_hwm, memory_order_relaxed);
    if (hwm != CAP) print_error("high-water mark of running jobs %d (cap %d)\n", hwm, CAP);
    assert_true(hwm <= CAP);
    assert_int_equal(hwm, CAP);
    assert_true(took >= (N / CAP) * 10 * WEFT_MS); /* at least 16 rounds of 10 ms */
    assert_true(during - before <= CAP);
    weft_runtime_free(rt);
}

/* ---- keep-alive ------------------------------------------------------------------------- */

static _Atomic int g_gate, g_started;
static void *gated_job(void *arg)
{
    atomic_fetch_add_explicit(&g_started, 1, memory_order_release);
    while (!atomic_load_explicit(&g_gate, memory_order_acquire)) tu_sleep_ms(1);
    return arg;
}

static void test_keepalive_retires_threads(void **unused)
{
    (void)unused;
    enum { N = 6 };
    weft_runtime *rt = tu_rt_new("fifo", 1, "blocking_keepalive_ms=50", NULL);
    atomic_store_explicit(&g_gate, 0, memory_order_relaxed);
    atomic_store_explicit(&g_started, 0, memory_order_relaxed);
    int base = thread_count();
    assert_true(base >= 1);
    weft_join_handle h[N];
    for (int i = 0; i < N; i++) assert_int_equal(weft_spawn_blocking(rt, gated_job, (void *)(uintptr_t)i, &h[i]), 0);
    uint64_t end = tu_now_ms() + 10000;
    while (atomic_load_explicit(&g_started, memory_order_acquire) < N && tu_now_ms() < end) tu_sleep_ms(1);
    assert_int_equal(atomic_load_explicit(&g_started, memory_order_acquire), N); /* one thread each */
    int busy = thread_count();
    assert_int_equal(busy, base + N);
    atomic_store_explicit(&g_gate, 1, memory_order_release);
    for (int i = 0; i < N; i++) {
        void *out = NULL;
        assert_int_equal(weft_join_wait(&h[i], &out), 0);
        assert_int_equal((uintptr_t)out, (uintptr_t)i);
    }
    /* idle past 50 ms: every pool thread exits (generous: up to 5 s) */
    end = tu_now_ms() + 5000;
    int now = thread_count();
    while (now > base && tu_now_ms() < end) {
        tu_sleep_ms(10);
        now = thread_count();
    }
    if (now != base) print_error("threads: %d before, %d busy, %d after the keep-alive\n", base, busy, now);
    assert_int_equal(now, base);
    /* the pool still works (and joins the retired threads) */
    weft_join_handle h2;
    assert_int_equal(weft_spawn_blocking(rt, add_one, (void *)(uintptr_t)41, &h2), 0);
    void *out = NULL;
    assert_int_equal(weft_join_wait(&h2, &out), 0);
    assert_int_equal((uintptr_t)out, 42);
    weft_runtime_free(rt);
    assert_int_equal(thread_count(), base);
}

/* ---- a burst while one thread idles: one thread per job, up to the cap ---------------------- */

static _Atomic int g_arrived;
static void *barrier_job(void *arg)
{
    int need = (int)(uintptr_t)arg;
    atomic_fetch_add_explicit(&g_arrived, 1, memory_order_acq_rel);
    uint64_t end = tu_now_ms() + 1000;
    while (atomic_load_explicit(&g_arrived, memory_order_acquire) < need) {
        if (tu_now_ms() > end) return (void *)0; /* the others never ran beside us */
        tu_sleep_ms(1);
    }
    return (void *)1;
}

/*
 * Four jobs that can only finish together (each waits for all four to have
 * started). The pool allows 8 threads and has one idle thread from a
 * previous job. Every job must get a thread of its own: a job queued
 * behind a blocking job while the pool is below its cap may wait forever
 * (Tokio counts a notified idle thread as taken, so the next submit spawns).
 */
static void test_burst_with_idle_thread(void **unused)
{
    (void)unused;
    enum { N = 4 };
    weft_runtime *rt = tu_rt_new("fifo", 1, "blocking_max_threads=8", NULL);
    weft_join_handle h0;
    assert_int_equal(weft_spawn_blocking(rt, add_one, NULL, &h0), 0);
    assert_int_equal(weft_join_wait(&h0, NULL), 0);
    tu_sleep_ms(20); /* the first thread is idle now */
    atomic_store_explicit(&g_arrived, 0, memory_order_relaxed);
    weft_join_handle h[N];
    for (int i = 0; i < N; i++) assert_int_equal(weft_spawn_blocking(rt, barrier_job, (void *)(uintptr_t)N, &h[i]), 0);
    int met = 0;
    for (int i = 0; i < N; i++) {
        void *out = NULL;
        assert_int_equal(weft_join_wait(&h[i], &out), 0);
        met += (int)(uintptr_t)out;
    }
    weft_runtime_free(rt);
    if (met != N) print_error("only %d of %d jobs ran beside the others: jobs waited in the queue "
                              "behind blocked jobs while the pool was below its thread cap\n", met, N);
    assert_int_equal(met, N);
}

/* ---- abort and shutdown --------------------------------------------------------------------- */

static _Atomic int g_queued_ran;
static void *queued_job(void *arg)
{
    atomic_fetch_add_explicit(&g_queued_ran, 1, memory_order_relaxed);
    return arg;
}

static void test_abort_queued_job(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, "blocking_max_threads=1", NULL);
    atomic_store_explicit(&g_gate, 0, memory_order_relaxed);
    atomic_store_explicit(&g_started, 0, memory_order_relaxed);
    atomic_store_explicit(&g_queued_ran, 0, memory_order_relaxed);
    weft_join_handle running, queued;
    assert_int_equal(weft_spawn_blocking(rt, gated_job, (void *)(uintptr_t)5, &running), 0);
    assert_true(tu_wait_flag(&g_started, 10000));
    assert_int_equal(weft_spawn_blocking(rt, queued_job, (void *)(uintptr_t)6, &queued), 0);
    assert_int_equal(weft_join_abort(&queued), 0);
    assert_int_equal(weft_join_abort(&running), -EBUSY); /* running: it cannot be interrupted */
    atomic_store_explicit(&g_gate, 1, memory_order_release);
    void *out = NULL;
    assert_int_equal(weft_join_wait(&queued, &out), -ECANCELED);
    assert_int_equal(atomic_load_explicit(&g_queued_ran, memory_order_relaxed), 0);
    assert_int_equal(weft_join_wait(&running, &out), 0); /* it ran to the end: its output stands */
    assert_int_equal((uintptr_t)out, 5);
    weft_runtime_free(rt);
}

typedef struct waiter_arg {
    weft_join_handle *h;
    int rc;
    _Atomic int waiting;
} waiter_arg;
static void *join_in_thread(void *p)
{
    waiter_arg *a = p;
    atomic_store_explicit(&a->waiting, 1, memory_order_release);
    a->rc = weft_join_wait(a->h, NULL);
    return NULL;
}

static void *slow_first(void *arg)
{
    atomic_fetch_add_explicit(&g_started, 1, memory_order_release);
    tu_sleep_ms(100);
    return arg;
}

static void test_shutdown_cancels_queued(void **unused)
{
    (void)unused;
    enum { N = 6 };
    weft_runtime *rt = tu_rt_new("fifo", 1, "blocking_max_threads=1", NULL);
    atomic_store_explicit(&g_started, 0, memory_order_relaxed);
    atomic_store_explicit(&g_queued_ran, 0, memory_order_relaxed);
    weft_join_handle h[N];
    assert_int_equal(weft_spawn_blocking(rt, slow_first, (void *)(uintptr_t)1, &h[0]), 0);
    assert_true(tu_wait_flag(&g_started, 10000)); /* the one thread is inside job 0 */
    for (int i = 1; i < N; i++) assert_int_equal(weft_spawn_blocking(rt, queued_job, (void *)(uintptr_t)i, &h[i]), 0);
    assert_int_equal(weft_spawn_blocking(rt, queued_job, NULL, NULL), 0); /* detached, queued */
    waiter_arg wa = {&h[3], 1, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, join_in_thread, &wa), 0);
    assert_true(tu_wait_flag(&wa.waiting, 10000));
    tu_sleep_ms(5);
    uint64_t t0 = weft_now_ns();
    weft_runtime_free(rt); /* waits for job 0, cancels the rest */
    uint64_t took = weft_now_ns() - t0;
    pthread_join(th, NULL);
    assert_int_equal(wa.rc, -ECANCELED);
    void *out = NULL;
    assert_int_equal(weft_join_wait(&h[0], &out), 0);
    assert_int_equal((uintptr_t)out, 1);
    for (int i = 1; i < N; i++) {
        if (i == 3) {
            assert_null(h[3].task); /* joined by the thread */
            continue;
        }
        assert_true(weft_join_is_finished(&h[i]));
        assert_int_equal(weft_join_wait(&h[i], &out), -ECANCELED);
    }
    assert_int_equal(atomic_load_explicit(&g_queued_ran, memory_order_relaxed), 0);
    assert_true(took < 10 * WEFT_SEC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_via_join_wait),
        cmocka_unit_test(test_join_from_task_wakes_worker),
        cmocka_unit_test(test_max_threads),
        cmocka_unit_test(test_keepalive_retires_threads),
        cmocka_unit_test(test_burst_with_idle_thread),
        cmocka_unit_test(test_abort_queued_job),
        cmocka_unit_test(test_shutdown_cancels_queued),
    };
    return cmocka_run_group_tests_name("blocking", tests, NULL, NULL);
}
