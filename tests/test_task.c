/*
 * tests/test_task.c - the task model: the state word, wakers, join handles,
 * abort, outputs, drop functions and the cooperative budget.
 *
 * Two levels. The first drives the state-word transitions of
 * schedulers/task.h directly on tasks this file allocates the way
 * runtime.c's task_new does, on a fifo runtime that never runs (so a wake
 * that queues the task lands in the policy's injection queue, where
 * ops->drain finds it: "queued exactly once" is observable), and checks the
 * exact word after every transition, legal and illegal (an illegal one must
 * abort the process: checked in a forked child). The second goes through
 * the public API on a fifo runtime, where everything runs on the thread
 * inside weft_block_on and the order is deterministic: poll counts, wakes
 * from another thread during a poll, abort in every phase, join twice,
 * detach, outputs of several sizes, drop functions, budget exhaustion.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "schedulers/runtime_internal.h"
#include "schedulers/task.h"
#include "test_util.h"
#include "weft/runtime.h"
#include "weft/sync.h"

/* task.c's owned-list insert (no header declares it; runtime.c declares it too). */
void owned_insert(weft_runtime *rt, task *t, uint32_t shard);

/* ==== level 1: the state word, driven by hand ==================================== */

static weft_poll never_polled(void *st, weft_context *cx, void *out)
{
    (void)st;
    (void)cx;
    (void)out;
    return WEFT_PENDING;
}
static const weft_future_type manual_type = {"manual", never_polled, NULL, 8, 24};

/* A task as task_new makes it: NOTIFIED (the caller holds the queue
 * reference), on the owned list, JOIN_INTEREST and a handle reference. */
static task *manual_task(weft_runtime *rt, weft_join_handle *h)
{
    size_t state = (manual_type.state_size + TASK_ALIGN - 1) & ~(size_t)(TASK_ALIGN - 1);
    size_t size = TASK_HEADER_SIZE + state + manual_type.output_size;
    task *t = rt_task_alloc(rt, size);
    assert_non_null(t);
    memset(t, 0, size);
    atomic_init(&t->state, TASK_NOTIFIED | TASK_JOIN_INTEREST | 3 * TASK_REF_ONE);
    t->type = &manual_type;
    t->rt = rt;
    t->join_waker = WEFT_WAKER_NONE;
    t->output_off = TASK_HEADER_SIZE + state;
    owned_insert(rt, t, (uint32_t)rt->nworkers);
    h->task = t;
    return t;
}

static uint64_t st_word(task *t) { return atomic_load_explicit(&t->state, memory_order_acquire); }
#define REFS(n) ((uint64_t)(n) * TASK_REF_ONE)

static task *drain_one(weft_runtime *rt) { return rt->ops->drain(rt->policy); }

static void test_state_wake_transitions(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    weft_join_handle h;
    task *t = manual_task(rt, &h);
    const uint64_t JI = TASK_JOIN_INTEREST;

    assert_int_equal(st_word(t), TASK_NOTIFIED | JI | REFS(3));
    assert_null(drain_one(rt)); /* we hold its queue reference; no queue does */

    /* NOTIFIED -> RUNNING clears NOTIFIED in the same step */
    assert_true(task_transition_to_running(t));
    assert_int_equal(st_word(t), TASK_RUNNING | JI | REFS(3));

    /* a wake while RUNNING only sets NOTIFIED: no reference, nothing queued */
    task_wake_by_ref(t);
    assert_int_equal(st_word(t), TASK_RUNNING | TASK_NOTIFIED | JI | REFS(3));
    task_wake_by_ref(t);
    assert_int_equal(st_word(t), TASK_RUNNING | TASK_NOTIFIED | JI | REFS(3));
    assert_null(drain_one(rt));

    /* the poller sees NOTIFIED and keeps the queue reference to re-queue */
    assert_int_equal(task_transition_to_idle(t, false), TASK_AFTER_REQUEUE);
    assert_int_equal(st_word(t), TASK_NOTIFIED | JI | REFS(3));

    /* a poll with no wake goes idle and releases the queue reference */
    assert_true(task_transition_to_running(t));
    assert_int_equal(task_transition_to_idle(t, false), TASK_AFTER_IDLE);
    assert_int_equal(st_word(t), JI | REFS(2));
    assert_null(drain_one(rt));

    /* wake while idle: NOTIFIED + a queue reference, queued exactly once */
    task_wake_by_ref(t);
    assert_int_equal(st_word(t), TASK_NOTIFIED | JI | REFS(3));
    task_wake_by_ref(t); /* second wake before the poll: no change */
    assert_int_equal(st_word(t), TASK_NOTIFIED | JI | REFS(3));
    assert_ptr_equal(drain_one(rt), t);
    assert_null(drain_one(rt));

    /* a yielded poll re-queues without a wake */
    assert_true(task_transition_to_running(t));
    assert_int_equal(task_transition_to_idle(t, true), TASK_AFTER_REQUEUE);
    assert_int_equal(st_word(t), TASK_NOTIFIED | JI | REFS(3));
    assert_true(task_transition_to_running(t));
    assert_int_equal(task_transition_to_idle(t, false), TASK_AFTER_IDLE);
    assert_int_equal(st_word(t), JI | REFS(2));

    /* the waker vtable: clone +1, consuming wake on idle transfers the reference */
    weft_waker borrowed = task_waker_borrowed(t);
    weft_waker w1 = weft_waker_clone(&borrowed);
    assert_int_equal(st_word(t), JI | REFS(3));
    weft_waker_wake(&w1);
    assert_true(weft_waker_is_none(&w1));
    assert_int_equal(st_word(t), TASK_NOTIFIED | JI | REFS(3));
    assert_ptr_equal(drain_one(rt), t);
    assert_null(drain_one(rt));
    /* consuming wake on a queued task just drops the reference */
    weft_waker w2 = weft_waker_clone(&borrowed);
    assert_int_equal(st_word(t), TASK_NOTIFIED | JI | REFS(4));
    weft_waker_wake(&w2);
    assert_int_equal(st_word(t), TASK_NOTIFIED | JI | REFS(3));
    assert_null(drain_one(rt));
    /* consuming wake on a running task: NOTIFIED, reference dropped */
    assert_true(task_transition_to_running(t));
    weft_waker w3 = weft_waker_clone(&borrowed);
    weft_waker_wake(&w3);
    assert_int_equal(st_word(t), TASK_RUNNING | TASK_NOTIFIED | JI | REFS(3));
    assert_int_equal(task_transition_to_idle(t, false), TASK_AFTER_REQUEUE);
    assert_true(task_transition_to_running(t));
    assert_int_equal(task_transition_to_idle(t, false), TASK_AFTER_IDLE);
    /* drop of a clone */
    weft_waker w4 = weft_waker_clone(&borrowed);
    assert_int_equal(st_word(t), JI | REFS(3));
    weft_waker_drop(&w4);
    assert_int_equal(st_word(t), JI | REFS(2));

    /* complete (READY): COMPLETE, owned + queue references released */
    task_wake_by_ref(t);
    assert_ptr_equal(drain_one(rt), t);
    assert_true(task_transition_to_running(t));
    memset(task_output_ptr(t), 0x5a, 24);
    task_complete(t, false);
    assert_int_equal(st_word(t), TASK_COMPLETE | JI | REFS(1));
    assert_null(rt->owned[rt->nworkers].head); /* off the owned list */

    /* wakes after completion are harmless */
    task_wake_by_ref(t);
    assert_int_equal(st_word(t), TASK_COMPLETE | JI | REFS(1));
    weft_waker w5 = weft_waker_clone(&borrowed);
    weft_waker_wake(&w5);
    assert_int_equal(st_word(t), TASK_COMPLETE | JI | REFS(1));
    assert_null(drain_one(rt));

    /* abort after completion: -EALREADY and a message */
    assert_int_equal(weft_join_abort(&h), -EALREADY);
    assert_non_null(strstr(weft_last_error(), "already completed"));
    assert_true(weft_join_is_finished(&h));

    unsigned char out[32];
    memset(out, 0xee, sizeof out);
    int result = 1;
    weft_context cx = {WEFT_WAKER_NONE, NULL, NULL, -1, 0, NULL};
    assert_int_equal(weft_join_poll(&h, &cx, out, &result), WEFT_READY);
    assert_int_equal(result, 0);
    for (int i = 0; i < 24; i++) assert_int_equal(out[i], 0x5a);
    for (int i = 24; i < 32; i++) assert_int_equal(out[i], 0xee);
    assert_null(h.task); /* the last reference went with the join: freed (ASan checks) */

    /* the handle is empty now */
    assert_int_equal(weft_join_poll(&h, &cx, out, &result), WEFT_READY);
    assert_int_equal(result, -EINVAL);
    assert_int_equal(weft_join_abort(&h), -EINVAL);
    assert_int_equal(weft_join_wait(&h, NULL), -EINVAL);
    assert_false(weft_join_is_finished(&h));
    weft_join_drop(&h); /* no-op */
    weft_runtime_free(rt);
}

