/*
 * workloads/workload.h - the standard workloads (docs/WORKLOADS.md), by name.
 *
 * Bench-only: compiled into weft_workloads (not libweft) and not installed;
 * weft-bench and the tests include it.
 *
 * A workload has a name, a description, typed integer parameters with a
 * default per profile (quick for tests, standard for `make bench`, full for
 * long runs), optional named variants (uts: T1, T3; fib: join, spawn2), and
 * one operation: run one iteration on a runtime it is given and verify its
 * own result. A run whose verification fails returns -EPROTO and says what
 * was expected and what came back in result->error; its time must never be
 * reported.
 */
#ifndef WEFT_WORKLOAD_H
#define WEFT_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_profile {
    WEFT_PROFILE_QUICK = 0,
    WEFT_PROFILE_STANDARD = 1,
    WEFT_PROFILE_FULL = 2,
} weft_profile;

#define WEFT_WL_MAX_PARAMS 8
#define WEFT_WL_MAX_CHECKS 8

typedef struct weft_wl_param {
    const char *name;
    const char *help;
    int64_t def[3];   /* per weft_profile */
    int64_t min, max;
} weft_wl_param;

typedef struct weft_wl_result {
    uint64_t elapsed_ns;       /* the measured part of the iteration */
    double units;              /* what the workload counts (tasks, yields, ...) */
    const char *unit_name;
    bool has_latency;          /* p50/p99/p999/max are set */
    double p50_us, p99_us, p999_us, max_us;
    int nchecks;               /* verified quantities, for the driver to show */
    struct {
        const char *name;
        double value;
    } checks[WEFT_WL_MAX_CHECKS];
    char error[512];           /* non-empty: the self-check failed */
} weft_wl_result;

typedef struct weft_workload weft_workload;
typedef int (*weft_wl_run_fn)(weft_runtime *rt, const int64_t *params, const char *variant,
                              weft_wl_result *out);

struct weft_workload {
    const char *name;
    const char *description;
    const char *unit_name;              /* "task", "yield", "round trip", ... */
    const char *kind;                   /* spawn, message, fork-join, timer, io, blocking */
    int nparams;
    weft_wl_param params[WEFT_WL_MAX_PARAMS];
    const char *const *variants;        /* NULL-terminated, or NULL: no variants */
    const char *const *standard_variants; /* the variants `standard` runs (NULL: all) */
    weft_wl_run_fn run;
    /* The rest of the workload's one definition (issue 12): what the driver
     * exports as weft_workload_defs and `--list` prints, and what the peers
     * are given. Every field is required: weft_workload_check refuses a
     * workload without one, and weft-bench checks the registry at start-up. */
    int iterations[3];         /* iterations per repetition, per weft_profile (>= 1) */
    const char *rank_metric;   /* the counter rows are ranked by: ns_per_unit, p99_us, ... */
    const char *rank_better;   /* "lower" or "higher" */
    const char *standard_trim; /* where `standard` is smaller than the published
                                * definition and why; "" when it is not */
};

int weft_workload_count(void);
/* 0, or -EINVAL and a message naming the workload and its missing or bad
 * field (name, description, unit, kind, iterations, ranking metric and
 * direction, standard_trim, run, parameter names and defaults in range). */
int weft_workload_check(const weft_workload *w);
/* weft_workload_check over the registry (and no name twice). */
int weft_workload_check_registry(void);
/* The kind's title in reports ("spawn" -> "spawn-heavy"); NULL when unknown. */
const char *weft_workload_kind_title(const char *kind);
const weft_workload *weft_workload_at(int i);
/* NULL and a message listing the known names when unknown. */
const weft_workload *weft_workload_find(const char *name);
int weft_profile_parse(const char *s, weft_profile *out);
const char *weft_profile_name(weft_profile p);

/* Fills params[0..nparams) with the profile's defaults. */
void weft_workload_defaults(const weft_workload *w, weft_profile p, int64_t *params);
/* Sets one parameter by name; -EINVAL with a message for unknown names or
 * values outside [min, max]. */
int weft_workload_set_param(const weft_workload *w, int64_t *params, const char *name,
                            const char *value);
/* Runs one iteration and verifies it: 0, -EPROTO (self-check failed; see
 * out->error), or another negative errno (bad variant, runtime error). */
int weft_workload_run(const weft_workload *w, weft_runtime *rt, const int64_t *params,
                      const char *variant, weft_wl_result *out);

/* Deliberately broken variants for tests of the self-checks: when set (not
 * for benchmarking), workloads drop one unit of work. */
void weft_workload_set_fault_injection(bool on);
bool weft_workload_fault_injection(void);

/* For tests (not for benchmarking): the IO workloads' client threads call
 * `fn` instead of connect(2) (same arguments, an opaque struct sockaddr *),
 * so a test can make a connect fail the way a signal would. NULL restores
 * connect(2). Set it while no IO workload runs. */
typedef int (*weft_workload_connect_fn)(int fd, const void *addr, unsigned addrlen);
void weft_workload_set_connect_hook(weft_workload_connect_fn fn);

#ifdef __cplusplus
}
#endif
#endif
