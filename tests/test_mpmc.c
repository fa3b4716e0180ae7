/*
 * tests/test_mpmc.c - common/mpmc.c: typed bounded MPMC channels.
 *
 * By hand (counting wakers, exact): FIFO order and full/empty at capacity 2;
 * a pending sender woken exactly once by a recv; one receiver woken per
 * element, and a woken receiver that is dropped passes the wake on (no
 * element stranded); close from either side (send -> -EPIPE, recv drains
 * then -EPIPE, pending futures woken); the drop function on every element
 * never received (receiver_drop, a dropped pending send, the channel freed
 * by an observer's last unref), never on one received or refused; handle
 * counts and their errors.
 *
 * Stress: P producer tasks x K values through a channel of capacity 2 to R
 * receiver tasks, on fifo/1, global/2 and ws/2; each value is received
 * exactly once (a seen-array), the sum and the count are exact; half the
 * receivers stop early through a cancellation token that drops their
 * pending recv futures, and no value is lost (whether a given receiver ends
 * by the stop or by the close is a race there; test_stop_ends_pending_recv
 * proves the stop path by hand). Plus plain threads sending
 * with try_send to tasks.
 */
#include "test_util.h"
#include "weft/cancel.h"
#include "weft/mpmc.h"
#include "weft/select.h"

typedef struct elem {
    uint64_t a, b;
} elem;

static _Atomic int g_drops;
static void count_drop(void *p)
{
    (void)p;
    atomic_fetch_add_explicit(&g_drops, 1, memory_order_relaxed);
}
static void free_drop(void *p)
{
    free(*(void **)p);
    atomic_fetch_add_explicit(&g_drops, 1, memory_order_relaxed);
}

static void test_fifo_full_empty(void **unused)
{
    (void)unused;
    tu_cwaker cw;
    tu_cw_init(&cw);
    weft_context cx = tu_cw_context(&cw);
    weft_mpmc *c;
    assert_int_equal(weft_mpmc_new(2, sizeof(elem), NULL, &c), 0);
    elem e1 = {1, 10}, e2 = {2, 20}, e3 = {3, 30}, out = {0, 0};
    assert_int_equal(weft_mpmc_try_recv(c, &out), -EAGAIN);
    assert_int_equal(weft_mpmc_try_send(c, &e1), 0);
    assert_int_equal(weft_mpmc_try_send(c, &e2), 0);
    assert_int_equal(weft_mpmc_try_send(c, &e3), -EAGAIN);
    assert_int_equal(weft_mpmc_len(c), 2);

    /* a send future waits when full; one recv makes room and wakes it once */
    weft_mpmc_send s;
    weft_mpmc_send_init(&s, c, &e3);
    int res = 99;
    assert_int_equal(weft_mpmc_send_poll(&s, &cx, &res), WEFT_PENDING);
    assert_int_equal(tu_cw_refs(&cw), 1);
    assert_int_equal(weft_mpmc_try_send(c, &e3), -EAGAIN); /* no overtaking a waiting sender */
    assert_int_equal(weft_mpmc_try_recv(c, &out), 0);
    assert_true(out.a == 1 && out.b == 10);
    assert_int_equal(tu_cw_wakes(&cw), 1);
    assert_int_equal(weft_mpmc_send_poll(&s, &cx, &res), WEFT_READY);
    assert_int_equal(res, 0);
    assert_int_equal(weft_mpmc_send_result(&s), 0);
    weft_mpmc_send_drop(&s);
    assert_int_equal(tu_cw_refs(&cw), 0);
    assert_int_equal(weft_mpmc_try_recv(c, &out), 0);
    assert_true(out.a == 2);
    assert_int_equal(weft_mpmc_try_recv(c, &out), 0);
    assert_true(out.a == 3 && out.b == 30);
    assert_int_equal(weft_mpmc_len(c), 0);

    /* a recv future waits when empty; a send wakes it once */
    weft_mpmc_recv r;
    weft_mpmc_recv_init(&r, c, &out);
    assert_int_equal(weft_mpmc_recv_poll(&r, &cx, &res), WEFT_PENDING);
    assert_int_equal(weft_mpmc_try_send(c, &e2), 0);
    assert_int_equal(tu_cw_wakes(&cw), 2);
    assert_int_equal(weft_mpmc_recv_poll(&r, &cx, &res), WEFT_READY);
    assert_int_equal(res, 0);
    assert_true(out.a == 2);
    weft_mpmc_recv_drop(&r);
    assert_int_equal(tu_cw_refs(&cw), 0);

    /* wrap-around: 5 rounds through capacity 2 */
    for (uint64_t i = 0; i < 10; i++) {
        elem e = {i, i * i};
        assert_int_equal(weft_mpmc_try_send(c, &e), 0);
        if (i % 2) {
            assert_int_equal(weft_mpmc_try_recv(c, &out), 0);
            assert_int_equal(out.a, i - 1);
            assert_int_equal(weft_mpmc_try_recv(c, &out), 0);
            assert_int_equal(out.b, i * i);
        }
    }
    assert_int_equal(weft_mpmc_sender_drop(c), 0);
    assert_int_equal(weft_mpmc_receiver_drop(c), 0);
}

