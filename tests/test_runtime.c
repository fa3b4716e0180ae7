/*
 * tests/test_runtime.c - the runtime core's contract on fifo: bad input of
 * every kind gets a negative errno and a message a person can act on; the
 * configuration from knobs and the environment; calls that would deadlock
 * or race shutdown are refused; the default runtime and WEFT_MAIN; shutdown
 * with 100 000 pending tasks (reference cycles only the owned list can
 * break) runs every drop function exactly once and leaks nothing (LSan);
 * exact counters for a known program; what the build says about its
 * allocator.
 */
#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"
#include "reactor/reactor.h"
#include "schedulers/runtime_internal.h"
#include "weft/time.h"
#include "weft/runtime.h"
#include "weft/sync.h"

static bool has(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

#define ASSERT_ERR_MSG(rc_expr, err, needle)                                                   \
    do {                                                                                       \
        int rc_ = (rc_expr);                                                                   \
        if (rc_ != (err) || !has(weft_last_error(), needle))                                   \
            print_error("%s -> %d, last error '%s' (want %d with '%s')\n", #rc_expr, rc_,     \
                        weft_last_error(), (err), needle);                                     \
        assert_int_equal(rc_, (err));                                                          \
        assert_true(has(weft_last_error(), needle));                                           \
    } while (0)

/* ---- bad configurations -------------------------------------------------------- */

static int new_with(const weft_config *cfg)
{
    weft_runtime *rt = (weft_runtime *)0x1;
    int rc = weft_runtime_new(cfg, &rt);
    if (rc == 0) weft_runtime_free(rt);
    else if (rt != NULL) return -9999; /* *out must be NULL on failure */
    return rc;
}

static void test_bad_configs(void **unused)
{
    (void)unused;
    weft_config cfg;

    weft_config_default(&cfg);
    assert_string_equal(cfg.scheduler, "fifo");
    assert_int_equal(cfg.workers, 1);
    assert_int_equal(cfg.budget, 128);
    assert_int_equal(weft_config_validate(&cfg), 0);
    assert_int_equal(new_with(&cfg), 0);
    assert_int_equal(new_with(NULL), 0); /* NULL: the defaults */

    cfg.scheduler = "nosuch";
    ASSERT_ERR_MSG(new_with(&cfg), -EINVAL, "nosuch");
    assert_true(has(weft_last_error(), "fifo"));
    for (int i = 0; i < weft_scheduler_count(); i++) assert_true(has(weft_last_error(), weft_scheduler_name(i)));
    ASSERT_ERR_MSG(weft_config_validate(&cfg), -EINVAL, "fifo");
    cfg.scheduler = "";
    assert_int_equal(new_with(&cfg), -EINVAL);
    cfg.scheduler = NULL;
    assert_int_equal(new_with(&cfg), -EINVAL);

    weft_config_default(&cfg);
    cfg.workers = 0;
    ASSERT_ERR_MSG(new_with(&cfg), -EINVAL, "workers");
    cfg.workers = WEFT_MAX_WORKERS + 1;
    ASSERT_ERR_MSG(new_with(&cfg), -EINVAL, "workers");
    cfg.workers = -3;
    assert_int_equal(new_with(&cfg), -EINVAL);
    cfg.workers = 2; /* fifo takes exactly one */
    ASSERT_ERR_MSG(new_with(&cfg), -EINVAL, "fifo");
    assert_true(has(weft_last_error(), "1"));

    weft_config_default(&cfg);
    cfg.budget = 0;
    ASSERT_ERR_MSG(new_with(&cfg), -EINVAL, "budget");
    cfg.budget = -2;
    ASSERT_ERR_MSG(new_with(&cfg), -EINVAL, "budget");
    cfg.budget = WEFT_MAX_BUDGET + 1;
    ASSERT_ERR_MSG(new_with(&cfg), -EINVAL, "budget");
    cfg.budget = -1;
    assert_int_equal(weft_config_validate(&cfg), 0);
    cfg.budget = 1;
    assert_int_equal(weft_config_validate(&cfg), 0);
    cfg.budget = WEFT_MAX_BUDGET;
    assert_int_equal(weft_config_validate(&cfg), 0);

    weft_config_default(&cfg);
    cfg.pin = "sideways";
    ASSERT_ERR_MSG(new_with(&cfg), -EINVAL, "sideways");
    assert_true(has(weft_last_error(), "compact"));

    weft_config_default(&cfg);
    cfg.local_queue_capacity = 3;
    ASSERT_ERR_MSG(weft_config_validate(&cfg), -EINVAL, "power of two");
    weft_config_default(&cfg);
    cfg.lifo_slot = 2;
    ASSERT_ERR_MSG(weft_config_validate(&cfg), -EINVAL, "lifo_slot");
    weft_config_default(&cfg);
    cfg.blocking_max_threads = 0;
    ASSERT_ERR_MSG(weft_config_validate(&cfg), -EINVAL, "blocking_max_threads");

    assert_int_equal(weft_config_validate(NULL), -EINVAL);
    assert_int_equal(weft_runtime_new(NULL, NULL), -EINVAL);

    /* the runtime keeps its own copies of the configuration's strings */
    char name[8] = "fifo";
    weft_config_default(&cfg);
    cfg.scheduler = name;
    weft_runtime *rt = NULL;
    assert_int_equal(weft_runtime_new(&cfg, &rt), 0);
    strcpy(name, "xxxx");
    assert_string_equal(weft_runtime_config(rt)->scheduler, "fifo");
    assert_int_equal(weft_runtime_config(rt)->budget, 128);
    weft_runtime_free(rt);
    weft_runtime_free(NULL); /* no-op */
    assert_null(weft_runtime_config(NULL));
}

static void test_config_set(void **unused)
{
    (void)unused;
    weft_config cfg;
    weft_config_default(&cfg);

    ASSERT_ERR_MSG(weft_config_set(&cfg, "no_such_knob", "1"), -EINVAL, "no_such_knob");
    assert_true(has(weft_last_error(), "budget")); /* lists the known knobs */
    assert_true(has(weft_last_error(), "global_interval"));

    const char *bad_ints[] = {"abc", "", "12x", " ", "1.5", "0x10", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_ints / sizeof bad_ints[0]; i++)
        ASSERT_ERR_MSG(weft_config_set(&cfg, "budget", bad_ints[i]), -EINVAL, "budget");
    ASSERT_ERR_MSG(weft_config_set(&cfg, "workers", "0"), -EINVAL, "workers");
    ASSERT_ERR_MSG(weft_config_set(&cfg, "workers", "257"), -EINVAL, "workers");
    ASSERT_ERR_MSG(weft_config_set(&cfg, "budget", "-2"), -EINVAL, "budget");
    ASSERT_ERR_MSG(weft_config_set(&cfg, "lifo_slot", "2"), -EINVAL, "lifo_slot");
    assert_int_equal(weft_config_set(NULL, "budget", "1"), -EINVAL);
    assert_int_equal(weft_config_set(&cfg, NULL, "1"), -EINVAL);
    assert_int_equal(weft_config_set(&cfg, "budget", NULL), -EINVAL);
    /* a failed set changes nothing */
    weft_config ref;
    weft_config_default(&ref);
    assert_memory_equal(&cfg, &ref, sizeof cfg);

    assert_int_equal(weft_config_set(&cfg, "budget", "-1"), 0);
    assert_int_equal(cfg.budget, -1);
    assert_int_equal(weft_config_set(&cfg, "workers", "256"), 0);
    assert_int_equal(cfg.workers, 256);
    assert_int_equal(weft_config_set(&cfg, "scheduler", "fifo"), 0);
    assert_int_equal(weft_config_set(&cfg, "pin", "compact"), 0);
    assert_string_equal(cfg.pin, "compact");

    /* every listed knob is settable and shows up in the description */
    const char *const *names = weft_config_knob_names();
    assert_non_null(names);
    int nknobs = 0;
    for (; names[nknobs]; nknobs++) {
        weft_config c;
        weft_config_default(&c);
        const char *n = names[nknobs];
        const char *val = NULL;
        if (!strcmp(n, "scheduler")) val = "fifo";
        else if (!strcmp(n, "pin")) val = "scatter";
        else if (!strcmp(n, "topology")) val = "pack:1 core:2 pu:1";
        else if (weft_config_set(&c, n, "1") == 0) val = "1";
        else if (weft_config_set(&c, n, "2") == 0) val = "2";
        if (!val) print_error("knob %s takes neither 1 nor 2: %s\n", n, weft_last_error());
        assert_non_null(val);
        assert_int_equal(weft_config_set(&c, n, val), 0);
        char buf[2048], want[256];
        int len = weft_config_describe(&c, buf, sizeof buf);
        assert_true(len > 0 && (size_t)len < sizeof buf);
        snprintf(want, sizeof want, "%s=%s", n, val);
        if (!has(buf, want)) print_error("describe lacks '%s': %s\n", want, buf);
        assert_true(has(buf, want));
    }
    assert_true(nknobs >= 19);
}

static void test_config_describe(void **unused)
{
    (void)unused;
    weft_config cfg;
    weft_config_default(&cfg);
    char buf[4096];
    int len = weft_config_describe(&cfg, buf, sizeof buf);
    assert_int_equal(len, (int)strlen(buf));
    for (const char *const *n = weft_config_knob_names(); *n; n++) {
        char want[128];
        snprintf(want, sizeof want, "%s=", *n);
        if (!has(buf, want)) print_error("describe lacks %s: %s\n", *n, buf);
        assert_true(has(buf, want));
    }
    assert_true(has(buf, "scheduler=fifo"));
    assert_true(has(buf, "workers=1"));
    assert_true(has(buf, "budget=128"));
    assert_true(has(buf, "pin=none"));
    /* short buffer: truncated, terminated, and the needed length returned */
    char small[16];
    memset(small, 'x', sizeof small);
    assert_int_equal(weft_config_describe(&cfg, small, sizeof small), len);
    assert_true(memchr(small, 0, sizeof small) != NULL);
    assert_int_equal(strncmp(small, buf, strlen(small)), 0);
    assert_int_equal(weft_config_describe(&cfg, NULL, 0), len);
}

static void env_clear(void)
{
    unsetenv("WEFT_SCHEDULER");
    unsetenv("WEFT_WORKERS");
    unsetenv("WEFT_KNOBS");
    unsetenv("WEFT_PIN");
    unsetenv("WEFT_TOPOLOGY");
}

static void test_config_from_env(void **unused)
{
    (void)unused;
    env_clear();
    weft_config cfg, ref;
    weft_config_default(&cfg);
    weft_config_default(&ref);
    assert_int_equal(weft_config_from_env(&cfg), 0);
    assert_memory_equal(&cfg, &ref, sizeof cfg);

    setenv("WEFT_SCHEDULER", "fifo", 1);
    setenv("WEFT_WORKERS", "1", 1);
    setenv("WEFT_KNOBS", "budget=7,lifo_cap=5,global_interval=13,blocking_max_threads=3", 1);
    setenv("WEFT_PIN", "scatter", 1);
    weft_config_default(&cfg);
    assert_int_equal(weft_config_from_env(&cfg), 0);
    assert_string_equal(cfg.scheduler, "fifo");
    assert_int_equal(cfg.workers, 1);
    assert_int_equal(cfg.budget, 7);
    assert_int_equal(cfg.lifo_cap, 5);
    assert_int_equal(cfg.global_interval, 13);
    assert_int_equal(cfg.blocking_max_threads, 3);
    assert_string_equal(cfg.pin, "scatter");
    assert_int_equal(weft_config_validate(&cfg), 0);
    unsetenv("WEFT_PIN");

    setenv("WEFT_WORKERS", "8", 1);
    weft_config_default(&cfg);
    assert_int_equal(weft_config_from_env(&cfg), 0);
    assert_int_equal(cfg.workers, 8);
    ASSERT_ERR_MSG(weft_config_validate(&cfg), -EINVAL, "fifo"); /* fifo takes 1 */

    setenv("WEFT_WORKERS", "two", 1);
    weft_config_default(&cfg);
    ASSERT_ERR_MSG(weft_config_from_env(&cfg), -EINVAL, "WEFT_WORKERS=two");
    setenv("WEFT_WORKERS", "1", 1);

    setenv("WEFT_KNOBS", "budget", 1);
    weft_config_default(&cfg);
    ASSERT_ERR_MSG(weft_config_from_env(&cfg), -EINVAL, "budget");
    assert_true(has(weft_last_error(), "name=value"));
    setenv("WEFT_KNOBS", "budget=4,nosuch=1", 1);
    weft_config_default(&cfg);
    ASSERT_ERR_MSG(weft_config_from_env(&cfg), -EINVAL, "nosuch");
    setenv("WEFT_KNOBS", "budget=abc", 1);
    weft_config_default(&cfg);
    ASSERT_ERR_MSG(weft_config_from_env(&cfg), -EINVAL, "abc");
    char *lng = malloc(6000);
    assert_non_null(lng);
    memset(lng, 'a', 5999);
    lng[5999] = 0;
    setenv("WEFT_KNOBS", lng, 1);
    free(lng);
    weft_config_default(&cfg);
    ASSERT_ERR_MSG(weft_config_from_env(&cfg), -EINVAL, "WEFT_KNOBS");
    unsetenv("WEFT_KNOBS");
    env_clear();

    /* every parse error names the variable and the value it had */
    static const struct {
        const char *var, *value, *needle;
    } bad_env[] = {
        {"WEFT_WORKERS", "abc", "WEFT_WORKERS=abc: not a number; give 1.."},
        {"WEFT_WORKERS", "12abc", "WEFT_WORKERS=12abc: not a number"},
        {"WEFT_WORKERS", "0", "WEFT_WORKERS=0: out of range; give 1.."},
        {"WEFT_WORKERS", "99999999999999999999", "WEFT_WORKERS=99999999999999999999: out of range"},
        {"WEFT_KNOBS", "budget=abc", "WEFT_KNOBS=budget=abc: budget = abc is not a number; give -1.."},
        {"WEFT_KNOBS", "lifo_cap=3,budget=0x", "WEFT_KNOBS=lifo_cap=3,budget=0x: budget = 0x is not a number"},
        {"WEFT_KNOBS", "lifo_slot=2", "WEFT_KNOBS=lifo_slot=2: lifo_slot = 2 is out of range; give 0..1"},
        {"WEFT_KNOBS", "budget=4,nosuch=1", "WEFT_KNOBS=budget=4,nosuch=1: unknown knob 'nosuch'"},
        {"WEFT_KNOBS", "budget", "WEFT_KNOBS=budget: 'budget' is not name=value"},
    };
    for (size_t i = 0; i < sizeof bad_env / sizeof bad_env[0]; i++) {
        setenv(bad_env[i].var, bad_env[i].value, 1);
        weft_config_default(&cfg);
        ASSERT_ERR_MSG(weft_config_from_env(&cfg), -EINVAL, bad_env[i].needle);
        unsetenv(bad_env[i].var);
    }
    lng = malloc(6000);
    assert_non_null(lng);
    memset(lng, 'a', 5999);
    lng[5999] = 0;
    setenv("WEFT_KNOBS", lng, 1);
    free(lng);
    weft_config_default(&cfg);
    ASSERT_ERR_MSG(weft_config_from_env(&cfg), -EINVAL, "WEFT_KNOBS=aaaaaaaa");
    env_clear();

    setenv("WEFT_SCHEDULER", "nosuch", 1);
    weft_config_default(&cfg);
    assert_int_equal(weft_config_from_env(&cfg), 0);
    weft_runtime *rt = NULL;
    ASSERT_ERR_MSG(weft_runtime_new(&cfg, &rt), -EINVAL, "nosuch");
    assert_null(rt);
    env_clear();
}

/* ---- bad calls --------------------------------------------------------------------- */

static weft_poll ready_int(void *p, weft_context *cx, void *out)
{
    (void)cx;
    if (out) *(int *)out = p ? *(int *)p : 0;
    return WEFT_READY;
}
static const weft_future_type ready_int_type = {"ready_int", ready_int, NULL, sizeof(int), sizeof(int)};

static void *blocking_noop(void *arg) { return arg; }

static void test_null_arguments(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    weft_join_handle h = {(void *)0x1};
    weft_future_type no_poll = {"no_poll", NULL, NULL, 0, 0};
    int v = 3, out = 0;

    ASSERT_ERR_MSG(weft_spawn(NULL, &ready_int_type, &v, &h), -EINVAL, "runtime");
    assert_null(h.task);
    h.task = (void *)0x1;
    ASSERT_ERR_MSG(weft_spawn(rt, NULL, &v, &h), -EINVAL, "future type");
    assert_null(h.task);
    ASSERT_ERR_MSG(weft_spawn(rt, &no_poll, NULL, NULL), -EINVAL, "poll");
    ASSERT_ERR_MSG(weft_block_on(NULL, &ready_int_type, &v, &out), -EINVAL, "runtime");
    ASSERT_ERR_MSG(weft_block_on(rt, NULL, &v, &out), -EINVAL, "future type");
    ASSERT_ERR_MSG(weft_block_on(rt, &no_poll, NULL, NULL), -EINVAL, "poll");
    h.task = (void *)0x1;
    ASSERT_ERR_MSG(weft_spawn_blocking(rt, NULL, NULL, &h), -EINVAL, "function");
    assert_null(h.task);
    ASSERT_ERR_MSG(weft_spawn_blocking(NULL, blocking_noop, NULL, NULL), -EINVAL, "runtime");
    assert_int_equal(weft_runtime_stats(NULL, NULL, 0, NULL), -EINVAL);
    char buf[64];
    assert_int_equal(weft_runtime_describe_placement(NULL, buf, sizeof buf), -EINVAL);
    assert_int_equal(weft_runtime_describe_placement(rt, NULL, 0), -EINVAL);
    uint64_t p50, p99, mx, cnt;
    ASSERT_ERR_MSG(weft_runtime_sched_latency(rt, &p50, &p99, &mx, &cnt), -ENOTSUP, "sched_latency");
    weft_runtime_stats_reset(NULL);
    assert_null(weft_runtime_current());
    /* the runtime still works after all that */
    tu_block_on_ok(rt, &ready_int_type, &v, &out);
    assert_int_equal(out, 3);
    /* a NULL init state is zeroed */
    out = 99;
    tu_block_on_ok(rt, &ready_int_type, NULL, &out);
    assert_int_equal(out, 0);
    weft_runtime_free(rt);
}

/* ---- refused calls: spawn during shutdown, block_on / join_wait on a worker ---- */

typedef struct shutdown_probe {
    int coro;
} shutdown_probe;

static weft_runtime *g_rt;
static int g_rc_spawn = 1, g_rc_blocking = 1, g_rc_block_on = 1, g_drops;
static weft_join_handle g_h;

static weft_poll pend_forever(void *p, weft_context *cx, void *out)
{
    (void)p;
    (void)cx;
    (void)out;
    return WEFT_PENDING; /* stores no waker: only shutdown ends it */
}
static void spawning_drop(void *p)
{
    (void)p;
    g_drops++;
    int v = 1, out = 0;
    g_h.task = (void *)0x1;
    g_rc_spawn = weft_spawn(g_rt, &ready_int_type, &v, &g_h);
    g_rc_blocking = weft_spawn_blocking(g_rt, blocking_noop, NULL, NULL);
    g_rc_block_on = weft_block_on(g_rt, &ready_int_type, &v, &out);
}
static const weft_future_type spawning_drop_type = {"spawning_drop", pend_forever, spawning_drop,
                                                    sizeof(shutdown_probe), 0};

static void test_spawn_during_shutdown(void **unused)
{
    (void)unused;
    g_rt = tu_rt_new("fifo", 1, NULL);
    /* one that was polled (idle, pending) and one still queued */
    assert_int_equal(weft_spawn(g_rt, &spawning_drop_type, NULL, NULL), 0);
    int v = 0;
    tu_block_on_ok(g_rt, &ready_int_type, &v, NULL);
    assert_int_equal(weft_spawn(g_rt, &spawning_drop_type, NULL, NULL), 0);
    weft_runtime_free(g_rt);
    assert_int_equal(g_drops, 2);
    assert_int_equal(g_rc_spawn, -ESHUTDOWN);
    assert_null(g_h.task);
    assert_int_equal(g_rc_blocking, -ESHUTDOWN);
    assert_int_equal(g_rc_block_on, -ESHUTDOWN);
    g_rt = NULL;
}

typedef struct inside {
    weft_runtime *other;
    int rc_same, rc_other, rc_join_wait, rc_join;
    weft_runtime *current;
    int coro;
    weft_join_handle h;
} inside;
static inside g_inside;

static weft_poll inside_poll(void *p, weft_context *cx, void *out)
{
    (void)p;
    (void)out;
    inside *st = &g_inside;
    int v = 1, o = 0;
    WEFT_CORO_BEGIN(st);
    st->current = weft_runtime_current();
    st->rc_same = weft_block_on(weft_context_runtime(cx), &ready_int_type, &v, &o);
    st->rc_other = weft_block_on(st->other, &ready_int_type, &v, &o);
    if (weft_spawn(weft_context_runtime(cx), &ready_int_type, &v, &st->h) != 0) WEFT_CORO_RETURN_VOID(st);
    st->rc_join_wait = weft_join_wait(&st->h, &o);
    WEFT_AWAIT(st, weft_join_poll(&st->h, cx, &o, &st->rc_join));
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static const weft_future_type inside_type = {"inside", inside_poll, NULL, 1, 0};

static void test_refused_on_worker(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    memset(&g_inside, 0, sizeof g_inside);
    g_inside.other = tu_rt_new("fifo", 1, NULL);
    g_inside.rc_same = g_inside.rc_other = g_inside.rc_join_wait = g_inside.rc_join = 1;
    tu_block_on_ok(rt, &inside_type, NULL, NULL);
    assert_ptr_equal(g_inside.current, rt);
    assert_int_equal(g_inside.rc_same, -EDEADLK);
    assert_int_equal(g_inside.rc_other, -EDEADLK);
    assert_int_equal(g_inside.rc_join_wait, -EDEADLK);
    assert_int_equal(g_inside.rc_join, 0); /* the handle survived the refused wait */
    assert_null(weft_runtime_current());
    /* the other runtime was left usable */
    int v = 5, out = 0;
    tu_block_on_ok(g_inside.other, &ready_int_type, &v, &out);
    assert_int_equal(out, 5);
    weft_runtime_free(g_inside.other);
    weft_runtime_free(rt);
}

/* ---- the default runtime and WEFT_MAIN -------------------------------------------------- */

typedef struct current_probe {
    weft_runtime *seen;
} current_probe;
static current_probe g_cur;
static weft_poll current_poll(void *p, weft_context *cx, void *out)
{
    (void)p;
    g_cur.seen = weft_context_runtime(cx);
    *(int *)out = 11;
    return WEFT_READY;
}
static const weft_future_type current_type = {"current", current_poll, NULL, 0, sizeof(int)};

typedef struct join_any {
    weft_join_handle *h;
} join_any;
static weft_poll join_any_poll(void *p, weft_context *cx, void *out)
{
    join_any *st = p;
    int res = 1, o = 0;
    if (weft_join_poll(st->h, cx, &o, &res) == WEFT_PENDING) return WEFT_PENDING;
    *(int *)out = res == 0 ? o : res;
    return WEFT_READY;
}
static const weft_future_type join_any_type = {"join_any", join_any_poll, NULL, sizeof(join_any),
                                               sizeof(int)};

static void test_default_runtime(void **unused)
{
    (void)unused;
    env_clear();
    weft_runtime *rt = weft_default_runtime();
    assert_non_null(rt);
    assert_ptr_equal(weft_default_runtime(), rt);
    assert_string_equal(weft_runtime_config(rt)->scheduler, "fifo");
    weft_join_handle h;
    int v = 21, out = 0;
    assert_int_equal(weft_spawn_default(&ready_int_type, &v, &h), 0);
    join_any j = {&h};
    assert_int_equal(weft_run(&join_any_type, &j, &out), 0);
    assert_int_equal(out, 21);
    out = 0;
    assert_int_equal(weft_run(&current_type, NULL, &out), 0);
    assert_int_equal(out, 11);
    assert_ptr_equal(g_cur.seen, rt);
    weft_default_runtime_free();
    weft_default_runtime_free(); /* twice: no-op */

    /* a fresh one from the environment after shutdown */
    setenv("WEFT_KNOBS", "budget=9", 1);
    rt = weft_default_runtime();
    assert_non_null(rt);
    assert_int_equal(weft_runtime_config(rt)->budget, 9);
    assert_int_equal(weft_run(&ready_int_type, &v, &out), 0);
    assert_int_equal(out, 21);
    weft_default_runtime_free();

    /* a bad environment: no runtime, -EINVAL, the reason in weft_last_error */
    setenv("WEFT_SCHEDULER", "nosuch", 1);
    assert_null(weft_default_runtime());
    assert_true(has(weft_last_error(), "nosuch"));
    assert_int_equal(weft_run(&ready_int_type, &v, &out), -EINVAL);
    assert_int_equal(weft_spawn_default(&ready_int_type, &v, &h), -EINVAL);
    env_clear();
    assert_non_null(weft_default_runtime());
    weft_default_runtime_free();
}

typedef struct main_state {
    int coro;
    int argc;
    char **argv;
} main_state;
static weft_poll main_poll(void *p, weft_context *cx, void *out)
{
    (void)cx;
    main_state *st = p;
    *(int *)out = st->argc * 100 + (st->argc > 1 ? (int)strlen(st->argv[1]) : 0);
    return WEFT_READY;
}

/* The macro itself, with main renamed so it can be called. */
#define main weft_macro_main
int weft_macro_main(int argc, char **argv);
WEFT_MAIN(main_poll, main_state)
#undef main

static void test_main(void **unused)
{
    (void)unused;
    env_clear();
    static const weft_future_type mt = {"main", main_poll, NULL, sizeof(main_state), sizeof(int)};
    char a0[] = "prog", a1[] = "hello", a2[] = "x";
    char *argv[] = {a0, a1, a2, NULL};
    main_state st = {0, 0, NULL};
    assert_int_equal(weft_main_run(&mt, &st, offsetof(main_state, argc), offsetof(main_state, argv), 3, argv),
                     305);
    assert_int_equal(weft_macro_main(2, argv), 205);
    assert_int_equal(weft_macro_main(1, argv), 100);
    /* a runtime that cannot start: exit code 2 and a message */
    setenv("WEFT_SCHEDULER", "nosuch", 1);
    assert_int_equal(weft_macro_main(2, argv), 2);
    env_clear();
    setenv("WEFT_KNOBS", "budget=0", 1); /* accepted by the parser, refused by validation */
    assert_int_equal(weft_macro_main(2, argv), 2);
    env_clear();
}

/* ---- shutdown with 100 000 pending tasks --------------------------------------------------- */

static _Atomic long g_pair_drops, g_queued_drops, g_pair_polls, g_queued_polls;

typedef struct pair_task {
    int coro;
    weft_oneshot *rx; /* we await it; the peer holds its sender */
    weft_oneshot *tx; /* the peer awaits it; we hold its sender */
    tu_latch *first_polls;
    uint64_t v;
    int res;
} pair_task;

static weft_poll pair_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    pair_task *st = p;
    WEFT_CORO_BEGIN(st);
    atomic_fetch_add_explicit(&g_pair_polls, 1, memory_order_relaxed);
    tu_latch_arrive(st->first_polls);
    WEFT_AWAIT(st, weft_oneshot_recv_poll(st->rx, cx, &st->v, &st->res));
    st->rx = NULL; /* never happens: the peer never sends */
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static void pair_drop(void *p)
{
    pair_task *st = p;
    atomic_fetch_add_explicit(&g_pair_drops, 1, memory_order_relaxed);
    if (st->rx) weft_oneshot_receiver_drop(st->rx);
    if (st->tx) weft_oneshot_sender_drop(st->tx); /* wakes the peer during shutdown */
    st->rx = st->tx = NULL;
}
static const weft_future_type pair_type = {"pair", pair_poll, pair_drop, sizeof(pair_task), 0};

static weft_poll queued_poll(void *p, weft_context *cx, void *out)
{
    (void)p;
    (void)cx;
    (void)out;
    atomic_fetch_add_explicit(&g_queued_polls, 1, memory_order_relaxed);
    return WEFT_READY;
}
static void queued_drop(void *p)
{
    (void)p;
    atomic_fetch_add_explicit(&g_queued_drops, 1, memory_order_relaxed);
}
static const weft_future_type queued_type = {"queued", queued_poll, queued_drop, 8, 0};

typedef struct pair_spawner {
    int coro;
    long pairs;
    tu_latch *latch;
    int rc;
} pair_spawner;
static weft_poll pair_spawner_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    pair_spawner *st = p;
    WEFT_CORO_BEGIN(st);
    for (long i = 0; i < st->pairs; i++) {
        weft_oneshot *a, *b;
        if (weft_oneshot_new(&a) || weft_oneshot_new(&b)) {
            st->rc = -ENOMEM;
            WEFT_CORO_RETURN_VOID(st);
        }
        pair_task x = {0, a, b, st->latch, 0, 0}, y = {0, b, a, st->latch, 0, 0};
        int r1 = weft_spawn(weft_context_runtime(cx), &pair_type, &x, NULL);
        int r2 = weft_spawn(weft_context_runtime(cx), &pair_type, &y, NULL);
        if (r1 || r2) {
            st->rc = r1 ? r1 : r2;
            WEFT_CORO_RETURN_VOID(st);
        }
    }
    WEFT_AWAIT(st, tu_latch_poll(st->latch, cx));
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static const weft_future_type pair_spawner_type = {"pair_spawner", pair_spawner_poll, NULL,
                                                   sizeof(pair_spawner), 0};

static void test_shutdown_100k_pending(void **unused)
{
    (void)unused;
    const long pairs = 40000, queued = 20000; /* 100 000 tasks, + 8 with join handles */
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    tu_latch latch;
    tu_latch_init(&latch, 2 * pairs);
    pair_spawner ps = {0, pairs, &latch, 0};
    tu_block_on_ok(rt, &pair_spawner_type, &ps, NULL);
    assert_int_equal(ps.rc, 0);
    assert_int_equal(tu_latch_count(&latch), 2 * pairs);
    for (long i = 0; i < queued; i++) assert_int_equal(weft_spawn(rt, &queued_type, NULL, NULL), 0);
    /* a few queued with join handles that are never joined, only dropped */
    weft_join_handle hs[8];
    for (int i = 0; i < 8; i++) assert_int_equal(weft_spawn(rt, &queued_type, NULL, &hs[i]), 0);
    weft_worker_stats st;
    weft_runtime_stats(rt, NULL, 0, &st);
    assert_int_equal(st.spawns, 1 + 2 * pairs + queued + 8);
    weft_runtime_free(rt);
    assert_int_equal(atomic_load_explicit(&g_pair_drops, memory_order_relaxed), 2 * pairs);
    assert_int_equal(atomic_load_explicit(&g_pair_polls, memory_order_relaxed), 2 * pairs);
    assert_int_equal(atomic_load_explicit(&g_queued_drops, memory_order_relaxed), queued + 8);
    assert_int_equal(atomic_load_explicit(&g_queued_polls, memory_order_relaxed), 0);
    for (int i = 0; i < 8; i++) {
        assert_true(weft_join_is_finished(&hs[i]));
        assert_int_equal(weft_join_wait(&hs[i], NULL), -ECANCELED);
    }
    tu_latch_destroy(&latch);
}

/* ---- exact counters for a known program ------------------------------------------------------ */

static _Atomic int g_children_done;

typedef struct yield_once {
    int coro;
    weft_yield y;
} yield_once;
static weft_poll yield_once_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    yield_once *st = p;
    WEFT_CORO_BEGIN(st);
    WEFT_YIELD_NOW(st, y, cx);
    atomic_fetch_add_explicit(&g_children_done, 1, memory_order_relaxed);
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static const weft_future_type yield_once_type = {"yield_once", yield_once_poll, NULL, sizeof(yield_once), 0};

typedef struct stats_main {
    int coro;
    int polls;
} stats_main;
static weft_poll stats_main_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    stats_main *st = p;
    st->polls++;
    if (st->polls == 1)
        for (int i = 0; i < 10; i++)
            if (weft_spawn(weft_context_runtime(cx), &yield_once_type, NULL, NULL)) return WEFT_READY;
    if (atomic_load_explicit(&g_children_done, memory_order_relaxed) == 10) return WEFT_READY;
    weft_context_yield(cx);
    return WEFT_PENDING;
}
static const weft_future_type stats_main_type = {"stats_main", stats_main_poll, NULL, sizeof(stats_main), 0};

/* program 2: a task woken by another task, and a joiner woken by completion */
static weft_waker g_saved;
typedef struct sleeper {
    int polls;
} sleeper;
static weft_poll sleeper_poll(void *p, weft_context *cx, void *out)
{
    sleeper *st = p;
    if (st->polls++ == 0) {
        g_saved = weft_waker_clone(weft_context_waker(cx));
        return WEFT_PENDING;
    }
    *(int *)out = 8;
    return WEFT_READY;
}
static const weft_future_type sleeper_type = {"sleeper", sleeper_poll, NULL, sizeof(sleeper), sizeof(int)};
static weft_poll waker_task_poll(void *p, weft_context *cx, void *out)
{
    (void)p;
    (void)cx;
    (void)out;
    weft_waker_wake(&g_saved);
    return WEFT_READY;
}
static const weft_future_type waker_task_type = {"waker_task", waker_task_poll, NULL, 0, 0};
typedef struct main2 {
    int coro;
    weft_join_handle h;
    int res, out;
} main2;
static weft_poll main2_poll(void *p, weft_context *cx, void *out)
{
    main2 *st = p;
    WEFT_CORO_BEGIN(st);
    if (weft_spawn(weft_context_runtime(cx), &sleeper_type, NULL, &st->h) ||
        weft_spawn(weft_context_runtime(cx), &waker_task_type, NULL, NULL))
        WEFT_CORO_RETURN(st, out, int, -1);
    WEFT_AWAIT(st, weft_join_poll(&st->h, cx, &st->out, &st->res));
    WEFT_CORO_RETURN(st, out, int, st->res == 0 ? st->out : st->res);
    WEFT_CORO_END(st);
}
static const weft_future_type main2_type = {"main2", main2_poll, NULL, sizeof(main2), sizeof(int)};

/* ---- fifo's inlined run path (schedulers/fifo.h) keeps exact FIFO order ---------------------- */

static int g_rr_log[64];
static int g_rr_n;
typedef struct rr_child {
    int id, left;
} rr_child;
static weft_poll rr_child_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    rr_child *st = p;
    if (g_rr_n < 64) g_rr_log[g_rr_n++] = st->id;
    if (st->left-- == 0) return WEFT_READY;
    weft_context_yield(cx);
    return WEFT_PENDING;
}
static const weft_future_type rr_child_type = {"rr_child", rr_child_poll, NULL, sizeof(rr_child), 0};
typedef struct rr_main {
    int polls;
    weft_join_handle h[3];
} rr_main;
static weft_poll rr_main_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    rr_main *st = p;
    if (st->polls++ == 0)
        for (int i = 0; i < 3; i++) {
            rr_child c = {i, 3};
            if (weft_spawn(weft_context_runtime(cx), &rr_child_type, &c, &st->h[i])) return WEFT_READY;
        }
    for (int i = 0; i < 3; i++) {
        int res = 0;
        if (!weft_join_is_empty(&st->h[i]) && weft_join_poll(&st->h[i], cx, NULL, &res) == WEFT_PENDING) return WEFT_PENDING;
    }
    return WEFT_READY;
}
static const weft_future_type rr_main_type = {"rr_main", rr_main_poll, NULL, sizeof(rr_main), 0};

