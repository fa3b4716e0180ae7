/*
 * tests/test_service.c - the service runner (workloads/service*.c,
 * docs/service-model.md): the validator on good files (the shipped
 * examples) and on bad ones, each rejection message checked word for word;
 * a tiny service of each arrival mode on every scheduler with its
 * self-check; intended-start latency growing when a stalled step blocks the
 * worker; and the runner's own overhead on a zero-length service.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "weft/runtime.h"
#include "workloads/service_model.h"

/* A sanitizer multiplies the runner's cost, so the overhead bound is only
 * checked without one. gcc defines __SANITIZE_ADDRESS__/__SANITIZE_THREAD__,
 * clang answers __has_feature (CI's clang ASan run failed on the bound). */
#if defined(WEFT_TSAN) || defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SVC_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SVC_SANITIZED 1
#endif
#endif
#ifndef SVC_SANITIZED
#define SVC_SANITIZED 0
#endif

#if defined(WEFT_TSAN)
#define SCALE(normal, tsan) (tsan)
#else
#define SCALE(normal, tsan) (normal)
#endif

static svc_model *parse_ok(const char *json)
{
    char err[512];
    svc_model *m = NULL;
    int rc = svc_model_parse(json, strlen(json), "t", &m, err, sizeof err);
    if (rc != 0) fail_msg("expected a valid service, got %d: %s", rc, err);
    return m;
}

static weft_runtime *rt_new(const char *sched, int workers)
{
    weft_config cfg;
    weft_config_default(&cfg);
    cfg.scheduler = sched;
    cfg.workers = workers;
    weft_runtime *rt = NULL;
    int rc = weft_runtime_new(&cfg, &rt);
    if (rc != 0) fail_msg("runtime %s/%d: %s", sched, workers, weft_last_error());
    return rt;
}

/* ---- the validator ------------------------------------------------------------------ */
static void test_examples_load(void **state)
{
    (void)state;
    const char *src = getenv("WEFT_SOURCE_DIR");
    if (!src) src = ".";
    static const char *const files[] = {"api-gateway", "cache", "batch-pipeline"};
    for (int i = 0; i < 3; i++) {
        char path[1024], err[512];
        snprintf(path, sizeof path, "%s/examples/services/%s.json", src, files[i]);
        svc_model *m = NULL;
        int rc = svc_model_load(path, &m, err, sizeof err);
        if (rc != 0) fail_msg("%s: %s", path, err);
        assert_string_equal(m->name, files[i]);
        svc_model_free(m);
    }
    svc_model *m = parse_ok("{\"name\":\"a\",\"arrival\":{\"mode\":\"closed\",\"clients\":2,\"requests\":5},"
                            "\"request\":[{\"op\":\"compute\",\"us\":{\"dist\":\"lognormal\",\"median\":10,\"p99\":100}}],"
                            "\"slo\":{\"p999_ms\":1},\"seed\":42,\"tcp_connections\":3}");
    assert_int_equal(m->arrival, SVC_ARRIVAL_CLOSED);
    assert_int_equal(m->clients, 2);
    assert_true(m->has_seed && m->seed == 42);
    assert_int_equal(m->tcp_connections, 3);
    assert_true(m->slo_quantile == 0.999);
    svc_model_free(m);

    char err[256];
    assert_int_equal(svc_model_load("/nonexistent/x.json", &m, err, sizeof err), -ENOENT);
    assert_string_equal(err, "/nonexistent/x.json: cannot open: No such file or directory");
    assert_null(m);
}

#define HEAD "\"name\":\"s\",\"arrival\":{\"mode\":\"open\",\"rate_per_s\":100,\"duration_s\":1},\"slo\":{\"p99_ms\":5}"
#define CSTEP "{\"op\":\"compute\",\"us\":{\"dist\":\"fixed\",\"value\":1}}"
#define REQ(steps) "{" HEAD ",\"request\":[" steps "]}"

