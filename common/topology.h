/*
 * common/topology.h - the machine's shape (PUs, cores, NUMA nodes) and where
 * each worker runs, behind an opaque handle so the rest of weft never
 * includes hwloc.h. The design essay is at the top of common/topology.c.
 *
 * Thread safety: topo_open and topo_close are single-threaded. Between them a
 * topology is immutable, and every other function may be called from any
 * number of threads at once (topo_export_xml serialises itself internally).
 * A placement is written by topo_place_workers; after that each worker's
 * thread writes only its own slot's `bind`/`bind_errno` (in
 * topo_bind_current_thread), so read those two fields, e.g. with
 * topo_describe, only after the workers' start-up barrier or join.
 *
 * Errors: functions return 0 (or a documented positive status) or a negative
 * errno; where an `err` buffer is taken, a failure writes a sentence a person
 * can act on into it (err may be NULL when errlen is 0).
 */
#ifndef WEFT_COMMON_TOPOLOGY_H
#define WEFT_COMMON_TOPOLOGY_H
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct topo topo;

/* ---- opening -------------------------------------------------------------- */

/* Open a topology. `spec` selects it:
 *   NULL          -> the value of the environment variable WEFT_TOPOLOGY,
 *                    or this machine when it is unset or empty;
 *   "" or "real"  -> this machine;
 *   contains ':'  -> an hwloc synthetic description, e.g.
 *                    "pack:2 numa:2 core:4 pu:1" (levels TYPE:COUNT, the
 *                    last level must be pu);
 *   otherwise     -> the path of an XML file (lstopo out.xml, or
 *                    topo_export_xml); it must exist and be readable.
 * Returns 0 and *out, or -EINVAL (bad description, unreadable XML) / -ENOMEM
 * with a message in err. */
int topo_open(topo **out, const char *spec, char *err, size_t errlen);
void topo_close(topo *t);

int topo_pu_count(const topo *t);   /* >= 1 */
/* Cores; a topology without Core objects (e.g. "pack:2 pu:2") counts each PU
 * as its own core. */
int topo_core_count(const topo *t); /* >= 1 */
/* NUMA nodes (hwloc logical indices 0..n-1), including nodes without PUs;
 * at least 1 even if hwloc reported none. */
int topo_node_count(const topo *t); /* >= 1 */
bool topo_is_synthetic(const topo *t);
/* true for the real machine only; synthetic and XML topologies describe some
 * other machine, and binding on them is skipped. */
bool topo_is_this_system(const topo *t);
/* The description it was opened from: "real", the synthetic string, or the
 * XML path. Valid until topo_close. */
const char *topo_spec(const topo *t);
/* The topology as an hwloc XML document in *xml_out (NUL-terminated; the
 * caller frees it with free()). Re-opening that file gives the same counts. */
int topo_export_xml(const topo *t, char **xml_out);

/* NUMA node of the PU with OS index `os_cpu` (e.g. sched_getcpu()), or
 * -ENOENT when the topology has no such PU (a synthetic topology larger or
 * smaller than this machine) and -EINVAL for os_cpu < 0. */
int topo_node_of_cpu(const topo *t, int os_cpu);
/* Node of the CPU the calling thread runs on right now, 0 when that CPU is not
 * in the topology: never fails, for picking a node-local inject queue from a
 * thread that is not a worker. Only a hint: the thread may migrate. */
int topo_current_node(const topo *t);

/* ---- placement and pinning ------------------------------------------------ */

typedef enum topo_pin {
    TOPO_PIN_NONE = 0,  /* threads float; each still gets a home node */
    TOPO_PIN_COMPACT,   /* worker i -> PU i mod npu, in hwloc logical order */
    TOPO_PIN_SCATTER,   /* spread over packages, then nodes, then cores, then SMT */
} topo_pin;

