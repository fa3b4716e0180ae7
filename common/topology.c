/*
 * common/topology.c - machine topology, worker placement and pinning (hwloc 2).
 *
 * THE PROBLEM
 * The `numa` scheduler steals inside a worker's NUMA node before it steals
 * across nodes, keeps one inject queue per node and allocates per-node memory.
 * It therefore needs, for every worker: the PU (hardware thread) it runs on,
 * that PU's core and NUMA node, and a way to pin the thread there. The
 * benchmarks must also run that logic on machines with one node (this one has
 * two vCPUs and one node), so the topology must be replaceable by a made-up
 * one: an hwloc synthetic description ("pack:2 numa:2 core:4 pu:1") or an XML
 * file saved from a big machine. And nothing above common/ should include
 * hwloc.h, so the handle is opaque and every answer is a plain int.
 *
 * THE DESIGN
 * topo_open loads the hwloc topology once and flattens what the runtime asks
 * about into plain arrays indexed by PU logical index: OS index, core, node,
 * package, plus the scatter order and an OS-index -> PU map. After open
 * nothing is written, so any number of threads may read the handle at once
 * without locks; hwloc itself is only called afterwards for binding (thread
 * safe: it reads the topology and calls sched_setaffinity), node-local
 * allocation (reads a node's nodeset, then mmap + mbind) and XML export.
 * Export is the one exception: hwloc 2.9's hwloc_topology_export_xmlbuffer
 * calls hwloc_internal_distances_refresh(), which may write the topology, and
 * its libxml fallback clears a global, so exports are serialised by one
 * process-wide mutex (they are rare: once per benchmark run).
 *
 * NUMA nodes. In hwloc 2 a NUMA node is a *memory child* hung off the object
 * whose PUs are local to it, not an ancestor of PUs (hwloc 1.x had them in the
 * tree). A PU's node is found by walking up its parents to the first one with
 * memory_arity > 0 and taking its first NUMA memory child (descending through
 * MemCache objects, which sit between a parent and its node on machines with
 * memory-side caches). That gives the *nearest* node. hwloc_cpuset_to_nodeset
 * was rejected: it returns every node whose cpuset intersects the PU, which on
 * a machine with a machine-wide CXL or HBM node is two nodes, and it orders
 * them by OS index, not locality. hwloc_get_local_numanode_objs also works but
 * needs HWLOC_LOCAL_NUMANODE_FLAG_LARGER_LOCALITY for a single PU and returns
 * a list we would have to rank anyway. Nodes without PUs (CPU-less memory) are
 * counted by topo_node_count but never receive a worker.
 *
 * Placement. Pure arithmetic over the arrays, so it is exact and testable on
 * synthetic topologies:
 *  - compact: worker i -> PU (i mod npu) in hwloc logical order, which fills
 *    SMT siblings, then cores, then nodes, then packages (KMP "compact").
 *  - scatter: PUs are grouped into domains = (NUMA node, package) pairs. The
 *    domains are ordered so that consecutive domains are on different
 *    packages (sort by rank within package, then package), and each domain's
 *    PUs are ordered first hyperthread of every core first, then second ones.
 *    The scatter order deals one PU from each domain in turn. On
 *    "pack:2 numa:2 core:4 pu:1" workers go to nodes 0,2,1,3,0,2,... and PUs
 *    0,8,4,12,1,9,5,13,...; on one node with two packages it alternates
 *    packages; on one node it gives every core one worker before any SMT
 *    sibling. Unequal domains are handled: an exhausted domain drops out.
 *    Caches below the node (AMD CCX L3 groups) are not spread over: a known
 *    limit, fine for the question `numa` asks.
 *  - none: no PU, but a home node from the compact layout (worker i gets the
 *    node of PU i mod npu), so `numa` still has one node per worker and
 *    switching between none and compact does not change the node of a worker.
 *  More workers than PUs is allowed (oversubscription is a legitimate
 *  experiment): worker i wraps to position i mod npu, slot.wrap = i / npu and
 *  placement.wrapped say so. Zero or negative workers is -EINVAL.
 *
 * Binding. Only on the real machine: hwloc_set_cpubind(HWLOC_CPUBIND_THREAD)
 * with the PU's cpuset after hwloc_bitmap_singlify (a PU's set already has one
 * bit; singlify guards against a future caller passing a core). On a synthetic
 * or XML topology hwloc's binding calls "succeed" and do nothing (all support
 * bits are 0), which would make a report claim pinning that never happened,
 * so we skip explicitly and return 1 with slot.bind = SKIPPED.
 * HWLOC_TOPOLOGY_FLAG_IS_THISSYSTEM would make binding real on a synthetic
 * topology, but then a synthetic PU that does not exist here fails with
 * EINVAL; mixing fake nodes with real pinning was rejected as a source of
 * results nobody can interpret.
 *
 * Node-local memory. topo_alloc_on_node uses hwloc_alloc_membind(BIND,
 * BYNODESET) only when the topology is the real machine, has more than one
 * node and hwloc can bind memory here; that is an mmap of whole pages, so it
 * is for per-node structures (queues, slabs), not for individual tasks.
 * Everywhere else it is malloc: first-touch placement, i.e. the page lands on
 * the node of the thread that first writes it - node-local only by accident.
 * A synthetic topology's nodes do not exist, so its memory is never bound.
 *
 * Spec resolution. NULL means "ask the environment" (WEFT_TOPOLOGY) so a
 * benchmark run can be re-pointed without a rebuild; "" and "real" mean this
 * machine; a ':' means synthetic (every hwloc synthetic level is TYPE:COUNT);
 * anything else is an XML path, checked with access() first so a typo gets
 * "No such file or directory" rather than hwloc's silent EINVAL. hwloc gives
 * no reason for a bad synthetic string unless HWLOC_SYNTHETIC_VERBOSE is set,
 * so the message quotes the string, names the first malformed level we can
 * spot ourselves, and tells the reader how to get hwloc's own explanation.
 */
