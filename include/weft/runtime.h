/*
 * weft/runtime.h - runtimes, spawning, joining, blocking work, counters.
 *
 * Error convention (every public call): 0 or a non-negative value on
 * success, a negative errno on failure. A failure caused by bad input also
 * leaves a message a person can act on in weft_last_error() (per thread).
 */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/future.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_MAX_WORKERS 256
#define WEFT_MAX_BUDGET 1000000

/* ---- configuration ---------------------------------------------------------
 * Every knob of every scheduler lives here so that a result can record the
 * whole configuration. weft_config_default() gives the defaults below;
 * weft_config_set() sets one knob by name (the driver's --knob NAME=VALUE);
 * weft_config_from_env() reads WEFT_SCHEDULER, WEFT_WORKERS, WEFT_TOPOLOGY,
 * WEFT_PIN and WEFT_KNOBS ("name=value,name=value"); string knobs set from
 * WEFT_KNOBS point into one static buffer that the next call overwrites
 * (weft_runtime_new copies them), and the call is not thread-safe.
 * A config only holds pointers: weft_runtime_new copies what it keeps. */
typedef struct weft_config {
    const char *scheduler;      /* "fifo" | "global" | "ws" | "numa"          [fifo] */
    int workers;                /* 1..WEFT_MAX_WORKERS; fifo needs exactly 1     [1] */
    int budget;                 /* leaf polls per turn, 1..WEFT_MAX_BUDGET or -1 (off) [128] */
    int local_queue_capacity;   /* ws/numa deque initial capacity, power of 2  [256] */
    int lifo_slot;              /* 0/1: run the task last woken by a task next   [1] */
    int lifo_cap;               /* consecutive LIFO-slot runs before the queue   [3] */
    int global_interval;        /* check the shared/inject queue every K ticks  [61] */
    int steal_batch;            /* 0: steal half the victim's queue, 1: one task [0] */
    int steal_pay_ns;           /* ws, numa: a steal must keep the thief busy this long per
                                   task it moved, else the thief holds off (ws.c, point 9);
                                   0: off                                     [300] */
    int steal_max;              /* ws, numa: most tasks one steal moves (half the victim's
                                   queue, at most this many; Tokio's and Go's bound) [128] */
    int split_deque;            /* ws, numa with 2+ workers: a worker's newest tasks stay in a
                                   private part, popped with no fence, until a thief asks
                                   for them (schedulers/ws.c, point 10); 0: off   [1] */
    int global_batch;           /* global: most tasks a worker takes per lock hold, and
                                   its own pushes kept private between takes; 0: auto
                                   (all with one worker, else 1 holding each worker's
                                   newest push: global.c; 1: the pure shared queue) [0] */
    int max_searching;          /* workers searching at once, 0: half of them    [0] */
    int spin_before_park;       /* empty steal rounds before parking             [0] */
    int idle_spin_us;           /* a worker out of work spins this long, counted as
                                   searching, before it parks; 0: off             [0] */
    int block_on_handoff;       /* 2: a weft_block_on caller runs the loop of a worker
                                   whose thread sleeps, at any worker count; 1: only on a
                                   one-worker runtime; 0: off (schedulers/park.c, "The
                                   core hand-off")                                 [2] */
    int reactor_thread;         /* 0: a parked worker drives IO+timers, 1: a dedicated thread [0] */
    int sched_latency;          /* 0/1: record wake-to-poll latency (costs clock reads) [0] */
    int numa_backoff_us;        /* numa: wait before stealing across nodes       [0] */
    int blocking_max_threads;   /* spawn_blocking pool size                    [512] */
    int blocking_keepalive_ms;  /* idle pool thread lifetime                 [10000] */
    int blocking_nice;          /* nice value of pool threads, 0..19: CPU-bound jobs yield
                                   the CPU to the async workers                  [10] */
    int timer_tick_us;          /* timer wheel tick                           [1000] */
    int timer_shards;           /* timer wheels: 1, or one per shard of workers (0: one
                                   per worker); arm/cancel lock only their shard's wheel [0] */
    int reactor_events;         /* epoll events per wait                      [1024] */
    const char *topology;       /* NULL or "": this machine; a synthetic string
                                   ("pack:2 numa:2 core:4 pu:1"); or an XML path */
    const char *pin;            /* "none" | "compact" | "scatter"            [none] */
} weft_config;

void weft_config_default(weft_config *cfg);
int weft_config_set(weft_config *cfg, const char *name, const char *value);
int weft_config_from_env(weft_config *cfg);
int weft_config_validate(const weft_config *cfg);
/* "scheduler=ws workers=2 budget=128 ..." into buf; returns the length it needs. */
int weft_config_describe(const weft_config *cfg, char *buf, size_t len);
/* Names of every knob weft_config_set accepts, NULL-terminated. */
const char *const *weft_config_knob_names(void);

/* The last error message of a failed call on this thread ("" if none). */
const char *weft_last_error(void);

