/*
 * examples/echo_server.c - a TCP echo server on weft.
 *
 *     echo_server --port P [--scheduler NAME] [--workers N]
 *
 * Listens on 127.0.0.1:P (P = 0: an ephemeral port), prints exactly
 * "listening on 127.0.0.1:P" (the real port) once it accepts, serves any
 * number of connections, one task per connection, and on SIGINT or SIGTERM
 * stops accepting, frees the runtime (which cancels the connection tasks;
 * their drop functions close the sockets) and exits 0. Bad flags: a usage
 * message and exit status 2.
 *
 * How a signal reaches the accept loop. A signal handler may not call a
 * waker, so the signals are blocked in every thread (the mask is set before
 * the runtime starts its workers, which inherit it) and a plain thread takes
 * them with sigwait() and fires a cancellation token (weft/cancel.h), which
 * is safe from any thread at any time before the token is freed, also while
 * the runtime is being freed. The accept loop awaits
 * weft_cancel_poll(stop, accept): whichever of "connection ready" and "stop
 * requested" comes first wakes it.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft/cancel.h"
#include "weft/net.h"
#include "weft/runtime.h"

static weft_cancel *g_stop; /* fired by the signal thread */

/* SIGUSR1 is internal: main sends it to end the signal thread when the
 * server stopped for another reason. */
static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0) continue;
        if (sig == SIGINT || sig == SIGTERM) weft_cancel_fire(g_stop);
        return NULL;
    }
}

/* ---- one connection --------------------------------------------------------------------- */

typedef struct conn {
    int coro;
    ssize_t n;
    int res;
    weft_tcp_stream s;
    weft_tcp_write_all w;
    unsigned char buf[16384];
} conn;

static weft_poll conn_poll(void *p, weft_context *cx, void *out)
{
    conn *st = p;
    (void)out;
    WEFT_CORO_BEGIN(st);
    for (;;) {
        WEFT_AWAIT(st, weft_tcp_read_poll(&st->s, cx, st->buf, sizeof st->buf, &st->n));
        if (st->n <= 0) break; /* EOF or an error (reset): either way, done */
        weft_tcp_write_all_init(&st->w, &st->s, st->buf, (size_t)st->n);
        WEFT_AWAIT(st, weft_tcp_write_all_poll(&st->w, cx, &st->res));
        if (st->res < 0) break;
    }
    weft_tcp_stream_drop(&st->s);
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static void conn_drop(void *p) { weft_tcp_stream_drop(&((conn *)p)->s); }
WEFT_FUTURE_TYPE(conn_type, conn_poll, conn_drop, conn, 0);

/* ---- the accept loop ---------------------------------------------------------------------- */

typedef struct server {
    int coro;
    uint16_t port;
    int res;
    weft_cancel_wait stop;
    weft_tcp_listener l;
    weft_tcp_stream s;
} server;

/* Output int: the exit status. */
static weft_poll server_poll(void *p, weft_context *cx, void *out)
{
    server *st = p;
    WEFT_CORO_BEGIN(st);
    st->res = weft_tcp_listener_init(&st->l, weft_context_runtime(cx), "127.0.0.1", st->port, 1024);
    if (st->res < 0) {
        fprintf(stderr, "echo_server: cannot listen on 127.0.0.1:%u: %s\n", (unsigned)st->port,
                strerror(-st->res));
        WEFT_CORO_RETURN(st, out, int, 1);
    }
    printf("listening on 127.0.0.1:%u\n", (unsigned)weft_tcp_listener_port(&st->l));
    fflush(stdout);
    weft_cancel_wait_init(&st->stop, g_stop);
    for (;;) {
        WEFT_AWAIT(st, weft_cancel_poll(&st->stop, cx, weft_tcp_accept_poll(&st->l, cx, &st->s, &st->res)));
        if (weft_cancel_wait_result(&st->stop) == -ECANCELED) break;
        if (st->res < 0) { /* EMFILE and friends never come here: accept backs off */
            fprintf(stderr, "echo_server: accept: %s\n", strerror(-st->res));
            weft_tcp_listener_drop(&st->l);
            WEFT_CORO_RETURN(st, out, int, 1);
        }
        conn init;
        memset(&init, 0, sizeof init);
        init.s = st->s;
        if (weft_spawn(weft_context_runtime(cx), &conn_type, &init, NULL) < 0) {
            fprintf(stderr, "echo_server: spawn: %s\n", weft_last_error());
            weft_tcp_stream_drop(&init.s);
        }
    }
    weft_tcp_listener_drop(&st->l);
    WEFT_CORO_RETURN(st, out, int, 0);
    WEFT_CORO_END(st);
}
static void server_drop(void *p)
{
    weft_cancel_wait_drop(&((server *)p)->stop);
    weft_tcp_listener_drop(&((server *)p)->l);
}
WEFT_FUTURE_TYPE(server_type, server_poll, server_drop, server, sizeof(int));

/* ---- main ---------------------------------------------------------------------------------- */

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s --port P [--scheduler NAME] [--workers N]\n"
            "  --port P          TCP port on 127.0.0.1 (0: pick a free one)\n"
            "  --scheduler NAME  one of:",
            argv0);
    for (int i = 0; i < weft_scheduler_count(); i++) fprintf(stderr, " %s", weft_scheduler_name(i));
    fprintf(stderr, " (default fifo)\n"
                    "  --workers N       worker threads (default: 1 for fifo, else the CPU count)\n");
}

