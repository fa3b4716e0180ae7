/*
 * schedulers/tcp.c - TCP listeners and streams as futures over the reactor.
 *
 * WHERE THIS FILE LIVES, AND WHY
 *
 * TCP uses the reactor (readiness and wakers) *and* the timers (accept's
 * back-off sleeps on the timer wheel), and weft_tcp_listener_init and
 * weft_tcp_connect_init take a weft_runtime to find the runtime's reactor.
 * Inside reactor/ it would make reactor/ depend sideways on timers/ and up
 * on the runtime. Here, in the runtime layer (schedulers/: the task model,
 * the runtime core, the blocking pool and the policies), every dependency
 * points down: to reactor/, timers/ and common/. A separate directory was
 * rejected because the top-level layout is fixed and the layering test
 * (tests/test_layering.sh) already treats schedulers/ as the layer above
 * reactor/ and timers/; the file is self-contained, so moving it to its
 * own layer later is a rename.
 *
 * THE SHAPE
 *
 * Every operation that can wait is a leaf future written in one pattern
 * (Tokio's poll_read_ready / clear_readiness loop, see reactor/reactor.h):
 *
 *     check the socket belongs to cx's reactor          else READY -EXDEV
 *     charge one unit of the cooperative budget          else PENDING (yielded)
 *     loop:
 *         readiness for the direction?  no -> waker stored, PENDING
 *         do the syscall;  success / real error -> READY
 *         EAGAIN -> clear the readiness seen (tick-checked) and loop
 *
 * The loop runs again after EAGAIN because the clear is skipped when an
 * event arrived in between; the second readiness check then either finds
 * the fresh readiness or stores the waker. Nothing here blocks: sockets are
 * SOCK_NONBLOCK from creation (accept4, socket), so no syscall here can
 * sleep and none returns EINTR (EINTR is retried only in the reactor's wait).
 *
 * DECISIONS
 *
 * - Runtime affinity. A socket is registered with one runtime's reactor and
 *   its wakers are that runtime's tasks. Polled from another runtime the
 *   readiness would be delivered by the wrong driver (or never, if that
 *   runtime is idle), so the mismatch is refused with -EXDEV at once instead
 *   of hanging. The check compares the reactor the socket was registered
 *   with against the one the worker passes down in the context
 *   (common/context.h); outside any worker (no drivers) likewise -EXDEV.
 * - Deregister before close. Closing first would free the fd number; another
 *   thread could get the same number for a new socket and register it, and
 *   our EPOLL_CTL_DEL would then remove *that* registration.
 * - Writes use send(MSG_NOSIGNAL): a write to a reset peer returns EPIPE
 *   instead of raising SIGPIPE; the caller sees -EPIPE or -ECONNRESET.
 * - TCP_NODELAY on every stream (accepted and connected): request/response
 *   traffic is the common case and Nagle + delayed ACK costs 40 ms per
 *   small write-write-read there.
 * - Accept when out of fds (EMFILE, ENFILE) or kernel memory (ENOBUFS,
 *   ENOMEM). Returning the error would make the usual `for (;;) accept`
 *   server loop spin at 100 % CPU: the listener stays readable (edge
 *   triggering will not re-fire, but the readiness bit is still set and the
 *   connection is still queued). Instead accept sleeps
 *   WEFT_TCP_ACCEPT_BACKOFF_NS (50 ms: long enough that a full-fd server
 *   spends < 0.1 % CPU retrying, short enough that service resumes quickly
 *   once connections close) on the runtime's timer wheel and retries; the
 *   other tasks, including the existing connections, keep running, and the
 *   queued connections wait in the kernel's backlog. Rejected: libuv's
 *   "reserve fd" trick (close a spare fd, accept, close the connection
 *   immediately) - it turns overload into connection resets instead of
 *   waiting, and the spare fd can be stolen by another thread.
 *   Transient per-connection errors (ECONNABORTED, EPROTO and the network
 *   errors accept(2) says to treat like EAGAIN) are skipped.
 * - Connect tries each resolved address in turn (up to
 *   WEFT_TCP_CONNECT_MAX_ADDRS: "localhost" may give ::1 and 127.0.0.1).
 *   The socket is registered *after* connect() returned EINPROGRESS:
 *   epoll reports EPOLLHUP for a TCP socket that is not connected yet, and
 *   that sticky closed bit would end the wait at once. The registration's
 *   speculative WRITABLE is told apart from completion by getpeername
 *   (ENOTCONN: still connecting; clear and wait).
 * - Name resolution is getaddrinfo, synchronous: instant for numeric hosts
 *   and /etc/hosts names, blocking for DNS (documented in weft/net.h).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/context.h"
#include "common/error.h"
#include "reactor/reactor.h"
#include "schedulers/runtime_internal.h"
#include "weft/net.h"
#include "weft/time.h"

/* ---- helpers ------------------------------------------------------------------ */