/* ---- schedulers ------------------------------------------------------------ */
int weft_scheduler_count(void);
const char *weft_scheduler_name(int i);      /* NULL past the end */
const char *weft_scheduler_describe(int i);

/* ---- runtimes --------------------------------------------------------------
 * A multi-threaded scheduler starts its workers in weft_runtime_new. fifo
 * has no thread of its own: tasks run on the thread inside weft_block_on. */
int weft_runtime_new(const weft_config *cfg, weft_runtime **out);
/* Cancels every pending task (their drop functions run), joins every thread
 * (blocking-pool jobs already running are waited for), frees everything.
 * On a fifo runtime it first waits for a weft_block_on in flight on another
 * thread (which then returns -ESHUTDOWN). NULL is a no-op. Calling it from
 * inside one of rt's own tasks (or a drop function running on rt's
 * worker) would wait for itself: it aborts the program with a message on
 * stderr instead of hanging. Free a runtime from outside it. */
void weft_runtime_free(weft_runtime *rt);
const weft_config *weft_runtime_config(const weft_runtime *rt);

/* Runs `type` to completion on `rt` from a thread outside the runtime and
 * copies its output to `out` (may be NULL). 0, or a negative errno:
 * -EINVAL bad arguments, -EDEADLK called from one of rt's own workers,
 * -ESHUTDOWN runtime shutting down, -ECANCELED the task was aborted. */
int weft_block_on(weft_runtime *rt, const weft_future_type *type, const void *init, void *out);

/* The runtime the calling thread is a worker of, or NULL. */
weft_runtime *weft_runtime_current(void);

/* ---- tasks and join handles ------------------------------------------------ */
typedef struct weft_join_handle {
    WEFT_JOIN_HANDLE_PRIVATE_FIELDS
} weft_join_handle;

#define WEFT_JOIN_HANDLE_INIT ((weft_join_handle){NULL})

/* Spawns a task. From a worker of `rt` the task is queued locally; from any
 * other thread it goes through the injection path. `handle` NULL detaches. */
int weft_spawn(weft_runtime *rt, const weft_future_type *type, const void *init,
               weft_join_handle *handle);

/* Awaits the task's output from inside a task. READY once the task finished
 * or was cancelled; *result is then 0 (output copied to `out`, may be NULL),
 * -ECANCELED (aborted or dropped by shutdown), or -EINVAL (handle already
 * joined or detached). Then the handle is empty. Under ws and numa, a task
 * that has not started yet and still waits in the calling worker's own
 * queue (its LIFO slot or deque bottom) is polled right here, inside this
 * call, with its own context, instead of later by the worker loop. */
weft_poll weft_join_poll(weft_join_handle *h, weft_context *cx, void *out, int *result);

/* Blocks a plain thread until the task finishes: 0, -ECANCELED, -EINVAL
 * (empty handle), -EDEADLK (called from a worker thread of the task's runtime). */
int weft_join_wait(weft_join_handle *h, void *out);

/* True once the task has completed or been cancelled. */
bool weft_join_is_finished(const weft_join_handle *h);

/* True when the handle refers to no task: WEFT_JOIN_HANDLE_INIT, or after a
 * READY join, a join_wait, a detach, or a failed spawn. NULL: true. */
static inline bool weft_join_is_empty(const weft_join_handle *h)
{
    return h == NULL || h->task == NULL;
}

/* Drops the handle; the task runs on. Empty handle: no-op. */
void weft_join_drop(weft_join_handle *h);

/* Requests cancellation: the task's state is dropped at its next scheduling
 * point and its joiner sees -ECANCELED. The handle stays valid for a join.
 * 0, -EALREADY (already completed), -EINVAL (empty handle), -EBUSY (a
 * spawn_blocking job that is running: it cannot be stopped, runs to the end
 * and its output stands). */
int weft_join_abort(weft_join_handle *h);

/* ---- blocking work ---------------------------------------------------------
 * Runs fn(arg) on the blocking pool (up to blocking_max_threads threads,
 * idle ones exit after blocking_keepalive_ms). The join handle's output is
 * fn's void * return value. */
typedef void *(*weft_blocking_fn)(void *arg);
int weft_spawn_blocking(weft_runtime *rt, weft_blocking_fn fn, void *arg, weft_join_handle *handle);
/* The same, and from the call on `arg` belongs to the job: arg_drop(arg)
 * (may be NULL) runs exactly once, on a pool thread after fn returned, or
 * instead of fn when the queued job is cancelled (weft_join_abort, shutdown),
 * or before a failed call returns (-EINVAL, -ESHUTDOWN, -ENOMEM, ...). */
typedef void (*weft_blocking_drop_fn)(void *arg);
int weft_spawn_blocking_ex(weft_runtime *rt, weft_blocking_fn fn, void *arg,
                           weft_blocking_drop_fn arg_drop, weft_join_handle *handle);

/* ---- the default runtime ---------------------------------------------------
 * Created on first use from weft_config_from_env(); freed by
 * weft_default_runtime_free() (registered with atexit on creation). */
