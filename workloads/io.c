/*
 * workloads/io.c - the loopback IO workloads of WORKLOADS.md: tcp_echo and
 * tcp_stream.
 *
 * The server runs on the runtime under test; the load comes from plain
 * threads outside it (blocking or poll()-driven sockets, no runtime code),
 * so the client's cost does not depend on the scheduler being measured and
 * the client never competes for the runtime's workers - only for the CPUs,
 * as a load generator on the same host does.
 *
 * Server (both workloads)
 *   The runner binds a listener on 127.0.0.1, port 0, from its own thread
 *   (weft_tcp_listener_init only needs the runtime; connections made before the
 *   server task runs wait in the kernel's backlog), starts the client
 *   threads, and block_on's a root task that accepts the expected number
 *   of connections and spawns one echo task per connection (read up to a
 *   buffer, write_all it back, until EOF). The root then waits for every
 *   echo task (a count-down that starts at 1 for the root's own reference,
 *   +1 per spawned connection, so "zero" cannot happen before the accept
 *   phase is over) and for the client threads' "all done" one-shot, sent by
 *   the last client thread to exit. Accept and that one-shot are polled in
 *   the same step (a two-way select): if a client thread fails before
 *   connecting, the server stops accepting instead of waiting forever.
 *   Every client blocking call has a 10 s no-progress watchdog (poll
 *   timeout, SO_RCVTIMEO/SO_SNDTIMEO), so a broken server turns into an
 *   error message, never a hang.
 *
 * tcp_echo (closed loop)
 *   C connections, spread over T client threads (2 by default: on a
 *   2-core machine more threads only add context switches), each thread
 *   driving its connections with poll(). Each connection sends a message
 *   of S bytes, waits for all S bytes of the echo, checks them, and only
 *   then sends the next, R times. Latency is measured from the request's
 *   first send() to the echo's last byte. In a closed loop the next request
 *   is sent only after the previous answer arrived, so there is no
 *   coordinated omission to correct (no request is "scheduled" and waiting
 *   while an earlier one is stuck): the histogram holds every request's
 *   real service time, and throughput is what the loop sustained. The
 *   message of request r on connection c is a pseudo-random pattern seeded
 *   by (c, r), so a byte echoed to the wrong request or connection fails
 *   the check. The time of an iteration is the whole exchange: from
 *   starting the client threads (connect included) to joining them.
 *
 * tcp_echo against an external server (external_port = P, not 0)
 *   The same client threads connect to 127.0.0.1:P instead, and no weft
 *   listener or server task exists (the runtime is only a bystander; the
 *   runner does not block_on at all). Everything the client does is
 *   unchanged: the same messages, the same byte check of every echo, the
 *   same histogram and the same clock. The server-side counts become client
 *   ones (bytes_echoed = echo bytes the clients received; "connections
 *   accepted" is not checked, a failed connect fails the client), and fault
 *   injection has no effect, since the fault is injected by weft's server.
 *   This is how bench/echo_compare.sh measures a libuv echo server
 *   (bench/libuv_echo.c) with exactly weft's load client.
 *
 * tcp_stream
 *   One connection, opened by the runner before the clock starts. A writer
 *   thread sends B bytes (a Weyl sequence of 64-bit words) and then
 *   half-closes; a reader thread reads the echo until EOF. Both hash what
 *   they sent / received with the same position-aligned hash (4-lane
 *   FNV-1a over 64-bit words, so the hash is not a serial multiply chain and
 *   costs little beside the copy), and the hashes and the byte counts must match.
 *   Elapsed is from starting the two threads to joining them.
 *
 * Fault injection flips one byte of one echoed read in the server: tcp_echo
 * then reports one corrupted echo, tcp_stream a checksum mismatch. (Dropping
 * a byte would hang a closed-loop client until its watchdog; corrupting one
 * is the same "one unit of work not done" and fails at once.)
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/clock.h"
#include "weft/net.h"
#include "weft/sync.h"
#include "workloads/wl_internal.h"

#define FAULT() weft_workload_fault_injection()

/* A client call that makes no progress for this long fails the iteration. */
#define IO_STALL_MS 10000

/* ---- the server ------------------------------------------------------------------- */