static void test_state_join_waker_and_abort(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    const uint64_t JI = TASK_JOIN_INTEREST, JW = TASK_JOIN_WAKER;
    tu_cwaker c1, c2;
    tu_cw_init(&c1);
    tu_cw_init(&c2);
    weft_context cx1 = tu_cw_context(&c1), cx2 = tu_cw_context(&c2);
    int result = 1;

    /* ---- abort while idle, with a join waker registered ---- */
    weft_join_handle h;
    task *t = manual_task(rt, &h);
    assert_true(task_transition_to_running(t));
    assert_int_equal(task_transition_to_idle(t, false), TASK_AFTER_IDLE);
    assert_int_equal(weft_join_poll(&h, &cx1, NULL, &result), WEFT_PENDING);
    assert_int_equal(st_word(t), JI | JW | REFS(2));
    assert_int_equal(tu_cw_refs(&c1), 1);
    /* same waker again: not replaced */
    assert_int_equal(weft_join_poll(&h, &cx1, NULL, &result), WEFT_PENDING);
    assert_int_equal(tu_cw_refs(&c1), 1);
    /* another waker replaces it; the old one is released */
    assert_int_equal(weft_join_poll(&h, &cx2, NULL, &result), WEFT_PENDING);
    assert_int_equal(tu_cw_refs(&c1), 0);
    assert_int_equal(tu_cw_refs(&c2), 1);
    assert_int_equal(st_word(t), JI | JW | REFS(2));

    assert_int_equal(weft_join_abort(&h), 0);
    assert_int_equal(st_word(t), TASK_CANCELLED | TASK_NOTIFIED | JI | JW | REFS(3));
    assert_int_equal(weft_join_abort(&h), 0); /* twice: still 0, nothing changes */
    assert_int_equal(st_word(t), TASK_CANCELLED | TASK_NOTIFIED | JI | JW | REFS(3));
    assert_ptr_equal(drain_one(rt), t); /* queued exactly once */
    assert_null(drain_one(rt));
    /* its next scheduling point drops it */
    assert_false(task_transition_to_running(t));
    assert_int_equal(st_word(t), TASK_RUNNING | TASK_CANCELLED | JI | JW | REFS(3));
    task_complete(t, true);
    assert_int_equal(st_word(t), TASK_COMPLETE | TASK_CANCELLED | JI | REFS(1));
    assert_int_equal(tu_cw_wakes(&c2), 1); /* the joiner was woken once */
    assert_int_equal(tu_cw_refs(&c2), 0);
    assert_int_equal(tu_cw_wakes(&c1), 0);
    assert_int_equal(weft_join_abort(&h), 0); /* cancelled completion: abort reports success */
    assert_int_equal(weft_join_poll(&h, &cx2, NULL, &result), WEFT_READY);
    assert_int_equal(result, -ECANCELED);
    assert_null(h.task);

    /* ---- abort while queued: CANCELLED only, not queued a second time ---- */
    t = manual_task(rt, &h);
    assert_true(task_transition_to_running(t));
    assert_int_equal(task_transition_to_idle(t, false), TASK_AFTER_IDLE);
    task_wake_by_ref(t);
    assert_int_equal(st_word(t), TASK_NOTIFIED | JI | REFS(3));
    assert_int_equal(weft_join_abort(&h), 0);
    assert_int_equal(st_word(t), TASK_NOTIFIED | TASK_CANCELLED | JI | REFS(3));
    assert_ptr_equal(drain_one(rt), t);
    assert_null(drain_one(rt));
    assert_false(task_transition_to_running(t));
    task_complete(t, true);
    assert_int_equal(st_word(t), TASK_COMPLETE | TASK_CANCELLED | JI | REFS(1));
    assert_int_equal(weft_join_wait(&h, NULL), -ECANCELED);
    assert_null(h.task);

    /* ---- abort while running: the poller finds CANCELLED after the poll ---- */
    t = manual_task(rt, &h);
    assert_true(task_transition_to_running(t));
    assert_int_equal(weft_join_abort(&h), 0);
    assert_int_equal(st_word(t), TASK_RUNNING | TASK_CANCELLED | JI | REFS(3));
    assert_null(drain_one(rt));
    task_wake_by_ref(t); /* a wake now sets NOTIFIED, still not queued */
    assert_null(drain_one(rt));
    assert_int_equal(task_transition_to_idle(t, false), TASK_AFTER_CANCEL);
    assert_true(st_word(t) & TASK_RUNNING); /* RUNNING kept for the drop */
    task_complete(t, true);
    assert_int_equal(st_word(t), TASK_COMPLETE | TASK_CANCELLED | JI | REFS(1));
    assert_int_equal(weft_join_wait(&h, NULL), -ECANCELED);

    /* ---- complete while a join waker is registered, then detach-free path ---- */
    t = manual_task(rt, &h);
    assert_true(task_transition_to_running(t));
    assert_int_equal(task_transition_to_idle(t, false), TASK_AFTER_IDLE);
    assert_int_equal(weft_join_poll(&h, &cx1, NULL, &result), WEFT_PENDING);
    assert_int_equal(tu_cw_refs(&c1), 1);
    /* detach takes the waker back and clears JOIN_INTEREST */
    weft_join_drop(&h);
    assert_null(h.task);
    assert_int_equal(tu_cw_refs(&c1), 0);
    assert_int_equal(st_word(t), REFS(1)); /* owned list only: idle, no interest */
    task_wake_by_ref(t);
    assert_ptr_equal(drain_one(rt), t);
    assert_true(task_transition_to_running(t));
    task_complete(t, false); /* last references: freed here (ASan checks) */
    assert_int_equal(tu_cw_wakes(&c1), 0);

    /* ---- JOIN_WAKER cleared by completion: the joiner gets the result ---- */
    t = manual_task(rt, &h);
    assert_true(task_transition_to_running(t));
    assert_int_equal(weft_join_poll(&h, &cx1, NULL, &result), WEFT_PENDING);
    assert_int_equal(st_word(t), TASK_RUNNING | JI | JW | REFS(3));
    task_complete(t, false);
    assert_int_equal(st_word(t), TASK_COMPLETE | JI | REFS(1));
    assert_int_equal(tu_cw_wakes(&c1), 1);
    assert_int_equal(tu_cw_refs(&c1), 0);
    assert_int_equal(weft_join_abort(&h), -EALREADY);
    assert_int_equal(weft_join_poll(&h, &cx1, NULL, &result), WEFT_READY);
    assert_int_equal(result, 0);
    assert_int_equal(tu_cw_refs(&c1), 0);
    weft_runtime_free(rt);
}

/* ---- illegal transitions abort the process (checked in a forked child) ---- */

typedef enum {
    ILL_RUN_IDLE,      /* transition_to_running on a task nobody queued */
    ILL_RUN_RUNNING,   /* ... on a task already running */
    ILL_RUN_COMPLETE,  /* ... on a completed task */
    ILL_RUNNING_COMPLETE,
    ILL_JW_WITHOUT_JI,
    ILL_REF_UNDERFLOW,
} illegal_kind;

static void illegal_child(illegal_kind k)
{
    task t;
    memset(&t, 0, sizeof t);
    switch (k) {
    case ILL_RUN_IDLE:
        atomic_init(&t.state, TASK_JOIN_INTEREST | REFS(2));
        (void)task_transition_to_running(&t);
        break;
    case ILL_RUN_RUNNING:
        atomic_init(&t.state, TASK_RUNNING | TASK_NOTIFIED | REFS(2));
        (void)task_transition_to_running(&t);
        break;
    case ILL_RUN_COMPLETE:
        atomic_init(&t.state, TASK_COMPLETE | TASK_NOTIFIED | REFS(1));
        (void)task_transition_to_running(&t);
        break;
    case ILL_RUNNING_COMPLETE:
        task_check_state(TASK_RUNNING | TASK_COMPLETE | REFS(1));
        break;
    case ILL_JW_WITHOUT_JI:
        task_check_state(TASK_JOIN_WAKER | REFS(1));
        break;
    case ILL_REF_UNDERFLOW:
        atomic_init(&t.state, 0);
        task_drop_reference(&t);
        break;
    }
}

/* Runs the illegal transition in a child; true if it died of SIGABRT after
 * printing the invariant message. */
