/*
 * tests/test_cancel.c - common/cancel.c: cancellation tokens.
 *
 * By hand (counting wakers): a waiter pending, then fired: woken exactly
 * once, its waker released; fire is sticky (a second fire returns 0, a
 * later wait is READY at once); the combinator lets a READY inner result win
 * a tie and unregisters; fire after completion wakes nothing and leaks
 * nothing; children fire with their parent (and grandchildren), alone
 * without it, start fired under a fired parent, and are freed in either
 * order.
 *
 * Races, on every scheduler, in loops: fire during poll (an outside thread
 * fires while N tasks register and re-poll: every task ends, each exactly
 * once); tokens fired by an outside thread racing weft_runtime_free (the
 * tasks may be cancelled by the shutdown or woken by the fire: completions
 * + drops == N exactly, and ASan/TSan see no access to freed memory).
 */
#include "test_util.h"
#include "weft/cancel.h"

static const char *const kScheds[] = {"fifo", "global", "ws", "numa"};
#define NSCHED 4

static void test_by_hand(void **unused)
{
    (void)unused;
    tu_cwaker cw;
    tu_cw_init(&cw);
    weft_context cx = tu_cw_context(&cw);
    weft_cancel *t;
    assert_int_equal(weft_cancel_new(&t), 0);
    assert_int_equal(weft_cancel_is_fired(t), 0);
    weft_cancel_wait w;
    weft_cancel_wait_init(&w, t);
    assert_int_equal(weft_cancel_wait_result(&w), -EAGAIN);
    assert_int_equal(weft_cancel_wait_poll(&w, &cx), WEFT_PENDING);
    assert_int_equal(weft_cancel_wait_poll(&w, &cx), WEFT_PENDING); /* same waker kept */
    assert_int_equal(tu_cw_refs(&cw), 1);
    assert_int_equal(weft_cancel_fire(t), 1);
    assert_int_equal(tu_cw_wakes(&cw), 1);
    assert_int_equal(tu_cw_refs(&cw), 0);
    assert_int_equal(weft_cancel_fire(t), 0); /* sticky: already fired */
    assert_int_equal(tu_cw_wakes(&cw), 1);
    assert_int_equal(weft_cancel_wait_poll(&w, &cx), WEFT_READY);
    assert_int_equal(weft_cancel_wait_result(&w), -ECANCELED);
    weft_cancel_wait_drop(&w);
    /* a wait after the fire: READY at once, nothing stored */
    weft_cancel_wait_init(&w, t);
    assert_int_equal(weft_cancel_wait_poll(&w, &cx), WEFT_READY);
    assert_int_equal(tu_cw_refs(&cw), 0);
    /* fired AND inner ready: the inner wins the tie */
    weft_cancel_wait_init(&w, t);
    assert_int_equal(weft_cancel_poll(&w, &cx, WEFT_READY), WEFT_READY);
    assert_int_equal(weft_cancel_wait_result(&w), 0);
    weft_cancel_wait_drop(&w);
    assert_int_equal(weft_cancel_is_fired(t), 1);
    weft_cancel_free(t);

    /* completion first: the inner finishes, the waiter unregisters, a later
     * fire wakes nobody and nothing leaks */
    tu_cw_init(&cw);
    assert_int_equal(weft_cancel_new(&t), 0);
    weft_cancel_wait_init(&w, t);
    assert_int_equal(weft_cancel_poll(&w, &cx, WEFT_PENDING), WEFT_PENDING);
    assert_int_equal(tu_cw_refs(&cw), 1);
    assert_int_equal(weft_cancel_poll(&w, &cx, WEFT_READY), WEFT_READY);
    assert_int_equal(weft_cancel_wait_result(&w), 0);
    assert_int_equal(tu_cw_refs(&cw), 0);
    /* reused for the next await */
    assert_int_equal(weft_cancel_poll(&w, &cx, WEFT_PENDING), WEFT_PENDING);
    assert_int_equal(weft_cancel_poll(&w, &cx, WEFT_READY), WEFT_READY);
    assert_int_equal(weft_cancel_fire(t), 1);
    assert_int_equal(tu_cw_wakes(&cw), 0);
    assert_int_equal(tu_cw_refs(&cw), 0);
    weft_cancel_wait_drop(&w);
    /* a waiter dropped while pending releases its waker */
    weft_cancel_free(t);
    assert_int_equal(weft_cancel_new(&t), 0);
    weft_cancel_wait_init(&w, t);
    assert_int_equal(weft_cancel_wait_poll(&w, &cx), WEFT_PENDING);
    weft_cancel_wait_drop(&w);
    weft_cancel_wait_drop(&w);
    assert_int_equal(tu_cw_refs(&cw), 0);
    assert_int_equal(weft_cancel_fire(t), 1);
    assert_int_equal(tu_cw_wakes(&cw), 0);
    /* clone: two references, the token lives until both are freed */
    assert_int_equal(weft_cancel_clone(t), 0);
    weft_cancel_free(t);
    assert_int_equal(weft_cancel_is_fired(t), 1);
    weft_cancel_free(t);
}

