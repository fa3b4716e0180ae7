/*
 * tests/test_tcp.c - TCP futures on a real runtime, for every scheduler in
 * the registry (workers: 1 for fifo, 2 otherwise).
 *
 * Every test drives its futures with weft_block_on; results are written into
 * plain structs by the tasks and asserted on the test's own thread after
 * block_on returned (the join orders the writes before the reads). Where a
 * test needs a peer that is not a task (the EMFILE test's client), it is a
 * plain thread using blocking sockets, and it records, never asserts.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "weft/net.h"
#include "weft/runtime.h"

/* ---- runtimes ------------------------------------------------------------------ */

static weft_runtime *rt_make(int sched, int budget)
{
    weft_config cfg;
    weft_config_default(&cfg);
    cfg.scheduler = weft_scheduler_name(sched);
    cfg.workers = strcmp(cfg.scheduler, "fifo") == 0 ? 1 : 2;
    if (budget) cfg.budget = budget;
    weft_runtime *rt = NULL;
    int rc = weft_runtime_new(&cfg, &rt);
    if (rc < 0) fprintf(stderr, "weft_runtime_new(%s): %s\n", cfg.scheduler, weft_last_error());
    assert_int_equal(rc, 0);
    return rt;
}

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- an echo connection task ------------------------------------------------------ */

typedef struct counters {
    atomic_ullong echoed;   /* bytes echoed by servers */
    atomic_ullong verified; /* bytes clients checked */
    atomic_int accepted;    /* connections accepted */
    atomic_int accept_parked; /* an accept has returned PENDING at least once */
} counters;

typedef struct echo_conn {
    int coro;
    weft_tcp_stream s;
    counters *ct;
    ssize_t n;
    int res;
    weft_tcp_write_all w;
    unsigned char buf[8192];
} echo_conn;

/* Echoes until EOF. Output int: 0 after a clean EOF, else the error. */
static weft_poll echo_conn_poll(void *p, weft_context *cx, void *out)
{
    echo_conn *st = p;
    WEFT_CORO_BEGIN(st);
    for (;;) {
        WEFT_AWAIT(st, weft_tcp_read_poll(&st->s, cx, st->buf, sizeof st->buf, &st->n));
        if (st->n <= 0) break;
        weft_tcp_write_all_init(&st->w, &st->s, st->buf, (size_t)st->n);
        WEFT_AWAIT(st, weft_tcp_write_all_poll(&st->w, cx, &st->res));
        if (st->res < 0) break;
        atomic_fetch_add_explicit(&st->ct->echoed, (unsigned long long)st->n,
                                  memory_order_relaxed); /* read after the join */
    }
    weft_tcp_stream_drop(&st->s);
    WEFT_CORO_RETURN(st, out, int, st->n < 0 ? (int)st->n : st->res);
    WEFT_CORO_END(st);
}
static void echo_conn_drop(void *p) { weft_tcp_stream_drop(&((echo_conn *)p)->s); }
WEFT_FUTURE_TYPE(echo_conn_type, echo_conn_poll, echo_conn_drop, echo_conn, sizeof(int));

/* ---- an acceptor: accepts `count` connections, echoes each in its own task ----------- */

#define MAX_CONNS 16

typedef struct acceptor {
    int coro;
    weft_tcp_listener *l;
    counters *ct;
    int count;
    int i;
    int res;
    int jr;
    int out;
    int first_err;
    weft_tcp_stream s;
    weft_join_handle h[MAX_CONNS];
} acceptor;

static weft_poll accept_noting(acceptor *st, weft_context *cx)
{
    weft_poll r = weft_tcp_accept_poll(st->l, cx, &st->s, &st->res);
    if (r == WEFT_PENDING) atomic_store_explicit(&st->ct->accept_parked, 1, memory_order_relaxed);
    return r;
}

/* Output int: 0, or the first accept/spawn/echo error. */
static weft_poll acceptor_poll(void *p, weft_context *cx, void *out)
{
    acceptor *st = p;
    WEFT_CORO_BEGIN(st);
    for (st->i = 0; st->i < st->count; st->i++) {
        WEFT_AWAIT(st, accept_noting(st, cx));
        if (st->res < 0) {
            st->first_err = st->res;
            st->count = st->i;
            break;
        }
        atomic_fetch_add_explicit(&st->ct->accepted, 1, memory_order_relaxed); /* read by the test */
        echo_conn init = {0};
        init.s = st->s;
        init.ct = st->ct;
        int rc = weft_spawn(weft_context_runtime(cx), &echo_conn_type, &init, &st->h[st->i]);
        if (rc < 0) {
            weft_tcp_stream_drop(&st->s);
            st->first_err = rc;
            st->count = st->i;
            break;
        }
    }
    for (st->i = 0; st->i < st->count; st->i++) {
        WEFT_AWAIT(st, weft_join_poll(&st->h[st->i], cx, &st->out, &st->jr));
        if (!st->first_err) st->first_err = st->jr ? st->jr : st->out;
    }
    WEFT_CORO_RETURN(st, out, int, st->first_err);
    WEFT_CORO_END(st);
}
WEFT_FUTURE_TYPE(acceptor_type, acceptor_poll, NULL, acceptor, sizeof(int));

/* ---- an echo client ---------------------------------------------------------------- */

#define MAX_MSG 16384

