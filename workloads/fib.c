/*
 * workloads/fib.c - naive recursive Fibonacci as fork-join tasks.
 *
 * fib(n) for n >= cutoff spawns fib(n-1) as a task and computes fib(n-2)
 * inline (variant "join", the default: rayon's join, the work-first shape),
 * or spawns both (variant "spawn2"); it then awaits the join handle(s) and
 * adds. Below the cutoff it computes sequentially.
 *
 * Inline recursion in a stackless coroutine needs a stack of frames: a
 * task keeps its inline chain fib(n) -> fib(n-2) -> fib(n-4) ... in a small
 * frame array inside its state (4 frames, enough for the chains of all but
 * the few tasks near the root) and moves to a heap array when the chain is
 * deeper. The result is checked against the closed iteration.
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

typedef struct fib_frame {
    int32_t n;
    int32_t phase;       /* 0: start, 1: inline child done / awaiting join */
    int64_t acc;         /* value of the inline part */
    weft_join_handle h;  /* the spawned fib(n-1) */
} fib_frame;

#define FIB_INLINE_FRAMES 4

typedef struct fib_state {
    int32_t n, cutoff;
    int32_t depth;            /* frames in use */
    int32_t cap;              /* frames available */
    int32_t spawn2;
    int32_t fault;
    fib_frame *frames;        /* = inline_frames, or a heap array */
    fib_frame inline_frames[FIB_INLINE_FRAMES];
    weft_join_handle h2;      /* spawn2: the spawned fib(n-2) */
    int64_t r1;
} fib_state;

static const weft_future_type fib_type;

static void fib_state_init(fib_state *s, int n, int cutoff, int spawn2)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->cutoff = cutoff;
    s->spawn2 = spawn2;
}

static int fib_spawn(weft_context *cx, const fib_state *parent, int n, weft_join_handle *h)
{
    fib_state child;
    fib_state_init(&child, n, parent->cutoff, parent->spawn2);
    child.fault = parent->fault;
    return weft_spawn(weft_context_runtime(cx), &fib_type, &child, h);
}

static bool fib_push(fib_state *s, int n)
{
    if (s->depth == s->cap) {
        int ncap = s->cap ? s->cap * 2 : FIB_INLINE_FRAMES;
        fib_frame *nf;
        if (s->cap == 0) {
            nf = s->inline_frames;
        } else {
            nf = malloc(sizeof(fib_frame) * (size_t)ncap);
            if (!nf) return false;
            memcpy(nf, s->frames, sizeof(fib_frame) * (size_t)s->cap);
            if (s->frames != s->inline_frames) free(s->frames);
        }
        s->frames = nf;
        s->cap = ncap;
    }
    fib_frame *f = &s->frames[s->depth++];
    f->n = n;
    f->phase = 0;
    f->acc = 0;
    f->h = WEFT_JOIN_HANDLE_INIT;
    return true;
}

/* The "join" variant: an explicit stack of inline frames. */
static weft_poll fib_join_poll(fib_state *s, weft_context *cx, int64_t *out)
{
    if (s->depth == 0 && !fib_push(s, s->n)) return WEFT_READY;
    int64_t ret = 0;
    bool have_ret = false;
    while (s->depth > 0) {
        fib_frame *f = &s->frames[s->depth - 1];
        if (f->phase == 0) {
            if (f->n < s->cutoff || f->n < 2) {
                ret = fib_seq(f->n);
                have_ret = true;
                s->depth--;
                continue;
            }
            if (fib_spawn(cx, s, f->n - 1, &f->h) < 0) f->h = WEFT_JOIN_HANDLE_INIT;
            f->phase = 1;
            if (!fib_push(s, f->n - 2)) return WEFT_READY;
            continue;
        }
        /* phase 1: the inline fib(n-2) just returned `ret` (first time), then await the join */
        if (have_ret) {
            f->acc = ret;
            have_ret = false;
        }
        int64_t r1 = 0;
        int rc = 0;
        if (f->h.task && weft_join_poll(&f->h, cx, &r1, &rc) == WEFT_PENDING) return WEFT_PENDING;
        /* a failed spawn or a cancelled child leaves r1 = 0: the result check catches it */
        ret = f->acc + r1;
        have_ret = true;
        s->depth--;
    }
    int64_t v = ret;
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
    if (s->depth == 0) {
        fib_spawn(cx, s, s->n - 1, &s->inline_frames[0].h);
        fib_spawn(cx, s, s->n - 2, &s->h2);
        s->depth = 1;
    }
    int rc;
    if (s->inline_frames[0].h.task) {
        if (weft_join_poll(&s->inline_frames[0].h, cx, &s->r1, &rc) == WEFT_PENDING) return WEFT_PENDING;
    }
    int64_t r2 = 0;
    if (s->h2.task && weft_join_poll(&s->h2, cx, &r2, &rc) == WEFT_PENDING) return WEFT_PENDING;
    *res = s->r1 + r2 - ((s->fault && s->n == 3) ? 1 : 0);
    return WEFT_READY;
}

static void fib_drop(void *p)
{
    fib_state *s = p;
    for (int i = 0; i < s->depth && s->frames; i++) weft_join_drop(&s->frames[i].h);
    if (s->spawn2) {
        weft_join_drop(&s->inline_frames[0].h);
        weft_join_drop(&s->h2);
    }
    if (s->frames && s->frames != s->inline_frames) free(s->frames);
    s->frames = NULL;
}

static const weft_future_type fib_type = {"fib", fib_poll, fib_drop, sizeof(fib_state), sizeof(int64_t)};

static const char *const fib_variants[] = {"join", "spawn2", NULL};

static int run_fib(weft_runtime *rt, const int64_t *params, const char *variant, weft_wl_result *out)
{
    int n = (int)params[0], cutoff = (int)params[1];
    bool spawn2 = variant && strcmp(variant, "spawn2") == 0;
    fib_state root;
    fib_state_init(&root, n, cutoff, spawn2);
    root.fault = weft_workload_fault_injection();
    int64_t result = -1;
    uint64_t t0 = clock_now_ns();
    int rc = weft_block_on(rt, &fib_type, &root, &result);
    out->elapsed_ns = clock_now_ns() - t0;
    if (rc < 0) return rc;
    /* units: the fib calls made as tasks or frames, i.e. the calls of the naive recursion */
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
