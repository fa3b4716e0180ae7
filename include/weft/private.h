/*
 * weft/private.h - the private fields of weft's public structs.
 *
 * Some weft structs are embedded by value in a task's state (sleeps,
 * sockets, join handles, the poll context), so their size must be known to
 * the compiler, and so must their fields. As in libuv (UV_HANDLE_PRIVATE_FIELDS),
 * those fields are declared here, through one macro per struct, and not in
 * the headers that document the API: they are the library's, not part of
 * the API, and change without notice. Read nothing from them and write
 * nothing to them; use the accessors (weft_context_waker,
 * weft_join_is_empty, weft_sleep_result, weft_tcp_stream_fd, ...).
 *
 * Included by weft/future.h; never include it yourself.
 */
#ifndef WEFT_PRIVATE_H
#define WEFT_PRIVATE_H

#include <stdint.h>

/* ---- weft/future.h ----------------------------------------------------------
 * weft_context after its public waker and runtime. The order is kept so a
 * positional {waker, rt, task, budget, yielded, drivers} initialiser (the
 * worker loop's) stays valid. */
#define WEFT_CONTEXT_PRIVATE_FIELDS                                                         \
    void *task;      /* the task being polled */                                            \
    int32_t budget;  /* leaf polls left this turn; < 0: unlimited (weft_coop_proceed) */    \
    int32_t yielded; /* re-queue the task after this poll (weft_context_yield) */           \
    /* the worker's timer shard and the reactor (common/context.h); NULL outside a worker */ \
    const struct weft_drivers *drivers;

/* ---- weft/runtime.h ---------------------------------------------------------- */
#define WEFT_JOIN_HANDLE_PRIVATE_FIELDS void *task; /* NULL once joined or dropped */

/* ---- weft/time.h --------------------------------------------------------------
 * weft_wheel_entry is timers/wheel.h's wheel_entry and weft_timer_entry is
 * timers/timer.h's timer_entry (the same types, typedef'd there). */
#define WEFT_WHEEL_ENTRY_PRIVATE_FIELDS                                                     \
    uint64_t deadline_ns;          /* exact deadline, never rounded */                      \
    uint64_t seq;                  /* arm sequence number: ties fire in arming order */     \
    struct weft_wheel_entry *prev; /* intrusive list links */                               \
    struct weft_wheel_entry *next;                                                          \
    uint8_t level;                 /* wheel level, or an overflow/ready marker */           \
    uint8_t slot;                  /* slot within the level */                              \
    uint8_t state;                 /* idle / armed / fired */                               \
    uint8_t reserved;

#define WEFT_TIMER_ENTRY_PRIVATE_FIELDS                                                     \
    weft_wheel_entry w; /* the wheel node */                                                \
    weft_waker waker;   /* woken when the entry fires */                                    \
    void *owner;        /* the timer driver it was armed on */                              \
    int fired;          /* set by the driver when it moved the waker out */            \
    int borrowed;       /* waker is the polling task's own, held without a reference */

#define WEFT_SLEEP_PRIVATE_FIELDS                                                           \
    weft_timer_entry entry;                                                                 \
    uint64_t deadline_ns; /* absolute deadline once started */                              \
    uint64_t duration_ns; /* for weft_sleep_init, applied at first poll */                  \
    uint64_t group;       /* the driver group of the first poll (0: unbound) */             \
    int32_t state;                                                                          \
    int32_t result;       /* see weft_sleep_result */                                       \
    int32_t linked;       /* the entry may be armed (owner-side hint) */                    \
    int32_t reserved;

#define WEFT_TIMEOUT_PRIVATE_FIELDS                                                         \
    weft_sleep sleep;                                                                       \
    int32_t done;                                                                           \
    int32_t result;

#define WEFT_INTERVAL_PRIVATE_FIELDS                                                        \
    weft_sleep sleep;                                                                       \
    uint64_t period_ns;                                                                     \
    uint64_t next_ns; /* the next tick's scheduled time */                                  \
    int32_t policy;                                                                         \
    int32_t started;                                                                        \
    int32_t result;                                                                         \
    int32_t reserved;

/* ---- weft/net.h ------------------------------------------------------------------
 * weft_reactor_io is reactor/reactor.h's reactor_io: a registration with the
 * reactor. The readiness state and wakers live in reactor-owned memory named
 * by slot + token, so these bytes may be copied and freed freely. */