typedef struct io_run {
    weft_tcp_listener listener;
    uint16_t port;
    bool external;                /* tcp_echo's external_port: no listener, no server task */
    long expect_conns;
    size_t server_buf;            /* bytes each echo task reads at a time */

    /* echo tasks: 1 (the root's reference) + 1 per spawned connection */
    wl_latch conns;
    /* client threads: the last one to exit sends */
    wl_latch clients;
    _Atomic int root_started;     /* the root owns the receivers from its first poll */

    _Atomic long accepted;
    _Atomic long server_errors;
    _Atomic int first_server_error;
    _Atomic long spawn_errors;
    _Atomic uint64_t echoed;      /* bytes written back by the server */
    _Atomic int fault_done;
} io_run;

static void io_server_error(io_run *run, int err)
{
    atomic_fetch_add_explicit(&run->server_errors, 1, memory_order_relaxed);
    int zero = 0; /* the first error wins; read after block_on */
    atomic_compare_exchange_strong_explicit(&run->first_server_error, &zero, err,
                                            memory_order_relaxed, memory_order_relaxed);
}

/* After block_on: true (and out->error set) if the server saw errors. */
static bool io_server_failed(io_run *run, weft_wl_result *out)
{
    long n = atomic_load_explicit(&run->server_errors, memory_order_relaxed);
    if (n == 0) return false;
    int first = atomic_load_explicit(&run->first_server_error, memory_order_relaxed);
    wl_fail(out, "server errors: expected 0, got %ld (the first: %s)", n, strerror(-first));
    return true;
}

static void io_conns_count_down(io_run *run)
{
    /* every echo task's counters before its decrement happen before the
     * send (and so before the root and the runner read them) */
    wl_latch_count_down(&run->conns, 1);
}

/* A client thread (or the runner, for one that never started) is done. */
static void io_client_exit(io_run *run)
{
    if (run->external) return; /* no server task waits for the clients */
    /* the threads' exits happen before the root sees the one-shot */
    wl_latch_count_down(&run->clients, 1);
}

/* After block_on: releases what the root and the tasks did not. */
static void io_run_release(io_run *run, int block_rc)
{
    weft_tcp_listener_drop(&run->listener);
    if (block_rc < 0) {
        wl_latch_release_sender(&run->conns);
        /* acquire: pairs with the root's release store on its first poll */
        if (!atomic_load_explicit(&run->root_started, memory_order_acquire)) {
            weft_oneshot_receiver_drop(run->conns.done);
            weft_oneshot_receiver_drop(run->clients.done);
        }
    }
}

/* One accepted connection: echo until EOF. */
typedef struct io_conn {
    int coro;
    io_run *run;
    weft_tcp_stream st;
    unsigned char *buf;
    ssize_t n;
    int res;
    uint64_t bytes;
    weft_tcp_write_all w;
} io_conn;

static weft_poll io_conn_poll(void *p, weft_context *cx, void *out)
{
    io_conn *s = p;
    WEFT_CORO_BEGIN(s);
    s->buf = malloc(s->run->server_buf);
    if (!s->buf) io_server_error(s->run, -ENOMEM);
    while (s->buf) {
        WEFT_AWAIT(s, weft_tcp_read_poll(&s->st, cx, s->buf, s->run->server_buf, &s->n));
        if (s->n <= 0) {
            if (s->n < 0) io_server_error(s->run, (int)s->n);
            break;
        }
        if (FAULT() && atomic_exchange_explicit(&s->run->fault_done, 1, memory_order_relaxed) == 0)
            s->buf[s->n - 1] ^= 0x5a; /* one corrupted byte */
        weft_tcp_write_all_init(&s->w, &s->st, s->buf, (size_t)s->n);
        WEFT_AWAIT(s, weft_tcp_write_all_poll(&s->w, cx, &s->res));
        if (s->res < 0) {
            io_server_error(s->run, s->res);
            break;
        }
        s->bytes += (uint64_t)s->n;
    }
    weft_tcp_stream_drop(&s->st);
    free(s->buf);
    s->buf = NULL;
    atomic_fetch_add_explicit(&s->run->echoed, s->bytes, memory_order_relaxed);
    io_conns_count_down(s->run);
    WEFT_CORO_END(s);
}
static void io_conn_drop(void *p)
{
    io_conn *s = p;
    weft_tcp_stream_drop(&s->st);
    free(s->buf);
    s->buf = NULL;
}
static const weft_future_type io_conn_type = {"io.echo_conn", io_conn_poll, io_conn_drop,
                                              sizeof(io_conn), 0};

/* The server's root: accept, spawn echo tasks, wait for them and the clients. */
typedef struct io_root {
    int coro;
    io_run *run;
    weft_oneshot *clients_rx, *conns_rx; /* NULL once received */
    weft_tcp_stream st;
    long accepted;
    int res;
    int rc;
} io_root;

