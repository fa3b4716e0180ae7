/*
 * tests/test_workloads.c - every workload in the registry, on every
 * scheduler in the registry.
 *
 * The conformance loop: for each scheduler (fifo at 1 worker - it has no
 * threads of its own; every other scheduler at 1, 2 and 4 workers, 4 being
 * oversubscribed on a 2-core machine), for each workload and each of its
 * variants, one iteration of the quick profile must return 0 with an empty
 * error, count units > 0 and, where it reports latency, percentiles in
 * order. Then the same loop with fault injection on: every workload drops
 * one unit of work (sched_micro, fib, uts, timers, blocking_mix) or corrupts
 * one byte (tcp_echo, tcp_stream: dropping a byte from a closed-loop
 * exchange would hang the client until its watchdog, so the IO workloads
 * flip one instead), and its self-check must fail with -EPROTO and a
 * message that names what it expected and what it got.
 *
 * The registry is iterated, never listed here, so a workload or scheduler
 * added later is covered without touching this file. Results are collected
 * and every failure is printed before the one assertion, so a broken run
 * shows all that is wrong with it at once.
 *
 * Parameters: the quick profile, except where a test must not depend on the
 * machine being idle (see test_params). Under TSan (WEFT_TSAN, about 10x
 * slower) the heavier quick parameters are made smaller still, through
 * weft_workload_set_param like any user would.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "weft/runtime.h"
#include "weft/sync.h"
#include "workloads/workload.h"

/* ---- failure collection ------------------------------------------------------------------ */

typedef struct failures {
    int n;
    size_t len;
    char text[32768];
} failures;

static void fail_add(failures *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_add(failures *f, const char *fmt, ...)
{
    f->n++;
    if (f->len + 2 >= sizeof f->text) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(f->text + f->len, sizeof f->text - f->len - 1, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    f->len += (size_t)k < sizeof f->text - f->len - 1 ? (size_t)k : sizeof f->text - f->len - 1;
    f->text[f->len++] = '\n';
    f->text[f->len] = 0;
}

static void fail_report(const failures *f)
{
    if (f->n) print_error("%d failure(s):\n%s", f->n, f->text);
    assert_int_equal(f->n, 0);
}

/* ---- parameters ------------------------------------------------------------------------- */

typedef struct param_override {
    const char *workload, *param, *value;
} param_override;

/* interval_jitter checks that each task delivered within 1 % (at least one
 * tick) of ceil(L / P) ticks before start + L. At the quick profile's
 * 1 ms x 100 ms a stall of 2 ms at the very end of the run fails it, which
 * a shared, oversubscribed test machine cannot promise; 5 ms x 100 ms needs
 * a stall of about 10 ms. */
static const param_override test_overrides[] = {
    {"interval_jitter", "period_us", "5000"},
};

/* Parameter values that take another path through a workload: each runs
 * once more, clean and with fault injection, like a variant. */
static const param_override extra_runs[] = {
    {"timeout_cancel", "polls", "2"}, /* the arm reaches the wheel, the cancel takes it out */
};

#if defined(WEFT_TSAN)
/* About 10x slower under TSan: every quick iteration made a few times smaller. */
static const param_override tsan_overrides[] = {
    {"spawn_remote", "n", "2000"},
    {"fanout_skew", "n", "300"},
    {"timer_storm", "n", "1000"},
    {"timeout_cancel", "n", "4000"},
    {"interval_jitter", "period_us", "10000"},
    {"interval_jitter", "duration_ms", "200"},
    {"interval_jitter", "tasks", "4"},
    {"tcp_echo", "requests", "20"},
    {"tcp_stream", "bytes", "1048576"},
    {"blocking_mix", "short_tasks", "100"},
};
#endif

static void apply(const weft_workload *w, int64_t *params, const param_override *o, size_t n,
                  failures *f)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(o[i].workload, w->name) != 0) continue;
        int rc = weft_workload_set_param(w, params, o[i].param, o[i].value);
        if (rc != 0)
            fail_add(f, "%s: set_param %s=%s: %d %s", w->name, o[i].param, o[i].value, rc,
                     weft_last_error());
    }
}