static void test_one_receiver_per_element(void **unused)
{
    (void)unused;
    tu_cwaker cw[3];
    weft_context cx[3];
    for (int i = 0; i < 3; i++) {
        tu_cw_init(&cw[i]);
        cx[i] = tu_cw_context(&cw[i]);
    }
    weft_mpmc *c;
    assert_int_equal(weft_mpmc_new(4, sizeof(uint32_t), NULL, &c), 0);
    uint32_t out[3] = {0, 0, 0}, v = 7;
    weft_mpmc_recv r[3];
    for (int i = 0; i < 3; i++) {
        weft_mpmc_recv_init(&r[i], c, &out[i]);
        assert_int_equal(weft_mpmc_recv_poll(&r[i], &cx[i], NULL), WEFT_PENDING);
    }
    assert_int_equal(weft_mpmc_try_send(c, &v), 0);
    /* exactly one receiver is woken, the first to wait */
    assert_int_equal(tu_cw_wakes(&cw[0]) + tu_cw_wakes(&cw[1]) + tu_cw_wakes(&cw[2]), 1);
    assert_int_equal(tu_cw_wakes(&cw[0]), 1);
    /* it is dropped without polling: the wake passes to the next one */
    weft_mpmc_recv_drop(&r[0]);
    assert_int_equal(tu_cw_wakes(&cw[1]), 1);
    assert_int_equal(tu_cw_wakes(&cw[2]), 0);
    assert_int_equal(weft_mpmc_len(c), 1); /* nothing was lost */
    /* a newcomer takes it first: the woken one waits again, nobody else is woken */
    uint32_t stolen = 0;
    assert_int_equal(weft_mpmc_try_recv(c, &stolen), 0);
    assert_int_equal(stolen, 7);
    assert_int_equal(weft_mpmc_recv_poll(&r[1], &cx[1], NULL), WEFT_PENDING);
    assert_int_equal(tu_cw_wakes(&cw[2]), 0);
    /* two elements wake two receivers */
    v = 8;
    assert_int_equal(weft_mpmc_try_send(c, &v), 0);
    v = 9;
    assert_int_equal(weft_mpmc_try_send(c, &v), 0);
    assert_int_equal(tu_cw_wakes(&cw[1]), 2);
    assert_int_equal(tu_cw_wakes(&cw[2]), 1);
    int res = 1;
    assert_int_equal(weft_mpmc_recv_poll(&r[2], &cx[2], &res), WEFT_READY);
    assert_int_equal(out[2], 8);
    assert_int_equal(weft_mpmc_recv_poll(&r[1], &cx[1], &res), WEFT_READY);
    assert_int_equal(out[1], 9);
    for (int i = 0; i < 3; i++) {
        weft_mpmc_recv_drop(&r[i]);
        assert_int_equal(tu_cw_refs(&cw[i]), 0);
    }
    assert_int_equal(weft_mpmc_sender_drop(c), 0);
    assert_int_equal(weft_mpmc_receiver_drop(c), 0);
}

/* The stress's early stop, by hand and deterministic: a recv pending under a
 * stop token ends with -ECANCELED once the token fires, its dropped recv
 * strands nothing (the next element goes to the other receiver), and when an
 * element and the fire are both there at the poll the element wins (the
 * tie rule of weft_cancel_poll, which is why the stress counts receivers that
 * end by the close as well as by the stop). */
