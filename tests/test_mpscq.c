/*
 * tests/test_mpscq.c - taskq.h's mpscq (fifo's injection queue): push order
 * after a take, appending to a non-empty taskq, empty takes, and a stress
 * of several producer threads against one consumer in which every task is
 * taken exactly once and each producer's tasks come out in its push order
 * (TSan checks the publication of task->next through the CAS). Then the
 * same through a fifo runtime: several outside threads spawn in bursts
 * with pauses, so the worker parks between bursts and every burst's first
 * push must wake it (the park protocol's fence against mpscq_nonempty);
 * every task runs exactly once; the same on ws (1 and 2 workers) and numa,
 * whose outside pushes take injectq's lock-free intake. Then the intake
 * itself: exact states, and producers against two consumers taking shares.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "schedulers/taskq.h"
#include "test_util.h"
#include "weft/runtime.h"

/* Plain task headers as list nodes: the queue only uses `next`. */
static size_t idx(task *base, task *t) { return (size_t)(t - base); }

static void test_order_and_append(void **state)
{
    (void)state;
    task n[8];
    memset(n, 0, sizeof n);
    mpscq q;
    mpscq_init(&q);
    taskq out;
    taskq_init(&out);
    assert_false(mpscq_nonempty(&q));
    assert_int_equal(mpscq_take_all(&q, &out), 0);
    assert_null(out.head);
    assert_null(out.tail);

    for (int i = 0; i < 3; i++) mpscq_push(&q, &n[i]);
    assert_true(mpscq_nonempty(&q));
    assert_int_equal(mpscq_take_all(&q, &out), 3);
    assert_false(mpscq_nonempty(&q));
    assert_int_equal(out.len, 3);
    /* a second batch goes behind the first, in its own push order */
    for (int i = 3; i < 8; i++) mpscq_push(&q, &n[i]);
    assert_int_equal(mpscq_take_all(&q, &out), 5);
    assert_int_equal(out.len, 8);
    assert_ptr_equal(out.tail, &n[7]);
    for (int i = 0; i < 8; i++) assert_int_equal(idx(n, taskq_pop(&out)), i);
    assert_null(taskq_pop(&out));
    assert_null(out.tail);

    /* one element; then the queue is reusable after being emptied */
    mpscq_push(&q, &n[5]);
    assert_int_equal(mpscq_take_all(&q, &out), 1);
    assert_ptr_equal(out.head, &n[5]);
    assert_ptr_equal(out.tail, &n[5]);
    assert_null(n[5].next);
    assert_ptr_equal(taskq_pop(&out), &n[5]);
    assert_int_equal(mpscq_take_all(&q, &out), 0);
}

/* ---- producers against one consumer ---------------------------------------------------- */

enum { PRODUCERS = 4 };
#define PER_PRODUCER ((size_t)TU_SCALE(200000, 20000))

typedef struct prod_arg {
    mpscq *q;
    task *nodes; /* PER_PRODUCER of them */
    _Atomic int *go;
} prod_arg;

static void *producer(void *p)
{
    prod_arg *a = p;
    while (!atomic_load_explicit(a->go, memory_order_acquire)) sched_yield();
    for (size_t i = 0; i < PER_PRODUCER; i++) {
        mpscq_push(a->q, &a->nodes[i]);
        if (i % 4096 == 0) sched_yield(); /* let the consumer empty it now and then */
    }
    return NULL;
}