static bool aborts_with_message(illegal_kind k, const char *needle)
{
    int fds[2];
    if (pipe(fds) != 0) return false;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        illegal_child(k);
        _exit(0); /* survived: the invariant was not enforced */
    }
    close(fds[1]);
    char buf[1024];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
    buf[n] = 0;
    close(fds[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return false;
    bool died = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    if (!died || !strstr(buf, needle))
        print_error("illegal transition %d: status %#x, stderr: %s\n", (int)k, status, buf);
    return died && strstr(buf, needle) != NULL;
}

static void test_state_illegal_transitions_abort(void **unused)
{
    (void)unused;
    assert_true(aborts_with_message(ILL_RUN_IDLE, "polling a task that is not queued"));
    assert_true(aborts_with_message(ILL_RUN_RUNNING, "polling a task that is not queued"));
    assert_true(aborts_with_message(ILL_RUN_COMPLETE, "polling a task that is not queued"));
    assert_true(aborts_with_message(ILL_RUNNING_COMPLETE, "RUNNING and COMPLETE both set"));
    assert_true(aborts_with_message(ILL_JW_WITHOUT_JI, "JOIN_WAKER without JOIN_INTEREST"));
    assert_true(aborts_with_message(ILL_REF_UNDERFLOW, "underflow"));
}

/* ==== level 2: the public API on fifo ============================================= */

typedef struct probe_rec {
    _Atomic int polls;
    _Atomic int drops;
    _Atomic int in_poll;  /* P_SPIN: the first poll is running (release; acquire in the helper) */
    _Atomic int go;       /* P_SPIN: the helper thread is done (release; acquire in the poll) */
    _Atomic int abort_rc;
    weft_waker saved;     /* a clone of the task's waker from its last pending poll */
    weft_join_handle *self;
} probe_rec;

enum { P_READY, P_PEND, P_SPIN, P_SELF_ABORT, P_YIELD };

typedef struct probe {
    probe_rec *rec;
    int mode;
    int pend;   /* P_PEND, P_YIELD: polls that return PENDING before READY */
    int value;  /* the output */
} probe;

static void rec_init(probe_rec *r)
{
    memset(r, 0, sizeof *r);
    atomic_init(&r->polls, 0);
    atomic_init(&r->drops, 0);
    atomic_init(&r->in_poll, 0);
    atomic_init(&r->go, 0);
    atomic_init(&r->abort_rc, 1);
    r->saved = WEFT_WAKER_NONE;
}

static weft_poll probe_poll(void *p, weft_context *cx, void *out)
{
    probe *st = p;
    probe_rec *r = st->rec;
    int n = atomic_fetch_add_explicit(&r->polls, 1, memory_order_relaxed) + 1;
    switch (st->mode) {
    case P_PEND:
        if (n <= st->pend) {
            weft_waker_drop(&r->saved);
            r->saved = weft_waker_clone(weft_context_waker(cx));
            return WEFT_PENDING;
        }
        break;
    case P_SPIN:
        if (n == 1) {
            weft_waker_drop(&r->saved);
            r->saved = weft_waker_clone(weft_context_waker(cx));
            atomic_store_explicit(&r->in_poll, 1, memory_order_release); /* pairs with helper's acquire */
            while (!atomic_load_explicit(&r->go, memory_order_acquire)) sched_yield();
            return WEFT_PENDING;
        }
        break;
    case P_YIELD: /* yields (a carried re-queue), keeping a waker */
        if (n <= st->pend) {
            weft_waker_drop(&r->saved);
            r->saved = weft_waker_clone(weft_context_waker(cx));
            weft_context_yield(cx);
            return WEFT_PENDING;
        }
        break;
    case P_SELF_ABORT:
        if (n == 1) {
            atomic_store_explicit(&r->abort_rc, weft_join_abort(r->self), memory_order_relaxed);
            return WEFT_PENDING;
        }
        break;
    default:
        break;
    }
    *(int *)out = st->value;
    return WEFT_READY;
}

static void probe_drop(void *p)
{
    atomic_fetch_add_explicit(&((probe *)p)->rec->drops, 1, memory_order_relaxed);
}

static const weft_future_type probe_type = {"probe", probe_poll, probe_drop, sizeof(probe), sizeof(int)};

static int rec_polls(probe_rec *r) { return atomic_load_explicit(&r->polls, memory_order_relaxed); }
static int rec_drops(probe_rec *r) { return atomic_load_explicit(&r->drops, memory_order_relaxed); }


/* Yields n times, then READY: lets the fifo worker run what is queued. */
typedef struct yielder {
    int coro;
    int n, i;
    weft_yield y;
} yielder;
static weft_poll yielder_poll(void *p, weft_context *cx, void *out)
{
    yielder *st = p;
    (void)out;
    WEFT_CORO_BEGIN(st);
    for (st->i = 0; st->i < st->n; st->i++) WEFT_YIELD_NOW(st, y, cx);
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static const weft_future_type yielder_type = {"yielder", yielder_poll, NULL, sizeof(yielder), 0};

static void run_queued(weft_runtime *rt, int yields)
{
    yielder y = {0, yields, 0, {0}};
    tu_block_on_ok(rt, &yielder_type, &y, NULL);
}

static bool rt_has_work(weft_runtime *rt) { return rt->ops->has_work(rt->policy); }

/* ---- a wake from another thread during the poll re-polls exactly once more ---- */

typedef struct helper_arg {
    probe_rec *rec;
    int wakes;         /* wake_by_ref this many times while the task runs */
    bool do_abort;     /* abort through *h instead */
    weft_join_handle *h;
    _Atomic int ok;
} helper_arg;

static void *wake_helper(void *p)
{
    helper_arg *a = p;
    if (!tu_wait_flag(&a->rec->in_poll, 10000)) {
        atomic_store_explicit(&a->rec->go, 1, memory_order_release);
        return NULL;
    }
    /* the task is inside its first poll, RUNNING */
    for (int i = 0; i < a->wakes; i++) weft_waker_wake_by_ref(&a->rec->saved);
    int rc = a->do_abort ? weft_join_abort(a->h) : 0;
    atomic_store_explicit(&a->ok, rc == 0, memory_order_relaxed);
    atomic_store_explicit(&a->rec->go, 1, memory_order_release); /* pairs with the poll's acquire */
    return NULL;
}

static void test_wake_while_running_repolls_once(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    probe_rec rec;
    rec_init(&rec);
    weft_join_handle h;
    probe init = {&rec, P_SPIN, 0, 77};
    assert_int_equal(weft_spawn(rt, &probe_type, &init, &h), 0);
    helper_arg a = {&rec, 3, false, NULL, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wake_helper, &a), 0);
    int out = 0;
    assert_int_equal(tu_join_on(rt, &h, &out), 0);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load_explicit(&a.ok, memory_order_relaxed), 1);
    assert_int_equal(out, 77);
    assert_int_equal(rec_polls(&rec), 2); /* three wakes during the poll: one more poll */
    assert_int_equal(rec_drops(&rec), 1);
    /* a wake after completion is harmless: nothing queued, nothing polled */
    weft_waker_wake_by_ref(&rec.saved);
    assert_false(rt_has_work(rt));
    weft_waker_wake(&rec.saved); /* consumes the last reference: frees the task */
    assert_false(rt_has_work(rt));
    run_queued(rt, 2);
    assert_int_equal(rec_polls(&rec), 2);
    weft_runtime_free(rt);
}

static void test_two_wakes_before_poll_queue_once(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    probe_rec rec;
    rec_init(&rec);
    weft_join_handle h;
    probe init = {&rec, P_PEND, 1, 5};
    assert_int_equal(weft_spawn(rt, &probe_type, &init, &h), 0);
    run_queued(rt, 1);
    assert_int_equal(rec_polls(&rec), 1);
    assert_false(rt_has_work(rt));
    weft_worker_stats before, after;
    weft_runtime_stats(rt, NULL, 0, &before);
    weft_waker_wake_by_ref(&rec.saved);
    weft_waker_wake_by_ref(&rec.saved);
    assert_true(rt_has_work(rt));
    int out = 0;
    assert_int_equal(tu_join_on(rt, &h, &out), 0);
    assert_int_equal(out, 5);
    assert_int_equal(rec_polls(&rec), 2);
    weft_runtime_stats(rt, NULL, 0, &after);
    /* the joiner: 1 poll (the task is polled first and completes); the task: 1 */
    assert_int_equal(after.polls - before.polls, 2);
    weft_waker_drop(&rec.saved);
    assert_int_equal(rec_drops(&rec), 1);
    weft_runtime_free(rt);
}

/* ---- carried yields (schedulers/task.h): a yielded task is queued still RUNNING ---- */