static const struct bad {
    const char *json, *msg;
} bad_files[] = {
    {"{\"name\": ", "t: not valid JSON at line 1, column 9"},
    {"{\"name\":\"s\"}\n x", "t: unexpected text after the JSON document"},
    {"[1]", "t: the service must be a JSON object, got an array"},
    {"{" HEAD ",\"request\":[" CSTEP "],\"rate\":1}",
     "t: unknown field \"rate\"; allowed: name, arrival, request, slo, seed, tcp_connections"},
    {"{" HEAD ",\"request\":[" CSTEP "],\"name\":\"x\"}", "t: field \"name\" given twice"},
    {"{\"arrival\":{}}", "t: name: missing (a string of 1-64 letters, digits, '_', '-', '.')"},
    {"{\"name\":\"a/b\"}",
     "t: name: must be 1-64 letters, digits, '_', '-' or '.' (it names result rows), got the string \"a/b\""},
    {"{\"name\":7}", "t: name: must be 1-64 letters, digits, '_', '-' or '.' (it names result rows), got 7"},
    {"{\"name\":\"s\"}", "t: arrival: missing (an object)"},
    {"{\"name\":\"s\",\"arrival\":[]}", "t: arrival: must be an object, got an array"},
    {"{\"name\":\"s\",\"arrival\":{\"mode\":\"burst\"}}",
     "t: arrival.mode: unknown arrival mode the string \"burst\"; allowed: open, closed"},
    {"{\"name\":\"s\",\"arrival\":{}}", "t: arrival.mode: missing; allowed: open, closed"},
    {"{\"name\":\"s\",\"arrival\":{\"mode\":\"open\",\"duration_s\":1}}",
     "t: arrival.rate_per_s: missing (required for mode \"open\": requests per second)"},
    {"{\"name\":\"s\",\"arrival\":{\"mode\":\"open\",\"rate_per_s\":0,\"duration_s\":1}}",
     "t: arrival.rate_per_s: must be a number in [0.001, 10000000], got 0"},
    {"{\"name\":\"s\",\"arrival\":{\"mode\":\"open\",\"rate_per_s\":\"fast\",\"duration_s\":1}}",
     "t: arrival.rate_per_s: must be a number in [0.001, 10000000], got the string \"fast\""},
    {"{\"name\":\"s\",\"arrival\":{\"mode\":\"open\",\"rate_per_s\":10,\"duration_s\":1,\"clients\":3}}",
     "t: arrival: unknown field \"clients\"; allowed: mode, rate_per_s, duration_s"},
    {"{\"name\":\"s\",\"arrival\":{\"mode\":\"open\",\"rate_per_s\":100000,\"duration_s\":3600}}",
     "t: arrival: rate_per_s x duration_s = 360000000 requests; at most 5000000 in one run"},
    {"{\"name\":\"s\",\"arrival\":{\"mode\":\"closed\",\"requests\":10}}",
     "t: arrival.clients: missing (required for mode \"closed\": concurrent clients)"},
    {"{\"name\":\"s\",\"arrival\":{\"mode\":\"closed\",\"clients\":2,\"requests\":1.5}}",
     "t: arrival.requests: must be an integer in [1, 5000000], got 1.5"},
    {"{" HEAD "}", "t: request: missing (a non-empty array of steps)"},
    {"{" HEAD ",\"request\":[]}", "t: request: must be a non-empty array of steps, got an array"},
    {"{" HEAD ",\"request\":{}}", "t: request: must be a non-empty array of steps, got an object"},
    {REQ("3"), "t: request[0]: a step must be an object with an \"op\", got 3"},
    {REQ("{\"us\":1}"),
     "t: request[0].op: missing; allowed: compute, sleep, fanout, blocking, channel_hops, tcp_roundtrip"},
    {REQ("{\"op\":\"spin\"}"),
     "t: request[0].op: unknown op the string \"spin\"; allowed: compute, sleep, fanout, blocking, "
     "channel_hops, tcp_roundtrip"},
    {REQ(CSTEP ",{\"op\":\"compute\",\"us\":{\"dist\":\"fixed\",\"value\":1},\"timeout_us\":5}"),
     "t: request[1]: unknown field \"timeout_us\"; allowed: op, us, probability"},
    {REQ("{\"op\":\"sleep\"}"), "t: request[0].us: missing (an object)"},
    {REQ("{\"op\":\"blocking\",\"us\":5}"), "t: request[0].us: must be an object, got 5"},
    {REQ("{\"op\":\"compute\",\"us\":{\"dist\":\"normal\"}}"),
     "t: request[0].us.dist: unknown distribution the string \"normal\"; allowed: fixed, uniform, "
     "exponential, lognormal"},
    {REQ("{\"op\":\"compute\",\"us\":{\"dist\":\"fixed\"}}"), "t: request[0].us.value: missing (fixed: value)"},
    {REQ("{\"op\":\"compute\",\"us\":{\"dist\":\"fixed\",\"value\":-1}}"),
     "t: request[0].us.value: must be a number in [0, 60000000], got -1"},
    {REQ("{\"op\":\"compute\",\"us\":{\"dist\":\"fixed\",\"value\":1,\"max\":3}}"),
     "t: request[0].us: unknown field \"max\"; allowed: dist, value"},
    {REQ("{\"op\":\"compute\",\"us\":{\"dist\":\"uniform\",\"min\":5,\"max\":3}}"),
     "t: request[0].us.max: must be >= min (5), got 3"},
    {REQ("{\"op\":\"compute\",\"us\":{\"dist\":\"uniform\",\"min\":5}}"),
     "t: request[0].us.max: missing (uniform: min, max)"},
    {REQ("{\"op\":\"compute\",\"us\":{\"dist\":\"exponential\",\"median\":5}}"),
     "t: request[0].us: unknown field \"median\"; allowed: dist, mean"},
    {REQ("{\"op\":\"compute\",\"us\":{\"dist\":\"lognormal\",\"median\":50,\"p99\":20}}"),
     "t: request[0].us.p99: must be >= median (50), got 20"},
    {REQ("{\"op\":\"compute\",\"us\":{\"dist\":\"lognormal\",\"median\":0,\"p99\":20}}"),
     "t: request[0].us.median: must be a number in [0.001, 60000000], got 0"},
    {REQ("{\"op\":\"compute\",\"us\":{\"dist\":\"fixed\",\"value\":1},\"probability\":1.5}"),
     "t: request[0].probability: must be a number in [0, 1], got 1.5"},
    {REQ("{\"op\":\"sleep\",\"us\":{\"dist\":\"fixed\",\"value\":1},\"timeout_us\":-2}"),
     "t: request[0].timeout_us: must be a number in [0, 60000000], got -2"},
    {REQ("{\"op\":\"fanout\",\"n\":2}"), "t: request[0].each: missing (the steps each child runs)"},
    {REQ("{\"op\":\"fanout\",\"n\":0,\"each\":[" CSTEP "]}"),
     "t: request[0].n: must be an integer in [1, 1024], got 0"},
    {REQ("{\"op\":\"fanout\",\"n\":2,\"each\":[{\"op\":\"fanout\",\"n\":1,\"each\":[{\"op\":\"x\"}]}]}"),
     "t: request[0].each[0].each[0].op: unknown op the string \"x\"; allowed: compute, sleep, fanout, "
     "blocking, channel_hops, tcp_roundtrip"},
    {REQ("{\"op\":\"fanout\",\"n\":1,\"each\":[{\"op\":\"fanout\",\"n\":1,\"each\":[{\"op\":\"fanout\",\"n\":1,"
         "\"each\":[{\"op\":\"fanout\",\"n\":1,\"each\":[{\"op\":\"fanout\",\"n\":1,\"each\":[{\"op\":\"fanout\","
         "\"n\":1,\"each\":[{\"op\":\"fanout\",\"n\":1,\"each\":[{\"op\":\"fanout\",\"n\":1,\"each\":[" CSTEP
         "]}]}]}]}]}]}]}]}"),
     "t: request[0].each[0].each[0].each[0].each[0].each[0].each[0].each[0].each: fanout nested too deep: "
     "at most 8 levels"},
    {REQ("{\"op\":\"channel_hops\",\"n\":65}"), "t: request[0].n: must be an integer in [1, 64], got 65"},
    {REQ("{\"op\":\"channel_hops\",\"n\":2,\"capacity\":0}"),
     "t: request[0].capacity: must be an integer in [1, 65536], got 0"},
    {REQ("{\"op\":\"channel_hops\"}"), "t: request[0].n: missing (hop tasks)"},
    {REQ("{\"op\":\"tcp_roundtrip\",\"bytes\":70000}"),
     "t: request[0].bytes: must be an integer in [1, 65536], got 70000"},
    {REQ("{\"op\":\"tcp_roundtrip\"}"), "t: request[0].bytes: missing (bytes echoed)"},
    {"{\"name\":\"s\",\"arrival\":{\"mode\":\"closed\",\"clients\":1,\"requests\":1},\"request\":[" CSTEP "]}",
     "t: slo: missing (an object)"},
    {"{\"name\":\"s\",\"arrival\":{\"mode\":\"closed\",\"clients\":1,\"requests\":1},\"request\":[" CSTEP
     "],\"slo\":{\"p95_ms\":3}}",
     "t: slo: unknown field \"p95_ms\"; allowed: p50_ms, p90_ms, p99_ms, p999_ms"},
    {"{\"name\":\"s\",\"arrival\":{\"mode\":\"closed\",\"clients\":1,\"requests\":1},\"request\":[" CSTEP
     "],\"slo\":{\"p99_ms\":3,\"p50_ms\":1}}",
     "t: slo: must hold exactly one of p50_ms, p90_ms, p99_ms, p999_ms, got 2 fields"},
    {"{\"name\":\"s\",\"arrival\":{\"mode\":\"closed\",\"clients\":1,\"requests\":1},\"request\":[" CSTEP
     "],\"slo\":{}}",
     "t: slo: must hold exactly one of p50_ms, p90_ms, p99_ms, p999_ms, got 0 fields"},
    {"{\"name\":\"s\",\"arrival\":{\"mode\":\"closed\",\"clients\":1,\"requests\":1},\"request\":[" CSTEP
     "],\"slo\":{\"p99_ms\":0}}",
     "t: slo.p99_ms: must be a number in [0.001, 3600000], got 0"},
    {"{" HEAD ",\"request\":[" CSTEP "],\"seed\":-1}", "t: seed: must be an integer in [0, 9007199254740991], got -1"},
    {"{" HEAD ",\"request\":[" CSTEP "],\"tcp_connections\":0}",
     "t: tcp_connections: must be an integer in [1, 256], got 0"},
};

