/* workloads/uts_tree.c - Unbalanced Tree Search generator (Olivier et al., LCPC 2006).
 *
 * The problem
 * -----------
 * A scheduler benchmark needs irregular parallelism whose total work is known
 * in advance: a tree whose subtrees differ wildly in size, that no thread can
 * partition up front, and whose node count checks the traversal exactly. UTS
 * gives exactly that. Each node carries a 20-byte SHA-1 state; the state of
 * child i is SHA-1(parent || i), so the tree is implicit, deterministic, and
 * any node can be expanded anywhere without shared state. A node's child count
 * is drawn from its own state, which makes subtree sizes unpredictable
 * (binomial trees are a critical Galton-Watson process, q*m close to 1).
 *
 * Faithfulness to the reference
 * -----------------------------
 * The rules below were checked line by line against the reference release
 * (uts.c, rng/brg_sha1.c; see NOTES.md), because a single byte-order or
 * rounding difference gives a different tree, and the published counts only
 * match bit-exact generators:
 *   rng_init:   SHA-1 over 20 bytes: 16 zeros, then seed >> 24, >> 16, >> 8, >> 0.
 *   rng_spawn:  SHA-1 over the parent's 20 bytes, then i >> 24, >> 16, >> 8, >> 0.
 *   rng_rand:   (s[16] << 24 | s[17] << 16 | s[18] << 8 | s[19]) & 0x7FFFFFFF.
 *   rng_toProb: rand / 2147483648.0 (a double in [0, 1)).
 *   geometric:  b_i by shape (depth 0 always b0); p = 1 / (1 + b_i);
 *               n = (int)floor(log(1 - u) / log(1 - p)), all in double.
 *               FIXED: b_i = depth < gen_mx ? b0 : 0 (p = 1, log(0) = -inf, n = 0).
 *               LINEAR: b0 * (1 - depth / gen_mx). EXPDEC: b0 * depth^(-ln b0 /
 *               ln gen_mx). CYCLIC: depth > 5 gen_mx ? 0 : b0^sin(2 pi depth / gen_mx).
 *   binomial:   root: floor(b0) children (capped at ceil(b0), a no-op);
 *               others: u < q ? m : 0.
 *   cap:        at most 100 children, except a binomial root.
 *   child depth = parent depth + 1; computeGranularity = 1 (one hash per child).
 * The reference casts to int before capping; we cap the double first, which is
 * the same for every count that fits an int and defined for those that don't.
 * A negative b_i (LINEAR below gen_mx cannot produce one; a caller's odd
 * parameters could) gives 0 children instead of the reference's undefined
 * (int)NaN. The whole computation is IEEE double with glibc's log/pow/sin, as
 * the reference on Linux; -ffast-math would break it.
 *
 * Hashing: OpenSSL 3 EVP, made cheap
 * ----------------------------------
 * SHA1() is deprecated in OpenSSL 3. EVP_Digest(..., EVP_sha1(), ...) works but
 * costs several times the hash itself for a 24-byte message, because it
 * allocates a context and looks the algorithm up through the provider
 * machinery on every call. We fetch the EVP_MD once (EVP_MD_fetch,
 * pthread_once) and keep one EVP_MD_CTX per thread, re-initialised with
 * EVP_DigestInit_ex2 per node: the cheapest of the variants tried with one
 * context (EVP_Digest with the fetched MD still allocates per call; a
 * context copy is as cheap but needs two contexts). The per-thread
 * context lives in a _Thread_local pointer for speed and is also registered
 * with a pthread key, whose destructor frees it when the thread exits.
 * Rejected: a hand-written SHA-1 (faster, but a second implementation to trust
 * and the brief asks for libcrypto); a context argument on uts_child (every
 * workload would have to thread it through its futures).
 *
 * The sequential count
 * --------------------
 * T3 is 1,572 levels deep, so recursion is replaced by an explicit stack of
 * nodes (a growable array). Pop a node, count it, push its children. The stack
 * holds at most sum over the current path of (children - 1) + 1 nodes: about
 * 8 per level for T3, 100 per level at worst for geometric trees.
 */
#include "workloads/uts_tree.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* ---- presets -------------------------------------------------------------------- */

struct uts_preset_entry {
    uts_params params;
    int published;      /* counts come from the reference's sample_trees.sh */
    uts_counts counts;
};

