/*
 * tests/test_topology.c - common/topology: opening real, synthetic and XML
 * topologies, exact counts, exact compact/scatter/none placements, wrap-around,
 * error messages, XML round trip, real pinning (checked with
 * sched_getaffinity), skipped pinning on synthetic topologies, node lookup,
 * node-local allocation and concurrent readers.
 *
 * Facts the exact numbers rest on (checked with hwloc 2.9 and
 * `lstopo-no-graphics --input`): "pack:2 numa:2 core:4 pu:1" has 16 PUs and 16
 * cores; its "numa" level becomes 4 Group objects each carrying one NUMA node
 * as a memory child, so PUs 0-3 are local to node 0, 4-7 to node 1, 8-11 to
 * node 2 (package 1), 12-15 to node 3. "numa:2 core:1 pu:1" hangs one node
 * under each core. "pack:2 pu:2" has no Core objects and one NUMA node that
 * hwloc inserts itself.
 *
 * Leaks: under ASan+LSan (gcc 12 and clang 14) this executable reports no
 * leak, hwloc's dlopen'ed plugins (xml_libxml, pci, gl, opencl) included, so
 * there is no suppression file; if a later hwloc leaks, suppress only its own
 * frames (leak:libhwloc) rather than turning LSan off.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/topology.h"
#include "weft/runtime.h" /* weft_now_ns */

#define SYN16 "pack:2 numa:2 core:4 pu:1"
#define SYN2 "numa:2 core:1 pu:1"

static topo *open_ok(const char *spec)
{
    char err[512] = "x";
    topo *t = NULL;
    int rc = topo_open(&t, spec, err, sizeof(err));
    if (rc != 0) print_error("topo_open(\"%s\"): %s\n", spec ? spec : "(null)", err);
    assert_int_equal(rc, 0);
    assert_non_null(t);
    return t;
}

static void open_fails(const char *spec, const char *must_contain)
{
    char err[1024] = "";
    topo *t = (topo *)&t; /* must be reset to NULL */
    int rc = topo_open(&t, spec, err, sizeof(err));
    assert_int_equal(rc, -EINVAL);
    assert_null(t);
    assert_true(strlen(err) > 0);
    if (must_contain && !strstr(err, must_contain)) {
        print_error("message for \"%s\" lacks \"%s\": %s\n", spec, must_contain, err);
        fail();
    }
}

/* ---- opening ------------------------------------------------------------------- */

static void test_real_open(void **state)
{
    (void)state;
    const char *specs[] = {"real", ""};
    for (size_t i = 0; i < 2; i++) {
        topo *t = open_ok(specs[i]);
        assert_true(topo_pu_count(t) >= 1);
        assert_true(topo_core_count(t) >= 1);
        assert_true(topo_core_count(t) <= topo_pu_count(t));
        assert_true(topo_node_count(t) >= 1);
        assert_true(topo_is_this_system(t));
        assert_false(topo_is_synthetic(t));
        assert_string_equal(topo_spec(t), "real");
        topo_close(t);
    }
}

static void test_env_fallback(void **state)
{
    (void)state;
    char *saved = getenv("WEFT_TOPOLOGY") ? strdup(getenv("WEFT_TOPOLOGY")) : NULL;

    assert_int_equal(setenv("WEFT_TOPOLOGY", SYN2, 1), 0);
    topo *t = open_ok(NULL);
    assert_true(topo_is_synthetic(t));
    assert_int_equal(topo_node_count(t), 2);
    assert_string_equal(topo_spec(t), SYN2);
    topo_close(t);

    /* an explicit spec wins over the environment */
    t = open_ok("real");
    assert_true(topo_is_this_system(t));
    topo_close(t);

    assert_int_equal(setenv("WEFT_TOPOLOGY", "pack:x", 1), 0);
    open_fails(NULL, "WEFT_TOPOLOGY=\"pack:x\"");

    assert_int_equal(setenv("WEFT_TOPOLOGY", "", 1), 0);
    t = open_ok(NULL);
    assert_true(topo_is_this_system(t));
    topo_close(t);

    assert_int_equal(unsetenv("WEFT_TOPOLOGY"), 0);
    t = open_ok(NULL);
    assert_true(topo_is_this_system(t));
    topo_close(t);

    if (saved) {
        setenv("WEFT_TOPOLOGY", saved, 1);
        free(saved);
    }
}

