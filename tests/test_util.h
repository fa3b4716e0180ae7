/*
 * tests/test_util.h - helpers shared by the runtime tests.
 *
 *   tu_cwaker   a counting waker: counts wakes and live references, so a test
 *               can poll a future by hand and check that it stored exactly one
 *               waker, woke it exactly once and leaked none (refs back to 0).
 *   tu_parker   a waker that parks a plain thread (mutex + condition
 *               variable) so a thread outside any runtime can await a future
 *               with tu_parker_wait between polls.
 *   tu_latch    "N things happened": any thread arrives, one future awaits
 *               the count, with its own lock (independent of common/sync.c,
 *               so the conformance suite does not depend on the primitives it
 *               is not testing). tu_latch_type runs it under weft_block_on.
 *   tu_rt_new   a runtime with a scheduler, a worker count and optional
 *               knobs, asserting success (on the test's own thread only).
 *   TU_SCALE    a smaller size under ThreadSanitizer (WEFT_TSAN is defined by
 *               the CMake TSan build); every check stays exact at either size.
 *   tu_watchdog a SIGALRM that fails a hang with the test's name and the
 *               configuration it was running (a string the test keeps up to
 *               date), instead of a suite stalled until ctest's timeout.
 *
 * Everything is static inline so each test executable takes what it uses.
 * cmocka asserts abort the process from any thread but the test's own, so
 * helpers that run on other threads never assert.
 */
#ifndef WEFT_TEST_UTIL_H
#define WEFT_TEST_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "weft/future.h"
#include "weft/runtime.h"

#if defined(WEFT_TSAN)
#define TU_SCALE(normal, tsan) (tsan)
#else
#define TU_SCALE(normal, tsan) (normal)
#endif

/* ---- the watchdog ------------------------------------------------------------------ */

/* What the handler prints: set by tu_watchdog; the strings are the caller's and
 * must outlive the alarm (a static buffer the test rewrites per configuration). */
static inline const char **tu_watchdog_slot(int i)
{
    static const char *slot[2];
    return &slot[i];
}

static inline void tu_watchdog_write(const char *s)
{
    if (s && write(2, s, strlen(s)) < 0) _exit(1);
}

/* Async-signal-safe: write(2) and _exit only. */
static inline void tu_watchdog_fire(int sig)
{
    (void)sig;
    tu_watchdog_write(*tu_watchdog_slot(0));
    tu_watchdog_write(": timed out (lost wake-up?) in ");
    tu_watchdog_write(*tu_watchdog_slot(1));
    tu_watchdog_write("\n");
    _exit(1);
}

/* Arms (or re-arms) the alarm; tu_watchdog_off disarms it. */
static inline void tu_watchdog(unsigned seconds, const char *test, const char *config)
{
    *tu_watchdog_slot(0) = test;
    *tu_watchdog_slot(1) = config;
    signal(SIGALRM, tu_watchdog_fire);
    alarm(seconds);
}

static inline void tu_watchdog_off(void) { alarm(0); }

/* ---- sleeping and spinning ---------------------------------------------------- */

static inline void tu_sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline uint64_t tu_now_ms(void) { return weft_now_ns() / 1000000u; }

/* Spins (with sched_yield) until *flag != 0 or timeout_ms passes; true if set.
 * Safe on any thread. acquire pairs with the release store of the setter. */
/* Waits until *counter >= want (acquire); false after timeout_ms. */
static inline bool tu_wait_at_least(_Atomic int *counter, int want, unsigned timeout_ms)
{
    uint64_t end = tu_now_ms() + timeout_ms;
    while (atomic_load_explicit(counter, memory_order_acquire) < want) {
        if (tu_now_ms() > end) return false;
        sched_yield();
    }
    return true;
}

static inline bool tu_wait_flag(_Atomic int *flag, unsigned timeout_ms)
{
    return tu_wait_at_least(flag, 1, timeout_ms);
}

/* ---- the counting waker ------------------------------------------------------------ */

typedef struct tu_cwaker {
    _Atomic int refs;  /* live references handed out by clone, not yet dropped/woken */
    _Atomic int wakes; /* wake + wake_by_ref calls */
} tu_cwaker;

static inline const weft_waker_vtable *tu_cw_vtable(void);

/* Counters only: relaxed everywhere; the test reads them after joining any
 * thread that touched them (pthread_join orders the accesses). */