static void test_params(const weft_workload *w, int64_t *params, failures *f)
{
    weft_workload_defaults(w, WEFT_PROFILE_QUICK, params);
    apply(w, params, test_overrides, sizeof test_overrides / sizeof test_overrides[0], f);
#if defined(WEFT_TSAN)
    apply(w, params, tsan_overrides, sizeof tsan_overrides / sizeof tsan_overrides[0], f);
#endif
}

/* ---- the conformance loop ------------------------------------------------------------------ */

static weft_runtime *rt_make(const char *sched, int workers, failures *f)
{
    weft_config cfg;
    weft_config_default(&cfg);
    cfg.scheduler = sched;
    cfg.workers = workers;
    weft_runtime *rt = NULL;
    int rc = weft_runtime_new(&cfg, &rt);
    if (rc < 0) {
        fail_add(f, "weft_runtime_new(%s, %d workers): %d %s", sched, workers, rc, weft_last_error());
        return NULL;
    }
    return rt;
}

/* fifo runs tasks on the thread in block_on: one worker only. */
static bool sched_takes(const char *sched, int workers)
{
    return strcmp(sched, "fifo") != 0 || workers == 1;
}

static void check_clean(const char *where, int rc, const weft_wl_result *r, failures *f)
{
    if (rc != 0 || r->error[0]) {
        fail_add(f, "%s: rc %d, error '%s' (%s)", where, rc, r->error, weft_last_error());
        return;
    }
    if (!(r->units > 0)) fail_add(f, "%s: units %g, expected > 0", where, r->units);
    if (r->elapsed_ns == 0) fail_add(f, "%s: elapsed 0 ns", where);
    if (r->has_latency && !(0 <= r->p50_us && r->p50_us <= r->p99_us && r->p99_us <= r->p999_us &&
                            r->p999_us <= r->max_us))
        fail_add(f, "%s: latency percentiles out of order: p50 %g p99 %g p999 %g max %g us", where,
                 r->p50_us, r->p99_us, r->p999_us, r->max_us);
}

static void check_fault(const char *where, int rc, const weft_wl_result *r, failures *f)
{
    if (rc != -EPROTO) {
        fail_add(f, "%s: with fault injection: rc %d, expected -EPROTO (error '%s')", where, rc,
                 r->error);
        return;
    }
    if (!strstr(r->error, "expected") || !strstr(r->error, "got"))
        fail_add(f, "%s: with fault injection: message '%s' does not name expected and got", where,
                 r->error);
}

static void run_all(int workers, bool fault)
{
    failures *f = calloc(1, sizeof *f);
    assert_non_null(f);
    int configs = 0;
    for (int s = 0; s < weft_scheduler_count(); s++) {
        const char *sched = weft_scheduler_name(s);
        if (!sched_takes(sched, workers)) continue;
        weft_runtime *rt = rt_make(sched, workers, f);
        if (!rt) continue;
        configs++;
        for (int i = 0; i < weft_workload_count(); i++) {
            const weft_workload *w = weft_workload_at(i);
            int64_t params[WEFT_WL_MAX_PARAMS];
            test_params(w, params, f);
            int nvar = 1;
            if (w->variants)
                for (nvar = 0; w->variants[nvar]; nvar++) {}
            size_t nextra = sizeof extra_runs / sizeof extra_runs[0];
            int64_t base[WEFT_WL_MAX_PARAMS];
            memcpy(base, params, sizeof base);
            /* v < nvar: the variants; then one run per extra_runs entry */
            for (int v = 0; v < nvar + (int)nextra; v++) {
                const char *variant = w->variants && v < nvar ? w->variants[v] : NULL;
                char where[160];
                if (v >= nvar) {
                    const param_override *x = &extra_runs[v - nvar];
                    if (strcmp(x->workload, w->name) != 0) continue;
                    memcpy(params, base, sizeof base);
                    apply(w, params, x, 1, f);
                    snprintf(where, sizeof where, "%s[%s=%s] on %s/%d", w->name, x->param, x->value,
                             sched, workers);
                } else {
                    snprintf(where, sizeof where, "%s%s%s on %s/%d", w->name, variant ? "/" : "",
                             variant ? variant : "", sched, workers);
                }
                weft_wl_result res;
                weft_worker_stats before, after;
                weft_runtime_stats(rt, NULL, 0, &before);
                weft_workload_set_fault_injection(fault);
                int rc = weft_workload_run(w, rt, params, variant, &res);
                weft_workload_set_fault_injection(false);
                weft_runtime_stats(rt, NULL, 0, &after);
                if (fault) check_fault(where, rc, &res, f);
                else check_clean(where, rc, &res, f);
                /* timeout_cancel polls=2: a task poll per pair, so the arm
                 * reaches the wheel (passes only if the yield happens) */
                if (v >= nvar && !fault && strcmp(w->name, "timeout_cancel") == 0 &&
                    after.polls - before.polls < (uint64_t)params[0])
                    fail_add(f, "%s: %llu task polls for %lld pairs, expected at least one per pair", where,
                             (unsigned long long)(after.polls - before.polls), (long long)params[0]);
                print_message("%-40s rc %4d %9.2f ms %s%s\n", where, rc, (double)res.elapsed_ns / 1e6,
                              fault ? "| " : "", fault ? res.error : "");
            }
        }
        weft_runtime_free(rt);
    }
    /* fifo exists in every build: at 1 worker there is always one configuration */
    if (workers == 1 && configs == 0) fail_add(f, "no scheduler ran at 1 worker");
    fail_report(f);
    free(f);
}