static void test_stress_producers(void **state)
{
    (void)state;
    const size_t total = PRODUCERS * PER_PRODUCER;
    task *nodes = calloc(total, sizeof *nodes);
    unsigned char *seen = calloc(total, 1);
    assert_non_null(nodes);
    assert_non_null(seen);
    mpscq q;
    mpscq_init(&q);
    _Atomic int go = 0;
    prod_arg a[PRODUCERS];
    pthread_t th[PRODUCERS];
    for (int k = 0; k < PRODUCERS; k++) {
        a[k] = (prod_arg){&q, nodes + (size_t)k * PER_PRODUCER, &go};
        assert_int_equal(pthread_create(&th[k], NULL, producer, &a[k]), 0);
    }
    atomic_store_explicit(&go, 1, memory_order_release);
    size_t last[PRODUCERS];
    for (int k = 0; k < PRODUCERS; k++) last[k] = SIZE_MAX;
    size_t got = 0, batches = 0, out_of_order = 0, twice = 0;
    taskq out;
    taskq_init(&out);
    while (got < total) {
        size_t n = mpscq_take_all(&q, &out);
        if (!n) {
            sched_yield();
            continue;
        }
        batches++;
        assert_int_equal(out.len, n);
        for (task *t; (t = taskq_pop(&out));) {
            size_t i = idx(nodes, t);
            assert_true(i < total);
            if (seen[i]++) twice++;
            size_t k = i / PER_PRODUCER, j = i % PER_PRODUCER;
            if (last[k] != SIZE_MAX && j != last[k] + 1) out_of_order++;
            last[k] = j;
            got++;
        }
    }
    for (int k = 0; k < PRODUCERS; k++) pthread_join(th[k], NULL);
    assert_int_equal(mpscq_take_all(&q, &out), 0); /* nothing left, nothing extra */
    assert_int_equal(got, total);
    assert_int_equal(twice, 0);
    assert_int_equal(out_of_order, 0);
    for (size_t i = 0; i < total; i++) assert_int_equal(seen[i], 1);
    for (int k = 0; k < PRODUCERS; k++) assert_int_equal(last[k], PER_PRODUCER - 1);
    assert_true(batches >= 1);
    free(seen);
    free(nodes);
}

/* ---- the same through a fifo runtime, with the worker parking ------------------------------ */

enum { BURSTS = 40 };
#define BURST ((int)TU_SCALE(500, 100))

typedef struct run_state {
    _Atomic int *slots;
    tu_latch *latch;
    int i;
} run_state;

static weft_poll run_poll(void *p, weft_context *cx, void *out)
{
    (void)cx;
    (void)out;
    run_state *s = p;
    atomic_fetch_add_explicit(&s->slots[s->i], 1, memory_order_relaxed);
    tu_latch_arrive(s->latch);
    return WEFT_READY;
}
static const weft_future_type run_type = {"test_mpscq.run", run_poll, NULL, sizeof(run_state), 0};

typedef struct sp_arg {
    weft_runtime *rt;
    _Atomic int *slots;
    tu_latch *latch;
    int first;
    int failures;
} sp_arg;

static void *spawner(void *p)
{
    sp_arg *a = p;
    for (int b = 0; b < BURSTS; b++) {
        for (int i = 0; i < BURST; i++) {
            run_state s = {a->slots, a->latch, a->first + b * BURST + i};
            if (weft_spawn(a->rt, &run_type, &s, NULL) != 0) a->failures++;
        }
        /* long enough for the worker to run the burst dry and park */
        nanosleep(&(struct timespec){0, 200000}, NULL);
    }
    return NULL;
}

