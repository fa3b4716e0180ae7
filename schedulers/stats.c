/*
 * schedulers/stats.c - what a runtime reports about itself: the per-worker
 * counters, the schedule-latency histogram, and the build information.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include "common/clock.h"
#include "common/histogram.h"
#include "schedulers/runtime_internal.h"

/* ---- build information ---------------------------------------------------------- */

#ifndef WEFT_COMPILER_NAME
#define WEFT_COMPILER_NAME "unknown"
#endif
#ifndef WEFT_BUILD_TYPE
#define WEFT_BUILD_TYPE "unknown"
#endif
#ifndef WEFT_C_FLAGS
#define WEFT_C_FLAGS ""
#endif
#ifndef WEFT_SANITIZER
#define WEFT_SANITIZER ""
#endif
#ifndef WEFT_VERSION_STRING
#define WEFT_VERSION_STRING "0.0.0"
#endif

/* libweft links no allocator (the program's malloc is the program's
 * choice), so the answer is the allocator the process's malloc resolves to:
 * jemalloc exports mallctl, whether linked or preloaded. */
const char *weft_build_allocator(void)
{
    return dlsym(RTLD_DEFAULT, "mallctl") ? "jemalloc" : "system";
}
const char *weft_version(void) { return WEFT_VERSION_STRING; }

static char build_info[sizeof WEFT_C_FLAGS + 256];
static pthread_once_t build_info_once = PTHREAD_ONCE_INIT;
static void build_info_init(void)
{
    snprintf(build_info, sizeof build_info,
             "weft %s allocator=%s compiler=%s build=%s sanitizer=%s cflags=%s", WEFT_VERSION_STRING,
             weft_build_allocator(), WEFT_COMPILER_NAME, WEFT_BUILD_TYPE, WEFT_SANITIZER, WEFT_C_FLAGS);
}
const char *weft_build_info(void)
{
    pthread_once(&build_info_once, build_info_init);
    return build_info;
}

uint64_t weft_now_ns(void) { return clock_now_ns(); }

/* ---- counters ------------------------------------------------------------------ */

#define SF(n, max) {#n, offsetof(weft_worker_stats, n), max}
const weft_stat_field weft_stat_fields[] = {
    SF(polls, false), SF(spawns, false), SF(local_wakes, false), SF(remote_wakes, false),
    SF(parks, false), SF(unparks, false), SF(spurious_unparks, false), SF(steal_attempts, false),
    SF(steals, false), SF(tasks_stolen, false), SF(local_steals, false), SF(remote_steals, false),
    SF(inject_pops, false), SF(lifo_hits, false), SF(overflow_moves, false), SF(queue_hwm, true),
};
const int weft_stat_field_count = (int)(sizeof weft_stat_fields / sizeof weft_stat_fields[0]);
_Static_assert(sizeof weft_stat_fields / sizeof weft_stat_fields[0] == STAT_COUNT,
               "one stat field per counter");

static void stats_copy(const worker_stats *s, weft_worker_stats *out)
{
    uint64_t *o = (uint64_t *)out;
    for (int i = 0; i < STAT_COUNT; i++)
        o[i] = atomic_load_explicit(&s->v[i], memory_order_relaxed);
}

int weft_runtime_stats(weft_runtime *rt, weft_worker_stats *per_worker, int max,
                       weft_worker_stats *total)
{
    if (!rt) return err_fail(-EINVAL, "weft_runtime_stats: NULL runtime");
    weft_worker_stats tmp;
    if (total) memset(total, 0, sizeof *total);
    for (int i = 0; i <= rt->nworkers; i++) {
        stats_copy(i < rt->nworkers ? &rt->workers[i].stats : &rt->external, &tmp);
        if (per_worker && i < max && i < rt->nworkers) per_worker[i] = tmp;
        if (total) {
            uint64_t *t = (uint64_t *)total, *s = (uint64_t *)&tmp;
            for (int k = 0; k < STAT_COUNT; k++)
                t[k] = weft_stat_fields[k].is_max ? (s[k] > t[k] ? s[k] : t[k]) : t[k] + s[k];
        }
    }
    return rt->nworkers;
}

void weft_runtime_stats_reset(weft_runtime *rt)
{
    if (!rt) return;
    for (int i = 0; i <= rt->nworkers; i++) {
        worker_stats *s = i < rt->nworkers ? &rt->workers[i].stats : &rt->external;
        for (int k = 0; k < STAT_COUNT; k++) atomic_store_explicit(&s->v[k], 0, memory_order_relaxed);
        if (i < rt->nworkers && rt->workers[i].latency_hist) hist_reset(rt->workers[i].latency_hist);
    }
}

int weft_runtime_sched_latency(weft_runtime *rt, uint64_t *p50, uint64_t *p99, uint64_t *max,
                               uint64_t *count)
{
    if (!rt) return err_fail(-EINVAL, "weft_runtime_sched_latency: NULL runtime");
    if (!rt->cfg.sched_latency)
        return err_fail(-ENOTSUP, "schedule latency is off: set the knob sched_latency=1");
    hist all;
    if (hist_init(&all, 1, 3600ull * 1000000000ull, 3) < 0) return -ENOMEM;
    for (int i = 0; i < rt->nworkers; i++) hist_merge(&all, rt->workers[i].latency_hist);
    if (p50) *p50 = hist_percentile(&all, 50.0);
    if (p99) *p99 = hist_percentile(&all, 99.0);
    if (max) *max = hist_max(&all);
    if (count) *count = hist_count(&all);
    hist_destroy(&all);
    return 0;
}