/* "none", "compact", "scatter" (ASCII case-insensitive). */
int topo_pin_parse(const char *s, topo_pin *out, char *err, size_t errlen);
const char *topo_pin_name(topo_pin pin);

typedef enum topo_bind_state {
    TOPO_BIND_UNBOUND = 0, /* not attempted yet, or pin none */
    TOPO_BIND_BOUND,       /* the thread runs on exactly its PU */
    TOPO_BIND_SKIPPED,     /* synthetic/XML topology: nothing to bind to */
    TOPO_BIND_FAILED,      /* hwloc refused; bind_errno says why */
} topo_bind_state;

typedef struct topo_slot {
    int pu;        /* PU logical index, -1 when unpinned (TOPO_PIN_NONE) */
    int os_index;  /* that PU's OS index (what sched_getcpu reports), or -1 */
    int core;      /* core logical index, or -1 when unpinned */
    int node;      /* NUMA node logical index: always valid, also unpinned */
    int package;   /* package logical index, -1 if none or unpinned */
    int wrap;      /* i / npu: > 0 when this worker shares its PU with others */
    int bind;      /* topo_bind_state, written by the worker's own thread */
    int bind_errno;/* positive errno when bind == TOPO_BIND_FAILED */
} topo_slot;

typedef struct topo_placement {
    topo_pin pin;
    int workers;      /* number of slots */
    int pu_count;     /* PUs of the topology it was computed for */
    bool wrapped;     /* workers > pu_count: some PUs carry several workers */
    topo_slot *slot;  /* [workers], owned; release with topo_placement_free */
} topo_placement;

/* Compute where each of `workers` workers runs (see topology.c for the exact
 * orders). More workers than PUs wraps around (out->wrapped, slot.wrap);
 * workers <= 0 is -EINVAL. On success free with topo_placement_free. Under
 * TOPO_PIN_NONE no PU is assigned but slot.node is the node the compact layout
 * would give, so the numa scheduler has a home node for every worker. */
int topo_place_workers(const topo *t, int workers, topo_pin pin,
                       topo_placement *out, char *err, size_t errlen);
void topo_placement_free(topo_placement *p);

/* Called by worker `worker` on its own thread. Returns
 *   0  bound to its PU (slot.bind = BOUND), or nothing to do (pin none);
 *   1  skipped: the topology is synthetic or XML (slot.bind = SKIPPED, the
 *      thread's affinity is left untouched, err says so);
 *  <0  negative errno: bad arguments, or the PU cannot be bound
 *      (slot.bind = FAILED, err says which PU and why). */
int topo_bind_current_thread(const topo *t, topo_placement *p, int worker,
                             char *err, size_t errlen);

/* One line per worker:
 *   "worker 0 -> PU 0 (os 0) core 0 node 0 [bound]\n"
 * with PU/os/core -1 when unpinned, " wrap N" appended after a wrap-around,
 * and the state one of unbound|bound|skipped|failed. Always NUL-terminates
 * (when len > 0); returns 0, or -ENOSPC when the text was truncated. */
int topo_describe(const topo *t, const topo_placement *p, char *buf, size_t len);

/* ---- node-local memory ----------------------------------------------------- */

/* n bytes bound to NUMA node `node`, when the topology is the real machine and
 * has more than one node: then it is an hwloc_alloc_membind mapping (whole
 * pages, bound with MEMBIND_BIND, so meant for big per-node structures such as
 * queues and slabs, not for one task). Otherwise, and when the binding is not
 * supported, it is plain malloc memory with first-touch placement: NOT
 * node-local beyond what the kernel does. NULL on failure or a bad node.
 * Free with topo_free on the same topology with the same n. */
void *topo_alloc_on_node(const topo *t, size_t n, int node);
void topo_free(const topo *t, void *p, size_t n);
/* Whether topo_alloc_on_node binds memory at all on this topology. */
bool topo_alloc_is_node_local(const topo *t);

#ifdef __cplusplus
}
#endif
#endif
