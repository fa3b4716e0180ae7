/*
 * reactor/epoll.c - the Linux reactor backend: edge-triggered epoll, an
 * eventfd to wake a blocked poll, and a slab of readiness slots.
 *
 * THE PROBLEM
 *
 * A task that reads a socket must sleep until the socket is readable and be
 * woken exactly then, without losing an edge, without a thundering herd, and
 * without the reactor ever touching memory that the task has freed. The
 * reactor is driven by one thread at a time (a parked worker, or a dedicated
 * thread); the tasks that own the sockets run on other threads and may close
 * a socket, and free the memory around it, at any moment, including while the
 * driver is between epoll_wait returning and looking at the event.
 *
 * THE DESIGN
 *
 * 1. Slots, not pointers, in epoll_event.data (the late-event problem).
 *    An epoll event carries 64 bits chosen at registration. Putting a pointer
 *    to the registration there (the naive design) is a use-after-free waiting
 *    to happen: epoll_ctl(DEL) does not recall events already copied out to a
 *    driver that has not yet processed them, so after the owner deregisters
 *    and frees its stream the driver may still dereference the stale pointer.
 *    Instead the per-registration state (readiness bits, tick, both wakers)
 *    lives in a reactor-owned slot, and the event carries a token:
 *
 *        token = generation << 32 | slot index
 *
 *    Slots sit in a slab of pages that are never freed or moved until
 *    reactor_free (page p holds 64 << p slots, so 26 pages cover every 32-bit
 *    index and the page table is a fixed array: no realloc for the driver to
 *    race with). Deregistration bumps the slot's generation under the slot
 *    lock before the slot goes back on the free list; the driver compares the
 *    token's generation with the slot's under the same lock and drops a
 *    stale event. So a late event touches only slab memory, which is always
 *    valid, and never changes the readiness of whoever reuses the slot. This
 *    is Tokio's scheme (ScheduledIo in a slab addressed by a generation-tagged
 *    token) and Go's (pollDesc from a never-freed cache, with fdseq tagged
 *    into the epoll data, runtime/netpoll.go).
 *    Rejected: deferred freeing (epoch or quiescent-state reclamation of
 *    embedded registrations). It would force every stream to be heap-allocated
 *    and its free to wait for the driver, which is exactly what embedding the
 *    stream in a coroutine state is meant to avoid. A generation wraps after
 *    2^32 reuses of one slot; a stale event would have to survive that long.
 *
 * 2. Readiness with edge triggering (Tokio's tick scheme).
 *    Each slot has one 64-bit atomic word: readiness bits in the low half, a
 *    tick in the high half. The driver ORs in the bits of every event and
 *    increments the tick (one CAS). The IO path reads the word; if its
 *    direction is ready it tries the syscall; on EAGAIN it clears the bits it
 *    saw *only if the tick is still the one it read* (CAS). An edge that
 *    arrives between the read and its EAGAIN bumps the tick, so the clear is
 *    skipped and the task tries again instead of sleeping on data that will
 *    never produce another edge. READ_CLOSED and WRITE_CLOSED are sticky.
 *    A new registration starts READABLE|WRITABLE: the first op tries the
 *    syscall at once; EAGAIN clears the guess. (The initial edge reported by
 *    EPOLL_CTL_ADD would otherwise cost a whole driver round trip.)
 *    Rejected: level triggering (every wait re-reports each readable socket
 *    whose task has not read yet, so a busy task makes the driver spin) and
 *    EPOLLONESHOT (one epoll_ctl to re-arm per wait per fd, a syscall per
 *    operation). Edge triggering registers once and costs nothing per op.
 *
 * 3. Wakers per direction under a slot spinlock.
 *    The IO path stores a waker for its direction under the slot's spinlock
 *    and re-reads the readiness word before unlocking; the driver, under the
 *    same lock, updates the word and then moves out the wakers of the ready
 *    directions. Either the driver's update comes first (the IO path's
 *    re-read sees it and returns READY) or the store comes first (the driver
 *    finds the waker): no lost wake-up. A spinlock rather than an atomic
 *    waker-state machine (Tokio's AtomicWaker) because the critical sections
 *    are a few words, the lock also orders the generation check, and the two
 *    parties are one task and one driver. Waker clone runs under the lock (an
 *    atomic increment); drops of replaced wakers run after unlocking, because
 *    a drop may free a task.
 *
 * 4. The driver hands wakers out, it never wakes them.
 *    reactor_poll moves each ready waker (its reference with it) into the
 *    caller's array; the caller wakes them after the poll returns, so no task
 *    code runs inside the backend (Redis' backends fill fired[] the same way).
 *    Every event is processed when it is read (readiness must be updated at
 *    once); its wakers go to a backlog of 2 * max_events entries, and the
 *    caller gets at most `cap` of them. The rest stay in the backlog, and the
 *    next call hands them out without waiting on epoll at all. Because epoll
 *    is only waited on with an empty backlog, the backlog never needs more
 *    than two wakers per event and never grows.
 *
 * 5. Waking a blocked poll (eventfd, coalesced).
 *    reactor_wake exchanges a flag to 1 and writes the eventfd only if it was
 *    0; the driver, on the eventfd's event, drains the eventfd and then
 *    exchanges the flag back to 0. A storm of wakes between two polls costs
 *    one write. A wake that lands after the drain but before the reset is
 *    absorbed by the poll that is returning anyway, and the reset's acq_rel
 *    exchange reads that wake's exchange, so whatever the waker published
 *    before waking is visible to the caller when the poll returns. The
 *    eventfd is level-triggered (the only fd that is): it is drained on every
 *    event, so LT costs nothing and cannot strand a wake.
 *
 * 6. Timeouts with microsecond precision.
 *    epoll_wait takes milliseconds (a 200 us timer deadline would become
 *    1 ms). epoll_pwait2 (Linux 5.11) takes a timespec; it is called through
 *    syscall(2) so the build needs no particular glibc. Its expiry is an
 *    hrtimer, delayed by the thread's timer slack (50 us by default), so the
 *    first poll on each thread sets PR_SET_TIMERSLACK to 1 ns (a thread-local
 *    flag: every thread that polls, each worker that becomes the driver and
 *    the dedicated driver thread, sets its own). The kernel also widens every
 *    timed epoll wait to max(slack, 0.1 % of the timeout) (fs/select.c,
 *    select_estimate_accuracy; 0.5 % at nice > 0; 100 ms at most) and wakes
 *    at the end of that range, so a long timeout woke late by 0.1 % of its
 *    length whatever the slack: wait_once asks for t - t/1001, whose
 *    widened range ends at t. And on a VM a long sleep wakes later than a
 *    short one (the host's idle wake-up grows with the sleep), so a wait
 *    longer than REACTOR_SPLIT_NS sleeps until REACTOR_FINAL_NS before the
 *    deadline first and then waits out the rest, one extra wake-up per long
 *    park, so that every deadline is met by a short sleep. A timed-out wait that returns before the deadline (the first stage, or
 *    a widened range cut short by another timer) waits again for the rest,
 *    so a poll still never returns early. On ENOSYS (old
 *    kernel) or EPERM (an old seccomp filter that predates the call) the
 *    reactor falls back for good to epoll_wait with the timeout rounded UP to
 *    whole milliseconds: never early, up to 1 ms late. EINTR is retried in
 *    exactly one place, reactor_wait, against the original deadline.
 *    So a user gets a timeout that is never early and late by about the
 *    machine's wake-up latency, with a tail up to a scheduling quantum when
 *    the machine is busy; the default 50 us slack would add itself to every
 *    wait, and the fallback turns any sub-ms timeout into 1 ms. The "no
 *    early return" part is asserted by tests/test_reactor.c; the lateness is
 *    only reported there, and the measured figures are in the README
 *    ("Timers and their precision").
 *
 * INVARIANTS (slot_sane() and always-on asserts check them)
 *   - a slot with live == true has exactly one reactor_io naming it with the
 *     slot's current generation; a slot with live == false has no wakers and
 *     state 0;
 *   - slot.gen, slot.waker[], slot.live: read and written under slot.lock;
 *   - slot.state: by CAS (driver: set + tick++, under the lock; IO path:
 *     clear-if-tick-unchanged, without it) or, while no IO path can look
 *     at the slot (register / deregister, under the lock), a plain store;
 *     read by anyone;
 *   - pages[p]: written once under slab_mu (release), read by anyone (acquire);
 *   - free list, next_unused: under slab_mu;
 *   - events[], backlog: only by the thread holding `polling`.
 *
 * Citations: Tokio's runtime/io (ScheduledIo, readiness ticks, the slab);
 * Go's runtime/netpoll.go (pollDesc, fdseq); libuv's src/unix/linux.c and
 * async.c (the coalesced wake-up pipe); epoll(7) on edge triggering.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/spinlock.h"
#include "reactor/reactor.h"

/* Always-on check for invariants that guard memory. */
#define REACTOR_ASSERT(cond)                                                               \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "weft reactor: invariant failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                             \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* ---- slots and the slab ---------------------------------------------------- */