static void test_fifo_yield_round_robin(void **unused)
{
    (void)unused;
    /* three children yield three times each: a yield goes to the back of the
     * ready queue, so the polls are strictly round-robin; the joins' wakes go
     * through the same inlined push (woken queue) */
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    g_rr_n = 0;
    rr_main m;
    memset(&m, 0, sizeof m);
    tu_block_on_ok(rt, &rr_main_type, &m, NULL);
    static const int want[12] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2};
    assert_int_equal(g_rr_n, 12);
    for (int i = 0; i < 12; i++) assert_int_equal(g_rr_log[i], want[i]);
    weft_worker_stats total;
    weft_runtime_stats(rt, NULL, 0, &total);
    /* 12 child polls + main's 4: the spawn, then one per child completion
     * (each join wake goes to fifo's woken queue, taken before the ready
     * children: no global_interval tick falls within these 16 polls) */
    assert_int_equal(total.polls, 16);
    assert_int_equal(total.local_wakes, 3);
    assert_int_equal(total.queue_hwm, 3); /* the 3 children; main waits on a join, never queued with them */
    weft_runtime_free(rt);
}

static void test_stats_exact(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    weft_worker_stats per[2], total;
    memset(per, 0xff, sizeof per);
    assert_int_equal(weft_runtime_stats(rt, per, 2, &total), 1);
    assert_int_equal(total.polls, 0);
    assert_int_equal(total.spawns, 0);

    /* main spawns 10 children that yield once; main yields until all are done:
     * main 3 polls + children 2 x 10 = 23 polls; 10 spawns on the worker and
     * 1 from outside (block_on's own); the local queue peaks at the 10 children
     * (main's re-queue behind them is a yield's, which queue_hwm does not
     * count: schedulers/fifo.h) */
    atomic_store_explicit(&g_children_done, 0, memory_order_relaxed);
    stats_main sm = {0, 0};
    tu_block_on_ok(rt, &stats_main_type, &sm, NULL);
    assert_int_equal(weft_runtime_stats(rt, per, 2, &total), 1);
    assert_int_equal(total.polls, 23);
    assert_int_equal(per[0].polls, 23);
    assert_int_equal(total.spawns, 11);
    assert_int_equal(per[0].spawns, 10);
    assert_int_equal(total.inject_pops, 1);
    assert_int_equal(total.queue_hwm, 10);
    assert_int_equal(total.local_wakes, 0);
    assert_int_equal(total.remote_wakes, 0);
    assert_int_equal(total.parks, 0);
    assert_int_equal(total.steals, 0);
    assert_int_equal(total.steal_attempts, 0);
    assert_int_equal(per[1].polls, UINT64_MAX); /* only nworkers entries are written */

    weft_runtime_stats_reset(rt);
    weft_runtime_stats(rt, NULL, 0, &total);
    uint64_t *all = (uint64_t *)&total;
    for (int i = 0; i < weft_stat_field_count; i++) assert_int_equal(all[i], 0);

    /* main2 spawns a sleeper and a task that wakes it, and joins the sleeper:
     * polls main2 2 + sleeper 2 + waker 1 = 5; two local wakes (the sleeper by
     * the waker task, main2 by the sleeper's completion) */
    main2 m2;
    memset(&m2, 0, sizeof m2);
    int out = 0;
    tu_block_on_ok(rt, &main2_type, &m2, &out);
    assert_int_equal(out, 8);
    weft_runtime_stats(rt, NULL, 0, &total);
    assert_int_equal(total.polls, 5);
    assert_int_equal(total.local_wakes, 2);
    assert_int_equal(total.spawns, 3);
    assert_int_equal(total.remote_wakes, 0);
    assert_int_equal(total.parks, 0);

    /* the field table describes the struct */
    assert_int_equal(weft_stat_field_count, (int)(sizeof(weft_worker_stats) / sizeof(uint64_t)));
    bool seen[sizeof(weft_worker_stats) / sizeof(uint64_t)] = {false};
    for (int i = 0; i < weft_stat_field_count; i++) {
        size_t k = weft_stat_fields[i].offset / sizeof(uint64_t);
        assert_true(k < sizeof seen);
        assert_false(seen[k]);
        seen[k] = true;
        assert_non_null(weft_stat_fields[i].name);
        assert_int_equal(weft_stat_fields[i].is_max, strcmp(weft_stat_fields[i].name, "queue_hwm") == 0);
    }
    assert_string_equal(weft_stat_fields[0].name, "polls");
    assert_int_equal(weft_stat_fields[0].offset, offsetof(weft_worker_stats, polls));
    weft_runtime_free(rt);
}