/* Quick trees: the same generator with 10^4..10^5 nodes for unit tests and
 * smoke runs. Their counts were produced by this generator after it matched
 * all seven published trees (T1, T2, T3, T5, T1L, T2L, T3L).
 *   T1-quick: T1 cut at depth 7 (T1's nodes above depth 7 are the same).
 *   T3-quick: T3's binomial rule with 200 root children and seed 23, chosen
 *     among seeds 0..40 for its size and depth: 45,065 nodes but 252 levels,
 *     so it is as lopsided as T3 (seed 42 with b0 <= 120 stays under 7,000
 *     nodes, and with b0 >= 150 already holds T3's 2.4M-node giant subtree). */
static const struct uts_preset_entry uts_presets[] = {
    {{UTS_GEO, UTS_SHAPE_FIXED, 4.0, 10, 0.0, 0, 19, "T1"}, 1, {4130071, 3305118, 10}},
    {{UTS_GEO, UTS_SHAPE_CYCLIC, 6.0, 16, 0.0, 0, 502, "T2"}, 1, {4117769, 2342762, 81}},
    {{UTS_BIN, 0, 2000.0, 0, 0.124875, 8, 42, "T3"}, 1, {4112897, 3599034, 1572}},
    {{UTS_GEO, UTS_SHAPE_LINEAR, 4.0, 20, 0.0, 0, 34, "T5"}, 1, {4147582, 2181318, 20}},
    {{UTS_GEO, UTS_SHAPE_FIXED, 4.0, 13, 0.0, 0, 29, "T1L"}, 1, {102181082, 81746377, 13}},
    {{UTS_GEO, UTS_SHAPE_CYCLIC, 7.0, 23, 0.0, 0, 220, "T2L"}, 1, {96793510, 53791152, 67}},
    {{UTS_BIN, 0, 2000.0, 0, 0.200014, 5, 7, "T3L"}, 1, {111345631, 89076904, 17844}},
    {{UTS_GEO, UTS_SHAPE_FIXED, 4.0, 7, 0.0, 0, 19, "T1-quick"}, 0, {63914, 51124, 7}},
    {{UTS_BIN, 0, 200.0, 0, 0.124875, 8, 23, "T3-quick"}, 0, {45065, 39456, 252}},
};
#define UTS_N_PRESETS (sizeof uts_presets / sizeof uts_presets[0])

const char *const uts_preset_names[] = {"T1",  "T2",  "T3",       "T5",       "T1L",
                                        "T2L", "T3L", "T1-quick", "T3-quick", NULL};
_Static_assert(sizeof uts_preset_names / sizeof uts_preset_names[0] == UTS_N_PRESETS + 1,
               "uts_preset_names must list every preset");

static const struct uts_preset_entry *uts_find_preset(const char *name, const char *caller)
{
    if (name)
        for (size_t i = 0; i < UTS_N_PRESETS; i++)
            if (strcmp(uts_presets[i].params.name, name) == 0)
                return &uts_presets[i];
    fprintf(stderr, "%s: unknown UTS tree '%s'; valid names:", caller, name ? name : "(null)");
    for (size_t i = 0; i < UTS_N_PRESETS; i++)
        fprintf(stderr, " %s", uts_presets[i].params.name);
    fprintf(stderr, "\n");
    return NULL;
}

int uts_preset(const char *name, uts_params *out)
{
    const struct uts_preset_entry *e = uts_find_preset(name, "uts_preset");
    if (!e)
        return -EINVAL;
    *out = e->params;
    return 0;
}

int uts_published_counts(const char *name, uts_counts *out)
{
    const struct uts_preset_entry *e = uts_find_preset(name, "uts_published_counts");
    if (!e)
        return -EINVAL;
    if (!e->published)
        return -ENOENT;
    *out = e->counts;
    return 0;
}

int uts_expected_counts(const char *name, uts_counts *out)
{
    const struct uts_preset_entry *e = uts_find_preset(name, "uts_expected_counts");
    if (!e)
        return -EINVAL;
    *out = e->counts;
    return 0;
}