static void test_carried_yield_wake_and_abort(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    probe_rec rec;
    rec_init(&rec);
    weft_join_handle h;
    probe init = {&rec, P_YIELD, 1000, 1};
    assert_int_equal(weft_spawn(rt, &probe_type, &init, &h), 0);
    task *t = h.task;
    run_queued(rt, 1); /* probe, yielder, probe, yielder: two polls of the probe */
    assert_int_equal(rec_polls(&rec), 2);
    /* queued once, carried: RUNNING without NOTIFIED; the queue's, the
     * handle's and the saved waker's references (it never waited, so it is
     * on no owned list) */
    assert_int_equal(t->owned_shard, TASK_UNLISTED);
    assert_int_equal(st_word(t), TASK_RUNNING | TASK_JOIN_INTEREST | REFS(3));
    /* a wake only records NOTIFIED: the task is not queued a second time */
    weft_waker_wake_by_ref(&rec.saved);
    weft_waker_wake_by_ref(&rec.saved);
    assert_int_equal(st_word(t), TASK_RUNNING | TASK_NOTIFIED | TASK_JOIN_INTEREST | REFS(3));
    /* abort only records CANCELLED; the pop drops it without a poll */
    assert_int_equal(weft_join_abort(&h), 0);
    assert_int_equal(tu_join_on(rt, &h, NULL), -ECANCELED);
    assert_int_equal(rec_polls(&rec), 2);
    assert_int_equal(rec_drops(&rec), 1);
    assert_false(rt_has_work(rt)); /* it was in the queue exactly once */
    weft_waker_drop(&rec.saved);
    weft_runtime_free(rt);
}

static void test_carried_yield_wake_polls_once(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    probe_rec rec;
    rec_init(&rec);
    weft_join_handle h;
    probe init = {&rec, P_YIELD, 1, 9};
    assert_int_equal(weft_spawn(rt, &probe_type, &init, &h), 0);
    task *t = h.task;
    run_queued(rt, 0); /* probe (yields), yielder (done) */
    assert_int_equal(rec_polls(&rec), 1);
    /* carried: queued with RUNNING (no flag besides the word) */
    assert_true(st_word(t) & TASK_RUNNING);
    weft_waker_wake_by_ref(&rec.saved); /* lands while it is queued */
    weft_worker_stats before, after;
    weft_runtime_stats(rt, NULL, 0, &before);
    int out = 0;
    assert_int_equal(tu_join_on(rt, &h, &out), 0);
    weft_runtime_stats(rt, NULL, 0, &after);
    assert_int_equal(out, 9);
    /* the carried poll consumed the wake: exactly one more poll, no spurious third */
    assert_int_equal(rec_polls(&rec), 2);
    assert_int_equal(after.polls - before.polls, 2); /* the probe and the joiner */
    assert_false(rt_has_work(rt));
    weft_waker_drop(&rec.saved);
    weft_runtime_free(rt);
}

static void test_carried_yield_shutdown_drops(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    enum { K = 3 };
    probe_rec rec[K];
    for (int i = 0; i < K; i++) {
        rec_init(&rec[i]);
        probe init = {&rec[i], P_YIELD, 1000000, 1};
        weft_join_handle h;
        assert_int_equal(weft_spawn(rt, &probe_type, &init, &h), 0);
        weft_join_drop(&h);
    }
    run_queued(rt, 2);
    for (int i = 0; i < K; i++) assert_true(rec_polls(&rec[i]) >= 1);
    weft_runtime_free(rt); /* the carried tasks are dropped, each exactly once */
    for (int i = 0; i < K; i++) {
        assert_int_equal(rec_drops(&rec[i]), 1);
        weft_waker_drop(&rec[i].saved);
    }
}

/* Many yielding tasks on every multi-threaded scheduler while an outside
 * thread keeps waking them: a wake that lands while a task is carried must
 * neither queue it twice (task_transition_to_running's check aborts) nor be
 * lost; every task finishes with its exact output, every drop runs once. */
typedef struct yw_task {
    int left;
    int id;
    weft_waker *slot; /* the task's waker, published for the waking thread */
    _Atomic int *published;
} yw_task;

static weft_poll yw_poll(void *p, weft_context *cx, void *out)
{
    yw_task *st = p;
    if (!atomic_load_explicit(st->published, memory_order_relaxed)) {
        *st->slot = weft_waker_clone(weft_context_waker(cx));
        atomic_store_explicit(st->published, 1, memory_order_release); /* pairs with the waker thread */
    }
    if (st->left-- > 0) {
        weft_context_yield(cx);
        return WEFT_PENDING;
    }
    *(int *)out = st->id;
    return WEFT_READY;
}
static const weft_future_type yw_type = {"yield_woken", yw_poll, NULL, sizeof(yw_task), sizeof(int)};

enum { YW_TASKS = 32, YW_YIELDS = 3000 };

typedef struct yw_shared {
    weft_waker wakers[YW_TASKS];
    _Atomic int published[YW_TASKS];
    _Atomic int stop;
    _Atomic long wakes;
} yw_shared;

static void *yw_waker_thread(void *p)
{
    yw_shared *sh = p;
    while (!atomic_load_explicit(&sh->stop, memory_order_acquire)) {
        for (int i = 0; i < YW_TASKS; i++)
            if (atomic_load_explicit(&sh->published[i], memory_order_acquire)) {
                weft_waker_wake_by_ref(&sh->wakers[i]);
                atomic_fetch_add_explicit(&sh->wakes, 1, memory_order_relaxed);
            }
    }
    return NULL;
}

static void test_carried_yield_outside_wakes_mt(void **unused)
{
    (void)unused;
    const char *scheds[] = {"global", "ws", "numa"};
    for (size_t s = 0; s < sizeof scheds / sizeof scheds[0]; s++) {
        weft_runtime *rt = tu_rt_new(scheds[s], 2, NULL);
        yw_shared *sh = calloc(1, sizeof *sh);
        assert_non_null(sh);
        weft_join_handle h[YW_TASKS];
        for (int i = 0; i < YW_TASKS; i++) {
            atomic_init(&sh->published[i], 0);
            yw_task init = {YW_YIELDS, i, &sh->wakers[i], &sh->published[i]};
            assert_int_equal(weft_spawn(rt, &yw_type, &init, &h[i]), 0);
        }
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, yw_waker_thread, sh), 0);
        for (int i = 0; i < YW_TASKS; i++) {
            int out = -1;
            assert_int_equal(weft_join_wait(&h[i], &out), 0);
            assert_int_equal(out, i);
        }
        atomic_store_explicit(&sh->stop, 1, memory_order_release);
        pthread_join(th, NULL);
        printf("# %s: %d tasks x %d yields, %ld outside wakes\n", scheds[s], YW_TASKS, YW_YIELDS,
               atomic_load(&sh->wakes));
        for (int i = 0; i < YW_TASKS; i++) weft_waker_drop(&sh->wakers[i]);
        weft_runtime_free(rt);
        free(sh);
    }
}

/* ---- private tasks (task.h): the first poll and completion without an RMW ---- */

/* A task as weft_spawn makes it without a handle: NOTIFIED, the owned
 * list's and the queue's references, nothing else. */
static task *manual_private_task(weft_runtime *rt)
{
    weft_join_handle h;
    task *t = manual_task(rt, &h);
    atomic_store(&t->state, TASK_NOTIFIED | REFS(2));
    return t;
}

/* Takes a manual task off the outside shard again: as weft_spawn leaves it. */
static void owned_unlink_for_test(weft_runtime *rt, task *t)
{
    owned_shard *sh = &rt->owned[rt->nworkers];
    if (t->owned_prev) t->owned_prev->owned_next = t->owned_next;
    else sh->head = t->owned_next;
    if (t->owned_next) t->owned_next->owned_prev = t->owned_prev;
    t->owned_prev = t->owned_next = NULL;
    t->owned_shard = TASK_UNLISTED;
}

static bool on_outside_shard(weft_runtime *rt, task *t)
{
    for (task *p = rt->owned[rt->nworkers].head; p; p = p->owned_next)
        if (p == t) return true;
    return false;
}

typedef struct drop_later {
    weft_waker w;
    _Atomic int *touched;
} drop_later;

static void *drop_waker_thread(void *p)
{
    drop_later *d = p;
    /* a write the freeing thread must be ordered after (TSan checks it) */
    atomic_store_explicit(d->touched, 1, memory_order_relaxed);
    weft_waker_drop(&d->w);
    return NULL;
}

