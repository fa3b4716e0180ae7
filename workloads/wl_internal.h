/*
 * workloads/wl_internal.h - helpers shared by the workload modules: result
 * bookkeeping, failure messages, latency percentiles from the shared
 * histogram, and a "done" signal a task can raise for the thread waiting
 * in block_on.
 */
#ifndef WEFT_WL_INTERNAL_H
#define WEFT_WL_INTERNAL_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/histogram.h"
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

/* Busy work of about `ns` nanoseconds that the compiler cannot remove. */
uint64_t wl_spin_ns(uint64_t ns);

#endif
