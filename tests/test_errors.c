/*
 * tests/test_errors.c - the error convention across the layers: a failing
 * call returns a negative errno, leaves a message naming the call and what
 * is wrong in weft_last_error(), and writes nothing to stderr (common/error.h).
 *
 * Each check redirects stderr to a temporary file around the failing call
 * and asserts the file stayed empty.
 */
#include <fcntl.h>
#include <unistd.h>

#include "test_util.h"

#include "common/deque.h"
#include "common/error.h"
#include "common/histogram.h"
#include "reactor/reactor.h"
#include "timers/timer.h"
#include "weft/net.h"
#include "weft/time.h"

static int saved_stderr = -1;
static FILE *capture;

static void stderr_capture_begin(void)
{
    fflush(stderr);
    capture = tmpfile();
    assert_non_null(capture);
    saved_stderr = dup(2);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fileno(capture), 2) >= 0);
    err_clear();
}

/* Restores stderr and asserts nothing was written to it meanwhile. */
static void stderr_capture_end_empty(void)
{
    fflush(stderr);
    long written = lseek(fileno(capture), 0, SEEK_END);
    assert_true(dup2(saved_stderr, 2) >= 0);
    close(saved_stderr);
    fclose(capture);
    if (written != 0) fail_msg("the failing call wrote %ld bytes to stderr", written);
}

static void assert_message(const char *needle)
{
    const char *m = weft_last_error();
    if (!strstr(m, needle)) fail_msg("weft_last_error() is '%s', expected it to mention '%s'", m, needle);
}

static void test_interval_init(void **state)
{
    (void)state;
    weft_interval iv;
    stderr_capture_begin();
    assert_int_equal(weft_interval_init(&iv, 0, WEFT_MISSED_BURST), -EINVAL);
    stderr_capture_end_empty();
    assert_message("weft_interval_init: the period must be > 0");
    stderr_capture_begin();
    assert_int_equal(weft_interval_init(&iv, WEFT_MS, (weft_missed_tick)7), -EINVAL);
    stderr_capture_end_empty();
    assert_message("unknown missed-tick policy 7");
}

static void test_timer_driver_init(void **state)
{
    (void)state;
    timer_driver td;
    stderr_capture_begin();
    assert_int_equal(timer_driver_init(&td, 7200ull * 1000000000ull, NULL, NULL, NULL, NULL), -EINVAL);
    stderr_capture_end_empty();
    assert_message("over an hour");
}

static void test_tcp_listen(void **state)
{
    (void)state;
    weft_tcp_listener l;
    stderr_capture_begin();
    assert_int_equal(weft_tcp_listener_init(&l, NULL, "127.0.0.1", 0, 0), -EINVAL);
    stderr_capture_end_empty();
    assert_message("weft_tcp_listener_init: NULL runtime");

    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    stderr_capture_begin();
    int rc = weft_tcp_listener_init(&l, rt, "no-such-host.invalid", 0, 0);
    stderr_capture_end_empty();
    assert_true(rc < 0);
    assert_message("weft_tcp_listener_init: cannot resolve 'no-such-host.invalid'");

    /* the address is taken: a second listener on the same port */
    assert_int_equal(weft_tcp_listener_init(&l, rt, "127.0.0.1", 0, 0), 0);
    weft_tcp_listener l2;
    stderr_capture_begin();
    rc = weft_tcp_listener_init(&l2, rt, "127.0.0.1", weft_tcp_listener_port(&l), 0);
    stderr_capture_end_empty();
    /* SO_REUSEADDR does not let two sockets listen on one port */
    assert_int_equal(rc, -EADDRINUSE);
    assert_message("weft_tcp_listener_init: cannot listen on 127.0.0.1 port");
    weft_tcp_listener_drop(&l);
    weft_runtime_free(rt);
}

static void test_tcp_connect_init(void **state)
{
    (void)state;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    weft_tcp_connect c;
    stderr_capture_begin();
    int rc = weft_tcp_connect_init(&c, rt, "no-such-host.invalid", 80);
    stderr_capture_end_empty();
    assert_true(rc < 0);
    assert_message("weft_tcp_connect_init: cannot resolve 'no-such-host.invalid'");
    weft_tcp_connect_drop(&c);

    stderr_capture_begin();
    assert_int_equal(weft_tcp_connect_init(&c, rt, "127.0.0.1", 0), -EINVAL);
    stderr_capture_end_empty();
    assert_message("port 0");
    weft_tcp_connect_drop(&c);

    stderr_capture_begin();
    assert_int_equal(weft_tcp_connect_init(&c, NULL, "127.0.0.1", 80), -EINVAL);
    stderr_capture_end_empty();
    assert_message("NULL runtime");
    weft_tcp_connect_drop(&c);
    weft_runtime_free(rt);
}

/* A context outside any runtime: no timer driver, no reactor. */
static weft_context outside_cx(void)
{
    weft_context cx;
    memset(&cx, 0, sizeof cx);
    cx.budget = -1;
    return cx;
}