static bool parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    long port = -1, workers = 0;
    const char *sched = "fifo";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--port") == 0 && parse_int(v, 0, 65535, &port)) i++;
        else if (strcmp(a, "--scheduler") == 0 && v) sched = argv[++i];
        else if (strcmp(a, "--workers") == 0 && parse_int(v, 1, WEFT_MAX_WORKERS, &workers)) i++;
        else {
            fprintf(stderr, "echo_server: bad or incomplete option '%s'\n", a);
            usage(argv[0]);
            return 2;
        }
    }
    if (port < 0) {
        fprintf(stderr, "echo_server: --port is required\n");
        usage(argv[0]);
        return 2;
    }
    weft_config cfg;
    weft_config_default(&cfg);
    cfg.scheduler = sched;
    if (workers == 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        workers = strcmp(sched, "fifo") == 0 ? 1 : (ncpu > 0 ? ncpu : 1);
        if (workers > WEFT_MAX_WORKERS) workers = WEFT_MAX_WORKERS;
    }
    cfg.workers = (int)workers;
    if (weft_config_validate(&cfg) < 0) {
        fprintf(stderr, "echo_server: %s\n", weft_last_error());
        usage(argv[0]);
        return 2;
    }

    /* Block the signals before any thread exists: every thread inherits the
     * mask, so only the signal thread's sigwait ever takes them. */
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN); /* belt and braces: weft already writes with MSG_NOSIGNAL */

    if (weft_cancel_new(&g_stop) < 0) return 1;
    pthread_t sig_th;
    if (pthread_create(&sig_th, NULL, signal_thread, &set) != 0) {
        fprintf(stderr, "echo_server: cannot start the signal thread\n");
        return 1;
    }
    weft_runtime *rt = NULL;
    int rc = weft_runtime_new(&cfg, &rt);
    int status = 1;
    if (rc < 0) {
        fprintf(stderr, "echo_server: %s\n", weft_last_error());
    } else {
        server init;
        memset(&init, 0, sizeof init);
        init.port = (uint16_t)port;
        rc = weft_block_on(rt, &server_type, &init, &status);
        if (rc < 0) {
            fprintf(stderr, "echo_server: %s\n", weft_last_error());
            status = 1;
        }
        weft_runtime_free(rt); /* cancels the connection tasks: their drops close the sockets */
    }
    pthread_kill(sig_th, SIGUSR1); /* ends the signal thread; harmless if it already returned */
    pthread_join(sig_th, NULL);
    weft_cancel_free(g_stop); /* after the signal thread: its fire may still be running */
    return status;
}
