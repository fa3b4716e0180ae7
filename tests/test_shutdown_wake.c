/*
 * tests/test_shutdown_wake.c - a waker called from a thread outside the
 * runtime races the task's completion and weft_runtime_free.
 *
 * The contract (README, "Wakers"): a waker may be called from any thread at
 * any time before it is dropped, even while (or after) its runtime is freed.
 * Two shapes of the race, each in a tight loop on every scheduler, so that
 * ASan (a read of freed memory) and TSan (a free racing a read) see it:
 *
 *   wake_completes  the outside thread's wake is what lets the task finish:
 *                   it queues the task, the worker runs it to completion,
 *                   block_on returns and the test thread frees the runtime
 *                   at once, while the outside thread may still be inside
 *                   the wake (telling a parked worker about the task).
 *   wake_during_free a task that never completes by itself is woken over and
 *                   over by an outside thread while the runtime is freed
 *                   under it; the thread goes on waking after the free and
 *                   only then drops its waker.
 *
 * Every iteration checks exact outcomes: the task finished with the value the
 * wake made it return, or was cancelled by the shutdown exactly once.
 */
#include "test_util.h"

static const char *const kScheds[] = {"fifo", "global", "ws", "numa"};
#define NSCHED (sizeof kScheds / sizeof kScheds[0])

/* ---- a future that finishes when an outside flag is set ---------------------------- */

typedef struct shared_slot {
    pthread_mutex_t mu;
    weft_waker waker;     /* under mu: the task's latest waker, or none */
    _Atomic int published; /* a waker has been stored at least once */
    _Atomic int go;        /* set by the outside thread before it wakes */
    _Atomic int freed;     /* set by the test thread after weft_runtime_free */
    _Atomic int drops;     /* drop functions run (the cancelled task) */
} shared_slot;

static void slot_init(shared_slot *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
}

static void slot_store(shared_slot *s, weft_context *cx)
{
    pthread_mutex_lock(&s->mu);
    weft_waker_store(&s->waker, weft_context_waker(cx));
    pthread_mutex_unlock(&s->mu);
    atomic_store_explicit(&s->published, 1, memory_order_release);
}

/* Takes the stored waker out of the slot (the caller owns it). */
static weft_waker slot_take(shared_slot *s)
{
    pthread_mutex_lock(&s->mu);
    weft_waker w = s->waker;
    s->waker = (weft_waker){0};
    pthread_mutex_unlock(&s->mu);
    return w;
}

static void slot_destroy(shared_slot *s)
{
    weft_waker w = slot_take(s);
    if (!weft_waker_is_none(&w)) weft_waker_drop(&w);
    pthread_mutex_destroy(&s->mu);
}

typedef struct wait_go_state {
    shared_slot *slot;
} wait_go_state;

static weft_poll wait_go_poll(void *p, weft_context *cx, void *out)
{
    wait_go_state *s = p;
    /* register before reading the flag, so a wake after the read is not lost */
    slot_store(s->slot, cx);
    if (atomic_load_explicit(&s->slot->go, memory_order_acquire)) {
        *(int *)out = 42;
        return WEFT_READY;
    }
    return WEFT_PENDING;
}

static const weft_future_type wait_go_type = {
    .name = "wait_go", .state_size = sizeof(wait_go_state), .output_size = sizeof(int),
    .poll = wait_go_poll};

/* The outside thread of wake_completes: wait for the waker, set go, wake. */
static void *completer_main(void *arg)
{
    shared_slot *s = arg;
    while (!atomic_load_explicit(&s->published, memory_order_acquire)) sched_yield();
    atomic_store_explicit(&s->go, 1, memory_order_release);
    weft_waker w = slot_take(s);
    if (!weft_waker_is_none(&w)) weft_waker_wake(&w); /* consumes the reference */
    return NULL;
}

