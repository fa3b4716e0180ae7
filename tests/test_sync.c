/*
 * tests/test_sync.c - common/sync.c: oneshot, bounded channel, notify,
 * semaphore.
 *
 * Most checks poll the futures by hand with counting wakers (test_util.h),
 * so "woken exactly once", "not woken", "no waker leaked" and FIFO order are
 * exact and deterministic. The rest run real tasks and threads: a receiver
 * task fed by plain threads, 4 producers x 10 000 values with an exact sum
 * and per-producer order, and an async mutex (a semaphore of 1) guarding a
 * counter across yields on every registered scheduler.
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

#include "test_util.h"
#include "weft/runtime.h"
#include "weft/sync.h"

/* ---- oneshot ------------------------------------------------------------------------ */

static void test_oneshot_by_hand(void **unused)
{
    (void)unused;
    tu_cwaker c1, c2;
    tu_cw_init(&c1);
    tu_cw_init(&c2);
    weft_context cx1 = tu_cw_context(&c1), cx2 = tu_cw_context(&c2);
    weft_oneshot *o;
    uint64_t v = 0;
    int res = 1;

    /* send, then recv */
    assert_int_equal(weft_oneshot_new(&o), 0);
    assert_int_equal(weft_oneshot_send(o, 7), 0);
    assert_int_equal(weft_oneshot_recv_poll(o, &cx1, &v, &res), WEFT_READY);
    assert_int_equal(res, 0);
    assert_int_equal(v, 7);
    assert_int_equal(tu_cw_refs(&c1), 0);
    assert_int_equal(tu_cw_wakes(&c1), 0);

    /* recv (pending), then send: woken once, value delivered */
    assert_int_equal(weft_oneshot_new(&o), 0);
    assert_int_equal(weft_oneshot_recv_poll(o, &cx1, &v, &res), WEFT_PENDING);
    assert_int_equal(tu_cw_refs(&c1), 1);
    assert_int_equal(weft_oneshot_recv_poll(o, &cx1, &v, &res), WEFT_PENDING); /* same waker kept */
    assert_int_equal(tu_cw_refs(&c1), 1);
    assert_int_equal(weft_oneshot_recv_poll(o, &cx2, &v, &res), WEFT_PENDING); /* replaced */
    assert_int_equal(tu_cw_refs(&c1), 0);
    assert_int_equal(tu_cw_refs(&c2), 1);
    assert_int_equal(weft_oneshot_send(o, 9), 0);
    assert_int_equal(tu_cw_wakes(&c2), 1);
    assert_int_equal(tu_cw_wakes(&c1), 0);
    assert_int_equal(tu_cw_refs(&c2), 0);
    assert_int_equal(weft_oneshot_recv_poll(o, &cx2, &v, &res), WEFT_READY);
    assert_int_equal(res, 0);
    assert_int_equal(v, 9);

    /* sender dropped before recv: -EPIPE */
    assert_int_equal(weft_oneshot_new(&o), 0);
    weft_oneshot_sender_drop(o);
    v = 123;
    assert_int_equal(weft_oneshot_recv_poll(o, &cx1, &v, &res), WEFT_READY);
    assert_int_equal(res, -EPIPE);
    assert_int_equal(v, 123); /* untouched */

    /* sender dropped while the receiver waits: woken once, then -EPIPE */
    tu_cw_init(&c1);
    assert_int_equal(weft_oneshot_new(&o), 0);
    assert_int_equal(weft_oneshot_recv_poll(o, &cx1, &v, &res), WEFT_PENDING);
    weft_oneshot_sender_drop(o);
    assert_int_equal(tu_cw_wakes(&c1), 1);
    assert_int_equal(tu_cw_refs(&c1), 0);
    assert_int_equal(weft_oneshot_recv_poll(o, &cx1, &v, &res), WEFT_READY);
    assert_int_equal(res, -EPIPE);

    /* receiver dropped: send reports -EPIPE */
    assert_int_equal(weft_oneshot_new(&o), 0);
    weft_oneshot_receiver_drop(o);
    assert_int_equal(weft_oneshot_send(o, 1), -EPIPE);

    /* receiver dropped while its waker is registered: the waker is released, not woken */
    tu_cw_init(&c1);
    assert_int_equal(weft_oneshot_new(&o), 0);
    assert_int_equal(weft_oneshot_recv_poll(o, &cx1, &v, &res), WEFT_PENDING);
    weft_oneshot_receiver_drop(o);
    assert_int_equal(tu_cw_refs(&c1), 0);
    assert_int_equal(tu_cw_wakes(&c1), 0);
    assert_int_equal(weft_oneshot_send(o, 1), -EPIPE);

    /* both sides dropped without a value */
    assert_int_equal(weft_oneshot_new(&o), 0);
    weft_oneshot_sender_drop(o);
    weft_oneshot_receiver_drop(o);
    assert_int_equal(weft_oneshot_send(NULL, 1), -EINVAL);
    assert_int_equal(weft_oneshot_recv_poll(NULL, &cx1, &v, &res), WEFT_READY);
    assert_int_equal(res, -EINVAL);
}

typedef struct os_round {
    weft_oneshot *o;
    uint64_t value;
    int delay; /* sleep first: recv before send */
    int rc;
} os_round;

static void *os_sender(void *p)
{
    os_round *r = p;
    if (r->delay) tu_sleep_ms(1);
    r->rc = weft_oneshot_send(r->o, r->value);
    return NULL;
}

/* recv on this thread (parked between polls), send from another thread, racing */
static void test_oneshot_cross_thread(void **unused)
{
    (void)unused;
    const int rounds = TU_SCALE(2000, 500);
    tu_parker pk;
    tu_parker_init(&pk);
    weft_context cx = tu_parker_context(&pk);
    int ok = 0;
    for (int i = 0; i < rounds; i++) {
        os_round r = {NULL, 1000u + (uint64_t)i, i % 50 == 0, 1};
        assert_int_equal(weft_oneshot_new(&r.o), 0);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, os_sender, &r), 0);
        uint64_t v = 0;
        int res = 1;
        while (weft_oneshot_recv_poll(r.o, &cx, &v, &res) == WEFT_PENDING) tu_parker_wait(&pk);
        pthread_join(th, NULL);
        ok += res == 0 && v == r.value && r.rc == 0;
    }
    assert_int_equal(ok, rounds);
    tu_parker_destroy(&pk);
}

