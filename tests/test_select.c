/*
 * tests/test_select.c - common/select.c (select over N arms) and
 * schedulers/join_all.c (join-all).
 *
 * select, by hand with counting wakers and counting arms: two arms ready at
 * once (the earlier wins; the later, a channel recv, consumed nothing: its
 * value is still queued); a pending select completed by a token fired later;
 * a select dropped before completing; each arm's drop runs exactly once in
 * every case, and no waker is leaked. Then a select of a recv and a stop
 * token on every scheduler, racing an outside thread that fires the token
 * while values flow: every value sent is received once or is still queued.
 *
 * join-all: 64 tasks with outputs on ws/2 (exact outputs), one aborted
 * (-ECANCELED in its slot and as the first error), an empty handle
 * (-EINVAL), zero handles, bad arguments.
 */
#include "test_util.h"
#include "weft/select.h"

/* An arm that counts its drops around a real future. */
typedef struct counted {
    weft_mpmc_recv recv;
    weft_cancel_wait stop;
    int kind; /* 0 recv, 1 stop */
    int drops;
} counted;
static weft_poll counted_poll(void *p, weft_context *cx)
{
    counted *c = p;
    return c->kind == 0 ? weft_mpmc_recv_poll(&c->recv, cx, NULL) : weft_cancel_wait_poll(&c->stop, cx);
}
static void counted_drop(void *p)
{
    counted *c = p;
    c->drops++;
    if (c->kind == 0) weft_mpmc_recv_drop(&c->recv);
    else weft_cancel_wait_drop(&c->stop);
}

static void test_two_ready_at_once(void **unused)
{
    (void)unused;
    tu_cwaker cw;
    tu_cw_init(&cw);
    weft_context cx = tu_cw_context(&cw);
    weft_mpmc *a, *b;
    assert_int_equal(weft_mpmc_new(2, sizeof(int), NULL, &a), 0);
    assert_int_equal(weft_mpmc_new(2, sizeof(int), NULL, &b), 0);
    int one = 1, two = 2, outa = 0, outb = 0;
    assert_int_equal(weft_mpmc_try_send(a, &one), 0);
    assert_int_equal(weft_mpmc_try_send(b, &two), 0);
    counted arm[2];
    memset(arm, 0, sizeof arm);
    weft_mpmc_recv_init(&arm[0].recv, a, &outa);
    weft_mpmc_recv_init(&arm[1].recv, b, &outb);
    weft_select_arm arms[2] = {{counted_poll, counted_drop, &arm[0]}, {counted_poll, counted_drop, &arm[1]}};
    weft_select s;
    assert_int_equal(weft_select_init(&s, arms, 2), 0);
    assert_int_equal(weft_select_winner(&s), -1);
    int idx = -5;
    assert_int_equal(weft_select_poll(&s, &cx, &idx), WEFT_READY);
    assert_int_equal(idx, 0);
    assert_int_equal(outa, 1);
    assert_int_equal(weft_mpmc_recv_result(&arm[0].recv), 0);
    assert_int_equal(arm[0].drops, 0); /* the winner: dropped by weft_select_drop */
    assert_int_equal(arm[1].drops, 1); /* the loser: dropped at completion */
    assert_int_equal(weft_mpmc_len(b), 1); /* and it consumed nothing */
    assert_int_equal(weft_select_poll(&s, &cx, &idx), WEFT_READY); /* stays READY */
    assert_int_equal(idx, 0);
    weft_select_drop(&s);
    weft_select_drop(&s);
    assert_int_equal(arm[0].drops, 1);
    assert_int_equal(arm[1].drops, 1);
    assert_int_equal(tu_cw_refs(&cw), 0);
    weft_mpmc_sender_drop(a), weft_mpmc_receiver_drop(a);
    weft_mpmc_sender_drop(b), weft_mpmc_receiver_drop(b);
}

