/*
 * workloads/service_model.h - a user's service described declaratively
 * (docs/service-model.md): the model, its JSON loader and validator, the
 * seeded draws, and the runner that executes it on a weft runtime.
 *
 * The model is immutable once loaded: a runner only reads it, so one model
 * may be run on many runtimes one after the other.
 *
 * Draws. Every random quantity comes from one 64-bit seed (recorded in the
 * result): request i draws from its own stream svc_request_seed(seed, i),
 * in step order, through svc_step_draw(); a fanout's k-th child draws from
 * svc_child_seed(base, k) where base is the fanout's own draw. The runner
 * and the replay (svc_replay: what the draws prescribe, without running
 * anything) call the same svc_step_draw, so the self-check compares the
 * execution against exactly the draws it was given, whatever order the
 * scheduler ran the tasks in.
 */
#ifndef WEFT_WORKLOADS_SERVICE_MODEL_H
#define WEFT_WORKLOADS_SERVICE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SVC_NAME_MAX 64           /* service name: [A-Za-z0-9_.-]{1,64} */
#define SVC_MAX_DEPTH 8           /* fanout nesting */
#define SVC_MAX_STEPS 1024        /* steps in the whole file */
#define SVC_MAX_REQUESTS 5000000  /* requests in one run (open: rate x duration) */
#define SVC_MAX_US 60000000.0     /* any drawn duration is clamped to 60 s */
#define SVC_MAX_FANOUT 1024
#define SVC_MAX_HOPS 64
#define SVC_MAX_TCP_BYTES 65536
#define SVC_MAX_TCP_CONNECTIONS 256

typedef enum svc_dist_kind {
    SVC_DIST_FIXED = 0,       /* value */
    SVC_DIST_UNIFORM = 1,     /* min, max */
    SVC_DIST_EXPONENTIAL = 2, /* mean */
    SVC_DIST_LOGNORMAL = 3,   /* median, p99 */
} svc_dist_kind;

typedef struct svc_dist {
    svc_dist_kind kind;
    double a, b;       /* as written, in us: value | min,max | mean | median,p99 */
    double mu, sigma;  /* lognormal: ln(median), ln(p99/median)/z(0.99) */
} svc_dist;

typedef enum svc_op {
    SVC_OP_COMPUTE = 0,
    SVC_OP_SLEEP,
    SVC_OP_FANOUT,
    SVC_OP_BLOCKING,
    SVC_OP_CHANNEL_HOPS,
    SVC_OP_TCP_ROUNDTRIP,
    SVC_OP_COUNT
} svc_op;

typedef struct svc_step svc_step;
typedef struct svc_seq {
    int n;
    svc_step *steps;
} svc_seq;

struct svc_step {
    svc_op op;
    double probability;  /* 0..1, default 1: the step runs when a uniform draw < p */
    svc_dist us;         /* compute, sleep, blocking */
    double timeout_us;   /* sleep: < 0 none; else the sleep is cut off by a weft timeout */
    int n;               /* fanout: children; channel_hops: hops */
    int capacity;        /* channel_hops: each channel's capacity */
    int bytes;           /* tcp_roundtrip */
    int chain;           /* channel_hops: index of its chain of hop tasks */
    svc_seq each;        /* fanout */
};

typedef enum svc_arrival { SVC_ARRIVAL_OPEN = 0, SVC_ARRIVAL_CLOSED = 1 } svc_arrival;

typedef struct svc_model {
    char name[SVC_NAME_MAX + 1];
    svc_arrival arrival;
    double rate_per_s, duration_s; /* open */
    long clients, requests;        /* closed */
    svc_seq request;
    const char *slo_field;         /* "p50_ms" | "p90_ms" | "p99_ms" | "p999_ms" */
    double slo_ms;                 /* the latency bound */
    double slo_quantile;           /* 0.5 | 0.9 | 0.99 | 0.999: the fraction that must meet it */
    bool has_seed;
    uint64_t seed;                 /* "seed" in the file, else the caller's */
    int tcp_connections;           /* pool size for tcp_roundtrip [8] */
    int max_tcp_bytes;             /* largest tcp_roundtrip */
    int nchains;                   /* channel_hops steps in the file */
    const svc_step **chains;       /* [nchains] */
    int nsteps;
} svc_model;

/* Parses and validates `text` (len bytes). `origin` names it in messages (a
 * path). 0 and *out, or -EINVAL with a message in err naming the field, what
 * is allowed and what was found; -ENOMEM. */
int svc_model_parse(const char *text, size_t len, const char *origin, svc_model **out,
                    char *err, size_t errlen);
/* Reads and parses a file: as svc_model_parse, or -errno when unreadable. */
int svc_model_load(const char *path, svc_model **out, char *err, size_t errlen);
void svc_model_free(svc_model *m);

