/*
 * examples/kv_server.c - a line-protocol key-value server on weft.
 *
 *     kv_server --port P [--scheduler NAME] [--workers N] [--idle-ms MS] [--stats-ms MS]
 *
 * Listens on 127.0.0.1:P (0: an ephemeral port) and prints "listening on
 * 127.0.0.1:P". Protocol, one command per line:
 *     SET key value   -> OK            GET key -> VALUE value | NOTFOUND
 *     DEL key         -> OK | NOTFOUND QUIT    -> BYE
 * A connection idle for --idle-ms (default 10000) gets "BYE idle" and is
 * closed. Every --stats-ms (default 1000) a stats task prints "stats:
 * connections=C commands=N keys=K". SIGINT/SIGTERM: connections get "BYE
 * shutdown", the server drains its work queue and exits 0.
 *
 * The shape (what the weft API gives each part):
 *   - signal thread: sigwait, then weft_cancel_fire(stop) (weft/cancel.h);
 *   - accept loop: weft_cancel_poll(stop, accept);
 *   - one task per connection: a select (weft/select.h) of the stop token,
 *     the socket read and the idle sleep; each complete line becomes a
 *     request sent into an MPMC work queue (weft/mpmc.h), whose reply comes
 *     back on a one-shot as a malloc'd string;
 *   - EXECUTORS executor tasks receive from the queue (each request exactly
 *     once, whichever is free) and apply it to the table under a mutex;
 *   - a request never received (the queue closed with it inside) is passed
 *     to the queue's drop function, which drops its one-shot sender: the
 *     waiting connection sees -EPIPE instead of hanging;
 *   - every connection task holds a sender of a done channel (weft/sync.h)
 *     and drops it in its drop function; after the stop the main task drops
 *     its own and awaits the channel's -EPIPE, so every connection has said
 *     "BYE shutdown" and closed before the runtime is freed (a runtime
 *     freed first would drop them unpolled: the client sees EOF, no BYE);
 *   - the main task joins the stats task and the executors with join-all
 *     after closing the queue.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/cancel.h"
#include "weft/mpmc.h"
#include "weft/net.h"
#include "weft/runtime.h"
#include "weft/select.h"
#include "weft/sync.h"

enum { EXECUTORS = 2, KEY_MAX = 64, VAL_MAX = 256, LINE_MAX_ = 512, TABLE = 1024 };

static weft_cancel *g_stop;
static weft_mpmc *g_queue; /* of struct request */
static weft_channel *g_done; /* every connection holds a sender: -EPIPE once all ended */
static _Atomic bool g_done_taken; /* the server took the channel's sender and receiver (else main drops them) */
enum { GRACE_MS = 2000 }; /* a connection that cannot finish its BYE by then is dropped */
static uint64_t g_idle_ns = 10 * WEFT_SEC, g_stats_ns = 1 * WEFT_SEC;
static _Atomic long g_conns, g_commands; /* counters only: relaxed is enough */

/* ---- the table: executor tasks only, under a mutex (critical sections of a few us) ---- */
typedef struct entry {
    struct entry *next;
    char key[KEY_MAX], val[VAL_MAX];
} entry;
static entry *g_table[TABLE];
static long g_keys;
static pthread_mutex_t g_table_mu = PTHREAD_MUTEX_INITIALIZER;

static entry **table_find(const char *key)
{
    unsigned h = 5381;
    for (const char *p = key; *p; p++) h = h * 33u + (unsigned char)*p;
    entry **e = &g_table[h % TABLE];
    while (*e && strcmp((*e)->key, key) != 0) e = &(*e)->next;
    return e;
}

