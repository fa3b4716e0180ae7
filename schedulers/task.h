/*
 * schedulers/task.h - the task: one allocation holding a header, the
 * future's state and its output, and the one atomic state word that makes
 * every transition a single CAS or fetch-op.
 *
 * ## The state word
 *
 *   bit 0  RUNNING        a worker is inside poll (or the blocking pool is
 *                         running the job); only the holder of RUNNING
 *                         touches the future's state
 *   bit 1  COMPLETE       poll returned READY or the task was cancelled;
 *                         the output (or the cancelled flag) is published
 *   bit 2  NOTIFIED       the task is in a run queue, or will be put in one
 *                         by the worker that is polling it
 *   bit 3  CANCELLED      abort was requested; the next scheduling point
 *                         drops the future instead of polling it
 *   bit 4  JOIN_INTEREST  a join handle exists and will read the output
 *   bit 5  JOIN_WAKER     join_waker holds a waker the runtime may take
 *   bits 6.. reference count (REF_ONE = 64)
 *
 * Who holds a reference: the owned-task list (from the first time the task
 * waits until completion or shutdown; see "The owned list" below), a run queue (while NOTIFIED is set and the task is not RUNNING,
 * or while a yielded task is carried, below; the polling worker inherits
 * it), the join handle, every waker.
 *
 * ## Carried yields
 * A task that yields is re-queued *still RUNNING* ("carried") instead of
 * paying two CASes (RUNNING -> NOTIFIED after the poll, NOTIFIED -> RUNNING
 * before the next). While carried, the queue holds the queue reference and
 * RUNNING stands for "owned by whoever holds it in a queue": a waker sees
 * RUNNING and only sets NOTIFIED (it never queues it a second time), abort
 * only sets CANCELLED. No flag says a task is carried: a queued task is
 * carried exactly when its word has RUNNING (every other queued task holds
 * NOTIFIED without RUNNING, and only the holder of the queue reference
 * clears RUNNING), so task_begin_poll's one acquire load of the word, which
 * the first poll's private test needs anyway, decides both: a carried task
 * goes straight to the poll unless NOTIFIED or CANCELLED was set meanwhile
 * (then one CAS clears NOTIFIED with acquire, so the waker's writes are
 * visible, or the task is dropped). A yield is carried even when an abort
 * is already visible: the pop drops it then, without a poll, as it drops
 * one whose abort landed while it was queued. The queue hand-off (a lock,
 * or the deque's release and acquire) publishes the previous poll's
 * writes. A plain yield therefore costs no atomic read-modify-write and no
 * store to the task beyond the queue link: 4 of a yield's instructions
 * fewer than with a `carried` byte stored at the re-queue and cleared at
 * the pop and the abort tested at the re-queue (72 -> 68 per yield,
 * callgrind, yield_many fifo/1; the commit has the command).
 *
 * ## The owned list, from the first wait
 * Shutdown must find the tasks that wait on wakers nobody will call; a
 * queued task it finds in the queues (ops->drain), and while no worker runs
 * no task is running. So a task joins the owned list only when it is about
 * to wait: task_transition_to_idle, on its first poll that neither
 * completes nor re-queues, links it on the polling worker's shard (the
 * outside threads' shard off the workers) before the release CAS that
 * clears RUNNING, and the queue's reference becomes the list's.
 * owned_shard says whether it is on a list (TASK_UNLISTED until then);
 * written by that poller before its release CAS, read by later pollers and
 * the completer after their acquire. A task that never waits (most spawned
 * leaves) never touches the list.
 *
 * ## Private tasks
 * A task whose word shows no JOIN_INTEREST and exactly the runtime's
 * references (the queue's, which the caller holds, and the owned list's
 * when it is on one: task_private_refs) is private: no join handle and no waker exists, and none can appear, since
 * every other reference is made from an existing one and the owned list's
 * is used only by its shard's owner and by shutdown (which runs when no
 * worker does). Its word has one reader and writer, so the first poll sets
 * RUNNING with a plain store (task_begin_poll) and completion frees it
 * with no read-modify-write at all (task_complete), when the completing
 * thread may unlink it from its owned-list shard. The worker loop tests the
 * commonest case (never listed) inline, task_complete_inline in
 * runtime_internal.h, with the same acquire load. The load that decides it
 * is acquire: it pairs with the release half of the decrement that
 * dropped the last other reference (a waker cloned during a poll and
 * dropped on another thread), so that thread's uses come before ours.
 *
 * ## Invariants (task_check_state asserts them)
 *   - never queued twice: a queue reference is created only by the CAS that
 *     sets NOTIFIED on an idle (not RUNNING, not COMPLETE) task;
 *   - never polled by two threads: only the holder of the queue reference
 *     may set RUNNING, and it clears NOTIFIED in the same CAS (a carried
 *     task keeps RUNNING, and only its queue's popper polls it);
 *   - a wake during a poll is not lost: it sets NOTIFIED on a RUNNING task
 *     and the poller, clearing RUNNING, sees NOTIFIED and re-queues the task
 *     with the reference it already holds;
 *   - a wake after completion is harmless: COMPLETE makes wake a no-op;
 *   - COMPLETE is never cleared; RUNNING and COMPLETE are never both set;
 *   - JOIN_WAKER implies JOIN_INTEREST; while JOIN_WAKER is set the runtime
 *     owns the right to take join_waker; while it is clear only the join
 *     handle touches join_waker.
 */