#include "common/topology.h"

#include <ctype.h>
#include <errno.h>
#include <hwloc.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef enum topo_kind { TOPO_KIND_REAL, TOPO_KIND_SYNTHETIC, TOPO_KIND_XML } topo_kind;

/*
 * Invariants (checked by topo_sane after open; all fields are written only by
 * topo_open and read by anyone until topo_close):
 *   npu >= 1, ncore >= 1, nnode >= 1;
 *   for every PU i: 0 <= pu_node[i] < nnode, -1 <= pu_core[i] < ncore,
 *     -1 <= pu_pkg[i], 0 <= pu_os[i] <= os_max, os_to_pu[pu_os[i]] == i;
 *   scatter[] is a permutation of 0..npu-1;
 *   node_local implies kind == REAL and nnode > 1.
 */
struct topo {
    hwloc_topology_t h;
    topo_kind kind;
    char *spec;        /* "real", the synthetic string or the XML path */
    int npu, ncore, nnode;
    int *pu_os;        /* [npu] OS index of PU i */
    int *pu_core;      /* [npu] core logical index (i itself if no cores) */
    int *pu_node;      /* [npu] nearest NUMA node logical index */
    int *pu_pkg;       /* [npu] package logical index or -1 */
    int *scatter;      /* [npu] PU logical indices in scatter order */
    int os_max;        /* largest PU OS index */
    int *os_to_pu;     /* [os_max + 1] PU logical index or -1 */
    bool node_local;   /* topo_alloc_on_node binds (see essay) */
};

/* hwloc's XML export writes the topology and a libxml global: one at a time. */
static pthread_mutex_t topo_export_lock = PTHREAD_MUTEX_INITIALIZER;