static char *table_apply(char op, const char *key, const char *val)
{
    char buf[VAL_MAX + 16];
    pthread_mutex_lock(&g_table_mu);
    entry **e = table_find(key);
    if (op == 'S') {
        if (!*e && (*e = calloc(1, sizeof **e))) g_keys++;
        if (*e) snprintf((*e)->key, KEY_MAX, "%s", key), snprintf((*e)->val, VAL_MAX, "%s", val);
        snprintf(buf, sizeof buf, *e ? "OK\n" : "ERR memory\n");
    } else if (op == 'G') {
        snprintf(buf, sizeof buf, *e ? "VALUE %s\n" : "NOTFOUND\n", *e ? (*e)->val : "");
    } else {
        entry *x = *e;
        if (x) *e = x->next, free(x), g_keys--;
        snprintf(buf, sizeof buf, x ? "OK\n" : "NOTFOUND\n");
    }
    pthread_mutex_unlock(&g_table_mu);
    return strdup(buf);
}

/* ---- the work queue --------------------------------------------------------------------- */
typedef struct request {
    char op; /* 'S', 'G', 'D' */
    char key[KEY_MAX], val[VAL_MAX];
    weft_oneshot *reply; /* sender side: the reply string as a pointer */
} request;

static void request_drop(void *p) { weft_oneshot_sender_drop(((request *)p)->reply); }

typedef struct executor {
    int coro;
    request req;
    weft_mpmc_recv recv;
} executor;

static weft_poll executor_poll(void *p, weft_context *cx, void *out)
{
    executor *st = p;
    WEFT_CORO_BEGIN(st);
    for (;;) {
        weft_mpmc_recv_init(&st->recv, g_queue, &st->req);
        WEFT_AWAIT(st, weft_mpmc_recv_poll(&st->recv, cx, NULL));
        if (weft_mpmc_recv_result(&st->recv) != 0) break; /* closed and drained */
        char *reply = table_apply(st->req.op, st->req.key, st->req.val);
        if (weft_oneshot_send(st->req.reply, (uint64_t)(uintptr_t)reply) < 0) free(reply); /* asker gone */
    }
    weft_mpmc_receiver_drop(g_queue);
    WEFT_CORO_RETURN(st, out, int, 0);
    WEFT_CORO_END(st);
}
static void executor_drop(void *p) { weft_mpmc_recv_drop(&((executor *)p)->recv); }
WEFT_FUTURE_TYPE(executor_type, executor_poll, executor_drop, executor, sizeof(int));

/* ---- one connection ---------------------------------------------------------------------- */
typedef struct conn {
    int coro, which, res;
    ssize_t n;
    size_t len;                    /* bytes in line */
    weft_tcp_stream s;
    weft_cancel_wait stop;
    weft_sleep idle;
    weft_select_arm arms[3];
    weft_select sel;
    request req;
    weft_mpmc_send send;
    weft_oneshot *reply;
    uint64_t reply_ptr;
    char *out;
    weft_tcp_write_all w;
    char line[LINE_MAX_], rbuf[LINE_MAX_];
} conn;

static weft_poll conn_read_arm(void *p, weft_context *cx)
{
    conn *st = p;
    return weft_tcp_read_poll(&st->s, cx, st->rbuf, sizeof st->rbuf - st->len, &st->n);
}

/* Parses st->line into st->req; returns the immediate reply, or NULL. */
static const char *conn_parse(conn *st)
{
    char cmd[8] = "", key[KEY_MAX] = "", val[VAL_MAX] = "";
    int k = sscanf(st->line, "%7s %63s %255[^\r\n]", cmd, key, val);
    if (strcmp(cmd, "QUIT") == 0) return "BYE\n";
    st->req.op = strcmp(cmd, "SET") == 0 && k == 3 ? 'S' : strcmp(cmd, "GET") == 0 && k >= 2 ? 'G'
               : strcmp(cmd, "DEL") == 0 && k >= 2 ? 'D' : 0;
    if (!st->req.op) return "ERR usage: SET key value | GET key | DEL key | QUIT\n";
    memcpy(st->req.key, key, sizeof key);
    memcpy(st->req.val, val, sizeof val);
    return NULL;
}