/* -EXDEV unless cx polls on a worker of the runtime whose reactor `own` is
 * (see DECISIONS). */
static int tcp_check_runtime(const char *who, void *own, weft_context *cx)
{
    if (own != NULL && (void *)context_reactor(cx) == own) return 0;
    return err_fail(-EXDEV, "%s: polled %s", who,
                    context_reactor(cx) ? "on a runtime other than the socket's"
                                        : "outside a task of the socket's runtime");
}

/* Registers a connected, nonblocking fd as a stream. On failure the fd is
 * left open (the caller closes it). */
static int stream_open(weft_tcp_stream *s, weft_runtime *rt, reactor *r, int fd)
{
    int one = 1;
    /* best effort: fails only for non-TCP sockets */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(s, 0, sizeof *s);
    int rc = reactor_register(r, &s->io, fd);
    if (rc < 0) {
        memset(s, 0, sizeof *s);
        return rc;
    }
    s->runtime = rt;
    s->reactor = r;
    return 0;
}

/* Closes a registration's fd after deregistering it (see DECISIONS). */
static void io_close(reactor *r, reactor_io *io)
{
    int fd = io->fd;
    if (io->slot) (void)reactor_deregister(r, io); /* cannot fail in a way we could act on */
    if (fd >= 0) close(fd);
    io->fd = -1;
}

static int gai_to_errno(int g)
{
    switch (g) {
    case EAI_SYSTEM: return errno ? -errno : -EIO;
    case EAI_MEMORY: return -ENOMEM;
    case EAI_AGAIN: return -EAGAIN;
    case EAI_SERVICE:
    case EAI_BADFLAGS:
    case EAI_FAMILY:
    case EAI_SOCKTYPE: return -EINVAL;
    default: return -EHOSTUNREACH; /* EAI_NONAME, EAI_NODATA, EAI_FAIL */
    }
}

/* getaddrinfo for host:port; a failure names the caller `who` in the message. */
static int resolve(const char *who, const char *host, uint16_t port, int passive,
                   struct addrinfo **res)
{
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int g = getaddrinfo(host, portstr, &hints, res);
    if (g != 0) {
        return err_fail(gai_to_errno(g), "%s: cannot resolve '%s': %s", who,
                        host ? host : "(any)", gai_strerror(g));
    }
    return 0;
}

/* ---- streams -------------------------------------------------------------------- */

/* One read or write step: the checks every leaf poll makes, then the
 * syscall until it succeeds, fails, or the socket is not ready (EAGAIN
 * clears the readiness only if no edge arrived meanwhile: see epoll.c). */
static weft_poll tcp_io(weft_tcp_stream *s, weft_context *cx, reactor_dir dir, void *buf,
                        size_t len, ssize_t *n)
{
    const char *who = dir == REACTOR_DIR_READ ? "weft_tcp_read_poll" : "weft_tcp_write_poll";
    if (!s->io.slot) {
        *n = err_fail(-EBADF, "%s: the stream is closed (or was never connected)", who);
        return WEFT_READY;
    }
    int rc = tcp_check_runtime(who, s->reactor, cx);
    if (rc < 0) {
        *n = rc;
        return WEFT_READY;
    }
    if (!weft_coop_proceed(cx)) return WEFT_PENDING;
    if (len == 0) {
        *n = 0;
        return WEFT_READY;
    }
    for (;;) {
        reactor_event ev;
        if (reactor_io_poll_ready(&s->io, dir, weft_context_waker(cx), &ev) == WEFT_PENDING)
            return WEFT_PENDING;
        /* MSG_NOSIGNAL: a closed peer is -EPIPE, never SIGPIPE */
        ssize_t done = dir == REACTOR_DIR_READ ? recv(s->io.fd, buf, len, 0)
                                               : send(s->io.fd, buf, len, MSG_NOSIGNAL);
        if (done >= 0) {
            /* A short read drained the socket, a short write filled it: the
             * next call would only get EAGAIN, so clear the readiness now
             * (tick-checked, so an edge that arrived meanwhile is kept), as
             * Tokio does on epoll. Saves one recv per echoed request
             * (docs/echo-vs-libuv.md). */
            if (done > 0 && (size_t)done < len) reactor_io_clear_ready(&s->io, ev);
            *n = done;
            return WEFT_READY;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            int e = errno;
            *n = err_fail(-e, "%s: %s", who, strerror(e));
            return WEFT_READY;
        }
        reactor_io_clear_ready(&s->io, ev);
    }
}