static void test_validator_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        char err[512];
        svc_model *m = (svc_model *)1;
        int rc = svc_model_parse(bad_files[i].json, strlen(bad_files[i].json), "t", &m, err, sizeof err);
        if (rc != -EINVAL || m != NULL || strcmp(err, bad_files[i].msg) != 0)
            fail_msg("case %zu: %s\n  rc %d\n  want: %s\n  got:  %s", i, bad_files[i].json, rc,
                     bad_files[i].msg, err);
    }
    /* too many steps */
    size_t cap = 64 * (SVC_MAX_STEPS + 2) + 256, off = 0;
    char *big = malloc(cap);
    assert_non_null(big);
    off += (size_t)snprintf(big + off, cap - off, "{" HEAD ",\"request\":[");
    for (int i = 0; i <= SVC_MAX_STEPS; i++) off += (size_t)snprintf(big + off, cap - off, "%s" CSTEP, i ? "," : "");
    snprintf(big + off, cap - off, "]}");
    char err[512];
    svc_model *m = NULL;
    assert_int_equal(svc_model_parse(big, strlen(big), "t", &m, err, sizeof err), -EINVAL);
    assert_string_equal(err, "t: request[1024]: too many steps: at most 1024 in a file");
    free(big);
}

/* ---- draws ---------------------------------------------------------------------------- */
static void test_draws(void **state)
{
    (void)state;
    svc_model *m = parse_ok(REQ("{\"op\":\"compute\",\"us\":{\"dist\":\"lognormal\",\"median\":20,\"p99\":200}},"
                                "{\"op\":\"compute\",\"us\":{\"dist\":\"exponential\",\"mean\":50}},"
                                "{\"op\":\"compute\",\"us\":{\"dist\":\"uniform\",\"min\":10,\"max\":30}}"));
    enum { N = 200000 };
    uint64_t *v = malloc(N * sizeof *v);
    assert_non_null(v);
    svc_rng r = {7};
    /* lognormal: median and p99 as given */
    for (int i = 0; i < N; i++) v[i] = svc_dist_draw_ns(&m->request.steps[0].us, &r);
    long below_med = 0, below_p99 = 0;
    double sum_e = 0, sum_u = 0;
    for (int i = 0; i < N; i++) {
        below_med += v[i] <= 20000;
        below_p99 += v[i] <= 200000;
    }
    for (int i = 0; i < N; i++) sum_e += (double)svc_dist_draw_ns(&m->request.steps[1].us, &r);
    for (int i = 0; i < N; i++) sum_u += (double)svc_dist_draw_ns(&m->request.steps[2].us, &r);
    free(v);
    assert_true(below_med > N * 0.49 && below_med < N * 0.51);
    assert_true(below_p99 > N * 0.985 && below_p99 < N * 0.995);
    assert_true(sum_e / N > 49000 && sum_e / N < 51000);
    assert_true(sum_u / N > 19900 && sum_u / N < 20100);
    /* the same seed replays the same tally */
    svc_tally a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    svc_replay(&m->request, svc_request_seed(9, 3), &a);
    svc_replay(&m->request, svc_request_seed(9, 3), &b);
    assert_memory_equal(&a, &b, sizeof a);
    svc_model_free(m);
}