/* READY with s->res 0 (s->st accepted), < 0 (accept failed) or 1 (every
 * client thread has exited: stop accepting). */
static weft_poll io_accept_or_clients_done(io_root *s, weft_context *cx)
{
    if (weft_tcp_accept_poll(&s->run->listener, cx, &s->st, &s->res) == WEFT_READY) return WEFT_READY;
    uint64_t v;
    int r;
    if (weft_oneshot_recv_poll(s->clients_rx, cx, &v, &r) == WEFT_READY) {
        s->clients_rx = NULL;
        s->res = 1;
        return WEFT_READY;
    }
    return WEFT_PENDING;
}

static weft_poll io_root_poll(void *p, weft_context *cx, void *out)
{
    io_root *s = p;
    WEFT_CORO_BEGIN(s);
    /* release: pairs with io_run_release's acquire */
    atomic_store_explicit(&s->run->root_started, 1, memory_order_release);
    while (s->accepted < s->run->expect_conns && s->clients_rx) {
        WEFT_AWAIT(s, io_accept_or_clients_done(s, cx));
        if (s->res > 0) break;
        if (s->res < 0) {
            io_server_error(s->run, s->res);
            break;
        }
        s->accepted++;
        atomic_fetch_add_explicit(&s->run->accepted, 1, memory_order_relaxed);
        {
            io_conn init;
            memset(&init, 0, sizeof init);
            init.run = s->run;
            init.st = s->st; /* moved: no operation is pending on it */
            memset(&s->st, 0, sizeof s->st);
            /* relaxed: the root's own reference keeps conns.remaining >= 1 here */
            wl_latch_add(&s->run->conns, 1);
            if (weft_spawn(weft_context_runtime(cx), &io_conn_type, &init, NULL) < 0) {
                weft_tcp_stream_drop(&init.st);
                atomic_fetch_add_explicit(&s->run->spawn_errors, 1, memory_order_relaxed);
                io_conns_count_down(s->run);
            }
        }
    }
    io_conns_count_down(s->run); /* the root's reference */
    {
        uint64_t v;
        WEFT_AWAIT(s, weft_oneshot_recv_poll(s->conns_rx, cx, &v, &s->rc));
        s->conns_rx = NULL;
    }
    if (s->clients_rx) {
        uint64_t v;
        WEFT_AWAIT(s, weft_oneshot_recv_poll(s->clients_rx, cx, &v, &s->rc));
        s->clients_rx = NULL;
    }
    WEFT_CORO_END(s);
}
static void io_root_drop(void *p)
{
    io_root *s = p;
    if (s->clients_rx) weft_oneshot_receiver_drop(s->clients_rx);
    if (s->conns_rx) weft_oneshot_receiver_drop(s->conns_rx);
    s->clients_rx = s->conns_rx = NULL;
    weft_tcp_stream_drop(&s->st);
}
static const weft_future_type io_root_type = {"io.server", io_root_poll, io_root_drop,
                                              sizeof(io_root), 0};

static int io_serve(weft_runtime *rt, io_run *run)
{
    io_root root;
    memset(&root, 0, sizeof root);
    root.run = run;
    root.clients_rx = run->clients.done;
    root.conns_rx = run->conns.done;
    return weft_block_on(rt, &io_root_type, &root, NULL);
}

/* Sets up the run and its listener: 0 or a negative errno (nothing to free). */
static int io_setup(weft_runtime *rt, io_run *run, long conns, size_t server_buf, int threads)
{
    memset(run, 0, sizeof *run);
    run->expect_conns = conns;
    run->server_buf = server_buf;
    atomic_init(&run->root_started, 0);
    atomic_init(&run->accepted, 0);
    atomic_init(&run->server_errors, 0);
    atomic_init(&run->first_server_error, 0);
    atomic_init(&run->spawn_errors, 0);
    atomic_init(&run->echoed, 0);
    atomic_init(&run->fault_done, 0);
    /* backlog: every connection may be queued before the first accept */
    int backlog = conns + 64 > 4096 ? 4096 : (int)conns + 64;
    int rc = weft_tcp_listener_init(&run->listener, rt, "127.0.0.1", 0, backlog);
    if (rc < 0) return rc;
    run->port = weft_tcp_listener_port(&run->listener);
    if (wl_latch_init(&run->conns, 1) < 0) {
        weft_tcp_listener_drop(&run->listener);
        return -ENOMEM;
    }
    if (wl_latch_init(&run->clients, threads) < 0) {
        weft_oneshot_sender_drop(run->conns.done);
        weft_oneshot_receiver_drop(run->conns.done);
        weft_tcp_listener_drop(&run->listener);
        return -ENOMEM;
    }
    return 0;
}

