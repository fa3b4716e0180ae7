/*
 * reactor/reactor.h - the IO reactor's backend contract (internal).
 *
 * One live backend per machine, chosen at build time (Linux: reactor/epoll.c;
 * the design essay is at the top of that file). The reactor answers one
 * question, "which wakers are ready?": it never runs task code, it hands the
 * wakers of ready registrations back to its caller, who wakes them.
 *
 * Roles and threads
 *   - the driver: whoever calls reactor_poll. One caller at a time: a second
 *     concurrent caller gets -EBUSY at once, so a runtime may use reactor_poll
 *     itself as the "who drives IO" try-lock.
 *   - the IO path: the task that owns a registration calls reactor_register,
 *     reactor_io_poll_ready, reactor_io_clear_ready and reactor_deregister.
 *     One owner at a time per registration (a registration may move between
 *     tasks and threads, but two tasks must not use one at once).
 *   - anyone: reactor_wake, from any thread, at any time between
 *     reactor_new and reactor_free.
 *   - reactor_new / reactor_free: single-threaded, with no poll in flight and
 *     (for free) every registration already deregistered or abandoned.
 *
 * Readiness protocol (Tokio's, for edge-triggered epoll)
 *   The reactor keeps per-registration readiness bits and a tick that counts
 *   the events delivered to it. The IO path:
 *
 *       reactor_event ev;
 *       if (reactor_io_poll_ready(io, REACTOR_DIR_READ, waker, &ev) == WEFT_PENDING)
 *           return WEFT_PENDING;                 // waker stored, will be woken
 *       n = read(fd, ...);
 *       if (n < 0 && errno == EAGAIN) {
 *           reactor_io_clear_ready(io, ev);      // only if no event since ev
 *           ...poll_ready again...
 *       }
 *
 *   Readiness is cleared only when the operation hit EAGAIN *and* no event
 *   arrived since the readiness was read (the tick is unchanged), so an edge
 *   that lands between the read and its EAGAIN is never lost. The closed bits
 *   (READ_CLOSED, WRITE_CLOSED) are sticky: they are never cleared.
 *
 * Registrations start out readable and writable (speculatively): the first
 * read or write tries the syscall at once instead of waiting one poll round
 * for the edge that EPOLL_CTL_ADD reports; EAGAIN then clears the guess.
 *
 * Errors: 0 or a negative errno, as everywhere in weft.
 */
#ifndef WEFT_REACTOR_REACTOR_H
#define WEFT_REACTOR_REACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/future.h"
#include "weft/net.h" /* struct weft_reactor_io: embedded in public socket structs */

typedef struct reactor reactor;

/* A registration handle, embedded in a TCP stream or listener. It holds the
 * fd and a token naming a reactor-owned slot; the slot holds the wakers, the
 * readiness bits and the tick (see epoll.c for why they live there and not
 * here). A zeroed handle (slot == NULL) is "not registered". */
typedef struct weft_reactor_io reactor_io;

/* Readiness bits. */
enum {
    REACTOR_READABLE = 1u << 0,     /* EPOLLIN */
    REACTOR_WRITABLE = 1u << 1,     /* EPOLLOUT */
    REACTOR_READ_CLOSED = 1u << 2,  /* EPOLLRDHUP or EPOLLHUP: reads return 0 or an error */
    REACTOR_WRITE_CLOSED = 1u << 3, /* EPOLLHUP: writes fail */
    REACTOR_ERROR = 1u << 4,        /* EPOLLERR: the next op (or SO_ERROR) reports it */
};
/* The bits that make each direction ready. */
#define REACTOR_READ_MASK (REACTOR_READABLE | REACTOR_READ_CLOSED | REACTOR_ERROR)
#define REACTOR_WRITE_MASK (REACTOR_WRITABLE | REACTOR_WRITE_CLOSED | REACTOR_ERROR)