/* a task on a runtime receives; a plain thread sends after the task waits */
typedef struct os_task {
    weft_oneshot *o;
    _Atomic int *waiting;
} os_task;
static weft_poll os_task_poll(void *p, weft_context *cx, void *out)
{
    os_task *st = p;
    uint64_t v = 0;
    int res = 1;
    if (weft_oneshot_recv_poll(st->o, cx, &v, &res) == WEFT_PENDING) {
        /* the waker is registered: now the thread may send */
        atomic_store_explicit(st->waiting, 1, memory_order_release); /* pairs with the sender's acquire */
        return WEFT_PENDING;
    }
    *(uint64_t *)out = res == 0 ? v : 0;
    return WEFT_READY;
}
static const weft_future_type os_task_type = {"os_task", os_task_poll, NULL, sizeof(os_task), sizeof(uint64_t)};

typedef struct late_sender {
    weft_oneshot *o;
    _Atomic int *waiting;
    int rc;
} late_sender;
static void *late_send(void *p)
{
    late_sender *s = p;
    if (!tu_wait_flag(s->waiting, 10000)) {
        s->rc = -ETIMEDOUT;
        weft_oneshot_sender_drop(s->o);
        return NULL;
    }
    tu_sleep_ms(20); /* let the poll return and the worker park: the wake is then remote */
    s->rc = weft_oneshot_send(s->o, 4242);
    return NULL;
}

static void test_oneshot_task_and_thread(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    _Atomic int waiting;
    atomic_init(&waiting, 0);
    os_task st = {NULL, &waiting};
    assert_int_equal(weft_oneshot_new(&st.o), 0);
    late_sender ls = {st.o, &waiting, 1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, late_send, &ls), 0);
    uint64_t out = 0;
    tu_block_on_ok(rt, &os_task_type, &st, &out);
    pthread_join(th, NULL);
    assert_int_equal(ls.rc, 0);
    assert_int_equal(out, 4242);
    weft_worker_stats s;
    weft_runtime_stats(rt, NULL, 0, &s);
    assert_int_equal(s.polls, 2);        /* waited, then woken once from the thread */
    assert_int_equal(s.remote_wakes, 1); /* the sender's wake came from outside */
    weft_runtime_free(rt);
}

/* ---- bounded channel --------------------------------------------------------------------- */