/* ---- client helpers (plain threads, no runtime code) -------------------------------- */

/* Set before the client threads start (pthread_create orders it), so a plain pointer. */
static weft_workload_connect_fn io_connect_hook;
void weft_workload_set_connect_hook(weft_workload_connect_fn fn) { io_connect_hook = fn; }

static int io_connect(uint16_t port, char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A connect interrupted by a signal is not restarted: the connection
     * goes on in the background, and POSIX lets a second connect() fail
     * with EALREADY (or EISCONN once it completed); Linux's blocking
     * connect happens to wait instead, other systems need not. Wait for the
     * socket to become writable and read the outcome from SO_ERROR.
     * (tests/test_workloads.c: test_connect_eintr, through the hook.) */
    int rc = io_connect_hook ? io_connect_hook(fd, &a, sizeof a) : connect(fd, (struct sockaddr *)&a, sizeof a);
    if (rc < 0 && (errno == EINTR || errno == EINPROGRESS)) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int pr;
        do pr = poll(&pfd, 1, 10000);
        while (pr < 0 && errno == EINTR);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (pr == 0) {
            errno = ETIMEDOUT;
        } else if (pr > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0) {
            rc = soerr ? -1 : 0;
            errno = soerr;
        }
    }
    if (rc < 0) {
        snprintf(err, errlen, "connect to 127.0.0.1:%u: %s", (unsigned)port, strerror(errno));
        close(fd);
        return -1;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* ---- tcp_echo ------------------------------------------------------------------------ */

typedef struct te_conn {
    int fd;
    long id;          /* connection number, 0..C-1 */
    long req;         /* requests completed */
    size_t sent, rcvd;
    uint64_t t_send;
    unsigned char *tx, *rx;
} te_conn;

typedef struct te_client {
    io_run *run;
    long first, count; /* connections [first, first + count) */
    size_t msg;
    long reqs;
    hist lat;
    long completed;
    uint64_t rx_bytes; /* echo bytes received (external server: its echoed count) */
    long corrupt;
    char err[200];
    pthread_t th;
    int started;
} te_client;

static void te_fill(unsigned char *buf, size_t n, long conn, long req)
{
    uint64_t x = wl_splitmix64(((uint64_t)conn << 32) ^ (uint64_t)req);
    for (size_t j = 0; j < n; j++) {
        buf[j] = (unsigned char)(x >> 56);
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    }
}

/* Sends what is left of c's request; -1 (with err) on a socket error. */
static int te_send_more(te_client *cl, te_conn *c)
{
    while (c->sent < cl->msg) {
        ssize_t n = send(c->fd, c->tx + c->sent, cl->msg - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        snprintf(cl->err, sizeof cl->err, "connection %ld: send: %s", c->id, strerror(errno));
        return -1;
    }
    return 0;
}

static int te_start(te_client *cl, te_conn *c)
{
    te_fill(c->tx, cl->msg, c->id, c->req);
    c->sent = c->rcvd = 0;
    c->t_send = clock_now_ns();
    return te_send_more(cl, c);
}

/* Reads what is there; on a complete echo records and checks it and starts
 * the next request (or closes after the last). -1 on an error. */
static int te_recv(te_client *cl, te_conn *c, long *active)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->rx + c->rcvd, cl->msg - c->rcvd, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        if (n <= 0) {
            snprintf(cl->err, sizeof cl->err, "connection %ld, request %ld: %s", c->id, c->req,
                     n == 0 ? "the server closed the connection" : strerror(errno));
            return -1;
        }
        c->rcvd += (size_t)n;
        cl->rx_bytes += (uint64_t)n;
        if (c->rcvd < cl->msg) continue;
        hist_record(&cl->lat, clock_now_ns() - c->t_send);
        if (memcmp(c->tx, c->rx, cl->msg) != 0) cl->corrupt++;
        cl->completed++;
        c->req++;
        if (c->req == cl->reqs) {
            close(c->fd);
            c->fd = -1;
            (*active)--;
            return 0;
        }
        if (te_start(cl, c) < 0) return -1;
    }
}