typedef struct client {
    int coro;
    uint16_t port;
    int id;
    int rounds;
    int r;
    int res;
    counters *ct;
    size_t len;
    ssize_t n;
    weft_tcp_connect c;
    weft_tcp_stream s;
    weft_tcp_write_all w;
    weft_tcp_read_exact rd;
    unsigned char tx[MAX_MSG];
    unsigned char rx[MAX_MSG];
} client;

static unsigned char pattern(int id, int r, size_t i) { return (unsigned char)(id * 31 + r * 7 + i * 13); }

/* Output int: 0, or the first error (-EBADMSG: echoed bytes differ). */
static weft_poll client_poll(void *p, weft_context *cx, void *out)
{
    client *st = p;
    WEFT_CORO_BEGIN(st);
    weft_tcp_connect_init(&st->c, weft_context_runtime(cx), "127.0.0.1", st->port);
    WEFT_AWAIT(st, weft_tcp_connect_poll(&st->c, cx, &st->s, &st->res));
    if (st->res < 0) WEFT_CORO_RETURN(st, out, int, st->res);
    for (st->r = 0; st->r < st->rounds; st->r++) {
        /* sizes from 1 byte to MAX_MSG, so reads split and coalesce */
        st->len = 1 + ((size_t)st->id * 7919u + (size_t)st->r * 104729u) % MAX_MSG;
        for (size_t i = 0; i < st->len; i++) st->tx[i] = pattern(st->id, st->r, i);
        weft_tcp_write_all_init(&st->w, &st->s, st->tx, st->len);
        WEFT_AWAIT(st, weft_tcp_write_all_poll(&st->w, cx, &st->res));
        if (st->res < 0) break;
        memset(st->rx, 0, st->len);
        weft_tcp_read_exact_init(&st->rd, &st->s, st->rx, st->len);
        WEFT_AWAIT(st, weft_tcp_read_exact_poll(&st->rd, cx, &st->res));
        if (st->res < 0) break;
        if (memcmp(st->tx, st->rx, st->len) != 0) {
            st->res = -EBADMSG;
            break;
        }
        atomic_fetch_add_explicit(&st->ct->verified, st->len, memory_order_relaxed); /* after join */
    }
    if (st->res == 0) {
        /* half-close: the server sees EOF, finishes, closes; we see EOF */
        st->res = weft_tcp_shutdown_write(&st->s);
        WEFT_AWAIT(st, weft_tcp_read_poll(&st->s, cx, st->rx, 1, &st->n));
        if (st->res == 0 && st->n != 0) st->res = st->n < 0 ? (int)st->n : -EPROTO;
    }
    weft_tcp_stream_drop(&st->s);
    WEFT_CORO_RETURN(st, out, int, st->res);
    WEFT_CORO_END(st);
}
static void client_drop(void *p)
{
    client *st = p;
    weft_tcp_connect_drop(&st->c);
    weft_tcp_stream_drop(&st->s);
}
WEFT_FUTURE_TYPE(client_type, client_poll, client_drop, client, sizeof(int));

/* ---- test: echo round trips ------------------------------------------------------------ */

#define ECHO_CLIENTS 4
#define ECHO_ROUNDS 40

typedef struct echo_main {
    int coro;
    counters *ct;
    int i;
    int out;
    int jr;
    int res[ECHO_CLIENTS + 1];
    weft_tcp_listener l;
    weft_join_handle h[ECHO_CLIENTS + 1];
} echo_main;

typedef struct echo_results {
    int listen_rc;
    int res[ECHO_CLIENTS + 1]; /* clients..., acceptor */
} echo_results;