#define WEFT_REACTOR_IO_PRIVATE_FIELDS                                                      \
    void *slot;     /* NULL: not registered */                                              \
    uint64_t token; /* slot index and generation */                                         \
    int fd;

#define WEFT_TCP_STREAM_PRIVATE_FIELDS                                                      \
    weft_runtime *runtime; /* the runtime it belongs to */                                  \
    void *reactor;                                                                          \
    struct weft_reactor_io io;

#define WEFT_TCP_CONNECT_PRIVATE_FIELDS                                                     \
    weft_runtime *runtime;                                                                  \
    void *reactor;                                                                          \
    struct weft_reactor_io io;                                                              \
    int fd;                                                                                 \
    int err;      /* init error, reported by the first poll */                              \
    int last_err; /* the last failed attempt's error */                                     \
    int naddrs;                                                                             \
    int next; /* the next address to try */                                                 \
    struct sockaddr_storage addrs[WEFT_TCP_CONNECT_MAX_ADDRS];                              \
    socklen_t addrlens[WEFT_TCP_CONNECT_MAX_ADDRS];

#define WEFT_TCP_LISTENER_PRIVATE_FIELDS                                                    \
    weft_runtime *runtime;                                                                  \
    void *reactor;                                                                          \
    struct weft_reactor_io io;                                                              \
    uint16_t port;                                                                          \
    int backoff_armed; /* EMFILE/ENFILE back-off: a weft_sleep (no fd needed) */            \
    weft_sleep backoff;                                                                     \
    uint64_t backoffs; /* how many times accept backed off (for tests and logs) */

/* ---- weft/sync.h -------------------------------------------------------------------- */

#define WEFT_WAITER_PRIVATE_FIELDS                                                          \
    struct weft_waiter *prev, *next;                                                        \
    weft_waker waker;                                                                       \
    uint64_t value;   /* send: the value; acquire: permits wanted; notified: the notify_all \
                         generation while queued, then 1 if granted by notify_one */        \
    int state;        /* 0 idle, 1 queued, 2 granted/notified */

#define WEFT_CHANNEL_SEND_PRIVATE_FIELDS                                                \
    weft_channel *chan;                                                                 \
    weft_waiter w;

#define WEFT_NOTIFIED_PRIVATE_FIELDS                                                    \
    weft_notify *notify;                                                                \
    weft_waiter w;

#define WEFT_SEMAPHORE_ACQUIRE_PRIVATE_FIELDS                                           \
    weft_semaphore *sem;                                                                \
    weft_waiter w;

/* ---- weft/mpmc.h -------------------------------------------------------------------- */

#define WEFT_MPMC_SEND_PRIVATE_FIELDS                                                   \
    weft_mpmc *chan;                                                                    \
    void *elem;                                                                         \
    weft_waiter w;                                                                      \
    int32_t done;    /* READY was returned */                                           \
    int32_t result;  /* see weft_mpmc_send_result */

#define WEFT_MPMC_RECV_PRIVATE_FIELDS                                                   \
    weft_mpmc *chan;                                                                    \
    void *out;                                                                          \
    weft_waiter w;                                                                      \
    int32_t done;                                                                       \
    int32_t result;

/* ---- weft/cancel.h ------------------------------------------------------------------ */

#define WEFT_CANCEL_WAIT_PRIVATE_FIELDS                                                 \
    weft_cancel *token;                                                                 \
    weft_waiter w;                                                                      \
    int32_t registered;  /* owner-side, w may be linked */                              \
    int32_t result;

/* ---- weft/select.h ------------------------------------------------------------------ */

#define WEFT_SELECT_PRIVATE_FIELDS                                                      \
    weft_select_arm *arms;                                                              \
    int32_t n;                                                                          \
    int32_t winner;        /* index, -1 while running, or -EINVAL */                    \
    int32_t dropped;       /* 0 none, 1 losers, 2 all */                                \
    int32_t reserved;

#define WEFT_JOIN_ALL_PRIVATE_FIELDS                                                    \
    weft_join_handle *handles;                                                          \
    size_t n;                                                                           \
    unsigned char *outs;                                                                \
    size_t out_size;                                                                    \
    int *results;                                                                       \
    size_t next;               /* the first handle not joined yet */                    \
    int32_t result;            /* 1 while pending */                                    \
    int32_t reserved;

/* ---- weft/future.h ------------------------------------------------------------------ */

#define WEFT_YIELD_PRIVATE_FIELDS int done;

#endif