#define REACTOR_PAGE0_SLOTS 64u /* one page of 64 slots = 4 KiB, a typical small server */
#define REACTOR_SLAB_PAGES 26   /* 64 * (2^26 - 1) slots: every 32-bit index below the wake token */
#define REACTOR_NO_SLOT UINT32_MAX
#define REACTOR_WAKE_TOKEN UINT64_MAX /* the eventfd's token; no slot has index 2^32 - 1 */
#define REACTOR_STICKY (REACTOR_READ_CLOSED | REACTOR_WRITE_CLOSED)
#define REACTOR_TICK_ONE ((uint64_t)1 << 32)

_Static_assert((uint64_t)REACTOR_PAGE0_SLOTS * ((1ull << REACTOR_SLAB_PAGES) - 1) <= UINT32_MAX,
               "slot indices fit in 32 bits and never reach the wake token's index");

typedef struct reactor_slot {
    /* readiness bits (low 32) | tick (high 32); see essay point 2 */
    _Atomic uint64_t state;
    spinlock lock;
    uint32_t gen;        /* under lock: bumped by deregister */
    uint32_t next_free;  /* under the reactor's slab_mu: free-list link */
    bool live;           /* under lock */
    weft_waker waker[2]; /* under lock: indexed by reactor_dir */
} __attribute__((aligned(64))) reactor_slot; /* one registration per cache line */