static void test_stop_ends_pending_recv(void **unused)
{
    (void)unused;
    tu_cwaker cw[2];
    weft_context cx[2];
    for (int i = 0; i < 2; i++) {
        tu_cw_init(&cw[i]);
        cx[i] = tu_cw_context(&cw[i]);
    }
    weft_mpmc *c;
    assert_int_equal(weft_mpmc_new(2, sizeof(uint32_t), NULL, &c), 0);
    weft_cancel *stop;
    assert_int_equal(weft_cancel_new(&stop), 0);
    uint32_t out[2] = {0, 0}, v = 5;
    weft_mpmc_recv r[2];
    weft_cancel_wait w;
    weft_cancel_wait_init(&w, stop);
    weft_mpmc_recv_init(&r[0], c, &out[0]);
    weft_mpmc_recv_init(&r[1], c, &out[1]);
    /* r[0] under the token waits first, r[1] (no token) second */
    assert_int_equal(weft_cancel_poll(&w, &cx[0], weft_mpmc_recv_poll(&r[0], &cx[0], NULL)), WEFT_PENDING);
    assert_int_equal(weft_mpmc_recv_poll(&r[1], &cx[1], NULL), WEFT_PENDING);
    assert_int_equal(weft_cancel_fire(stop), 1);
    assert_int_equal(tu_cw_wakes(&cw[0]), 1); /* the fire woke the stopped one */
    assert_int_equal(tu_cw_wakes(&cw[1]), 0);
    assert_int_equal(weft_cancel_poll(&w, &cx[0], weft_mpmc_recv_poll(&r[0], &cx[0], NULL)), WEFT_READY);
    assert_int_equal(weft_cancel_wait_result(&w), -ECANCELED);
    weft_mpmc_recv_drop(&r[0]);
    weft_cancel_wait_drop(&w);
    assert_int_equal(tu_cw_refs(&cw[0]), 0);
    /* the next element reaches the receiver still waiting */
    assert_int_equal(weft_mpmc_try_send(c, &v), 0);
    assert_int_equal(tu_cw_wakes(&cw[1]), 1);
    assert_int_equal(weft_mpmc_recv_poll(&r[1], &cx[1], NULL), WEFT_READY);
    assert_int_equal(out[1], 5);
    weft_mpmc_recv_drop(&r[1]);
    assert_int_equal(weft_mpmc_len(c), 0);

    /* a tie: an element is queued and the token already fired: the recv wins */
    v = 6;
    assert_int_equal(weft_mpmc_try_send(c, &v), 0);
    weft_cancel_wait_init(&w, stop);
    weft_mpmc_recv_init(&r[0], c, &out[0]);
    assert_int_equal(weft_cancel_poll(&w, &cx[0], weft_mpmc_recv_poll(&r[0], &cx[0], NULL)), WEFT_READY);
    assert_int_equal(weft_cancel_wait_result(&w), 0);
    assert_int_equal(out[0], 6);
    /* and with the channel empty the fired token ends the next wait at once */
    weft_mpmc_recv_drop(&r[0]);
    weft_mpmc_recv_init(&r[0], c, &out[0]);
    assert_int_equal(weft_cancel_poll(&w, &cx[0], weft_mpmc_recv_poll(&r[0], &cx[0], NULL)), WEFT_READY);
    assert_int_equal(weft_cancel_wait_result(&w), -ECANCELED);
    weft_mpmc_recv_drop(&r[0]);
    weft_cancel_wait_drop(&w);
    for (int i = 0; i < 2; i++) assert_int_equal(tu_cw_refs(&cw[i]), 0);
    assert_int_equal(weft_mpmc_len(c), 0);
    weft_cancel_free(stop);
    assert_int_equal(weft_mpmc_sender_drop(c), 0);
    assert_int_equal(weft_mpmc_receiver_drop(c), 0);
}