static void *te_client_main(void *p)
{
    te_client *cl = p;
    te_conn *conns = calloc((size_t)cl->count + 1, sizeof *conns);
    struct pollfd *pfd = calloc((size_t)cl->count + 1, sizeof *pfd);
    unsigned char *bufs = malloc(2 * cl->msg * (size_t)(cl->count + 1));
    long *idx = calloc((size_t)cl->count + 1, sizeof *idx);
    long active = 0;
    if (!conns || !pfd || !bufs || !idx) {
        snprintf(cl->err, sizeof cl->err, "client thread: out of memory");
        goto out;
    }
    for (long i = 0; i < cl->count; i++) conns[i].fd = -1;
    for (long i = 0; i < cl->count; i++) {
        te_conn *c = &conns[i];
        c->id = cl->first + i;
        c->tx = bufs + 2 * cl->msg * (size_t)i;
        c->rx = c->tx + cl->msg;
        c->fd = io_connect(cl->run->port, cl->err, sizeof cl->err);
        if (c->fd < 0) goto out;
        if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0) {
            snprintf(cl->err, sizeof cl->err, "fcntl O_NONBLOCK: %s", strerror(errno));
            goto out;
        }
    }
    active = cl->count;
    for (long i = 0; i < cl->count; i++)
        if (te_start(cl, &conns[i]) < 0) goto out;
    while (active > 0) {
        int np = 0;
        for (long i = 0; i < cl->count; i++) {
            if (conns[i].fd < 0) continue;
            pfd[np].fd = conns[i].fd;
            pfd[np].events = (short)(POLLIN | (conns[i].sent < cl->msg ? POLLOUT : 0));
            pfd[np].revents = 0;
            idx[np++] = i;
        }
        int r = poll(pfd, (nfds_t)np, IO_STALL_MS);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(cl->err, sizeof cl->err, "poll: %s", strerror(errno));
            goto out;
        }
        if (r == 0) {
            snprintf(cl->err, sizeof cl->err, "no echo for %d ms (%ld of %ld connections unfinished)",
                     IO_STALL_MS, active, cl->count);
            goto out;
        }
        for (int k = 0; k < np; k++) {
            if (!pfd[k].revents) continue;
            te_conn *c = &conns[idx[k]];
            if ((pfd[k].revents & POLLOUT) && te_send_more(cl, c) < 0) goto out;
            if ((pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) && te_recv(cl, c, &active) < 0)
                goto out;
        }
    }
out:
    if (conns)
        for (long i = 0; i < cl->count; i++)
            if (conns[i].fd >= 0) close(conns[i].fd);
    free(conns);
    free(pfd);
    free(bufs);
    free(idx);
    io_client_exit(cl->run);
    return NULL;
}

