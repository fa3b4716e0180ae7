/*
 * tests/test_reactor.c - the epoll backend alone, no runtime.
 *
 * Wakers are counting wakers: every clone, drop and wake is counted, so each
 * test checks not only who was woken but that the reactor released every
 * reference it took (refs back to 0).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "reactor/reactor.h"
#include "weft/runtime.h" /* WEFT_MS and friends, weft_last_error */

/* ---- a counting waker ---------------------------------------------------------- */

typedef struct cwaker {
    atomic_int refs;  /* live references handed out */
    atomic_int wakes; /* wake + wake_by_ref calls */
} cwaker;

static weft_waker cw_clone(const void *d);
static void cw_wake(const void *d)
{
    cwaker *c = (cwaker *)d;
    atomic_fetch_add_explicit(&c->wakes, 1, memory_order_relaxed); /* read after join */
    atomic_fetch_sub_explicit(&c->refs, 1, memory_order_relaxed);
}
static void cw_wake_by_ref(const void *d)
{
    atomic_fetch_add_explicit(&((cwaker *)d)->wakes, 1, memory_order_relaxed);
}
static void cw_drop(const void *d)
{
    atomic_fetch_sub_explicit(&((cwaker *)d)->refs, 1, memory_order_relaxed);
}
static const weft_waker_vtable cw_vtable = {cw_clone, cw_wake, cw_wake_by_ref, cw_drop};
static weft_waker cw_clone(const void *d)
{
    atomic_fetch_add_explicit(&((cwaker *)d)->refs, 1, memory_order_relaxed);
    return (weft_waker){&cw_vtable, d};
}
/* A borrowed waker (as cx->waker is): no reference of its own. */
static weft_waker cw_borrow(cwaker *c) { return (weft_waker){&cw_vtable, c}; }
static int cw_refs(cwaker *c) { return atomic_load_explicit(&c->refs, memory_order_relaxed); }
static int cw_wakes(cwaker *c) { return atomic_load_explicit(&c->wakes, memory_order_relaxed); }

/* Polls once and wakes what came back; returns how many wakers came back. */
static size_t poll_and_wake(reactor *r, uint64_t timeout_ns)
{
    weft_waker ready[64];
    size_t n = 0;
    assert_int_equal(reactor_poll(r, timeout_ns, ready, 64, &n), 0);
    for (size_t i = 0; i < n; i++) weft_waker_wake(&ready[i]);
    return n;
}

static void make_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

/* Reads until EAGAIN with the readiness protocol; returns bytes read. */
static size_t drain(reactor_io *io, int fd)
{
    size_t total = 0;
    char buf[4096];
    for (;;) {
        reactor_event ev;
        if (reactor_io_poll_ready(io, REACTOR_DIR_READ, NULL, &ev) == WEFT_PENDING) return total;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            total += (size_t)n;
            continue;
        }
        if (n == 0) return total;
        assert_int_equal(errno, EAGAIN);
        reactor_io_clear_ready(io, ev);
    }
}

/* A connected loopback TCP pair (for resets, which AF_UNIX cannot do). */
static void make_tcp_pair(int *client, int *server)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(l >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c >= 0);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    int s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(s >= 0);
    close(l);
    *client = c;
    *server = s;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_socketpair_readiness(void **state)
{
    (void)state;
    reactor *r;
    assert_int_equal(reactor_new(&r, 64), 0);
    int sv[2];
    make_pair(sv);
    reactor_io io = {0};
    cwaker cw = {0};
    weft_waker w = cw_borrow(&cw);
    assert_int_equal(reactor_register(r, &io, sv[0]), 0);
    assert_int_equal(io.fd, sv[0]);

    /* speculative readiness: both directions ready before any poll */
    reactor_event ev;
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_WRITE, &w, &ev), WEFT_READY);
    assert_true(ev.ready & REACTOR_WRITABLE);
    assert_int_equal(drain(&io, sv[0]), 0); /* EAGAIN clears the read guess */
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_READ, &w, &ev), WEFT_PENDING);
    assert_int_equal(cw_refs(&cw), 1); /* stored one clone */
    /* storing again for the same task does not clone again */
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_READ, &w, &ev), WEFT_PENDING);
    assert_int_equal(cw_refs(&cw), 1);

    /* the ADD's initial EPOLLOUT edge: write-ready, but no read waker handed out */
    assert_int_equal(poll_and_wake(r, 0), 0);
    assert_int_equal(cw_wakes(&cw), 0);

    assert_int_equal(write(sv[1], "hello", 5), 5);
    assert_int_equal(poll_and_wake(r, 1000 * WEFT_MS), 1);
    assert_int_equal(cw_wakes(&cw), 1);
    assert_int_equal(cw_refs(&cw), 0);
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_READ, NULL, &ev), WEFT_READY);
    assert_true(ev.ready & REACTOR_READABLE);
    assert_int_equal(drain(&io, sv[0]), 5);

    assert_int_equal(reactor_deregister(r, &io), 0);
    assert_null(io.slot);
    assert_int_equal(io.fd, -1);
    assert_int_equal(reactor_deregister(r, &io), 0); /* not registered: no-op */
    close(sv[0]);
    close(sv[1]);
    reactor_free(r);
}