static void test_clean_1_worker(void **state) { (void)state; run_all(1, false); }
static void test_clean_2_workers(void **state) { (void)state; run_all(2, false); }
static void test_clean_4_workers(void **state) { (void)state; run_all(4, false); }
static void test_fault_1_worker(void **state) { (void)state; run_all(1, true); }
static void test_fault_2_workers(void **state) { (void)state; run_all(2, true); }
static void test_fault_4_workers(void **state) { (void)state; run_all(4, true); }

/* ---- the registry itself ------------------------------------------------------------------- */

static void test_registry(void **state)
{
    (void)state;
    static const char *const kinds[] = {"spawn", "message", "fork-join", "timer", "io", "blocking"};
    failures *f = calloc(1, sizeof *f);
    assert_non_null(f);
    int n = weft_workload_count();
    if (n < 1) fail_add(f, "empty registry");
    if (weft_workload_at(-1) || weft_workload_at(n)) fail_add(f, "weft_workload_at out of range not NULL");
    for (int i = 0; i < n; i++) {
        const weft_workload *w = weft_workload_at(i);
        if (!w || !w->name || !w->description || !w->unit_name || !w->kind || !w->run) {
            fail_add(f, "workload %d: a required field is NULL", i);
            continue;
        }
        bool kind_ok = false;
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) kind_ok |= strcmp(w->kind, kinds[k]) == 0;
        if (!kind_ok) fail_add(f, "%s: unknown kind '%s'", w->name, w->kind);
        if (weft_workload_find(w->name) != w) fail_add(f, "%s: find does not return it", w->name);
        for (int j = 0; j < i; j++)
            if (strcmp(weft_workload_at(j)->name, w->name) == 0) fail_add(f, "%s: name twice", w->name);
        if (w->nparams < 0 || w->nparams > WEFT_WL_MAX_PARAMS) {
            fail_add(f, "%s: nparams %d", w->name, w->nparams);
            continue;
        }
        for (int p = 0; p < w->nparams; p++) {
            const weft_wl_param *pp = &w->params[p];
            if (!pp->name || !pp->help) fail_add(f, "%s: parameter %d has no name or help", w->name, p);
            for (int prof = 0; prof < 3; prof++)
                if (pp->def[prof] < pp->min || pp->def[prof] > pp->max)
                    fail_add(f, "%s: %s default %lld for %s is outside %lld..%lld", w->name, pp->name,
                             (long long)pp->def[prof], weft_profile_name((weft_profile)prof),
                             (long long)pp->min, (long long)pp->max);
        }
    }
    fail_report(f);
    free(f);
}

/* One definition per workload: every registered one is complete, and a
 * definition without any one of its fields is refused with its name. */