static void test_close_both_sides(void **unused)
{
    (void)unused;
    tu_cwaker cw;
    tu_cw_init(&cw);
    weft_context cx = tu_cw_context(&cw);
    weft_mpmc *c;
    uint64_t v = 1, out = 0;
    int res = 0;

    /* sender side closes: recv drains, then -EPIPE; a waiting receiver is woken */
    assert_int_equal(weft_mpmc_new(2, sizeof v, NULL, &c), 0);
    assert_int_equal(weft_mpmc_receiver_clone(c), 0);
    weft_mpmc_recv r;
    weft_mpmc_recv_init(&r, c, &out);
    assert_int_equal(weft_mpmc_recv_poll(&r, &cx, &res), WEFT_PENDING);
    assert_int_equal(weft_mpmc_try_send(c, &v), 0); /* r woken for it */
    assert_int_equal(weft_mpmc_is_closed(c), 0);
    assert_int_equal(weft_mpmc_sender_drop(c), 0); /* the last sender */
    assert_int_equal(weft_mpmc_is_closed(c), 1);
    assert_int_equal(weft_mpmc_try_send(c, &v), -EPIPE);
    assert_int_equal(weft_mpmc_sender_clone(c), -EPIPE);
    assert_int_equal(weft_mpmc_recv_poll(&r, &cx, &res), WEFT_READY);
    assert_int_equal(res, 0);
    weft_mpmc_recv_drop(&r);
    weft_mpmc_recv_init(&r, c, &out);
    assert_int_equal(weft_mpmc_recv_poll(&r, &cx, &res), WEFT_READY);
    assert_int_equal(res, -EPIPE);
    assert_int_equal(weft_mpmc_try_recv(c, &out), -EPIPE);
    weft_mpmc_recv_drop(&r);
    assert_int_equal(weft_mpmc_receiver_drop(c), 0);
    assert_int_equal(weft_mpmc_receiver_drop(c), 0); /* the clone: frees */

    /* receiver side closes: queued elements dropped, a waiting sender -EPIPE */
    atomic_store(&g_drops, 0);
    assert_int_equal(weft_mpmc_new(2, sizeof v, count_drop, &c), 0);
    assert_int_equal(weft_mpmc_try_send(c, &v), 0);
    assert_int_equal(weft_mpmc_try_send(c, &v), 0);
    weft_mpmc_send s;
    uint64_t mine = 5;
    weft_mpmc_send_init(&s, c, &mine);
    assert_int_equal(weft_mpmc_send_poll(&s, &cx, &res), WEFT_PENDING);
    int wakes = tu_cw_wakes(&cw);
    assert_int_equal(weft_mpmc_receiver_drop(c), 0);
    assert_int_equal(atomic_load(&g_drops), 2);
    assert_int_equal(tu_cw_wakes(&cw), wakes + 1);
    assert_int_equal(weft_mpmc_send_poll(&s, &cx, &res), WEFT_READY);
    assert_int_equal(res, -EPIPE);
    weft_mpmc_send_drop(&s); /* refused: the element is the caller's, not dropped */
    assert_int_equal(atomic_load(&g_drops), 2);
    assert_int_equal(weft_mpmc_try_send(c, &v), -EPIPE);
    assert_int_equal(weft_mpmc_len(c), 0);
    assert_int_equal(weft_mpmc_sender_drop(c), 0);
    assert_int_equal(tu_cw_refs(&cw), 0);

    /* weft_mpmc_close with values queued: receivers still drain */
    assert_int_equal(weft_mpmc_new(3, sizeof v, NULL, &c), 0);
    assert_int_equal(weft_mpmc_try_send(c, &v), 0);
    assert_int_equal(weft_mpmc_close(c), 0);
    assert_int_equal(weft_mpmc_close(c), 0);
    assert_int_equal(weft_mpmc_try_send(c, &v), -EPIPE);
    assert_int_equal(weft_mpmc_try_recv(c, &out), 0);
    assert_int_equal(weft_mpmc_try_recv(c, &out), -EPIPE);
    assert_int_equal(weft_mpmc_sender_drop(c), 0);
    assert_int_equal(weft_mpmc_receiver_drop(c), 0);
}