/* A huge synthetic topology is refused at once with a message (before the
 * bound, hwloc's load of pack:512 pu:512 ran for minutes). */
static void test_synthetic_too_big(void **state)
{
    (void)state;
    const char *specs[] = {"pack:512 pu:512", "pack:256 pu:256", "pack:65536 numa:65536 core:65536 pu:65536",
                           "pack:2(memory=1GB) numa:64 core:64 pu:2"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        topo *t = NULL;
        char err[512] = "";
        uint64_t t0 = weft_now_ns();
        assert_int_equal(topo_open(&t, specs[i], err, sizeof err), -EINVAL);
        assert_null(t);
        assert_true(weft_now_ns() - t0 < 1000000000ull);
        if (!strstr(err, "synthetic topologies are limited to 4096 PUs"))
            fail_msg("%s: message '%s'", specs[i], err);
    }
    topo *t = open_ok("pack:16 pu:256"); /* 4096: at the bound, still loads */
    assert_int_equal(topo_pu_count(t), 4096);
    topo_close(t);
}

static void test_synthetic_counts(void **state)
{
    (void)state;
    topo *t = open_ok(SYN16);
    assert_int_equal(topo_pu_count(t), 16);
    assert_int_equal(topo_core_count(t), 16);
    assert_int_equal(topo_node_count(t), 4);
    assert_true(topo_is_synthetic(t));
    assert_false(topo_is_this_system(t));
    assert_string_equal(topo_spec(t), SYN16);
    assert_false(topo_alloc_is_node_local(t));
    topo_close(t);

    t = open_ok(SYN2);
    assert_int_equal(topo_pu_count(t), 2);
    assert_int_equal(topo_core_count(t), 2);
    assert_int_equal(topo_node_count(t), 2);
    topo_close(t);

    /* no Core level: each PU counts as a core; hwloc adds the one node */
    t = open_ok("pack:2 pu:2");
    assert_int_equal(topo_pu_count(t), 4);
    assert_int_equal(topo_core_count(t), 4);
    assert_int_equal(topo_node_count(t), 1);
    topo_close(t);
}

static void test_bad_specs(void **state)
{
    (void)state;
    open_fails("pack:x", "\"pack:x\"");
    open_fails("pack:x", "must be a number");
    open_fails("pack:2 core:2", "is not pu");
    open_fails(":3 pu:1", NULL);
    open_fails("bogus", "\"bogus\"");
    open_fails("bogus", "No such file or directory");
    open_fails("/tmp/weft-topology-test-does-not-exist.xml", "cannot be read");

    /* a file that exists but is not an hwloc XML topology */
    char path[] = "/tmp/weft-topo-junk-XXXXXX.xml";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not xml at all\n", 15), 15);
    close(fd);
    open_fails(path, path);
    unlink(path);

    char err[64];
    assert_int_equal(topo_open(NULL, "real", err, sizeof(err)), -EINVAL);
}

static void test_pin_parse(void **state)
{
    (void)state;
    topo_pin p = TOPO_PIN_SCATTER;
    char err[256];
    assert_int_equal(topo_pin_parse("none", &p, err, sizeof(err)), 0);
    assert_int_equal(p, TOPO_PIN_NONE);
    assert_int_equal(topo_pin_parse("compact", &p, err, sizeof(err)), 0);
    assert_int_equal(p, TOPO_PIN_COMPACT);
    assert_int_equal(topo_pin_parse("SCATTER", &p, err, sizeof(err)), 0);
    assert_int_equal(p, TOPO_PIN_SCATTER);
    assert_string_equal(topo_pin_name(TOPO_PIN_COMPACT), "compact");

    const char *bad[] = {"", "bogus", "compactx", NULL};
    for (size_t i = 0; i < 4; i++) {
        err[0] = '\0';
        assert_int_equal(topo_pin_parse(bad[i], &p, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "none"));
        assert_non_null(strstr(err, "compact"));
        assert_non_null(strstr(err, "scatter"));
    }
    assert_int_equal(p, TOPO_PIN_SCATTER); /* untouched on failure */
}

/* ---- placement ------------------------------------------------------------------ */