/* ---- build information ------------------------------------------------------------------------ */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TU_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TU_SANITIZED 1
#endif
#endif

static void test_build_info(void **unused)
{
    (void)unused;
    const char *alloc = weft_build_allocator();
    assert_non_null(alloc);
    assert_true(!strcmp(alloc, "jemalloc") || !strcmp(alloc, "system"));
#ifdef TU_SANITIZED
    assert_string_equal(alloc, "system"); /* sanitizer builds use the system allocator */
#endif
    /* the claim matches what is linked: jemalloc exports mallctl */
    bool je = dlsym(RTLD_DEFAULT, "mallctl") != NULL;
    if (je != !strcmp(alloc, "jemalloc")) print_error("allocator '%s' but mallctl %s\n", alloc, je ? "found" : "absent");
    assert_int_equal(je, !strcmp(alloc, "jemalloc"));
    char want[64];
    snprintf(want, sizeof want, "allocator=%s", alloc);
    const char *info = weft_build_info();
    assert_true(has(info, want));
    assert_true(has(info, weft_version()));
    assert_true(strlen(weft_version()) > 0);
    assert_true(weft_scheduler_count() >= 1);
    assert_string_equal(weft_scheduler_name(0), "fifo");
    assert_non_null(weft_scheduler_describe(0));
    assert_null(weft_scheduler_name(weft_scheduler_count()));
    assert_null(weft_scheduler_name(-1));
    assert_null(weft_scheduler_describe(weft_scheduler_count()));
    uint64_t a = weft_now_ns(), b = weft_now_ns();
    assert_true(b >= a && a > 0);
}