static void test_state_private_task(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);

    /* private: the first poll is a plain store of NOTIFIED -> RUNNING */
    task *t = manual_private_task(rt);
    assert_true(task_begin_poll(t));
    assert_int_equal(st_word(t), TASK_RUNNING | REFS(2));
    /* goes idle (queue reference released), is woken, is private again */
    assert_int_equal(task_transition_to_idle(t, false), TASK_AFTER_IDLE);
    assert_int_equal(st_word(t), REFS(1));
    task_wake_by_ref(t);
    assert_int_equal(st_word(t), TASK_NOTIFIED | REFS(2));
    assert_ptr_equal(drain_one(rt), t);
    assert_true(task_begin_poll(t));
    assert_int_equal(st_word(t), TASK_RUNNING | REFS(2));
    /* a self-wake during the poll (clone, wake): NOTIFIED, back to two
     * references; completion still frees it at once and unlinks it */
    weft_waker self = weft_waker_clone(&(weft_waker){&task_waker_vtable, t});
    assert_int_equal(st_word(t), TASK_RUNNING | REFS(3));
    weft_waker_wake(&self);
    assert_int_equal(st_word(t), TASK_RUNNING | TASK_NOTIFIED | REFS(2));
    assert_true(on_outside_shard(rt, t));
    task_complete(t, false); /* freed here: ASan reports any later use */
    assert_false(on_outside_shard(rt, t));

    /* a task as weft_spawn makes it now: on no owned list, the queue's
     * reference only; private with that one reference */
    t = manual_private_task(rt);
    owned_unlink_for_test(rt, t);
    atomic_store(&t->state, TASK_NOTIFIED | REFS(1));
    assert_true(task_begin_poll(t));
    assert_int_equal(st_word(t), TASK_RUNNING | REFS(1));
    /* woken during the poll: re-queued, still on no list */
    task_wake_by_ref(t);
    assert_int_equal(task_transition_to_idle(t, false), TASK_AFTER_REQUEUE);
    assert_int_equal(t->owned_shard, TASK_UNLISTED);
    assert_int_equal(st_word(t), TASK_NOTIFIED | REFS(1));
    /* its first wait links it (the outside shard: this is no worker) and
     * the queue's reference becomes the list's */
    assert_true(task_begin_poll(t));
    assert_int_equal(task_transition_to_idle(t, false), TASK_AFTER_IDLE);
    assert_int_equal(t->owned_shard, (uint32_t)rt->nworkers);
    assert_true(on_outside_shard(rt, t));
    assert_int_equal(st_word(t), REFS(1));
    task_wake_by_ref(t);
    assert_ptr_equal(drain_one(rt), t);
    assert_true(task_begin_poll(t));
    assert_int_equal(st_word(t), TASK_RUNNING | REFS(2));
    task_complete(t, false);
    assert_false(on_outside_shard(rt, t));
    /* unlisted and aborted while running: dropped without being linked */
    {
        weft_join_handle ha;
        t = manual_task(rt, &ha);
        owned_unlink_for_test(rt, t);
        atomic_store(&t->state, TASK_NOTIFIED | TASK_JOIN_INTEREST | REFS(2));
        assert_true(task_begin_poll(t));
        assert_int_equal(weft_join_abort(&ha), 0);
        assert_int_equal(task_transition_to_idle(t, false), TASK_AFTER_CANCEL);
        assert_int_equal(t->owned_shard, TASK_UNLISTED);
        rt_task_cancel_running(t);
        assert_int_equal(st_word(t), TASK_COMPLETE | TASK_CANCELLED | TASK_JOIN_INTEREST | REFS(1));
        int rc = 0;
        weft_context cx0 = {WEFT_WAKER_NONE, rt, NULL, -1, 0, NULL};
        assert_int_equal(weft_join_poll(&ha, &cx0, NULL, &rc), WEFT_READY);
        assert_int_equal(rc, -ECANCELED);
    }

    /* not private while a waker exists: the CAS path, same word */
    t = manual_private_task(rt);
    weft_waker w = weft_waker_clone(&(weft_waker){&task_waker_vtable, t});
    assert_int_equal(st_word(t), TASK_NOTIFIED | REFS(3));
    assert_true(task_begin_poll(t));
    assert_int_equal(st_word(t), TASK_RUNNING | REFS(3));
    /* the waker is dropped on another thread during the poll; completion
     * then sees two references and frees it: the acquire load orders the
     * other thread's uses before the free */
    _Atomic int touched = 0;
    drop_later d = {w, &touched};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, drop_waker_thread, &d), 0);
    pthread_join(th, NULL);
    assert_int_equal(st_word(t), TASK_RUNNING | REFS(2));
    task_complete(t, false);
    assert_false(on_outside_shard(rt, t));
    assert_int_equal(atomic_load(&touched), 1);

    /* a handle makes it shared; once detached it is private again */
    weft_join_handle h;
    t = manual_task(rt, &h);
    assert_true(task_begin_poll(t));
    assert_int_equal(st_word(t), TASK_RUNNING | TASK_JOIN_INTEREST | REFS(3));
    weft_join_drop(&h);
    assert_int_equal(st_word(t), TASK_RUNNING | REFS(2));
    task_complete(t, false);
    assert_false(on_outside_shard(rt, t));

    /* a handle that is kept: completion publishes COMPLETE and the output */
    t = manual_task(rt, &h);
    assert_true(task_begin_poll(t));
    task_complete(t, false);
    assert_int_equal(st_word(t), TASK_COMPLETE | TASK_JOIN_INTEREST | REFS(1));
    assert_false(on_outside_shard(rt, t));
    int result = 1;
    char out[24];
    weft_context cx = {WEFT_WAKER_NONE, rt, NULL, -1, 0, NULL};
    assert_int_equal(weft_join_poll(&h, &cx, out, &result), WEFT_READY);
    assert_int_equal(result, 0);

    /* an aborted private task is not private (abort needs the handle); a
     * cancelled drop through the worker path still frees exactly once */
    t = manual_task(rt, &h);
    assert_int_equal(weft_join_abort(&h), 0);
    assert_int_equal(st_word(t), TASK_NOTIFIED | TASK_CANCELLED | TASK_JOIN_INTEREST | REFS(3));
    assert_false(task_begin_poll(t));
    rt_task_cancel_running(t);
    assert_int_equal(weft_join_poll(&h, &cx, out, &result), WEFT_READY);
    assert_int_equal(result, -ECANCELED);
    weft_runtime_free(rt);
}

/* Private tasks through the runtime on every scheduler: trees of tasks
 * without handles (the fast paths) mixed with tasks whose wakers go to
 * another thread and come back (the slow paths), every task counted once. */
typedef struct pt_shared {
    _Atomic long ran;
    _Atomic long left;
    weft_waker parked[64];
    _Atomic int ready[64]; /* parked[i] is written (release) */
    _Atomic int nparked;
} pt_shared;

typedef struct pt_task {
    int coro;
    pt_shared *sh;
    int depth;
    int waited;
} pt_task;

static const weft_future_type pt_type;
static weft_poll pt_poll(void *p, weft_context *cx, void *out)
{
    pt_task *s = p;
    (void)out;
    if (!s->waited && (s->depth % 3) == 1) {
        /* hand a waker to the outside thread and wait for it once */
        int i = atomic_fetch_add(&s->sh->nparked, 1);
        if (i < 64) {
            s->waited = 1;
            s->sh->parked[i] = weft_waker_clone(weft_context_waker(cx));
            atomic_store_explicit(&s->sh->ready[i], 1, memory_order_release);
            return WEFT_PENDING;
        }
    }
    if (s->depth > 0) {
        for (int k = 0; k < 2; k++) {
            pt_task c = {0, s->sh, s->depth - 1, 0};
            atomic_fetch_add(&s->sh->left, 1);
            if (weft_spawn(weft_context_runtime(cx), &pt_type, &c, NULL) < 0) atomic_fetch_sub(&s->sh->left, 1);
        }
    }
    atomic_fetch_add(&s->sh->ran, 1);
    atomic_fetch_sub(&s->sh->left, 1);
    return WEFT_READY;
}
static const weft_future_type pt_type = {"private_tree", pt_poll, NULL, sizeof(pt_task), 0};

/* The outside thread: wakes every waker the tree hands it, until told to stop. */
static void *pt_waker_thread(void *p)
{
    pt_shared *sh = p;
    int woken = 0;
    for (;;) {
        int n = atomic_load(&sh->nparked);
        if (n > 64) n = 64;
        for (; woken < n && atomic_load_explicit(&sh->ready[woken], memory_order_acquire); woken++)
            weft_waker_wake(&sh->parked[woken]);
        if (atomic_load(&sh->left) == 0 && woken == n) break;
        sched_yield();
    }
    return NULL;
}

/* block_on's future: spins (a wake per poll) until the tree is done. */
static weft_poll pt_wait_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    pt_shared *sh = *(pt_shared **)p;
    if (atomic_load(&sh->left) == 0) return WEFT_READY;
    weft_waker_wake_by_ref(weft_context_waker(cx));
    return WEFT_PENDING;
}
static const weft_future_type pt_wait_type = {"private_wait", pt_wait_poll, NULL, sizeof(pt_shared *), 0};