static void test_partial_read_keeps_rest(void **state)
{
    (void)state;
    reactor *r;
    assert_int_equal(reactor_new(&r, 64), 0);
    int sv[2];
    make_pair(sv);
    reactor_io io = {0};
    cwaker cw = {0};
    weft_waker w = cw_borrow(&cw);
    assert_int_equal(reactor_register(r, &io, sv[0]), 0);
    assert_int_equal(drain(&io, sv[0]), 0);
    assert_int_equal(poll_and_wake(r, 0), 0);

    char msg[100], buf[100];
    for (int i = 0; i < 100; i++) msg[i] = (char)i;
    assert_int_equal(write(sv[1], msg, 100), 100);
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_READ, &w, NULL), WEFT_PENDING);
    assert_int_equal(poll_and_wake(r, 1000 * WEFT_MS), 1); /* one edge for 100 bytes */

    /* read 10 of 100: no EAGAIN, so readiness stays and the rest is readable */
    reactor_event ev;
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_READ, &w, &ev), WEFT_READY);
    assert_int_equal(read(sv[0], buf, 10), 10);
    assert_int_equal(poll_and_wake(r, 0), 0); /* no new edge comes for the other 90 */
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_READ, &w, &ev), WEFT_READY);
    assert_int_equal(read(sv[0], buf + 10, 90), 90);
    assert_memory_equal(buf, msg, 100);

    /* the tick: an edge lands between a read and its EAGAIN */
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_READ, NULL, &ev), WEFT_READY);
    assert_int_equal(read(sv[0], buf, 10), -1); /* EAGAIN, but before we clear ... */
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(write(sv[1], "x", 1), 1); /* ... new data and its edge arrive */
    assert_int_equal(poll_and_wake(r, 1000 * WEFT_MS), 0);
    reactor_io_clear_ready(&io, ev); /* stale tick: must not clear */
    reactor_event ev2;
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_READ, NULL, &ev2), WEFT_READY);
    assert_int_not_equal(ev2.tick, ev.tick);
    assert_int_equal(read(sv[0], buf, 10), 1);
    /* with the current tick the clear works, and a stored waker then waits */
    assert_int_equal(read(sv[0], buf, 10), -1);
    reactor_io_clear_ready(&io, ev2);
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_READ, &w, &ev), WEFT_PENDING);
    assert_int_equal(poll_and_wake(r, 0), 0);
    assert_int_equal(cw_wakes(&cw), 1);

    assert_int_equal(reactor_deregister(r, &io), 0);
    assert_int_equal(cw_refs(&cw), 0); /* deregister dropped the stored waker */
    close(sv[0]);
    close(sv[1]);
    reactor_free(r);
}

static void test_peer_close_rdhup(void **state)
{
    (void)state;
    reactor *r;
    assert_int_equal(reactor_new(&r, 64), 0);
    int sv[2];
    make_pair(sv);
    reactor_io io = {0};
    cwaker cw = {0};
    weft_waker w = cw_borrow(&cw);
    assert_int_equal(reactor_register(r, &io, sv[0]), 0);
    assert_int_equal(drain(&io, sv[0]), 0);
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_READ, &w, NULL), WEFT_PENDING);
    assert_int_equal(poll_and_wake(r, 0), 0);

    assert_int_equal(write(sv[1], "abc", 3), 3);
    close(sv[1]);
    assert_int_equal(poll_and_wake(r, 1000 * WEFT_MS), 1);
    reactor_event ev;
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_READ, NULL, &ev), WEFT_READY);
    assert_true(ev.ready & REACTOR_READ_CLOSED);
    char buf[8];
    assert_int_equal(read(sv[0], buf, sizeof buf), 3);
    assert_int_equal(read(sv[0], buf, sizeof buf), 0); /* EOF */
    reactor_io_clear_ready(&io, ev);                  /* closed is sticky */
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_READ, &w, &ev), WEFT_READY);
    assert_true(ev.ready & REACTOR_READ_CLOSED);
    assert_int_equal(cw_refs(&cw), 0);

    assert_int_equal(reactor_deregister(r, &io), 0);
    close(sv[0]);
    reactor_free(r);
}