static void test_pending_then_fired_and_dropped(void **unused)
{
    (void)unused;
    tu_cwaker cw;
    tu_cw_init(&cw);
    weft_context cx = tu_cw_context(&cw);
    weft_mpmc *ch;
    weft_cancel *tok;
    assert_int_equal(weft_mpmc_new(1, sizeof(int), NULL, &ch), 0);
    assert_int_equal(weft_cancel_new(&tok), 0);
    int out = 0;
    counted arm[2];
    memset(arm, 0, sizeof arm);
    arm[0].kind = 1;
    weft_cancel_wait_init(&arm[0].stop, tok);
    weft_mpmc_recv_init(&arm[1].recv, ch, &out);
    weft_select_arm arms[2] = {{counted_poll, counted_drop, &arm[0]}, {counted_poll, counted_drop, &arm[1]}};
    weft_select s;
    assert_int_equal(weft_select_init(&s, arms, 2), 0);
    assert_int_equal(weft_select_poll(&s, &cx, NULL), WEFT_PENDING);
    assert_int_equal(tu_cw_refs(&cw), 2); /* both arms hold our waker */
    assert_int_equal(weft_cancel_fire(tok), 1);
    assert_int_equal(tu_cw_wakes(&cw), 1);
    int v = 3; /* a value arrives too: the token (arm 0) still wins, v stays queued */
    assert_int_equal(weft_mpmc_try_send(ch, &v), 0);
    int idx = -1;
    assert_int_equal(weft_select_poll(&s, &cx, &idx), WEFT_READY);
    assert_int_equal(idx, 0);
    assert_int_equal(arm[1].drops, 1);
    assert_int_equal(weft_mpmc_len(ch), 1);
    weft_select_drop(&s);
    assert_int_equal(arm[0].drops, 1);
    assert_int_equal(tu_cw_refs(&cw), 0);

    /* dropped before completing: every arm once */
    memset(arm, 0, sizeof arm);
    weft_cancel *tok2;
    assert_int_equal(weft_cancel_new(&tok2), 0);
    arm[0].kind = 1;
    weft_cancel_wait_init(&arm[0].stop, tok2);
    int sink;
    assert_int_equal(weft_mpmc_try_recv(ch, &sink), 0);
    weft_mpmc_recv_init(&arm[1].recv, ch, &out);
    assert_int_equal(weft_select_init(&s, arms, 2), 0);
    assert_int_equal(weft_select_poll(&s, &cx, NULL), WEFT_PENDING);
    weft_select_drop(&s);
    weft_select_drop(&s);
    assert_int_equal(arm[0].drops, 1);
    assert_int_equal(arm[1].drops, 1);
    assert_int_equal(tu_cw_refs(&cw), 0);
    weft_cancel_free(tok2);

    /* the ready-made arms */
    weft_cancel_wait w;
    weft_cancel_wait_init(&w, tok);
    weft_mpmc_recv r;
    weft_mpmc_recv_init(&r, ch, &out);
    weft_select_arm made[2] = {weft_select_arm_mpmc_recv(&r), weft_select_arm_cancel(&w)};
    assert_int_equal(weft_select_init(&s, made, 2), 0);
    assert_int_equal(weft_select_poll(&s, &cx, &idx), WEFT_READY);
    assert_int_equal(idx, 1);
    weft_select_drop(&s);
    assert_int_equal(tu_cw_refs(&cw), 0);
    weft_cancel_free(tok);
    weft_mpmc_sender_drop(ch), weft_mpmc_receiver_drop(ch);
}

static void test_select_bad_input(void **unused)
{
    (void)unused;
    weft_select s;
    tu_cwaker cw;
    tu_cw_init(&cw);
    weft_context cx = tu_cw_context(&cw);
    assert_int_equal(weft_select_init(&s, NULL, 2), -EINVAL);
    assert_non_null(strstr(weft_last_error(), "arms"));
    int idx = 0;
    assert_int_equal(weft_select_poll(&s, &cx, &idx), WEFT_READY);
    assert_int_equal(idx, -EINVAL);
    weft_select_drop(&s);
    weft_select_arm arms[1] = {{NULL, NULL, NULL}};
    assert_int_equal(weft_select_init(&s, arms, 1), -EINVAL);
    assert_non_null(strstr(weft_last_error(), "poll function"));
    assert_int_equal(weft_select_init(&s, arms, 0), -EINVAL);
    assert_int_equal(weft_select_init(&s, arms, WEFT_SELECT_MAX_ARMS + 1), -EINVAL);
    assert_int_equal(weft_select_init(NULL, arms, 1), -EINVAL);
    assert_int_equal(weft_select_winner(NULL), -EINVAL);
}

/* ---- select on a runtime: recv or stop, racing an outside fire ------------------------ */