static int run_tcp_echo(weft_runtime *rt, const int64_t *params, const char *variant,
                        weft_wl_result *out)
{
    long conns = (long)params[0], reqs = (long)params[2];
    size_t msg = (size_t)params[1];
    int nthreads = (int)params[3];
    uint16_t ext_port = (uint16_t)params[4];
    if (nthreads > conns) nthreads = (int)conns;

    te_client *cl = calloc((size_t)nthreads, sizeof *cl);
    if (!cl) return -ENOMEM;
    for (int t = 0; t < nthreads; t++) {
        if (hist_init(&cl[t].lat, 1, 3600ull * WEFT_SEC, 3) < 0) {
            for (int u = 0; u < t; u++) hist_destroy(&cl[u].lat);
            free(cl);
            return -ENOMEM;
        }
    }
    io_run run;
    int rc = 0;
    if (ext_port) {
        /* only what the client threads read: no listener, no one-shots */
        memset(&run, 0, sizeof run);
        run.external = true;
        run.port = ext_port;
        run.expect_conns = conns;
        atomic_init(&run.server_errors, 0); /* read below, never written */
        atomic_init(&run.first_server_error, 0);
        atomic_init(&run.spawn_errors, 0);
    } else {
        rc = io_setup(rt, &run, conns, 4096, nthreads);
    }
    if (rc < 0) {
        for (int t = 0; t < nthreads; t++) hist_destroy(&cl[t].lat);
        free(cl);
        return rc;
    }
    long first = 0;
    for (int t = 0; t < nthreads; t++) {
        cl[t].run = &run;
        cl[t].first = first;
        cl[t].count = conns / nthreads + (t < conns % nthreads ? 1 : 0);
        cl[t].msg = msg;
        cl[t].reqs = reqs;
        first += cl[t].count;
    }

    uint64_t t0 = clock_now_ns();
    int create_errors = 0;
    for (int t = 0; t < nthreads; t++) {
        if (pthread_create(&cl[t].th, NULL, te_client_main, &cl[t]) == 0) {
            cl[t].started = 1;
        } else {
            create_errors++;
            io_client_exit(&run); /* its connections never come */
        }
    }
    int brc = 0;
    if (!run.external) {
        brc = io_serve(rt, &run);
        io_run_release(&run, brc);
    }
    for (int t = 0; t < nthreads; t++)
        if (cl[t].started) pthread_join(cl[t].th, NULL);
    out->elapsed_ns = clock_now_ns() - t0;

    long completed = 0, corrupt = 0;
    uint64_t rx_bytes = 0;
    const char *client_err = NULL;
    for (int t = 0; t < nthreads; t++) {
        completed += cl[t].completed;
        corrupt += cl[t].corrupt;
        rx_bytes += cl[t].rx_bytes;
        if (!client_err && cl[t].err[0]) client_err = cl[t].err;
        if (t > 0) hist_merge(&cl[0].lat, &cl[t].lat);
    }
    out->units = (double)(conns * reqs);
    wl_latency_from_hist(out, &cl[0].lat);
    char errbuf[256];
    errbuf[0] = 0;
    if (client_err) snprintf(errbuf, sizeof errbuf, "%s", client_err);
    for (int t = 0; t < nthreads; t++) hist_destroy(&cl[t].lat);
    free(cl);

    if (brc < 0) return brc;
    long accepted = run.external ? conns : atomic_load_explicit(&run.accepted, memory_order_relaxed);
    uint64_t echoed = run.external ? rx_bytes : atomic_load_explicit(&run.echoed, memory_order_relaxed);
    wl_check(out, "requests", (double)completed);
    wl_check(out, "requests_per_s", out->elapsed_ns ? (double)completed * 1e9 / (double)out->elapsed_ns : 0);
    wl_check(out, "bytes_echoed", (double)echoed);
    wl_check(out, "corrupted_echoes", (double)corrupt);
    WL_EXPECT_EQ(out, "client threads that could not start", create_errors, 0);
    if (errbuf[0] && run.external)
        return wl_fail(out, "client (external server on 127.0.0.1:%u): %s", (unsigned)run.port, errbuf);
    if (errbuf[0]) return wl_fail(out, "client: %s", errbuf);
    if (io_server_failed(&run, out)) return -EPROTO;
    WL_EXPECT_EQ(out, "spawn errors", atomic_load_explicit(&run.spawn_errors, memory_order_relaxed), 0);
    WL_EXPECT_EQ(out, "connections accepted", accepted, conns);
    WL_EXPECT_EQ(out, "corrupted echoes", corrupt, 0);
    WL_EXPECT_EQ(out, "requests completed", completed, conns * reqs);
    WL_EXPECT_EQ(out, "bytes echoed by the server", echoed, (uint64_t)(conns * reqs) * msg);
    return 0;
}

const weft_workload wl_tcp_echo = {
    .name = "tcp_echo",
    .description = "closed-loop echo on 127.0.0.1: C connections from T client threads outside the "
                   "runtime, each sends S bytes and waits for the echo, R times; latency from each "
                   "request's actual send (closed loop: no coordinated omission)",
    .unit_name = "request",
    .kind = "io",
    .nparams = 5,
    .params = {{"conns", "C: connections", {8, 64, 256}, 1, 10000},
               {"msg_bytes", "S: message size (bytes)", {64, 64, 64}, 1, 16 << 20},
               {"requests", "R: requests per connection", {100, 250, 10000}, 1, 100000000},
               {"client_threads", "T: client threads (outside the runtime)", {2, 2, 2}, 1, 64},
               {"external_port", "0: weft's own echo server; P: drive an external echo server on "
                                 "127.0.0.1:P instead (no weft server task; bench/echo_compare.sh)",
                {0, 0, 0}, 0, 65535}},
    .run = run_tcp_echo,
    .iterations = {1, 1, 1},
    .rank_metric = "requests_per_s",
    .rank_better = "higher",
    .standard_trim = "R = 250 requests per connection, not 1 000 (full: 10 000): 0.43 s per iteration here",
};

/* ---- tcp_stream --------------------------------------------------------------------- */