static void topo_msg(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void topo_msg(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#define TOPO_FORMS \
    "valid forms: \"real\" (or empty) for this machine; an hwloc synthetic " \
    "description of TYPE:COUNT levels ending in pu, e.g. \"pack:2 numa:2 core:4 pu:1\"; " \
    "or the path of an XML file written by lstopo or topo_export_xml"

/* ---- hwloc tree walks (open time only) ----------------------------------- */

/* Nearest NUMA node of object o: first ancestor-or-self with memory children,
 * its first NUMA memory child (through MemCache objects). */
static int topo_obj_node(hwloc_obj_t o)
{
    for (; o; o = o->parent) {
        if (o->memory_arity == 0) continue;
        for (hwloc_obj_t m = o->memory_first_child; m; m = m->next_sibling) {
            hwloc_obj_t n = m;
            while (n && n->type != HWLOC_OBJ_NUMANODE) n = n->memory_first_child;
            if (n) return (int)n->logical_index;
        }
    }
    return 0; /* hwloc 2 always attaches a node to the root; defensive only */
}

static int topo_obj_ancestor_index(hwloc_topology_t h, hwloc_obj_t o, hwloc_obj_type_t type)
{
    hwloc_obj_t a = hwloc_get_ancestor_obj_by_type(h, type, o);
    return a ? (int)a->logical_index : -1;
}

/* ---- scatter order ---------------------------------------------------------- */

typedef struct topo_key { int k[4]; int val; } topo_key;

static int topo_key_cmp(const void *a, const void *b)
{
    const topo_key *x = a, *y = b;
    for (int i = 0; i < 4; i++)
        if (x->k[i] != y->k[i]) return x->k[i] < y->k[i] ? -1 : 1;
    return 0;
}

/* Fill t->scatter (see the essay): domains = (node, package); domain order =
 * (rank within package, package, node); inside a domain = (SMT sibling rank,
 * logical index); then deal one PU per domain per round. */
static int topo_build_scatter(topo *t)
{
    int n = t->npu, rc = -ENOMEM;
    int *dom = malloc(sizeof(int) * (size_t)n);        /* PU -> domain id */
    int *dnode = malloc(sizeof(int) * (size_t)n);      /* domain -> node */
    int *dpkg = malloc(sizeof(int) * (size_t)n);       /* domain -> package */
    int *dorder = malloc(sizeof(int) * (size_t)n);     /* domain -> position */
    int *sib = malloc(sizeof(int) * (size_t)n);        /* PU -> SMT rank */
    int *cnt = calloc((size_t)t->ncore, sizeof(int));  /* core -> PUs seen */
    topo_key *keys = malloc(sizeof(topo_key) * (size_t)n);
    int ndom = 0; /* before the goto: -Wjump-misses-init */
    if (!dom || !dnode || !dpkg || !dorder || !sib || !cnt || !keys) goto out;

    for (int i = 0; i < n; i++) {
        int d = 0;
        while (d < ndom && !(dnode[d] == t->pu_node[i] && dpkg[d] == t->pu_pkg[i])) d++;
        if (d == ndom) { dnode[d] = t->pu_node[i]; dpkg[d] = t->pu_pkg[i]; ndom++; }
        dom[i] = d;
    }
    /* domain order: rank among the domains of its package, then package */
    for (int d = 0; d < ndom; d++) {
        int rank = 0;
        for (int e = 0; e < d; e++) rank += dpkg[e] == dpkg[d];
        keys[d] = (topo_key){{rank, dpkg[d], dnode[d], d}, d};
    }
    qsort(keys, (size_t)ndom, sizeof(topo_key), topo_key_cmp);
    for (int d = 0; d < ndom; d++) dorder[keys[d].val] = d;

    /* SMT rank: how many earlier PUs share this PU's core (cores 0..ncore-1) */
    for (int i = 0; i < n; i++) {
        int c = t->pu_core[i];
        sib[i] = (c >= 0 && c < t->ncore) ? cnt[c]++ : 0;
    }
    /* position inside the domain: sort by (domain, sib, logical) */
    for (int i = 0; i < n; i++) keys[i] = (topo_key){{dom[i], sib[i], i, 0}, i};
    qsort(keys, (size_t)n, sizeof(topo_key), topo_key_cmp);
    /* deal: round = position inside domain, then domain order */
    for (int i = 0, pos = 0, prev = -1; i < n; i++) {
        if (keys[i].k[0] != prev) pos = 0;
        prev = keys[i].k[0];
        int pu = keys[i].val;
        keys[i] = (topo_key){{pos++, dorder[dom[pu]], 0, 0}, pu};
    }
    qsort(keys, (size_t)n, sizeof(topo_key), topo_key_cmp);
    for (int i = 0; i < n; i++) t->scatter[i] = keys[i].val;
    rc = 0;
out:
    free(dom); free(dnode); free(dpkg); free(dorder); free(sib); free(cnt); free(keys);
    return rc;
}

static bool topo_sane(const topo *t)
{
    if (t->npu < 1 || t->ncore < 1 || t->nnode < 1) return false;
    if (t->node_local && (t->kind != TOPO_KIND_REAL || t->nnode < 2)) return false;
    bool ok = true;
    char *seen = calloc((size_t)t->npu, 1);
    if (!seen) return true; /* cannot check; not a reason to fail open */
    for (int i = 0; i < t->npu && ok; i++) {
        ok = t->pu_node[i] >= 0 && t->pu_node[i] < t->nnode &&
             t->pu_core[i] >= -1 && t->pu_core[i] < t->ncore && t->pu_pkg[i] >= -1 &&
             t->pu_os[i] >= 0 && t->pu_os[i] <= t->os_max &&
             t->os_to_pu[t->pu_os[i]] == i &&
             t->scatter[i] >= 0 && t->scatter[i] < t->npu && !seen[t->scatter[i]];
        if (ok) seen[t->scatter[i]] = 1;
    }
    free(seen);
    return ok;
}

/* ---- open / close ---------------------------------------------------------- */

/* The largest synthetic topology topo_open loads, in PUs: checked before
 * hwloc sees the string, because hwloc's load of a large one runs for tens
 * of seconds with no output (pack:256 pu:256) or longer. weft runs at most
 * 256 workers (weft_config), and 4096 PUs is more hardware threads than
 * the largest machines it targets have, so nothing real is refused. */
#define TOPO_SYNTHETIC_MAX_PUS 4096

/* The number of PUs a synthetic string describes: the product of the
 * TYPE:COUNT levels (attributes in parentheses are skipped; a level hwloc
 * would reject counts as 1 here and is refused by hwloc afterwards).
 * Saturates far above the limit instead of overflowing. */
static unsigned long long topo_synthetic_pus(const char *spec)
{
    unsigned long long total = 1;
    const char *p = spec;
    while (*p) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        const char *tok = p;
        int depth = 0;
        while (*p && (depth > 0 || (*p != ' ' && *p != '\t'))) {
            if (*p == '(') depth++;
            else if (*p == ')' && depth > 0) depth--;
            p++;
        }
        const char *colon = memchr(tok, ':', (size_t)(p - tok));
        if (!colon) continue;
        char *end;
        unsigned long long n = strtoull(colon + 1, &end, 10);
        if (end == colon + 1 || n == 0) n = 1;
        total = total > (1ull << 40) / n ? (1ull << 40) : total * n;
    }
    return total;
}

/* After hwloc rejected a synthetic string: name the first level that is not
 * TYPE:COUNT with a numeric count, if we can see one. */
static void topo_synthetic_hint(const char *spec, char *hint, size_t len)
{
    hint[0] = '\0';
    const char *p = spec, *last = NULL;
    int level = 0, last_len = 0;
    while (*p) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        level++;
        int tlen = (int)(p - start);
        const char *colon = memchr(start, ':', (size_t)tlen);
        if (!colon) {
            snprintf(hint, len, "level %d \"%.*s\" has no ':COUNT'; ", level, tlen, start);
            return;
        }
        if (colon == start) {
            snprintf(hint, len, "level %d \"%.*s\" has no TYPE before ':'; ", level, tlen, start);
            return;
        }
        if (!isdigit((unsigned char)colon[1])) {
            snprintf(hint, len, "level %d \"%.*s\": the count after ':' must be a number; ",
                     level, tlen, start);
            return;
        }
        last = start;
        last_len = tlen;
    }
    if (last && strncasecmp(last, "pu:", 3) != 0)
        snprintf(hint, len, "the last level \"%.*s\" is not pu; ", last_len, last);
}