static void test_place_compact(void **state)
{
    (void)state;
    topo *t = open_ok(SYN16);
    topo_placement p;
    char err[256];
    assert_int_equal(topo_place_workers(t, 16, TOPO_PIN_COMPACT, &p, err, sizeof(err)), 0);
    assert_int_equal(p.workers, 16);
    assert_int_equal(p.pu_count, 16);
    assert_false(p.wrapped);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(p.slot[i].pu, i);
        assert_int_equal(p.slot[i].os_index, i);
        assert_int_equal(p.slot[i].core, i);
        assert_int_equal(p.slot[i].node, i / 4);
        assert_int_equal(p.slot[i].package, i / 8);
        assert_int_equal(p.slot[i].wrap, 0);
        assert_int_equal(p.slot[i].bind, TOPO_BIND_UNBOUND);
    }
    topo_placement_free(&p);
    assert_null(p.slot);
    topo_close(t);
}

static void test_place_scatter(void **state)
{
    (void)state;
    topo *t = open_ok(SYN16);
    topo_placement p;
    char err[256];
    /* one PU per (package-alternating) node per round, then the next core */
    static const int want_pu[16] = {0, 8, 4, 12, 1, 9, 5, 13, 2, 10, 6, 14, 3, 11, 7, 15};
    static const int want_node[4] = {0, 2, 1, 3};
    assert_int_equal(topo_place_workers(t, 16, TOPO_PIN_SCATTER, &p, err, sizeof(err)), 0);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(p.slot[i].pu, want_pu[i]);
        assert_int_equal(p.slot[i].os_index, want_pu[i]);
        assert_int_equal(p.slot[i].node, want_node[i % 4]);
        assert_int_equal(p.slot[i].package, (i % 2));
    }
    topo_placement_free(&p);

    /* 4 workers land on 4 different nodes */
    assert_int_equal(topo_place_workers(t, 4, TOPO_PIN_SCATTER, &p, err, sizeof(err)), 0);
    for (int i = 0; i < 4; i++) assert_int_equal(p.slot[i].node, want_node[i]);
    topo_placement_free(&p);
    topo_close(t);

    /* one node, two packages, SMT 2: packages alternate, cores before siblings */
    t = open_ok("pack:2 core:2 pu:2");
    static const int want_smt[8] = {0, 4, 2, 6, 1, 5, 3, 7};
    assert_int_equal(topo_place_workers(t, 8, TOPO_PIN_SCATTER, &p, err, sizeof(err)), 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(p.slot[i].pu, want_smt[i]);
        assert_int_equal(p.slot[i].core, want_smt[i] / 2);
        assert_int_equal(p.slot[i].node, 0);
    }
    topo_placement_free(&p);
    topo_close(t);

    t = open_ok(SYN2);
    assert_int_equal(topo_place_workers(t, 2, TOPO_PIN_SCATTER, &p, err, sizeof(err)), 0);
    assert_int_equal(p.slot[0].node, 0);
    assert_int_equal(p.slot[1].node, 1);
    topo_placement_free(&p);
    topo_close(t);
}

static void test_place_none(void **state)
{
    (void)state;
    topo *t = open_ok(SYN16);
    topo_placement p;
    char err[256];
    assert_int_equal(topo_place_workers(t, 16, TOPO_PIN_NONE, &p, err, sizeof(err)), 0);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(p.slot[i].pu, -1);
        assert_int_equal(p.slot[i].os_index, -1);
        assert_int_equal(p.slot[i].core, -1);
        assert_int_equal(p.slot[i].node, i / 4); /* the compact layout's node */
    }
    topo_placement_free(&p);
    topo_close(t);
}