static void test_drop_function(void **unused)
{
    (void)unused;
    tu_cwaker cw;
    tu_cw_init(&cw);
    weft_context cx = tu_cw_context(&cw);
    atomic_store(&g_drops, 0);
    weft_mpmc *c;
    assert_int_equal(weft_mpmc_new(2, sizeof(void *), free_drop, &c), 0);
    /* pointer payloads: every one never received is freed (LSan checks) */
    for (int i = 0; i < 2; i++) {
        void *p = malloc(100);
        assert_int_equal(weft_mpmc_try_send(c, &p), 0);
    }
    void *p = malloc(100);
    assert_int_equal(weft_mpmc_try_send(c, &p), -EAGAIN); /* refused: still ours */
    /* a pending send future dropped: not sent, dropped (freed) */
    weft_mpmc_send s;
    weft_mpmc_send_init(&s, c, &p);
    assert_int_equal(weft_mpmc_send_poll(&s, &cx, NULL), WEFT_PENDING);
    weft_mpmc_send_drop(&s);
    assert_int_equal(atomic_load(&g_drops), 1);
    assert_int_equal(weft_mpmc_len(c), 2);
    /* a send future never polled, dropped: the same */
    p = malloc(10);
    weft_mpmc_send_init(&s, c, &p);
    weft_mpmc_send_drop(&s);
    weft_mpmc_send_drop(&s); /* idempotent */
    assert_int_equal(atomic_load(&g_drops), 2);
    /* one received: the receiver owns it, no drop */
    void *got = NULL;
    assert_int_equal(weft_mpmc_try_recv(c, &got), 0);
    free(got);
    assert_int_equal(atomic_load(&g_drops), 2);
    /* an observer outlives both sides; the element left is dropped with the
     * last receiver, and len stays safe on the observer's handle */
    assert_int_equal(weft_mpmc_clone(c), 0);
    assert_int_equal(weft_mpmc_sender_drop(c), 0);
    assert_int_equal(weft_mpmc_len(c), 1);
    assert_int_equal(weft_mpmc_receiver_drop(c), 0);
    assert_int_equal(atomic_load(&g_drops), 3);
    assert_int_equal(weft_mpmc_len(c), 0);
    assert_int_equal(weft_mpmc_is_closed(c), 1);
    assert_int_equal(weft_mpmc_receiver_clone(c), -EPIPE);
    assert_int_equal(weft_mpmc_sender_drop(c), -EINVAL); /* none held */
    assert_int_equal(weft_mpmc_free(c), 0);             /* frees */
    assert_int_equal(tu_cw_refs(&cw), 0);
}

static void test_bad_input(void **unused)
{
    (void)unused;
    weft_mpmc *c = (weft_mpmc *)1;
    assert_int_equal(weft_mpmc_new(0, 8, NULL, &c), -EINVAL);
    assert_null(c);
    assert_non_null(strstr(weft_last_error(), "capacity"));
    assert_int_equal(weft_mpmc_new(4, 0, NULL, &c), -EINVAL);
    assert_non_null(strstr(weft_last_error(), "element size"));
    assert_int_equal(weft_mpmc_new((size_t)WEFT_MPMC_MAX_CAPACITY + 1, 8, NULL, &c), -EINVAL);
    assert_int_equal(weft_mpmc_new(4, (size_t)WEFT_MPMC_MAX_ELEM_SIZE + 1, NULL, &c), -EINVAL);
    assert_int_equal(weft_mpmc_new(4, 8, NULL, NULL), -EINVAL);
    uint64_t v = 0;
    assert_int_equal(weft_mpmc_try_send(NULL, &v), -EINVAL);
    assert_int_equal(weft_mpmc_try_recv(NULL, &v), -EINVAL);
    assert_int_equal(weft_mpmc_len(NULL), -EINVAL);
    assert_int_equal(weft_mpmc_close(NULL), -EINVAL);
    assert_int_equal(weft_mpmc_is_closed(NULL), -EINVAL);
    assert_int_equal(weft_mpmc_sender_clone(NULL), -EINVAL);
    assert_int_equal(weft_mpmc_receiver_drop(NULL), -EINVAL);
    assert_int_equal(weft_mpmc_clone(NULL), -EINVAL);
    assert_int_equal(weft_mpmc_free(NULL), -EINVAL);
    tu_cwaker cw;
    tu_cw_init(&cw);
    weft_context cx = tu_cw_context(&cw);
    weft_mpmc_send s;
    weft_mpmc_send_init(&s, NULL, &v);
    int res = 0;
    assert_int_equal(weft_mpmc_send_poll(&s, &cx, &res), WEFT_READY);
    assert_int_equal(res, -EINVAL);
    weft_mpmc_send_drop(&s);
    weft_mpmc_recv r;
    weft_mpmc_recv_init(&r, NULL, &v);
    assert_int_equal(weft_mpmc_recv_poll(&r, &cx, &res), WEFT_READY);
    assert_int_equal(res, -EINVAL);
    weft_mpmc_recv_drop(&r);
    assert_int_equal(weft_mpmc_new(1, 8, NULL, &c), 0);
    assert_int_equal(weft_mpmc_try_send(c, NULL), -EINVAL);
    assert_int_equal(weft_mpmc_free(c), -EINVAL); /* no observer reference held */
    assert_int_equal(weft_mpmc_sender_drop(c), 0);
    assert_int_equal(weft_mpmc_receiver_drop(c), 0);
}