_Static_assert(sizeof(reactor_slot) == 64, "a slot is one cache line");

struct reactor {
    int epfd;
    int wakefd;
    _Atomic int wake_pending; /* 1 while an eventfd write is pending or being drained */
    _Atomic int polling;      /* 1 while a thread is inside reactor_poll */
    _Atomic int nregistered;  /* live registrations (reactor_has_registrations) */
    /* Written by the polling thread (the ENOSYS fall-back) and the test hook,
     * read by anyone (reactor_uses_pwait2): relaxed, a flag with no data
     * behind it. */
    _Atomic bool use_pwait2;
    /* Test hooks (reactor_debug_inject): an errno the next eventfd write
     * fails with once, and one every wait fails with; relaxed, set by a
     * test between polls. */
    _Atomic int inject_wake_errno;
    _Atomic int inject_wait_errno;

    /* driver-only (holder of `polling`) */
    int max_events;
    struct epoll_event *events;
    weft_waker *backlog; /* ring of 2 * max_events */
    size_t backlog_cap, backlog_head, backlog_len;

    /* the slab */
    pthread_mutex_t slab_mu;
    _Atomic(reactor_slot *) pages[REACTOR_SLAB_PAGES];
    uint32_t next_unused; /* under slab_mu: first index never handed out */
    uint32_t free_head;   /* under slab_mu */
};

/* The slot invariants of the essay; the caller holds s->lock. */
static bool slot_sane(const reactor_slot *s)
{
    if (s->live) return true;
    return weft_waker_is_none(&s->waker[0]) && weft_waker_is_none(&s->waker[1]) &&
           atomic_load_explicit(&s->state, memory_order_relaxed) == 0; /* under the lock */
}

static uint32_t slab_page_of(uint32_t idx, uint32_t *offset)
{
    uint32_t q = idx / REACTOR_PAGE0_SLOTS + 1; /* page p holds q in [2^p, 2^(p+1)) */
    uint32_t p = 31u - (uint32_t)__builtin_clz(q);
    *offset = idx - REACTOR_PAGE0_SLOTS * ((1u << p) - 1u);
    return p;
}

static size_t slab_page_slots(uint32_t p) { return (size_t)REACTOR_PAGE0_SLOTS << p; }