static void test_place_wrap_and_errors(void **state)
{
    (void)state;
    topo *t = open_ok(SYN16);
    topo_placement p;
    char err[256];
    assert_int_equal(topo_place_workers(t, 37, TOPO_PIN_COMPACT, &p, err, sizeof(err)), 0);
    assert_true(p.wrapped);
    assert_int_equal(p.workers, 37);
    for (int i = 0; i < 37; i++) {
        assert_int_equal(p.slot[i].pu, i % 16);
        assert_int_equal(p.slot[i].node, (i % 16) / 4);
        assert_int_equal(p.slot[i].wrap, i / 16);
    }
    topo_placement_free(&p);

    assert_int_equal(topo_place_workers(t, 18, TOPO_PIN_SCATTER, &p, err, sizeof(err)), 0);
    assert_true(p.wrapped);
    assert_int_equal(p.slot[16].pu, 0);
    assert_int_equal(p.slot[17].pu, 8);
    assert_int_equal(p.slot[17].wrap, 1);
    topo_placement_free(&p);

    const int bad[] = {0, -1};
    for (size_t i = 0; i < 2; i++) {
        err[0] = '\0';
        assert_int_equal(topo_place_workers(t, bad[i], TOPO_PIN_COMPACT, &p, err, sizeof(err)), -EINVAL);
        assert_true(strlen(err) > 0);
        assert_null(p.slot);
    }
    topo_close(t);

    /* the real machine wraps too */
    t = open_ok("real");
    int n = topo_pu_count(t);
    assert_int_equal(topo_place_workers(t, n + 1, TOPO_PIN_COMPACT, &p, err, sizeof(err)), 0);
    assert_true(p.wrapped);
    assert_int_equal(p.slot[n].pu, 0);
    assert_int_equal(p.slot[n].wrap, 1);
    assert_int_equal(p.slot[n].os_index, p.slot[0].os_index);
    topo_placement_free(&p);
    topo_close(t);
}

static void test_describe(void **state)
{
    (void)state;
    topo *t = open_ok(SYN2);
    topo_placement p;
    char err[256], buf[512];
    assert_int_equal(topo_place_workers(t, 3, TOPO_PIN_COMPACT, &p, err, sizeof(err)), 0);
    assert_int_equal(topo_describe(t, &p, buf, sizeof(buf)), 0);
    assert_string_equal(buf,
                        "worker 0 -> PU 0 (os 0) core 0 node 0 [unbound]\n"
                        "worker 1 -> PU 1 (os 1) core 1 node 1 [unbound]\n"
                        "worker 2 -> PU 0 (os 0) core 0 node 0 [unbound] wrap 1\n");
    char small[20];
    assert_int_equal(topo_describe(t, &p, small, sizeof(small)), -ENOSPC);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    topo_placement_free(&p);

    assert_int_equal(topo_place_workers(t, 1, TOPO_PIN_NONE, &p, err, sizeof(err)), 0);
    assert_int_equal(topo_describe(t, &p, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "worker 0 -> PU -1 (os -1) core -1 node 0 [unbound]\n");
    topo_placement_free(&p);
    topo_close(t);
}

/* ---- XML ------------------------------------------------------------------------ */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void roundtrip(const char *spec)
{
    topo *t = open_ok(spec);
    char *xml = NULL;
    assert_int_equal(topo_export_xml(t, &xml), 0);
    assert_non_null(xml);
    assert_non_null(strstr(xml, "<topology"));

    char path[] = "/tmp/weft-topo-XXXXXX.xml";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, xml);
    free(xml);

    topo *x = open_ok(path);
    assert_int_equal(topo_pu_count(x), topo_pu_count(t));
    assert_int_equal(topo_core_count(x), topo_core_count(t));
    assert_int_equal(topo_node_count(x), topo_node_count(t));
    assert_false(topo_is_synthetic(x));
    assert_false(topo_is_this_system(x));
    assert_string_equal(topo_spec(x), path);

    /* same shape, same placement */
    topo_placement a, b;
    char err[256];
    int n = topo_pu_count(t);
    assert_int_equal(topo_place_workers(t, n, TOPO_PIN_SCATTER, &a, err, sizeof(err)), 0);
    assert_int_equal(topo_place_workers(x, n, TOPO_PIN_SCATTER, &b, err, sizeof(err)), 0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(a.slot[i].pu, b.slot[i].pu);
        assert_int_equal(a.slot[i].os_index, b.slot[i].os_index);
        assert_int_equal(a.slot[i].node, b.slot[i].node);
    }
    topo_placement_free(&a);
    topo_placement_free(&b);
    topo_close(x);
    topo_close(t);
    unlink(path);
}

static void test_xml_roundtrip(void **state)
{
    (void)state;
    roundtrip(SYN16);
    roundtrip("real");
}

/* ---- binding ---------------------------------------------------------------------- */

typedef struct bind_result {
    const topo *t;
    topo_placement *p;
    int rc;
    char err[256];
    cpu_set_t before, after;
    int getaff_before, getaff_after;
} bind_result;