static void test_channel_basic(void **unused)
{
    (void)unused;
    weft_channel *c;
    assert_int_equal(weft_channel_new(0, &c), -EINVAL);
    assert_int_equal(weft_channel_new((1u << 24) + 1, &c), -EINVAL);
    assert_int_equal(weft_channel_new(1, NULL), -EINVAL);
    uint64_t v = 0;

    /* capacity 1 */
    assert_int_equal(weft_channel_new(1, &c), 0);
    assert_int_equal(weft_channel_try_recv(c, &v), -EAGAIN);
    assert_int_equal(weft_channel_try_send(c, 1), 0);
    assert_int_equal(weft_channel_try_send(c, 2), -EAGAIN);
    assert_int_equal(weft_channel_len(c), 1);
    assert_int_equal(weft_channel_try_recv(c, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(weft_channel_try_recv(c, &v), -EAGAIN);
    assert_int_equal(weft_channel_len(c), 0);
    weft_channel_receiver_drop(c);
    weft_channel_sender_drop(c);

    /* capacity 4: FIFO across many wrap-arounds */
    assert_int_equal(weft_channel_new(4, &c), 0);
    for (int i = 0; i < 4; i++) assert_int_equal(weft_channel_try_send(c, (uint64_t)i), 0);
    assert_int_equal(weft_channel_try_send(c, 99), -EAGAIN);
    assert_int_equal(weft_channel_len(c), 4);
    uint64_t next_in = 4, next_out = 0;
    for (int round = 0; round < 100; round++) {
        int k = 1 + round % 4;
        for (int j = 0; j < k; j++) {
            assert_int_equal(weft_channel_try_recv(c, &v), 0);
            assert_int_equal(v, next_out++);
        }
        for (int j = 0; j < k; j++) assert_int_equal(weft_channel_try_send(c, next_in++), 0);
        assert_int_equal(weft_channel_try_send(c, 99), -EAGAIN);
    }
    while (weft_channel_try_recv(c, &v) == 0) assert_int_equal(v, next_out++);
    assert_int_equal(next_out, next_in);

    /* a waiting receiver is woken once by a send */
    tu_cwaker cw;
    tu_cw_init(&cw);
    weft_context cx = tu_cw_context(&cw);
    int res = 1;
    assert_int_equal(weft_channel_recv_poll(c, &cx, &v, &res), WEFT_PENDING);
    assert_int_equal(weft_channel_recv_poll(c, &cx, &v, &res), WEFT_PENDING);
    assert_int_equal(tu_cw_refs(&cw), 1);
    assert_int_equal(weft_channel_try_send(c, 77), 0);
    assert_int_equal(tu_cw_wakes(&cw), 1);
    assert_int_equal(tu_cw_refs(&cw), 0);
    assert_int_equal(weft_channel_try_send(c, 78), 0);
    assert_int_equal(tu_cw_wakes(&cw), 1); /* no waker stored any more */
    assert_int_equal(weft_channel_recv_poll(c, &cx, &v, &res), WEFT_READY);
    assert_int_equal(res, 0);
    assert_int_equal(v, 77);
    assert_int_equal(weft_channel_recv_poll(c, &cx, &v, &res), WEFT_READY);
    assert_int_equal(v, 78);
    weft_channel_sender_drop(c);
    weft_channel_receiver_drop(c);
}

/* Blocked senders resume in order, one per freed slot: the channel is full
 * with 0..cap-1 and K senders wait with 100..100+K-1; each receive wakes
 * exactly the head waiter, which refills the freed slot, so the receiver
 * sees 0..cap-1 then 100..100+K-1 whatever the capacity. */
static void blocked_senders_in_order(size_t cap)
{
    enum { K = 3 };
    weft_channel *c;
    assert_int_equal(weft_channel_new(cap, &c), 0);
    for (size_t i = 0; i < cap; i++) assert_int_equal(weft_channel_try_send(c, i), 0);
    tu_cwaker cw[K];
    weft_context cx[K];
    weft_channel_send op[K];
    int res[K];
    for (int i = 0; i < K; i++) {
        tu_cw_init(&cw[i]);
        cx[i] = tu_cw_context(&cw[i]);
        weft_channel_send_init(&op[i], c, 100 + (uint64_t)i);
        res[i] = 1;
        assert_int_equal(weft_channel_send_poll(&op[i], &cx[i], &res[i]), WEFT_PENDING);
        assert_int_equal(tu_cw_refs(&cw[i]), 1);
    }
    assert_int_equal(weft_channel_len(c), cap);
    /* a newcomer may not overtake the queue */
    assert_int_equal(weft_channel_try_send(c, 999), -EAGAIN);

    const size_t total = cap + K;
    for (size_t idx = 0; idx < total; idx++) {
        uint64_t v = 0, want = idx < cap ? idx : 100 + (idx - cap);
        assert_int_equal(weft_channel_try_recv(c, &v), 0);
        assert_int_equal(v, want);
        if (idx >= K) continue;
        /* waiter idx is the head now: it alone was woken */
        for (int j = 0; j < K; j++) assert_int_equal(tu_cw_wakes(&cw[j]), j <= (int)idx ? 1 : 0);
        /* the one behind it stays pending although there is room */
        if (idx + 1 < K)
            assert_int_equal(weft_channel_send_poll(&op[idx + 1], &cx[idx + 1], &res[idx + 1]), WEFT_PENDING);
        assert_int_equal(weft_channel_send_poll(&op[idx], &cx[idx], &res[idx]), WEFT_READY);
        assert_int_equal(res[idx], 0);
        assert_int_equal(tu_cw_refs(&cw[idx]), 0);
        assert_int_equal(weft_channel_len(c), cap);
    }
    uint64_t v;
    assert_int_equal(weft_channel_try_recv(c, &v), -EAGAIN);
    for (int j = 0; j < K; j++) {
        assert_int_equal(tu_cw_wakes(&cw[j]), 1); /* each sender woken exactly once */
        assert_int_equal(tu_cw_refs(&cw[j]), 0);
        weft_channel_send_drop(&op[j]);
    }
    weft_channel_sender_drop(c);
    assert_int_equal(weft_channel_try_recv(c, &v), -EPIPE);
    weft_channel_receiver_drop(c);
}

static void test_channel_blocked_senders_fifo(void **unused)
{
    (void)unused;
    blocked_senders_in_order(1);
    blocked_senders_in_order(4);
}

static void test_channel_close(void **unused)
{
    (void)unused;
    weft_channel *c;
    uint64_t v;
    int res = 1;
    tu_cwaker rw;
    tu_cw_init(&rw);
    weft_context rcx = tu_cw_context(&rw);

    /* every sender gone: drain, then -EPIPE */
    assert_int_equal(weft_channel_new(4, &c), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(weft_channel_try_send(c, (uint64_t)i), 0);
    weft_channel_sender_clone(c);
    weft_channel_sender_drop(c);
    assert_int_equal(weft_channel_try_recv(c, &v), 0); /* one sender left: still open */
    assert_int_equal(v, 0);
    weft_channel_sender_drop(c);
    assert_int_equal(weft_channel_try_recv(c, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(weft_channel_recv_poll(c, &rcx, &v, &res), WEFT_READY);
    assert_int_equal(res, 0);
    assert_int_equal(v, 2);
    assert_int_equal(weft_channel_try_recv(c, &v), -EPIPE);
    assert_int_equal(weft_channel_recv_poll(c, &rcx, &v, &res), WEFT_READY);
    assert_int_equal(res, -EPIPE);
    assert_int_equal(tu_cw_refs(&rw), 0);
    weft_channel_receiver_drop(c);

    /* a waiting receiver is woken by the last sender's drop only */
    assert_int_equal(weft_channel_new(2, &c), 0);
    weft_channel_sender_clone(c);
    weft_channel_sender_clone(c);
    assert_int_equal(weft_channel_recv_poll(c, &rcx, &v, &res), WEFT_PENDING);
    weft_channel_sender_drop(c);
    weft_channel_sender_drop(c);
    assert_int_equal(tu_cw_wakes(&rw), 0);
    weft_channel_sender_drop(c);
    assert_int_equal(tu_cw_wakes(&rw), 1);
    assert_int_equal(tu_cw_refs(&rw), 0);
    assert_int_equal(weft_channel_recv_poll(c, &rcx, &v, &res), WEFT_READY);
    assert_int_equal(res, -EPIPE);
    weft_channel_receiver_drop(c);

    /* receiver dropped: blocked senders are woken once each and get -EPIPE */
    enum { K = 3 };
    assert_int_equal(weft_channel_new(1, &c), 0);
    assert_int_equal(weft_channel_try_send(c, 5), 0);
    tu_cwaker cw[K];
    weft_context cx[K];
    weft_channel_send op[K];
    int r[K] = {1, 1, 1};
    for (int i = 0; i < K; i++) {
        tu_cw_init(&cw[i]);
        cx[i] = tu_cw_context(&cw[i]);
        weft_channel_send_init(&op[i], c, (uint64_t)i);
        assert_int_equal(weft_channel_send_poll(&op[i], &cx[i], &r[i]), WEFT_PENDING);
    }
    weft_channel_receiver_drop(c);
    for (int i = 0; i < K; i++) {
        assert_int_equal(tu_cw_wakes(&cw[i]), 1);
        assert_int_equal(tu_cw_refs(&cw[i]), 0);
        r[i] = 1;
        assert_int_equal(weft_channel_send_poll(&op[i], &cx[i], &r[i]), WEFT_READY);
        assert_int_equal(r[i], -EPIPE);
        weft_channel_send_drop(&op[i]);
    }
    assert_int_equal(weft_channel_try_send(c, 6), -EPIPE);
    {
        weft_channel_send fresh;
        weft_channel_send_init(&fresh, c, 7);
        int fr = 1;
        assert_int_equal(weft_channel_send_poll(&fresh, &cx[0], &fr), WEFT_READY);
        assert_int_equal(fr, -EPIPE);
        weft_channel_send_drop(&fresh);
    }
    weft_channel_sender_drop(c); /* last owner: frees */

    /* a queued send dropped before its turn leaves the queue */
    assert_int_equal(weft_channel_new(1, &c), 0);
    assert_int_equal(weft_channel_try_send(c, 5), 0);
    for (int i = 0; i < 2; i++) {
        tu_cw_init(&cw[i]);
        weft_channel_send_init(&op[i], c, 10 + (uint64_t)i);
        assert_int_equal(weft_channel_send_poll(&op[i], &cx[i], &r[i]), WEFT_PENDING);
    }
    weft_channel_send_drop(&op[0]);
    assert_int_equal(tu_cw_refs(&cw[0]), 0);
    assert_int_equal(weft_channel_try_recv(c, &v), 0);
    assert_int_equal(tu_cw_wakes(&cw[0]), 0);
    assert_int_equal(tu_cw_wakes(&cw[1]), 1); /* the next in line */
    assert_int_equal(weft_channel_send_poll(&op[1], &cx[1], &r[1]), WEFT_READY);
    assert_int_equal(r[1], 0);
    assert_int_equal(weft_channel_try_recv(c, &v), 0);
    assert_int_equal(v, 11);
    weft_channel_send_drop(&op[1]);
    weft_channel_sender_drop(c);
    weft_channel_receiver_drop(c);
}

/*
 * A sender woken for a free slot and dropped before it ran must pass the
 * wake on: try_send refuses while senders are queued, so the sender behind
 * it would otherwise wait for a wake that never comes.
 */
static void test_channel_woken_sender_dropped_passes_wake_on(void **unused)
{
    (void)unused;
    weft_channel *c;
    uint64_t v = 0;
    assert_int_equal(weft_channel_new(1, &c), 0);
    assert_int_equal(weft_channel_try_send(c, 5), 0);
    tu_cwaker cw[2];
    weft_context cx[2];
    weft_channel_send op[2];
    int r[2] = {1, 1};
    for (int i = 0; i < 2; i++) {
        tu_cw_init(&cw[i]);
        cx[i] = tu_cw_context(&cw[i]);
        weft_channel_send_init(&op[i], c, 10 + (uint64_t)i);
        assert_int_equal(weft_channel_send_poll(&op[i], &cx[i], &r[i]), WEFT_PENDING);
    }
    assert_int_equal(weft_channel_try_recv(c, &v), 0); /* room for one: the head is woken */
    assert_int_equal(v, 5);
    assert_int_equal(tu_cw_wakes(&cw[0]), 1);
    assert_int_equal(tu_cw_wakes(&cw[1]), 0);
    weft_channel_send_drop(&op[0]); /* cancelled after its wake, before it ran */
    assert_int_equal(tu_cw_refs(&cw[0]), 0);
    if (tu_cw_wakes(&cw[1]) != 1)
        print_error("the dropped sender swallowed the room-available wake (next sender woken %d times)\n",
                    tu_cw_wakes(&cw[1]));
    assert_int_equal(tu_cw_wakes(&cw[1]), 1);
    assert_int_equal(weft_channel_send_poll(&op[1], &cx[1], &r[1]), WEFT_READY);
    assert_int_equal(r[1], 0);
    assert_int_equal(tu_cw_refs(&cw[1]), 0);
    assert_int_equal(weft_channel_try_recv(c, &v), 0);
    assert_int_equal(v, 11);
    weft_channel_send_drop(&op[1]);
    assert_int_equal(tu_cw_wakes(&cw[0]), 1);
    assert_int_equal(tu_cw_wakes(&cw[1]), 1);
    weft_channel_sender_drop(c);
    weft_channel_receiver_drop(c);
}

/* ---- 4 producers x N values: exact sum, per-producer order ---- */

#define NPROD 4
#define VAL(p, i) (((uint64_t)(p) << 32) | (uint64_t)(i))

typedef struct consumer {
    int coro;
    weft_channel *c;
    uint64_t v;
    int res;
    uint64_t sum, count;
    uint64_t next[NPROD];
    int order_ok;
} consumer;
static weft_poll consumer_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    consumer *st = p;
    WEFT_CORO_BEGIN(st);
    st->order_ok = 1;
    for (;;) {
        WEFT_AWAIT(st, weft_channel_recv_poll(st->c, cx, &st->v, &st->res));
        if (st->res != 0) break;
        st->sum += st->v;
        st->count++;
        uint32_t prod = (uint32_t)(st->v >> 32), i = (uint32_t)st->v;
        if (prod >= NPROD || st->next[prod] != i) st->order_ok = 0;
        else st->next[prod]++;
    }
    weft_channel_receiver_drop(st->c);
    WEFT_CORO_RETURN(st, out, consumer, *st);
    WEFT_CORO_END(st);
}
static const weft_future_type consumer_type = {"consumer", consumer_poll, NULL, sizeof(consumer), sizeof(consumer)};

typedef struct producer_arg {
    weft_channel *c;
    int p, n, errors;
    tu_parker pk; /* outlives the thread: a receiver may still hold a clone of its waker */
} producer_arg;

static void *producer_thread(void *arg)
{
    producer_arg *a = arg;
    weft_context cx = tu_parker_context(&a->pk);
    for (int i = 0; i < a->n; i++) {
        weft_channel_send op;
        weft_channel_send_init(&op, a->c, VAL(a->p, i));
        int res = 1;
        while (weft_channel_send_poll(&op, &cx, &res) == WEFT_PENDING) tu_parker_wait(&a->pk);
        weft_channel_send_drop(&op);
        if (res) a->errors++;
    }
    weft_channel_sender_drop(a->c);
    return NULL;
}

typedef struct producer_task {
    int coro;
    weft_channel_send op;
    weft_channel *c;
    int p, n, i, res, errors;
    int *errors_out;
} producer_task;
static weft_poll producer_task_poll(void *pp, weft_context *cx, void *out)
{
    (void)out;
    producer_task *st = pp;
    WEFT_CORO_BEGIN(st);
    for (st->i = 0; st->i < st->n; st->i++) {
        weft_channel_send_init(&st->op, st->c, VAL(st->p, st->i));
        WEFT_AWAIT(st, weft_channel_send_poll(&st->op, cx, &st->res));
        weft_channel_send_drop(&st->op);
        if (st->res) st->errors++;
    }
    *st->errors_out += st->errors;
    weft_channel_sender_drop(st->c);
    st->c = NULL;
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static void producer_task_drop(void *pp)
{
    producer_task *st = pp;
    if (st->c) {
        weft_channel_send_drop(&st->op);
        weft_channel_sender_drop(st->c);
    }
}
static const weft_future_type producer_task_type = {"producer", producer_task_poll, producer_task_drop,
                                                    sizeof(producer_task), 0};

static void check_consumer(const consumer *got, int n)
{
    uint64_t want = 0;
    for (int p = 0; p < NPROD; p++)
        for (int i = 0; i < n; i++) want += VAL(p, i);
    assert_int_equal(got->count, (uint64_t)NPROD * (uint64_t)n);
    assert_int_equal(got->sum, want);
    assert_int_equal(got->order_ok, 1);
    for (int p = 0; p < NPROD; p++) assert_int_equal(got->next[p], (uint64_t)n);
}

static void test_channel_4_producers(void **unused)
{
    (void)unused;
    const int n = TU_SCALE(10000, 5000);
    size_t caps[] = {1, 4};
    for (size_t k = 0; k < 2; k++) {
        /* producers on plain threads, the consumer a task on fifo */
        weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
        weft_channel *c;
        assert_int_equal(weft_channel_new(caps[k], &c), 0);
        for (int p = 1; p < NPROD; p++) weft_channel_sender_clone(c);
        producer_arg pa[NPROD];
        pthread_t th[NPROD];
        for (int p = 0; p < NPROD; p++) {
            pa[p].c = c;
            pa[p].p = p;
            pa[p].n = n;
            pa[p].errors = 0;
            tu_parker_init(&pa[p].pk);
            assert_int_equal(pthread_create(&th[p], NULL, producer_thread, &pa[p]), 0);
        }
        consumer init, got;
        memset(&init, 0, sizeof init);
        init.c = c;
        tu_block_on_ok(rt, &consumer_type, &init, &got);
        for (int p = 0; p < NPROD; p++) {
            pthread_join(th[p], NULL);
            tu_parker_destroy(&pa[p].pk);
            assert_int_equal(pa[p].errors, 0);
        }
        check_consumer(&got, n);

        /* producers and consumer all tasks on the same fifo worker */
        assert_int_equal(weft_channel_new(caps[k], &c), 0);
        for (int p = 1; p < NPROD; p++) weft_channel_sender_clone(c);
        int errors = 0;
        for (int p = 0; p < NPROD; p++) {
            producer_task pt;
            memset(&pt, 0, sizeof pt);
            pt.c = c;
            pt.p = p;
            pt.n = n;
            pt.errors_out = &errors;
            assert_int_equal(weft_spawn(rt, &producer_task_type, &pt, NULL), 0);
        }
        memset(&init, 0, sizeof init);
        init.c = c;
        tu_block_on_ok(rt, &consumer_type, &init, &got);
        assert_int_equal(errors, 0);
        check_consumer(&got, n);
        weft_runtime_free(rt);
    }
}

/* ---- notify ------------------------------------------------------------------------------- */

static void test_notify(void **unused)
{
    (void)unused;
    weft_notify *n;
    assert_int_equal(weft_notify_new(&n), 0);
    enum { K = 4 };
    tu_cwaker cw[K];
    weft_context cx[K];
    weft_notified op[K];
    for (int i = 0; i < K; i++) {
        tu_cw_init(&cw[i]);
        cx[i] = tu_cw_context(&cw[i]);
    }

    /* notify_one before anyone waits stores one permit, however many calls */
    weft_notify_one(n);
    weft_notify_one(n);
    weft_notify_one(n);
    weft_notified_init(&op[0], n);
    assert_int_equal(weft_notified_poll(&op[0], &cx[0]), WEFT_READY);
    assert_int_equal(tu_cw_refs(&cw[0]), 0);
    weft_notified_drop(&op[0]);
    weft_notified_init(&op[1], n);
    assert_int_equal(weft_notified_poll(&op[1], &cx[1]), WEFT_PENDING);
    assert_int_equal(tu_cw_refs(&cw[1]), 1);
    weft_notify_one(n);
    assert_int_equal(tu_cw_wakes(&cw[1]), 1);
    assert_int_equal(weft_notified_poll(&op[1], &cx[1]), WEFT_READY);
    weft_notified_drop(&op[1]);
    assert_int_equal(tu_cw_refs(&cw[1]), 0);

    /* notify_one wakes the waiters in FIFO order, one per call */
    for (int i = 0; i < 3; i++) {
        tu_cw_init(&cw[i]);
        weft_notified_init(&op[i], n);
        assert_int_equal(weft_notified_poll(&op[i], &cx[i]), WEFT_PENDING);
    }
    for (int k = 0; k < 3; k++) {
        weft_notify_one(n);
        for (int i = 0; i < 3; i++) assert_int_equal(tu_cw_wakes(&cw[i]), i <= k ? 1 : 0);
        assert_int_equal(weft_notified_poll(&op[k], &cx[k]), WEFT_READY);
        weft_notified_drop(&op[k]);
    }

    /* notify_all wakes every current waiter once and stores nothing */
    for (int i = 0; i < 3; i++) {
        tu_cw_init(&cw[i]);
        weft_notified_init(&op[i], n);
        assert_int_equal(weft_notified_poll(&op[i], &cx[i]), WEFT_PENDING);
    }
    weft_notify_all(n);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tu_cw_wakes(&cw[i]), 1);
        assert_int_equal(tu_cw_refs(&cw[i]), 0);
    }
    tu_cw_init(&cw[3]);
    weft_notified_init(&op[3], n); /* a later waiter is not woken by it */
    assert_int_equal(weft_notified_poll(&op[3], &cx[3]), WEFT_PENDING);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(weft_notified_poll(&op[i], &cx[i]), WEFT_READY);
        weft_notified_drop(&op[i]);
    }
    weft_notify_all(n); /* wakes op[3] only */
    assert_int_equal(tu_cw_wakes(&cw[3]), 1);
    for (int i = 0; i < 3; i++) assert_int_equal(tu_cw_wakes(&cw[i]), 1);
    assert_int_equal(weft_notified_poll(&op[3], &cx[3]), WEFT_READY);
    weft_notified_drop(&op[3]);
    weft_notify_all(n); /* nobody waits: no permit */
    tu_cw_init(&cw[0]);
    weft_notified_init(&op[0], n);
    assert_int_equal(weft_notified_poll(&op[0], &cx[0]), WEFT_PENDING);

    /* a waiter dropped before it was notified leaves the queue */
    tu_cw_init(&cw[1]);
    weft_notified_init(&op[1], n);
    assert_int_equal(weft_notified_poll(&op[1], &cx[1]), WEFT_PENDING);
    weft_notified_drop(&op[0]);
    assert_int_equal(tu_cw_refs(&cw[0]), 0);
    weft_notify_one(n);
    assert_int_equal(tu_cw_wakes(&cw[0]), 0);
    assert_int_equal(tu_cw_wakes(&cw[1]), 1);
    assert_int_equal(weft_notified_poll(&op[1], &cx[1]), WEFT_READY);
    weft_notified_drop(&op[1]);
    weft_notified_drop(&op[1]); /* idempotent */
    weft_notify_free(n);
}

/*
 * sync.h promises Tokio's notify_one semantics. In Tokio, a Notified future
 * that was picked by notify_one and is dropped before it observed the
 * notification passes it on (to the next waiter, or as the stored permit);
 * otherwise cancelling a waiter loses a wake-up and the others can hang.
 */
static void test_notify_one_not_lost_when_waiter_dropped(void **unused)
{
    (void)unused;
    weft_notify *n;
    assert_int_equal(weft_notify_new(&n), 0);
    tu_cwaker a, b, c;
    tu_cw_init(&a);
    tu_cw_init(&b);
    tu_cw_init(&c);
    weft_context cxa = tu_cw_context(&a), cxb = tu_cw_context(&b), cxc = tu_cw_context(&c);
    weft_notified wa, wb, wc;
    weft_notified_init(&wa, n);
    weft_notified_init(&wb, n);
    assert_int_equal(weft_notified_poll(&wa, &cxa), WEFT_PENDING);
    assert_int_equal(weft_notified_poll(&wb, &cxb), WEFT_PENDING);
    weft_notify_one(n);
    assert_int_equal(tu_cw_wakes(&a), 1);
    weft_notified_drop(&wa); /* cancelled before it saw the notification */
    /* the notification went on to b, or was kept as the permit */
    int b_woken = tu_cw_wakes(&b);
    weft_poll pb = weft_notified_poll(&wb, &cxb);
    weft_notified_drop(&wb);
    weft_notified_init(&wc, n);
    weft_poll pc = weft_notified_poll(&wc, &cxc);
    weft_notified_drop(&wc);
    weft_notify_free(n);
    if (pb != WEFT_READY && pc != WEFT_READY)
        print_error("notify_one's notification vanished with the dropped waiter "
                    "(b woken %d, b %s, a new waiter %s)\n",
                    b_woken, pb == WEFT_READY ? "READY" : "PENDING", pc == WEFT_READY ? "READY" : "PENDING");
    assert_true(pb == WEFT_READY || pc == WEFT_READY);
    if (pb == WEFT_READY) assert_int_equal(b_woken, 1);
    assert_int_equal(tu_cw_refs(&b), 0);
    assert_int_equal(tu_cw_refs(&c), 0);
}

/*
 * notify_all with more waiters than one wake batch (32) releases its lock
 * between batches; waiters it has not reached yet may be dropped (and their
 * memory freed) in that window. Each waiter here is its own allocation, so
 * ASan sees any access to a dropped one.
 *
 * Deterministic: the first waiter's waker, run by notify_all between its
 * batches, drops three waiters of the second batch (the next one it would
 * take, one behind it, the last). Threaded: another thread drops every
 * third waiter while notify_all runs.
 */
enum { NA_N = 40 };

typedef struct na_dropper {
    tu_cwaker cw;
    weft_notified **ops;
    const int *victims;
    int nvictims;
    int fired;
} na_dropper;

static const weft_waker_vtable *na_vtable(void);
static weft_waker na_clone(const void *d)
{
    tu_cw_clone(&((na_dropper *)d)->cw);
    return (weft_waker){na_vtable(), d};
}
static void na_fire(const void *d)
{
    na_dropper *x = (na_dropper *)d;
    tu_cw_wake_by_ref(&x->cw);
    if (x->fired++) return;
    for (int i = 0; i < x->nvictims; i++) {
        weft_notified *op = x->ops[x->victims[i]];
        weft_notified_drop(op);
        free(op);
        x->ops[x->victims[i]] = NULL;
    }
}
static void na_wake(const void *d)
{
    na_fire(d);
    tu_cw_drop(&((na_dropper *)d)->cw);
}
static void na_drop(const void *d) { tu_cw_drop(&((na_dropper *)d)->cw); }
static const weft_waker_vtable *na_vtable(void)
{
    static const weft_waker_vtable vt = {na_clone, na_wake, na_fire, na_drop};
    return &vt;
}

static void test_notify_all_waiters_dropped_between_batches(void **unused)
{
    (void)unused;
    weft_notify *n;
    assert_int_equal(weft_notify_new(&n), 0);
    static const int victims[] = {32, 33, NA_N - 1};
    weft_notified *ops[NA_N];
    tu_cwaker cw[NA_N];
    na_dropper dropper = {.ops = ops, .victims = victims, .nvictims = 3, .fired = 0};
    tu_cw_init(&dropper.cw);
    for (int i = 0; i < NA_N; i++) {
        tu_cw_init(&cw[i]);
        weft_context cx = i == 0 ? (weft_context){{na_vtable(), &dropper}, NULL, NULL, -1, 0, NULL}
                                 : tu_cw_context(&cw[i]);
        ops[i] = malloc(sizeof *ops[i]);
        assert_non_null(ops[i]);
        weft_notified_init(ops[i], n);
        assert_int_equal(weft_notified_poll(ops[i], &cx), WEFT_PENDING);
    }
    weft_notify_all(n);
    assert_int_equal(dropper.fired, 1);
    assert_int_equal(tu_cw_refs(&dropper.cw), 0);
    for (int i = 1; i < NA_N; i++) {
        bool victim = ops[i] == NULL;
        assert_int_equal(tu_cw_wakes(&cw[i]), victim ? 0 : 1); /* dropped before its turn: not woken */
        assert_int_equal(tu_cw_refs(&cw[i]), 0);
    }
    /* the survivors were notified; nothing is left queued or stored */
    for (int i = 0; i < NA_N; i++) {
        if (!ops[i]) continue;
        weft_context cx = tu_cw_context(&cw[i]);
        assert_int_equal(weft_notified_poll(ops[i], &cx), WEFT_READY);
        weft_notified_drop(ops[i]);
        free(ops[i]);
    }
    tu_cwaker late;
    tu_cw_init(&late);
    weft_context lcx = tu_cw_context(&late);
    weft_notified lop;
    weft_notified_init(&lop, n);
    assert_int_equal(weft_notified_poll(&lop, &lcx), WEFT_PENDING);
    weft_notify_one(n); /* the list is intact: the one waiter left is the late one */
    assert_int_equal(tu_cw_wakes(&late), 1);
    assert_int_equal(weft_notified_poll(&lop, &lcx), WEFT_READY);
    weft_notified_drop(&lop);
    weft_notify_free(n);
}

enum { NAT_N = 96 };
typedef struct nat_arg {
    weft_notified **ops;
    _Atomic int go;
} nat_arg;
static void *nat_dropper(void *p)
{
    nat_arg *a = p;
    while (!atomic_load_explicit(&a->go, memory_order_acquire)) {
    }
    for (int i = NAT_N - 1; i >= 0; i -= 3) { /* from the tail: the waiters notify_all reaches last */
        weft_notified_drop(a->ops[i]);
        free(a->ops[i]);
    }
    return NULL;
}

static void test_notify_all_waiters_dropped_concurrently(void **unused)
{
    (void)unused;
    const int rounds = TU_SCALE(300, 60);
    weft_notify *n;
    assert_int_equal(weft_notify_new(&n), 0);
    weft_notified *ops[NAT_N];
    tu_cwaker cw[NAT_N];
    int bad = 0;
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < NAT_N; i++) {
            tu_cw_init(&cw[i]);
            weft_context cx = tu_cw_context(&cw[i]);
            ops[i] = malloc(sizeof *ops[i]);
            assert_non_null(ops[i]);
            weft_notified_init(ops[i], n);
            assert_int_equal(weft_notified_poll(ops[i], &cx), WEFT_PENDING);
        }
        nat_arg a = {ops, 0};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, nat_dropper, &a), 0);
        atomic_store_explicit(&a.go, 1, memory_order_release);
        weft_notify_all(n);
        pthread_join(th, NULL);
        for (int i = 0; i < NAT_N; i++) {
            bool dropped = (NAT_N - 1 - i) % 3 == 0;
            if (tu_cw_refs(&cw[i]) != 0) bad++;
            if (dropped) {
                if (tu_cw_wakes(&cw[i]) > 1) bad++;
                continue;
            }
            if (tu_cw_wakes(&cw[i]) != 1) bad++;
            weft_context cx = tu_cw_context(&cw[i]);
            if (weft_notified_poll(ops[i], &cx) != WEFT_READY) bad++;
            weft_notified_drop(ops[i]);
            free(ops[i]);
        }
    }
    assert_int_equal(bad, 0);
    weft_notify_free(n);
}