static void test_reset(void **state)
{
    (void)state;
    reactor *r;
    assert_int_equal(reactor_new(&r, 64), 0);
    int c, s;
    make_tcp_pair(&c, &s);
    reactor_io io = {0};
    cwaker cw = {0};
    weft_waker w = cw_borrow(&cw);
    assert_int_equal(reactor_register(r, &io, s), 0);
    assert_int_equal(drain(&io, s), 0);
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_READ, &w, NULL), WEFT_PENDING);
    assert_int_equal(poll_and_wake(r, 0), 0);

    struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close sends RST */
    assert_int_equal(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(c);
    assert_int_equal(poll_and_wake(r, 1000 * WEFT_MS), 1);
    reactor_event ev;
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_READ, NULL, &ev), WEFT_READY);
    assert_true(ev.ready & REACTOR_READ_CLOSED);
    char buf[8];
    assert_int_equal(read(s, buf, sizeof buf), -1);
    assert_int_equal(errno, ECONNRESET);
    assert_int_equal(reactor_io_poll_ready(&io, REACTOR_DIR_WRITE, NULL, &ev), WEFT_READY);
    assert_true(ev.ready & REACTOR_WRITE_CLOSED);

    assert_int_equal(reactor_deregister(r, &io), 0);
    close(s);
    reactor_free(r);
    assert_int_equal(cw_refs(&cw), 0);
}

struct waker_thread_arg {
    reactor *r;
    uint64_t delay_ns;
    int wakes;
    int rc;
};

static void *waker_thread(void *p)
{
    struct waker_thread_arg *a = p;
    struct timespec ts = {(time_t)(a->delay_ns / WEFT_SEC), (long)(a->delay_ns % WEFT_SEC)};
    nanosleep(&ts, NULL);
    for (int i = 0; i < a->wakes; i++) {
        int rc = reactor_wake(a->r);
        if (rc) a->rc = rc;
    }
    return NULL;
}