static void *bind_thread(void *arg)
{
    bind_result *r = arg;
    r->getaff_before = sched_getaffinity(0, sizeof(r->before), &r->before);
    r->rc = topo_bind_current_thread(r->t, r->p, 0, r->err, sizeof(r->err));
    r->getaff_after = sched_getaffinity(0, sizeof(r->after), &r->after);
    return NULL;
}

static void run_bind_thread(bind_result *r)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bind_thread, r), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(r->getaff_before, 0);
    assert_int_equal(r->getaff_after, 0);
}

static void test_bind_real(void **state)
{
    (void)state;
    cpu_set_t main_before, main_after;
    assert_int_equal(sched_getaffinity(0, sizeof(main_before), &main_before), 0);

    topo *t = open_ok("real");
    topo_placement p;
    char err[256];
    assert_int_equal(topo_place_workers(t, 1, TOPO_PIN_COMPACT, &p, err, sizeof(err)), 0);
    bind_result r = {.t = t, .p = &p};
    run_bind_thread(&r);
    if (r.rc != 0) print_error("bind: %s\n", r.err);
    assert_int_equal(r.rc, 0);
    assert_int_equal(p.slot[0].bind, TOPO_BIND_BOUND);
    assert_int_equal(CPU_COUNT(&r.after), 1);
    assert_true(CPU_ISSET(p.slot[0].os_index, &r.after));

    char buf[256];
    assert_int_equal(topo_describe(t, &p, buf, sizeof(buf)), 0);
    assert_non_null(strstr(buf, "[bound]"));
    topo_placement_free(&p);

    /* pin none binds nothing and leaves the affinity alone */
    assert_int_equal(topo_place_workers(t, 1, TOPO_PIN_NONE, &p, err, sizeof(err)), 0);
    bind_result n = {.t = t, .p = &p};
    run_bind_thread(&n);
    assert_int_equal(n.rc, 0);
    assert_int_equal(p.slot[0].bind, TOPO_BIND_UNBOUND);
    assert_true(CPU_EQUAL(&n.before, &n.after));

    /* bad worker index */
    assert_int_equal(topo_bind_current_thread(t, &p, 1, err, sizeof(err)), -EINVAL);
    assert_true(strlen(err) > 0);
    topo_placement_free(&p);
    topo_close(t);

    /* the main thread was never touched */
    assert_int_equal(sched_getaffinity(0, sizeof(main_after), &main_after), 0);
    assert_true(CPU_EQUAL(&main_before, &main_after));
}