/* Any thread: the slot for an index that was handed out (its page exists). */
static reactor_slot *slab_slot(reactor *r, uint32_t idx)
{
    uint32_t off;
    uint32_t p = slab_page_of(idx, &off);
    /* acquire pairs with the release store in slab_alloc that published the page */
    reactor_slot *page = atomic_load_explicit(&r->pages[p], memory_order_acquire);
    REACTOR_ASSERT(page != NULL);
    return &page[off];
}

/* Takes a free slot index (or a new one). 0 or -ENOMEM / -ENOSPC. */
static int slab_alloc(reactor *r, uint32_t *idx_out)
{
    int rc = 0;
    pthread_mutex_lock(&r->slab_mu);
    if (r->free_head != REACTOR_NO_SLOT) {
        uint32_t idx = r->free_head;
        r->free_head = slab_slot(r, idx)->next_free;
        *idx_out = idx;
    } else {
        uint32_t idx = r->next_unused, off;
        uint32_t p = slab_page_of(idx, &off);
        if (p >= REACTOR_SLAB_PAGES) {
            rc = -ENOSPC;
        } else {
            if (off == 0) { /* first slot of a new page */
                size_t bytes = slab_page_slots(p) * sizeof(reactor_slot);
                reactor_slot *page = aligned_alloc(64, bytes);
                if (!page) {
                    rc = -ENOMEM;
                    goto out;
                }
                memset(page, 0, bytes);
                for (size_t i = 0; i < slab_page_slots(p); i++) {
                    atomic_init(&page[i].state, 0);
                    spinlock_init(&page[i].lock);
                    page[i].next_free = REACTOR_NO_SLOT;
                    page[i].waker[0] = page[i].waker[1] = WEFT_WAKER_NONE;
                }
                /* release pairs with the acquire load in slab_slot */
                atomic_store_explicit(&r->pages[p], page, memory_order_release);
            }
            r->next_unused = idx + 1;
            *idx_out = idx;
        }
    }
out:
    pthread_mutex_unlock(&r->slab_mu);
    return rc;
}

static void slab_release(reactor *r, uint32_t idx)
{
    pthread_mutex_lock(&r->slab_mu);
    slab_slot(r, idx)->next_free = r->free_head;
    r->free_head = idx;
    pthread_mutex_unlock(&r->slab_mu);
}

static inline uint32_t token_index(uint64_t token) { return (uint32_t)token; }
static inline uint32_t token_gen(uint64_t token) { return (uint32_t)(token >> 32); }

/* ---- lifetime ---------------------------------------------------------------- */

int reactor_new(reactor **out, int max_events)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (max_events < 1 || max_events > REACTOR_MAX_EVENTS) {
        return err_fail(-EINVAL, "reactor: max_events must be 1..%d, not %d", REACTOR_MAX_EVENTS,
                        max_events);
    }
    reactor *r = calloc(1, sizeof *r);
    if (!r) return -ENOMEM;
    /* declared before the first goto (-Wjump-misses-init) */
    int err;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = REACTOR_WAKE_TOKEN}; /* LT: essay 5 */
    r->epfd = r->wakefd = -1;
    /* first, so every failure path below may destroy it */
    pthread_mutex_init(&r->slab_mu, NULL);
    r->max_events = max_events;
    r->events = calloc((size_t)max_events, sizeof *r->events);
    r->backlog_cap = 2 * (size_t)max_events; /* at most a read and a write waker per event */
    r->backlog = calloc(r->backlog_cap, sizeof *r->backlog);
    if (!r->events || !r->backlog) goto fail_nomem;
    atomic_init(&r->wake_pending, 0);
    atomic_init(&r->polling, 0);
    atomic_init(&r->nregistered, 0);
    for (int p = 0; p < REACTOR_SLAB_PAGES; p++) atomic_init(&r->pages[p], NULL);
    r->free_head = REACTOR_NO_SLOT;
    atomic_init(&r->inject_wake_errno, 0);
    atomic_init(&r->inject_wait_errno, 0);
#ifdef SYS_epoll_pwait2
    atomic_init(&r->use_pwait2, true);
#else
    atomic_init(&r->use_pwait2, false);