static int topo_fill(topo *t, char *err, size_t errlen)
{
    hwloc_topology_t h = t->h;
    int npu = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_PU);
    if (npu <= 0) {
        topo_msg(err, errlen, "topology \"%s\" has no PU (hardware thread); " TOPO_FORMS, t->spec);
        return -EINVAL;
    }
    int ncore = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_CORE);
    int nnode = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_NUMANODE);
    t->npu = npu;
    t->ncore = ncore > 0 ? ncore : npu;
    t->nnode = nnode > 0 ? nnode : 1;
    t->pu_os = malloc(sizeof(int) * (size_t)npu);
    t->pu_core = malloc(sizeof(int) * (size_t)npu);
    t->pu_node = malloc(sizeof(int) * (size_t)npu);
    t->pu_pkg = malloc(sizeof(int) * (size_t)npu);
    t->scatter = malloc(sizeof(int) * (size_t)npu);
    if (!t->pu_os || !t->pu_core || !t->pu_node || !t->pu_pkg || !t->scatter) goto nomem;

    t->os_max = 0;
    for (int i = 0; i < npu; i++) {
        hwloc_obj_t pu = hwloc_get_obj_by_type(h, HWLOC_OBJ_PU, (unsigned)i);
        if (!pu || pu->os_index > (unsigned)INT_MAX - 1) {
            topo_msg(err, errlen, "topology \"%s\": PU %d has no usable OS index", t->spec, i);
            return -EINVAL;
        }
        t->pu_os[i] = (int)pu->os_index;
        t->pu_core[i] = ncore > 0 ? topo_obj_ancestor_index(h, pu, HWLOC_OBJ_CORE) : i;
        t->pu_pkg[i] = topo_obj_ancestor_index(h, pu, HWLOC_OBJ_PACKAGE);
        int node = topo_obj_node(pu);
        t->pu_node[i] = node < t->nnode ? node : 0;
        if (t->pu_os[i] > t->os_max) t->os_max = t->pu_os[i];
    }
    t->os_to_pu = malloc(sizeof(int) * ((size_t)t->os_max + 1));
    if (!t->os_to_pu) goto nomem;
    for (int i = 0; i <= t->os_max; i++) t->os_to_pu[i] = -1;
    for (int i = 0; i < npu; i++) {
        if (t->os_to_pu[t->pu_os[i]] != -1) {
            topo_msg(err, errlen, "topology \"%s\": two PUs claim OS index %d", t->spec, t->pu_os[i]);
            return -EINVAL;
        }
        t->os_to_pu[t->pu_os[i]] = i;
    }
    if (topo_build_scatter(t) < 0) goto nomem;

    if (t->kind == TOPO_KIND_REAL && t->nnode > 1) {
        const struct hwloc_topology_support *s = hwloc_topology_get_support(h);
        t->node_local = s && s->membind && s->membind->alloc_membind && s->membind->bind_membind;
    }
    if (!topo_sane(t)) {
        topo_msg(err, errlen, "topology \"%s\": internal tables are inconsistent (weft bug)", t->spec);
        return -EINVAL;
    }
    return 0;
