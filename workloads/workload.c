/*
 * workloads/workload.c - the workload registry, profiles and parameters.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "workloads/wl_internal.h"

extern const weft_workload wl_spawn_many, wl_yield_many, wl_ping_pong, wl_chained_spawn,
    wl_spawn_remote, wl_fanout_skew, wl_fib, wl_uts, wl_timer_storm, wl_timeout_cancel,
    wl_interval_jitter, wl_tcp_echo, wl_tcp_stream, wl_blocking_mix;

/* The order of docs/WORKLOADS.md. */
static const weft_workload *const registry[] = {
    &wl_spawn_many, &wl_yield_many, &wl_ping_pong, &wl_chained_spawn, &wl_spawn_remote,
    &wl_fanout_skew, &wl_fib, &wl_uts, &wl_timer_storm, &wl_timeout_cancel,
    &wl_interval_jitter, &wl_tcp_echo, &wl_tcp_stream, &wl_blocking_mix,
};
#define NREG ((int)(sizeof registry / sizeof registry[0]))

int weft_workload_count(void) { return NREG; }

/* The kinds of work, in the order of the reports, with their titles. */
static const char *const kinds[][2] = {
    {"spawn", "spawn-heavy"}, {"message", "message passing"}, {"fork-join", "fork-join"},
    {"timer", "timers"},      {"io", "IO"},                   {"blocking", "blocking"},
};

const char *weft_workload_kind_title(const char *kind)
{
    for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i][0], kind) == 0) return kinds[i][1];
    return NULL;
}

int rt_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int weft_workload_check(const weft_workload *w)
{
    if (!w) return rt_fail(-EINVAL, "workload definition: NULL");
    const char *n = w->name && *w->name ? w->name : "(unnamed)";
#define WL_REQUIRE(cond, what)                                                              \
    do {                                                                                    \
        if (!(cond)) return rt_fail(-EINVAL, "workload %s: definition lacks %s", n, what); \
    } while (0)
    WL_REQUIRE(w->name && *w->name, "a name");
    WL_REQUIRE(w->description && *w->description, "a description");
    WL_REQUIRE(w->unit_name && *w->unit_name, "a unit (unit_name)");
    WL_REQUIRE(w->kind && weft_workload_kind_title(w->kind),
               "a kind of work (spawn, message, fork-join, timer, io or blocking)");
    WL_REQUIRE(w->run, "a run function");
    for (int p = 0; p < 3; p++)
        WL_REQUIRE(w->iterations[p] >= 1, "iterations per repetition for every profile (>= 1)");
    WL_REQUIRE(w->rank_metric && *w->rank_metric, "a ranking metric (rank_metric)");
    WL_REQUIRE(w->rank_better && (strcmp(w->rank_better, "lower") == 0 ||
                                  strcmp(w->rank_better, "higher") == 0),
               "the ranking direction (rank_better: lower or higher)");
    WL_REQUIRE(w->standard_trim, "standard_trim (\"\" when standard is the published size)");
    WL_REQUIRE(w->nparams >= 0 && w->nparams <= WEFT_WL_MAX_PARAMS, "a parameter count in 0..8");
    for (int i = 0; i < w->nparams; i++) {
        const weft_wl_param *p = &w->params[i];
        WL_REQUIRE(p->name && *p->name && p->help, "a name and help for every parameter");
        for (int k = 0; k < 3; k++)
            if (p->def[k] < p->min || p->def[k] > p->max)
                return rt_fail(-EINVAL, "workload %s: parameter %s: the %s default %lld is outside %lld..%lld",
                               n, p->name, weft_profile_name((weft_profile)k), (long long)p->def[k],
                               (long long)p->min, (long long)p->max);
    }
#undef WL_REQUIRE
    return 0;
}

int weft_workload_check_registry(void)
{
    for (int i = 0; i < NREG; i++) {
        int rc = weft_workload_check(registry[i]);
        if (rc < 0) return rc;
        for (int j = 0; j < i; j++)
            if (strcmp(registry[i]->name, registry[j]->name) == 0)
                return rt_fail(-EINVAL, "workload %s is registered twice", registry[i]->name);
    }
    return 0;
}

const weft_workload *weft_workload_at(int i) { return i >= 0 && i < NREG ? registry[i] : NULL; }