static void test_bind_synthetic_skipped(void **state)
{
    (void)state;
    topo *t = open_ok(SYN16);
    topo_placement p;
    char err[256];
    assert_int_equal(topo_place_workers(t, 1, TOPO_PIN_COMPACT, &p, err, sizeof(err)), 0);
    bind_result r = {.t = t, .p = &p};
    run_bind_thread(&r);
    assert_int_equal(r.rc, 1);
    assert_int_equal(strncmp(r.err, "skipped: synthetic topology", 27), 0);
    assert_int_equal(p.slot[0].bind, TOPO_BIND_SKIPPED);
    assert_true(CPU_EQUAL(&r.before, &r.after));
    char buf[256];
    assert_int_equal(topo_describe(t, &p, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "worker 0 -> PU 0 (os 0) core 0 node 0 [skipped]\n");
    topo_placement_free(&p);

    /* a placement from another topology is refused, not misapplied */
    topo *small = open_ok(SYN2);
    assert_int_equal(topo_place_workers(t, 1, TOPO_PIN_COMPACT, &p, err, sizeof(err)), 0);
    assert_int_equal(topo_bind_current_thread(small, &p, 0, err, sizeof(err)), -EINVAL);
    topo_placement_free(&p);
    topo_close(small);
    topo_close(t);
}

/* ---- node lookup and memory --------------------------------------------------------- */

static void test_node_of_cpu(void **state)
{
    (void)state;
    topo *t = open_ok(SYN16);
    for (int cpu = 0; cpu < 16; cpu++) assert_int_equal(topo_node_of_cpu(t, cpu), cpu / 4);
    assert_int_equal(topo_node_of_cpu(t, 16), -ENOENT);
    assert_int_equal(topo_node_of_cpu(t, -1), -EINVAL);
    topo_close(t);

    t = open_ok("real");
    int cpu = sched_getcpu();
    assert_true(cpu >= 0);
    int node = topo_node_of_cpu(t, cpu);
    assert_true(node >= 0 && node < topo_node_count(t));
    int cur = topo_current_node(t);
    assert_true(cur >= 0 && cur < topo_node_count(t));
    topo_close(t);
}

static void test_alloc_on_node(void **state)
{
    (void)state;
    const char *specs[] = {"real", SYN16};
    for (size_t s = 0; s < 2; s++) {
        topo *t = open_ok(specs[s]);
        int nodes = topo_node_count(t);
        for (int node = 0; node < nodes; node++) {
            size_t n = 3 * 4096 + 17;
            unsigned char *p = topo_alloc_on_node(t, n, node);
            assert_non_null(p);
            memset(p, 0xA5, n);
            assert_int_equal(p[n - 1], 0xA5);
            topo_free(t, p, n);
        }
        errno = 0;
        assert_null(topo_alloc_on_node(t, 64, nodes));
        assert_int_equal(errno, EINVAL);
        assert_null(topo_alloc_on_node(t, 64, -1));
        topo_free(t, NULL, 0);
        if (topo_is_synthetic(t) || nodes == 1) assert_false(topo_alloc_is_node_local(t));
        topo_close(t);
    }
}

/* ---- many readers ------------------------------------------------------------------ */

#define READERS 4
#define READER_ROUNDS 50

typedef struct reader {
    const topo *t;
    const char *want_desc;
    size_t want_xml_len;
    int mismatches;
    int failures;
} reader;

static void *reader_thread(void *arg)
{
    reader *r = arg;
    char buf[2048], err[256];
    for (int i = 0; i < READER_ROUNDS; i++) {
        topo_placement p;
        if (topo_place_workers(r->t, 16, TOPO_PIN_SCATTER, &p, err, sizeof(err)) != 0) {
            r->failures++;
            continue;
        }
        if (topo_describe(r->t, &p, buf, sizeof(buf)) != 0 || strcmp(buf, r->want_desc) != 0)
            r->mismatches++;
        topo_placement_free(&p);
        for (int cpu = 0; cpu < 16; cpu++)
            if (topo_node_of_cpu(r->t, cpu) != cpu / 4) r->mismatches++;
        if (i % 10 == 0) {
            char *xml = NULL;
            if (topo_export_xml(r->t, &xml) != 0) r->failures++;
            else if (strlen(xml) != r->want_xml_len) r->mismatches++;
            free(xml);
        }
    }
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    (void)state;
    topo *t = open_ok(SYN16);
    topo_placement p;
    char err[256], want[2048];
    assert_int_equal(topo_place_workers(t, 16, TOPO_PIN_SCATTER, &p, err, sizeof(err)), 0);
    assert_int_equal(topo_describe(t, &p, want, sizeof(want)), 0);
    topo_placement_free(&p);
    char *xml = NULL;
    assert_int_equal(topo_export_xml(t, &xml), 0);
    size_t xml_len = strlen(xml);
    free(xml);

    pthread_t th[READERS];
    reader r[READERS];
    for (int i = 0; i < READERS; i++) {
        r[i] = (reader){.t = t, .want_desc = want, .want_xml_len = xml_len};
        assert_int_equal(pthread_create(&th[i], NULL, reader_thread, &r[i]), 0);
    }
    for (int i = 0; i < READERS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < READERS; i++) {
        assert_int_equal(r[i].failures, 0);
        assert_int_equal(r[i].mismatches, 0);
    }
    topo_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_open),
        cmocka_unit_test(test_env_fallback),
        cmocka_unit_test(test_synthetic_counts),
        cmocka_unit_test(test_synthetic_too_big),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_pin_parse),
        cmocka_unit_test(test_place_compact),
        cmocka_unit_test(test_place_scatter),
        cmocka_unit_test(test_place_none),
        cmocka_unit_test(test_place_wrap_and_errors),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_xml_roundtrip),
        cmocka_unit_test(test_bind_real),
        cmocka_unit_test(test_bind_synthetic_skipped),
        cmocka_unit_test(test_node_of_cpu),
        cmocka_unit_test(test_alloc_on_node),
        cmocka_unit_test(test_concurrent_readers),
    };
    return cmocka_run_group_tests_name("topology", tests, NULL, NULL);
}