typedef struct sel_rx {
    int coro;
    weft_mpmc *c;
    weft_cancel *stop;
    long got, sum;
    int v, which;
    weft_mpmc_recv recv;
    weft_cancel_wait w;
    weft_select_arm arms[2];
    weft_select sel;
} sel_rx;
static weft_poll sel_rx_poll(void *p, weft_context *cx, void *out)
{
    sel_rx *st = p;
    WEFT_CORO_BEGIN(st);
    for (;;) {
        weft_cancel_wait_init(&st->w, st->stop);
        weft_mpmc_recv_init(&st->recv, st->c, &st->v);
        st->arms[0] = weft_select_arm_cancel(&st->w);
        st->arms[1] = weft_select_arm_mpmc_recv(&st->recv);
        weft_select_init(&st->sel, st->arms, 2);
        WEFT_AWAIT(st, weft_select_poll(&st->sel, cx, &st->which));
        if (st->which == 1 && weft_mpmc_recv_result(&st->recv) == 0) {
            st->got++;
            st->sum += st->v;
        }
        weft_select_drop(&st->sel);
        if (st->which != 1) break;
    }
    WEFT_CORO_RETURN(st, out, long, st->got * 1000000 + st->sum);
    WEFT_CORO_END(st);
}
static void sel_rx_drop(void *p) { weft_select_drop(&((sel_rx *)p)->sel); }
static const weft_future_type sel_rx_type = {"sel_rx", sel_rx_poll, sel_rx_drop, sizeof(sel_rx), sizeof(long)};

typedef struct tx_then_fire {
    weft_mpmc *c;
    weft_cancel *stop;
    int n, sent;
} tx_then_fire;
static void *tx_fire_main(void *p)
{
    tx_then_fire *t = p;
    for (int i = 1; i <= t->n; i++) {
        int rc;
        while ((rc = weft_mpmc_try_send(t->c, &i)) == -EAGAIN) sched_yield();
        if (rc == 0) t->sent++;
        if (i == t->n / 2) weft_cancel_fire(t->stop); /* mid-stream: racing the recvs */
    }
    return NULL;
}

static void test_select_race(void **unused)
{
    (void)unused;
    const char *scheds[] = {"fifo", "global", "ws", "numa"};
    const int iters = TU_SCALE(50, 10), n = 200;
    for (int k = 0; k < 4; k++) {
        for (int it = 0; it < iters; it++) {
            weft_runtime *rt = tu_rt_new(scheds[k], k == 0 ? 1 : 2, NULL);
            tx_then_fire t = {NULL, NULL, n, 0};
            assert_int_equal(weft_mpmc_new(2, sizeof(int), NULL, &t.c), 0);
            assert_int_equal(weft_cancel_new(&t.stop), 0);
            pthread_t th;
            assert_int_equal(pthread_create(&th, NULL, tx_fire_main, &t), 0);
            weft_join_handle h;
            sel_rx init = {.c = t.c, .stop = t.stop};
            assert_int_equal(weft_spawn(rt, &sel_rx_type, &init, &h), 0);
            long res = 0;
            assert_int_equal(tu_join_on(rt, &h, &res), 0);
            /* the receiver has stopped: drain the rest here */
            long got = res / 1000000, sum = res % 1000000;
            int v;
            for (;;) {
                int rc = weft_mpmc_try_recv(t.c, &v);
                if (rc == 0) {
                    got++;
                    sum += v;
                } else if (rc == -EAGAIN) {
                    if (pthread_tryjoin_np(th, NULL) == 0) {
                        while (weft_mpmc_try_recv(t.c, &v) == 0) got++, sum += v;
                        break;
                    }
                    sched_yield();
                } else {
                    break;
                }
            }
            assert_int_equal(t.sent, n);
            assert_int_equal(got, n); /* none lost by a dropped recv arm, none twice */
            assert_int_equal(sum, (long)n * (n + 1) / 2);
            weft_runtime_free(rt);
            weft_mpmc_sender_drop(t.c), weft_mpmc_receiver_drop(t.c);
            weft_cancel_free(t.stop);
        }
    }
}

/* ---- join-all ----------------------------------------------------------------------------- */

typedef struct worker_task {
    int coro;
    int id;
    weft_yield y;
} worker_task;
static weft_poll worker_poll(void *p, weft_context *cx, void *out)
{
    worker_task *st = p;
    WEFT_CORO_BEGIN(st);
    WEFT_YIELD_NOW(st, y, cx);
    WEFT_CORO_RETURN(st, out, int, st->id * 3);
    WEFT_CORO_END(st);
}
static const weft_future_type worker_type = {"worker", worker_poll, NULL, sizeof(worker_task), sizeof(int)};