static void test_children(void **unused)
{
    (void)unused;
    tu_cwaker cw[3];
    weft_context cx[3];
    for (int i = 0; i < 3; i++) {
        tu_cw_init(&cw[i]);
        cx[i] = tu_cw_context(&cw[i]);
    }
    weft_cancel *root, *a, *b, *aa;
    assert_int_equal(weft_cancel_new(&root), 0);
    assert_int_equal(weft_cancel_child_new(root, &a), 0);
    assert_int_equal(weft_cancel_child_new(root, &b), 0);
    assert_int_equal(weft_cancel_child_new(a, &aa), 0);
    weft_cancel_wait w[3];
    weft_cancel_wait_init(&w[0], a);
    weft_cancel_wait_init(&w[1], b);
    weft_cancel_wait_init(&w[2], aa);
    for (int i = 0; i < 3; i++) assert_int_equal(weft_cancel_wait_poll(&w[i], &cx[i]), WEFT_PENDING);
    /* a child fired alone: itself and its subtree, not its parent or sibling */
    assert_int_equal(weft_cancel_fire(a), 1);
    assert_int_equal(tu_cw_wakes(&cw[0]), 1);
    assert_int_equal(tu_cw_wakes(&cw[2]), 1);
    assert_int_equal(tu_cw_wakes(&cw[1]), 0);
    assert_int_equal(weft_cancel_is_fired(root), 0);
    assert_int_equal(weft_cancel_is_fired(b), 0);
    /* the root fires the rest */
    assert_int_equal(weft_cancel_fire(root), 1);
    assert_int_equal(tu_cw_wakes(&cw[1]), 1);
    assert_int_equal(weft_cancel_is_fired(b), 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(weft_cancel_wait_poll(&w[i], &cx[i]), WEFT_READY);
        weft_cancel_wait_drop(&w[i]);
        assert_int_equal(tu_cw_refs(&cw[i]), 0);
    }
    /* a child of a fired token starts fired */
    weft_cancel *late;
    assert_int_equal(weft_cancel_child_new(root, &late), 0);
    assert_int_equal(weft_cancel_is_fired(late), 1);
    /* parents freed before their children: the children keep them */
    weft_cancel_free(root);
    weft_cancel_free(a);
    weft_cancel_free(aa);
    weft_cancel_free(b);
    weft_cancel_free(late);

    /* children freed before the fire, and a grandchild freed before its
     * parent fires: nothing is fired twice or touched after free */
    assert_int_equal(weft_cancel_new(&root), 0);
    for (int i = 0; i < 50; i++) {
        weft_cancel *c;
        assert_int_equal(weft_cancel_child_new(root, &c), 0);
        if (i % 2) weft_cancel_free(c);
        else weft_cancel_fire(c), weft_cancel_free(c);
    }
    assert_int_equal(weft_cancel_child_new(root, &a), 0);
    assert_int_equal(weft_cancel_fire(root), 1);
    assert_int_equal(weft_cancel_is_fired(a), 1);
    weft_cancel_free(a);
    weft_cancel_free(root);
}

static void test_bad_input(void **unused)
{
    (void)unused;
    assert_int_equal(weft_cancel_new(NULL), -EINVAL);
    assert_non_null(strstr(weft_last_error(), "weft_cancel_new"));
    weft_cancel *c;
    assert_int_equal(weft_cancel_child_new(NULL, &c), -EINVAL);
    assert_int_equal(weft_cancel_fire(NULL), -EINVAL);
    assert_int_equal(weft_cancel_is_fired(NULL), -EINVAL);
    assert_int_equal(weft_cancel_clone(NULL), -EINVAL);
    weft_cancel_free(NULL);
    tu_cwaker cw;
    tu_cw_init(&cw);
    weft_context cx = tu_cw_context(&cw);
    weft_cancel_wait w;
    weft_cancel_wait_init(&w, NULL);
    assert_int_equal(weft_cancel_wait_poll(&w, &cx), WEFT_READY);
    assert_int_equal(weft_cancel_wait_result(&w), -EINVAL);
    weft_cancel_wait_drop(&w);
}

/* ---- races on a runtime ---------------------------------------------------------------- */

typedef struct shared {
    weft_cancel *token;
    _Atomic int registered, finished, dropped;
    _Atomic int freed; /* the runtime is gone: stop waiting for registrations */
} shared;

typedef struct waiter_task {
    shared *sh;
    int counted;
    weft_cancel_wait w;
    weft_yield y;
    int phase;
} waiter_task;

/* registers, then yields a few times (polled again while the fire may be
 * landing), then waits for the token */