/* ---- runs ------------------------------------------------------------------------------ */
#define TINY_STEPS                                                                                   \
    "{\"op\":\"compute\",\"us\":{\"dist\":\"fixed\",\"value\":20}},"                                  \
    "{\"op\":\"sleep\",\"us\":{\"dist\":\"uniform\",\"min\":100,\"max\":300}},"                        \
    "{\"op\":\"sleep\",\"us\":{\"dist\":\"fixed\",\"value\":50000},\"timeout_us\":1000,\"probability\":0.1}," \
    "{\"op\":\"fanout\",\"n\":3,\"each\":[{\"op\":\"compute\",\"us\":{\"dist\":\"exponential\",\"mean\":5}}," \
    "{\"op\":\"channel_hops\",\"n\":2,\"capacity\":4}]},"                                              \
    "{\"op\":\"blocking\",\"us\":{\"dist\":\"fixed\",\"value\":100},\"probability\":0.3},"             \
    "{\"op\":\"channel_hops\",\"n\":3},"                                                              \
    "{\"op\":\"compute\",\"us\":{\"dist\":\"fixed\",\"value\":150},\"probability\":0.05},"             \
    "{\"op\":\"tcp_roundtrip\",\"bytes\":300}"

static void run_tiny(const char *arrival)
{
    char json[4096];
    snprintf(json, sizeof json,
             "{\"name\":\"tiny\",\"arrival\":%s,\"request\":[" TINY_STEPS "],\"slo\":{\"p99_ms\":100},"
             "\"tcp_connections\":4}",
             arrival);
    svc_model *m = parse_ok(json);
    uint64_t timeouts = 0, long_sleeps = 0;
    for (int s = 0; s < weft_scheduler_count(); s++) {
        const char *name = weft_scheduler_name(s);
        weft_runtime *rt = rt_new(name, strcmp(name, "fifo") == 0 ? 1 : 2);
        svc_result r;
        int rc = svc_run(m, rt, 1234 + (uint64_t)s, &r);
        if (rc != 0) fail_msg("%s on %s: %d: %s", arrival, name, rc, r.error);
        assert_true(r.requests > 0);
        assert_int_equal(r.completed, r.requests);
        assert_int_equal(r.ran.ops[SVC_OP_COMPUTE], r.expected.ops[SVC_OP_COMPUTE]);
        assert_true(r.expected.ops[SVC_OP_FANOUT] == r.requests);
        assert_true(r.expected.hops == 3 * r.requests + 6 * r.requests);
        assert_true(r.ran.tcp_bytes == 300 * r.requests);
        assert_true(r.expected.ops[SVC_OP_SLEEP] > r.requests);    /* some of the 10 % long ones */
        /* a 50 ms sleep under a 1 ms timeout: a timeout, unless the task was
         * not polled again before both were due (the sleep then wins the tie) */
        assert_true(r.timeouts <= r.expected.ops[SVC_OP_SLEEP] - r.requests);
        /* how many of them time out depends on how soon the task is polled
         * after 1 ms, i.e. on the machine's load (under TSan beside another
         * build, fewer than half did): the fired path is checked over all
         * schedulers below, not by a per-run rate */
        timeouts += r.timeouts;
        long_sleeps += r.expected.ops[SVC_OP_SLEEP] - r.requests;
        assert_true(r.p50_us > 0 && r.p50_us <= r.p99_us && r.p99_us <= r.p999_us);
        assert_true(r.slo_fraction >= 0 && r.slo_fraction <= 1);
        assert_true(r.compute_ratio >= 0.95 && r.compute_ratio <= SCALE(1.05, 1.2));
        print_message("  %s %s: %llu requests, %.0f req/s, p50 %.0f us, p99 %.0f us, slo %.3f, "
                      "compute ratio %.4f, timeouts %llu\n",
                      arrival, name, (unsigned long long)r.requests, r.req_per_s, r.p50_us, r.p99_us,
                      r.slo_fraction, r.compute_ratio, (unsigned long long)r.timeouts);
        weft_runtime_free(rt);
    }
    assert_true(long_sleeps > 0);
    assert_true(timeouts > 0); /* the 1 ms timeout around a 50 ms sleep fired at least once */
    svc_model_free(m);
}