const char *svc_op_name(svc_op op);
const char *svc_dist_name(svc_dist_kind k);

/* ---- draws ------------------------------------------------------------------ */
typedef struct svc_rng {
    uint64_t s;
} svc_rng;

/* splitmix64 (Steele, Lea, Flood 2014): a full-period 64-bit stream. */
static inline uint64_t svc_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline uint64_t svc_rng_next(svc_rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    return svc_mix64(r->s);
}
/* Uniform in [0, 1). */
static inline double svc_rng_unit(svc_rng *r)
{
    return (double)(svc_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}
static inline uint64_t svc_request_seed(uint64_t seed, uint64_t i)
{
    return svc_mix64(seed ^ svc_mix64(i + 0x51ed27ull));
}
static inline uint64_t svc_child_seed(uint64_t base, uint64_t k)
{
    return svc_mix64(base + svc_mix64(k + 1));
}

/* One draw from d in nanoseconds (clamped to [0, SVC_MAX_US]). */
uint64_t svc_dist_draw_ns(const svc_dist *d, svc_rng *r);

typedef struct svc_draw {
    bool taken;     /* the probability draw said run it */
    uint64_t ns;    /* compute, sleep, blocking: the drawn duration */
    uint64_t base;  /* fanout: the children's seed base */
} svc_draw;
/* Everything a step draws, in a fixed order: the probability (only when
 * p < 1), then its duration or child seed base (only when taken). */
void svc_step_draw(const svc_step *s, svc_rng *r, svc_draw *d);

/* What ran (or, from svc_replay, what the draws prescribe). */
typedef struct svc_tally {
    uint64_t ops[SVC_OP_COUNT]; /* steps run, by op (children's included) */
    uint64_t compute_ns;        /* drawn compute time */
    uint64_t sleep_ns;          /* drawn sleep time */
    uint64_t blocking_ns;       /* drawn blocking time */
    uint64_t hops;              /* channel hops */
    uint64_t tcp_bytes;         /* bytes echoed */
} svc_tally;
/* Adds to *t what sequence `q` run with stream seed `seed` prescribes. */
void svc_replay(const svc_seq *q, uint64_t seed, svc_tally *t);

/* ---- the runner ------------------------------------------------------------------ */
typedef struct svc_result {
    uint64_t seed;
    uint64_t requests;       /* requests started */
    uint64_t completed;      /* requests that completed (exactly once each, when ok) */
    double elapsed_s;        /* first intended start to last completion */
    double req_per_s;        /* completed / elapsed_s */
    /* latency: open arrival from each request's intended start time
     * (coordinated-omission corrected), closed arrival from its start */
    double p50_us, p99_us, p999_us, max_us, mean_us;
    /* service time: from the request task's first poll to its completion */
    double service_p50_us, service_p99_us;
    double slo_fraction;     /* requests with latency <= slo_ms */
    bool slo_met;            /* slo_fraction >= slo_quantile */
    svc_tally expected;      /* from the draws */
    svc_tally ran;           /* from the execution */
    uint64_t compute_measured_ns; /* CPU (long steps) + spun wall time (short steps) */
    uint64_t compute_cpu_ns; /* thread CPU time over compute steps >= SVC_CPU_MEASURE_NS */
    uint64_t compute_slack_ns; /* the measurement's resolution: < one spin interval per step */
    double compute_ratio;    /* compute_measured_ns / expected.compute_ns (1 if both 0) */
    uint64_t timeouts;       /* sleeps cut off by their timeout */
    uint64_t spawn_errors;
    uint64_t step_errors;
    uint64_t max_lateness_ns; /* open: the generator's worst lateness past an intended start */
    uint64_t generator_cpu_ns; /* open: the generator thread's CPU time (it is not a worker) */
    char error[512];         /* non-empty: a self-check failed (svc_run returned -EPROTO) */
} svc_result;

/* Compute steps at least this long have their thread CPU time measured
 * (reading the thread CPU clock is a system call: a small share of a step
 * this long, too much of a shorter one); shorter ones spin on the
 * monotonic clock. */
#define SVC_CPU_MEASURE_NS 100000ull

/* Runs the service once on rt with the given seed (the model's own seed, if
 * it has one, wins) and checks itself: 0, -EPROTO (out->error says which
 * check failed), or a negative errno (setup failed; out->error says why). */
int svc_run(const svc_model *m, weft_runtime *rt, uint64_t seed, svc_result *out);

/* The runner's own per-request cost (seeding, draws, bookkeeping, latency
 * recording) for model m, measured by running its request bookkeeping path
 * `iters` times without a runtime: nanoseconds of thread CPU time per
 * request (so preemption on a loaded machine does not count). Only meaningful
 * for a service whose steps are zero-length. */
double svc_bookkeeping_ns(const svc_model *m, long iters);

#ifdef __cplusplus
}
#endif
#endif