#endif
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (r->epfd < 0) goto fail_errno;
    r->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->wakefd < 0) goto fail_errno;
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->wakefd, &ev) < 0) goto fail_errno;
    *out = r;
    return 0;
fail_nomem:
    errno = ENOMEM;
fail_errno:
    err = errno;
    reactor_free(r);
    return -err;
}

void reactor_free(reactor *r)
{
    if (!r) return;
    if (r->epfd >= 0) close(r->epfd);
    if (r->wakefd >= 0) close(r->wakefd);
    for (size_t i = 0; i < r->backlog_len; i++)
        weft_waker_drop(&r->backlog[(r->backlog_head + i) % r->backlog_cap]);
    for (uint32_t p = 0; p < REACTOR_SLAB_PAGES; p++) {
        reactor_slot *page = atomic_load_explicit(&r->pages[p], memory_order_relaxed); /* single-threaded */
        if (!page) continue;
        for (size_t i = 0; i < slab_page_slots(p); i++) {
            weft_waker_drop(&page[i].waker[0]);
            weft_waker_drop(&page[i].waker[1]);
        }
        free(page);
    }
    pthread_mutex_destroy(&r->slab_mu);
    free(r->events);
    free(r->backlog);
    free(r);
}

/* ---- registrations ----------------------------------------------------------- */

int reactor_register(reactor *r, reactor_io *io, int fd)
{
    if (!r || !io || fd < 0) return -EINVAL;
    uint32_t idx;
    int rc = slab_alloc(r, &idx);
    if (rc < 0) return rc;
    reactor_slot *s = slab_slot(r, idx);
    spinlock_lock(&s->lock);
    REACTOR_ASSERT(!s->live && slot_sane(s));
    s->live = true;
    uint64_t token = (uint64_t)s->gen << 32 | idx;
    /* Speculative readiness (essay point 2). No event can be pending for this
     * generation yet, so a plain store cannot lose one. Ordered for other
     * threads by the lock and by the epoll_ctl below. */
    atomic_store_explicit(&s->state, REACTOR_READABLE | REACTOR_WRITABLE, memory_order_relaxed);
    spinlock_unlock(&s->lock);

    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u64 = token};
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = errno;
        spinlock_lock(&s->lock);
        s->live = false;
        s->gen++;
        atomic_store_explicit(&s->state, 0, memory_order_relaxed); /* under the lock, unpublished */
        spinlock_unlock(&s->lock);
        slab_release(r, idx);
        return -err;
    }
    io->slot = s;
    io->token = token;
    io->fd = fd;
    /* relaxed: a hint for the workers' non-blocking maintenance polls */
    atomic_fetch_add_explicit(&r->nregistered, 1, memory_order_relaxed);
    return 0;
}

int reactor_deregister(reactor *r, reactor_io *io)
{
    if (!r || !io) return -EINVAL;
    reactor_slot *s = io->slot;
    if (!s) return 0;
    int rc = 0;
    if (io->fd >= 0 && epoll_ctl(r->epfd, EPOLL_CTL_DEL, io->fd, NULL) < 0) rc = -errno;
    weft_waker w0, w1;
    spinlock_lock(&s->lock);
    REACTOR_ASSERT(s->live && s->gen == token_gen(io->token));
    REACTOR_ASSERT(s == slab_slot(r, token_index(io->token)));
    s->live = false;
    s->gen++; /* from here on, events carrying the old token are dropped (essay point 1) */
    w0 = s->waker[0];
    w1 = s->waker[1];
    s->waker[0] = s->waker[1] = WEFT_WAKER_NONE;
    atomic_store_explicit(&s->state, 0, memory_order_relaxed); /* under the lock: dispatch
                                                                  of the new gen comes later */
    REACTOR_ASSERT(slot_sane(s));
    spinlock_unlock(&s->lock);
    weft_waker_drop(&w0);
    weft_waker_drop(&w1);
    slab_release(r, token_index(io->token));
    atomic_fetch_sub_explicit(&r->nregistered, 1, memory_order_relaxed); /* a hint, as above */
    io->slot = NULL;
    io->token = 0;
    io->fd = -1;
    return rc;
}