static weft_poll echo_main_poll(void *p, weft_context *cx, void *out)
{
    echo_main *st = p;
    echo_results *er = out;
    WEFT_CORO_BEGIN(st);
    er->listen_rc = weft_tcp_listener_init(&st->l, weft_context_runtime(cx), "127.0.0.1", 0, 64);
    if (er->listen_rc < 0) WEFT_CORO_RETURN_VOID(st);
    {
        acceptor a = {0};
        a.l = &st->l; /* lives in this task's state, which outlives the acceptor */
        a.ct = st->ct;
        a.count = ECHO_CLIENTS;
        weft_spawn(weft_context_runtime(cx), &acceptor_type, &a, &st->h[ECHO_CLIENTS]);
        for (int i = 0; i < ECHO_CLIENTS; i++) {
            client *c = calloc(1, sizeof *c); /* 32 KiB: not on the stack */
            c->port = weft_tcp_listener_port(&st->l);
            c->id = i;
            c->rounds = ECHO_ROUNDS;
            c->ct = st->ct;
            weft_spawn(weft_context_runtime(cx), &client_type, c, &st->h[i]);
            free(c);
        }
    }
    for (st->i = 0; st->i <= ECHO_CLIENTS; st->i++) {
        st->out = -12345;
        WEFT_AWAIT(st, weft_join_poll(&st->h[st->i], cx, &st->out, &st->jr));
        st->res[st->i] = st->jr ? st->jr : st->out;
    }
    weft_tcp_listener_drop(&st->l);
    memcpy(er->res, st->res, sizeof st->res);
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static void echo_main_drop(void *p) { weft_tcp_listener_drop(&((echo_main *)p)->l); }
WEFT_FUTURE_TYPE(echo_main_type, echo_main_poll, echo_main_drop, echo_main, sizeof(echo_results));

static void test_echo_roundtrip(void **state)
{
    (void)state;
    uint64_t expect = 0;
    for (int id = 0; id < ECHO_CLIENTS; id++)
        for (int r = 0; r < ECHO_ROUNDS; r++)
            expect += 1 + ((size_t)id * 7919u + (size_t)r * 104729u) % MAX_MSG;
    for (int s = 0; s < weft_scheduler_count(); s++) {
        weft_runtime *rt = rt_make(s, 0);
        counters ct;
        atomic_init(&ct.echoed, 0);
        atomic_init(&ct.verified, 0);
        atomic_init(&ct.accepted, 0);
        atomic_init(&ct.accept_parked, 0);
        echo_main init = {0};
        init.ct = &ct;
        echo_results er;
        memset(&er, 0x55, sizeof er);
        assert_int_equal(weft_block_on(rt, &echo_main_type, &init, &er), 0);
        weft_runtime_free(rt);
        printf("# %s: %d clients x %d round trips, %llu bytes echoed\n", weft_scheduler_name(s),
               ECHO_CLIENTS, ECHO_ROUNDS, (unsigned long long)expect);
        assert_int_equal(er.listen_rc, 0);
        for (int i = 0; i <= ECHO_CLIENTS; i++) assert_int_equal(er.res[i], 0);
        assert_int_equal(atomic_load(&ct.accepted), ECHO_CLIENTS);
        assert_int_equal(atomic_load(&ct.verified), expect);
        assert_int_equal(atomic_load(&ct.echoed), expect);
    }
}

/* ---- test: partial reads, peer close, half close -------------------------------------- */

typedef struct writer_task {
    int coro;
    weft_tcp_listener *l;
    weft_tcp_stream s;
    int res;
    ssize_t n;
    weft_tcp_write_all w;
    weft_tcp_read_exact rd;
    char buf[8];
} writer_task;

/* Accepts, writes "0123456789" in one send, half-closes, reads the
 * client's "bye" (the client can still write after our FIN), closes. */
static weft_poll writer_task_poll(void *p, weft_context *cx, void *out)
{
    writer_task *st = p;
    WEFT_CORO_BEGIN(st);
    WEFT_AWAIT(st, weft_tcp_accept_poll(st->l, cx, &st->s, &st->res));
    if (st->res < 0) WEFT_CORO_RETURN(st, out, int, st->res);
    weft_tcp_write_all_init(&st->w, &st->s, "0123456789", 10);
    WEFT_AWAIT(st, weft_tcp_write_all_poll(&st->w, cx, &st->res));
    if (st->res == 0) st->res = weft_tcp_shutdown_write(&st->s);
    if (st->res == 0) {
        weft_tcp_read_exact_init(&st->rd, &st->s, st->buf, 3);
        WEFT_AWAIT(st, weft_tcp_read_exact_poll(&st->rd, cx, &st->res));
        if (st->res == 0 && memcmp(st->buf, "bye", 3) != 0) st->res = -EBADMSG;
    }
    if (st->res == 0) { /* and then the client's close: EOF */
        WEFT_AWAIT(st, weft_tcp_read_poll(&st->s, cx, st->buf, sizeof st->buf, &st->n));
        if (st->n != 0) st->res = st->n < 0 ? (int)st->n : -EPROTO;
    }
    weft_tcp_stream_drop(&st->s);
    WEFT_CORO_RETURN(st, out, int, st->res);
    WEFT_CORO_END(st);
}
static void writer_task_drop(void *p) { weft_tcp_stream_drop(&((writer_task *)p)->s); }
WEFT_FUTURE_TYPE(writer_task_type, writer_task_poll, writer_task_drop, writer_task, sizeof(int));

typedef struct partial_results {
    int rc;          /* setup or client error */
    int server;      /* the writer task's result */
    int nreads;
    ssize_t sizes[8]; /* each read's result */
    char data[16]; /* what the reads returned, in order */
} partial_results;

typedef struct partial_main {
    int coro;
    int pos;
    int res;
    int out;
    int jr;
    ssize_t n;
    partial_results pr;
    weft_tcp_listener l;
    weft_tcp_connect c;
    weft_tcp_stream s;
    weft_join_handle h;
    weft_tcp_write_all w;
} partial_main;

static weft_poll partial_main_poll(void *p, weft_context *cx, void *out)
{
    partial_main *st = p;
    WEFT_CORO_BEGIN(st);
    st->pr.rc = weft_tcp_listener_init(&st->l, weft_context_runtime(cx), "127.0.0.1", 0, 8);
    if (st->pr.rc < 0) goto done;
    {
        writer_task wt = {0};
        wt.l = &st->l;
        st->pr.rc = weft_spawn(weft_context_runtime(cx), &writer_task_type, &wt, &st->h);
        if (st->pr.rc < 0) goto done;
    }
    weft_tcp_connect_init(&st->c, weft_context_runtime(cx), "127.0.0.1", weft_tcp_listener_port(&st->l));
    WEFT_AWAIT(st, weft_tcp_connect_poll(&st->c, cx, &st->s, &st->res));
    if ((st->pr.rc = st->res) < 0) goto done;
    /* reads of 4 from 10 bytes sent at once: 4, 4, 2, then EOF */
    for (st->pr.nreads = 0; st->pr.nreads < 8; st->pr.nreads++) {
        WEFT_AWAIT(st, weft_tcp_read_poll(&st->s, cx, st->pr.data + st->pos, 4, &st->n));
        st->pr.sizes[st->pr.nreads] = st->n;
        if (st->n > 0) st->pos += (int)st->n;
        if (st->n <= 0 || st->pos > 12) {
            st->pr.nreads++;
            break;
        }
    }
    /* our side is still open for writing after the peer's FIN */
    weft_tcp_write_all_init(&st->w, &st->s, "bye", 3);
    WEFT_AWAIT(st, weft_tcp_write_all_poll(&st->w, cx, &st->res));
    if ((st->pr.rc = st->res) < 0) goto done;
    weft_tcp_stream_drop(&st->s);
    WEFT_AWAIT(st, weft_join_poll(&st->h, cx, &st->out, &st->jr));
    st->pr.server = st->jr ? st->jr : st->out;
done:
    weft_tcp_stream_drop(&st->s);
    weft_tcp_listener_drop(&st->l);
    memcpy(out, &st->pr, sizeof st->pr);
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static void partial_main_drop(void *p)
{
    partial_main *st = p;
    weft_tcp_connect_drop(&st->c);
    weft_tcp_stream_drop(&st->s);
    weft_tcp_listener_drop(&st->l);
}
WEFT_FUTURE_TYPE(partial_main_type, partial_main_poll, partial_main_drop, partial_main,
                 sizeof(partial_results));

static void test_partial_reads_and_peer_close(void **state)
{
    (void)state;
    for (int s = 0; s < weft_scheduler_count(); s++) {
        weft_runtime *rt = rt_make(s, 0);
        partial_main init = {0};
        partial_results pr;
        memset(&pr, 0, sizeof pr);
        assert_int_equal(weft_block_on(rt, &partial_main_type, &init, &pr), 0);
        weft_runtime_free(rt);
        assert_int_equal(pr.rc, 0);
        assert_int_equal(pr.server, 0);
        assert_int_equal(pr.nreads, 4);
        assert_int_equal(pr.sizes[0], 4);
        assert_int_equal(pr.sizes[1], 4);
        assert_int_equal(pr.sizes[2], 2);
        assert_int_equal(pr.sizes[3], 0); /* peer closed: EOF */
        assert_memory_equal(pr.data, "0123456789", 10);
    }
}

/* ---- test: reset, and writes to a closed peer ------------------------------------------- */

typedef struct peer_task {
    int coro;
    weft_tcp_listener *l;
    int mode; /* 0: read after the peer's RST; 1: write until the closed peer refuses */
    int res;
    int i;
    ssize_t n;
    weft_tcp_stream s;
    weft_tcp_write_all w;
    weft_tcp_read_exact rd;
    weft_yield y;
    char buf[1024];
} peer_task;

/* Accepts, reads "g", writes "k" (so the client knows we accepted), then
 * mode 0: reads (expects -ECONNRESET); mode 1: writes 1 KiB at a time until
 * an error. Output int: the final read/write result. */
static weft_poll peer_task_poll(void *p, weft_context *cx, void *out)
{
    peer_task *st = p;
    WEFT_CORO_BEGIN(st);
    WEFT_AWAIT(st, weft_tcp_accept_poll(st->l, cx, &st->s, &st->res));
    if (st->res < 0) WEFT_CORO_RETURN(st, out, int, st->res);
    weft_tcp_read_exact_init(&st->rd, &st->s, st->buf, 1);
    WEFT_AWAIT(st, weft_tcp_read_exact_poll(&st->rd, cx, &st->res));
    if (st->res < 0) goto done;
    weft_tcp_write_all_init(&st->w, &st->s, "k", 1);
    WEFT_AWAIT(st, weft_tcp_write_all_poll(&st->w, cx, &st->res));
    if (st->res < 0) goto done;
    if (st->mode == 0) {
        WEFT_AWAIT(st, weft_tcp_read_poll(&st->s, cx, st->buf, sizeof st->buf, &st->n));
        st->res = (int)st->n;
    } else {
        memset(st->buf, 'w', sizeof st->buf);
        st->res = -ETIMEDOUT;
        for (st->i = 0; st->i < 100000; st->i++) {
            WEFT_AWAIT(st, weft_tcp_write_poll(&st->s, cx, st->buf, sizeof st->buf, &st->n));
            if (st->n < 0) {
                st->res = (int)st->n;
                break;
            }
            WEFT_YIELD_NOW(st, y, cx);
        }
    }
done:
    weft_tcp_stream_drop(&st->s);
    WEFT_CORO_RETURN(st, out, int, st->res);
    WEFT_CORO_END(st);
}
static void peer_task_drop(void *p) { weft_tcp_stream_drop(&((peer_task *)p)->s); }
WEFT_FUTURE_TYPE(peer_task_type, peer_task_poll, peer_task_drop, peer_task, sizeof(int));

typedef struct peer_main {
    int coro;
    int mode;
    int res;
    int out;
    int jr;
    char buf[1];
    weft_tcp_listener l;
    weft_tcp_connect c;
    weft_tcp_stream s;
    weft_join_handle h;
    weft_tcp_write_all w;
    weft_tcp_read_exact rd;
} peer_main;

typedef struct peer_results {
    int client; /* 0 or the client side's error */
    int server; /* the peer task's final result */
} peer_results;

static weft_poll peer_main_poll(void *p, weft_context *cx, void *out)
{
    peer_main *st = p;
    peer_results *pr = out;
    WEFT_CORO_BEGIN(st);
    pr->server = -12345;
    pr->client = weft_tcp_listener_init(&st->l, weft_context_runtime(cx), "127.0.0.1", 0, 8);
    if (pr->client < 0) WEFT_CORO_RETURN_VOID(st);
    {
        peer_task pt = {0};
        pt.l = &st->l;
        pt.mode = st->mode;
        weft_spawn(weft_context_runtime(cx), &peer_task_type, &pt, &st->h);
    }
    weft_tcp_connect_init(&st->c, weft_context_runtime(cx), "127.0.0.1", weft_tcp_listener_port(&st->l));
    WEFT_AWAIT(st, weft_tcp_connect_poll(&st->c, cx, &st->s, &st->res));
    if (st->res == 0) {
        weft_tcp_write_all_init(&st->w, &st->s, "g", 1);
        WEFT_AWAIT(st, weft_tcp_write_all_poll(&st->w, cx, &st->res));
    }
    if (st->res == 0) {
        weft_tcp_read_exact_init(&st->rd, &st->s, st->buf, 1);
        WEFT_AWAIT(st, weft_tcp_read_exact_poll(&st->rd, cx, &st->res));
    }
    if (st->res == 0 && st->mode == 0) { /* close with RST */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        if (setsockopt(weft_tcp_stream_fd(&st->s), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0)
            st->res = -errno;
    }
    weft_tcp_stream_drop(&st->s);
    pr->client = st->res;
    WEFT_AWAIT(st, weft_join_poll(&st->h, cx, &st->out, &st->jr));
    pr->server = st->jr ? st->jr : st->out;
    weft_tcp_listener_drop(&st->l);
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static void peer_main_drop(void *p)
{
    peer_main *st = p;
    weft_tcp_connect_drop(&st->c);
    weft_tcp_stream_drop(&st->s);
    weft_tcp_listener_drop(&st->l);
}
WEFT_FUTURE_TYPE(peer_main_type, peer_main_poll, peer_main_drop, peer_main, sizeof(peer_results));

static void test_reset(void **state)
{
    (void)state;
    for (int s = 0; s < weft_scheduler_count(); s++) {
        weft_runtime *rt = rt_make(s, 0);
        peer_main init = {0};
        init.mode = 0;
        peer_results pr;
        assert_int_equal(weft_block_on(rt, &peer_main_type, &init, &pr), 0);
        weft_runtime_free(rt);
        assert_int_equal(pr.client, 0);
        assert_int_equal(pr.server, -ECONNRESET);
    }
}

static void test_write_to_closed_peer(void **state)
{
    (void)state;
    /* default SIGPIPE disposition: without MSG_NOSIGNAL this test would die */
    signal(SIGPIPE, SIG_DFL);
    for (int s = 0; s < weft_scheduler_count(); s++) {
        weft_runtime *rt = rt_make(s, 0);
        peer_main init = {0};
        init.mode = 1;
        peer_results pr;
        assert_int_equal(weft_block_on(rt, &peer_main_type, &init, &pr), 0);
        weft_runtime_free(rt);
        assert_int_equal(pr.client, 0);
        assert_true(pr.server == -EPIPE || pr.server == -ECONNRESET);
    }
}

/* ---- test: connect failures and multi-address names ------------------------------------ */

typedef struct connect_main {
    int coro;
    uint16_t dead_port;
    int res;
    int results[3];
    weft_tcp_listener l;
    weft_tcp_connect c;
    weft_tcp_stream s;
} connect_main;

static weft_poll connect_main_poll(void *p, weft_context *cx, void *out)
{
    connect_main *st = p;
    WEFT_CORO_BEGIN(st);
    /* nothing listens on dead_port */
    weft_tcp_connect_init(&st->c, weft_context_runtime(cx), "127.0.0.1", st->dead_port);
    WEFT_AWAIT(st, weft_tcp_connect_poll(&st->c, cx, &st->s, &st->results[0]));
    /* "localhost" may resolve to ::1 first, which refuses; 127.0.0.1 answers */
    st->results[1] = weft_tcp_listener_init(&st->l, weft_context_runtime(cx), "127.0.0.1", 0, 8);
    if (st->results[1] == 0) {
        weft_tcp_connect_init(&st->c, weft_context_runtime(cx), "localhost", weft_tcp_listener_port(&st->l));
        WEFT_AWAIT(st, weft_tcp_connect_poll(&st->c, cx, &st->s, &st->results[1]));
        weft_tcp_stream_drop(&st->s);
        weft_tcp_listener_drop(&st->l);
    }
    /* a bad argument fails in init and in the first poll (no DNS query: a
     * test must not depend on a resolver answering) */
    st->results[2] = weft_tcp_connect_init(&st->c, weft_context_runtime(cx), "", 80);
    WEFT_AWAIT(st, weft_tcp_connect_poll(&st->c, cx, &st->s, &st->res));
    if (st->res != st->results[2]) st->results[2] = -EPROTO;
    memcpy(out, st->results, sizeof st->results);
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static void connect_main_drop(void *p)
{
    connect_main *st = p;
    weft_tcp_connect_drop(&st->c);
    weft_tcp_stream_drop(&st->s);
    weft_tcp_listener_drop(&st->l);
}
WEFT_FUTURE_TYPE(connect_main_type, connect_main_poll, connect_main_drop, connect_main, 3 * sizeof(int));

static uint16_t dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd); /* bound, never listened: connects are refused */
    return ntohs(a.sin_port);
}

static void test_connect(void **state)
{
    (void)state;
    for (int s = 0; s < weft_scheduler_count(); s++) {
        weft_runtime *rt = rt_make(s, 0);
        connect_main init = {0};
        init.dead_port = dead_port();
        int res[3] = {1, 1, 1};
        assert_int_equal(weft_block_on(rt, &connect_main_type, &init, res), 0);
        weft_runtime_free(rt);
        assert_int_equal(res[0], -ECONNREFUSED);
        assert_int_equal(res[1], 0);
        assert_int_equal(res[2], -EINVAL);
    }
}

/* ---- a connected pair, made inside a runtime -------------------------------------------- */

typedef struct trio {
    int rc;
    weft_tcp_listener l;
    weft_tcp_stream a; /* client side */
    weft_tcp_stream b; /* server side */
} trio;

typedef struct trio_main {
    int coro;
    int res;
    const char *preload; /* written a -> b before returning, may be NULL */
    trio t;
    weft_tcp_connect c;
    weft_tcp_write_all w;
} trio_main;

static weft_poll trio_main_poll(void *p, weft_context *cx, void *out)
{
    trio_main *st = p;
    WEFT_CORO_BEGIN(st);
    st->t.rc = weft_tcp_listener_init(&st->t.l, weft_context_runtime(cx), "127.0.0.1", 0, 8);
    if (st->t.rc < 0) goto done;
    weft_tcp_connect_init(&st->c, weft_context_runtime(cx), "127.0.0.1", weft_tcp_listener_port(&st->t.l));
    WEFT_AWAIT(st, weft_tcp_connect_poll(&st->c, cx, &st->t.a, &st->t.rc));
    if (st->t.rc < 0) goto done;
    /* the kernel completed the handshake from its backlog; accept it now */
    WEFT_AWAIT(st, weft_tcp_accept_poll(&st->t.l, cx, &st->t.b, &st->t.rc));
    if (st->t.rc < 0 || !st->preload) goto done;
    weft_tcp_write_all_init(&st->w, &st->t.a, st->preload, strlen(st->preload));
    WEFT_AWAIT(st, weft_tcp_write_all_poll(&st->w, cx, &st->t.rc));
done:
    memcpy(out, &st->t, sizeof st->t);
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
WEFT_FUTURE_TYPE(trio_main_type, trio_main_poll, NULL, trio_main, sizeof(trio));

static void trio_close(trio *t)
{
    weft_tcp_stream_drop(&t->a);
    weft_tcp_stream_drop(&t->b);
    weft_tcp_listener_drop(&t->l);
}

/* ---- test: a socket used on another runtime gets -EXDEV ------------------------------- */

typedef struct exdev_main {
    int coro;
    trio *t;
    weft_runtime *home;
    int res;
    ssize_t n;
    int results[6];
    char buf[8];
    weft_tcp_stream s;
    weft_tcp_connect c;
    weft_tcp_read_exact rd;
    weft_tcp_write_all w;
} exdev_main;

static weft_poll exdev_main_poll(void *p, weft_context *cx, void *out)
{
    exdev_main *st = p;
    WEFT_CORO_BEGIN(st);
    WEFT_AWAIT(st, weft_tcp_read_poll(&st->t->a, cx, st->buf, sizeof st->buf, &st->n));
    st->results[0] = (int)st->n;
    WEFT_AWAIT(st, weft_tcp_write_poll(&st->t->b, cx, "x", 1, &st->n));
    st->results[1] = (int)st->n;
    WEFT_AWAIT(st, weft_tcp_accept_poll(&st->t->l, cx, &st->s, &st->results[2]));
    weft_tcp_read_exact_init(&st->rd, &st->t->a, st->buf, 4);
    WEFT_AWAIT(st, weft_tcp_read_exact_poll(&st->rd, cx, &st->results[3]));
    weft_tcp_write_all_init(&st->w, &st->t->a, "abcd", 4);
    WEFT_AWAIT(st, weft_tcp_write_all_poll(&st->w, cx, &st->results[4]));
    weft_tcp_connect_init(&st->c, st->home, "127.0.0.1", weft_tcp_listener_port(&st->t->l));
    WEFT_AWAIT(st, weft_tcp_connect_poll(&st->c, cx, &st->s, &st->results[5]));
    weft_tcp_connect_drop(&st->c);
    memcpy(out, st->results, sizeof st->results);
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
WEFT_FUTURE_TYPE(exdev_main_type, exdev_main_poll, NULL, exdev_main, 6 * sizeof(int));

/* After the refused uses, the pair still works on its own runtime. */
typedef struct pair_check {
    int coro;
    trio *t;
    int res;
    char buf[4];
    weft_tcp_write_all w;
    weft_tcp_read_exact rd;
} pair_check;

static weft_poll pair_check_poll(void *p, weft_context *cx, void *out)
{
    pair_check *st = p;
    WEFT_CORO_BEGIN(st);
    weft_tcp_write_all_init(&st->w, &st->t->a, "ping", 4);
    WEFT_AWAIT(st, weft_tcp_write_all_poll(&st->w, cx, &st->res));
    if (st->res == 0) {
        weft_tcp_read_exact_init(&st->rd, &st->t->b, st->buf, 4);
        WEFT_AWAIT(st, weft_tcp_read_exact_poll(&st->rd, cx, &st->res));
        if (st->res == 0 && memcmp(st->buf, "ping", 4) != 0) st->res = -EBADMSG;
    }
    WEFT_CORO_RETURN(st, out, int, st->res);
    WEFT_CORO_END(st);
}
WEFT_FUTURE_TYPE(pair_check_type, pair_check_poll, NULL, pair_check, sizeof(int));

static void test_exdev(void **state)
{
    (void)state;
    for (int s = 0; s < weft_scheduler_count(); s++) {
        weft_runtime *home = rt_make(s, 0);
        weft_runtime *other = rt_make(s, 0);
        trio_main tm = {0};
        trio t;
        assert_int_equal(weft_block_on(home, &trio_main_type, &tm, &t), 0);
        assert_int_equal(t.rc, 0);

        exdev_main em = {0};
        em.t = &t;
        em.home = home;
        int res[6] = {0};
        assert_int_equal(weft_block_on(other, &exdev_main_type, &em, res), 0);
        for (int i = 0; i < 6; i++) assert_int_equal(res[i], -EXDEV);

        pair_check pc = {0};
        pc.t = &t;
        int ok = -1;
        assert_int_equal(weft_block_on(home, &pair_check_type, &pc, &ok), 0);
        assert_int_equal(ok, 0);
        trio_close(&t); /* closing needs no runtime context */
        weft_runtime_free(other);
        weft_runtime_free(home);
    }
}

/* ---- test: leaf polls charge the cooperative budget ------------------------------------ */

typedef struct budget_reader {
    int coro;
    weft_tcp_stream *s;
    int polls;
    int got;
    ssize_t n;
    char c;
} budget_reader;

/* Reads 10 bytes one at a time; output: how many times it was polled. */
static weft_poll budget_reader_poll(void *p, weft_context *cx, void *out)
{
    budget_reader *st = p;
    st->polls++;
    WEFT_CORO_BEGIN(st);
    for (st->got = 0; st->got < 10; st->got++) {
        WEFT_AWAIT(st, weft_tcp_read_poll(st->s, cx, &st->c, 1, &st->n));
        if (st->n != 1) WEFT_CORO_RETURN(st, out, int, -1000 + (int)st->n);
    }
    WEFT_CORO_RETURN(st, out, int, st->polls);
    WEFT_CORO_END(st);
}
WEFT_FUTURE_TYPE(budget_reader_type, budget_reader_poll, NULL, budget_reader, sizeof(int));

static void test_coop_budget(void **state)
{
    (void)state;
    for (int s = 0; s < weft_scheduler_count(); s++) {
        weft_runtime *rt = rt_make(s, 4); /* 4 leaf polls per turn */
        trio_main tm = {0};
        tm.preload = "0123456789";
        trio t;
        assert_int_equal(weft_block_on(rt, &trio_main_type, &tm, &t), 0);
        assert_int_equal(t.rc, 0);
        budget_reader br = {0};
        br.s = &t.b;
        int polls = 0;
        assert_int_equal(weft_block_on(rt, &budget_reader_type, &br, &polls), 0);
        trio_close(&t);
        weft_runtime_free(rt);
        /* 10 reads with all data present: 4 + 4 + 2 reads, three polls */
        assert_int_equal(polls, 3);
    }
}

/* ---- test: EMFILE on accept -------------------------------------------------------------- */

#define EMFILE_FREE 2 /* fds left free for the server: two accepts, then EMFILE */

typedef struct emfile_client {
    uint16_t port;
    const counters *ct;
    /* results, read after join */
    int step_failed;       /* first failing step (0: none) */
    int err;               /* its errno */
    int accepted_while_full;
    int accepted_after;
} emfile_client;

static int highest_fd(void)
{
    int hi = -1;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 1023;
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (fd > hi) hi = fd;
    }
    closedir(d);
    return hi;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int echo_once(int fd, const char *msg)
{
    size_t len = strlen(msg);
    char buf[64];
    if (send(fd, msg, len, MSG_NOSIGNAL) != (ssize_t)len) return errno ? errno : EIO;
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n <= 0) return n == 0 ? EPIPE : errno; /* EAGAIN: SO_RCVTIMEO expired */
        got += (size_t)n;
    }
    return memcmp(buf, msg, len) == 0 ? 0 : EBADMSG;
}

static void *emfile_client_main(void *p)
{
    emfile_client *ec = p;
    enum { N = EMFILE_FREE + 1 };
    int cl[N];
    int fillers[4096];
    int nfill = 0;
    struct rlimit old, low;
    int base = open("/dev/null", O_RDONLY | O_CLOEXEC); /* what the fillers dup */
#define STEP(k, cond)                                                                      \
    do {                                                                                   \
        if (!(cond) && !ec->step_failed) {                                                 \
            ec->step_failed = (k);                                                         \
            ec->err = errno;                                                               \
        }                                                                                  \
    } while (0)
    struct timeval tv = {10, 0}; /* a recv that waits 10 s has failed */
    for (int i = 0; i < N; i++) {
        cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        STEP(1, cl[i] >= 0);
        setsockopt(cl[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    /* Leave exactly EMFILE_FREE free fds below the limit: lower the limit
     * just above the highest open fd, fill every hole, free the EMFILE_FREE
     * highest fillers.
     * The kernel reserves the lowest free fd for the length of an accept4()
     * call even when the call then fails with EAGAIN, so a fill that races
     * the server's accept skips a hole that reopens a moment later (CI saw
     * three accepts "while full"). So: wait until the server's accept has
     * parked once (no connection exists yet, so it stays parked), fill until
     * two rounds 5 ms apart find no hole, and check the free set before
     * connecting. */
    for (int waited = 0; !atomic_load_explicit(&ec->ct->accept_parked, memory_order_relaxed); waited++) {
        STEP(11, waited < 10000);
        if (waited >= 10000) break;
        msleep(1);
    }
    STEP(2, getrlimit(RLIMIT_NOFILE, &old) == 0);
    low = old;
    low.rlim_cur = (rlim_t)highest_fd() + 1 + EMFILE_FREE;
    STEP(3, setrlimit(RLIMIT_NOFILE, &low) == 0);
    enum { FILL_CAP = (int)(sizeof fillers / sizeof fillers[0]) };
    for (int quiet = 0, round = 0; quiet < 2 && round < 100; round++) {
        int added = 0;
        for (int fd; nfill < FILL_CAP && (fd = dup(base)) >= 0; added++) fillers[nfill++] = fd;
        STEP(12, nfill < FILL_CAP);
        quiet = added ? 0 : quiet + 1;
        msleep(5);
    }
    STEP(4, nfill >= EMFILE_FREE);
    qsort(fillers, (size_t)nfill, sizeof fillers[0], cmp_int);
    for (int i = 0; i < EMFILE_FREE && nfill > 0; i++) close(fillers[--nfill]);
    int free_fds = 0;
    for (int fd = 0; fd < (int)low.rlim_cur; fd++) free_fds += fcntl(fd, F_GETFD) < 0;
    STEP(13, free_fds == EMFILE_FREE);

    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons(ec->port)};
    for (int i = 0; i < N; i++) /* all complete in the kernel's backlog */
        STEP(5, connect(cl[i], (struct sockaddr *)&a, sizeof a) == 0);
    /* the first two are accepted and served */
    STEP(6, (errno = echo_once(cl[0], "one")) == 0);
    STEP(7, (errno = echo_once(cl[1], "two")) == 0);
    msleep(300); /* several back-off periods of EMFILE */
    ec->accepted_while_full = atomic_load_explicit(&ec->ct->accepted, memory_order_relaxed);
    STEP(8, (errno = echo_once(cl[0], "still")) == 0); /* existing connections keep working */
    /* free fds: the third connection is accepted at the next retry */
    while (nfill > 0) close(fillers[--nfill]);
    STEP(9, (errno = echo_once(cl[2], "three")) == 0);
    ec->accepted_after = atomic_load_explicit(&ec->ct->accepted, memory_order_relaxed);
    STEP(10, setrlimit(RLIMIT_NOFILE, &old) == 0);
    for (int i = 0; i < N; i++) close(cl[i]);
    close(base);
#undef STEP
    return NULL;
}

typedef struct emfile_main {
    int coro;
    counters *ct;
    weft_tcp_listener *l;
    int out;
    int jr;
    weft_join_handle h;
} emfile_main;

static weft_poll emfile_main_poll(void *p, weft_context *cx, void *out)
{
    emfile_main *st = p;
    WEFT_CORO_BEGIN(st);
    {
        acceptor a = {0};
        a.l = st->l;
        a.ct = st->ct;
        a.count = EMFILE_FREE + 1;
        int rc = weft_spawn(weft_context_runtime(cx), &acceptor_type, &a, &st->h);
        if (rc < 0) WEFT_CORO_RETURN(st, out, int, rc);
    }
    WEFT_AWAIT(st, weft_join_poll(&st->h, cx, &st->out, &st->jr));
    WEFT_CORO_RETURN(st, out, int, st->jr ? st->jr : st->out);
    WEFT_CORO_END(st);
}
WEFT_FUTURE_TYPE(emfile_main_type, emfile_main_poll, NULL, emfile_main, sizeof(int));

static void test_emfile(void **state)
{
    (void)state;
    for (int s = 0; s < weft_scheduler_count(); s++) {
        weft_runtime *rt = rt_make(s, 0);
        weft_tcp_listener l;
        assert_int_equal(weft_tcp_listener_init(&l, rt, "127.0.0.1", 0, 16), 0);
        counters ct;
        atomic_init(&ct.echoed, 0);
        atomic_init(&ct.verified, 0);
        atomic_init(&ct.accepted, 0);
        atomic_init(&ct.accept_parked, 0);
        emfile_client ec = {0};
        ec.port = weft_tcp_listener_port(&l);
        ec.ct = &ct;
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, emfile_client_main, &ec), 0);
        emfile_main em = {0};
        em.ct = &ct;
        em.l = &l;
        int res = -12345;
        int rc = weft_block_on(rt, &emfile_main_type, &em, &res);
        pthread_join(th, NULL);
        uint64_t backoffs = l.backoffs;
        weft_tcp_listener_drop(&l);
        weft_runtime_free(rt);
        printf("# %s: %llu accept back-offs while out of fds\n", weft_scheduler_name(s),
               (unsigned long long)backoffs);
        if (ec.step_failed) fprintf(stderr, "client step %d failed: %s\n", ec.step_failed, strerror(ec.err));
        assert_int_equal(ec.step_failed, 0);
        assert_int_equal(rc, 0);
        assert_int_equal(res, 0); /* the server never saw an error */
        assert_int_equal(ec.accepted_while_full, EMFILE_FREE);
        assert_int_equal(ec.accepted_after, EMFILE_FREE + 1);
        assert_true(backoffs >= 1 && backoffs <= 40); /* backed off, did not spin */
        assert_int_equal(atomic_load(&ct.echoed), strlen("one") + strlen("two") + strlen("still") + strlen("three"));
    }
}

int main(void)
{
    alarm(170); /* a hang fails the test instead of stalling the suite */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_roundtrip),
        cmocka_unit_test(test_partial_reads_and_peer_close),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_write_to_closed_peer),
        cmocka_unit_test(test_connect),
        cmocka_unit_test(test_exdev),
        cmocka_unit_test(test_coop_budget),
        cmocka_unit_test(test_emfile),
    };
    return cmocka_run_group_tests_name("tcp", tests, NULL, NULL);
}
