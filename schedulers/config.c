/*
 * schedulers/config.c - the runtime configuration: defaults, knobs by name,
 * the environment, validation with messages a person can act on, and the
 * one-line description recorded with every result.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "schedulers/runtime_internal.h"
#include "schedulers/sched.h"
#include "weft/runtime.h"

void weft_config_default(weft_config *c)
{
    memset(c, 0, sizeof *c);
    c->scheduler = "fifo";
    c->workers = 1;
    c->budget = 128;               /* Tokio's budget per poll */
    c->local_queue_capacity = 256; /* Tokio's and Go's local ring size */
    c->lifo_slot = 1;
    c->lifo_cap = 3;               /* Tokio's cap on consecutive LIFO runs */
    c->global_interval = 61;       /* Go's and Tokio's: a prime, so it does not beat with loops */
    c->steal_batch = 0;
    c->global_batch = 0;
    c->max_searching = 0;
    c->spin_before_park = 0;
    c->reactor_thread = 0;
    c->sched_latency = 0;
    c->numa_backoff_us = 0;
    c->blocking_max_threads = 512; /* Tokio's default */
    c->blocking_keepalive_ms = 10000;
    c->blocking_nice = 10; /* see blocking.c: workers keep their latency under CPU-bound jobs */
    c->timer_tick_us = 1000;
    c->timer_shards = 1;
    c->reactor_events = 1024;
    c->topology = NULL;
    c->pin = "none";
}

typedef enum { K_INT, K_STR } knob_kind;
typedef struct knob {
    const char *name;
    knob_kind kind;
    size_t off;
    long lo, hi;
    const char *help;
} knob;

#define KI(name, lo, hi, help) {#name, K_INT, offsetof(weft_config, name), lo, hi, help}
#define KS(name, help) {#name, K_STR, offsetof(weft_config, name), 0, 0, help}
static const knob knobs[] = {
    KS(scheduler, "scheduler name"),
    KI(workers, 1, WEFT_MAX_WORKERS, "worker threads"),
    KI(budget, -1, WEFT_MAX_BUDGET, "leaf polls per task turn (-1: unlimited)"),
    KI(local_queue_capacity, 2, 1 << 24, "local queue capacity (power of two)"),
    KI(lifo_slot, 0, 1, "LIFO slot on/off"),
    KI(lifo_cap, 1, 1 << 20, "consecutive LIFO-slot runs"),
    KI(global_interval, 1, 1 << 20, "ticks between shared-queue checks"),
    KI(steal_batch, 0, 1, "0: steal half, 1: steal one"),
    KI(global_batch, 0, 4096, "global: tasks taken per lock hold (0: auto: all at 1 worker, else 1)"),
    KI(max_searching, 0, WEFT_MAX_WORKERS, "workers searching at once (0: half)"),
    KI(spin_before_park, 0, 1 << 20, "empty rounds before parking"),
    KI(reactor_thread, 0, 1, "0: a parked worker drives IO and timers, 1: a dedicated thread"),
    KI(sched_latency, 0, 1, "record wake-to-poll latency"),
    KI(numa_backoff_us, 0, 1000000, "numa: back-off before cross-node steals"),
    KI(blocking_max_threads, 1, 65536, "blocking pool threads"),
    KI(blocking_keepalive_ms, 0, 86400000, "blocking pool idle keep-alive"),
    KI(blocking_nice, 0, 19, "nice value of blocking pool threads"),
    KI(timer_tick_us, 1, 1000000, "timer wheel tick"),
    KI(timer_shards, 0, WEFT_MAX_WORKERS, "timer wheels (0: one per worker; capped at workers)"),
    KI(reactor_events, 1, 65536, "epoll events per wait"),
    KS(topology, "topology: '' (this machine), synthetic string, or XML path"),
    KS(pin, "pinning: none, compact, scatter"),
};
#define NKNOBS (sizeof knobs / sizeof knobs[0])

const char *const *weft_config_knob_names(void)
{
    static const char *names[NKNOBS + 1];
    if (!names[0])
        for (size_t i = 0; i < NKNOBS; i++) names[i] = knobs[i].name;
    return names;
}

static int known_knobs(char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < NKNOBS && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", knobs[i].name);
    return 0;
}

int weft_config_set(weft_config *c, const char *name, const char *value)
{
    if (!c || !name || !value) return err_fail(-EINVAL, "weft_config_set: NULL argument");
    for (size_t i = 0; i < NKNOBS; i++) {
        const knob *k = &knobs[i];
        if (strcmp(k->name, name) != 0) continue;
        if (k->kind == K_STR) {
            *(const char **)((char *)c + k->off) = value;
            return 0;
        }
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end)
            return err_fail(-EINVAL, "knob %s: '%s' is not an integer (%s, %ld..%ld)", name, value,
                           k->help, k->lo, k->hi);
        if (v < k->lo || v > k->hi)
            return err_fail(-EINVAL, "knob %s: %ld is out of range %ld..%ld (%s)", name, v, k->lo,
                           k->hi, k->help);
        *(int *)((char *)c + k->off) = (int)v;
        return 0;
    }
    char list[1024];
    known_knobs(list, sizeof list);
    return err_fail(-EINVAL, "unknown knob '%s'; known knobs: %s", name, list);
}

/* Sets one knob from the environment variable `var`: a failure's message
 * starts with "VAR=value: " (the whole setting, as the user wrote it),
 * then says what is wrong with it and what to give instead. */