#ifndef WEFT_SCHED_TASK_H
#define WEFT_SCHED_TASK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "weft/future.h"
#include "weft/runtime.h"

enum {
    TASK_RUNNING = 1u << 0,
    TASK_COMPLETE = 1u << 1,
    TASK_NOTIFIED = 1u << 2,
    TASK_CANCELLED = 1u << 3,
    TASK_JOIN_INTEREST = 1u << 4,
    TASK_JOIN_WAKER = 1u << 5,
};
#define TASK_REF_SHIFT 6
#define TASK_REF_ONE ((uint64_t)1 << TASK_REF_SHIFT)
#define TASK_FLAGS_MASK (TASK_REF_ONE - 1)
#define TASK_REFS(s) ((s) >> TASK_REF_SHIFT)
/* owned_shard of a task not on the owned list (yet). */
#define TASK_UNLISTED UINT32_MAX

typedef struct task task;

/* How the runtime runs a task: a future's poll, or a blocking job. */
typedef struct task {
    _Atomic uint64_t state;           /* see above */
    const weft_future_type *type;     /* immutable after spawn */
    weft_runtime *rt;                 /* immutable after spawn */
    task *next;                       /* run-queue link: owned by the queue holding the
                                         task's queue reference */
    task *owned_prev, *owned_next;    /* owned-list links: under the shard's lock */
    weft_waker join_waker;            /* see JOIN_WAKER */
    uint64_t wake_ns;                 /* sched_latency: when the task was last queued */
    uint32_t owned_shard;             /* TASK_UNLISTED, or its owned-list shard: set once,
                                         by the poller that first lets it wait (above) */
    uint8_t join_waker_set;           /* join-handle side only: we set JOIN_WAKER */
    uint8_t cancelled;                /* written before COMPLETE is published */
    uint8_t is_blocking;              /* a spawn_blocking job, not on the owned list */
    uint8_t alloc_class;              /* rt_task_alloc's size class (0: plain malloc);
                                         immutable until rt_task_free */
    size_t output_off;                /* offset of the output from the task start */
} task;

/* 16-byte alignment for the future state and output that follow the header. */
#define TASK_ALIGN 16
#define TASK_HEADER_SIZE ((sizeof(task) + TASK_ALIGN - 1) & ~(size_t)(TASK_ALIGN - 1))
_Static_assert((TASK_ALIGN & (TASK_ALIGN - 1)) == 0, "TASK_ALIGN must be a power of two");

/* The references of a private task (above): the queue's, and the owned
 * list's when it is on one. */
static inline uint64_t task_private_refs(const task *t)
{
    return t->owned_shard == TASK_UNLISTED ? 1 : 2;
}

static inline void *task_state_ptr(task *t) { return (char *)t + TASK_HEADER_SIZE; }
static inline void *task_output_ptr(task *t) { return (char *)t + t->output_off; }

extern const weft_waker_vtable task_waker_vtable;

static inline weft_waker task_waker_borrowed(task *t)
{
    return (weft_waker){&task_waker_vtable, t};
}

/* Transition results for the worker loop. */
typedef enum task_after_poll {
    TASK_AFTER_IDLE,    /* waiting for a waker; the queue reference was released */
    TASK_AFTER_REQUEUE, /* notified or yielded: re-queue it with the reference held */
    TASK_AFTER_CANCEL,  /* abort requested: drop it (RUNNING still held) */
} task_after_poll;

/* Worker side (the holder of the queue reference). */
bool task_transition_to_running(task *t);               /* false: cancelled, drop it */
bool task_resume_carried(task *t);                      /* slow path of task_begin_poll */

/* Before polling a task taken from a run queue: false means it was
 * cancelled and must be dropped (task_cancel_running). */