#define TS_CHUNK (256u << 10)   /* client send/recv size */
#define TS_SERVER_BUF (64u << 10)
#define FNV_PRIME64 0x100000001b3ull
#define FNV_BASIS64 0xcbf29ce484222325ull

/* 4-lane FNV-1a over 64-bit little-endian words of the byte stream; word i
 * goes to lane i % 4; a final partial word is zero-padded; the byte count is
 * folded in. Independent of how the stream was cut into calls. */
typedef struct fnv4 {
    uint64_t h[4];
    unsigned char tail[32];
    size_t ntail;
    uint64_t total;
} fnv4;

static void fnv4_init(fnv4 *f)
{
    for (int i = 0; i < 4; i++) f->h[i] = FNV_BASIS64 + (uint64_t)i;
    f->ntail = 0;
    f->total = 0;
}

static inline void fnv4_block(fnv4 *f, const unsigned char *p)
{
    uint64_t w[4];
    memcpy(w, p, sizeof w);
    for (int i = 0; i < 4; i++) f->h[i] = (f->h[i] ^ w[i]) * FNV_PRIME64;
}

static void fnv4_update(fnv4 *f, const unsigned char *p, size_t n)
{
    f->total += n;
    if (f->ntail) {
        size_t k = 32 - f->ntail < n ? 32 - f->ntail : n;
        memcpy(f->tail + f->ntail, p, k);
        f->ntail += k;
        p += k;
        n -= k;
        if (f->ntail < 32) return;
        fnv4_block(f, f->tail);
        f->ntail = 0;
    }
    for (; n >= 32; p += 32, n -= 32) fnv4_block(f, p);
    memcpy(f->tail, p, n);
    f->ntail = n;
}

static uint64_t fnv4_final(fnv4 *f)
{
    memset(f->tail + f->ntail, 0, 32 - f->ntail);
    if (f->ntail) fnv4_block(f, f->tail); /* the byte count below tells the padding apart */
    uint64_t h = f->total;
    for (int i = 0; i < 4; i++) h = (h ^ f->h[i]) * FNV_PRIME64;
    return h;
}

typedef struct ts_side {
    io_run *run;
    int fd;
    uint64_t bytes;     /* writer: to send; reader: received */
    uint64_t done;
    uint64_t hash;
    char err[200];
    pthread_t th;
    int started;
} ts_side;

static void *ts_writer_main(void *p)
{
    ts_side *w = p;
    uint64_t *buf = malloc(TS_CHUNK);
    fnv4 f;
    fnv4_init(&f);
    uint64_t word = 0; /* before the goto: -Wjump-misses-init */
    if (!buf) {
        snprintf(w->err, sizeof w->err, "writer: out of memory");
        goto out;
    }
    while (w->done < w->bytes) {
        size_t n = w->bytes - w->done < TS_CHUNK ? (size_t)(w->bytes - w->done) : TS_CHUNK;
        for (size_t i = 0; i < (n + 7) / 8; i++, word++) buf[i] = (word + 1) * 0x9e3779b97f4a7c15ull;
        fnv4_update(&f, (const unsigned char *)buf, n);
        size_t off = 0;
        while (off < n) {
            ssize_t k = send(w->fd, (const unsigned char *)buf + off, n - off, MSG_NOSIGNAL);
            if (k > 0) {
                off += (size_t)k;
                continue;
            }
            if (k < 0 && errno == EINTR) continue;
            snprintf(w->err, sizeof w->err, "writer: send after %llu bytes: %s",
                     (unsigned long long)(w->done + off),
                     k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? "no progress for 10 s"
                                                                         : strerror(errno));
            goto out;
        }
        w->done += n;
    }
    if (shutdown(w->fd, SHUT_WR) < 0)
        snprintf(w->err, sizeof w->err, "writer: shutdown: %s", strerror(errno));
out:
    w->hash = fnv4_final(&f);
    free(buf);
    if (w->err[0]) (void)shutdown(w->fd, SHUT_RDWR); /* unblock the reader and the server */
    io_client_exit(w->run);
    return NULL;
}