int uts_params_check(const uts_params *p)
{
    const char *why = NULL;
    if (!p)
        why = "no parameters (NULL)";
    else if (p->type != UTS_GEO && p->type != UTS_BIN)
        why = "type must be UTS_GEO (1) or UTS_BIN (0); hybrid and balanced are not supported";
    else if (!(p->b0 >= 0.0) || p->b0 > 1e9)
        why = "b0 must be in [0, 1e9]";
    else if (p->type == UTS_GEO && (p->shape < UTS_SHAPE_LINEAR || p->shape > UTS_SHAPE_FIXED))
        why = "shape must be UTS_SHAPE_LINEAR/EXPDEC/CYCLIC/FIXED (0..3)";
    else if (p->type == UTS_GEO && p->gen_mx < 1)
        why = "gen_mx must be >= 1 for a geometric tree";
    else if (p->type == UTS_BIN && !(p->q >= 0.0 && p->q <= 1.0))
        why = "q must be in [0, 1]";
    else if (p->type == UTS_BIN && (p->m < 0 || p->m > UTS_MAX_CHILDREN))
        why = "m must be in [0, 100]";
    if (why) {
        fprintf(stderr, "uts_params_check(%s): %s\n", p && p->name ? p->name : "custom", why);
        return -EINVAL;
    }
    return 0;
}

/* ---- SHA-1 through OpenSSL ---------------------------------------------------------- */

static pthread_once_t uts_once = PTHREAD_ONCE_INIT;
static EVP_MD *uts_md;         /* written once under uts_once, read-only after */
static pthread_key_t uts_key;  /* destructor frees a thread's context */
static int uts_once_err;       /* 0, or the negative errno of the failed setup */
static _Thread_local EVP_MD_CTX *uts_tls_ctx;

static void uts_ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
    uts_tls_ctx = NULL; /* runs on the exiting thread itself */
}

static void uts_once_init(void)
{
    if (pthread_key_create(&uts_key, uts_ctx_free) != 0) {
        uts_once_err = -ENOMEM;
        return;
    }
    uts_md = EVP_MD_fetch(NULL, "SHA1", NULL);
    if (!uts_md)
        uts_once_err = -ENOSYS;
}

int uts_hash_init(void)
{
    pthread_once(&uts_once, uts_once_init); /* its own synchronisation */
    if (uts_once_err) {
        fprintf(stderr, "uts: %s\n",
                uts_once_err == -ENOSYS ? "OpenSSL has no SHA-1 (EVP_MD_fetch failed)"
                                        : "pthread_key_create failed");
        return uts_once_err;
    }
    if (uts_tls_ctx)
        return 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) {
        fprintf(stderr, "uts: EVP_MD_CTX_new failed\n");
        return -ENOMEM;
    }
    if (pthread_setspecific(uts_key, ctx) != 0) {
        EVP_MD_CTX_free(ctx);
        fprintf(stderr, "uts: pthread_setspecific failed\n");
        return -ENOMEM;
    }
    uts_tls_ctx = ctx;
    return 0;
}

/* Always-on check: the generator's void functions cannot report errors, and a
 * tree computed with a broken hash would silently be another tree. */
static void uts_die(const char *what)
{
    fprintf(stderr, "uts: fatal: %s\n", what);
    abort();
}

/* SHA-1 of 20 or 24 bytes into out[20]. */
static void uts_sha1(const uint8_t *msg, size_t len, uint8_t out[20])
{
    EVP_MD_CTX *ctx = uts_tls_ctx;
    if (!ctx) {
        if (uts_hash_init() != 0)
            uts_die("cannot set up SHA-1");
        ctx = uts_tls_ctx;
    }
    unsigned int outlen = 0;
    if (!EVP_DigestInit_ex2(ctx, uts_md, NULL) || !EVP_DigestUpdate(ctx, msg, len) ||
        !EVP_DigestFinal_ex(ctx, out, &outlen) || outlen != 20)
        uts_die("EVP SHA-1 failed");
}

static void uts_put_be32(uint8_t *b, uint32_t x)
{
    b[0] = (uint8_t)(x >> 24);
    b[1] = (uint8_t)(x >> 16);
    b[2] = (uint8_t)(x >> 8);
    b[3] = (uint8_t)x;
}

/* ---- the generator ------------------------------------------------------------------ */

