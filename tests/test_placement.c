/*
 * tests/test_placement.c - pinning and placement through a runtime, and the
 * schedule-latency knob.
 *
 *   - pin=compact on the real machine: every worker of a ws runtime runs
 *     with an affinity of exactly one CPU (sched_getaffinity from inside
 *     tasks), and describe_placement says "bound";
 *   - a synthetic topology: binding is skipped and the placement says so,
 *     and the numa scheduler sees its two nodes;
 *   - a bad topology or pin string: -EINVAL with a message;
 *   - sched_latency=1 records one sample per poll; off, the call is -ENOTSUP.
 */
#include <sched.h>
#include <unistd.h>

#include "test_util.h"

typedef struct aff_state {
    _Atomic int *count;      /* tasks that ran */
    _Atomic int *not_single; /* tasks whose thread had an affinity of != 1 CPU */
    _Atomic int *cpus_seen;  /* bit per CPU (first 32) */
} aff_state;

static weft_poll aff_poll(void *p, weft_context *cx, void *out)
{
    aff_state *s = p;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) != 1)
        atomic_fetch_add(s->not_single, 1);
    int cpu = sched_getcpu();
    if (cpu >= 0 && cpu < 32) atomic_fetch_or(s->cpus_seen, 1 << cpu);
    /* a little work so the tasks spread over the workers */
    uint64_t x = 0;
    for (int i = 0; i < 20000; i++) x = x * 31u + (uint64_t)i;
    atomic_fetch_add(s->count, 1 + (int)(x & 0)); /* x & 0: keeps the loop, adds nothing */
    return WEFT_READY;
}
static const weft_future_type aff_type = {"aff", aff_poll, NULL, sizeof(aff_state), 0};

static void test_pin_compact_binds_each_worker(void **state)
{
    (void)state;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int workers = ncpu >= 2 ? 2 : 1;
    weft_config cfg;
    weft_config_default(&cfg);
    cfg.scheduler = "ws";
    cfg.workers = workers;
    cfg.pin = "compact";
    weft_runtime *rt;
    assert_int_equal(weft_runtime_new(&cfg, &rt), 0);
    char desc[4096];
    assert_true(weft_runtime_describe_placement(rt, desc, sizeof desc) > 0);
    assert_non_null(strstr(desc, "[bound]"));
    assert_null(strstr(desc, "unbound"));

    _Atomic int count = 0, not_single = 0, seen = 0;
    aff_state as = {&count, &not_single, &seen};
    const int n = 2000;
    for (int i = 0; i < n; i++) assert_int_equal(weft_spawn(rt, &aff_type, &as, NULL), 0);
    uint64_t deadline = tu_now_ms() + 20000;
    while (atomic_load(&count) < n && tu_now_ms() < deadline) tu_sleep_ms(1);
    assert_int_equal(atomic_load(&count), n);
    assert_int_equal(atomic_load(&not_single), 0); /* every worker thread pinned to one CPU */
    weft_runtime_free(rt);
}

static void test_synthetic_topology_skips_binding(void **state)
{
    (void)state;
    weft_config cfg;
    weft_config_default(&cfg);
    cfg.scheduler = "numa";
    cfg.workers = 4;
    cfg.topology = "pack:1 numa:2 core:2 pu:1";
    cfg.pin = "compact";
    weft_runtime *rt;
    assert_int_equal(weft_runtime_new(&cfg, &rt), 0);
    char desc[4096];
    assert_true(weft_runtime_describe_placement(rt, desc, sizeof desc) > 0);
    assert_non_null(strstr(desc, "skipped"));
    assert_non_null(strstr(desc, "node 0"));
    assert_non_null(strstr(desc, "node 1"));
    /* the runtime still runs tasks on every worker */
    _Atomic int count = 0, not_single = 0, seen = 0;
    aff_state as = {&count, &not_single, &seen};
    for (int i = 0; i < 200; i++) assert_int_equal(weft_spawn(rt, &aff_type, &as, NULL), 0);
    uint64_t deadline = tu_now_ms() + 20000;
    while (atomic_load(&count) < 200 && tu_now_ms() < deadline) tu_sleep_ms(1);
    assert_int_equal(atomic_load(&count), 200);
    weft_runtime_free(rt);
}

static void test_bad_topology_and_pin(void **state)
{
    (void)state;
    weft_config cfg;
    weft_config_default(&cfg);
    cfg.scheduler = "ws";
    cfg.workers = 2;
    cfg.topology = "pack:x";
    weft_runtime *rt = NULL;
    assert_int_equal(weft_runtime_new(&cfg, &rt), -EINVAL);
    assert_null(rt);
    assert_non_null(strstr(weft_last_error(), "pack:x"));
    cfg.topology = NULL;
    cfg.pin = "diagonal";
    assert_int_equal(weft_runtime_new(&cfg, &rt), -EINVAL);
    assert_non_null(strstr(weft_last_error(), "compact"));
}

typedef struct yl_state {
    int coro;
    int i;
    weft_yield y;
} yl_state;

static weft_poll yl_poll(void *p, weft_context *cx, void *out)
{
    yl_state *s = p;
    WEFT_CORO_BEGIN(s);
    for (s->i = 0; s->i < 100; s->i++) WEFT_YIELD_NOW(s, y, cx);
    WEFT_CORO_END(s);
}
static const weft_future_type yl_type = {"yl", yl_poll, NULL, sizeof(yl_state), 0};

static void test_sched_latency_knob(void **state)
{
    (void)state;
    for (int on = 0; on <= 1; on++) {
        weft_config cfg;
        weft_config_default(&cfg);
        cfg.sched_latency = on;
        weft_runtime *rt;
        assert_int_equal(weft_runtime_new(&cfg, &rt), 0);
        assert_int_equal(weft_block_on(rt, &yl_type, NULL, NULL), 0);
        uint64_t p50 = 0, p99 = 0, max = 0, count = 0;
        int rc = weft_runtime_sched_latency(rt, &p50, &p99, &max, &count);
        if (!on) {
            assert_int_equal(rc, -ENOTSUP);
            assert_non_null(strstr(weft_last_error(), "sched_latency=1"));
        } else {
            assert_int_equal(rc, 0);
            weft_worker_stats tot;
            weft_runtime_stats(rt, NULL, 0, &tot);
            assert_int_equal(count, tot.polls); /* one sample per poll */
            assert_true(p50 <= p99 && p99 <= max);
            assert_true(max < 10ull * 1000000000ull);
        }
        weft_runtime_free(rt);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pin_compact_binds_each_worker),
        cmocka_unit_test(test_synthetic_topology_skips_binding),
        cmocka_unit_test(test_bad_topology_and_pin),
        cmocka_unit_test(test_sched_latency_knob),
    };
    return cmocka_run_group_tests_name("placement", tests, NULL, NULL);
}