/* ---- stress: P producers, R receivers, capacity 2 ---------------------------------- */

enum { P = 4, R = 4 };

typedef struct stress {
    weft_mpmc *c;
    weft_cancel *stop; /* stops the odd receivers early */
    int per_producer;
    _Atomic uint8_t *seen;
    _Atomic long received, sum, dup, early_stops, odd_closed;
    _Atomic int stop_after; /* the first receiver past this count fires stop */
} stress;

typedef struct producer {
    int coro;
    stress *s;
    int id, i;
    uint64_t v;
    weft_mpmc_send send;
} producer;

static weft_poll producer_poll(void *p, weft_context *cx, void *out)
{
    producer *st = p;
    WEFT_CORO_BEGIN(st);
    for (st->i = 0; st->i < st->s->per_producer; st->i++) {
        st->v = (uint64_t)st->id * (uint64_t)st->s->per_producer + (uint64_t)st->i;
        weft_mpmc_send_init(&st->send, st->s->c, &st->v);
        WEFT_AWAIT(st, weft_mpmc_send_poll(&st->send, cx, NULL));
        if (weft_mpmc_send_result(&st->send) != 0) WEFT_CORO_RETURN(st, out, int, -1);
        weft_mpmc_send_drop(&st->send);
    }
    weft_mpmc_sender_drop(st->s->c);
    WEFT_CORO_RETURN(st, out, int, 0);
    WEFT_CORO_END(st);
}
static void producer_drop(void *p)
{
    producer *st = p;
    weft_mpmc_send_drop(&st->send);
}
static const weft_future_type producer_type = {"producer", producer_poll, producer_drop, sizeof(producer),
                                               sizeof(int)};

typedef struct receiver {
    int coro;
    stress *s;
    int id;
    long got;
    uint64_t v;
    weft_mpmc_recv recv;
    weft_cancel_wait stop;
} receiver;

static void take(stress *s, uint64_t v)
{
    if (atomic_fetch_add_explicit(&s->seen[v], 1, memory_order_relaxed) != 0)
        atomic_fetch_add_explicit(&s->dup, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum, (long)v, memory_order_relaxed);
    long n = atomic_fetch_add_explicit(&s->received, 1, memory_order_relaxed) + 1;
    if (n == atomic_load_explicit(&s->stop_after, memory_order_relaxed)) weft_cancel_fire(s->stop);
}

static weft_poll receiver_poll(void *p, weft_context *cx, void *out)
{
    receiver *st = p;
    WEFT_CORO_BEGIN(st);
    weft_cancel_wait_init(&st->stop, st->s->stop);
    for (;;) {
        weft_mpmc_recv_init(&st->recv, st->s->c, &st->v);
        if (st->id % 2) { /* odd receivers: bounded by the stop token */
            WEFT_AWAIT(st, weft_cancel_poll(&st->stop, cx, weft_mpmc_recv_poll(&st->recv, cx, NULL)));
            if (weft_cancel_wait_result(&st->stop) == -ECANCELED) {
                weft_mpmc_recv_drop(&st->recv); /* a pending recv dropped: loses nothing */
                atomic_fetch_add_explicit(&st->s->early_stops, 1, memory_order_relaxed);
                break;
            }
        } else {
            WEFT_AWAIT(st, weft_mpmc_recv_poll(&st->recv, cx, NULL));
        }
        if (weft_mpmc_recv_result(&st->recv) != 0) {
            /* An odd receiver whose recv won every poll after the stop fired
             * (weft_cancel_poll takes a ready inner first) reaches the close
             * without seeing the stop: woken by the fire but polled only
             * after the others drained the channel. */
            if (st->id % 2) atomic_fetch_add_explicit(&st->s->odd_closed, 1, memory_order_relaxed);
            break;
        }
        weft_mpmc_recv_drop(&st->recv);
        take(st->s, st->v);
        st->got++;
    }
    weft_mpmc_recv_drop(&st->recv);
    weft_cancel_wait_drop(&st->stop);
    weft_mpmc_receiver_drop(st->s->c);
    WEFT_CORO_RETURN(st, out, long, st->got);
    WEFT_CORO_END(st);
}
static void receiver_drop(void *p)
{
    receiver *st = p;
    weft_mpmc_recv_drop(&st->recv);
    weft_cancel_wait_drop(&st->stop);
}
static const weft_future_type receiver_type = {"receiver", receiver_poll, receiver_drop, sizeof(receiver),
                                               sizeof(long)};