/* ---- semaphore ----------------------------------------------------------------------------- */

static void test_semaphore_by_hand(void **unused)
{
    (void)unused;
    weft_semaphore *s;
    assert_int_equal(weft_semaphore_new(0, &s), 0);
    enum { K = 3 };
    tu_cwaker cw[K];
    weft_context cx[K];
    weft_semaphore_acquire op[K];
    uint64_t want[K] = {2, 1, 1};
    for (int i = 0; i < K; i++) {
        tu_cw_init(&cw[i]);
        cx[i] = tu_cw_context(&cw[i]);
        weft_semaphore_acquire_init(&op[i], s, want[i]);
        assert_int_equal(weft_semaphore_acquire_poll(&op[i], &cx[i]), WEFT_PENDING);
    }
    /* FIFO: one permit is not enough for the head (2), and those behind wait */
    weft_semaphore_release(s, 1);
    for (int i = 0; i < K; i++) assert_int_equal(tu_cw_wakes(&cw[i]), 0);
    assert_int_equal(weft_semaphore_available(s), 1);
    assert_int_equal(weft_semaphore_try_acquire(s, 1), -EAGAIN); /* no barging past waiters */
    assert_int_equal(weft_semaphore_acquire_poll(&op[1], &cx[1]), WEFT_PENDING);
    weft_semaphore_release(s, 1);
    assert_int_equal(tu_cw_wakes(&cw[0]), 1);
    assert_int_equal(tu_cw_wakes(&cw[1]), 0);
    assert_int_equal(weft_semaphore_available(s), 0);
    assert_int_equal(weft_semaphore_acquire_poll(&op[0], &cx[0]), WEFT_READY);
    weft_semaphore_release(s, 2);
    assert_int_equal(tu_cw_wakes(&cw[1]), 1);
    assert_int_equal(tu_cw_wakes(&cw[2]), 1);
    assert_int_equal(weft_semaphore_available(s), 0);
    for (int i = 1; i < K; i++) assert_int_equal(weft_semaphore_acquire_poll(&op[i], &cx[i]), WEFT_READY);
    for (int i = 0; i < K; i++) {
        weft_semaphore_acquire_drop(&op[i]); /* observed: the permits stay with the caller */
        assert_int_equal(tu_cw_refs(&cw[i]), 0);
    }
    assert_int_equal(weft_semaphore_available(s), 0);
    weft_semaphore_release(s, 4);
    assert_int_equal(weft_semaphore_try_acquire(s, 3), 0);
    assert_int_equal(weft_semaphore_try_acquire(s, 2), -EAGAIN);
    assert_int_equal(weft_semaphore_available(s), 1);
    assert_int_equal(weft_semaphore_try_acquire(s, 1), 0);

    /* granted but dropped before it looked: the permits go back */
    tu_cw_init(&cw[0]);
    weft_semaphore_acquire_init(&op[0], s, 3);
    assert_int_equal(weft_semaphore_acquire_poll(&op[0], &cx[0]), WEFT_PENDING);
    weft_semaphore_release(s, 3);
    assert_int_equal(tu_cw_wakes(&cw[0]), 1);
    assert_int_equal(weft_semaphore_available(s), 0);
    weft_semaphore_acquire_drop(&op[0]);
    assert_int_equal(weft_semaphore_available(s), 3);

    /* ... and they go to the next waiter if one is queued */
    assert_int_equal(weft_semaphore_try_acquire(s, 3), 0);
    for (int i = 0; i < 2; i++) {
        tu_cw_init(&cw[i]);
        weft_semaphore_acquire_init(&op[i], s, 2);
        assert_int_equal(weft_semaphore_acquire_poll(&op[i], &cx[i]), WEFT_PENDING);
    }
    weft_semaphore_release(s, 2);
    assert_int_equal(tu_cw_wakes(&cw[0]), 1);
    weft_semaphore_acquire_drop(&op[0]);
    assert_int_equal(tu_cw_wakes(&cw[1]), 1);
    assert_int_equal(weft_semaphore_acquire_poll(&op[1], &cx[1]), WEFT_READY);
    weft_semaphore_acquire_drop(&op[1]);
    assert_int_equal(weft_semaphore_available(s), 0);

    /* a queued head dropped unblocks those behind it */
    weft_semaphore_release(s, 1);
    for (int i = 0; i < 2; i++) {
        tu_cw_init(&cw[i]);
        weft_semaphore_acquire_init(&op[i], s, i == 0 ? 2 : 1);
        assert_int_equal(weft_semaphore_acquire_poll(&op[i], &cx[i]), WEFT_PENDING);
    }
    weft_semaphore_acquire_drop(&op[0]);
    assert_int_equal(tu_cw_refs(&cw[0]), 0);
    assert_int_equal(tu_cw_wakes(&cw[0]), 0);
    assert_int_equal(tu_cw_wakes(&cw[1]), 1);
    assert_int_equal(weft_semaphore_acquire_poll(&op[1], &cx[1]), WEFT_READY);
    weft_semaphore_acquire_drop(&op[1]);
    assert_int_equal(weft_semaphore_available(s), 0);
    weft_semaphore_free(s);
}

