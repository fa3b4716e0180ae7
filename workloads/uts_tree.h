/* workloads/uts_tree.h - the Unbalanced Tree Search tree generator.
 *
 * UTS (Olivier, Huan, Liu, Prins, Dinan, Sadayappan, Tseng: "UTS: An
 * Unbalanced Tree Search Benchmark", LCPC 2006) describes an implicit tree:
 * every node is a 20-byte SHA-1 state, a child's state is a hash of its
 * parent's, and a node's number of children is a function of its own state.
 * Any thread can expand any node with no shared state, and the tree's shape is
 * fixed by the parameters, so the node count checks a parallel traversal
 * exactly. This file is the generator, bit-compatible with the reference code
 * (uts.c + rng/brg_sha1.c, computeGranularity = 1); traversals (sequential here,
 * parallel in the workloads) sit on top of it. See uts_tree.c for the essay.
 *
 * Thread safety: every function may be called from any thread at once. Hashing
 * uses a per-thread OpenSSL context created on the thread's first uts_child/
 * uts_root call (one allocation) and freed when the thread exits.
 */
#ifndef WEFT_WORKLOADS_UTS_TREE_H
#define WEFT_WORKLOADS_UTS_TREE_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Tree types, numbered as the reference's `-t` option. */
enum { UTS_BIN = 0, UTS_GEO = 1 };
/* Geometric shape functions, numbered as the reference's `-a` option. */
enum { UTS_SHAPE_LINEAR = 0, UTS_SHAPE_EXPDEC = 1, UTS_SHAPE_CYCLIC = 2, UTS_SHAPE_FIXED = 3 };
/* The reference caps every node's children at 100, except a binomial root. */
#define UTS_MAX_CHILDREN 100

typedef struct uts_params {
    int type;        /* UTS_GEO, UTS_BIN (-t) */
    int shape;       /* UTS_SHAPE_*, geometric only (-a) */
    double b0;       /* root branching factor (-b) */
    int gen_mx;      /* geometric: depth parameter (-d) */
    double q;        /* binomial: probability of a non-leaf (-q) */
    int m;           /* binomial: children of a non-leaf (-m) */
    int seed;        /* root seed (-r) */
    const char *name; /* preset name, or NULL */
} uts_params;

typedef struct uts_node {
    uint8_t state[20]; /* SHA-1 digest */
    int depth;         /* root = 0 */
} uts_node;

typedef struct uts_counts {
    uint64_t nodes;     /* root included */
    uint64_t leaves;    /* nodes with no children */
    uint64_t max_depth; /* deepest node's depth, root = 0 */
} uts_counts;

/* Fill *out with a named tree. Presets, in the reference's sample_trees.sh
 * notation (counts from uts_expected_counts):
 *   T1   -t 1 -a 3 -d 10 -b 4 -r 19           4,130,071 nodes  (published)
 *   T2   -t 1 -a 2 -d 16 -b 6 -r 502          4,117,769 nodes  (published)
 *   T3   -t 0 -b 2000 -q 0.124875 -m 8 -r 42  4,112,897 nodes  (published)
 *   T5   -t 1 -a 0 -d 20 -b 4 -r 34           4,147,582 nodes  (published)
 *   T1L  -t 1 -a 3 -d 13 -b 4 -r 29         102,181,082 nodes  (published)
 *   T2L  -t 1 -a 2 -d 23 -b 7 -r 220         96,793,510 nodes  (published)
 *   T3L  -t 0 -b 2000 -q 0.200014 -m 5 -r 7 111,345,631 nodes  (published)
 *   T1-quick  -t 1 -a 3 -d 7 -b 4 -r 19             63,914 nodes  (recorded)
 *   T3-quick  -t 0 -b 200 -q 0.124875 -m 8 -r 23    45,065 nodes  (recorded)
 * Returns 0, or -EINVAL for NULL or an unknown name (message on stderr listing
 * the valid names). (T4, the hybrid tree, is not offered: it needs a
 * shift-depth parameter this struct does not carry.) */
int uts_preset(const char *name, uts_params *out);
/* Names of all presets, NULL-terminated, in the order above. */
extern const char *const uts_preset_names[];

/* Counts published with the reference code (sample_trees.sh) for this preset:
 * 0 and *out filled; -ENOENT for a preset without published counts (the quick
 * trees); -EINVAL for an unknown name. */
int uts_published_counts(const char *name, uts_counts *out);
/* Published counts, or for the quick trees the counts this generator produces
 * (recorded after it reproduced every published tree). 0, or -EINVAL. */
int uts_expected_counts(const char *name, uts_counts *out);

/* Check parameters: 0, or -EINVAL with a message on stderr. The generator
 * functions below assume valid parameters (they abort on an unknown type). */
int uts_params_check(const uts_params *p);
/* Make OpenSSL's SHA-1 ready on this thread: 0, or -ENOMEM / -ENOSYS (no
 * SHA-1 in the loaded OpenSSL providers) with a message. Optional: the
 * generator does this itself on first use and aborts if it fails; call it
 * first to get an error code instead. */
int uts_hash_init(void);

/* The root: SHA-1(16 zero bytes || seed as 4-byte big-endian), depth 0. */
void uts_root(const uts_params *p, uts_node *out);
/* Number of children of n (pure function of p and n). */
int uts_num_children(const uts_params *p, const uts_node *n);
/* Child i of parent: SHA-1(parent state || i as 4-byte big-endian), depth + 1.
 * out may not alias parent. */
void uts_child(const uts_params *p, const uts_node *parent, int i, uts_node *out);
/* The node's random number: state bytes 16..19 big-endian & 0x7FFFFFFF. */
uint32_t uts_node_rand(const uts_node *n);

/* Depth-first count on the calling thread with an explicit stack (no
 * recursion; memory grows with depth * branching, ~100 KiB for T3).
 * 0, -EINVAL (bad params) or -ENOMEM; *out is filled only on success. */
int uts_count_sequential(const uts_params *p, uts_counts *out);

#ifdef __cplusplus
}
#endif
#endif