weft_runtime *weft_default_runtime(void);
int weft_run(const weft_future_type *type, const void *init, void *out);
int weft_spawn_default(const weft_future_type *type, const void *init, weft_join_handle *handle);
void weft_default_runtime_free(void);

/* ---- #[tokio::main] for C ----------------------------------------------------
 * WEFT_MAIN(poll_fn, state_type): the state type must have `int coro; int
 * argc; char **argv;` fields; poll_fn writes an int exit code. The runtime
 * comes from the environment (WEFT_SCHEDULER, WEFT_WORKERS, WEFT_KNOBS, ...,
 * as weft_config_from_env) and is freed before main returns.
 * WEFT_MAIN_WITH_DROP(poll_fn, drop_fn, state_type) also gives the main
 * future a drop function (weft_future_type.drop: it runs once, after the
 * future completed or when it is dropped unfinished) to release what its
 * state holds: sleeps, sockets, channels, tokens. */
int weft_main_run(const weft_future_type *type, void *init, size_t argc_off, size_t argv_off,
                  int argc, char **argv);
#define WEFT_MAIN_WITH_DROP(poll_fn, drop_fn, state_type)                                  \
    int main(int argc, char **argv)                                                        \
    {                                                                                      \
        static const weft_future_type weft_main_type = {"main", poll_fn, drop_fn,          \
                                                        sizeof(state_type), sizeof(int)};  \
        state_type weft_main_state = {0};                                                  \
        return weft_main_run(&weft_main_type, &weft_main_state, offsetof(state_type, argc), \
                             offsetof(state_type, argv), argc, argv);                      \
    }
#define WEFT_MAIN(poll_fn, state_type) WEFT_MAIN_WITH_DROP(poll_fn, NULL, state_type)

/* ---- counters --------------------------------------------------------------
 * Per worker, written only by their worker, readable at any time. */
typedef struct weft_worker_stats {
    uint64_t polls;            /* task polls */
    uint64_t spawns;           /* tasks spawned from this worker */
    uint64_t local_wakes;      /* wakes issued on this worker for this runtime */
    uint64_t remote_wakes;     /* wakes issued from threads outside the runtime (kept in
                                  the runtime's external slot: part of the total only) */
    uint64_t parks;            /* times the worker went to sleep */
    uint64_t unparks;          /* times it was woken */
    uint64_t spurious_unparks; /* woken and found nothing to do */
    uint64_t steal_attempts;   /* victims tried */
    uint64_t steals;           /* successful steal operations */
    uint64_t tasks_stolen;     /* tasks moved by them */
    uint64_t local_steals;     /* successful steals inside the NUMA node */
    uint64_t remote_steals;    /* successful steals across nodes */
    uint64_t inject_pops;      /* tasks taken from a shared/injection queue */
    uint64_t lifo_hits;        /* tasks run from the LIFO slot */
    uint64_t overflow_moves;   /* tasks moved out of a full local queue */
    uint64_t queue_hwm;        /* local queue high-water mark */
} weft_worker_stats;

typedef struct weft_stat_field {
    const char *name; /* the counter's name in reports, e.g. "steal_attempts" */
    size_t offset;    /* offsetof(weft_worker_stats, ...) */
    bool is_max;      /* aggregated by max (queue_hwm) instead of sum */
} weft_stat_field;
extern const weft_stat_field weft_stat_fields[];
extern const int weft_stat_field_count;

/* Copies up to `max` workers' counters to per_worker (may be NULL) and their
 * aggregate to total (may be NULL). Returns the worker count. */
int weft_runtime_stats(weft_runtime *rt, weft_worker_stats *per_worker, int max,
                       weft_worker_stats *total);
void weft_runtime_stats_reset(weft_runtime *rt);

/* Schedule latency (wake to next poll), only when cfg.sched_latency = 1.
 * Fills p50/p99/max in nanoseconds and the sample count; -ENOTSUP if off. */
int weft_runtime_sched_latency(weft_runtime *rt, uint64_t *p50, uint64_t *p99, uint64_t *max,
                               uint64_t *count);

/* Worker -> PU -> core -> NUMA node map and pinning outcome, printable. */
int weft_runtime_describe_placement(weft_runtime *rt, char *buf, size_t len);

/* ---- build information -------------------------------------------------------- */
const char *weft_build_allocator(void); /* "jemalloc" or "system" */
const char *weft_build_info(void);      /* allocator, compiler, flags, build type, version */
const char *weft_version(void);

/* ---- time ------------------------------------------------------------------- */
uint64_t weft_now_ns(void); /* CLOCK_MONOTONIC */
#define WEFT_US 1000ull
#define WEFT_MS 1000000ull
#define WEFT_SEC 1000000000ull

/* Defines `static const weft_future_type NAME` for a poll function and types. */
#define WEFT_FUTURE_TYPE(NAME, poll_fn, drop_fn, state_type, output_size)                  \
    static const weft_future_type NAME = {#NAME, poll_fn, drop_fn, sizeof(state_type),     \
                                          output_size}

#ifdef __cplusplus
}
#endif
#endif