typedef struct stress_main {
    int coro;
    stress *s;
    weft_join_handle h[P + R];
    long outs[P + R];
    int results[P + R];
    weft_join_all all;
} stress_main;

static weft_poll stress_main_poll(void *p, weft_context *cx, void *out)
{
    stress_main *st = p;
    WEFT_CORO_BEGIN(st);
    for (int i = 0; i < P; i++) {
        producer pr = {.s = st->s, .id = i};
        weft_mpmc_sender_clone(st->s->c);
        if (weft_spawn(weft_context_runtime(cx), &producer_type, &pr, &st->h[i]) < 0)
            WEFT_CORO_RETURN(st, out, int, -1);
    }
    for (int i = 0; i < R; i++) {
        receiver rc = {.s = st->s, .id = i};
        weft_mpmc_receiver_clone(st->s->c);
        if (weft_spawn(weft_context_runtime(cx), &receiver_type, &rc, &st->h[P + i]) < 0)
            WEFT_CORO_RETURN(st, out, int, -1);
    }
    /* the creator's own handles: the producers' drops then close the channel */
    weft_mpmc_sender_drop(st->s->c);
    weft_mpmc_receiver_drop(st->s->c);
    weft_join_all_init(&st->all, st->h, P + R, st->outs, sizeof(long), st->results);
    WEFT_AWAIT(st, weft_join_all_poll(&st->all, cx, NULL));
    weft_join_all_drop(&st->all);
    {
        int bad = 0;
        long total = 0;
        for (int i = 0; i < P + R; i++) {
            bad += st->results[i] != 0;
            if (i >= P) total += st->outs[i];
        }
        WEFT_CORO_RETURN(st, out, int, bad ? -2 : (int)total);
    }
    WEFT_CORO_END(st);
}
static const weft_future_type stress_main_type = {"stress_main", stress_main_poll, NULL, sizeof(stress_main),
                                                  sizeof(int)};

static void run_stress(const char *sched, int workers, int per_producer)
{
    stress s;
    memset(&s, 0, sizeof s);
    long n = (long)P * per_producer;
    s.per_producer = per_producer;
    s.seen = calloc((size_t)n, sizeof *s.seen);
    atomic_init(&s.stop_after, (int)(n / 3));
    assert_int_equal(weft_mpmc_new(2, sizeof(uint64_t), NULL, &s.c), 0);
    assert_int_equal(weft_cancel_new(&s.stop), 0);
    weft_runtime *rt = tu_rt_new(sched, workers, NULL);
    stress_main m;
    memset(&m, 0, sizeof m);
    m.s = &s;
    int total = -100;
    tu_block_on_ok(rt, &stress_main_type, &m, &total);
    weft_runtime_free(rt);
    assert_int_equal(total, n);
    assert_int_equal(atomic_load(&s.received), n);
    assert_int_equal(atomic_load(&s.sum), n * (n - 1) / 2);
    assert_int_equal(atomic_load(&s.dup), 0);
    for (long i = 0; i < n; i++) assert_int_equal(atomic_load(&s.seen[i]), 1);
    /* every odd receiver ended by the stop or, having lost that race, by the close */
    if (atomic_load(&s.early_stops) + atomic_load(&s.odd_closed) != R / 2)
        fail_msg("%s/%d: odd receivers: %ld stopped early, %ld by the close, of %d", sched, workers,
                 (long)atomic_load(&s.early_stops), (long)atomic_load(&s.odd_closed), R / 2);
    free(s.seen);
    weft_cancel_free(s.stop);
}

