/*
 * workloads/fib.c - naive recursive Fibonacci as fork-join tasks.
 *
 * fib(n) for n >= cutoff spawns fib(n-1) as a task and computes fib(n-2)
 * inline (variant "join", the default: rayon's join, the work-first shape),
 * or spawns both (variant "spawn2"); it then awaits the join handle(s) and
 * adds. Below the cutoff it computes sequentially.
 *
 * Inline recursion in a stackless coroutine needs the chain it would keep
 * on a stack: fib(n) -> fib(n-2) -> fib(n-4) ... each spawning its fib(m-1)
 * and joining it after the inline part returned. Unrolled, that is the
 * Rust peers' fib_join (bench/peers/rust/src/workloads.rs): a task spawns
 * fib(m-1) for m = n, n-2, ... while m >= cutoff, computes fib(m) of the
 * chain's end sequentially, then joins the children newest first and adds:
 * the same spawns, in the same order, joined in the same order, as the
 * recursive chain. The handles live in a small array inside the task's
 * state (4 handles, the peers' SmallVec, enough for every task below
 * fib(10)) and move to a heap array when the chain is longer. The result
 * is checked against the closed iteration.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "workloads/wl_internal.h"

static int64_t fib_seq(int n) { return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2); }

static int64_t fib_iter(int n)
{
    int64_t a = 0, b = 1;
    for (int i = 0; i < n; i++) {
        int64_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}

#define FIB_INLINE_HANDLES 4

typedef struct fib_state {
    int32_t n, cutoff;
    int32_t spawn2;
    int32_t fault;
    int32_t nh;               /* join: children spawned and not yet joined (joined from the last) */
    int32_t cap;              /* join: handles available at hs */
    int64_t acc;              /* join: fib(m) of the chain's end + the children joined;
                                 spawn2: the first child's result */
    weft_join_handle *hs;     /* NULL before the first poll; then inline_h or a heap array */
    weft_join_handle inline_h[FIB_INLINE_HANDLES]; /* spawn2: [0] fib(n-1), [1] fib(n-2) */
} fib_state;

static const weft_future_type fib_type;

static int fib_spawn(weft_context *cx, const fib_state *parent, int n, weft_join_handle *h)
{
    /* everything else zero: no handles, not started */
    fib_state child = {.n = n, .cutoff = parent->cutoff, .spawn2 = parent->spawn2, .fault = parent->fault};
    return weft_spawn(weft_context_runtime(cx), &fib_type, &child, h);
}

/* A free handle at hs[nh]: false when the array cannot grow. */
static bool fib_reserve(fib_state *s)
{
    if (s->nh < s->cap) return true;
    int ncap = s->cap * 2;
    weft_join_handle *nh = malloc(sizeof *nh * (size_t)ncap);
    if (!nh) return false;
    memcpy(nh, s->hs, sizeof *nh * (size_t)s->nh);
    if (s->hs != s->inline_h) free(s->hs);
    s->hs = nh;
    s->cap = ncap;
    return true;
}

/* The "join" variant. */
static weft_poll fib_join_poll(fib_state *s, weft_context *cx, int64_t *out)
{
    if (!s->hs) { /* first poll: spawn the chain's children, compute its end */
        s->hs = s->inline_h;
        s->cap = FIB_INLINE_HANDLES;
        int m = s->n;
        for (; m >= s->cutoff && m >= 2; m -= 2) {
            if (!fib_reserve(s)) {
                *out = -1; /* out of memory: the result check fails; fib_drop drops the children */
                return WEFT_READY;
            }
            /* a failed spawn leaves its child's value out: the result check catches it */
            if (fib_spawn(cx, s, m - 1, &s->hs[s->nh]) == 0) s->nh++;
        }
        s->acc = fib_seq(m);
    }
    while (s->nh > 0) {
        int64_t r = 0;
        int rc = 0;
        if (weft_join_poll(&s->hs[s->nh - 1], cx, &r, &rc) == WEFT_PENDING) return WEFT_PENDING;
        s->acc += r; /* a cancelled child leaves r = 0: the result check catches it */
        s->nh--;
    }
    int64_t v = s->acc;
    if (s->fault && s->n == 3) v -= 1; /* one unit of work lost */
    *out = v;
    return WEFT_READY;
}