static void test_wake_from_other_thread(void **state)
{
    (void)state;
    reactor *r;
    assert_int_equal(reactor_new(&r, 64), 0);
    /* a blocked poll (forever) returns when another thread wakes it */
    struct waker_thread_arg a = {r, 50 * WEFT_MS, 1, 0};
    pthread_t t;
    uint64_t t0 = clock_now_ns();
    assert_int_equal(pthread_create(&t, NULL, waker_thread, &a), 0);
    assert_int_equal(poll_and_wake(r, UINT64_MAX), 0);
    uint64_t el = clock_now_ns() - t0;
    pthread_join(t, NULL);
    assert_int_equal(a.rc, 0);
    assert_true(el >= 40 * WEFT_MS && el < 10 * WEFT_SEC);

    /* a wake before the poll is not lost: the next poll returns at once */
    assert_int_equal(reactor_wake(r), 0);
    t0 = clock_now_ns();
    assert_int_equal(poll_and_wake(r, 10 * WEFT_SEC), 0);
    assert_true(clock_now_ns() - t0 < 5 * WEFT_SEC);

    /* a storm of wakes from 4 threads coalesces: one poll absorbs all of them,
     * the next one times out */
    struct waker_thread_arg storm[4];
    pthread_t ts[4];
    for (int i = 0; i < 4; i++) {
        storm[i] = (struct waker_thread_arg){r, 0, 10000, 0};
        assert_int_equal(pthread_create(&ts[i], NULL, waker_thread, &storm[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(ts[i], NULL);
        assert_int_equal(storm[i].rc, 0);
    }
    assert_int_equal(poll_and_wake(r, 10 * WEFT_SEC), 0);
    t0 = clock_now_ns();
    assert_int_equal(poll_and_wake(r, 20 * WEFT_MS), 0);
    assert_true(clock_now_ns() - t0 >= 20 * WEFT_MS); /* timed out: nothing left over */
    reactor_free(r);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Never early; report lateness for the record. */
static void timeout_sanity(reactor *r, uint64_t ask, const char *label)
{
    enum { N = 25 };
    uint64_t late[N];
    for (int i = 0; i < N; i++) {
        uint64_t t0 = clock_now_ns();
        assert_int_equal(poll_and_wake(r, ask), 0);
        uint64_t el = clock_now_ns() - t0;
        assert_true(el >= ask); /* no early return */
        late[i] = el - ask;
    }
    qsort(late, N, sizeof late[0], cmp_u64);
    printf("# %s: %llu us asked, lateness p50 %llu us, max %llu us\n", label,
           (unsigned long long)(ask / 1000), (unsigned long long)(late[N / 2] / 1000),
           (unsigned long long)(late[N - 1] / 1000));
}

static void test_timeout_precision(void **state)
{
    (void)state;
    reactor *r;
    assert_int_equal(reactor_new(&r, 64), 0);
    assert_int_equal(poll_and_wake(r, 0), 0); /* 0: does not block */
    timeout_sanity(r, 2 * WEFT_MS, reactor_uses_pwait2(r) ? "epoll_pwait2" : "epoll_wait");
    timeout_sanity(r, 200 * WEFT_US, reactor_uses_pwait2(r) ? "epoll_pwait2" : "epoll_wait");
    reactor_debug_force_epoll_wait(r, true);
    timeout_sanity(r, 2 * WEFT_MS, "epoll_wait (forced)");
    timeout_sanity(r, 200 * WEFT_US, "epoll_wait (forced)"); /* rounds up to 1 ms */
    reactor_free(r);
}

static void test_cap_keeps_rest(void **state)
{
    (void)state;
    enum { PAIRS = 8 };
    reactor *r;
    assert_int_equal(reactor_new(&r, 64), 0);
    int sv[PAIRS][2];
    reactor_io io[PAIRS];
    cwaker cw[PAIRS];
    memset(io, 0, sizeof io);
    memset(cw, 0, sizeof cw);
    for (int i = 0; i < PAIRS; i++) {
        make_pair(sv[i]);
        assert_int_equal(reactor_register(r, &io[i], sv[i][0]), 0);
        assert_int_equal(drain(&io[i], sv[i][0]), 0);
        weft_waker w = cw_borrow(&cw[i]);
        assert_int_equal(reactor_io_poll_ready(&io[i], REACTOR_DIR_READ, &w, NULL), WEFT_PENDING);
    }
    assert_int_equal(poll_and_wake(r, 0), 0);
    for (int i = 0; i < PAIRS; i++) assert_int_equal(write(sv[i][1], "z", 1), 1);

    weft_waker ready[3];
    size_t n, total = 0;
    size_t expect[] = {3, 3, 2};
    for (int round = 0; round < 3; round++) {
        uint64_t t0 = clock_now_ns();
        /* kept wakers come back at once, even with an infinite timeout */
        assert_int_equal(reactor_poll(r, round == 0 ? 1000 * WEFT_MS : UINT64_MAX, ready, 3, &n), 0);
        assert_true(clock_now_ns() - t0 < 900 * WEFT_MS);
        assert_int_equal(n, expect[round]);
        for (size_t i = 0; i < n; i++) weft_waker_wake(&ready[i]);
        total += n;
    }
    assert_int_equal(total, PAIRS);
    assert_int_equal(poll_and_wake(r, 0), 0);
    for (int i = 0; i < PAIRS; i++) {
        assert_int_equal(cw_wakes(&cw[i]), 1); /* each exactly once */
        assert_int_equal(cw_refs(&cw[i]), 0);
    }

    /* reactor_free drops wakers still kept back */
    for (int i = 0; i < PAIRS; i++) {
        assert_int_equal(drain(&io[i], sv[i][0]), 1);
        weft_waker w = cw_borrow(&cw[i]);
        assert_int_equal(reactor_io_poll_ready(&io[i], REACTOR_DIR_READ, &w, NULL), WEFT_PENDING);
        assert_int_equal(write(sv[i][1], "y", 1), 1);
    }
    assert_int_equal(reactor_poll(r, 1000 * WEFT_MS, ready, 1, &n), 0);
    assert_int_equal(n, 1);
    weft_waker_drop(&ready[0]);
    for (int i = 0; i < PAIRS; i++) {
        /* not deregistered: reactor_free must drop the slots' wakers too */
        close(sv[i][1]);
    }
    reactor_free(r);
    for (int i = 0; i < PAIRS; i++) {
        assert_int_equal(cw_refs(&cw[i]), 0);
        close(sv[i][0]);
    }
}

/* A late event for a deregistered slot must not reach the slot's next user.
 * Made deterministic with dup: closing the registered fd while a dup keeps
 * the file open leaves the epoll entry (and its old token) alive after
 * deregistration (EPOLL_CTL_DEL fails with EBADF), and the slot is reused. */
static void test_stale_token_ignored(void **state)
{
    (void)state;
    reactor *r;
    assert_int_equal(reactor_new(&r, 64), 0);
    int a[2], b[2];
    make_pair(a);
    make_pair(b);
    reactor_io ioa = {0}, iob = {0};
    assert_int_equal(reactor_register(r, &ioa, a[0]), 0);
    uint64_t stale = ioa.token;
    int keep = dup(a[0]);
    assert_true(keep >= 0);
    close(a[0]);
    assert_int_equal(reactor_deregister(r, &ioa), -EBADF); /* entry survives, token stale */

    assert_int_equal(reactor_register(r, &iob, b[0]), 0);
    assert_int_equal((uint32_t)iob.token, (uint32_t)stale); /* same slot ... */
    assert_int_not_equal(iob.token >> 32, stale >> 32);    /* ... new generation */
    cwaker cw = {0};
    weft_waker w = cw_borrow(&cw);
    assert_int_equal(drain(&iob, b[0]), 0);
    assert_int_equal(reactor_io_poll_ready(&iob, REACTOR_DIR_READ, &w, NULL), WEFT_PENDING);
    assert_int_equal(poll_and_wake(r, 0), 0); /* the stale entry's initial EPOLLOUT is dropped too */

    assert_int_equal(write(a[1], "stale", 5), 5); /* an event carrying the old token */
    assert_int_equal(poll_and_wake(r, 50 * WEFT_MS), 0);
    assert_int_equal(cw_wakes(&cw), 0);
    reactor_event ev;
    assert_int_equal(reactor_io_poll_ready(&iob, REACTOR_DIR_READ, NULL, &ev), WEFT_PENDING);

    assert_int_equal(write(b[1], "fresh", 5), 5); /* the slot's own event still works */
    assert_int_equal(poll_and_wake(r, 1000 * WEFT_MS), 1);
    assert_int_equal(cw_wakes(&cw), 1);
    assert_int_equal(drain(&iob, b[0]), 5);

    assert_int_equal(reactor_deregister(r, &iob), 0);
    close(keep); /* last reference: the kernel drops the stale entry */
    close(a[1]);
    close(b[0]);
    close(b[1]);
    reactor_free(r);
    assert_int_equal(cw_refs(&cw), 0);
}

/* Many registrations: slots span several slab pages, are reused after
 * deregistration, and every one still gets its own event. */
static void test_many_registrations(void **state)
{
    (void)state;
    enum { PAIRS = 300 }; /* pages of 64, 128, 256 slots */
    reactor *r;
    assert_int_equal(reactor_new(&r, 32), 0); /* fewer events per wait than ready fds */
    static int sv[PAIRS][2];
    static reactor_io io[PAIRS];
    static cwaker cw[PAIRS];
    memset(io, 0, sizeof io);
    memset(cw, 0, sizeof cw);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < PAIRS; i++) {
            make_pair(sv[i]);
            assert_int_equal(reactor_register(r, &io[i], sv[i][0]), 0);
            assert_true((uint32_t)io[i].token < PAIRS); /* round 2 reuses round 1's slots */
            assert_int_equal(drain(&io[i], sv[i][0]), 0);
            weft_waker w = cw_borrow(&cw[i]);
            assert_int_equal(reactor_io_poll_ready(&io[i], REACTOR_DIR_READ, &w, NULL),
                             WEFT_PENDING);
        }
        while (poll_and_wake(r, 0) > 0) {
        }
        for (int i = 0; i < PAIRS; i++) assert_int_equal(write(sv[i][1], "q", 1), 1);
        size_t total = 0;
        uint64_t t0 = clock_now_ns();
        while (total < PAIRS && clock_now_ns() - t0 < 10 * WEFT_SEC) total += poll_and_wake(r, 100 * WEFT_MS);
        assert_int_equal(total, PAIRS);
        for (int i = 0; i < PAIRS; i++) {
            assert_int_equal(cw_wakes(&cw[i]), round + 1);
            assert_int_equal(drain(&io[i], sv[i][0]), 1);
            assert_int_equal(reactor_deregister(r, &io[i]), 0);
            close(sv[i][0]);
            close(sv[i][1]);
        }
    }
    reactor_free(r);
    for (int i = 0; i < PAIRS; i++) assert_int_equal(cw_refs(&cw[i]), 0);
}

/* ---- concurrency: a driver thread, reader threads, and registration churn ------------------
 * The driver polls and wakes on its own thread; readers park on a semaphore
 * until their waker is called. A lost wake-up (an edge missed between a
 * read's EAGAIN and the waker's store) would leave a reader parked forever
 * on data that produces no new edge: its 10 s wait fails the test. The churn
 * thread registers, triggers events for, and deregisters sockets while the
 * driver is returning events for them (the late-event path under TSan/ASan). */

typedef struct swaker {
    sem_t sem;
    atomic_int refs;
} swaker;
static weft_waker sw_clone(const void *d);
static void sw_wake_by_ref(const void *d) { sem_post(&((swaker *)d)->sem); }
static void sw_drop(const void *d)
{
    atomic_fetch_sub_explicit(&((swaker *)d)->refs, 1, memory_order_relaxed); /* read after join */
}
static void sw_wake(const void *d)
{
    sw_wake_by_ref(d);
    sw_drop(d);
}
static const weft_waker_vtable sw_vtable = {sw_clone, sw_wake, sw_wake_by_ref, sw_drop};
static weft_waker sw_clone(const void *d)
{
    atomic_fetch_add_explicit(&((swaker *)d)->refs, 1, memory_order_relaxed);
    return (weft_waker){&sw_vtable, d};
}

#define CONC_READERS 2
#define CONC_MSGS 5000 /* lockstep messages per reader: each one is a single edge */
#define CONC_CHURN 2000

typedef struct conc {
    reactor *r;
    atomic_int stop;
    int sv[CONC_READERS][2];
    reactor_io io[CONC_READERS];
    swaker sw[CONC_READERS];
    /* results, read after join */
    atomic_size_t got[CONC_READERS]; /* reader's progress, the writer waits on it */
    size_t total[CONC_READERS];      /* bytes the writer sent */
    int bad[CONC_READERS];   /* byte mismatches */
    int stalls[CONC_READERS];/* 10 s waits that timed out */
    int churn_errors;
    cwaker churn_cw;
    int driver_errors;
} conc;

typedef struct conc_arg {
    conc *c;
    int i;
} conc_arg;

static void *conc_driver(void *p)
{
    conc *c = p;
    /* acquire pairs with the release store in test_concurrent_driver */
    while (!atomic_load_explicit(&c->stop, memory_order_acquire)) {
        weft_waker ready[4]; /* small cap: the backlog path runs too */
        size_t n = 0;
        if (reactor_poll(c->r, 10 * WEFT_MS, ready, 4, &n) != 0) c->driver_errors++;
        for (size_t k = 0; k < n; k++) weft_waker_wake(&ready[k]);
    }
    return NULL;
}

/* Sends a message, then waits until the reader has consumed it: with no
 * further data coming, a lost wake-up leaves the reader parked for good. */
static void *conc_writer(void *p)
{
    conc_arg *a = p;
    conc *c = a->c;
    int fd = c->sv[a->i][1];
    unsigned char buf[700];
    size_t sent = 0;
    unsigned seed = (unsigned)a->i + 1;
    for (int m = 0; m < CONC_MSGS; m++) {
        size_t len = 1 + (size_t)(rand_r(&seed) % (int)sizeof buf);
        for (size_t k = 0; k < len; k++) buf[k] = (unsigned char)((sent + k) % 251);
        if (write(fd, buf, len) != (ssize_t)len) break; /* fits the socket buffer */
        sent += len;
        uint64_t t0 = clock_now_ns();
        /* acquire pairs with the reader's release store of got */
        while (atomic_load_explicit(&c->got[a->i], memory_order_acquire) < sent &&
               clock_now_ns() - t0 < 10 * WEFT_SEC)
            sched_yield();
        if (atomic_load_explicit(&c->got[a->i], memory_order_acquire) < sent) break; /* stalled */
    }
    c->total[a->i] = sent;
    shutdown(fd, SHUT_WR); /* the reader stops at EOF */
    return NULL;
}

static void *conc_reader(void *p)
{
    conc_arg *a = p;
    conc *c = a->c;
    int i = a->i;
    weft_waker w = {&sw_vtable, &c->sw[i]}; /* borrowed */
    unsigned char buf[512];
    size_t got = 0;
    for (;;) {
        reactor_event ev;
        if (reactor_io_poll_ready(&c->io[i], REACTOR_DIR_READ, &w, &ev) == WEFT_PENDING) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_sec += 10;
            if (sem_timedwait(&c->sw[i].sem, &dl) != 0) {
                c->stalls[i]++;
                break;
            }
            continue;
        }
        ssize_t n = read(c->sv[i][0], buf, sizeof buf);
        if (n > 0) {
            for (ssize_t k = 0; k < n; k++)
                if (buf[k] != (unsigned char)((got + (size_t)k) % 251)) c->bad[i]++;
            got += (size_t)n;
            /* release pairs with the writer's acquire load */
            atomic_store_explicit(&c->got[i], got, memory_order_release);
        } else if (n < 0 && errno == EAGAIN) {
            reactor_io_clear_ready(&c->io[i], ev);
        } else {
            break;
        }
    }
    return NULL;
}

static void *conc_churn(void *p)
{
    conc *c = p;
    weft_waker w = cw_borrow(&c->churn_cw);
    for (int k = 0; k < CONC_CHURN; k++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
            c->churn_errors++;
            continue;
        }
        reactor_io io = {0};
        if (reactor_register(c->r, &io, sv[0]) != 0) c->churn_errors++;
        else {
            char b[4];
            reactor_event ev;
            if (read(sv[0], b, sizeof b) < 0 &&
                reactor_io_poll_ready(&io, REACTOR_DIR_READ, NULL, &ev) == WEFT_READY)
                reactor_io_clear_ready(&io, ev);
            (void)reactor_io_poll_ready(&io, REACTOR_DIR_READ, &w, &ev);
            if (write(sv[1], "e", 1) != 1) c->churn_errors++; /* an event in flight ... */
            if (k % 3 == 0) sched_yield();
            if (reactor_deregister(c->r, &io) != 0) c->churn_errors++; /* ... as it goes */
        }
        close(sv[0]);
        close(sv[1]);
    }
    return NULL;
}

