/*
 * weft/net.h - TCP listeners and streams as futures over the runtime's reactor.
 *
 * Every operation that can wait is a poll function in the style of
 * weft/future.h: it returns WEFT_READY with its result written, or
 * WEFT_PENDING after storing the task's waker with the reactor. The structs
 * below are visible only so they can be embedded in a coroutine's state;
 * their fields are private (weft/private.h). A zeroed weft_tcp_stream / weft_tcp_listener is
 * "closed": dropping it is a no-op, so a task's drop function may drop it
 * unconditionally (weft_tcp_stream_drop / weft_tcp_listener_drop close the
 * socket).
 *
 *     struct conn { int coro; weft_tcp_stream s; char buf[4096]; ssize_t n;
 *                   weft_tcp_write_all w; int res; };
 *     ...
 *     WEFT_AWAIT(st, weft_tcp_read_poll(&st->s, cx, st->buf, sizeof st->buf, &st->n));
 *     if (st->n <= 0) ...                          // 0: EOF, < 0: -errno
 *     weft_tcp_write_all_init(&st->w, &st->s, st->buf, (size_t)st->n);
 *     WEFT_AWAIT(st, weft_tcp_write_all_poll(&st->w, cx, &st->res));
 *
 * Rules
 *   - Results are 0 / a byte count, or a negative errno (-ECONNRESET, -EPIPE,
 *     ...). Sockets are nonblocking, close-on-exec, and streams have
 *     TCP_NODELAY. Writes use MSG_NOSIGNAL: a write to a closed peer returns
 *     -EPIPE (or -ECONNRESET); SIGPIPE is never raised.
 *   - A socket belongs to the runtime it was created on. Polled from a task
 *     of any other runtime (or outside any runtime) an operation completes at
 *     once with -EXDEV.
 *   - One task uses a socket at a time (a stream may be read by one task and
 *     written by another, one per direction). A socket may be moved (copied
 *     by value) to another task of the same runtime while no operation on it
 *     is pending.
 *   - Close every socket before weft_runtime_free of its runtime (task drop
 *     functions run during weft_runtime_free, before the reactor goes away).
 *   - Every leaf poll charges the task's cooperative budget: a loop of reads
 *     that never waits still yields to other tasks.
 *   - Host names: numeric addresses and names in /etc/hosts resolve at once;
 *     any other name is resolved with a blocking getaddrinfo on the calling
 *     thread (use weft_spawn_blocking for DNS if that matters).
 */
#ifndef WEFT_NET_H
#define WEFT_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "weft/future.h"
#include "weft/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* a registration with the reactor (private: weft/private.h) */
struct weft_reactor_io { WEFT_REACTOR_IO_PRIVATE_FIELDS };

/* ---- streams --------------------------------------------------------------- */

typedef struct weft_tcp_stream {
    WEFT_TCP_STREAM_PRIVATE_FIELDS /* private */
} weft_tcp_stream;

/* Reads up to len bytes: READY with *n = bytes read (> 0), 0 at EOF (or
 * len 0), or a negative errno. */
weft_poll weft_tcp_read_poll(weft_tcp_stream *s, weft_context *cx, void *buf, size_t len, ssize_t *n);
/* Writes up to len bytes: READY with *n = bytes written (> 0, or 0 for len
 * 0) or a negative errno (-EPIPE, -ECONNRESET, ...). */
weft_poll weft_tcp_write_poll(weft_tcp_stream *s, weft_context *cx, const void *buf, size_t len,
                         ssize_t *n);

/* read_exact: READY with *result 0 once len bytes have arrived; -EPIPE if the
 * peer closed first (op.done says how many did: 0 means a clean EOF before
 * the message); another negative errno on error. */
typedef struct weft_tcp_read_exact {
    weft_tcp_stream *s;
    unsigned char *buf;
    size_t len;
    size_t done; /* bytes read so far */
} weft_tcp_read_exact;
void weft_tcp_read_exact_init(weft_tcp_read_exact *op, weft_tcp_stream *s, void *buf, size_t len);
weft_poll weft_tcp_read_exact_poll(weft_tcp_read_exact *op, weft_context *cx, int *result);