nomem:
    topo_msg(err, errlen, "topology \"%s\": out of memory", t->spec);
    return -ENOMEM;
}

int topo_open(topo **out, const char *spec, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!out) {
        topo_msg(err, errlen, "topo_open: out is NULL");
        return -EINVAL;
    }
    *out = NULL;
    const char *origin = "";
    if (!spec) {
        spec = getenv("WEFT_TOPOLOGY");
        origin = "WEFT_TOPOLOGY=";
        if (!spec) spec = "";
    }

    topo *t = calloc(1, sizeof(*t));
    if (!t) {
        topo_msg(err, errlen, "topo_open: out of memory");
        return -ENOMEM;
    }
    if (spec[0] == '\0' || strcmp(spec, "real") == 0) {
        t->kind = TOPO_KIND_REAL;
        spec = "real";
    } else if (strchr(spec, ':')) {
        t->kind = TOPO_KIND_SYNTHETIC;
    } else {
        t->kind = TOPO_KIND_XML;
    }
    t->spec = strdup(spec);
    if (!t->spec) {
        free(t);
        topo_msg(err, errlen, "topo_open: out of memory");
        return -ENOMEM;
    }

    int rc = -EINVAL;
    unsigned long long pus = 0; /* before the gotos: -Wjump-misses-init */
    if (t->kind == TOPO_KIND_XML && access(spec, R_OK) != 0) {
        topo_msg(err, errlen, "topology %s\"%s\": no ':' so it was taken as an XML file, "
                 "which cannot be read (%s); " TOPO_FORMS, origin, spec, strerror(errno));
        goto fail;
    }
    if (hwloc_topology_init(&t->h) < 0) {
        rc = -ENOMEM;
        topo_msg(err, errlen, "topology %s\"%s\": hwloc_topology_init failed: %s",
                 origin, spec, strerror(errno));
        goto fail;
    }
    if (t->kind == TOPO_KIND_SYNTHETIC && (pus = topo_synthetic_pus(spec)) > TOPO_SYNTHETIC_MAX_PUS) {
        topo_msg(err, errlen, "topology %s\"%s\" describes %llu PUs; synthetic topologies are "
                 "limited to %d PUs (hwloc's load time grows with the PU count: 65536 took "
                 "tens of seconds), e.g. \"pack:2 numa:2 core:4 pu:1\"",
                 origin, spec, pus, TOPO_SYNTHETIC_MAX_PUS);
        goto fail;
    }
    if (t->kind == TOPO_KIND_SYNTHETIC && hwloc_topology_set_synthetic(t->h, spec) < 0) {
        char hint[160];
        topo_synthetic_hint(spec, hint, sizeof(hint));
        topo_msg(err, errlen, "topology %s\"%s\" is not a valid hwloc synthetic description: %s"
                 "levels are TYPE:COUNT separated by spaces, outermost first, ending in pu, "
                 "e.g. \"pack:2 numa:2 core:4 pu:1\" (types: pack, numa, l3, l2, l1, core, pu, ...); "
                 "for hwloc's own reason run: HWLOC_SYNTHETIC_VERBOSE=1 lstopo-no-graphics --input '%s'",
                 origin, spec, hint, spec);
        goto fail;
    }
    if (t->kind == TOPO_KIND_XML && hwloc_topology_set_xml(t->h, spec) < 0) {
        topo_msg(err, errlen, "topology %s\"%s\": hwloc cannot read it as an XML topology (%s); "
                 "write one with `lstopo-no-graphics out.xml` or topo_export_xml; for hwloc's "
                 "reason run: HWLOC_XML_VERBOSE=1 lstopo-no-graphics --input '%s'",
                 origin, spec, strerror(errno), spec);
        goto fail;
    }
    if (hwloc_topology_load(t->h) < 0) {
        topo_msg(err, errlen, "topology %s\"%s\": hwloc could not load it (%s); " TOPO_FORMS,
                 origin, spec, strerror(errno));
        goto fail;
    }
    rc = topo_fill(t, err, errlen);
    if (rc < 0) goto fail;
    *out = t;
    return 0;