const weft_workload *weft_workload_find(const char *name)
{
    for (int i = 0; name && i < NREG; i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    char list[512];
    size_t n = 0;
    list[0] = 0;
    for (int i = 0; i < NREG && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", registry[i]->name);
    rt_fail(-EINVAL, "unknown workload '%s'; known workloads: %s", name ? name : "(null)", list);
    return NULL;
}

static const char *const profile_names[] = {"quick", "standard", "full"};

int weft_profile_parse(const char *s, weft_profile *out)
{
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, profile_names[i]) == 0) {
            *out = (weft_profile)i;
            return 0;
        }
    return rt_fail(-EINVAL, "unknown profile '%s'; known profiles: quick, standard, full",
                   s ? s : "(null)");
}

const char *weft_profile_name(weft_profile p)
{
    return (unsigned)p < 3 ? profile_names[p] : "?";
}

void weft_workload_defaults(const weft_workload *w, weft_profile p, int64_t *params)
{
    for (int i = 0; i < w->nparams; i++) params[i] = w->params[i].def[p];
}

int weft_workload_set_param(const weft_workload *w, int64_t *params, const char *name,
                            const char *value)
{
    for (int i = 0; i < w->nparams; i++) {
        const weft_wl_param *p = &w->params[i];
        if (strcmp(p->name, name) != 0) continue;
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end)
            return rt_fail(-EINVAL, "%s: parameter %s: '%s' is not an integer (%s)", w->name, name,
                           value, p->help);
        if (v < p->min || v > p->max)
            return rt_fail(-EINVAL, "%s: parameter %s = %lld is outside %lld..%lld (%s)", w->name,
                           name, v, (long long)p->min, (long long)p->max, p->help);
        params[i] = v;
        return 0;
    }
    char list[256];
    size_t n = 0;
    list[0] = 0;
    for (int i = 0; i < w->nparams; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", w->params[i].name);
    return rt_fail(-EINVAL, "%s: unknown parameter '%s'; its parameters: %s", w->name, name,
                   n ? list : "(none)");
}

int weft_workload_run(const weft_workload *w, weft_runtime *rt, const int64_t *params,
                      const char *variant, weft_wl_result *out)
{
    if (!w || !rt || !params || !out) return rt_fail(-EINVAL, "weft_workload_run: NULL argument");
    memset(out, 0, sizeof *out);
    out->unit_name = w->unit_name;
    if (w->variants) {
        bool ok = false;
        if (!variant) variant = w->variants[0];
        for (int i = 0; w->variants[i]; i++) ok |= strcmp(w->variants[i], variant) == 0;
        if (!ok) {
            char list[256];
            size_t n = 0;
            list[0] = 0;
            for (int i = 0; w->variants[i]; i++)
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", w->variants[i]);
            return rt_fail(-EINVAL, "%s: unknown variant '%s'; variants: %s", w->name, variant, list);
        }
    } else if (variant && *variant) {
        return rt_fail(-EINVAL, "%s has no variants (got '%s')", w->name, variant);
    }
    for (int i = 0; i < w->nparams; i++)
        if (params[i] < w->params[i].min || params[i] > w->params[i].max)
            return rt_fail(-EINVAL, "%s: parameter %s = %lld is outside %lld..%lld", w->name,
                           w->params[i].name, (long long)params[i], (long long)w->params[i].min,
                           (long long)w->params[i].max);
    int rc = w->run(rt, params, variant, out);
    if (rc == 0 && out->error[0]) rc = -EPROTO;
    if (rc == -EPROTO && !out->error[0]) snprintf(out->error, sizeof out->error, "self-check failed");
    return rc;
}

static _Atomic int fault_injection;
void weft_workload_set_fault_injection(bool on)
{
    atomic_store_explicit(&fault_injection, on, memory_order_relaxed);
}
bool weft_workload_fault_injection(void)
{
    return atomic_load_explicit(&fault_injection, memory_order_relaxed);
}

uint64_t wl_spin_ns(uint64_t ns)
{
    uint64_t end = clock_now_ns() + ns, x = 0x9e3779b97f4a7c15ull;
    do {
        for (int i = 0; i < 64; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
    } while (clock_now_ns() < end);
    return x;
}