static void outside_bursts(const char *sched, int workers)
{
    const int per = BURSTS * BURST, total = PRODUCERS * per;
    _Atomic int *slots = calloc((size_t)total, sizeof *slots);
    assert_non_null(slots);
    tu_latch latch;
    tu_latch_init(&latch, total);
    weft_runtime *rt = tu_rt_new(sched, workers, NULL);
    sp_arg a[PRODUCERS];
    pthread_t th[PRODUCERS];
    for (int k = 0; k < PRODUCERS; k++) {
        a[k] = (sp_arg){rt, slots, &latch, k * per, 0};
        assert_int_equal(pthread_create(&th[k], NULL, spawner, &a[k]), 0);
    }
    /* the root waits on the latch: between bursts the worker parks */
    tu_latch_wait w = {&latch};
    assert_int_equal(weft_block_on(rt, &tu_latch_type, &w, NULL), 0);
    for (int k = 0; k < PRODUCERS; k++) {
        pthread_join(th[k], NULL);
        assert_int_equal(a[k].failures, 0);
    }
    assert_int_equal(tu_latch_count(&latch), total);
    int bad = 0;
    for (int i = 0; i < total; i++) bad += atomic_load(&slots[i]) != 1;
    assert_int_equal(bad, 0);
    weft_worker_stats s;
    weft_runtime_stats(rt, NULL, 0, &s);
    assert_int_equal(s.spawns, (uint64_t)total + 1);
    assert_true(s.parks > 0); /* the bursts did meet a parked worker */
    weft_runtime_free(rt);
    bad = 0;
    for (int i = 0; i < total; i++) bad += atomic_load(&slots[i]) != 1;
    assert_int_equal(bad, 0); /* nothing re-run at shutdown */
    tu_latch_destroy(&latch);
    free(slots);
}

static void test_fifo_outside_bursts(void **state)
{
    (void)state;
    outside_bursts("fifo", 1);
}

/* ws and numa push outside spawns onto their injection queues' lock-free
 * intake (injectq_push_intake): the same bursts, at one worker (the
 * block_on caller on the lent core) and two */
static void test_ws_outside_bursts(void **state)
{
    (void)state;
    outside_bursts("ws", 1);
    outside_bursts("ws", 2);
    outside_bursts("numa", 2);
}

/* ---- injectq's intake ------------------------------------------------------------------ */

/* Exact states: the intake is absorbed behind the locked list, in push
 * order, by every pop; injectq_len is a hint that counts a non-empty intake
 * as one; the share is computed after the absorb. */
static void test_injectq_intake(void **state)
{
    (void)state;
    task n[16];
    memset(n, 0, sizeof n);
    injectq iq;
    injectq_init(&iq);
    assert_int_equal(injectq_len(&iq), 0);
    assert_null(injectq_pop(&iq));
    injectq_push(&iq, &n[0]); /* the locked side */
    for (int i = 1; i < 6; i++) injectq_push_intake(&iq, &n[i]);
    assert_int_equal(injectq_len(&iq), 2); /* 1 locked + "some" intake */
    assert_ptr_equal(injectq_pop(&iq), &n[0]);
    assert_int_equal(injectq_len(&iq), 5); /* absorbed: exact */
    injectq_push_intake(&iq, &n[6]);
    taskq out;
    taskq_init(&out);
    /* 2 workers: share = 6 / 2 + 1 = 4 of the 6 (1-6), oldest first */
    assert_int_equal(injectq_pop_share(&iq, &out, 2, 128), 4);
    assert_int_equal(injectq_len(&iq), 2);
    for (int i = 1; i <= 4; i++) assert_ptr_equal(taskq_pop(&out), &n[i]);
    /* the cap; then the rest, and a batch pop behind new intake */
    for (int i = 7; i < 16; i++) injectq_push_intake(&iq, &n[i]);
    assert_int_equal(injectq_pop_share(&iq, &out, 1, 4), 4);
    assert_int_equal(injectq_pop_batch(&iq, &out, 100), 7);
    for (int i = 5; i < 16; i++) assert_ptr_equal(taskq_pop(&out), &n[i]);
    assert_null(taskq_pop(&out));
    assert_int_equal(injectq_len(&iq), 0);
    assert_int_equal(injectq_pop_share(&iq, &out, 1, 4), 0);
}

/* Producers on the intake (and now and then the locked side) against two
 * consumers taking shares: every task exactly once, and each consumer sees
 * each producer's intake tasks in push order (a consumer's batches are
 * taken in queue order under the lock; a locked push goes straight to the
 * list, so it may pass intake pushes not yet absorbed). */