static weft_poll pt_root_poll(void *p, weft_context *cx, void *out)
{
    pt_task *s = p;
    (void)out;
    if (weft_spawn(weft_context_runtime(cx), &pt_type, s, NULL) < 0) atomic_fetch_sub(&s->sh->left, 1);
    return WEFT_READY;
}
static const weft_future_type pt_root_type = {"private_root", pt_root_poll, NULL, sizeof(pt_task), 0};

static void test_private_tasks_all_schedulers(void **unused)
{
    (void)unused;
    const char *scheds[] = {"fifo", "global", "ws", "numa"};
    const int depth = TU_SCALE(11, 8);
    const long want = (1L << (depth + 1)) - 1;
    for (size_t si = 0; si < sizeof scheds / sizeof scheds[0]; si++) {
        for (int workers = 1; workers <= 2; workers++) {
            if (!strcmp(scheds[si], "fifo") && workers == 2) continue;
            weft_runtime *rt = tu_rt_new(scheds[si], workers, NULL);
            pt_shared *sh = calloc(1, sizeof *sh);
            assert_non_null(sh);
            atomic_init(&sh->left, 1);
            pthread_t th;
            assert_int_equal(pthread_create(&th, NULL, pt_waker_thread, sh), 0);
            /* the root is spawned from a worker (block_on's first poll), so
             * the tree's tasks live on worker shards and worker caches */
            pt_task root = {0, sh, depth, 0};
            assert_int_equal(weft_block_on(rt, &pt_root_type, &root, NULL), 0);
            assert_int_equal(weft_block_on(rt, &pt_wait_type, &sh, NULL), 0);
            pthread_join(th, NULL);
            assert_int_equal(atomic_load(&sh->left), 0);
            assert_int_equal(atomic_load(&sh->ran), want);
            weft_runtime_free(rt);
            free(sh);
        }
    }
}

/* ---- abort in every phase ---- */

static void test_abort_idle(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    probe_rec rec;
    rec_init(&rec);
    weft_join_handle h;
    probe init = {&rec, P_PEND, 1000, 1};
    assert_int_equal(weft_spawn(rt, &probe_type, &init, &h), 0);
    run_queued(rt, 1);
    assert_int_equal(rec_polls(&rec), 1);
    assert_int_equal(weft_join_abort(&h), 0);
    assert_false(weft_join_is_finished(&h));
    assert_int_equal(tu_join_on(rt, &h, NULL), -ECANCELED);
    assert_int_equal(rec_polls(&rec), 1); /* dropped, not polled */
    assert_int_equal(rec_drops(&rec), 1);
    weft_waker_drop(&rec.saved);
    weft_runtime_free(rt);
    assert_int_equal(rec_drops(&rec), 1);
}

static void test_abort_queued(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    probe_rec rec;
    rec_init(&rec);
    weft_join_handle h;
    probe init = {&rec, P_READY, 0, 1};
    assert_int_equal(weft_spawn(rt, &probe_type, &init, &h), 0);
    assert_int_equal(weft_join_abort(&h), 0);
    assert_int_equal(weft_join_abort(&h), 0);
    assert_int_equal(tu_join_on(rt, &h, NULL), -ECANCELED);
    assert_int_equal(rec_polls(&rec), 0);
    assert_int_equal(rec_drops(&rec), 1);
    weft_runtime_free(rt);
}

static void test_abort_running_self(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    probe_rec rec;
    rec_init(&rec);
    weft_join_handle h;
    rec.self = &h;
    probe init = {&rec, P_SELF_ABORT, 0, 1};
    assert_int_equal(weft_spawn(rt, &probe_type, &init, &h), 0);
    assert_int_equal(tu_join_on(rt, &h, NULL), -ECANCELED);
    assert_int_equal(atomic_load_explicit(&rec.abort_rc, memory_order_relaxed), 0);
    assert_int_equal(rec_polls(&rec), 1);
    assert_int_equal(rec_drops(&rec), 1);
    weft_runtime_free(rt);
}

static void test_abort_running_from_thread(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    probe_rec rec;
    rec_init(&rec);
    weft_join_handle h;
    probe init = {&rec, P_SPIN, 0, 1};
    assert_int_equal(weft_spawn(rt, &probe_type, &init, &h), 0);
    helper_arg a = {&rec, 1, true, &h, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wake_helper, &a), 0);
    assert_int_equal(tu_join_on(rt, &h, NULL), -ECANCELED);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load_explicit(&a.ok, memory_order_relaxed), 1);
    assert_int_equal(rec_polls(&rec), 1); /* woken during the poll, but cancelled instead */
    assert_int_equal(rec_drops(&rec), 1);
    weft_waker_drop(&rec.saved);
    weft_runtime_free(rt);
}

static void test_abort_after_completion_and_join_twice(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    probe_rec rec;
    rec_init(&rec);
    weft_join_handle h;
    probe init = {&rec, P_READY, 0, 42};
    assert_int_equal(weft_spawn(rt, &probe_type, &init, &h), 0);
    run_queued(rt, 1);
    assert_true(weft_join_is_finished(&h));
    assert_int_equal(weft_join_abort(&h), -EALREADY);
    int out = 0;
    assert_int_equal(tu_join_on(rt, &h, &out), 0);
    assert_int_equal(out, 42);
    /* second join: the handle is empty */
    assert_int_equal(tu_join_on(rt, &h, &out), -EINVAL);
    assert_int_equal(weft_join_wait(&h, &out), -EINVAL);
    assert_int_equal(weft_join_abort(&h), -EINVAL);
    assert_int_equal(rec_polls(&rec), 1);
    assert_int_equal(rec_drops(&rec), 1);
    weft_runtime_free(rt);
}

static void test_detach_then_complete(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    enum { N = 3 };
    probe_rec rec[N];
    weft_join_handle h;
    for (int i = 0; i < N; i++) rec_init(&rec[i]);
    /* spawned detached; detached after spawn; detached after its first poll */
    probe a = {&rec[0], P_PEND, 1, 0}, b = {&rec[1], P_PEND, 1, 0}, c = {&rec[2], P_PEND, 1, 0};
    assert_int_equal(weft_spawn(rt, &probe_type, &a, NULL), 0);
    assert_int_equal(weft_spawn(rt, &probe_type, &b, &h), 0);
    weft_join_drop(&h);
    assert_null(h.task);
    weft_join_handle hc;
    assert_int_equal(weft_spawn(rt, &probe_type, &c, &hc), 0);
    run_queued(rt, 1);
    weft_join_drop(&hc);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rec_polls(&rec[i]), 1);
        weft_waker_wake(&rec[i].saved); /* consumes the saved clone */
    }
    run_queued(rt, 1);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rec_polls(&rec[i]), 2);
        assert_int_equal(rec_drops(&rec[i]), 1);
    }
    assert_null(rt->owned[0].head); /* every task left the owned lists */
    assert_null(rt->owned[1].head);
    weft_runtime_free(rt); /* LSan: no task may be left */
}

/* ---- outputs of several sizes ---- */

typedef struct sized_out {
    size_t n;
} sized_out;
static weft_poll sized_poll(void *p, weft_context *cx, void *out)
{
    (void)cx;
    sized_out *st = p;
    unsigned char *o = out;
    for (size_t i = 0; i < st->n; i++) o[i] = (unsigned char)(i * 7 + st->n);
    return WEFT_READY;
}
static const weft_future_type sized_types[4] = {
    {"out1", sized_poll, NULL, sizeof(sized_out), 1},
    {"out8", sized_poll, NULL, sizeof(sized_out), 8},
    {"out24", sized_poll, NULL, sizeof(sized_out), 24},
    {"out100", sized_poll, NULL, sizeof(sized_out), 100},
};

static void test_output_sizes(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    for (int k = 0; k < 4; k++) {
        sized_out st = {sized_types[k].output_size};
        unsigned char out[128];
        /* through a join handle from a task */
        weft_join_handle h;
        assert_int_equal(weft_spawn(rt, &sized_types[k], &st, &h), 0);
        memset(out, 0xee, sizeof out);
        assert_int_equal(tu_join_on(rt, &h, out), 0);
        for (size_t i = 0; i < st.n; i++) assert_int_equal(out[i], (unsigned char)(i * 7 + st.n));
        for (size_t i = st.n; i < sizeof out; i++) assert_int_equal(out[i], 0xee);
        /* through block_on */
        memset(out, 0xee, sizeof out);
        tu_block_on_ok(rt, &sized_types[k], &st, out);
        for (size_t i = 0; i < st.n; i++) assert_int_equal(out[i], (unsigned char)(i * 7 + st.n));
        for (size_t i = st.n; i < sizeof out; i++) assert_int_equal(out[i], 0xee);
        /* NULL out is allowed */
        tu_block_on_ok(rt, &sized_types[k], &st, NULL);
    }
    weft_runtime_free(rt);
}