/* The time futures' errors come out of a poll, and set the message too. */
static void test_time_poll_errors(void **state)
{
    (void)state;
    weft_context cx = outside_cx();
    weft_sleep s;
    weft_sleep_init(&s, WEFT_MS);
    stderr_capture_begin();
    assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_READY);
    stderr_capture_end_empty();
    assert_int_equal(weft_sleep_result(&s), -ENOTSUP);
    assert_message("weft_sleep_poll: polled outside a weft runtime");
    weft_sleep_drop(&s);

    weft_timeout t;
    weft_timeout_init(&t, WEFT_MS);
    stderr_capture_begin();
    assert_int_equal(weft_timeout_poll(&t, &cx, WEFT_PENDING), WEFT_READY);
    stderr_capture_end_empty();
    assert_int_equal(weft_timeout_result(&t), -ENOTSUP);
    assert_message("weft_timeout_poll: polled outside a weft runtime");
    weft_timeout_drop(&t);

    weft_interval iv;
    assert_int_equal(weft_interval_init(&iv, WEFT_MS, WEFT_MISSED_BURST), 0);
    stderr_capture_begin();
    assert_int_equal(weft_interval_poll(&iv, &cx, NULL), WEFT_READY);
    stderr_capture_end_empty();
    assert_int_equal(weft_interval_result(&iv), -ENOTSUP);
    assert_message("weft_interval_poll: polled outside a weft runtime");
    weft_interval_drop(&iv);
}

/* The TCP futures' and calls' errors other than resolving and binding. */
static void test_tcp_poll_errors(void **state)
{
    (void)state;
    weft_context cx = outside_cx();
    weft_tcp_stream closed;
    memset(&closed, 0, sizeof closed);
    char buf[8];
    ssize_t n = 0;
    stderr_capture_begin();
    assert_int_equal(weft_tcp_read_poll(&closed, &cx, buf, sizeof buf, &n), WEFT_READY);
    stderr_capture_end_empty();
    assert_int_equal(n, -EBADF);
    assert_message("weft_tcp_read_poll: the stream is closed");
    stderr_capture_begin();
    assert_int_equal(weft_tcp_write_poll(&closed, &cx, buf, sizeof buf, &n), WEFT_READY);
    stderr_capture_end_empty();
    assert_int_equal(n, -EBADF);
    assert_message("weft_tcp_write_poll: the stream is closed");
    stderr_capture_begin();
    assert_int_equal(weft_tcp_shutdown_write(&closed), -EBADF);
    stderr_capture_end_empty();
    assert_message("weft_tcp_shutdown_write: the stream is closed");

    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    weft_tcp_listener l;
    assert_int_equal(weft_tcp_listener_init(&l, rt, "127.0.0.1", 0, 0), 0);
    weft_tcp_stream out;
    int result = 0;
    stderr_capture_begin();
    assert_int_equal(weft_tcp_accept_poll(&l, &cx, &out, &result), WEFT_READY);
    stderr_capture_end_empty();
    assert_int_equal(result, -EXDEV);
    assert_message("weft_tcp_accept_poll: polled outside a task of the socket's runtime");

    weft_tcp_connect c;
    assert_int_equal(weft_tcp_connect_init(&c, rt, "127.0.0.1", weft_tcp_listener_port(&l)), 0);
    stderr_capture_begin();
    assert_int_equal(weft_tcp_connect_poll(&c, &cx, &out, &result), WEFT_READY);
    stderr_capture_end_empty();
    assert_int_equal(result, -EXDEV);
    assert_message("weft_tcp_connect_poll: polled outside");
    weft_tcp_connect_drop(&c);

    /* a failed init is reported again by the poll, with a message */
    assert_int_equal(weft_tcp_connect_init(&c, rt, "127.0.0.1", 0), -EINVAL);
    err_clear();
    stderr_capture_begin();
    assert_int_equal(weft_tcp_connect_poll(&c, &cx, &out, &result), WEFT_READY);
    stderr_capture_end_empty();
    assert_int_equal(result, -EINVAL);
    assert_message("weft_tcp_connect_poll: weft_tcp_connect_init had failed");
    weft_tcp_connect_drop(&c);

    weft_tcp_listener_drop(&l);
    stderr_capture_begin();
    assert_int_equal(weft_tcp_accept_poll(&l, &cx, &out, &result), WEFT_READY);
    stderr_capture_end_empty();
    assert_int_equal(result, -EBADF);
    assert_message("weft_tcp_accept_poll: the listener is closed");
    weft_runtime_free(rt);
}

static void test_common(void **state)
{
    (void)state;
    deque d;
    stderr_capture_begin();
    assert_int_equal(deque_init(&d, 3), -EINVAL);
    stderr_capture_end_empty();
    assert_message("deque_init: initial capacity 3 is invalid");

    hist h;
    stderr_capture_begin();
    assert_int_equal(hist_init(&h, 0, 1000, 3), -EINVAL);
    stderr_capture_end_empty();
    assert_message("hist_init: lowest must be >= 1");

    reactor *r;
    stderr_capture_begin();
    assert_int_equal(reactor_new(&r, 0), -EINVAL);
    stderr_capture_end_empty();
    assert_message("max_events must be 1..");
}

/* Messages are per thread: another thread's failure does not replace ours. */
static void *fail_elsewhere(void *arg)
{
    (void)arg;
    weft_interval iv;
    (void)weft_interval_init(&iv, 0, WEFT_MISSED_BURST);
    return NULL;
}

static void test_per_thread(void **state)
{
    (void)state;
    err_fail(-EINVAL, "mine");
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fail_elsewhere, NULL), 0);
    pthread_join(th, NULL);
    assert_string_equal(weft_last_error(), "mine");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval_init),  cmocka_unit_test(test_timer_driver_init),
        cmocka_unit_test(test_tcp_listen),     cmocka_unit_test(test_tcp_connect_init),
        cmocka_unit_test(test_time_poll_errors), cmocka_unit_test(test_tcp_poll_errors),
        cmocka_unit_test(test_common),         cmocka_unit_test(test_per_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