typedef struct iq_prod {
    injectq *q;
    task *nodes;
    _Atomic int *go;
} iq_prod;

static void *iq_producer(void *p)
{
    iq_prod *a = p;
    while (!atomic_load_explicit(a->go, memory_order_acquire)) sched_yield();
    for (size_t i = 0; i < PER_PRODUCER; i++) {
        if (i % 1024 == 7) injectq_push(a->q, &a->nodes[i]); /* now and then the locked side */
        else injectq_push_intake(a->q, &a->nodes[i]);
        if (i % 4096 == 0) sched_yield();
    }
    return NULL;
}

typedef struct iq_cons {
    injectq *q;
    task *nodes;
    _Atomic unsigned char *seen;
    _Atomic size_t *got;
    size_t out_of_order;
} iq_cons;

static void *iq_consumer(void *p)
{
    iq_cons *c = p;
    const size_t total = PRODUCERS * PER_PRODUCER;
    size_t last[PRODUCERS];
    for (int k = 0; k < PRODUCERS; k++) last[k] = SIZE_MAX;
    taskq out;
    taskq_init(&out);
    while (atomic_load_explicit(c->got, memory_order_relaxed) < total) {
        size_t n = injectq_pop_share(c->q, &out, 2, 64);
        if (!n) {
            sched_yield();
            continue;
        }
        for (task *t; (t = taskq_pop(&out));) {
            size_t i = idx(c->nodes, t), k = i / PER_PRODUCER, j = i % PER_PRODUCER;
            atomic_fetch_add_explicit(&c->seen[i], 1, memory_order_relaxed);
            if (j % 1024 == 7) continue; /* a locked push may pass intake pushes not yet absorbed */
            if (last[k] != SIZE_MAX && j <= last[k]) c->out_of_order++;
            last[k] = j;
        }
        atomic_fetch_add_explicit(c->got, n, memory_order_relaxed);
    }
    return NULL;
}

static void test_injectq_intake_stress(void **state)
{
    (void)state;
    const size_t total = PRODUCERS * PER_PRODUCER;
    task *nodes = calloc(total, sizeof *nodes);
    _Atomic unsigned char *seen = calloc(total, 1);
    assert_non_null(nodes);
    assert_non_null(seen);
    injectq q;
    injectq_init(&q);
    _Atomic int go = 0;
    _Atomic size_t got = 0;
    iq_prod a[PRODUCERS];
    pthread_t th[PRODUCERS], ct[2];
    iq_cons c[2];
    for (int k = 0; k < PRODUCERS; k++) {
        a[k] = (iq_prod){&q, nodes + (size_t)k * PER_PRODUCER, &go};
        assert_int_equal(pthread_create(&th[k], NULL, iq_producer, &a[k]), 0);
    }
    for (int k = 0; k < 2; k++) {
        c[k] = (iq_cons){&q, nodes, seen, &got, 0};
        assert_int_equal(pthread_create(&ct[k], NULL, iq_consumer, &c[k]), 0);
    }
    atomic_store_explicit(&go, 1, memory_order_release);
    for (int k = 0; k < PRODUCERS; k++) pthread_join(th[k], NULL);
    for (int k = 0; k < 2; k++) pthread_join(ct[k], NULL);
    assert_int_equal(atomic_load(&got), total);
    assert_int_equal(c[0].out_of_order + c[1].out_of_order, 0);
    size_t bad = 0;
    for (size_t i = 0; i < total; i++) bad += atomic_load(&seen[i]) != 1;
    assert_int_equal(bad, 0);
    assert_int_equal(injectq_len(&q), 0);
    free((void *)seen);
    free(nodes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_append),
        cmocka_unit_test(test_stress_producers),
        cmocka_unit_test(test_fifo_outside_bursts),
        cmocka_unit_test(test_ws_outside_bursts),
        cmocka_unit_test(test_injectq_intake),
        cmocka_unit_test(test_injectq_intake_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