static void run_wake_completes(const char *sched, int workers, int iterations)
{
    for (int i = 0; i < iterations; i++) {
        weft_runtime *rt = tu_rt_new(sched, workers, NULL);
        shared_slot slot;
        slot_init(&slot);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, completer_main, &slot), 0);
        wait_go_state init = {&slot};
        int out = 0;
        assert_int_equal(weft_block_on(rt, &wait_go_type, &init, &out), 0);
        assert_int_equal(out, 42);
        weft_runtime_free(rt); /* the outside thread may still be inside its wake */
        assert_int_equal(pthread_join(th, NULL), 0);
        slot_destroy(&slot);
    }
}

/* ---- wake_during_free -------------------------------------------------------------- */

typedef struct forever_state {
    shared_slot *slot;
} forever_state;

static weft_poll forever_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    forever_state *s = p;
    slot_store(s->slot, cx);
    return WEFT_PENDING;
}

static void forever_drop(void *p)
{
    forever_state *s = p;
    atomic_fetch_add_explicit(&s->slot->drops, 1, memory_order_relaxed);
}

static const weft_future_type forever_type = {
    .name = "forever", .state_size = sizeof(forever_state), .poll = forever_poll,
    .drop = forever_drop};

/* Root: spawn the forever task, detach it, return once it has published. */
typedef struct spawner_state {
    shared_slot *slot;
    int spawned;
} spawner_state;

static weft_poll spawner_poll(void *p, weft_context *cx, void *out)
{
    spawner_state *s = p;
    if (!s->spawned) {
        forever_state fs = {s->slot};
        weft_join_handle h;
        int rc = weft_spawn(weft_context_runtime(cx), &forever_type, &fs, &h);
        if (rc < 0) {
            *(int *)out = rc;
            return WEFT_READY;
        }
        weft_join_drop(&h);
        s->spawned = 1;
    }
    if (!atomic_load_explicit(&s->slot->published, memory_order_acquire)) {
        weft_waker_wake_by_ref(weft_context_waker(cx)); /* poll again soon */
        return WEFT_PENDING;
    }
    *(int *)out = 0;
    return WEFT_READY;
}

static const weft_future_type spawner_type = {
    .name = "spawner", .state_size = sizeof(spawner_state), .output_size = sizeof(int),
    .poll = spawner_poll};

/* Wakes the forever task as fast as it can until the runtime has been freed,
 * then a few hundred times more (the task is cancelled: each wake must be a
 * harmless no-op), then drops its waker. */
static void *hammer_main(void *arg)
{
    shared_slot *s = arg;
    while (!atomic_load_explicit(&s->published, memory_order_acquire)) sched_yield();
    pthread_mutex_lock(&s->mu);
    weft_waker w = weft_waker_clone(&s->waker);
    pthread_mutex_unlock(&s->mu);
    int after = 0;
    while (after < 300) {
        weft_waker_wake_by_ref(&w);
        if (atomic_load_explicit(&s->freed, memory_order_acquire)) after++;
    }
    weft_waker_drop(&w);
    return NULL;
}

static void run_wake_during_free(const char *sched, int workers, int iterations)
{
    for (int i = 0; i < iterations; i++) {
        weft_runtime *rt = tu_rt_new(sched, workers, NULL);
        shared_slot slot;
        slot_init(&slot);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, hammer_main, &slot), 0);
        spawner_state init = {&slot, 0};
        int out = -1;
        assert_int_equal(weft_block_on(rt, &spawner_type, &init, &out), 0);
        assert_int_equal(out, 0);
        weft_runtime_free(rt); /* cancels the forever task while it is being woken */
        atomic_store_explicit(&slot.freed, 1, memory_order_release);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(atomic_load(&slot.drops), 1);
        slot_destroy(&slot);
    }
}

/* ---- outside threads that come and go ------------------------------------------------
 * Each outside thread that schedules into a runtime gets a record of its own
 * (runtime.c, "the outside bracket's records"), freed by its thread key at
 * exit; weft_runtime_free waits on the records under their list's lock.
 * Short-lived spawner threads exit (freeing their records) while the test
 * thread frees the runtime they spawned into, and a second runtime is made
 * and freed meanwhile, so the list's walk races the threads' exits. Exact
 * counts: every spawn succeeded and every task ran once. */