static void test_tiny_open_every_scheduler(void **state)
{
    (void)state;
    run_tiny(SCALE("{\"mode\":\"open\",\"rate_per_s\":2000,\"duration_s\":0.1}",
                   "{\"mode\":\"open\",\"rate_per_s\":500,\"duration_s\":0.1}"));
}

static void test_tiny_closed_every_scheduler(void **state)
{
    (void)state;
    run_tiny(SCALE("{\"mode\":\"closed\",\"clients\":8,\"requests\":200}",
                   "{\"mode\":\"closed\",\"clients\":4,\"requests\":50}"));
}

static void test_closed_more_clients_than_requests(void **state)
{
    (void)state;
    svc_model *m = parse_ok("{\"name\":\"c\",\"arrival\":{\"mode\":\"closed\",\"clients\":50,\"requests\":3},"
                            "\"request\":[" CSTEP "],\"slo\":{\"p50_ms\":100}}");
    weft_runtime *rt = rt_new("ws", 2);
    svc_result r;
    assert_int_equal(svc_run(m, rt, 5, &r), 0);
    assert_int_equal(r.completed, 3);
    assert_true(r.slo_met);
    weft_runtime_free(rt);
    svc_model_free(m);
}

/* A step that spins 20 ms on the only worker now and then: requests that
 * should have started meanwhile wait behind it. Measured from their intended
 * start they show it; their service time (first poll to done) does not. */