weft_poll weft_tcp_read_poll(weft_tcp_stream *s, weft_context *cx, void *buf, size_t len, ssize_t *n)
{
    return tcp_io(s, cx, REACTOR_DIR_READ, buf, len, n);
}

weft_poll weft_tcp_write_poll(weft_tcp_stream *s, weft_context *cx, const void *buf, size_t len,
                         ssize_t *n)
{
    return tcp_io(s, cx, REACTOR_DIR_WRITE, (void *)buf, len, n);
}

void weft_tcp_read_exact_init(weft_tcp_read_exact *op, weft_tcp_stream *s, void *buf, size_t len)
{
    op->s = s;
    op->buf = buf;
    op->len = len;
    op->done = 0;
}

weft_poll weft_tcp_read_exact_poll(weft_tcp_read_exact *op, weft_context *cx, int *result)
{
    while (op->done < op->len) {
        ssize_t n;
        if (weft_tcp_read_poll(op->s, cx, op->buf + op->done, op->len - op->done, &n) == WEFT_PENDING)
            return WEFT_PENDING;
        if (n <= 0) {
            *result = n == 0 ? -EPIPE : (int)n; /* EOF before len bytes: -EPIPE */
            return WEFT_READY;
        }
        op->done += (size_t)n;
    }
    *result = 0;
    return WEFT_READY;
}

void weft_tcp_write_all_init(weft_tcp_write_all *op, weft_tcp_stream *s, const void *buf,
                             size_t len)
{
    op->s = s;
    op->buf = buf;
    op->len = len;
    op->done = 0;
}

weft_poll weft_tcp_write_all_poll(weft_tcp_write_all *op, weft_context *cx, int *result)
{
    while (op->done < op->len) {
        ssize_t n;
        if (weft_tcp_write_poll(op->s, cx, op->buf + op->done, op->len - op->done, &n) == WEFT_PENDING)
            return WEFT_PENDING;
        if (n <= 0) { /* send never returns 0 for len > 0; be safe anyway */
            *result = n == 0 ? -EIO : (int)n;
            return WEFT_READY;
        }
        op->done += (size_t)n;
    }
    *result = 0;
    return WEFT_READY;
}

int weft_tcp_shutdown_write(weft_tcp_stream *s)
{
    if (!s || !s->io.slot)
        return err_fail(-EBADF, "weft_tcp_shutdown_write: %s",
                        s ? "the stream is closed" : "NULL stream");
    if (shutdown(s->io.fd, SHUT_WR) < 0) {
        int e = errno;
        return err_fail(-e, "weft_tcp_shutdown_write: %s", strerror(e));
    }
    return 0;
}

void weft_tcp_stream_drop(weft_tcp_stream *s)
{
    if (!s || !s->io.slot) return;
    io_close(s->reactor, &s->io);
    memset(s, 0, sizeof *s);
}

int weft_tcp_stream_fd(const weft_tcp_stream *s) { return s && s->io.slot ? s->io.fd : -1; }

/* ---- connect --------------------------------------------------------------------- */

int weft_tcp_connect_init(weft_tcp_connect *c, weft_runtime *rt, const char *host, uint16_t port)
{
    if (!c) return err_fail(-EINVAL, "weft_tcp_connect_init: NULL connect future");
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->io.fd = -1;
    c->runtime = rt;
    if (!rt || !host || !*host) {
        return c->err = err_fail(-EINVAL, "weft_tcp_connect_init: %s",
                                 !rt ? "NULL runtime" : "no host to connect to");
    }
    c->reactor = rt->reactor;
    if (port == 0) {
        return c->err = err_fail(-EINVAL,
                                 "weft_tcp_connect_init: port 0 is not a port one can connect to");
    }
    struct addrinfo *res;
    int rc = resolve("weft_tcp_connect_init", host, port, 0, &res);
    if (rc < 0) return c->err = rc;
    for (struct addrinfo *a = res; a && c->naddrs < WEFT_TCP_CONNECT_MAX_ADDRS; a = a->ai_next) {
        if (a->ai_addrlen > sizeof c->addrs[0]) continue;
        memcpy(&c->addrs[c->naddrs], a->ai_addr, a->ai_addrlen);
        c->addrlens[c->naddrs] = (socklen_t)a->ai_addrlen;
        c->naddrs++;
    }
    freeaddrinfo(res);
    if (c->naddrs == 0)
        return c->err = err_fail(-EHOSTUNREACH, "weft_tcp_connect_init: '%s' resolved to no "
                                                "usable address", host);
    return 0;
}