static void test_concurrent_driver(void **state)
{
    (void)state;
    conc *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(reactor_new(&c->r, 16), 0);
    atomic_init(&c->stop, 0);
    conc_arg args[CONC_READERS];
    for (int i = 0; i < CONC_READERS; i++) {
        make_pair(c->sv[i]);
        assert_int_equal(sem_init(&c->sw[i].sem, 0, 0), 0);
        atomic_init(&c->sw[i].refs, 0);
        atomic_init(&c->got[i], 0);
        assert_int_equal(reactor_register(c->r, &c->io[i], c->sv[i][0]), 0);
        args[i] = (conc_arg){c, i};
    }
    pthread_t drv, churn, rd[CONC_READERS], wr[CONC_READERS];
    assert_int_equal(pthread_create(&drv, NULL, conc_driver, c), 0);
    assert_int_equal(pthread_create(&churn, NULL, conc_churn, c), 0);
    for (int i = 0; i < CONC_READERS; i++) {
        assert_int_equal(pthread_create(&rd[i], NULL, conc_reader, &args[i]), 0);
        assert_int_equal(pthread_create(&wr[i], NULL, conc_writer, &args[i]), 0);
    }
    for (int i = 0; i < CONC_READERS; i++) {
        pthread_join(rd[i], NULL);
        pthread_join(wr[i], NULL);
    }
    pthread_join(churn, NULL);
    atomic_store_explicit(&c->stop, 1, memory_order_release); /* pairs with conc_driver's acquire */
    assert_int_equal(reactor_wake(c->r), 0);
    pthread_join(drv, NULL);

    for (int i = 0; i < CONC_READERS; i++) {
        assert_int_equal(c->stalls[i], 0);
        assert_int_equal(c->bad[i], 0);
        assert_true(c->total[i] >= CONC_MSGS); /* every message sent (>= 1 byte each) */
        assert_int_equal(atomic_load(&c->got[i]), c->total[i]);
        assert_int_equal(reactor_deregister(c->r, &c->io[i]), 0);
        close(c->sv[i][0]);
        close(c->sv[i][1]);
    }
    assert_int_equal(c->churn_errors, 0);
    assert_int_equal(c->driver_errors, 0);
    reactor_free(c->r);
    for (int i = 0; i < CONC_READERS; i++) {
        assert_int_equal(atomic_load(&c->sw[i].refs), 0);
        sem_destroy(&c->sw[i].sem);
    }
    assert_int_equal(cw_refs(&c->churn_cw), 0);
    free(c);
}