static void test_stall_shows_in_intended_start_latency(void **state)
{
    (void)state;
    const char *calm = "{\"name\":\"calm\",\"arrival\":{\"mode\":\"open\",\"rate_per_s\":2000,\"duration_s\":0.5},"
                       "\"request\":[{\"op\":\"compute\",\"us\":{\"dist\":\"fixed\",\"value\":5}}],"
                       "\"slo\":{\"p99_ms\":2}}";
    const char *stalled =
        "{\"name\":\"stalled\",\"arrival\":{\"mode\":\"open\",\"rate_per_s\":2000,\"duration_s\":0.5},"
        "\"request\":[{\"op\":\"compute\",\"us\":{\"dist\":\"fixed\",\"value\":5}},"
        "{\"op\":\"compute\",\"us\":{\"dist\":\"fixed\",\"value\":30000},\"probability\":0.004}],"
        "\"slo\":{\"p99_ms\":2}}";
    svc_model *a = parse_ok(calm), *b = parse_ok(stalled);
    weft_runtime *rt = rt_new("ws", 1);
    svc_result ra, rb;
    int rc = svc_run(a, rt, 77, &ra);
    if (rc) fail_msg("calm: %s", ra.error);
    rc = svc_run(b, rt, 77, &rb);
    if (rc) fail_msg("stalled: %s", rb.error);
    uint64_t stalls = rb.expected.ops[SVC_OP_COMPUTE] - rb.requests;
    print_message("  calm: p99 %.0f us (service p99 %.0f us); stalled (%llu stalls of 30 ms): p99 %.0f us, "
                  "service p99 %.0f us, slo %.3f -> %.3f\n",
                  ra.p99_us, ra.service_p99_us, (unsigned long long)stalls, rb.p99_us, rb.service_p99_us,
                  ra.slo_fraction, rb.slo_fraction);
    assert_true(stalls >= 2);
    /* the queue behind a 30 ms stall: ~60 requests each, ~15 % of all
     * (calm's own p99 is left unasserted: a loaded CI machine sets it) */
    assert_true(rb.p99_us > 15000);
    assert_true(rb.service_p99_us * 4 < rb.p99_us); /* hidden if measured from the first poll */
    assert_true(rb.slo_fraction < ra.slo_fraction - 0.05);
    weft_runtime_free(rt);
    svc_model_free(a);
    svc_model_free(b);
}