/* ---- a mutex of 1 protecting a counter across yields, on every scheduler ---- */

typedef struct locker {
    int coro;
    weft_semaphore_acquire acq;
    weft_semaphore *sem;
    long *counter;
    long seen;
    tu_latch *done;
    weft_yield y;
    int held;
} locker;
static weft_poll locker_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    locker *st = p;
    WEFT_CORO_BEGIN(st);
    weft_semaphore_acquire_init(&st->acq, st->sem, 1);
    WEFT_AWAIT(st, weft_semaphore_acquire_poll(&st->acq, cx));
    st->held = 1;
    st->seen = *st->counter;
    WEFT_YIELD_NOW(st, y, cx); /* everyone else runs here: only the lock keeps them out */
    *st->counter = st->seen + 1;
    st->held = 0;
    weft_semaphore_release(st->sem, 1);
    tu_latch_arrive(st->done);
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static void locker_drop(void *p)
{
    locker *st = p;
    weft_semaphore_acquire_drop(&st->acq);
}
static const weft_future_type locker_type = {"locker", locker_poll, locker_drop, sizeof(locker), 0};

static void test_semaphore_mutex_counter(void **unused)
{
    (void)unused;
    const int tasks = 1000;
    for (int si = 0; si < weft_scheduler_count(); si++) {
        const char *name = weft_scheduler_name(si);
        int workers = strcmp(name, "fifo") == 0 ? 1 : 2;
        weft_runtime *rt = tu_rt_new(name, workers, NULL);
        weft_semaphore *sem;
        assert_int_equal(weft_semaphore_new(1, &sem), 0);
        long counter = 0;
        tu_latch done;
        tu_latch_init(&done, tasks);
        for (int i = 0; i < tasks; i++) {
            locker l;
            memset(&l, 0, sizeof l);
            l.sem = sem;
            l.counter = &counter;
            l.done = &done;
            assert_int_equal(weft_spawn(rt, &locker_type, &l, NULL), 0);
        }
        tu_latch_block(rt, &done);
        if (counter != tasks) print_error("scheduler %s: counter %ld\n", name, counter);
        assert_int_equal(counter, tasks);
        assert_int_equal(weft_semaphore_available(sem), 1);
        weft_runtime_free(rt);
        weft_semaphore_free(sem);
        tu_latch_destroy(&done);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oneshot_by_hand),
        cmocka_unit_test(test_oneshot_cross_thread),
        cmocka_unit_test(test_oneshot_task_and_thread),
        cmocka_unit_test(test_channel_basic),
        cmocka_unit_test(test_channel_blocked_senders_fifo),
        cmocka_unit_test(test_channel_close),
        cmocka_unit_test(test_channel_woken_sender_dropped_passes_wake_on),
        cmocka_unit_test(test_channel_4_producers),
        cmocka_unit_test(test_notify),
        cmocka_unit_test(test_notify_one_not_lost_when_waiter_dropped),
        cmocka_unit_test(test_notify_all_waiters_dropped_between_batches),
        cmocka_unit_test(test_notify_all_waiters_dropped_concurrently),
        cmocka_unit_test(test_semaphore_by_hand),
        cmocka_unit_test(test_semaphore_mutex_counter),
    };
    return cmocka_run_group_tests_name("sync", tests, NULL, NULL);
}