weft_poll reactor_io_poll_ready(reactor_io *io, reactor_dir dir, const weft_waker *waker,
                                reactor_event *ev)
{
    reactor_slot *s = io->slot;
    REACTOR_ASSERT(s != NULL && (dir == REACTOR_DIR_READ || dir == REACTOR_DIR_WRITE));
    uint32_t mask = dir == REACTOR_DIR_READ ? REACTOR_READ_MASK : REACTOR_WRITE_MASK;
    /* acquire pairs with the acq_rel CAS in slot_dispatch */
    uint64_t st = atomic_load_explicit(&s->state, memory_order_acquire);
    if (((uint32_t)st & mask) == 0 && waker) {
        weft_waker old = WEFT_WAKER_NONE;
        spinlock_lock(&s->lock);
        if (!weft_waker_will_wake(&s->waker[dir], waker)) {
            old = s->waker[dir];
            s->waker[dir] = weft_waker_clone(waker);
        }
        /* Re-read under the lock: slot_dispatch updates state and takes the
         * wakers under this lock, so either it ran before us (we see its
         * bits) or it will find the waker we just stored (essay point 3). */
        st = atomic_load_explicit(&s->state, memory_order_acquire); /* pairs with slot_dispatch's CAS */
        spinlock_unlock(&s->lock);
        weft_waker_drop(&old);
    }
    if (((uint32_t)st & mask) == 0) return WEFT_PENDING;
    ev->ready = (uint32_t)st & mask;
    ev->tick = (uint32_t)(st >> 32);
    return WEFT_READY;
}