static void test_definitions(void **state)
{
    (void)state;
    assert_int_equal(weft_workload_check_registry(), 0);
    const weft_workload *base = weft_workload_find("spawn_many");
    assert_non_null(base);
    for (int field = 0; field < 9; field++) {
        weft_workload w = *base;
        switch (field) {
        case 0: w.description = NULL; break;
        case 1: w.unit_name = NULL; break;
        case 2: w.kind = "sorting"; break;
        case 3: w.iterations[1] = 0; break;
        case 4: w.rank_metric = NULL; break;
        case 5: w.rank_better = "sideways"; break;
        case 6: w.standard_trim = NULL; break;
        case 7: w.run = NULL; break;
        case 8: w.params[0].def[1] = -5; break;
        }
        assert_int_equal(weft_workload_check(&w), -EINVAL);
        assert_non_null(strstr(weft_last_error(), "spawn_many"));
    }
    assert_string_equal(weft_workload_kind_title("spawn"), "spawn-heavy");
    assert_null(weft_workload_kind_title("nope"));
}

static void test_unknown_workload(void **state)
{
    (void)state;
    assert_null(weft_workload_find("no_such_workload"));
    const char *msg = weft_last_error();
    assert_non_null(strstr(msg, "no_such_workload"));
    for (int i = 0; i < weft_workload_count(); i++) {
        const char *name = weft_workload_at(i)->name;
        if (!strstr(msg, name)) print_error("'%s' missing from: %s\n", name, msg);
        assert_non_null(strstr(msg, name));
    }
    assert_null(weft_workload_find(NULL));
}

static void test_bad_params(void **state)
{
    (void)state;
    failures *f = calloc(1, sizeof *f);
    assert_non_null(f);
    weft_runtime *rt = rt_make("fifo", 1, f);
    assert_non_null(rt);
    for (int i = 0; i < weft_workload_count(); i++) {
        const weft_workload *w = weft_workload_at(i);
        int64_t params[WEFT_WL_MAX_PARAMS];
        weft_workload_defaults(w, WEFT_PROFILE_QUICK, params);
        int rc;
        if ((rc = weft_workload_set_param(w, params, "no_such_param", "1")) != -EINVAL)
            fail_add(f, "%s: unknown parameter: rc %d, expected -EINVAL", w->name, rc);
        for (int p = 0; p < w->nparams; p++) {
            const weft_wl_param *pp = &w->params[p];
            char v[32];
            int64_t saved = params[p];
            if ((rc = weft_workload_set_param(w, params, pp->name, "12abc")) != -EINVAL)
                fail_add(f, "%s: %s=12abc: rc %d, expected -EINVAL", w->name, pp->name, rc);
            if ((rc = weft_workload_set_param(w, params, pp->name, "")) != -EINVAL)
                fail_add(f, "%s: %s='': rc %d, expected -EINVAL", w->name, pp->name, rc);
            if (pp->max < INT64_MAX) {
                snprintf(v, sizeof v, "%lld", (long long)pp->max + 1);
                if ((rc = weft_workload_set_param(w, params, pp->name, v)) != -EINVAL)
                    fail_add(f, "%s: %s=%s (max + 1): rc %d, expected -EINVAL", w->name, pp->name, v, rc);
                else if (!strstr(weft_last_error(), pp->name))
                    fail_add(f, "%s: %s=%s: message '%s' does not name the parameter", w->name,
                             pp->name, v, weft_last_error());
            }
            if (pp->min > INT64_MIN) {
                snprintf(v, sizeof v, "%lld", (long long)pp->min - 1);
                if ((rc = weft_workload_set_param(w, params, pp->name, v)) != -EINVAL)
                    fail_add(f, "%s: %s=%s (min - 1): rc %d, expected -EINVAL", w->name, pp->name, v, rc);
            }
            if (params[p] != saved) fail_add(f, "%s: a rejected set_param changed %s", w->name, pp->name);
            if (pp->min > INT64_MIN) {
                /* weft_workload_run validates too: a value set behind set_param's back */
                params[p] = pp->min - 1;
                weft_wl_result res;
                if ((rc = weft_workload_run(w, rt, params, NULL, &res)) != -EINVAL)
                    fail_add(f, "%s: run with %s = min - 1: rc %d, expected -EINVAL", w->name,
                             pp->name, rc);
            }
            params[p] = saved;
        }
        weft_wl_result res;
        if (w->variants) {
            if ((rc = weft_workload_run(w, rt, params, "no_such_variant", &res)) != -EINVAL)
                fail_add(f, "%s: unknown variant: rc %d, expected -EINVAL", w->name, rc);
        } else if ((rc = weft_workload_run(w, rt, params, "some_variant", &res)) != -EINVAL) {
            fail_add(f, "%s: a variant for a workload without variants: rc %d, expected -EINVAL",
                     w->name, rc);
        }
        if ((rc = weft_workload_run(w, NULL, params, NULL, &res)) != -EINVAL)
            fail_add(f, "%s: NULL runtime: rc %d, expected -EINVAL", w->name, rc);
    }
    weft_runtime_free(rt);
    fail_report(f);
    free(f);
}