fail:
    topo_close(t);
    return rc;
}

void topo_close(topo *t)
{
    if (!t) return;
    if (t->h) hwloc_topology_destroy(t->h);
    free(t->spec);
    free(t->pu_os);
    free(t->pu_core);
    free(t->pu_node);
    free(t->pu_pkg);
    free(t->scatter);
    free(t->os_to_pu);
    free(t);
}

/* ---- queries ------------------------------------------------------------------ */

int topo_pu_count(const topo *t) { return t->npu; }
int topo_core_count(const topo *t) { return t->ncore; }
int topo_node_count(const topo *t) { return t->nnode; }
bool topo_is_synthetic(const topo *t) { return t->kind == TOPO_KIND_SYNTHETIC; }
bool topo_is_this_system(const topo *t) { return t->kind == TOPO_KIND_REAL; }
const char *topo_spec(const topo *t) { return t->spec; }
bool topo_alloc_is_node_local(const topo *t) { return t->node_local; }

int topo_export_xml(const topo *t, char **xml_out)
{
    if (!t || !xml_out) return -EINVAL;
    *xml_out = NULL;
    char *buf = NULL;
    int len = 0, rc = 0;
    pthread_mutex_lock(&topo_export_lock);
    if (hwloc_topology_export_xmlbuffer(t->h, &buf, &len, 0) < 0) {
        rc = errno ? -errno : -EIO;
    } else {
        /* hwloc's buffer must go back through hwloc_free_xmlbuffer (it may be
         * libxml2's allocator); hand the caller a malloc copy. len counts the
         * terminating NUL. */
        *xml_out = malloc(len > 0 ? (size_t)len : 1);
        if (!*xml_out) rc = -ENOMEM;
        else if (len > 0) { memcpy(*xml_out, buf, (size_t)len); (*xml_out)[len - 1] = '\0'; }
        else (*xml_out)[0] = '\0';
        hwloc_free_xmlbuffer(t->h, buf);
    }
    pthread_mutex_unlock(&topo_export_lock);
    return rc;
}