void reactor_io_clear_ready(reactor_io *io, reactor_event ev)
{
    reactor_slot *s = io->slot;
    REACTOR_ASSERT(s != NULL);
    uint64_t clear = ev.ready & ~(uint32_t)REACTOR_STICKY;
    /* relaxed first read: the CAS below decides */
    uint64_t cur = atomic_load_explicit(&s->state, memory_order_relaxed);
    for (;;) {
        if ((uint32_t)(cur >> 32) != ev.tick) return; /* an event arrived since: keep it */
        uint64_t next = cur & ~clear;
        if (next == cur) return;
        /* acq_rel pairs with slot_dispatch's CAS: both are RMWs of one word, so
         * the tick comparison is against the latest event in modification order */
        if (atomic_compare_exchange_weak_explicit(&s->state, &cur, next, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return;
    }
}

/* ---- the driver ---------------------------------------------------------------- */

static void backlog_push(reactor *r, weft_waker *w)
{
    REACTOR_ASSERT(r->backlog_len < r->backlog_cap); /* essay point 4: 2 per event suffices */
    r->backlog[(r->backlog_head + r->backlog_len) % r->backlog_cap] = *w;
    r->backlog_len++;
    *w = WEFT_WAKER_NONE;
}

static size_t backlog_take(reactor *r, weft_waker *out, size_t cap)
{
    size_t n = 0;
    while (n < cap && r->backlog_len > 0) {
        out[n++] = r->backlog[r->backlog_head];
        r->backlog[r->backlog_head] = WEFT_WAKER_NONE;
        r->backlog_head = (r->backlog_head + 1) % r->backlog_cap;
        r->backlog_len--;
    }
    if (r->backlog_len == 0) r->backlog_head = 0;
    return n;
}

static uint32_t epoll_to_ready(uint32_t e)
{
    uint32_t b = 0;
    if (e & EPOLLIN) b |= REACTOR_READABLE;
    if (e & EPOLLOUT) b |= REACTOR_WRITABLE;
    if (e & EPOLLRDHUP) b |= REACTOR_READ_CLOSED;
    if (e & EPOLLHUP) b |= REACTOR_READ_CLOSED | REACTOR_WRITE_CLOSED;
    if (e & EPOLLERR) b |= REACTOR_ERROR;
    return b;
}

static void slot_dispatch(reactor *r, uint64_t token, uint32_t events)
{
    uint32_t bits = epoll_to_ready(events);
    if (bits == 0) return;
    reactor_slot *s = slab_slot(r, token_index(token));
    spinlock_lock(&s->lock);
    if (!s->live || s->gen != token_gen(token)) { /* a late event (essay point 1) */
        spinlock_unlock(&s->lock);
        return;
    }
    uint64_t cur = atomic_load_explicit(&s->state, memory_order_relaxed); /* the CAS decides */
    /* acq_rel pairs with the acquire loads in reactor_io_poll_ready and the
     * CAS in reactor_io_clear_ready */
    while (!atomic_compare_exchange_weak_explicit(&s->state, &cur, (cur | bits) + REACTOR_TICK_ONE,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
    }
    if ((bits & REACTOR_READ_MASK) && !weft_waker_is_none(&s->waker[REACTOR_DIR_READ]))
        backlog_push(r, &s->waker[REACTOR_DIR_READ]);
    if ((bits & REACTOR_WRITE_MASK) && !weft_waker_is_none(&s->waker[REACTOR_DIR_WRITE]))
        backlog_push(r, &s->waker[REACTOR_DIR_WRITE]);
    spinlock_unlock(&s->lock);
}

static void wake_drain(reactor *r)
{
    uint64_t v;
    /* EAGAIN (already drained) is fine: the flag reset below is what matters */
    ssize_t n = read(r->wakefd, &v, sizeof v);
    (void)n;
    /* acq_rel: reads the latest reactor_wake exchange (pairs with its acq_rel),
     * so work published before a wake absorbed here is visible to our caller */
    atomic_exchange_explicit(&r->wake_pending, 0, memory_order_acq_rel);
}

/* The timeout to ask epoll_pwait2 for so that its wake-up range ends at
 * timeout_ns (essay point 6): the kernel widens a timed epoll wait to
 * [t, t + max(timer slack, t / 1000)] (select_estimate_accuracy in
 * fs/select.c: 0.1 % of the remaining time at nice <= 0, capped at 100 ms;
 * 0.5 % at nice > 0, not compensated) and, with no other timer in that
 * range, wakes at its end. Asking for t - t/1001 puts the end at t. */
static uint64_t reactor_slack_compensate(uint64_t timeout_ns)
{
    uint64_t widen = timeout_ns / 1001;
    return timeout_ns - (widen > 100000000ull ? 100000000ull : widen);
}

/* Lowers this thread's timer slack to 1 ns once (essay point 6). */
static void reactor_lower_slack(void)
{
    static _Thread_local bool slack_set;
    if (slack_set) return;
    slack_set = true;
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); /* best effort */
}

static int wait_once(reactor *r, uint64_t timeout_ns)
{
#ifdef SYS_epoll_pwait2
    int injected = atomic_load_explicit(&r->inject_wait_errno, memory_order_relaxed);
    if (injected) {
        errno = injected;
        return -1;
    }
    if (atomic_load_explicit(&r->use_pwait2, memory_order_relaxed)) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns != UINT64_MAX) {
            uint64_t ask = reactor_slack_compensate(timeout_ns);
            ts.tv_sec = (time_t)(ask / 1000000000ull);
            ts.tv_nsec = (long)(ask % 1000000000ull);
            tsp = &ts;
        }
        /* sigmask NULL: the kernel ignores sigsetsize; 8 is the kernel's sigset size */
        long n = syscall(SYS_epoll_pwait2, r->epfd, r->events, r->max_events, tsp, NULL, 8);
        if (n >= 0 || (errno != ENOSYS && errno != EPERM)) return (int)n;
        /* old kernel or seccomp filter: fall back for good */
        atomic_store_explicit(&r->use_pwait2, false, memory_order_relaxed);
    }
#endif
    int ms;
    if (timeout_ns == UINT64_MAX) ms = -1;
    else {
        uint64_t up = (timeout_ns + 999999ull) / 1000000ull; /* round UP: never early */
        ms = up > INT_MAX ? INT_MAX : (int)up;
    }
    return epoll_wait(r->epfd, r->events, r->max_events, ms);
}

/* A timed wait longer than REACTOR_SPLIT_NS first sleeps until
 * REACTOR_FINAL_NS before its deadline and then waits out the rest, so
 * the deadline is met by a short sleep (essay point 6: a long sleep wakes
 * later than a short one). */
#define REACTOR_SPLIT_NS 2000000ull /* below it a sleep is as punctual as a short one */
#define REACTOR_FINAL_NS 200000ull  /* more than a long sleep's usual lateness */
_Static_assert(REACTOR_SPLIT_NS > 2 * REACTOR_FINAL_NS, "the first stage is the longer one");