/* ---- a failed block_on --------------------------------------------------------------------- */

/* A root that says it is running, then waits for `release`. */
typedef struct holder {
    int coro;
    _Atomic int *inside;
    weft_oneshot *rx;
    int rc;
} holder;

static weft_poll holder_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    holder *s = p;
    uint64_t v;
    WEFT_CORO_BEGIN(s);
    atomic_store(s->inside, 1);
    WEFT_AWAIT(s, weft_oneshot_recv_poll(s->rx, cx, &v, &s->rc));
    WEFT_CORO_END(s);
}
static const weft_future_type holder_type = {"test.holder", holder_poll, NULL, sizeof(holder), 0};

typedef struct holder_arg {
    weft_runtime *rt;
    holder h;
    int rc;
} holder_arg;

static void *holder_main(void *p)
{
    holder_arg *a = p;
    a->rc = weft_block_on(a->rt, &holder_type, &a->h, NULL);
    return NULL;
}

/* A workload whose weft_block_on fails must release what it made for the
 * iteration (its completion channel; LeakSanitizer reports one left
 * behind) and return the error. fifo refuses a second block_on while one is
 * in flight (-EBUSY), before spawning the root. yield_many and spawn_remote
 * spawn from outside first: those tasks run later, in the other block_on
 * (or the spawn_many after it), and must find their state alive (it was on
 * the failed runner's stack: ASan reported the use after return) and free
 * it when the last one finishes (or, for yield_many, is dropped by
 * weft_runtime_free). The timer workloads and uts in count mode now claim
 * their receiver on the root's first poll, so a root that never ran leaks
 * no one-shot; uts's count job (whose nodes read the tree parameters from
 * it) is freed by the last of the runner and the tree. blocking_mix,
 * tcp_echo and tcp_stream already released theirs: here so they stay so. */
static void test_block_on_fails(void **state)
{
    (void)state;
    static const char *const names[] = {"spawn_many",  "ping_pong",      "chained_spawn",   "fanout_skew",
                                        "yield_many",  "spawn_remote",   "timer_storm",     "timeout_cancel",
                                        "interval_jitter", "uts",        "uts:count",       "blocking_mix",
                                        "tcp_echo",    "tcp_stream"};
    failures *f = calloc(1, sizeof *f);
    assert_non_null(f);
    weft_runtime *rt = rt_make("fifo", 1, f);
    assert_non_null(rt);
    _Atomic int inside = 0;
    weft_oneshot *release;
    assert_int_equal(weft_oneshot_new(&release), 0);
    holder_arg a = {rt, {0, &inside, release, 0}, 1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, holder_main, &a), 0);
    while (!atomic_load(&inside)) sched_yield();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        /* "uts:count": uts in its count mode (mode = 1: a latch, no joins) */
        bool count_mode = strcmp(names[i], "uts:count") == 0;
        const weft_workload *w = weft_workload_find(count_mode ? "uts" : names[i]);
        if (!w) {
            fail_add(f, "%s: not in the registry", names[i]);
            continue;
        }
        int64_t params[WEFT_WL_MAX_PARAMS];
        test_params(w, params, f);
        if (count_mode) params[0] = 1;
        weft_wl_result res;
        int rc = weft_workload_run(w, rt, params, NULL, &res);
        if (rc != -EBUSY)
            fail_add(f, "%s with another block_on in flight: rc %d, expected -EBUSY (%s)", w->name,
                     rc, weft_last_error());
    }
    weft_oneshot_send(release, 1);
    pthread_join(th, NULL);
    if (a.rc != 0) fail_add(f, "the holding block_on: rc %d", a.rc);
    /* the runtime still works */
    const weft_workload *w = weft_workload_find("spawn_many");
    int64_t params[WEFT_WL_MAX_PARAMS];
    test_params(w, params, f);
    weft_wl_result res;
    check_clean("spawn_many after the failed runs", weft_workload_run(w, rt, params, NULL, &res), &res, f);
    weft_runtime_free(rt);
    fail_report(f);
    free(f);
}