static weft_poll conn_poll(void *p, weft_context *cx, void *out)
{
    conn *st = p;
    (void)out;
    WEFT_CORO_BEGIN(st);
    atomic_fetch_add(&g_conns, 1);
    weft_cancel_wait_init(&st->stop, g_stop);
    for (;;) {
        weft_sleep_init(&st->idle, g_idle_ns);
        st->arms[0] = weft_select_arm_cancel(&st->stop);
        st->arms[1] = (weft_select_arm){conn_read_arm, NULL, st};
        st->arms[2] = weft_select_arm_sleep(&st->idle);
        weft_select_init(&st->sel, st->arms, 3);
        WEFT_AWAIT(st, weft_select_poll(&st->sel, cx, &st->which));
        weft_select_drop(&st->sel);
        if (st->which != 1) { /* stop or idle: say why, then close */
            st->out = strdup(st->which == 0 ? "BYE shutdown\n" : "BYE idle\n");
            break;
        }
        if (st->n <= 0) goto done; /* EOF or reset */
        memcpy(st->line + st->len, st->rbuf, (size_t)st->n);
        st->len += (size_t)st->n;
        for (char *nl; (nl = memchr(st->line, '\n', st->len));) {
            *nl = 0;
            {
                const char *now = conn_parse(st);
                size_t used = (size_t)(nl - st->line) + 1;
                memmove(st->line, nl + 1, st->len - used);
                st->len -= used;
                atomic_fetch_add(&g_commands, 1);
                if (now) {
                    st->out = strdup(now);
                    if (now[0] == 'B') goto reply_and_close;
                    goto write_out;
                }
            }
            if (weft_oneshot_new(&st->reply) < 0) goto done;
            st->req.reply = st->reply;
            weft_mpmc_send_init(&st->send, g_queue, &st->req); /* the queue owns the sender side now */
            WEFT_AWAIT(st, weft_mpmc_send_poll(&st->send, cx, NULL));
            if (weft_mpmc_send_result(&st->send) != 0) request_drop(&st->req); /* queue closed */
            WEFT_AWAIT(st, weft_oneshot_recv_poll(st->reply, cx, &st->reply_ptr, &st->res));
            st->reply = NULL;
            st->out = st->res == 0 ? (char *)(uintptr_t)st->reply_ptr : strdup("ERR shutting down\n");
        write_out:
            weft_tcp_write_all_init(&st->w, &st->s, st->out, strlen(st->out));
            WEFT_AWAIT(st, weft_tcp_write_all_poll(&st->w, cx, &st->res));
            free(st->out);
            st->out = NULL;
            if (st->res < 0) goto done;
        }
        if (st->len == sizeof st->line) { /* a line longer than the buffer */
            st->out = strdup("ERR line too long\n");
            break;
        }
    }
reply_and_close:
    weft_tcp_write_all_init(&st->w, &st->s, st->out, strlen(st->out));
    WEFT_AWAIT(st, weft_tcp_write_all_poll(&st->w, cx, &st->res));
done:
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
/* Runs once, after READY or when cancelled by shutdown. */
static void conn_drop(void *p)
{
    conn *st = p;
    weft_select_drop(&st->sel);
    weft_cancel_wait_drop(&st->stop);
    weft_mpmc_send_drop(&st->send); /* pending: the request's drop releases the sender side */
    if (st->reply) weft_oneshot_receiver_drop(st->reply);
    free(st->out);
    weft_tcp_stream_drop(&st->s);
    atomic_fetch_sub(&g_conns, 1);
    weft_channel_sender_drop(g_done);
}
WEFT_FUTURE_TYPE(conn_type, conn_poll, conn_drop, conn, 0);

/* ---- periodic stats ------------------------------------------------------------------------ */
typedef struct stats {
    int coro;
    weft_interval iv;
    weft_cancel_wait stop;
} stats;
static weft_poll stats_poll(void *p, weft_context *cx, void *out)
{
    stats *st = p;
    WEFT_CORO_BEGIN(st);
    weft_interval_init(&st->iv, g_stats_ns, WEFT_MISSED_SKIP);
    weft_cancel_wait_init(&st->stop, g_stop);
    for (;;) {
        WEFT_AWAIT(st, weft_cancel_poll(&st->stop, cx, weft_interval_poll(&st->iv, cx, NULL)));
        if (weft_cancel_wait_result(&st->stop) != 0) break;
        pthread_mutex_lock(&g_table_mu);
        long keys = g_keys;
        pthread_mutex_unlock(&g_table_mu);
        printf("stats: connections=%ld commands=%ld keys=%ld queued=%ld\n", atomic_load(&g_conns),
               atomic_load(&g_commands), keys, weft_mpmc_len(g_queue));
        fflush(stdout);
    }
    WEFT_CORO_RETURN(st, out, int, 0);
    WEFT_CORO_END(st);
}
static void stats_drop(void *p)
{
    weft_interval_drop(&((stats *)p)->iv);
    weft_cancel_wait_drop(&((stats *)p)->stop);
}
WEFT_FUTURE_TYPE(stats_type, stats_poll, stats_drop, stats, sizeof(int));

/* ---- the server: accept loop, then an orderly drain ------------------------------------------ */
typedef struct server {
    int coro, res, join_res;
    bool done_sender, done_receiver, grace_armed; /* what server_drop must still drop */
    weft_timeout grace;
    uint16_t port;
    weft_tcp_listener l;
    weft_tcp_stream s;
    weft_cancel_wait stop;
    weft_join_handle helpers[EXECUTORS + 1];
    int results[EXECUTORS + 1], outs[EXECUTORS + 1];
    weft_join_all all;
} server;

static weft_poll server_poll(void *p, weft_context *cx, void *out)
{
    server *st = p;
    weft_runtime *rt = weft_context_runtime(cx);
    WEFT_CORO_BEGIN(st);
    st->done_sender = st->done_receiver = true; /* dropped below, or by server_drop */
    atomic_store(&g_done_taken, true);
    if ((st->res = weft_tcp_listener_init(&st->l, rt, "127.0.0.1", st->port, 1024)) < 0) {
        fprintf(stderr, "kv_server: cannot listen on 127.0.0.1:%u: %s\n", st->port, strerror(-st->res));
        WEFT_CORO_RETURN(st, out, int, 1);
    }
    for (int i = 0; i < EXECUTORS; i++) {
        weft_mpmc_receiver_clone(g_queue);
        weft_spawn(rt, &executor_type, &(executor){0}, &st->helpers[i]);
    }
    weft_mpmc_receiver_drop(g_queue); /* the executors hold the receivers now */
    weft_spawn(rt, &stats_type, &(stats){0}, &st->helpers[EXECUTORS]);
    printf("listening on 127.0.0.1:%u\n", (unsigned)weft_tcp_listener_port(&st->l));
    fflush(stdout);
    weft_cancel_wait_init(&st->stop, g_stop);
    for (;;) {
        WEFT_AWAIT(st, weft_cancel_poll(&st->stop, cx, weft_tcp_accept_poll(&st->l, cx, &st->s, &st->res)));
        if (weft_cancel_wait_result(&st->stop) == -ECANCELED) break;
        if (st->res < 0) continue; /* a failed accept; weft backs off on EMFILE */
        conn c = {0};
        c.s = st->s;
        weft_channel_sender_clone(g_done); /* the connection's, dropped by conn_drop */
        if (weft_spawn(rt, &conn_type, &c, NULL) < 0) {
            weft_tcp_stream_drop(&c.s);
            weft_channel_sender_drop(g_done);
        }
    }
    weft_tcp_listener_drop(&st->l);
    /* every connection saw the stop (their select's first arm): wait until
     * each has written its BYE and closed, while the executors still answer
     * the requests some of them may be waiting on; one whose client does
     * not read (its write cannot finish) is dropped by weft_runtime_free
     * after the grace period */
    weft_channel_sender_drop(g_done);
    st->done_sender = false;
    weft_timeout_init(&st->grace, (uint64_t)GRACE_MS * WEFT_MS);
    st->grace_armed = true;
    WEFT_AWAIT(st, weft_timeout_poll(&st->grace, cx, weft_channel_recv_poll(g_done, cx, &(uint64_t){0}, &st->res)));
    weft_timeout_drop(&st->grace);
    st->grace_armed = false;
    weft_channel_receiver_drop(g_done); /* here, on a worker: a waiting recv's waker goes with it */
    st->done_receiver = false;
    weft_mpmc_close(g_queue); /* executors drain what is queued, then stop */
    weft_join_all_init(&st->all, st->helpers, EXECUTORS + 1, st->outs, sizeof(int), st->results);
    WEFT_AWAIT(st, weft_join_all_poll(&st->all, cx, &st->join_res));
    WEFT_CORO_RETURN(st, out, int, st->join_res == 0 ? 0 : 1);
    WEFT_CORO_END(st);
}
static void server_drop(void *p)
{
    server *st = p;
    weft_cancel_wait_drop(&st->stop);
    weft_tcp_listener_drop(&st->l);
    if (st->done_sender) weft_channel_sender_drop(g_done);
    if (st->grace_armed) weft_timeout_drop(&st->grace);
    if (st->done_receiver) weft_channel_receiver_drop(g_done);
}
WEFT_FUTURE_TYPE(server_type, server_poll, server_drop, server, sizeof(int));

static void *signal_thread(void *arg)
{
    int sig = 0;
    while (sigwait(arg, &sig) != 0) {
    }
    if (sig != SIGUSR1) weft_cancel_fire(g_stop); /* SIGUSR1: main ends this thread */
    return NULL;
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    long port = -1, workers = 1, idle = 10000, every = 1000;
    weft_config cfg;
    weft_config_default(&cfg);
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v && ((strcmp(a, "--port") == 0 && parse_long(v, 0, 65535, &port)) ||
                        (strcmp(a, "--workers") == 0 && parse_long(v, 1, WEFT_MAX_WORKERS, &workers)) ||
                        (strcmp(a, "--idle-ms") == 0 && parse_long(v, 1, 86400000, &idle)) ||
                        (strcmp(a, "--stats-ms") == 0 && parse_long(v, 1, 86400000, &every)) ||
                        (strcmp(a, "--scheduler") == 0 && (cfg.scheduler = v)));
        if (!ok) {
            fprintf(stderr, "kv_server: bad or incomplete option '%s'\nusage: %s --port P [--scheduler NAME] "
                            "[--workers N] [--idle-ms MS] [--stats-ms MS]\n", a, argv[0]);
            return 2;
        }
    }
    cfg.workers = (int)workers;
    if (port < 0 || weft_config_validate(&cfg) < 0) {
        fprintf(stderr, "kv_server: %s\n", port < 0 ? "--port is required" : weft_last_error());
        return 2;
    }
    g_idle_ns = (uint64_t)idle * WEFT_MS;
    g_stats_ns = (uint64_t)every * WEFT_MS;

    static sigset_t set; /* blocked before any thread exists: only sigwait takes them */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    weft_runtime *rt = NULL;
    pthread_t sig_th;
    if (weft_cancel_new(&g_stop) < 0 || weft_mpmc_new(64, sizeof(request), request_drop, &g_queue) < 0 ||
        weft_channel_new(1, &g_done) < 0 ||
        pthread_create(&sig_th, NULL, signal_thread, &set) != 0) {
        fprintf(stderr, "kv_server: %s\n", weft_last_error());
        return 1;
    }
    int status = 1;
    if (weft_runtime_new(&cfg, &rt) < 0) fprintf(stderr, "kv_server: %s\n", weft_last_error());
    else if (weft_block_on(rt, &server_type, &(server){.port = (uint16_t)port}, &status) < 0)
        fprintf(stderr, "kv_server: %s\n", weft_last_error()), status = 1;
    weft_runtime_free(rt); /* cancels connections still open: their drops close the sockets */
    weft_mpmc_sender_drop(g_queue);
    if (!atomic_load(&g_done_taken)) { /* the server never ran */
        weft_channel_sender_drop(g_done);
        weft_channel_receiver_drop(g_done);
    }
    pthread_kill(sig_th, SIGUSR1);
    pthread_join(sig_th, NULL);
    weft_cancel_free(g_stop);
    for (int i = 0; i < TABLE; i++)
        for (entry *e = g_table[i], *n; e; e = n) n = e->next, free(e);
    return status;
}