/* The one place EINTR is retried: again, with what is left of the timeout.
 * A timed-out wait that returns before the deadline (the first stage of a
 * split wait, or a compensated range of wait_once that woke at its start,
 * e.g. coalesced with another timer) also waits again for the rest, so a
 * poll never returns early. */
static int reactor_wait(reactor *r, uint64_t timeout_ns)
{
    uint64_t deadline = 0;
    if (timeout_ns != UINT64_MAX && timeout_ns != 0) {
        uint64_t now = clock_now_ns();
        deadline = timeout_ns > UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + timeout_ns;
    }
    for (;;) {
        bool split = deadline && atomic_load_explicit(&r->use_pwait2, memory_order_relaxed) &&
                     timeout_ns > REACTOR_SPLIT_NS;
        int n = wait_once(r, split ? timeout_ns - REACTOR_FINAL_NS : timeout_ns);
        if (n > 0) return n;
        if (n < 0 && errno != EINTR) return -errno;
        if (!deadline) { /* no timeout or a zero one: done, or EINTR: the same again */
            if (n == 0) return 0;
            continue;
        }
        uint64_t now = clock_now_ns();
        if (n == 0 && now >= deadline) return 0;
        timeout_ns = now >= deadline ? 0 : deadline - now;
    }
}

int reactor_poll(reactor *r, uint64_t timeout_ns, weft_waker *ready, size_t cap, size_t *n_out)
{
    if (n_out) *n_out = 0;
    if (!r || !ready || !n_out || cap == 0) return -EINVAL;
    /* acquire pairs with the release store at the end of the previous poll:
     * events[] and the backlog it left behind are ours now */
    if (atomic_exchange_explicit(&r->polling, 1, memory_order_acquire)) return -EBUSY;
    int rc = 0;
    if (r->backlog_len == 0) { /* with wakers kept back, hand those out without waiting */
        reactor_lower_slack();
        int n = reactor_wait(r, timeout_ns);
        if (n < 0) rc = n;
        for (int i = 0; i < n; i++) {
            uint64_t token = r->events[i].data.u64;
            if (token == REACTOR_WAKE_TOKEN) wake_drain(r);
            else slot_dispatch(r, token, r->events[i].events);
        }
    }
    *n_out = backlog_take(r, ready, cap);
    atomic_store_explicit(&r->polling, 0, memory_order_release); /* pairs with the exchange above */
    return rc;
}

int reactor_wake(reactor *r)
{
    if (!r) return -EINVAL;
    /* acq_rel pairs with the exchange in wake_drain: our caller's prior writes
     * are released to the driver; only the 0 -> 1 transition writes */
    if (atomic_exchange_explicit(&r->wake_pending, 1, memory_order_acq_rel)) return 0;
    uint64_t one = 1;
    int injected = atomic_exchange_explicit(&r->inject_wake_errno, 0, memory_order_relaxed);
    ssize_t n = injected ? (errno = injected, -1) : write(r->wakefd, &one, sizeof one);
    if (n < 0 && errno != EAGAIN) {
        int err = errno;
        /* Nothing is pending after all: clear the flag, or every later wake
         * would see 1 and skip its write, and the driver would never wake.
         * release: pairs with the next waker's acq_rel exchange. */
        atomic_store_explicit(&r->wake_pending, 0, memory_order_release);
        return err_fail(-err, "reactor_wake: eventfd write failed: %s", strerror(err));
    }
    return 0;
}

void reactor_debug_inject(reactor *r, int wake_errno, int wait_errno)
{
    atomic_store_explicit(&r->inject_wake_errno, wake_errno, memory_order_relaxed);
    atomic_store_explicit(&r->inject_wait_errno, wait_errno, memory_order_relaxed);
}

void reactor_debug_force_epoll_wait(reactor *r, bool on)
{
#ifdef SYS_epoll_pwait2
    atomic_store_explicit(&r->use_pwait2, !on, memory_order_relaxed);
#else
    (void)on;
    (void)r;
#endif
}

bool reactor_uses_pwait2(const reactor *r)
{
    return atomic_load_explicit(&((reactor *)r)->use_pwait2, memory_order_relaxed);
}

bool reactor_has_registrations(reactor *r)
{
    return atomic_load_explicit(&r->nregistered, memory_order_relaxed) != 0;
}