typedef enum reactor_dir { REACTOR_DIR_READ = 0, REACTOR_DIR_WRITE = 1 } reactor_dir;

/* A readiness observation: the direction's bits and the tick they were read at. */
typedef struct reactor_event {
    uint32_t ready;
    uint32_t tick;
} reactor_event;

/* ---- lifetime (single-threaded) ------------------------------------------- */

/* max_events: epoll events taken per wait, 1..REACTOR_MAX_EVENTS. */
#define REACTOR_MAX_EVENTS 65536
int reactor_new(reactor **out, int max_events);
/* Closes the epoll and wake fds and drops every stored waker (including
 * those kept back by a poll whose `cap` was too small). NULL is a no-op. */
void reactor_free(reactor *r);

/* ---- registrations (the owner of `io`) --------------------------------------- */

/* Registers fd (nonblocking, owned by the caller, not closed by the reactor)
 * for EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, once; fills *io. */
int reactor_register(reactor *r, reactor_io *io, int fd);
/* Removes the registration and drops its wakers. Call it before closing the
 * fd. Safe while a poll on another thread is returning events for it: a late
 * event is ignored (the slot's generation no longer matches). Leaves *io
 * zeroed with fd = -1. Not registered: no-op, 0. */
int reactor_deregister(reactor *r, reactor_io *io);

/* READY with *ev when `dir` has readiness. Otherwise stores a clone of *waker
 * (unless the slot already holds one that wakes the same task) as the
 * direction's waker and returns PENDING; the waker is handed out by the
 * next poll that sees readiness for `dir`. waker NULL: only looks. */
weft_poll reactor_io_poll_ready(reactor_io *io, reactor_dir dir, const weft_waker *waker,
                                reactor_event *ev);
/* After an op returned EAGAIN: clears ev.ready's non-sticky bits, unless an
 * event has arrived since ev was read. */
void reactor_io_clear_ready(reactor_io *io, reactor_event ev);

/* ---- the driver ------------------------------------------------------------- */

/* Waits up to timeout_ns (UINT64_MAX: forever; 0: do not block) for events,
 * updates readiness, and moves up to `cap` wakers of ready registrations into
 * ready[0..*n_out). Wakers beyond `cap` are kept and handed out first by the
 * next call (which then does not block). Returns 0 (also on timeout or
 * reactor_wake, with *n_out possibly 0), -EBUSY if another thread is polling,
 * -EINVAL for cap 0, or the wait's errno. Precision: with epoll_pwait2 and
 * 1 ns timer slack on the calling thread, a timed-out poll returns within
 * tens of microseconds after the deadline, never before it; on kernels
 * without epoll_pwait2 (< 5.11) the timeout is rounded up to whole ms. */
int reactor_poll(reactor *r, uint64_t timeout_ns, weft_waker *ready, size_t cap, size_t *n_out);

/* Any thread: makes the current or next reactor_poll return. Wakes that
 * arrive while one is already pending cost one atomic exchange each and no
 * syscall. */
int reactor_wake(reactor *r);

/* Test hook: force the millisecond epoll_wait path (as on kernels without
 * epoll_pwait2). Single-threaded, between polls. */
void reactor_debug_force_epoll_wait(reactor *r, bool on);
/* Test hook (fault injection): the next eventfd write of reactor_wake fails
 * once with wake_errno (0: none), and every wait fails with wait_errno
 * until it is set back to 0. Any thread; takes effect at the next call. */
void reactor_debug_inject(reactor *r, int wake_errno, int wait_errno);
/* Whether the precise epoll_pwait2 path is in use (any thread). */
bool reactor_uses_pwait2(const reactor *r);
/* True while any fd is registered (relaxed; a hint). The workers' periodic
 * non-blocking poll skips the epoll syscall when nothing is registered: no
 * fd can be ready then, and eventfd wakes are meant for a parked driver. */
bool reactor_has_registrations(reactor *r);

#endif