static void test_stress_fifo(void **unused)
{
    (void)unused;
    run_stress("fifo", 1, TU_SCALE(20000, 3000));
}
static void test_stress_global2(void **unused)
{
    (void)unused;
    run_stress("global", 2, TU_SCALE(20000, 3000));
}
static void test_stress_ws2(void **unused)
{
    (void)unused;
    run_stress("ws", 2, TU_SCALE(20000, 3000));
}

/* plain threads try_send (spinning on -EAGAIN) into tasks that recv */
typedef struct thread_tx {
    weft_mpmc *c;
    int id, n;
} thread_tx;
static void *thread_sender(void *p)
{
    thread_tx *t = p;
    for (int i = 0; i < t->n; i++) {
        uint64_t v = (uint64_t)t->id * (uint64_t)t->n + (uint64_t)i;
        int rc;
        while ((rc = weft_mpmc_try_send(t->c, &v)) == -EAGAIN) sched_yield();
        if (rc) return (void *)1;
    }
    weft_mpmc_sender_drop(t->c);
    return NULL;
}

typedef struct recv_all {
    int coro;
    stress *s;
    weft_join_handle h[R];
    long outs[R];
    int results[R];
    weft_join_all all;
} recv_all;
static weft_poll recv_all_poll(void *p, weft_context *cx, void *out)
{
    recv_all *st = p;
    WEFT_CORO_BEGIN(st);
    for (int i = 0; i < R; i++) {
        receiver rc = {.s = st->s, .id = 2 * i}; /* even: no stop token */
        weft_mpmc_receiver_clone(st->s->c);
        if (weft_spawn(weft_context_runtime(cx), &receiver_type, &rc, &st->h[i]) < 0)
            WEFT_CORO_RETURN(st, out, int, -1);
    }
    weft_mpmc_receiver_drop(st->s->c);
    weft_join_all_init(&st->all, st->h, R, st->outs, sizeof(long), st->results);
    WEFT_AWAIT(st, weft_join_all_poll(&st->all, cx, NULL));
    WEFT_CORO_RETURN(st, out, int, (int)(st->outs[0] + st->outs[1] + st->outs[2] + st->outs[3]));
    WEFT_CORO_END(st);
}
static const weft_future_type recv_all_type = {"recv_all", recv_all_poll, NULL, sizeof(recv_all), sizeof(int)};

static void test_threads_to_tasks(void **unused)
{
    (void)unused;
    const int per = TU_SCALE(20000, 2000);
    const char *scheds[] = {"fifo", "global", "ws"};
    for (int k = 0; k < 3; k++) {
        stress s;
        memset(&s, 0, sizeof s);
        long n = 2L * per;
        s.seen = calloc((size_t)n, sizeof *s.seen);
        atomic_init(&s.stop_after, -1);
        assert_int_equal(weft_mpmc_new(2, sizeof(uint64_t), NULL, &s.c), 0);
        assert_int_equal(weft_cancel_new(&s.stop), 0);
        weft_runtime *rt = tu_rt_new(scheds[k], k == 0 ? 1 : 2, NULL);
        assert_int_equal(weft_mpmc_sender_clone(s.c), 0); /* one per thread; the creator's is the first */
        thread_tx tx[2] = {{s.c, 0, per}, {s.c, 1, per}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, thread_sender, &tx[i]), 0);
        recv_all m;
        memset(&m, 0, sizeof m);
        m.s = &s;
        int total = -1;
        tu_block_on_ok(rt, &recv_all_type, &m, &total);
        for (int i = 0; i < 2; i++) {
            void *r;
            pthread_join(th[i], &r);
            assert_null(r);
        }
        weft_runtime_free(rt);
        assert_int_equal(total, n);
        assert_int_equal(atomic_load(&s.received), n);
        assert_int_equal(atomic_load(&s.sum), n * (n - 1) / 2);
        assert_int_equal(atomic_load(&s.dup), 0);
        free(s.seen);
        weft_cancel_free(s.stop);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_full_empty),
        cmocka_unit_test(test_one_receiver_per_element),
        cmocka_unit_test(test_stop_ends_pending_recv),
        cmocka_unit_test(test_close_both_sides),
        cmocka_unit_test(test_drop_function),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_stress_fifo),
        cmocka_unit_test(test_stress_global2),
        cmocka_unit_test(test_stress_ws2),
        cmocka_unit_test(test_threads_to_tasks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
