/*
 * tests/test_sweep.c - knob sweeps (workloads/sweep.c): expansion and row
 * naming per scheduler (a knob a scheduler lacks is not swept for it, so no
 * two rows run the same configuration), the fixed knob order, and every
 * refusal with its message.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "weft/runtime.h"
#include "workloads/sweep.h"

static void add_ok(sweep *s, const char *arg)
{
    char err[1024];
    if (sweep_add(s, arg, err, sizeof err) != 0) fail_msg("--sweep %s refused: %s", arg, err);
}

/* All the row suffixes of one scheduler, joined by ' '. */
static void suffixes(const sweep *s, const char *sched, char *buf, size_t len)
{
    sweep_point pts[64];
    int n = sweep_points(s, sched, pts, 64);
    assert_true(n >= 1 && n <= 64);
    size_t off = 0;
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        char one[256];
        assert_true(sweep_point_suffix(s, &pts[i], one, sizeof one) < (int)sizeof one);
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? " " : "", *one ? one : "-");
    }
}

static void test_expansion_and_names(void **state)
{
    (void)state;
    sweep s;
    sweep_init(&s);
    add_ok(&s, "steal_batch=0,1"); /* given first, named second: the order is fixed */
    add_ok(&s, "lifo_slot=1,0");
    char buf[2048];
    suffixes(&s, "ws", buf, sizeof buf);
    assert_string_equal(buf, "knobs:lifo_slot=1,steal_batch=0 knobs:lifo_slot=1,steal_batch=1 "
                             "knobs:lifo_slot=0,steal_batch=0 knobs:lifo_slot=0,steal_batch=1");
    suffixes(&s, "numa", buf, sizeof buf);
    assert_string_equal(buf, "knobs:lifo_slot=1,steal_batch=0 knobs:lifo_slot=1,steal_batch=1 "
                             "knobs:lifo_slot=0,steal_batch=0 knobs:lifo_slot=0,steal_batch=1");
    /* global and fifo have neither knob: one row each, no knobs suffix */
    suffixes(&s, "global", buf, sizeof buf);
    assert_string_equal(buf, "-");
    suffixes(&s, "fifo", buf, sizeof buf);
    assert_string_equal(buf, "-");

    add_ok(&s, "global_batch=1,04");     /* canonical value text */
    add_ok(&s, "budget=64,128");
    suffixes(&s, "global", buf, sizeof buf);
    assert_string_equal(buf, "knobs:budget=64,global_batch=1 knobs:budget=64,global_batch=4 "
                             "knobs:budget=128,global_batch=1 knobs:budget=128,global_batch=4");
    suffixes(&s, "fifo", buf, sizeof buf);
    assert_string_equal(buf, "knobs:budget=64 knobs:budget=128");
    sweep_point pts[64];
    assert_int_equal(sweep_points(&s, "ws", pts, 64), 8);
    assert_int_equal(sweep_points(&s, "numa", pts, 64), 8);
    /* an unknown scheduler gets every knob */
    assert_int_equal(sweep_points(&s, "future", pts, 64), 16);

    /* the WEFT_KNOBS text and the config it sets */
    assert_int_equal(sweep_points(&s, "ws", pts, 64), 8);
    assert_true(sweep_point_knobs(&s, &pts[5], buf, sizeof buf) > 0);
    assert_string_equal(buf, "budget=128,lifo_slot=1,steal_batch=1");
    weft_config cfg;
    weft_config_default(&cfg);
    assert_int_equal(sweep_point_apply(&s, &pts[5], &cfg), 0);
    assert_int_equal(cfg.budget, 128);
    assert_int_equal(cfg.lifo_slot, 1);
    assert_int_equal(cfg.steal_batch, 1);
    /* a short buffer: the length it needs */
    char tiny[4];
    assert_int_equal(sweep_point_suffix(&s, &pts[5], tiny, sizeof tiny),
                     (int)strlen("knobs:budget=128,lifo_slot=1,steal_batch=1"));
    /* no sweep: one empty point */
    sweep none;
    sweep_init(&none);
    assert_int_equal(sweep_points(&none, "ws", pts, 64), 1);
    assert_int_equal(pts[0].n, 0);
    assert_int_equal(sweep_point_suffix(&none, &pts[0], buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    /* pin, a string knob */
    sweep p;
    sweep_init(&p);
    add_ok(&p, "pin=none,compact");
    suffixes(&p, "ws", buf, sizeof buf);
    assert_string_equal(buf, "knobs:pin=none knobs:pin=compact");
    suffixes(&p, "fifo", buf, sizeof buf);
    assert_string_equal(buf, "-");
}

/* Which scheduler has which knob, read from the policies' own tables and
 * the core's (E7 in schedulers/sched.h): the matrix the hand-written table
 * in sweep.c held before the tables existed. */
static void test_applies_from_the_tables(void **state)
{
    (void)state;
    enum { F = 1, G = 2, W = 4, N = 8, ALL = 15, MT = 14, WSN = 12 };
    static const struct {
        const char *knob;
        int mask;
    } want[] = {
        {"budget", ALL},           {"local_queue_capacity", WSN}, {"lifo_slot", WSN},
        {"lifo_cap", WSN},         {"global_interval", ALL},      {"steal_batch", WSN},
        {"steal_pay_ns", WSN},      {"steal_max", WSN},        {"split_deque", WSN},      {"global_batch", G},       {"max_searching", MT},         {"spin_before_park", MT},
        {"idle_spin_us", MT},      {"block_on_handoff", MT},
        {"reactor_thread", ALL},   {"sched_latency", ALL},        {"numa_backoff_us", N},
        {"blocking_max_threads", ALL}, {"blocking_keepalive_ms", ALL}, {"blocking_nice", ALL},
        {"timer_tick_us", ALL},    {"timer_shards", MT},          {"reactor_events", ALL},
        {"pin", MT},
    };
    static const char *const sched[] = {"fifo", "global", "ws", "numa"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        for (int s = 0; s < 4; s++)
            if (sweep_knob_applies(sched[s], want[i].knob) != ((want[i].mask >> s) & 1))
                fail_msg("%s on %s: applies %d", want[i].knob, sched[s],
                         sweep_knob_applies(sched[s], want[i].knob));
        assert_non_null(sweep_knob_doc(want[i].knob));
        assert_true(sweep_knob_applies("future", want[i].knob)); /* unknown scheduler: every knob */
    }
    assert_null(sweep_knob_doc("nosuch"));
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *arg, *msg;
    } cases[] = {
        {"lifo_slot", "--sweep lifo_slot: expected NAME=v1,v2,... with NAME one of: budget, "
                      "local_queue_capacity, lifo_slot, lifo_cap, global_interval, steal_batch, steal_pay_ns, steal_max, split_deque, global_batch, "
                      "max_searching, spin_before_park, idle_spin_us, block_on_handoff, reactor_thread, sched_latency, numa_backoff_us, "
                      "blocking_max_threads, blocking_keepalive_ms, blocking_nice, timer_tick_us, timer_shards, "
                      "reactor_events, pin"},
        {"lifo=0,1", "--sweep lifo=0,1: unknown knob 'lifo'; knobs that can be swept: budget, "
                     "local_queue_capacity, lifo_slot, lifo_cap, global_interval, steal_batch, steal_pay_ns, steal_max, split_deque, global_batch, "
                     "max_searching, spin_before_park, idle_spin_us, block_on_handoff, reactor_thread, sched_latency, numa_backoff_us, "
                     "blocking_max_threads, blocking_keepalive_ms, blocking_nice, timer_tick_us, timer_shards, "
                     "reactor_events, pin"},
        {"lifo_slot=0,2", "--sweep lifo_slot=0,2: knob lifo_slot: 2 is out of range 0..1 (LIFO slot on/off)"},
        {"lifo_slot=on", "--sweep lifo_slot=on: knob lifo_slot: 'on' is not an integer (LIFO slot on/off, 0..1)"},
        {"lifo_slot=0,,1", "--sweep lifo_slot=0,,1: an empty value; give NAME=v1,v2,..."},
        {"lifo_slot=", "--sweep lifo_slot=: an empty value; give NAME=v1,v2,..."},
        {"lifo_slot=0,1,00", "--sweep lifo_slot=0,1,00: value 0 given twice"},
        {"local_queue_capacity=256,300",
         "--sweep local_queue_capacity=256,300: local_queue_capacity = 300: must be a power of two >= 2"},
        {"budget=0", "--sweep budget=0: budget = 0: must be 1..1000000 leaf polls per turn, or -1 for unlimited"},
        {"pin=none,tight", "--sweep pin=none,tight: pin = 'tight': must be none, compact or scatter"},
        {"workers=1,2", "--sweep workers=1,2: 'workers' is not swept: the scheduler, the worker count and the "
                        "topology are chosen with the driver's own flags"},
        {"scheduler=ws", "--sweep scheduler=ws: 'scheduler' is not swept: the scheduler, the worker count and "
                         "the topology are chosen with the driver's own flags"},
        {"steal_batch=1", "--sweep steal_batch=1: knob steal_batch is already swept: give all its values in one "
                          "--sweep"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sweep s;
        sweep_init(&s);
        add_ok(&s, "steal_batch=0,1");
        char err[2048];
        int rc = sweep_add(&s, cases[i].arg, err, sizeof err);
        if (rc != -EINVAL || strcmp(err, cases[i].msg) != 0)
            fail_msg("case %zu (%s): rc %d\n  want: %s\n  got:  %s", i, cases[i].arg, rc, cases[i].msg, err);
        assert_int_equal(s.naxes, 1); /* a refused sweep adds nothing */
    }
    /* too many knobs */
    sweep s;
    sweep_init(&s);
    static const char *const eight[] = {"budget=1,2", "lifo_slot=0,1", "lifo_cap=1,2", "global_interval=1,2",
                                        "steal_batch=0,1", "global_batch=1,2", "max_searching=1,2",
                                        "spin_before_park=0,1"};
    for (int i = 0; i < 8; i++) add_ok(&s, eight[i]);
    char err[512];
    assert_int_equal(sweep_add(&s, "timer_tick_us=100,1000", err, sizeof err), -EINVAL);
    assert_string_equal(err, "--sweep timer_tick_us=100,1000: at most 8 knobs can be swept at once");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expansion_and_names),
        cmocka_unit_test(test_applies_from_the_tables),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