static inline weft_waker tu_cw_clone(const void *d)
{
    atomic_fetch_add_explicit(&((tu_cwaker *)d)->refs, 1, memory_order_relaxed);
    return (weft_waker){tu_cw_vtable(), d};
}
static inline void tu_cw_wake(const void *d)
{
    atomic_fetch_add_explicit(&((tu_cwaker *)d)->wakes, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&((tu_cwaker *)d)->refs, 1, memory_order_relaxed);
}
static inline void tu_cw_wake_by_ref(const void *d)
{
    atomic_fetch_add_explicit(&((tu_cwaker *)d)->wakes, 1, memory_order_relaxed);
}
static inline void tu_cw_drop(const void *d)
{
    atomic_fetch_sub_explicit(&((tu_cwaker *)d)->refs, 1, memory_order_relaxed);
}
static inline const weft_waker_vtable *tu_cw_vtable(void)
{
    static const weft_waker_vtable vt = {tu_cw_clone, tu_cw_wake, tu_cw_wake_by_ref, tu_cw_drop};
    return &vt;
}

static inline void tu_cw_init(tu_cwaker *c)
{
    atomic_init(&c->refs, 0);
    atomic_init(&c->wakes, 0);
}
static inline int tu_cw_refs(tu_cwaker *c) { return atomic_load_explicit(&c->refs, memory_order_relaxed); }
static inline int tu_cw_wakes(tu_cwaker *c) { return atomic_load_explicit(&c->wakes, memory_order_relaxed); }

/* A poll context outside any runtime whose (borrowed) waker is c. */
static inline weft_context tu_cw_context(tu_cwaker *c)
{
    weft_context cx = {{tu_cw_vtable(), c}, NULL, NULL, -1, 0, NULL};
    return cx;
}

/* ---- the thread parker -------------------------------------------------------------- */

typedef struct tu_parker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int notified; /* under mu */
} tu_parker;

static inline const weft_waker_vtable *tu_pk_vtable(void);
static inline weft_waker tu_pk_clone(const void *d) { return (weft_waker){tu_pk_vtable(), d}; }
static inline void tu_pk_wake_by_ref(const void *d)
{
    tu_parker *p = (tu_parker *)d;
    pthread_mutex_lock(&p->mu);
    p->notified = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}
static inline void tu_pk_noop(const void *d) { (void)d; }
static inline const weft_waker_vtable *tu_pk_vtable(void)
{
    /* no reference count: the parker outlives every waker of it (the thread
     * that owns it joins or drops every future that stored one first) */
    static const weft_waker_vtable vt = {tu_pk_clone, tu_pk_wake_by_ref, tu_pk_wake_by_ref, tu_pk_noop};
    return &vt;
}
static inline void tu_parker_init(tu_parker *p)
{
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->notified = 0;
}
static inline void tu_parker_destroy(tu_parker *p)
{
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}
/* Waits until woken since the last wait. */
static inline void tu_parker_wait(tu_parker *p)
{
    pthread_mutex_lock(&p->mu);
    while (!p->notified) pthread_cond_wait(&p->cv, &p->mu);
    p->notified = 0;
    pthread_mutex_unlock(&p->mu);
}
static inline weft_context tu_parker_context(tu_parker *p)
{
    weft_context cx = {{tu_pk_vtable(), p}, NULL, NULL, -1, 0, NULL};
    return cx;
}

/* ---- the latch ------------------------------------------------------------------------ */

typedef struct tu_latch {
    _Atomic long count;
    long target;
    pthread_mutex_t mu;
    weft_waker waker; /* under mu: the awaiting task's waker, or none */
} tu_latch;

static inline void tu_latch_init(tu_latch *l, long target)
{
    atomic_init(&l->count, 0);
    l->target = target;
    pthread_mutex_init(&l->mu, NULL);
    l->waker = WEFT_WAKER_NONE;
}

static inline void tu_latch_destroy(tu_latch *l)
{
    weft_waker_drop(&l->waker);
    pthread_mutex_destroy(&l->mu);
}

static inline long tu_latch_count(tu_latch *l)
{
    return atomic_load_explicit(&l->count, memory_order_acquire); /* pairs with arrive's acq_rel */
}