enum { CG_THREADS = 4, CG_SPAWNS = 64 };
static _Atomic long cg_ran;

static weft_poll cg_poll(void *p, weft_context *cx, void *out)
{
    (void)p;
    (void)cx;
    (void)out;
    atomic_fetch_add_explicit(&cg_ran, 1, memory_order_relaxed);
    return WEFT_READY;
}
WEFT_FUTURE_TYPE(cg_type, cg_poll, NULL, int, 0);

/* The test thread's root: yields until every spawned task ran (fifo runs
 * outside spawns only inside a block_on), or the deadline passes. */
typedef struct cg_wait {
    uint64_t deadline_ms;
} cg_wait;
static weft_poll cg_wait_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    if (atomic_load(&cg_ran) >= CG_THREADS * CG_SPAWNS || tu_now_ms() >= ((cg_wait *)p)->deadline_ms)
        return WEFT_READY;
    weft_waker_wake_by_ref(weft_context_waker(cx));
    return WEFT_PENDING;
}
WEFT_FUTURE_TYPE(cg_wait_type, cg_wait_poll, NULL, cg_wait, 0);

typedef struct cg_arg {
    weft_runtime *rt;
    int errors;
} cg_arg;

static void *cg_spawner(void *p)
{
    cg_arg *a = p;
    for (int i = 0; i < CG_SPAWNS; i++) {
        int dummy = 0;
        if (weft_spawn(a->rt, &cg_type, &dummy, NULL) != 0) a->errors++;
    }
    return NULL; /* its record is freed on the way out */
}

static void run_come_and_go(const char *sched, int workers, int rounds)
{
    for (int r = 0; r < rounds; r++) {
        weft_runtime *rt = tu_rt_new(sched, workers, (const char *)NULL);
        atomic_store(&cg_ran, 0);
        cg_arg args[CG_THREADS];
        pthread_t th[CG_THREADS];
        for (int i = 0; i < CG_THREADS; i++) {
            args[i] = (cg_arg){rt, 0};
            assert_int_equal(pthread_create(&th[i], NULL, cg_spawner, &args[i]), 0);
        }
        cg_wait w = {tu_now_ms() + 20000};
        assert_int_equal(weft_block_on(rt, &cg_wait_type, &w, NULL), 0);
        assert_int_equal(atomic_load(&cg_ran), CG_THREADS * CG_SPAWNS);
        /* at once: the spawners may still be in their last bracket or exiting */
        weft_runtime_free(rt);
        weft_runtime *other = tu_rt_new(sched, workers, (const char *)NULL);
        weft_runtime_free(other); /* walks the records while threads exit */
        for (int i = 0; i < CG_THREADS; i++) {
            assert_int_equal(pthread_join(th[i], NULL), 0);
            assert_int_equal(args[i].errors, 0);
        }
        assert_int_equal(atomic_load(&cg_ran), CG_THREADS * CG_SPAWNS);
    }
}

/* ---- the tests --------------------------------------------------------------------- */

static int workers_of(const char *sched) { return strcmp(sched, "fifo") == 0 ? 1 : 2; }

static void test_wake_completes(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < NSCHED; k++)
        run_wake_completes(kScheds[k], workers_of(kScheds[k]), TU_SCALE(300, 100));
}

static void test_wake_during_free(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < NSCHED; k++)
        run_wake_during_free(kScheds[k], workers_of(kScheds[k]), TU_SCALE(200, 60));
}

static void test_outside_threads_come_and_go(void **unused)
{
    (void)unused;
    for (size_t k = 0; k < NSCHED; k++)
        run_come_and_go(kScheds[k], workers_of(kScheds[k]), TU_SCALE(100, 30));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wake_completes),
        cmocka_unit_test(test_wake_during_free),
        cmocka_unit_test(test_outside_threads_come_and_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
