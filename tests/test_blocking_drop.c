/*
 * tests/test_blocking_drop.c - weft_spawn_blocking_ex's argument drop
 * function and the -EBUSY abort of a running job (issue 14, item 4).
 *
 * Every argument is a malloc'd counter cell, so a drop that does not run is
 * an LSan leak and one that runs twice is an ASan double free; the counts
 * are exact besides:
 *   ran_then_dropped  64 jobs run: 64 runs, 64 drops, each after its run
 *   abort_queued      a queued job aborted while the only pool thread is
 *                     busy: it never runs, its drop runs once, joiner
 *                     -ECANCELED; aborting the running one is -EBUSY with a
 *                     message and its output stands
 *   shutdown_queued   32 jobs queued behind a blocked one when the runtime
 *                     is freed: 1 run, 33 drops, 0 leaks
 *   bad_input         NULL function: -EINVAL, message, the drop ran once;
 *                     the old weft_spawn_blocking still works (no drop)
 */
#include "test_util.h"

static _Atomic int g_runs, g_drops, g_order_bad, g_gate, g_started;

typedef struct job_arg {
    int id;
    _Atomic int ran;
} job_arg;

static job_arg *arg_new(int id)
{
    job_arg *a = malloc(sizeof *a);
    a->id = id;
    atomic_init(&a->ran, 0);
    return a;
}

static void arg_drop(void *p)
{
    job_arg *a = p;
    atomic_fetch_add_explicit(&g_drops, 1, memory_order_relaxed);
    (void)a;
    free(p);
}

/* A drop that checks its job ran first (the ran_then_dropped case). */
static void arg_drop_after_run(void *p)
{
    job_arg *a = p;
    if (!atomic_load_explicit(&a->ran, memory_order_relaxed))
        atomic_fetch_add_explicit(&g_order_bad, 1, memory_order_relaxed);
    arg_drop(p);
}

static void *job(void *p)
{
    job_arg *a = p;
    atomic_store_explicit(&a->ran, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_runs, 1, memory_order_relaxed);
    return (void *)(uintptr_t)(a->id + 1000);
}

static void *gated(void *p)
{
    atomic_store_explicit(&g_started, 1, memory_order_release); /* pairs with tu_wait_flag */
    while (!atomic_load_explicit(&g_gate, memory_order_acquire)) tu_sleep_ms(1);
    return job(p);
}

static void reset(void)
{
    atomic_store(&g_runs, 0);
    atomic_store(&g_drops, 0);
    atomic_store(&g_order_bad, 0);
    atomic_store(&g_gate, 0);
    atomic_store(&g_started, 0);
}

static void test_ran_then_dropped(void **unused)
{
    (void)unused;
    reset();
    weft_runtime *rt = tu_rt_new("ws", 2, "blocking_max_threads=4", NULL);
    enum { N = 64 };
    weft_join_handle h[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(weft_spawn_blocking_ex(rt, job, arg_new(i), arg_drop_after_run, &h[i]), 0);
    for (int i = 0; i < N; i++) {
        void *out = NULL;
        assert_int_equal(weft_join_wait(&h[i], &out), 0);
        assert_int_equal((uintptr_t)out, (uintptr_t)(i + 1000));
    }
    weft_runtime_free(rt); /* joins the pool threads: their drops are done */
    assert_int_equal(atomic_load(&g_runs), N);
    assert_int_equal(atomic_load(&g_drops), N);
    assert_int_equal(atomic_load(&g_order_bad), 0);
}

static void test_abort_queued(void **unused)
{
    (void)unused;
    reset();
    weft_runtime *rt = tu_rt_new("fifo", 1, "blocking_max_threads=1", NULL);
    weft_join_handle running, queued;
    assert_int_equal(weft_spawn_blocking_ex(rt, gated, arg_new(5), arg_drop, &running), 0);
    assert_true(tu_wait_flag(&g_started, 10000));
    assert_int_equal(weft_spawn_blocking_ex(rt, job, arg_new(6), arg_drop, &queued), 0);
    assert_int_equal(weft_join_abort(&queued), 0);
    assert_int_equal(weft_join_abort(&queued), 0); /* idempotent */
    assert_int_equal(weft_join_abort(&running), -EBUSY);
    assert_non_null(strstr(weft_last_error(), "running"));
    atomic_store_explicit(&g_gate, 1, memory_order_release);
    void *out = NULL;
    assert_int_equal(weft_join_wait(&queued, &out), -ECANCELED);
    assert_int_equal(weft_join_wait(&running, &out), 0);
    assert_int_equal((uintptr_t)out, 1005); /* it ran to the end: its output stands */
    assert_int_equal(weft_join_abort(&running), -EINVAL); /* joined: empty handle */
    weft_runtime_free(rt);
    assert_int_equal(atomic_load(&g_runs), 1);
    assert_int_equal(atomic_load(&g_drops), 2);
}

static void *release_gate_later(void *p)
{
    (void)p;
    tu_sleep_ms(50);
    atomic_store_explicit(&g_gate, 1, memory_order_release);
    return NULL;
}

static void test_shutdown_queued(void **unused)
{
    (void)unused;
    reset();
    weft_runtime *rt = tu_rt_new("global", 2, "blocking_max_threads=1", NULL);
    enum { N = 32 };
    weft_join_handle first;
    assert_int_equal(weft_spawn_blocking_ex(rt, gated, arg_new(0), arg_drop, &first), 0);
    assert_true(tu_wait_flag(&g_started, 10000));
    for (int i = 1; i <= N; i++) /* detached, queued behind the gated job */
        assert_int_equal(weft_spawn_blocking_ex(rt, job, arg_new(i), arg_drop, NULL), 0);
    weft_join_drop(&first);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, release_gate_later, NULL), 0);
    weft_runtime_free(rt); /* waits for the running job, cancels the queued ones */
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&g_runs), 1);
    assert_int_equal(atomic_load(&g_drops), N + 1);
}

static void test_bad_input(void **unused)
{
    (void)unused;
    reset();
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    weft_join_handle h = {(void *)1};
    assert_int_equal(weft_spawn_blocking_ex(rt, NULL, arg_new(1), arg_drop, &h), -EINVAL);
    assert_null(h.task);
    assert_non_null(strstr(weft_last_error(), "function"));
    assert_int_equal(weft_spawn_blocking_ex(NULL, job, arg_new(2), arg_drop, NULL), -EINVAL);
    assert_int_equal(atomic_load(&g_drops), 2);
    /* a NULL drop function is the old behaviour */
    job_arg a = {7, 0};
    assert_int_equal(weft_spawn_blocking_ex(rt, job, &a, NULL, &h), 0);
    void *out = NULL;
    assert_int_equal(weft_join_wait(&h, &out), 0);
    assert_int_equal((uintptr_t)out, 1007);
    assert_int_equal(weft_spawn_blocking(rt, job, &a, &h), 0);
    assert_int_equal(weft_join_wait(&h, &out), 0);
    weft_runtime_free(rt);
    assert_int_equal(atomic_load(&g_runs), 2);
    assert_int_equal(atomic_load(&g_drops), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ran_then_dropped),
        cmocka_unit_test(test_abort_queued),
        cmocka_unit_test(test_shutdown_queued),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