/* Any thread. */
static inline void tu_latch_arrive(tu_latch *l)
{
    /* acq_rel: the arrivers' writes are visible to whoever sees the count */
    long n = atomic_fetch_add_explicit(&l->count, 1, memory_order_acq_rel) + 1;
    if (n != l->target) return;
    pthread_mutex_lock(&l->mu);
    weft_waker w = l->waker;
    l->waker = WEFT_WAKER_NONE;
    pthread_mutex_unlock(&l->mu);
    weft_waker_wake(&w);
}

static inline weft_poll tu_latch_poll(tu_latch *l, weft_context *cx)
{
    if (tu_latch_count(l) >= l->target) return WEFT_READY;
    pthread_mutex_lock(&l->mu);
    weft_waker_store(&l->waker, weft_context_waker(cx));
    pthread_mutex_unlock(&l->mu);
    /* the last arrive may have looked for a waker before we stored ours */
    if (tu_latch_count(l) >= l->target) {
        pthread_mutex_lock(&l->mu);
        weft_waker_drop(&l->waker);
        pthread_mutex_unlock(&l->mu);
        return WEFT_READY;
    }
    return WEFT_PENDING;
}

typedef struct tu_latch_wait {
    tu_latch *latch;
} tu_latch_wait;

static inline weft_poll tu_latch_wait_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    return tu_latch_poll(((tu_latch_wait *)p)->latch, cx);
}

static const weft_future_type tu_latch_type = {"tu_latch_wait", tu_latch_wait_poll, NULL,
                                               sizeof(tu_latch_wait), 0};

/* ---- runtimes --------------------------------------------------------------------------- */

/* A runtime with `sched`, `workers` and NULL-terminated "name=value" knobs. */
static inline weft_runtime *tu_rt_new(const char *sched, int workers, ...)
{
    weft_config cfg;
    weft_config_default(&cfg);
    cfg.scheduler = sched;
    cfg.workers = workers;
    va_list ap;
    va_start(ap, workers);
    for (const char *kv; (kv = va_arg(ap, const char *));) {
        char name[64];
        const char *eq = strchr(kv, '=');
        assert_non_null(eq);
        size_t n = (size_t)(eq - kv);
        assert_true(n < sizeof name);
        memcpy(name, kv, n);
        name[n] = 0;
        int rc = weft_config_set(&cfg, name, eq + 1);
        if (rc) print_error("weft_config_set %s: %s\n", kv, weft_last_error());
        assert_int_equal(rc, 0);
    }
    va_end(ap);
    weft_runtime *rt = NULL;
    int rc = weft_runtime_new(&cfg, &rt);
    if (rc) print_error("weft_runtime_new(%s, %d): %s\n", sched, workers, weft_last_error());
    assert_int_equal(rc, 0);
    assert_non_null(rt);
    return rt;
}

/* weft_block_on that asserts success. */
static inline void tu_block_on_ok(weft_runtime *rt, const weft_future_type *type, const void *init,
                                  void *out)
{
    int rc = weft_block_on(rt, type, init, out);
    if (rc) print_error("weft_block_on(%s): %d %s\n", type->name ? type->name : "?", rc, weft_last_error());
    assert_int_equal(rc, 0);
}

/* Awaits *h inside rt (block_on of a joiner task): returns the join result
 * (0, or -ECANCELED ...); the task's output goes to out. */
typedef struct tu_joiner {
    weft_join_handle *h;
    void *out;
} tu_joiner;
static inline weft_poll tu_joiner_poll(void *p, weft_context *cx, void *out)
{
    tu_joiner *st = p;
    int result = 1;
    if (weft_join_poll(st->h, cx, st->out, &result) == WEFT_PENDING) return WEFT_PENDING;
    *(int *)out = result;
    return WEFT_READY;
}
static const weft_future_type tu_joiner_type = {"tu_joiner", tu_joiner_poll, NULL, sizeof(tu_joiner),
                                                sizeof(int)};
static inline int tu_join_on(weft_runtime *rt, weft_join_handle *h, void *out)
{
    tu_joiner st = {h, out};
    int result = 12345;
    tu_block_on_ok(rt, &tu_joiner_type, &st, &result);
    return result;
}

/* Waits for a latch from the test's thread by running it on rt. */
static inline void tu_latch_block(weft_runtime *rt, tu_latch *l)
{
    tu_latch_wait st = {l};
    tu_block_on_ok(rt, &tu_latch_type, &st, NULL);
}

#endif