void uts_root(const uts_params *p, uts_node *out)
{
    uint8_t msg[20] = {0};
    uts_put_be32(msg + 16, (uint32_t)p->seed); /* same bytes as the reference's
                                                  0xFF & (seed >> k) for any int */
    uts_sha1(msg, sizeof msg, out->state);
    out->depth = 0;
}

void uts_child(const uts_params *p, const uts_node *parent, int i, uts_node *out)
{
    (void)p; /* computeGranularity = 1: the parameters do not enter the hash */
    uint8_t msg[24];
    memcpy(msg, parent->state, 20);
    uts_put_be32(msg + 20, (uint32_t)i);
    uts_sha1(msg, sizeof msg, out->state);
    out->depth = parent->depth + 1;
}

uint32_t uts_node_rand(const uts_node *n)
{
    const uint8_t *s = n->state;
    uint32_t b = (uint32_t)s[16] << 24 | (uint32_t)s[17] << 16 | (uint32_t)s[18] << 8 | s[19];
    return b & 0x7FFFFFFFu;
}

static double uts_to_prob(uint32_t r)
{
    return (double)r / 2147483648.0;
}

static int uts_num_children_geo(const uts_params *p, int depth, uint32_t r)
{
    double b_i = p->b0;
    if (depth > 0) {
        switch (p->shape) {
        case UTS_SHAPE_EXPDEC:
            b_i = p->b0 * pow((double)depth, -log(p->b0) / log((double)p->gen_mx));
            break;
        case UTS_SHAPE_CYCLIC:
            if (depth > 5 * p->gen_mx)
                b_i = 0.0;
            else
                b_i = pow(p->b0, sin(2.0 * 3.141592653589793 * (double)depth / (double)p->gen_mx));
            break;
        case UTS_SHAPE_FIXED:
            b_i = depth < p->gen_mx ? p->b0 : 0.0;
            break;
        case UTS_SHAPE_LINEAR:
        default:
            b_i = p->b0 * (1.0 - (double)depth / (double)p->gen_mx);
            break;
        }
    }
    if (!(b_i > 0.0)) /* b_i = 0: p = 1, the reference computes floor(x / -inf) = 0 */
        return 0;
    double prob = 1.0 / (1.0 + b_i);
    double u = uts_to_prob(r);
    double n = floor(log(1.0 - u) / log(1.0 - prob));
    return n > UTS_MAX_CHILDREN ? UTS_MAX_CHILDREN : (int)n;
}

int uts_num_children(const uts_params *p, const uts_node *n)
{
    if (p->type == UTS_GEO)
        return uts_num_children_geo(p, n->depth, uts_node_rand(n));
    if (p->type != UTS_BIN)
        uts_die("unknown tree type (run uts_params_check first)");
    if (n->depth == 0) /* floor(b0), capped at ceil(b0): floor(b0) */
        return (int)floor(p->b0);
    int k = uts_to_prob(uts_node_rand(n)) < p->q ? p->m : 0;
    return k > UTS_MAX_CHILDREN ? UTS_MAX_CHILDREN : k;
}

/* ---- sequential count ------------------------------------------------------------- */

int uts_count_sequential(const uts_params *p, uts_counts *out)
{
    int err = uts_params_check(p);
    if (err)
        return err;
    err = uts_hash_init();
    if (err)
        return err;

    size_t cap = 4096, top = 0;
    uts_node *stack = malloc(cap * sizeof *stack);
    if (!stack)
        return -ENOMEM;
    uts_counts c = {0, 0, 0};
    uts_root(p, &stack[top++]);
    while (top > 0) {
        uts_node n = stack[--top]; /* copy: children overwrite this slot */
        c.nodes++;
        if ((uint64_t)n.depth > c.max_depth)
            c.max_depth = (uint64_t)n.depth;
        int k = uts_num_children(p, &n);
        if (k == 0) {
            c.leaves++;
            continue;
        }
        if (cap - top < (size_t)k) {
            size_t ncap = cap * 2 + (size_t)k;
            uts_node *ns = realloc(stack, ncap * sizeof *ns);
            if (!ns) {
                free(stack);
                return -ENOMEM;
            }
            stack = ns;
            cap = ncap;
        }
        for (int i = 0; i < k; i++)
            uts_child(p, &n, i, &stack[top++]);
    }
    free(stack);
    *out = c;
    return 0;
}