/* Drops the in-flight attempt; `err` is remembered for the final result. */
static void connect_fail_attempt(weft_tcp_connect *c, int err)
{
    if (c->io.slot) io_close(c->reactor, &c->io);
    else if (c->fd >= 0) close(c->fd);
    memset(&c->io, 0, sizeof c->io);
    c->io.fd = -1;
    c->fd = -1;
    c->last_err = err;
    c->next++;
}

static void connect_finish(weft_tcp_connect *c, weft_tcp_stream *out)
{
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    out->runtime = c->runtime;
    out->reactor = c->reactor;
    out->io = c->io; /* the registration moves: its state lives in the reactor's slot */
    memset(&c->io, 0, sizeof c->io);
    c->io.fd = -1;
    c->fd = -1;
    c->next = c->naddrs; /* done */
}

weft_poll weft_tcp_connect_poll(weft_tcp_connect *c, weft_context *cx, weft_tcp_stream *out,
                                int *result)
{
    if (c->err) {
        *result = err_fail(c->err, "weft_tcp_connect_poll: weft_tcp_connect_init had failed: %s",
                           strerror(-c->err));
        return WEFT_READY;
    }
    int rc = tcp_check_runtime("weft_tcp_connect_poll", c->reactor, cx);
    if (rc < 0) {
        *result = rc;
        return WEFT_READY;
    }
    if (!weft_coop_proceed(cx)) return WEFT_PENDING;
    for (;;) {
        if (c->fd < 0) {
            if (c->next >= c->naddrs) {
                if (c->last_err) /* every address failed */
                    *result = err_fail(c->last_err, "weft_tcp_connect_poll: no address "
                                       "accepted the connection (%d tried; the last: %s)",
                                       c->naddrs, strerror(-c->last_err));
                else
                    *result = err_fail(-EALREADY, "weft_tcp_connect_poll: polled again "
                                                  "after it completed");
                return WEFT_READY;
            }
            const struct sockaddr *sa = (const struct sockaddr *)&c->addrs[c->next];
            int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
            if (fd < 0) {
                connect_fail_attempt(c, -errno);
                continue;
            }
            c->fd = fd;
            int crc = connect(fd, sa, c->addrlens[c->next]);
            if (crc < 0 && errno != EINPROGRESS) {
                connect_fail_attempt(c, -errno);
                continue;
            }
            /* register only now: see DECISIONS (EPOLLHUP before connect) */
            int reg = reactor_register(c->reactor, &c->io, fd);
            if (reg < 0) {
                connect_fail_attempt(c, reg);
                continue;
            }
            if (crc == 0) {
                connect_finish(c, out);
                *result = 0;
                return WEFT_READY;
            }
        }
        reactor_event ev;
        if (reactor_io_poll_ready(&c->io, REACTOR_DIR_WRITE, weft_context_waker(cx), &ev) ==
            WEFT_PENDING)
            return WEFT_PENDING;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) soerr = errno;
        if (soerr != 0) {
            connect_fail_attempt(c, -soerr);
            continue;
        }
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        if (getpeername(c->fd, (struct sockaddr *)&peer, &pl) == 0) {
            connect_finish(c, out);
            *result = 0;
            return WEFT_READY;
        }
        if (errno != ENOTCONN) {
            connect_fail_attempt(c, -errno);
            continue;
        }
        reactor_io_clear_ready(&c->io, ev); /* speculative readiness: still connecting */
    }
}

void weft_tcp_connect_drop(weft_tcp_connect *c)
{
    if (!c) return;
    if (c->io.slot) io_close(c->reactor, &c->io);
    else if (c->fd >= 0) close(c->fd);
    memset(&c->io, 0, sizeof c->io);
    c->io.fd = -1;
    c->fd = -1;
    c->next = c->naddrs;
}

/* ---- listeners -------------------------------------------------------------------- */