int topo_node_of_cpu(const topo *t, int os_cpu)
{
    if (!t || os_cpu < 0) return -EINVAL;
    if (os_cpu > t->os_max || t->os_to_pu[os_cpu] < 0) return -ENOENT;
    return t->pu_node[t->os_to_pu[os_cpu]];
}

int topo_current_node(const topo *t)
{
    int cpu = sched_getcpu();
    int node = cpu >= 0 ? topo_node_of_cpu(t, cpu) : -ENOENT;
    return node >= 0 ? node : 0;
}

/* ---- placement ------------------------------------------------------------------ */

static const char *const topo_pin_names[] = {
    [TOPO_PIN_NONE] = "none", [TOPO_PIN_COMPACT] = "compact", [TOPO_PIN_SCATTER] = "scatter",
};

const char *topo_pin_name(topo_pin pin)
{
    return (unsigned)pin < sizeof(topo_pin_names) / sizeof(topo_pin_names[0]) ? topo_pin_names[pin]
                                                                              : "?";
}

int topo_pin_parse(const char *s, topo_pin *out, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    for (unsigned i = 0; s && out && i < sizeof(topo_pin_names) / sizeof(topo_pin_names[0]); i++) {
        if (strcasecmp(s, topo_pin_names[i]) == 0) {
            *out = (topo_pin)i;
            return 0;
        }
    }
    topo_msg(err, errlen, "pin policy \"%s\" is not known; valid: none (threads float), "
             "compact (fill PUs in order), scatter (spread over packages/nodes, then cores)",
             s ? s : "(null)");
    return -EINVAL;
}

int topo_place_workers(const topo *t, int workers, topo_pin pin,
                       topo_placement *out, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!t || !out) {
        topo_msg(err, errlen, "topo_place_workers: topology or placement is NULL");
        return -EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (workers <= 0) {
        topo_msg(err, errlen, "cannot place %d workers: the worker count must be at least 1", workers);
        return -EINVAL;
    }
    if (pin != TOPO_PIN_NONE && pin != TOPO_PIN_COMPACT && pin != TOPO_PIN_SCATTER) {
        topo_msg(err, errlen, "unknown pin policy %d; valid: none, compact, scatter", (int)pin);
        return -EINVAL;
    }
    topo_slot *slot = calloc((size_t)workers, sizeof(*slot));
    if (!slot) {
        topo_msg(err, errlen, "cannot place %d workers: out of memory", workers);
        return -ENOMEM;
    }
    for (int i = 0; i < workers; i++) {
        int pos = i % t->npu;
        int pu = pin == TOPO_PIN_SCATTER ? t->scatter[pos] : pos;
        slot[i].node = t->pu_node[pu];
        slot[i].wrap = i / t->npu;
        slot[i].bind = TOPO_BIND_UNBOUND;
        if (pin == TOPO_PIN_NONE) {
            slot[i].pu = slot[i].os_index = slot[i].core = slot[i].package = -1;
        } else {
            slot[i].pu = pu;
            slot[i].os_index = t->pu_os[pu];
            slot[i].core = t->pu_core[pu];
            slot[i].package = t->pu_pkg[pu];
        }
    }
    out->pin = pin;
    out->workers = workers;
    out->pu_count = t->npu;
    out->wrapped = workers > t->npu;
    out->slot = slot;
    return 0;
}

void topo_placement_free(topo_placement *p)
{
    if (!p) return;
    free(p->slot);
    memset(p, 0, sizeof(*p));
}