/* A failed eventfd write must not leave the wake flag set: before the fix
 * every later reactor_wake saw the flag, skipped its write, and a driver
 * blocked in reactor_poll slept its whole timeout. */
static void test_wake_after_failed_write(void **state)
{
    (void)state;
    reactor *r;
    assert_int_equal(reactor_new(&r, 16), 0);
    reactor_debug_inject(r, EBADF, 0);
    assert_int_equal(reactor_wake(r), -EBADF);
    assert_non_null(strstr(weft_last_error(), "eventfd write failed"));
    assert_int_equal(reactor_wake(r), 0); /* this one writes */
    weft_waker ready[4];
    size_t n = 9;
    uint64_t t0 = clock_now_ns();
    assert_int_equal(reactor_poll(r, 2 * WEFT_SEC, ready, 4, &n), 0);
    assert_int_equal(n, 0);
    assert_true(clock_now_ns() - t0 < WEFT_SEC / 2); /* woken, not timed out */
    reactor_free(r);
}

/* A failing wait is reported by every poll (the runtime's driver acts on it). */
static void test_wait_failure_reported(void **state)
{
    (void)state;
    reactor *r;
    assert_int_equal(reactor_new(&r, 16), 0);
    reactor_debug_inject(r, 0, EBADF);
    weft_waker ready[4];
    size_t n = 9;
    assert_int_equal(reactor_poll(r, 0, ready, 4, &n), -EBADF);
    assert_int_equal(reactor_poll(r, WEFT_SEC, ready, 4, &n), -EBADF);
    assert_int_equal(n, 0);
    reactor_debug_inject(r, 0, 0);
    assert_int_equal(reactor_poll(r, 0, ready, 4, &n), 0);
    reactor_free(r);
}