static inline bool task_begin_poll(task *t)
{
    /* acquire: pairs with an aborting or waking thread's release CAS (a
     * carried task), and see "Private tasks" above (a first poll) */
    uint64_t cur = atomic_load_explicit(&t->state, memory_order_acquire);
    /* carried (above), and neither woken nor aborted while queued */
    if ((cur & (TASK_RUNNING | TASK_NOTIFIED | TASK_CANCELLED)) == TASK_RUNNING) return true;
    if (cur & TASK_RUNNING) return task_resume_carried(t);
    /* a private task's first poll (the fast case, once out of line, inline:
     * a spawned leaf pays no call for it) */
    if ((cur & TASK_FLAGS_MASK) == TASK_NOTIFIED && TASK_REFS(cur) == task_private_refs(t) &&
        !t->is_blocking) {
        /* relaxed: nobody else reads or writes the word of a private task */
        atomic_store_explicit(&t->state, cur ^ (TASK_NOTIFIED | TASK_RUNNING), memory_order_relaxed);
        return true;
    }
    return task_transition_to_running(t);
}
task_after_poll task_transition_to_idle(task *t, bool yielded);
void task_complete(task *t, bool cancelled);            /* READY or cancel; releases the
                                                           owned and queue references */
/* ## A claimed child's word (join claim-back, task.c)
 * A child its joiner took back (rt_claim_and_run) whose word holds exactly
 * two references, the queue's (the claimer holds it now) and its join
 * handle's, and which is on no owned list, is reachable from the claiming
 * thread alone: no waker exists (every other reference would be counted),
 * none can appear (a reference is made from an existing one, and a join
 * handle makes none), and the handle is the claimer's own, inside its
 * weft_join_poll (a join handle is used by one thread at a time: its calls
 * write h->task unsynchronised). So, as for a private task, the word has
 * one reader and writer: the claimed poll sets RUNNING with a plain store
 * (task_begin_poll_claimed), and a READY poll that leaves the word so
 * completes with no store at all (task_complete_claimed): the claim, on the
 * joiner's behalf, copies the output to the join's buffer and frees the
 * task into the claiming worker's cache (rt_claim_and_run). The loads that decide it are acquire,
 * pairing with the release half of the decrement that dropped the last
 * other reference (a waker the child's poll cloned and dropped elsewhere).
 * Anything else (CANCELLED, a waker alive, listed, carried, a blocking job)
 * takes the general transitions. */
#define TASK_CLAIMED_WORD (TASK_JOIN_INTEREST | 2 * TASK_REF_ONE)

/* Before polling a claimed child: as task_begin_poll. */
static inline bool task_begin_poll_claimed(task *t)
{
    /* the exact word also says it is not carried (no RUNNING) */
    if (t->owned_shard == TASK_UNLISTED && !t->is_blocking &&
        atomic_load_explicit(&t->state, memory_order_acquire) == (TASK_NOTIFIED | TASK_CLAIMED_WORD)) {
        /* relaxed: nobody else reads or writes this word (above) */
        atomic_store_explicit(&t->state, TASK_RUNNING | TASK_CLAIMED_WORD, memory_order_relaxed);
        return true;
    }
    return task_begin_poll(t);
}

/* A claimed child whose poll returned READY (its future already dropped):
 * true when its word is RUNNING | JOIN_INTEREST with the two references
 * (NOTIFIED may be set too: a consuming wake during the poll that dropped
 * its reference) and it is on no owned list; then the joiner holds the
 * last reference that matters (the claim reads the output and frees it for
 * it: rt_claim_and_run), and nothing
 * is published (nobody else can look). Otherwise changes nothing and
 * returns false (use task_complete). */
static inline bool task_complete_claimed(task *t)
{
    if (t->owned_shard != TASK_UNLISTED || t->is_blocking) return false;
    uint64_t cur = atomic_load_explicit(&t->state, memory_order_acquire);
    return (cur & ~(uint64_t)TASK_NOTIFIED) == (TASK_RUNNING | TASK_CLAIMED_WORD);
}
void task_drop_reference(task *t);

/* The output into the joiner's buffer: most outputs are a word or two, where
 * a memcpy call of a size known only at run time cost more than the copy
 * (fib's 8 bytes: the libc call was a visible share of a claimed join);
 * up to 16 bytes it is two possibly overlapping fixed-size moves that read
 * and write only [0, n). */
static inline void task_output_copy(void *dst, const void *src, size_t n)
{
    if (n > 16) {
        memcpy(dst, src, n);
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, src, 8);
        memcpy(&b, (const char *)src + n - 8, 8);
        memcpy(dst, &a, 8);
        memcpy((char *)dst + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, src, 4);
        memcpy(&b, (const char *)src + n - 4, 4);
        memcpy(dst, &a, 4);
        memcpy((char *)dst + n - 4, &b, 4);
    } else {
        for (size_t i = 0; i < n; i++) ((char *)dst)[i] = ((const char *)src)[i];
    }
}

/* Any thread. */
void task_wake_by_ref(task *t);
void task_wake_consume(task *t);

void task_check_state(uint64_t s); /* always-on assert of the invariants above */
#endif