/* Every state size 1..160 and output sizes 1..40 (spawn.c's state_copy and
 * task.h's task_output_copy: fixed-size moves up to 128 and 16 bytes, memcpy
 * beyond): a child checks each byte of its state and writes a pattern, the
 * joining parent checks each output byte and the untouched bytes after it.
 * The source buffer is malloc'd at its exact size, so an over-read is an
 * ASan report. ws/1 joins from a task through claim-back (the child polled
 * inside the join), fifo through weft_block_on's join of the root task. */
#define SZ_MAX 160
static weft_future_type sz_types[SZ_MAX + 1];
static _Atomic int sz_bad;
static weft_poll sz_child_poll(void *p, weft_context *cx, void *out)
{
    const weft_future_type *ty = ((task *)cx->task)->type;
    const unsigned char *st = p;
    for (size_t i = 0; i < ty->state_size; i++)
        if (st[i] != (unsigned char)(i * 13 + ty->state_size)) atomic_fetch_add(&sz_bad, 1);
    unsigned char *o = out;
    for (size_t i = 0; i < ty->output_size; i++) o[i] = (unsigned char)(i * 7 + ty->output_size);
    return WEFT_READY;
}
typedef struct sz_parent {
    size_t n;           /* the size being checked */
    weft_join_handle h; /* its child, while spawned */
    int claimed;        /* joins READY at their first poll (claimed inline) */
} sz_parent;

/* Runs on a worker thread: failures are counted (sz_bad, the first one in
 * sz_first_bad), and the test thread asserts. */
static _Atomic int sz_first_bad;
static void sz_fail(int code)
{
    int zero = 0;
    atomic_compare_exchange_strong(&sz_first_bad, &zero, code);
    atomic_fetch_add(&sz_bad, 1);
}
static weft_poll sz_parent_poll(void *p, weft_context *cx, void *out)
{
    sz_parent *s = p;
    (void)out;
    for (; s->n <= SZ_MAX; s->n++) {
        size_t n = s->n;
        bool first = false;
        if (weft_join_is_empty(&s->h)) {
            unsigned char *init = malloc(n);
            if (!init) return sz_fail(1), WEFT_READY;
            for (size_t i = 0; i < n; i++) init[i] = (unsigned char)(i * 13 + n);
            int rc = weft_spawn(weft_context_runtime(cx), &sz_types[n], init, &s->h);
            free(init); /* the state was copied at spawn */
            if (rc != 0) return sz_fail(1000 + (int)n), WEFT_READY;
            first = true;
        }
        unsigned char buf[64];
        memset(buf, 0xee, sizeof buf);
        int rc = 1;
        /* PENDING only when the budget ran out (the join charges it first):
         * this task is re-queued and the join resumes */
        if (weft_join_poll(&s->h, cx, buf, &rc) == WEFT_PENDING) return WEFT_PENDING;
        if (rc != 0) sz_fail(2000 + (int)n);
        s->claimed += first;
        size_t no = sz_types[n].output_size;
        for (size_t i = 0; i < no; i++)
            if (buf[i] != (unsigned char)(i * 7 + no)) sz_fail(3000 + (int)n);
        for (size_t i = no; i < sizeof buf; i++)
            if (buf[i] != 0xee) sz_fail(4000 + (int)n);
    }
    *(int *)out = s->claimed;
    return WEFT_READY;
}
static void sz_parent_drop(void *p) { weft_join_drop(&((sz_parent *)p)->h); }
static const weft_future_type sz_parent_type = {"sz_parent", sz_parent_poll, sz_parent_drop,
                                                sizeof(sz_parent), sizeof(int)};

static void test_state_and_output_copy_sizes(void **unused)
{
    (void)unused;
    for (size_t n = 1; n <= SZ_MAX; n++)
        sz_types[n] = (weft_future_type){"sz", sz_child_poll, NULL, n, 1 + n % 40};
    weft_runtime *rt = tu_rt_new("ws", 1, NULL);
    sz_parent init = {1, WEFT_JOIN_HANDLE_INIT, 0};
    atomic_store(&sz_bad, 0);
    atomic_store(&sz_first_bad, 0);
    int claimed = -1;
    tu_block_on_ok(rt, &sz_parent_type, &init, &claimed);
    weft_runtime_free(rt);
    assert_int_equal(atomic_load(&sz_first_bad), 0);
    /* every join claimed its child at its first poll but one: the default
     * budget (128 per poll, and the join charges it first) runs out once in
     * the 160 joins; that child is then run by the worker loop and its join
     * re-polled */
    assert_int_equal(claimed, SZ_MAX - 1);
    assert_int_equal(atomic_load(&sz_bad), 0);
    /* fifo: one child per parent poll round trip; spawn each size from outside */
    rt = tu_rt_new("fifo", 1, NULL);
    for (size_t n = 1; n <= SZ_MAX; n++) {
        unsigned char *init2 = malloc(n);
        assert_non_null(init2);
        for (size_t i = 0; i < n; i++) init2[i] = (unsigned char)(i * 13 + n);
        unsigned char buf[64];
        memset(buf, 0xee, sizeof buf);
        tu_block_on_ok(rt, &sz_types[n], init2, buf);
        free(init2);
        size_t no = sz_types[n].output_size;
        for (size_t i = 0; i < no; i++) assert_int_equal(buf[i], (unsigned char)(i * 7 + no));
        for (size_t i = no; i < sizeof buf; i++) assert_int_equal(buf[i], 0xee);
    }
    weft_runtime_free(rt);
    assert_int_equal(atomic_load(&sz_bad), 0);
}

/* ---- drop runs exactly once: completion, abort, shutdown ---- */

static void test_drop_exactly_once(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    probe_rec done, aborted, pending, queued;
    rec_init(&done);
    rec_init(&aborted);
    rec_init(&pending);
    rec_init(&queued);
    probe a = {&done, P_PEND, 2, 9}, b = {&aborted, P_PEND, 1000, 0}, c = {&pending, P_PEND, 1000, 0},
          d = {&queued, P_READY, 0, 0};
    weft_join_handle ha, hb;
    assert_int_equal(weft_spawn(rt, &probe_type, &a, &ha), 0);
    assert_int_equal(weft_spawn(rt, &probe_type, &b, &hb), 0);
    assert_int_equal(weft_spawn(rt, &probe_type, &c, NULL), 0);
    run_queued(rt, 1);
    weft_waker_wake_by_ref(&done.saved);
    run_queued(rt, 1);
    weft_waker_wake_by_ref(&done.saved);
    int out = 0;
    assert_int_equal(tu_join_on(rt, &ha, &out), 0);
    assert_int_equal(out, 9);
    assert_int_equal(rec_polls(&done), 3);
    assert_int_equal(rec_drops(&done), 1);
    assert_int_equal(weft_join_abort(&hb), 0);
    assert_int_equal(tu_join_on(rt, &hb, NULL), -ECANCELED);
    assert_int_equal(rec_drops(&aborted), 1);
    assert_int_equal(weft_spawn(rt, &probe_type, &d, NULL), 0); /* queued, never polled */
    weft_waker_drop(&done.saved);
    weft_waker_drop(&aborted.saved);
    /* pending keeps its saved waker until after the free: the clone keeps the
     * memory alive, the drop must still run exactly once at shutdown */
    weft_runtime_free(rt);
    assert_int_equal(rec_drops(&pending), 1);
    assert_int_equal(rec_polls(&pending), 1);
    assert_int_equal(rec_drops(&queued), 1);
    assert_int_equal(rec_polls(&queued), 0);
    assert_int_equal(rec_drops(&done), 1);
    assert_int_equal(rec_drops(&aborted), 1);
    weft_waker_wake_by_ref(&pending.saved); /* completed: harmless */
    weft_waker_drop(&pending.saved);        /* the last reference */
}

/* ---- the cooperative budget ---- */

#define BUDGET_TURNS 16
typedef struct budget_rec {
    int turns[BUDGET_TURNS]; /* leaf polls that returned READY, per poll of the task */
    int nturns;
    int last_budget, last_yielded;
    int total, result;
} budget_rec;

enum { LEAF_CHANNEL, LEAF_JOIN, LEAF_ONESHOT };

typedef struct budget_task {
    budget_rec *rec;
    int leaf;
    weft_channel *chan;
    weft_join_handle *handles;
    weft_oneshot **shots;
    int n, next;
} budget_task;