/* write_all: READY with *result 0 once all len bytes are written, or a
 * negative errno (op.done says how many were). */
typedef struct weft_tcp_write_all {
    weft_tcp_stream *s;
    const unsigned char *buf;
    size_t len;
    size_t done; /* bytes written so far */
} weft_tcp_write_all;
void weft_tcp_write_all_init(weft_tcp_write_all *op, weft_tcp_stream *s, const void *buf,
                             size_t len);
weft_poll weft_tcp_write_all_poll(weft_tcp_write_all *op, weft_context *cx, int *result);

/* shutdown(SHUT_WR): the peer reads EOF once it has read what was sent. */
int weft_tcp_shutdown_write(weft_tcp_stream *s);
/* Deregisters and closes; leaves *s zeroed (closed). Closed: no-op. */
void weft_tcp_stream_drop(weft_tcp_stream *s);
/* The socket's fd (for getsockopt and the like; do not close it), or -1. */
int weft_tcp_stream_fd(const weft_tcp_stream *s);

/* ---- connect ------------------------------------------------------------------ */

#define WEFT_TCP_CONNECT_MAX_ADDRS 4

typedef struct weft_tcp_connect {
    WEFT_TCP_CONNECT_PRIVATE_FIELDS /* private */
} weft_tcp_connect;

/* Resolves host (numeric IPv4/IPv6, or a name; see above) and port. Returns 0,
 * or a negative errno (-EINVAL bad arguments, -EHOSTUNREACH name not
 * found); on failure the first poll also completes with that error. */
int weft_tcp_connect_init(weft_tcp_connect *c, weft_runtime *rt, const char *host, uint16_t port);
/* READY with *result 0 and *out a connected stream, or *result a negative
 * errno (-ECONNREFUSED, ...) after every resolved address failed. */
weft_poll weft_tcp_connect_poll(weft_tcp_connect *c, weft_context *cx, weft_tcp_stream *out,
                                int *result);
/* Releases a connect that will not be polled to completion (harmless after
 * completion). */
void weft_tcp_connect_drop(weft_tcp_connect *c);

/* ---- listeners ------------------------------------------------------------------ */

typedef struct weft_tcp_listener {
    WEFT_TCP_LISTENER_PRIVATE_FIELDS /* private */
} weft_tcp_listener;

/* Binds host:port (port 0: an ephemeral port; host NULL: "0.0.0.0") with
 * SO_REUSEADDR and listens with `backlog` (<= 0: SOMAXCONN). 0 or a
 * negative errno (-EADDRINUSE, -EINVAL bad host, ...). */
int weft_tcp_listener_init(weft_tcp_listener *out, weft_runtime *rt, const char *host, uint16_t port,
                           int backlog);
uint16_t weft_tcp_listener_port(const weft_tcp_listener *l);
/* READY with *result 0 and *out the accepted stream (registered on the
 * listener's runtime), or a negative errno that is not transient. Out of
 * fds (EMFILE, ENFILE, ENOBUFS, ENOMEM) it does not return an error: it
 * sleeps WEFT_TCP_ACCEPT_BACKOFF_NS on the runtime's timer (no spinning;
 * other tasks keep running) and tries again, leaving the pending
 * connections in the kernel's backlog meanwhile. One task accepts at a time. */
#define WEFT_TCP_ACCEPT_BACKOFF_NS 50000000ull /* 50 ms */
weft_poll weft_tcp_accept_poll(weft_tcp_listener *l, weft_context *cx, weft_tcp_stream *out,
                          int *result);
/* Deregisters and closes; leaves *l zeroed. Closed: no-op. */
void weft_tcp_listener_drop(weft_tcp_listener *l);

#ifdef __cplusplus
}
#endif
#endif