int topo_bind_current_thread(const topo *t, topo_placement *p, int worker,
                             char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!t || !p || !p->slot || worker < 0 || worker >= p->workers) {
        topo_msg(err, errlen, "topo_bind_current_thread: no worker %d in this placement (%d workers)",
                 worker, p ? p->workers : 0);
        return -EINVAL;
    }
    topo_slot *s = &p->slot[worker];
    if (p->pu_count != t->npu || s->pu >= t->npu) {
        topo_msg(err, errlen, "worker %d: the placement was computed for another topology "
                 "(%d PUs, this one has %d)", worker, p->pu_count, t->npu);
        return -EINVAL;
    }
    s->bind_errno = 0;
    if (s->pu < 0) {
        s->bind = TOPO_BIND_UNBOUND;
        return 0;
    }
    if (t->kind != TOPO_KIND_REAL) {
        s->bind = TOPO_BIND_SKIPPED;
        topo_msg(err, errlen, "skipped: %s topology \"%s\" describes another machine; "
                 "worker %d stays unpinned", t->kind == TOPO_KIND_SYNTHETIC ? "synthetic" : "XML",
                 t->spec, worker);
        return 1;
    }
    hwloc_obj_t pu = hwloc_get_obj_by_type(t->h, HWLOC_OBJ_PU, (unsigned)s->pu);
    hwloc_bitmap_t set = pu ? hwloc_bitmap_dup(pu->cpuset) : NULL;
    int e = 0;
    if (!set) {
        e = pu ? ENOMEM : EINVAL;
    } else {
        hwloc_bitmap_singlify(set);
        if (hwloc_set_cpubind(t->h, set, HWLOC_CPUBIND_THREAD) < 0) e = errno ? errno : EINVAL;
        hwloc_bitmap_free(set);
    }
    if (e) {
        s->bind = TOPO_BIND_FAILED;
        s->bind_errno = e;
        topo_msg(err, errlen, "cannot bind worker %d to PU %d (os %d): %s%s", worker, s->pu,
                 s->os_index, strerror(e),
                 e == EINVAL ? " (is the CPU outside this process's cpuset? see taskset/cgroups)" : "");
        return -e;
    }
    s->bind = TOPO_BIND_BOUND;
    return 0;
}

int topo_describe(const topo *t, const topo_placement *p, char *buf, size_t len)
{
    static const char *const state[] = {"unbound", "bound", "skipped", "failed"};
    if (!buf || len == 0) return -EINVAL;
    buf[0] = '\0';
    if (!t || !p || (p->workers > 0 && !p->slot)) return -EINVAL;
    size_t used = 0;
    for (int i = 0; i < p->workers; i++) {
        const topo_slot *s = &p->slot[i];
        const char *st = (unsigned)s->bind < 4 ? state[s->bind] : "?";
        char wrap[24] = "";
        if (s->wrap > 0) snprintf(wrap, sizeof(wrap), " wrap %d", s->wrap);
        int n = snprintf(buf + used, len - used, "worker %d -> PU %d (os %d) core %d node %d [%s]%s\n",
                         i, s->pu, s->os_index, s->core, s->node, st, wrap);
        if (n < 0) return -EINVAL;
        if ((size_t)n >= len - used) return -ENOSPC; /* snprintf left it terminated */
        used += (size_t)n;
    }
    return 0;
}

/* ---- node-local memory ---------------------------------------------------------- */

void *topo_alloc_on_node(const topo *t, size_t n, int node)
{
    if (!t || n == 0 || node < 0 || node >= t->nnode) {
        errno = EINVAL;
        return NULL;
    }
    if (!t->node_local) return malloc(n);
    hwloc_obj_t o = hwloc_get_obj_by_type(t->h, HWLOC_OBJ_NUMANODE, (unsigned)node);
    if (!o) {
        errno = EINVAL;
        return NULL;
    }
    /* Not STRICT: if this one binding fails hwloc still returns (unbound)
     * memory from the same allocator, so topo_free's hwloc_free stays right. */
    return hwloc_alloc_membind(t->h, n, o->nodeset, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_BYNODESET);
}

void topo_free(const topo *t, void *p, size_t n)
{
    if (!p) return;
    if (t && t->node_local) hwloc_free(t->h, p, n);
    else free(p);
}