/* Polls an always-ready leaf in a loop and records how many were READY per turn. */
static weft_poll budget_poll(void *p, weft_context *cx, void *out)
{
    budget_task *st = p;
    budget_rec *r = st->rec;
    int count = 0;
    for (;;) {
        weft_poll lp;
        int res = 0;
        uint64_t v = 0;
        if (st->leaf == LEAF_CHANNEL) {
            lp = weft_channel_recv_poll(st->chan, cx, &v, &res);
        } else if (st->next >= st->n) {
            lp = WEFT_READY;
            res = -EPIPE;
        } else if (st->leaf == LEAF_JOIN) {
            int o = 0;
            lp = weft_join_poll(&st->handles[st->next], cx, &o, &res);
            if (lp == WEFT_READY && res == 0 && o == st->next) st->next++;
            else if (lp == WEFT_READY) res = -EIO;
        } else {
            lp = weft_oneshot_recv_poll(st->shots[st->next], cx, &v, &res);
            if (lp == WEFT_READY && res == 0 && v == (uint64_t)st->next) st->next++;
            else if (lp == WEFT_READY) res = -EIO;
        }
        if (lp == WEFT_PENDING) {
            if (r->nturns < BUDGET_TURNS) r->turns[r->nturns++] = count;
            r->last_budget = cx->budget;
            r->last_yielded = cx->yielded;
            return WEFT_PENDING;
        }
        if (res != 0) {
            if (r->nturns < BUDGET_TURNS) r->turns[r->nturns++] = count;
            r->result = res;
            (void)out;
            return WEFT_READY;
        }
        count++;
        r->total++;
    }
}
static const weft_future_type budget_type = {"budget", budget_poll, NULL, sizeof(budget_task), 0};

static void test_budget_channel_leaf(void **unused)
{
    (void)unused;
    /* budget 4: 10 ready values take turns of 4, 4, then 2 + the -EPIPE poll */
    weft_runtime *rt = tu_rt_new("fifo", 1, "budget=4", NULL);
    weft_channel *ch;
    assert_int_equal(weft_channel_new(16, &ch), 0);
    for (int i = 0; i < 10; i++) assert_int_equal(weft_channel_try_send(ch, (uint64_t)i), 0);
    weft_channel_sender_drop(ch);
    budget_rec r;
    memset(&r, 0, sizeof r);
    budget_task bt = {&r, LEAF_CHANNEL, ch, NULL, NULL, 0, 0};
    weft_worker_stats before, after;
    weft_runtime_stats(rt, NULL, 0, &before);
    tu_block_on_ok(rt, &budget_type, &bt, NULL);
    weft_runtime_stats(rt, NULL, 0, &after);
    assert_int_equal(r.nturns, 3);
    assert_int_equal(r.turns[0], 4);
    assert_int_equal(r.turns[1], 4);
    assert_int_equal(r.turns[2], 2);
    assert_int_equal(r.last_budget, 0);
    assert_int_equal(r.last_yielded, 1);
    assert_int_equal(r.total, 10);
    assert_int_equal(r.result, -EPIPE);
    assert_int_equal(after.polls - before.polls, 3);
    weft_channel_receiver_drop(ch);
    weft_runtime_free(rt);

    /* budget -1: never forced to yield */
    const int big = 10000;
    rt = tu_rt_new("fifo", 1, "budget=-1", NULL);
    assert_int_equal(weft_channel_new((size_t)big, &ch), 0);
    for (int i = 0; i < big; i++) assert_int_equal(weft_channel_try_send(ch, (uint64_t)i), 0);
    weft_channel_sender_drop(ch);
    memset(&r, 0, sizeof r);
    bt.chan = ch;
    weft_runtime_stats(rt, NULL, 0, &before);
    tu_block_on_ok(rt, &budget_type, &bt, NULL);
    weft_runtime_stats(rt, NULL, 0, &after);
    assert_int_equal(r.nturns, 1);
    assert_int_equal(r.turns[0], big);
    assert_int_equal(after.polls - before.polls, 1);
    weft_channel_receiver_drop(ch);
    weft_runtime_free(rt);

    /* budget 1: one leaf poll per turn */
    rt = tu_rt_new("fifo", 1, "budget=1", NULL);
    assert_int_equal(weft_channel_new(4, &ch), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(weft_channel_try_send(ch, (uint64_t)i), 0);
    weft_channel_sender_drop(ch);
    memset(&r, 0, sizeof r);
    bt.chan = ch;
    tu_block_on_ok(rt, &budget_type, &bt, NULL);
    assert_int_equal(r.nturns, 4); /* 1, 1, 1, then the -EPIPE turn with 0 values */
    for (int i = 0; i < 3; i++) assert_int_equal(r.turns[i], 1);
    assert_int_equal(r.turns[3], 0);
    weft_channel_receiver_drop(ch);
    weft_runtime_free(rt);
}

/* Children that complete at once, for the join-handle leaf. */
typedef struct ret_index {
    int i;
} ret_index;
static weft_poll ret_index_poll(void *p, weft_context *cx, void *out)
{
    (void)cx;
    *(int *)out = ((ret_index *)p)->i;
    return WEFT_READY;
}
static const weft_future_type ret_index_type = {"ret_index", ret_index_poll, NULL, sizeof(ret_index),
                                                sizeof(int)};

/*
 * future.h: "Leaf futures (timers, sockets, channels, join handles) call
 * weft_coop_proceed(cx) before doing work". A join handle of a finished task
 * and a oneshot that was already sent are always-ready leaves; looping over
 * them must still yield after `budget` leaf polls (Tokio's JoinHandle and
 * oneshot::Receiver charge the budget before looking at readiness).
 */
static void test_budget_join_and_oneshot_leaf(void **unused)
{
    (void)unused;
    enum { N = 10 };
    weft_runtime *rt = tu_rt_new("fifo", 1, "budget=4", NULL);
    weft_join_handle hs[N];
    for (int i = 0; i < N; i++) {
        ret_index ri = {i};
        assert_int_equal(weft_spawn(rt, &ret_index_type, &ri, &hs[i]), 0);
    }
    run_queued(rt, 1);
    for (int i = 0; i < N; i++) assert_true(weft_join_is_finished(&hs[i]));
    budget_rec r;
    memset(&r, 0, sizeof r);
    budget_task bt = {&r, LEAF_JOIN, NULL, hs, NULL, N, 0};
    tu_block_on_ok(rt, &budget_type, &bt, NULL);
    int join_turns = r.nturns, join_first = r.turns[0], join_total = r.total;

    weft_oneshot *shots[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(weft_oneshot_new(&shots[i]), 0);
        assert_int_equal(weft_oneshot_send(shots[i], (uint64_t)i), 0);
    }
    memset(&r, 0, sizeof r);
    budget_task bo = {&r, LEAF_ONESHOT, NULL, NULL, shots, N, 0};
    tu_block_on_ok(rt, &budget_type, &bo, NULL);
    int shot_turns = r.nturns, shot_first = r.turns[0], shot_total = r.total;
    weft_runtime_free(rt);

    assert_int_equal(join_total, N);
    assert_int_equal(shot_total, N);
    if (join_first != 4 || shot_first != 4)
        print_error("budget 4: ready join handles took %d per turn (%d turns), sent oneshots %d "
                    "(%d turns); expected 4 per turn, 3 turns\n",
                    join_first, join_turns, shot_first, shot_turns);
    assert_int_equal(join_first, 4);
    assert_int_equal(join_turns, 3);
    assert_int_equal(shot_first, 4);
    assert_int_equal(shot_turns, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_wake_transitions),
        cmocka_unit_test(test_state_join_waker_and_abort),
        cmocka_unit_test(test_state_illegal_transitions_abort),
        cmocka_unit_test(test_wake_while_running_repolls_once),
        cmocka_unit_test(test_two_wakes_before_poll_queue_once),
        cmocka_unit_test(test_abort_idle),
        cmocka_unit_test(test_abort_queued),
        cmocka_unit_test(test_abort_running_self),
        cmocka_unit_test(test_abort_running_from_thread),
        cmocka_unit_test(test_abort_after_completion_and_join_twice),
        cmocka_unit_test(test_detach_then_complete),
        cmocka_unit_test(test_output_sizes),
        cmocka_unit_test(test_drop_exactly_once),
        cmocka_unit_test(test_budget_channel_leaf),
        cmocka_unit_test(test_budget_join_and_oneshot_leaf),
        cmocka_unit_test(test_carried_yield_wake_and_abort),
        cmocka_unit_test(test_carried_yield_wake_polls_once),
        cmocka_unit_test(test_carried_yield_shutdown_drops),
        cmocka_unit_test(test_carried_yield_outside_wakes_mt),
        cmocka_unit_test(test_state_private_task),
        cmocka_unit_test(test_state_and_output_copy_sizes),
        cmocka_unit_test(test_private_tasks_all_schedulers),
    };
    return cmocka_run_group_tests_name("task", tests, NULL, NULL);
}
