/*
 * bench/libuv_echo.c - the reference server of bench/echo_compare.sh: the
 * classic single-threaded libuv echo server.
 *
 * Why it exists
 * -------------
 * The timers/reactor issue sets weft's tcp_echo a floor: at least the
 * requests per second of a single-threaded libuv echo server driven by the
 * same load client on the same machine. This is that server, written the
 * way libuv's own examples and benchmarks write it (test/echo-server.c,
 * docs/code/tcp-echo-server): one uv_default_loop on the main thread, one
 * uv_tcp_t listener, uv_read_start with an alloc callback, and a uv_write of
 * exactly what was read, freeing the buffer in the write callback.
 * TCP_NODELAY is set on every accepted connection (weft's server sets it
 * too), so neither side waits for Nagle. The load comes from weft's own
 * tcp_echo client: `weft-bench --param tcp_echo.external_port=P` (see
 * workloads/io.c), so the clients, the byte checks and the clock are the
 * same for both servers.
 *
 * Choices, kept deliberately plain
 * --------------------------------
 * * One malloc'd 64 KiB buffer per read (libuv's suggested_size), handed to
 *   uv_write and freed in its callback: the textbook pattern, no buffer
 *   pool. A pool would make libuv faster than the "classic" server the
 *   issue names.
 * * uv_write, not uv_try_write: again the textbook path (libuv tries the
 *   write synchronously inside uv_write anyway, and queues only the rest).
 * * Listens on 127.0.0.1 only. Port 0 picks a free port; the chosen one is
 *   printed as "listening on 127.0.0.1:P" (flushed) once the listener is
 *   up, so a script can wait for that line.
 * * SIGINT/SIGTERM stop the loop through uv_signal_t (no async-unsafe work
 *   in a raw handler); the loop then closes every handle and exits 0.
 *
 * Usage: libuv_echo [PORT]   (default 0: any free port)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

/* The backlog: tcp_echo connects all of its connections (64 by default, up
 * to 10 000) at once, before any accept runs. */
#define ECHO_BACKLOG 4096

typedef struct echo_write {
    uv_write_t req;
    uv_buf_t buf;
} echo_write;

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sig_int, sig_term;

static void echo_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0; /* len 0: libuv reports UV_ENOBUFS */
}

static void echo_closed(uv_handle_t *h)
{
    free(h);
}

static void echo_written(uv_write_t *req, int status)
{
    echo_write *w = (echo_write *)req;
    if (status < 0 && status != UV_ECANCELED)
        fprintf(stderr, "libuv_echo: write: %s\n", uv_strerror(status));
    free(w->buf.base);
    free(w);
}

static void echo_read(uv_stream_t *client, ssize_t nread, const uv_buf_t *buf)
{
    if (nread > 0) {
        echo_write *w = malloc(sizeof *w);
        if (!w) {
            fprintf(stderr, "libuv_echo: out of memory\n");
            free(buf->base);
            uv_close((uv_handle_t *)client, echo_closed);
            return;
        }
        w->buf = uv_buf_init(buf->base, (unsigned)nread);
        int rc = uv_write(&w->req, client, &w->buf, 1, echo_written);
        if (rc < 0) {
            fprintf(stderr, "libuv_echo: uv_write: %s\n", uv_strerror(rc));
            free(buf->base);
            free(w);
            uv_close((uv_handle_t *)client, echo_closed);
        }
        return;
    }
    free(buf->base); /* nread == 0 (EAGAIN) or an error: the buffer is unused */
    if (nread < 0) {
        if (nread != UV_EOF) fprintf(stderr, "libuv_echo: read: %s\n", uv_strerror((int)nread));
        uv_close((uv_handle_t *)client, echo_closed);
    }
}

static void echo_connection(uv_stream_t *srv, int status)
{
    if (status < 0) {
        fprintf(stderr, "libuv_echo: connection: %s\n", uv_strerror(status));
        return;
    }
    uv_tcp_t *client = malloc(sizeof *client);
    if (!client) {
        fprintf(stderr, "libuv_echo: out of memory\n");
        return;
    }
    uv_tcp_init(loop, client);
    int rc = uv_accept(srv, (uv_stream_t *)client);
    if (rc == 0) rc = uv_tcp_nodelay(client, 1);
    if (rc == 0) rc = uv_read_start((uv_stream_t *)client, echo_alloc, echo_read);
    if (rc < 0) {
        fprintf(stderr, "libuv_echo: accept: %s\n", uv_strerror(rc));
        uv_close((uv_handle_t *)client, echo_closed);
    }
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (uv_is_closing(h)) return;
    /* accepted connections were malloc'd; the listener and signals are static */
    uv_close(h, h->type == UV_TCP && h != (uv_handle_t *)&server ? echo_closed : NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    uv_stop(loop);
}

int main(int argc, char **argv)
{
    long port = 0;
    if (argc > 2 || (argc == 2 && (port = strtol(argv[1], NULL, 10), port < 0 || port > 65535 ||
                                                                          argv[1][0] == 0))) {
        fprintf(stderr, "usage: %s [PORT]   (0..65535; 0 or none: any free port)\n", argv[0]);
        return 2;
    }
    loop = uv_default_loop();
    struct sockaddr_in addr;
    int rc = uv_ip4_addr("127.0.0.1", (int)port, &addr);
    if (rc == 0) rc = uv_tcp_init(loop, &server);
    if (rc == 0) rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&server, ECHO_BACKLOG, echo_connection);
    if (rc < 0) {
        fprintf(stderr, "libuv_echo: listen on 127.0.0.1:%ld: %s\n", port, uv_strerror(rc));
        return 1;
    }
    struct sockaddr_storage bound;
    int len = (int)sizeof bound;
    rc = uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
    if (rc < 0) {
        fprintf(stderr, "libuv_echo: getsockname: %s\n", uv_strerror(rc));
        return 1;
    }
    uv_signal_init(loop, &sig_int);
    uv_signal_init(loop, &sig_term);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    fprintf(stderr, "libuv_echo: libuv %s, single-threaded\n", uv_version_string());
    printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(((struct sockaddr_in *)&bound)->sin_port));
    fflush(stdout);

    uv_run(loop, UV_RUN_DEFAULT);
    /* stopped by a signal: close everything and let the close callbacks run */
    uv_walk(loop, close_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(loop);
    if (rc < 0) fprintf(stderr, "libuv_echo: loop close: %s\n", uv_strerror(rc));
    return rc < 0 ? 1 : 0;
}