enum { NJ = 64 };
typedef struct ja_out {
    int abort_one;
    int abort_rc; /* 0: task 7 was cancelled; -EALREADY: it had already finished */
    weft_join_handle h[NJ + 1];
    int outs[NJ + 1];
    int results[NJ + 1];
    int result;
} ja_out;
typedef struct ja_main {
    int coro;
    ja_out *o;
    weft_join_all all;
} ja_main;
static weft_poll ja_main_poll(void *p, weft_context *cx, void *out)
{
    ja_main *st = p;
    ja_out *o = st->o;
    WEFT_CORO_BEGIN(st);
    for (int i = 0; i < NJ; i++) {
        worker_task w = {.id = i};
        if (weft_spawn(weft_context_runtime(cx), &worker_type, &w, &o->h[i]) < 0)
            WEFT_CORO_RETURN(st, out, int, -1);
    }
    if (o->abort_one) {
        /* with two workers task 7 may already have run to completion */
        o->abort_rc = weft_join_abort(&o->h[7]);
        o->h[NJ] = WEFT_JOIN_HANDLE_INIT; /* an empty handle */
    }
    weft_join_all_init(&st->all, o->h, o->abort_one ? NJ + 1 : NJ, o->outs, sizeof(int), o->results);
    WEFT_AWAIT(st, weft_join_all_poll(&st->all, cx, &o->result));
    weft_join_all_drop(&st->all);
    WEFT_CORO_RETURN(st, out, int, 0);
    WEFT_CORO_END(st);
}
static const weft_future_type ja_main_type = {"ja_main", ja_main_poll, NULL, sizeof(ja_main), sizeof(int)};

static void test_join_all(void **unused)
{
    (void)unused;
    const char *scheds[] = {"fifo", "global", "ws"};
    for (int k = 0; k < 3; k++) {
        for (int ab = 0; ab < 2; ab++) {
            /* budget 16 < 64 handles: the join-all yields and goes on */
            weft_runtime *rt = tu_rt_new(scheds[k], k == 0 ? 1 : 2, "budget=16", NULL);
            ja_out *o = calloc(1, sizeof *o);
            o->abort_one = ab;
            o->result = 1;
            ja_main m = {0, o, {0}};
            int rc = -1;
            tu_block_on_ok(rt, &ja_main_type, &m, &rc);
            assert_int_equal(rc, 0);
            int ok = 0;
            for (int i = 0; i < NJ; i++) {
                /* An abort that lands while task 7 is inside its last poll
                 * returns 0 and the poll's READY still wins (a running poll
                 * is not interrupted): then the task completed normally. */
                if (ab && i == 7 && o->results[i] == -ECANCELED) {
                    assert_int_equal(o->abort_rc, 0);
                    assert_null(o->h[i].task);
                    continue;
                }
                if (ab && i == 7) assert_true(o->abort_rc == 0 || o->abort_rc == -EALREADY);
                ok += o->results[i] == 0 && o->outs[i] == i * 3;
                assert_null(o->h[i].task);
            }
            bool cancelled = ab && o->results[7] == -ECANCELED;
            assert_int_equal(ok, cancelled ? NJ - 1 : NJ);
            if (ab) {
                assert_int_equal(o->results[NJ], -EINVAL);
                /* the first error, by index */
                assert_int_equal(o->result, cancelled ? -ECANCELED : -EINVAL);
            } else {
                assert_int_equal(o->result, 0);
            }
            free(o);
            weft_runtime_free(rt);
        }
    }
    /* zero handles: READY at once; bad arguments */
    tu_cwaker cw;
    tu_cw_init(&cw);
    weft_context cx = tu_cw_context(&cw);
    weft_join_all j;
    int r = 1;
    assert_int_equal(weft_join_all_init(&j, NULL, 0, NULL, 0, NULL), 0);
    assert_int_equal(weft_join_all_poll(&j, &cx, &r), WEFT_READY);
    assert_int_equal(r, 0);
    assert_int_equal(weft_join_all_init(&j, NULL, 3, NULL, 0, NULL), -EINVAL);
    assert_non_null(strstr(weft_last_error(), "NULL handles"));
    assert_int_equal(weft_join_all_poll(&j, &cx, &r), WEFT_READY);
    assert_int_equal(r, -EINVAL);
    assert_int_equal(weft_join_all_init(NULL, NULL, 0, NULL, 0, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_ready_at_once),
        cmocka_unit_test(test_pending_then_fired_and_dropped),
        cmocka_unit_test(test_select_bad_input),
        cmocka_unit_test(test_select_race),
        cmocka_unit_test(test_join_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
