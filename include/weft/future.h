/*
 * weft/future.h - the task model's vocabulary: poll results, wakers, the
 * poll context, the cooperative budget and the coroutine helpers.
 *
 * The model is Rust's. A future is a poll function over a state struct:
 *
 *     weft_poll poll(void *state, weft_context *cx, void *out);
 *
 * It returns WEFT_READY (and has written its output to `out`) or
 * WEFT_PENDING. Returning PENDING is a promise: a copy of the waker taken
 * from `cx` (weft_waker_clone(weft_context_waker(cx))) has been stored
 * somewhere that will call it when the future can make progress, or
 * weft_context_yield(cx) was called to ask for an immediate re-poll.
 *
 * Leaf futures (timers, sockets, channels, join handles) call
 * weft_coop_proceed(cx) before doing work: when the task's cooperative
 * budget (default 128 leaf polls per turn) is spent it returns false, the
 * leaf returns PENDING, and the task is re-queued behind the other ready
 * tasks, so one busy task cannot starve a worker.
 */
#ifndef WEFT_FUTURE_H
#define WEFT_FUTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/private.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_poll { WEFT_PENDING = 0, WEFT_READY = 1 } weft_poll;

/* ---- wakers --------------------------------------------------------------
 * A waker is two words: an ops table and a data pointer. It is a counted
 * reference: clone makes another, drop releases one, wake consumes one.
 * wake_by_ref wakes without consuming. Every op may be called from any
 * thread, including threads that belong to no runtime. */
typedef struct weft_waker weft_waker;
typedef struct weft_waker_vtable {
    weft_waker (*clone)(const void *data);
    void (*wake)(const void *data);        /* consumes the reference */
    void (*wake_by_ref)(const void *data); /* keeps the reference */
    void (*drop)(const void *data);        /* releases the reference */
} weft_waker_vtable;

struct weft_waker {
    const weft_waker_vtable *vtable; /* NULL: no waker (a valid, empty value) */
    const void *data;
};

#define WEFT_WAKER_NONE ((weft_waker){NULL, NULL})

static inline bool weft_waker_is_none(const weft_waker *w) { return w->vtable == NULL; }

static inline weft_waker weft_waker_clone(const weft_waker *w)
{
    return w->vtable ? w->vtable->clone(w->data) : WEFT_WAKER_NONE;
}

/* Consumes *w and leaves it empty. */
static inline void weft_waker_wake(weft_waker *w)
{
    const weft_waker_vtable *vt = w->vtable;
    const void *d = w->data;
    *w = WEFT_WAKER_NONE;
    if (vt) vt->wake(d);
}

static inline void weft_waker_wake_by_ref(const weft_waker *w)
{
    if (w->vtable) w->vtable->wake_by_ref(w->data);
}

/* Releases *w and leaves it empty. */
static inline void weft_waker_drop(weft_waker *w)
{
    const weft_waker_vtable *vt = w->vtable;
    const void *d = w->data;
    *w = WEFT_WAKER_NONE;
    if (vt) vt->drop(d);
}

/* True when both wake the same thing, so a stored waker need not be replaced. */
static inline bool weft_waker_will_wake(const weft_waker *a, const weft_waker *b)
{
    return a->vtable == b->vtable && a->data == b->data;
}

/* Replaces *slot with a clone of *w unless it already wakes the same task. */
static inline void weft_waker_store(weft_waker *slot, const weft_waker *w)
{
    if (weft_waker_will_wake(slot, w)) return;
    weft_waker_drop(slot);
    *slot = weft_waker_clone(w);
}

/* ---- the poll context ----------------------------------------------------
 * Built by the worker loop for each poll. Futures read it only through the
 * accessors below (the rest is private: weft/private.h). */
typedef struct weft_runtime weft_runtime;

typedef struct weft_context {
    weft_waker waker;       /* the polled task's waker, borrowed for this poll */
    weft_runtime *runtime;  /* the runtime the task runs on (NULL outside one) */
    WEFT_CONTEXT_PRIVATE_FIELDS
} weft_context;

static inline const weft_waker *weft_context_waker(const weft_context *cx) { return &cx->waker; }
static inline weft_runtime *weft_context_runtime(const weft_context *cx) { return cx->runtime; }

/* Asks the worker to re-queue the task at the back of the ready work once the
 * current poll returns PENDING (what yield_now and an empty budget do). */
static inline void weft_context_yield(weft_context *cx) { cx->yielded = 1; }

/* Charges one unit of the cooperative budget. Returns false when the budget
 * is spent; the caller must then return PENDING without doing work (the
 * task has already been marked for re-queueing). */