int weft_tcp_listener_init(weft_tcp_listener *out, weft_runtime *rt, const char *host, uint16_t port,
                           int backlog)
{
    if (!out) return err_fail(-EINVAL, "weft_tcp_listener_init: NULL listener");
    memset(out, 0, sizeof *out);
    if (!rt) return err_fail(-EINVAL, "weft_tcp_listener_init: NULL runtime");
    reactor *r = rt->reactor;
    if (backlog <= 0) backlog = SOMAXCONN;
    struct addrinfo *res;
    const char *where = host ? host : "0.0.0.0";
    int rc = resolve("weft_tcp_listener_init", where, port, 1, &res);
    if (rc < 0) return rc;
    int fd = -1;
    rc = -EADDRNOTAVAIL;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* restart during TIME_WAIT */
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, backlog) == 0) break;
        rc = -errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return err_fail(rc, "weft_tcp_listener_init: cannot listen on %s port %u: %s", where,
                        (unsigned)port, strerror(-rc));

    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        rc = -errno;
        close(fd);
        return err_fail(rc, "weft_tcp_listener_init: getsockname: %s", strerror(-rc));
    }
    out->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    rc = reactor_register(r, &out->io, fd);
    if (rc < 0) {
        close(fd);
        memset(out, 0, sizeof *out);
        return err_fail(rc, "weft_tcp_listener_init: cannot register the socket with the reactor: %s",
                        strerror(-rc));
    }
    out->runtime = rt;
    out->reactor = r;
    return 0;
}

uint16_t weft_tcp_listener_port(const weft_tcp_listener *l) { return l ? l->port : 0; }

/* accept(2)'s errors that belong to one connection: retry like EAGAIN. */
static bool accept_transient(int e)
{
    switch (e) {
    case ECONNABORTED: case EPROTO: case EINTR: case ENETDOWN: case ENOPROTOOPT:
    case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
        return true;
    default:
        return false;
    }
}

/* Out of fds or memory: back off instead of spinning (see DECISIONS). */
static bool accept_exhausted(int e)
{
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM || e == ENOSPC;
}

weft_poll weft_tcp_accept_poll(weft_tcp_listener *l, weft_context *cx, weft_tcp_stream *out,
                          int *result)
{
    if (!l->io.slot) {
        *result = err_fail(-EBADF, "weft_tcp_accept_poll: the listener is closed");
        return WEFT_READY;
    }
    int rc = tcp_check_runtime("weft_tcp_accept_poll", l->reactor, cx);
    if (rc < 0) {
        *result = rc;
        return WEFT_READY;
    }
    if (!weft_coop_proceed(cx)) return WEFT_PENDING;
    for (;;) {
        if (l->backoff_armed) {
            if (weft_sleep_poll(&l->backoff, cx) == WEFT_PENDING) return WEFT_PENDING;
            int sr = weft_sleep_result(&l->backoff);
            weft_sleep_drop(&l->backoff);
            l->backoff_armed = 0;
            if (sr < 0) { /* no timer to back off on: report rather than spin */
                *result = err_fail(sr, "weft_tcp_accept_poll: out of file descriptors, and no "
                                       "timer to back off on: %s", strerror(-sr));
                return WEFT_READY;
            }
        }
        reactor_event ev;
        if (reactor_io_poll_ready(&l->io, REACTOR_DIR_READ, weft_context_waker(cx), &ev) ==
            WEFT_PENDING)
            return WEFT_PENDING;
        int fd = accept4(l->io.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int err = fd < 0 ? errno : 0;
        if (fd >= 0) {
            rc = stream_open(out, l->runtime, l->reactor, fd);
            if (rc == 0) {
                *result = 0;
                return WEFT_READY;
            }
            close(fd); /* no room in the reactor: this connection is lost, back off */
            err = -rc;
        }
        if (err == EAGAIN || err == EWOULDBLOCK) {
            reactor_io_clear_ready(&l->io, ev);
        } else if (accept_exhausted(err)) {
            l->backoffs++;
            weft_sleep_init(&l->backoff, WEFT_TCP_ACCEPT_BACKOFF_NS);
            l->backoff_armed = 1;
        } else if (!accept_transient(err)) {
            *result = err_fail(-err, "weft_tcp_accept_poll: %s", strerror(err));
            return WEFT_READY;
        }
    }
}

void weft_tcp_listener_drop(weft_tcp_listener *l)
{
    if (!l || !l->io.slot) return;
    if (l->backoff_armed) weft_sleep_drop(&l->backoff);
    io_close(l->reactor, &l->io);
    memset(l, 0, sizeof *l);
}
