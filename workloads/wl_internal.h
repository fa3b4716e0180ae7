/*
 * workloads/wl_internal.h - helpers shared by the workload modules: result
 * bookkeeping, failure messages, latency percentiles from the shared
 * histogram, the count-down latch that ends an iteration, and splitmix64.
 */
#ifndef WEFT_WL_INTERNAL_H
#define WEFT_WL_INTERNAL_H

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/histogram.h"
#include "weft/sync.h"
#include "workloads/workload.h"

/* Records a verified quantity for the driver to show. */
static inline void wl_check(weft_wl_result *out, const char *name, double value)
{
    if (out->nchecks < WEFT_WL_MAX_CHECKS) {
        out->checks[out->nchecks].name = name;
        out->checks[out->nchecks].value = value;
        out->nchecks++;
    }
}

/* Marks the iteration failed; returns -EPROTO. */
static inline int wl_fail(weft_wl_result *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int wl_fail(weft_wl_result *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->error, sizeof out->error, fmt, ap);
    va_end(ap);
    return -EPROTO;
}

/* Fails unless got == want, naming the quantity. */
#define WL_EXPECT_EQ(out, what, got, want)                                                  \
    do {                                                                                    \
        long long wl_g = (long long)(got), wl_w = (long long)(want);                        \
        if (wl_g != wl_w)                                                                   \
            return wl_fail(out, "%s: expected %lld, got %lld", what, wl_w, wl_g);           \
    } while (0)

static inline void wl_latency_from_hist(weft_wl_result *out, const hist *h)
{
    out->has_latency = true;
    out->p50_us = (double)hist_percentile(h, 50.0) / 1000.0;
    out->p99_us = (double)hist_percentile(h, 99.0) / 1000.0;
    out->p999_us = (double)hist_percentile(h, 99.9) / 1000.0;
    out->max_us = (double)hist_max(h) / 1000.0;
}

/* ---- completion: a count-down latch --------------------------------------------------
 * An iteration's end: `remaining` counts the work still to finish, and the
 * one that takes it to zero sends on `done`, which the root task awaits.
 * Each side of `done` is released exactly once. The sender: by that send,
 * or by the runner after a failed weft_block_on (wl_latch_release_sender);
 * `sender_taken` decides which. The receiver is the workload's business
 * (its root's READY recv or drop function, or the runner when the root was
 * never polled). `signals` counts the sends attempted, so a second one
 * fails a self-check instead of releasing the sender twice.
 *
 * Counting down is on the hot path of some workloads (a leaf task's one
 * atomic): these stay static inline. */
typedef struct wl_latch {
    _Atomic long remaining;
    _Atomic int sender_taken;
    _Atomic long signals;
    weft_oneshot *done;
} wl_latch;

/* 0, or a negative errno (the one-shot could not be made). */
static inline int wl_latch_init(wl_latch *l, long remaining)
{
    atomic_init(&l->remaining, remaining);
    atomic_init(&l->sender_taken, 0);
    atomic_init(&l->signals, 0);
    return weft_oneshot_new(&l->done);
}

/* Sends now, whatever `remaining` says (a chain's last link); once. */
static inline void wl_latch_signal(wl_latch *l)
{
    atomic_fetch_add_explicit(&l->signals, 1, memory_order_relaxed);
    /* acq_rel: pairs with the runner's exchange in wl_latch_release_sender */
    if (atomic_exchange_explicit(&l->sender_taken, 1, memory_order_acq_rel) == 0)
        weft_oneshot_send(l->done, 1);
}

/* More work to wait for; made before the work that counts it down. */
static inline void wl_latch_add(wl_latch *l, long n)
{
    atomic_fetch_add_explicit(&l->remaining, n, memory_order_relaxed);
}

/* `n` units finished; the one that takes `remaining` to zero signals. */
static inline void wl_latch_count_down(wl_latch *l, long n)
{
    /* acq_rel: each unit's writes before its decrement happen before the
     * last decrement's send (and the one-shot carries them on to the root
     * and the runner) */
    if (atomic_fetch_sub_explicit(&l->remaining, n, memory_order_acq_rel) == n) wl_latch_signal(l);
}

/* The runner after weft_block_on failed: releases the sender if no one sent. */
static inline void wl_latch_release_sender(wl_latch *l)
{
    /* pairs with the exchange in wl_latch_signal */
    if (atomic_exchange_explicit(&l->sender_taken, 1, memory_order_acq_rel) == 0)
        weft_oneshot_sender_drop(l->done);
}

/* splitmix64 (Steele, Lea, Flood 2014): a seed or counter to 64 well-mixed bits. */
static inline uint64_t wl_splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Busy work of about `ns` nanoseconds that the compiler cannot remove. */
uint64_t wl_spin_ns(uint64_t ns);

#endif