static weft_poll fib_poll(void *p, weft_context *cx, void *out)
{
    fib_state *s = p;
    int64_t *res = out;
    if (!s->spawn2) return fib_join_poll(s, cx, res);
    /* spawn2: both children are tasks */
    if (s->n < s->cutoff || s->n < 2) {
        *res = fib_seq(s->n);
        return WEFT_READY;
    }
    if (!s->hs) {
        s->hs = s->inline_h;
        fib_spawn(cx, s, s->n - 1, &s->inline_h[0]);
        fib_spawn(cx, s, s->n - 2, &s->inline_h[1]);
    }
    int rc;
    if (s->inline_h[0].task) {
        if (weft_join_poll(&s->inline_h[0], cx, &s->acc, &rc) == WEFT_PENDING) return WEFT_PENDING;
    }
    int64_t r2 = 0;
    if (s->inline_h[1].task && weft_join_poll(&s->inline_h[1], cx, &r2, &rc) == WEFT_PENDING) return WEFT_PENDING;
    *res = s->acc + r2 - ((s->fault && s->n == 3) ? 1 : 0);
    return WEFT_READY;
}

static void fib_drop(void *p)
{
    fib_state *s = p;
    if (s->spawn2) {
        weft_join_drop(&s->inline_h[0]);
        weft_join_drop(&s->inline_h[1]);
        return;
    }
    for (int i = 0; i < s->nh; i++) weft_join_drop(&s->hs[i]);
    if (s->hs && s->hs != s->inline_h) free(s->hs);
    s->hs = NULL;
    s->nh = 0;
}

static const weft_future_type fib_type = {"fib", fib_poll, fib_drop, sizeof(fib_state), sizeof(int64_t)};

static const char *const fib_variants[] = {"join", "spawn2", NULL};

static int run_fib(weft_runtime *rt, const int64_t *params, const char *variant, weft_wl_result *out)
{
    int n = (int)params[0], cutoff = (int)params[1];
    bool spawn2 = variant && strcmp(variant, "spawn2") == 0;
    fib_state root = {.n = n, .cutoff = cutoff, .spawn2 = spawn2, .fault = weft_workload_fault_injection()};
    int64_t result = -1;
    uint64_t t0 = clock_now_ns();
    int rc = weft_block_on(rt, &fib_type, &root, &result);
    out->elapsed_ns = clock_now_ns() - t0;
    if (rc < 0) return rc;
    /* units: the calls of the naive recursion, made as tasks or inline; the spawned
     * tasks are about half of them (fib(n + 1) - 1 at cutoff 2) */
    out->units = (double)(2 * fib_iter(n + 1) - 1);
    wl_check(out, "result", (double)result);
    WL_EXPECT_EQ(out, "fib result", result, fib_iter(n));
    return 0;
}

const weft_workload wl_fib = {
    .name = "fib",
    .description = "naive recursive Fibonacci, fib(n-1) spawned as a task, fib(n-2) inline or spawned",
    .unit_name = "call",
    .kind = "fork-join",
    .nparams = 2,
    .params = {{"n", "fib(n)", {20, 25, 35}, 0, 60},
               {"cutoff", "below this n, compute sequentially", {2, 2, 2}, 2, 60}},
    .variants = fib_variants,
    .standard_variants = fib_variants,
    .run = run_fib,
    .iterations = {1, 1, 1},
    .rank_metric = "ns_per_unit",
    .rank_better = "lower",
    .standard_trim = "n = 25, not 30 (full: 35): fib(30) took 0.3-2.1 s per iteration here (Tokio current_thread ~2 s), 62 s of the 10-minute budget at 9 samples; fib(25) is 11x less work with the same shape",
};