/* use_pwait2 is written by the polling thread and read by anyone: under
 * TSan this raced while it was a plain bool. */
static void *pwait2_toggler(void *arg)
{
    reactor *r = arg;
    for (int i = 0; i < 20000; i++) reactor_debug_force_epoll_wait(r, (i & 1) != 0);
    return NULL;
}

static void test_uses_pwait2_any_thread(void **state)
{
    (void)state;
    reactor *r;
    assert_int_equal(reactor_new(&r, 16), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, pwait2_toggler, r), 0);
    int seen = 0;
    for (int i = 0; i < 20000; i++) seen += reactor_uses_pwait2(r);
    pthread_join(th, NULL);
    (void)seen;
    reactor_debug_force_epoll_wait(r, false);
    reactor_free(r);
}

int main(void)
{
    alarm(120); /* a hang fails the test instead of stalling the suite */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socketpair_readiness),
        cmocka_unit_test(test_partial_read_keeps_rest),
        cmocka_unit_test(test_peer_close_rdhup),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_wake_from_other_thread),
        cmocka_unit_test(test_timeout_precision),
        cmocka_unit_test(test_cap_keeps_rest),
        cmocka_unit_test(test_stale_token_ignored),
        cmocka_unit_test(test_many_registrations),
        cmocka_unit_test(test_concurrent_driver),
        cmocka_unit_test(test_wake_after_failed_write),
        cmocka_unit_test(test_wait_failure_reported),
        cmocka_unit_test(test_uses_pwait2_any_thread),
    };
    return cmocka_run_group_tests_name("reactor", tests, NULL, NULL);
}