/* The runner's own cost: a service whose steps are all zero-length, its
 * per-request bookkeeping path timed without a runtime, against 5 % of a
 * 20 us request (1 us); and the whole zero-length service at 20 000 req/s on
 * one worker, whose process CPU per request (runtime + runner + generator)
 * is printed for the README. */
static void test_runner_overhead(void **state)
{
    (void)state;
    const char *zero = "{\"name\":\"zero\",\"arrival\":{\"mode\":\"open\",\"rate_per_s\":20000,\"duration_s\":1},"
                       "\"request\":[{\"op\":\"compute\",\"us\":{\"dist\":\"fixed\",\"value\":0}},"
                                              "{\"op\":\"compute\",\"us\":{\"dist\":\"fixed\",\"value\":0},\"probability\":0.5}],"
                       "\"slo\":{\"p99_ms\":1}}";
    svc_model *m = parse_ok(zero);
    double best = 1e18;
    for (int i = 0; i < 3; i++) {
        double ns = svc_bookkeeping_ns(m, SCALE(200000, 20000));
        if (ns < best) best = ns;
    }
    print_message("  service runner overhead: %.0f ns per request (%.2f %% of a 20 us request)\n", best,
                  best / 200.0);
#if !SVC_SANITIZED
    assert_true(best < 1000.0); /* 4x the figure measured in release builds: only a gross regression fails */
#endif
    weft_runtime *rt = rt_new("ws", 1);
    struct rusage u0, u1;
    getrusage(RUSAGE_SELF, &u0);
    svc_result r;
    int rc = svc_run(m, rt, 3, &r);
    getrusage(RUSAGE_SELF, &u1);
    if (rc) fail_msg("zero-length service: %s", r.error);
    double cpu = (double)(u1.ru_utime.tv_sec - u0.ru_utime.tv_sec + u1.ru_stime.tv_sec - u0.ru_stime.tv_sec) * 1e9 +
                 (double)(u1.ru_utime.tv_usec - u0.ru_utime.tv_usec + u1.ru_stime.tv_usec - u0.ru_stime.tv_usec) * 1e3;
    print_message("  zero-length service at 20000 req/s on ws/workers:1: %llu requests, %.0f req/s, "
                  "p50 %.1f us, p99 %.1f us, process CPU %.0f ns per request (runtime + runner + "
                  "generator), of which the generator thread %.0f ns; generator late by at most %.1f us\n",
                  (unsigned long long)r.requests, r.req_per_s, r.p50_us, r.p99_us, cpu / (double)r.requests,
                  (double)r.generator_cpu_ns / (double)r.requests, (double)r.max_lateness_ns / 1e3);
    weft_runtime_free(rt);
    svc_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples_load),
        cmocka_unit_test(test_validator_rejects),
        cmocka_unit_test(test_draws),
        cmocka_unit_test(test_tiny_open_every_scheduler),
        cmocka_unit_test(test_tiny_closed_every_scheduler),
        cmocka_unit_test(test_closed_more_clients_than_requests),
        cmocka_unit_test(test_stall_shows_in_intended_start_latency),
        cmocka_unit_test(test_runner_overhead),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