static void *ts_reader_main(void *p)
{
    ts_side *r = p;
    unsigned char *buf = malloc(TS_CHUNK);
    fnv4 f;
    fnv4_init(&f);
    if (!buf) {
        snprintf(r->err, sizeof r->err, "reader: out of memory");
        (void)shutdown(r->fd, SHUT_RDWR);
        goto out;
    }
    for (;;) {
        ssize_t k = recv(r->fd, buf, TS_CHUNK, 0);
        if (k > 0) {
            fnv4_update(&f, buf, (size_t)k);
            r->done += (uint64_t)k;
            continue;
        }
        if (k == 0) break;
        if (errno == EINTR) continue;
        snprintf(r->err, sizeof r->err, "reader: recv after %llu bytes: %s",
                 (unsigned long long)r->done,
                 errno == EAGAIN || errno == EWOULDBLOCK ? "no progress for 10 s" : strerror(errno));
        (void)shutdown(r->fd, SHUT_RDWR);
        break;
    }
out:
    r->hash = fnv4_final(&f);
    free(buf);
    io_client_exit(r->run);
    return NULL;
}

static int run_tcp_stream(weft_runtime *rt, const int64_t *params, const char *variant,
                          weft_wl_result *out)
{
    uint64_t bytes = (uint64_t)params[0];
    io_run run;
    int rc = io_setup(rt, &run, 1, TS_SERVER_BUF, 2);
    if (rc < 0) return rc;
    ts_side w, r;
    memset(&w, 0, sizeof w);
    memset(&r, 0, sizeof r);
    w.run = r.run = &run;
    w.bytes = bytes;
    /* connected before the clock starts; the kernel completes it from the backlog */
    w.fd = r.fd = io_connect(run.port, w.err, sizeof w.err);
    if (w.fd >= 0) {
        struct timeval tv = {IO_STALL_MS / 1000, 0};
        (void)setsockopt(w.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        (void)setsockopt(w.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }

    uint64_t t0 = clock_now_ns();
    int create_errors = 0;
    if (w.fd >= 0 && pthread_create(&w.th, NULL, ts_writer_main, &w) == 0) w.started = 1;
    else io_client_exit(&run);
    if (w.started && pthread_create(&r.th, NULL, ts_reader_main, &r) == 0) r.started = 1;
    else io_client_exit(&run);
    if (w.fd >= 0 && (!w.started || !r.started)) {
        /* the server may already have accepted it: EOF ends its echo task, and
         * a started writer fails at its next send */
        (void)shutdown(w.fd, SHUT_RDWR);
        create_errors++;
    }
    int brc = io_serve(rt, &run);
    io_run_release(&run, brc);
    if (w.started) pthread_join(w.th, NULL);
    if (r.started) pthread_join(r.th, NULL);
    out->elapsed_ns = clock_now_ns() - t0;
    if (w.fd >= 0) close(w.fd);

    if (brc < 0) return brc;
    uint64_t echoed = atomic_load_explicit(&run.echoed, memory_order_relaxed);
    out->units = (double)bytes;
    wl_check(out, "bytes_returned", (double)r.done);
    wl_check(out, "GiB_per_s", out->elapsed_ns ? (double)bytes / (double)(1u << 30) /
                                                     ((double)out->elapsed_ns / 1e9) : 0);
    if (w.err[0]) return wl_fail(out, "client %s", w.err);
    if (r.err[0]) return wl_fail(out, "client %s", r.err);
    WL_EXPECT_EQ(out, "client threads that could not start", create_errors, 0);
    if (io_server_failed(&run, out)) return -EPROTO;
    WL_EXPECT_EQ(out, "connections accepted", atomic_load_explicit(&run.accepted, memory_order_relaxed), 1);
    WL_EXPECT_EQ(out, "bytes sent", w.done, bytes);
    WL_EXPECT_EQ(out, "bytes echoed by the server", echoed, bytes);
    WL_EXPECT_EQ(out, "bytes returned", r.done, bytes);
    if (r.hash != w.hash)
        return wl_fail(out, "checksum of the returned stream: expected %016llx, got %016llx",
                       (unsigned long long)w.hash, (unsigned long long)r.hash);
    return 0;
}

const weft_workload wl_tcp_stream = {
    .name = "tcp_stream",
    .description = "one connection streams B bytes through an echo task and back (writer and "
                   "reader threads outside the runtime); checksum and byte count must match",
    .unit_name = "byte",
    .kind = "io",
    .nparams = 1,
    .params = {{"bytes", "B: bytes streamed each way", {8 << 20, 64 << 20, 1ll << 30}, 1,
                1ll << 40}},
    .run = run_tcp_stream,
    .iterations = {1, 1, 1},
    .rank_metric = "GiB_per_s",
    .rank_better = "higher",
    .standard_trim = "B = 64 MiB each way, not 1 GiB (full: 1 GiB): loopback runs at about 1-2 GiB/s here",
};