/* ---- weft_runtime_free: in-flight fifo block_on, and from inside a task ---------- */

typedef struct forever { _Atomic int *started; } forever;
static weft_poll forever_poll(void *p, weft_context *cx, void *out)
{
    (void)cx;
    (void)out;
    /* release pairs with the test's acquire wait */
    atomic_store_explicit(((forever *)p)->started, 1, memory_order_release);
    return WEFT_PENDING; /* nobody will wake it: only shutdown ends it */
}
static const weft_future_type forever_type = {"forever", forever_poll, NULL, sizeof(forever), 0};

typedef struct blocker_arg {
    weft_runtime *rt;
    _Atomic int started;
    int rc;
} blocker_arg;
static void *blocker_main(void *p)
{
    blocker_arg *a = p;
    forever f = {&a->started};
    a->rc = weft_block_on(a->rt, &forever_type, &f, NULL);
    return NULL;
}

/* Before the fix, with reactor_thread=1 nothing unparked the fifo worker
 * (the block_on thread sleeping on its condition variable): the free hung,
 * and without the knob it freed what the block_on thread still used. */
static void test_free_waits_for_fifo_block_on(void **state)
{
    (void)state;
    for (int knob = 0; knob < 2; knob++) {
        weft_runtime *rt = tu_rt_new("fifo", 1, knob ? "reactor_thread=1" : "reactor_thread=0", NULL);
        blocker_arg a = {rt, 0, 1};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, blocker_main, &a), 0);
        assert_true(tu_wait_flag(&a.started, 10000));
        tu_sleep_ms(20); /* let it park */
        weft_runtime_free(rt);
        pthread_join(th, NULL);
        assert_int_equal(a.rc, -ESHUTDOWN);
    }
}