static weft_poll waiter_poll(void *p, weft_context *cx, void *out)
{
    waiter_task *st = p;
    (void)out;
    if (!st->counted) {
        weft_cancel_wait_init(&st->w, st->sh->token);
        st->counted = 1;
        atomic_fetch_add_explicit(&st->sh->registered, 1, memory_order_release);
    }
    if (weft_cancel_wait_poll(&st->w, cx) == WEFT_PENDING) {
        if (st->phase++ < 3) weft_context_yield(cx); /* re-polled while registered */
        return WEFT_PENDING;
    }
    atomic_fetch_add_explicit(&st->sh->finished, 1, memory_order_relaxed);
    return WEFT_READY;
}
static void waiter_drop(void *p)
{
    waiter_task *st = p;
    if (st->counted) weft_cancel_wait_drop(&st->w);
    atomic_fetch_add_explicit(&st->sh->dropped, 1, memory_order_relaxed);
}
static const weft_future_type waiter_type = {"cancel_waiter", waiter_poll, waiter_drop, sizeof(waiter_task), 0};

typedef struct firer {
    shared *sh;
    int after; /* registrations to wait for (-1: none) */
} firer;
static void *fire_main(void *p)
{
    firer *f = p;
    if (f->after > 0)
        while (atomic_load_explicit(&f->sh->registered, memory_order_acquire) < f->after &&
               !atomic_load_explicit(&f->sh->freed, memory_order_acquire))
            sched_yield();
    weft_cancel_fire(f->sh->token);
    return NULL;
}

enum { NTASKS = 16 };

/* fire during poll: every task finishes, exactly once */
static void test_fire_during_poll(void **unused)
{
    (void)unused;
    const int iters = TU_SCALE(100, 30);
    for (int s = 0; s < NSCHED; s++) {
        for (int it = 0; it < iters; it++) {
            weft_runtime *rt = tu_rt_new(kScheds[s], s == 0 ? 1 : 2, NULL);
            shared sh;
            memset(&sh, 0, sizeof sh);
            assert_int_equal(weft_cancel_new(&sh.token), 0);
            weft_join_handle h[NTASKS];
            for (int i = 0; i < NTASKS; i++) {
                waiter_task wt = {.sh = &sh};
                assert_int_equal(weft_spawn(rt, &waiter_type, &wt, &h[i]), 0);
            }
            firer f = {&sh, it % 3 == 0 ? -1 : 1 + it % NTASKS};
            pthread_t th;
            assert_int_equal(pthread_create(&th, NULL, fire_main, &f), 0);
            for (int i = 0; i < NTASKS; i++) assert_int_equal(tu_join_on(rt, &h[i], NULL), 0);
            pthread_join(th, NULL);
            weft_runtime_free(rt);
            assert_int_equal(atomic_load(&sh.finished), NTASKS);
            assert_int_equal(atomic_load(&sh.dropped), NTASKS); /* the drop runs after READY too */
            weft_cancel_free(sh.token);
        }
    }
}

/* an outside thread fires while the runtime is being freed */
typedef struct root_state {
    shared *sh;
} root_state;
static weft_poll root_poll(void *p, weft_context *cx, void *out)
{
    root_state *st = p;
    (void)out;
    for (int i = 0; i < NTASKS; i++) {
        waiter_task wt = {.sh = st->sh};
        if (weft_spawn(weft_context_runtime(cx), &waiter_type, &wt, NULL) < 0) return WEFT_READY;
    }
    return WEFT_READY;
}
static const weft_future_type root_type = {"root", root_poll, NULL, sizeof(root_state), 0};

static void test_fire_racing_runtime_free(void **unused)
{
    (void)unused;
    const int iters = TU_SCALE(100, 30);
    for (int s = 0; s < NSCHED; s++) {
        for (int it = 0; it < iters; it++) {
            weft_runtime *rt = tu_rt_new(kScheds[s], s == 0 ? 1 : 2, NULL);
            shared sh;
            memset(&sh, 0, sizeof sh);
            assert_int_equal(weft_cancel_new(&sh.token), 0);
            root_state rs = {&sh};
            tu_block_on_ok(rt, &root_type, &rs, NULL);
            /* fifo runs its tasks only inside block_on: wait for a few
             * registrations only on the threaded schedulers */
            firer f = {&sh, s == 0 ? -1 : (it % 2 ? 1 : -1)};
            pthread_t th;
            assert_int_equal(pthread_create(&th, NULL, fire_main, &f), 0);
            if (it % 4 == 1) tu_sleep_ms(1);
            weft_runtime_free(rt); /* cancels whatever the fire did not finish */
            atomic_store_explicit(&sh.freed, 1, memory_order_release);
            pthread_join(th, NULL);
            /* every task ended once: finished by the fire, or cancelled */
            assert_int_equal(atomic_load(&sh.dropped), NTASKS);
            assert_true(atomic_load(&sh.finished) <= NTASKS);
            assert_int_equal(weft_cancel_is_fired(sh.token), 1);
            weft_cancel_free(sh.token);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hand),
        cmocka_unit_test(test_children),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_fire_during_poll),
        cmocka_unit_test(test_fire_racing_runtime_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