static inline bool weft_coop_proceed(weft_context *cx)
{
    if (cx->budget < 0) return true;
    if (cx->budget == 0) {
        cx->yielded = 1;
        return false;
    }
    cx->budget--;
    return true;
}

/* ---- futures as values ---------------------------------------------------
 * A future type: how to poll it and how big its state and output are. The
 * runtime copies `state_size` bytes of initial state into the task. */
typedef weft_poll (*weft_poll_fn)(void *state, weft_context *cx, void *out);

typedef struct weft_future_type {
    const char *name;          /* for diagnostics; may be NULL */
    weft_poll_fn poll;         /* required */
    void (*drop)(void *state); /* optional: runs if the task is dropped before completing,
                                  and after completion (once, in both cases) */
    size_t state_size;         /* bytes of state copied in at spawn (<= WEFT_FUTURE_SIZE_MAX) */
    size_t output_size;        /* bytes of output written by poll on READY (<= WEFT_FUTURE_SIZE_MAX) */
} weft_future_type;

/* The largest state_size and output_size a task may have: 1 GiB each. A
 * larger one is refused by weft_spawn / weft_block_on with -EINVAL and a
 * message (a task is one allocation; the bound keeps its size arithmetic
 * from wrapping, and no real future's state comes near it). */
#define WEFT_FUTURE_SIZE_MAX ((size_t)1 << 30)

/* ---- yield_now -------------------------------------------------------------
 * Embed a weft_yield in a coroutine state, init it, then WEFT_AWAIT on it:
 * the first poll re-queues the task behind the ready work and returns
 * PENDING; the second returns READY. */
typedef struct weft_yield { WEFT_YIELD_PRIVATE_FIELDS } weft_yield;
static inline void weft_yield_init(weft_yield *y) { y->done = 0; }
static inline weft_poll weft_yield_poll(weft_yield *y, weft_context *cx)
{
    if (y->done) return WEFT_READY;
    y->done = 1;
    weft_context_yield(cx);
    return WEFT_PENDING;
}

/* ---- coroutine helpers -----------------------------------------------------
 * Straight-line tasks over a switch (Duff's device, as in protothreads). The
 * state struct needs an `int coro` field, zero at spawn. Locals that live
 * across an await must be fields of the state struct. No WEFT_AWAIT inside a
 * nested switch.
 *
 *     static weft_poll my_task(void *p, weft_context *cx, void *out) {
 *         struct my_state *st = p;
 *         WEFT_CORO_BEGIN(st);
 *         weft_sleep_init(&st->sleep, 10 * WEFT_MS);
 *         WEFT_AWAIT(st, weft_sleep_poll(&st->sleep, cx));
 *         WEFT_CORO_RETURN(st, out, int, 42);
 *         WEFT_CORO_END(st);
 *     }
 */
#if defined(__GNUC__) || defined(__clang__)
#define WEFT_FALLTHROUGH __attribute__((fallthrough))
#else
#define WEFT_FALLTHROUGH ((void)0)
#endif
/* Each await's resume point is a distinct case label: __COUNTER__ (gcc,
 * clang) counts up once per expansion, so any number of awaits may share a
 * line. A compiler without it falls back to __LINE__: one await per line. */
#ifdef __COUNTER__
#define WEFT_CORO_POINT_ (__COUNTER__ + 1)
#else
#define WEFT_CORO_POINT_ __LINE__
#endif
#define WEFT_CORO_BEGIN(st) switch ((st)->coro) { case 0:
#define WEFT_AWAIT(st, poll_expr) WEFT_AWAIT_AT_(st, poll_expr, WEFT_CORO_POINT_)
/* internal: `point` arrives expanded (one __COUNTER__ value for both uses) */
#define WEFT_AWAIT_AT_(st, poll_expr, point)            \
    do {                                                \
        (st)->coro = (point);                           \
        WEFT_FALLTHROUGH;                               \
    case (point):                                       \
        if ((poll_expr) == WEFT_PENDING) return WEFT_PENDING; \
    } while (0)
#define WEFT_YIELD_NOW(st, yield_field, cx)             \
    do {                                                \
        weft_yield_init(&(st)->yield_field);            \
        WEFT_AWAIT(st, weft_yield_poll(&(st)->yield_field, (cx))); \
    } while (0)
#define WEFT_CORO_RETURN(st, out, type, value)          \
    do {                                                \
        (st)->coro = -1;                                \
        if (out) *(type *)(out) = (value);              \
        return WEFT_READY;                              \
    } while (0)
#define WEFT_CORO_RETURN_VOID(st)                       \
    do {                                                \
        (st)->coro = -1;                                \
        return WEFT_READY;                              \
    } while (0)
#define WEFT_CORO_END(st) default: break; } return WEFT_READY

#ifdef __cplusplus
}
#endif
#endif