/* ---- a connect interrupted by a signal -------------------------------------------------------- */

/* The first connect behaves as one a signal interrupted: the connection
 * goes on in the background (here: a non-blocking connect started) and the
 * call says EINTR. A second connect on that socket then gets what POSIX
 * specifies, EALREADY: Linux's blocking connect would wait for the
 * handshake instead, so on Linux alone the old retry loop passed, which is
 * why the hook, not the kernel, answers the retry. The client must wait
 * for writability and read SO_ERROR. */
static _Atomic int eintr_left;
/* The interrupted socket, by its local port: its fd number may be reused by
 * another client thread's socket once its own thread closed it (that made
 * this test fail now and then under load), a new socket's port is 0 until
 * its connect. */
static _Atomic int eintr_port = -1;

static int local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0 || a.sin_family != AF_INET) return -1;
    return ntohs(a.sin_port);
}

static int connect_eintr_once(int fd, const void *addr, unsigned len)
{
    int port = local_port(fd);
    if (port > 0 && atomic_load(&eintr_port) == port) {
        errno = EALREADY;
        return -1;
    }
    if (atomic_exchange(&eintr_left, 0) == 0) return connect(fd, addr, len);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
    int rc = connect(fd, addr, len);
    int e = errno;
    (void)fcntl(fd, F_SETFL, fl);
    if (rc < 0 && e != EINPROGRESS) {
        errno = e;
        return -1;
    }
    atomic_store(&eintr_port, local_port(fd)); /* bound by the connect just started */
    errno = EINTR;
    return -1;
}

static void test_connect_eintr(void **state)
{
    (void)state;
    static const char *const names[] = {"tcp_echo", "tcp_stream"};
    failures *f = calloc(1, sizeof *f);
    assert_non_null(f);
    weft_runtime *rt = rt_make("fifo", 1, f);
    assert_non_null(rt);
    weft_workload_set_connect_hook(connect_eintr_once);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const weft_workload *w = weft_workload_find(names[i]);
        if (!w) {
            fail_add(f, "%s: not in the registry", names[i]);
            continue;
        }
        int64_t params[WEFT_WL_MAX_PARAMS];
        test_params(w, params, f);
        atomic_store(&eintr_left, 1);
        weft_wl_result res;
        char where[80];
        snprintf(where, sizeof where, "%s with its first connect interrupted", w->name);
        check_clean(where, weft_workload_run(w, rt, params, NULL, &res), &res, f);
        if (atomic_load(&eintr_left)) fail_add(f, "%s: the hook was not called", w->name);
        atomic_store(&eintr_port, -1); /* closed by now: the port may come back */
    }
    weft_workload_set_connect_hook(NULL);
    weft_runtime_free(rt);
    fail_report(f);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_definitions),
        cmocka_unit_test(test_unknown_workload),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_block_on_fails),
        cmocka_unit_test(test_connect_eintr),
        cmocka_unit_test(test_clean_1_worker),
        cmocka_unit_test(test_clean_2_workers),
        cmocka_unit_test(test_clean_4_workers),
        cmocka_unit_test(test_fault_1_worker),
        cmocka_unit_test(test_fault_2_workers),
        cmocka_unit_test(test_fault_4_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