static weft_poll free_self_poll(void *p, weft_context *cx, void *out)
{
    (void)p;
    (void)out;
    weft_runtime_free(weft_context_runtime(cx));
    return WEFT_READY;
}
static const weft_future_type free_self_type = {"free_self", free_self_poll, NULL, 0, 0};

/* Inside one of its own tasks, weft_runtime_free aborted with a message
 * instead of spinning for ever (each scheduler, in a child process). */
static void test_free_from_own_task_aborts(void **state)
{
    (void)state;
    const char *scheds[] = {"fifo", "global", "ws", "numa"};
    for (size_t i = 0; i < sizeof scheds / sizeof scheds[0]; i++) {
        int pipefd[2];
        assert_int_equal(pipe(pipefd), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            dup2(pipefd[1], 2);
            alarm(20); /* a hang fails as SIGALRM, not as a stalled suite */
            weft_config cfg;
            weft_config_default(&cfg);
            cfg.scheduler = scheds[i];
            cfg.workers = strcmp(scheds[i], "fifo") ? 2 : 1;
            weft_runtime *rt;
            if (weft_runtime_new(&cfg, &rt)) _exit(3);
            weft_block_on(rt, &free_self_type, NULL, NULL);
            _exit(4);
        }
        close(pipefd[1]);
        char buf[1024] = {0};
        size_t got = 0;
        ssize_t n;
        while (got < sizeof buf - 1 && (n = read(pipefd[0], buf + got, sizeof buf - 1 - got)) > 0)
            got += (size_t)n;
        close(pipefd[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
            fail_msg("%s: expected SIGABRT, got status %#x; stderr: %s", scheds[i], status, buf);
        if (!strstr(buf, "weft_runtime_free called from inside a task"))
            fail_msg("%s: stderr lacks the reason: %s", scheds[i], buf);
    }
}

/* Huge state or output sizes are refused before any size arithmetic (before
 * the bound, SIZE_MAX-ish sizes wrapped: ASan saw negative-size-param and
 * heap-buffer-overflow, release builds crashed or got an undersized task). */
static weft_poll never_polled(void *p, weft_context *cx, void *out)
{
    (void)p;
    (void)cx;
    (void)out;
    return WEFT_READY;
}

static void test_spawn_huge_sizes(void **state)
{
    (void)state;
    const size_t sizes[][2] = {
        {SIZE_MAX, 0}, {0, SIZE_MAX}, {SIZE_MAX - 8, SIZE_MAX - 8}, {SIZE_MAX / 2, SIZE_MAX / 2 + 64},
        {WEFT_FUTURE_SIZE_MAX + 1, 0}, {0, WEFT_FUTURE_SIZE_MAX + 1},
    };
    const char *scheds[] = {"fifo", "ws"};
    for (int s = 0; s < 2; s++) {
        weft_runtime *rt = tu_rt_new(scheds[s], s ? 2 : 1, NULL);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            weft_future_type huge = {"huge", never_polled, NULL, sizes[i][0], sizes[i][1]};
            weft_join_handle h;
            assert_int_equal(weft_spawn(rt, &huge, NULL, &h), -EINVAL);
            assert_null(h.task);
            assert_non_null(strstr(weft_last_error(), "WEFT_FUTURE_SIZE_MAX"));
            assert_int_equal(weft_block_on(rt, &huge, NULL, NULL), -EINVAL);
            assert_non_null(strstr(weft_last_error(), "weft_spawn: future type 'huge'"));
        }
        weft_runtime_free(rt);
    }
}

/* A reactor whose wait keeps failing stops the runtime, and weft_block_on
 * reports it. Before the fix the driver ignored the error and spun: the
 * block_on below waited out its 10 s sleep (or, with the sleep's timer
 * never firing, for ever). */
typedef struct sleeper10 { int coro; weft_sleep s; } sleeper10;
static weft_poll sleeper10_poll(void *p, weft_context *cx, void *out)
{
    sleeper10 *st = p;
    (void)out;
    WEFT_CORO_BEGIN(st);
    weft_sleep_init(&st->s, 10 * WEFT_SEC);
    WEFT_AWAIT(st, weft_sleep_poll(&st->s, cx));
    WEFT_CORO_END(st);
}
static void sleeper10_drop(void *p) { weft_sleep_drop(&((sleeper10 *)p)->s); }
static const weft_future_type sleeper10_type = {"sleeper10", sleeper10_poll, sleeper10_drop,
                                                sizeof(sleeper10), 0};

static void *inject_later(void *p)
{
    weft_runtime *rt = p;
    tu_sleep_ms(100);
    reactor_debug_inject(rt->reactor, 0, EBADF);
    reactor_wake(rt->reactor);
    return NULL;
}

static void test_reactor_failure_stops_runtime(void **state)
{
    (void)state;
    struct { const char *sched; int workers; const char *knob; } cases[] = {
        {"fifo", 1, "reactor_thread=0"}, {"fifo", 1, "reactor_thread=1"},
        {"ws", 2, "reactor_thread=0"},   {"global", 2, "reactor_thread=1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        weft_runtime *rt = tu_rt_new(cases[i].sched, cases[i].workers, cases[i].knob, NULL);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, inject_later, rt), 0);
        uint64_t t0 = weft_now_ns();
        int rc = weft_block_on(rt, &sleeper10_type, NULL, NULL);
        uint64_t took = weft_now_ns() - t0;
        pthread_join(th, NULL);
        if (rc != -EBADF || took > 5 * WEFT_SEC)
            fail_msg("%s %s: rc %d after %llu ms (%s)", cases[i].sched, cases[i].knob, rc,
                     (unsigned long long)(took / WEFT_MS), weft_last_error());
        assert_non_null(strstr(weft_last_error(), "the reactor failed"));
        reactor_debug_inject(rt->reactor, 0, 0);
        weft_runtime_free(rt);
    }
}


/* ---- block_on's bounded spin (rt_block_on_wait) ---------------------------
 * Several outside threads call weft_block_on at once on threaded runtimes
 * (1 and 2 workers), with roots of three lengths: ready at once, a few
 * yields (both usually complete inside the caller's spin), and a 2 ms sleep
 * (longer than the spin: the caller sleeps on its condition variable, the
 * worker parks and drives the timer). Every call
 * must return its own root's exact value: a spin that re-polled too early, or
 * missed a completion, shows as a wrong sum or a hang. */
typedef struct spin_root {
    int coro;
    int id, kind, yields;
    weft_yield y;
    weft_sleep s;
} spin_root;
static weft_poll spin_root_poll(void *p, weft_context *cx, void *out)
{
    spin_root *st = p;
    WEFT_CORO_BEGIN(st);
    if (st->kind == 1)
        for (st->yields = 0; st->yields < 3; st->yields++) {
            weft_yield_init(&st->y);
            WEFT_AWAIT(st, weft_yield_poll(&st->y, cx));
        }
    if (st->kind == 2) {
        weft_sleep_init(&st->s, 2 * WEFT_MS);
        WEFT_AWAIT(st, weft_sleep_poll(&st->s, cx));
    }
    WEFT_CORO_RETURN(st, out, long, (long)st->id * 3 + st->kind);
    WEFT_CORO_END(st);
}
static const weft_future_type spin_root_type = {"spin_root", spin_root_poll, NULL, sizeof(spin_root),
                                                sizeof(long)};
typedef struct spin_caller {
    weft_runtime *rt;
    int base, n;
    long sum;
    int failures;
} spin_caller;
static void *spin_caller_main(void *arg)
{
    spin_caller *c = arg;
    for (int i = 0; i < c->n; i++) {
        spin_root r;
        memset(&r, 0, sizeof r);
        r.id = c->base + i;
        r.kind = i % 16 == 15 ? 2 : i % 2; /* one sleeper in 16 */
        long out = -1;
        if (weft_block_on(c->rt, &spin_root_type, &r, &out) != 0 || out != (long)r.id * 3 + r.kind)
            c->failures++;
        else
            c->sum += out;
    }
    return NULL;
}
static void test_block_on_spin_many_callers(void **unused)
{
    (void)unused;
    enum { THREADS = 4 };
    const int n = TU_SCALE(400, 64);
    static const char *const scheds[] = {"global", "ws", "numa"};
    for (int s = 0; s < 3; s++)
        for (int workers = 1; workers <= 2; workers++) {
            weft_runtime *rt = tu_rt_new(scheds[s], workers, NULL);
            pthread_t th[THREADS];
            spin_caller c[THREADS];
            long want = 0;
            for (int t = 0; t < THREADS; t++) {
                c[t] = (spin_caller){rt, t * n, n, 0, 0};
                for (int i = 0; i < n; i++) want += (long)(t * n + i) * 3 + (i % 16 == 15 ? 2 : i % 2);
                assert_int_equal(pthread_create(&th[t], NULL, spin_caller_main, &c[t]), 0);
            }
            long sum = 0;
            for (int t = 0; t < THREADS; t++) {
                pthread_join(th[t], NULL);
                assert_int_equal(c[t].failures, 0);
                sum += c[t].sum;
            }
            assert_int_equal(sum, want);
            weft_worker_stats total;
            weft_runtime_stats(rt, NULL, 0, &total);
            /* every root polled: ready 1, yielders 4, sleepers 2 polls at least */
            assert_true(total.polls >= (uint64_t)THREADS * (uint64_t)n);
            weft_runtime_free(rt);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_config_set),
        cmocka_unit_test(test_config_describe),
        cmocka_unit_test(test_config_from_env),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_spawn_during_shutdown),
        cmocka_unit_test(test_refused_on_worker),
        cmocka_unit_test(test_default_runtime),
        cmocka_unit_test(test_main),
        cmocka_unit_test(test_shutdown_100k_pending),
        cmocka_unit_test(test_stats_exact),
        cmocka_unit_test(test_fifo_yield_round_robin),
        cmocka_unit_test(test_build_info),
        cmocka_unit_test(test_free_waits_for_fifo_block_on),
        cmocka_unit_test(test_spawn_huge_sizes),
        cmocka_unit_test(test_reactor_failure_stops_runtime),
        cmocka_unit_test(test_free_from_own_task_aborts),
        cmocka_unit_test(test_block_on_spin_many_callers),
    };
    return cmocka_run_group_tests_name("runtime", tests, NULL, NULL);
}