static int env_set(weft_config *c, const char *var, const char *setting, const char *name,
                   const char *value)
{
    for (size_t i = 0; i < NKNOBS; i++) {
        const knob *k = &knobs[i];
        if (k->kind != K_INT || strcmp(k->name, name) != 0) continue;
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno == 0 && end != value && !*end && v >= k->lo && v <= k->hi) break;
        /* WEFT_WORKERS names one knob: "WEFT_WORKERS=abc: not a number"; a
         * list names the knob too: "WEFT_KNOBS=...: budget = abc is not a number" */
        char what[160] = "";
        if (strcmp(setting, value) != 0) snprintf(what, sizeof what, "%s = %s is ", name, value);
        bool number = end != value && !*end; /* ERANGE: a number, out of range */
        return err_fail(-EINVAL, "%s=%s: %s%s; give %ld..%ld (%s)", var, setting, what,
                        number ? "out of range" : "not a number", k->lo, k->hi, k->help);
    }
    int rc = weft_config_set(c, name, value);
    if (rc < 0) {
        char why[ERR_MESSAGE_MAX];
        snprintf(why, sizeof why, "%s", err_last());
        return err_fail(rc, "%s=%s: %s", var, setting, why);
    }
    return 0;
}

int weft_config_from_env(weft_config *c)
{
    const char *v;
    int rc;
    if ((v = getenv("WEFT_SCHEDULER")) && *v) c->scheduler = v;
    if ((v = getenv("WEFT_WORKERS")) && *v && (rc = env_set(c, "WEFT_WORKERS", v, "workers", v)) < 0)
        return rc;
    if ((v = getenv("WEFT_TOPOLOGY")) && *v) c->topology = v;
    if ((v = getenv("WEFT_PIN")) && *v) c->pin = v;
    if ((v = getenv("WEFT_KNOBS")) && *v) {
        /* "name=value,name=value": parsed into static storage that lives as
         * long as the process (the config keeps pointers into it) */
        static char buf[4096];
        if (strlen(v) >= sizeof buf)
            return err_fail(-EINVAL, "WEFT_KNOBS=%.32s...: %zu bytes, longer than the %zu allowed",
                            v, strlen(v), sizeof buf - 1);
        strcpy(buf, v);
        char *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');
            if (!eq)
                return err_fail(-EINVAL, "WEFT_KNOBS=%s: '%s' is not name=value; give name=value,...",
                                v, tok);
            *eq = 0;
            if ((rc = env_set(c, "WEFT_KNOBS", v, tok, eq + 1)) < 0) return rc;
        }
    }
    return 0;
}

static int is_pow2(long v) { return v > 0 && (v & (v - 1)) == 0; }

int weft_config_validate(const weft_config *c)
{
    if (!c) return err_fail(-EINVAL, "NULL configuration");
    if (!c->scheduler || !*c->scheduler) return err_fail(-EINVAL, "no scheduler named");
    const sched_ops *ops = sched_find(c->scheduler);
    if (!ops) {
        char list[512];
        size_t n = 0;
        list[0] = 0;
        for (int i = 0; i < sched_registry_count; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "",
                                  sched_registry[i]->name);
        return err_fail(-EINVAL, "unknown scheduler '%s'; known schedulers: %s", c->scheduler, list);
    }
    if (c->workers < 1 || c->workers > WEFT_MAX_WORKERS)
        return err_fail(-EINVAL, "workers = %d: must be between 1 and %d", c->workers, WEFT_MAX_WORKERS);
    if (ops->runs_on_caller && c->workers != 1)
        return err_fail(-EINVAL, "scheduler '%s' runs on the thread inside weft_block_on and takes "
                                "exactly 1 worker, not %d", ops->name, c->workers);
    if (c->budget == 0 || c->budget < -1 || c->budget > WEFT_MAX_BUDGET)
        return err_fail(-EINVAL, "budget = %d: must be 1..%d leaf polls per turn, or -1 for unlimited",
                       c->budget, WEFT_MAX_BUDGET);
    for (size_t i = 0; i < NKNOBS; i++) {
        const knob *k = &knobs[i];
        if (k->kind != K_INT) continue;
        int v = *(const int *)((const char *)c + k->off);
        if (v < k->lo || v > k->hi)
            return err_fail(-EINVAL, "knob %s = %d is out of range %ld..%ld (%s)", k->name, v, k->lo,
                           k->hi, k->help);
    }
    if (!is_pow2(c->local_queue_capacity))
        return err_fail(-EINVAL, "local_queue_capacity = %d: must be a power of two >= 2",
                       c->local_queue_capacity);
    if (c->pin && strcmp(c->pin, "none") && strcmp(c->pin, "compact") && strcmp(c->pin, "scatter"))
        return err_fail(-EINVAL, "pin = '%s': must be none, compact or scatter", c->pin);
    return 0;
}

int weft_config_describe(const weft_config *c, char *buf, size_t len)
{
    size_t n = 0;
    char tmp[256];
    for (size_t i = 0; i < NKNOBS; i++) {
        const knob *k = &knobs[i];
        if (k->kind == K_INT)
            snprintf(tmp, sizeof tmp, "%s=%d", k->name, *(const int *)((const char *)c + k->off));
        else {
            const char *s = *(const char *const *)((const char *)c + k->off);
            snprintf(tmp, sizeof tmp, "%s=%s", k->name, s && *s ? s : (strcmp(k->name, "topology") ? "" : "real"));
        }
        int m = snprintf(buf && n < len ? buf + n : NULL, buf && n < len ? len - n : 0, "%s%s",
                         i ? " " : "", tmp);
        n += (size_t)m;
    }
    return (int)n;
}
