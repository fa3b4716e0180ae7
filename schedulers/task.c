/*
 * schedulers/task.c - state-word transitions, the task waker and the join
 * handle.
 *
 * Every transition is one CAS loop (or one fetch-op) on task->state; the
 * invariants are written in task.h. Orders: transitions that publish or
 * consume the future's state or output use acq_rel (the poller's writes to
 * the state must be visible to the next poller, which may be another
 * thread: the NOTIFIED→RUNNING acquire pairs with the RUNNING→idle
 * release); reference increments are relaxed (a new reference is always
 * made from an existing one, as in Arc); the decrement that may free is
 * release, and the freeing thread takes an acquire fence that pairs with
 * every other decrement's release.
 *
 * The join waker protocol. The JOIN_WAKER bit says who owns the join_waker
 * field: set, the runtime may take it; clear, only the join handle touches
 * it. The handle writes the field, then sets the bit with a CAS that fails
 * if COMPLETE appeared (then it still owns the waker and drops it). The
 * completing worker clears the bit in the same CAS that sets COMPLETE, so
 * exactly one side ever consumes the waker. The runtime never writes the
 * field; the handle remembers in join_waker_set whether the runtime now
 * owns the value it stored.
 *
 * Join claim-back. Fork-join code spawns a child and soon awaits it; with a
 * work-first policy the child is still in the joiner's own LIFO slot or at
 * the bottom of its deque. Waiting for it the ordinary way costs a waker
 * clone and the JOIN_WAKER CAS, the joiner's RUNNING -> idle CAS, the
 * child's poll later, its wake of the joiner, the joiner's re-queue and
 * re-poll. So weft_join_poll, finding the child queued and not running
 * (NOTIFIED without RUNNING: it holds a queue reference and sits in exactly
 * one queue), asks the policy to take it back (sched_ops.take_back: only
 * from a place that only this worker takes from; a thief racing for the
 * deque's last item is decided by the deque's own pop). On success this
 * thread holds the child's queue reference, exactly as if `next` had
 * returned it, and the worker's own run_task polls it right here, on this
 * stack, with the child's own context (its waker, a fresh budget): every
 * transition of its state word is the one the worker loop would make
 * (rt_claim_and_run, worker.c), except that a child only the claimer
 * can reach (task.h, "A claimed child's word": the commonest case, a child
 * that holds just its queue's and its handle's references) is started with
 * a plain store and completed with none. READY: the join completes now, no
 * waker was made. PENDING: the child went idle (or was re-queued) as after any
 * poll, and the join registers its waker as before. The joiner's own state
 * is untouched: it is RUNNING throughout, so it can never be claimed by a
 * task it polls (only queued, not-running tasks are claimed), and the
 * chain of inline polls is bounded (RT_CLAIM_DEPTH_MAX; beyond it the join
 * waits the ordinary way).
 */
#include "schedulers/task.h"

#include "common/clock.h"
#include "common/error.h"
#include "common/spinlock.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedulers/runtime_internal.h"

#define ALWAYS_ASSERT(c, msg)                                                               \
    do {                                                                                    \
        if (!(c)) {                                                                         \
            fprintf(stderr, "weft: invariant broken: %s (%s:%d)\n", msg, __FILE__, __LINE__); \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

void task_check_state(uint64_t s)
{
    ALWAYS_ASSERT(!((s & TASK_RUNNING) && (s & TASK_COMPLETE)), "RUNNING and COMPLETE both set");
    ALWAYS_ASSERT(!(s & TASK_JOIN_WAKER) || (s & TASK_JOIN_INTEREST),
                  "JOIN_WAKER without JOIN_INTEREST");
}

static void task_dealloc(task *t)
{
    rt_task_free_inline(t);
}

void task_drop_reference(task *t)
{
    /* acq_rel: the release half orders this thread's uses of the task before
     * the decrement; the acquire half makes the last decrementer (the one
     * that frees) see every other thread's uses (pairs with the other
     * decrements of the count; no separate fence) */
    uint64_t prev = atomic_fetch_sub_explicit(&t->state, TASK_REF_ONE, memory_order_acq_rel);
    ALWAYS_ASSERT(TASK_REFS(prev) >= 1, "task reference count underflow");
    if (TASK_REFS(prev) == 1) task_dealloc(t);
}

static void task_ref_inc(task *t)
{
    /* relaxed: made from a reference the caller holds (Arc's argument) */
    uint64_t prev = atomic_fetch_add_explicit(&t->state, TASK_REF_ONE, memory_order_relaxed);
    ALWAYS_ASSERT(TASK_REFS(prev) < (UINT64_MAX >> TASK_REF_SHIFT) - 1, "task reference overflow");
}

/* ---- wake ------------------------------------------------------------------- */

/* Returns true when the caller must schedule the task (a queue reference was
 * created or, for a consuming wake, transferred). */
static bool task_wake_transition(task *t, bool consume)
{
    uint64_t cur = atomic_load_explicit(&t->state, memory_order_acquire);
    for (;;) {
        uint64_t next;
        bool schedule = false;
        if (cur & (TASK_COMPLETE | TASK_NOTIFIED)) {
            return false; /* done, or already queued / will be re-queued */
        } else if (cur & TASK_RUNNING) {
            next = cur | TASK_NOTIFIED; /* the poller re-queues it */
        } else {
            next = cur | TASK_NOTIFIED;
            if (!consume) next += TASK_REF_ONE; /* the queue's reference */
            schedule = true;
        }
        /* acq_rel: pairs with the poller's release in transition_to_idle, so
         * writes made before this wake are visible to the next poll */
        if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next, memory_order_acq_rel,
                                                  memory_order_acquire))
            return schedule;
    }
}

void task_wake_by_ref(task *t)
{
    if (task_wake_transition(t, false)) rt_schedule(t, SCHED_WAKE);
}

void task_wake_consume(task *t)
{
    if (task_wake_transition(t, true))
        rt_schedule(t, SCHED_WAKE); /* the waker's reference became the queue's */
    else
        task_drop_reference(t);
}

static weft_waker tw_clone(const void *d)
{
    task_ref_inc((task *)d);
    return (weft_waker){&task_waker_vtable, d};
}
static void tw_wake(const void *d) { task_wake_consume((task *)d); }
static void tw_wake_by_ref(const void *d) { task_wake_by_ref((task *)d); }
static void tw_drop(const void *d) { task_drop_reference((task *)d); }

const weft_waker_vtable task_waker_vtable = {tw_clone, tw_wake, tw_wake_by_ref, tw_drop};

/* ---- the worker's transitions ----------------------------------------------- */

bool task_transition_to_running(task *t)
{
    uint64_t cur = atomic_load_explicit(&t->state, memory_order_relaxed);
    for (;;) {
        task_check_state(cur);
        ALWAYS_ASSERT((cur & TASK_NOTIFIED) && !(cur & (TASK_RUNNING | TASK_COMPLETE)),
                      "polling a task that is not queued");
        uint64_t next = (cur & ~(uint64_t)TASK_NOTIFIED) | TASK_RUNNING;
        /* acquire pairs with the release of the previous poller / waker */
        if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next, memory_order_acquire,
                                                  memory_order_relaxed))
            return !(cur & TASK_CANCELLED);
    }
}

bool task_resume_carried(task *t)
{
    uint64_t cur = atomic_load_explicit(&t->state, memory_order_relaxed);
    for (;;) {
        task_check_state(cur);
        ALWAYS_ASSERT(cur & TASK_RUNNING, "a carried task lost RUNNING while queued");
        uint64_t next = cur & ~(uint64_t)TASK_NOTIFIED;
        /* acquire: the waker's writes before its wake are visible to the poll */
        if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next, memory_order_acquire,
                                                  memory_order_relaxed))
            return !(cur & TASK_CANCELLED);
    }
}

static void owned_insert_here(task *t);

task_after_poll task_transition_to_idle(task *t, bool yielded)
{
    uint64_t cur = atomic_load_explicit(&t->state, memory_order_relaxed);
    /* About to wait for the first time: join the owned list before the CAS
     * that lets a waker (and so another worker) at the task; the queue's
     * reference becomes the list's (task.h, "The owned list"). NOTIFIED
     * and a yield stay set once seen, so a task that will be re-queued is
     * not linked; a wake that lands after this load makes the CAS below
     * re-queue it, and then the list needs a reference of its own. */
    uint64_t list_ref = 0;
    if (t->owned_shard == TASK_UNLISTED && !yielded &&
        !(cur & (TASK_NOTIFIED | TASK_CANCELLED)) && !t->is_blocking) {
        owned_insert_here(t);
        list_ref = TASK_REF_ONE;
    }
    for (;;) {
        if (cur & TASK_CANCELLED) { /* keep RUNNING, drop it */
            /* relaxed: an increment made from the reference this poller holds */
            if (list_ref) atomic_fetch_add_explicit(&t->state, list_ref, memory_order_relaxed);
            return TASK_AFTER_CANCEL;
        }
        uint64_t next = cur & ~(uint64_t)TASK_RUNNING;
        task_after_poll r;
        if (yielded || (cur & TASK_NOTIFIED)) {
            next |= TASK_NOTIFIED; /* keep the queue reference */
            next += list_ref;      /* and the list's own, if it was linked above */
            r = TASK_AFTER_REQUEUE;
        } else {
            if (!list_ref) next -= TASK_REF_ONE; /* release the queue reference */
            r = TASK_AFTER_IDLE;
        }
        /* release publishes this poll's writes to the future state (pairs with
         * the acquire in transition_to_running / the waker's CAS), and the
         * list link and owned_shard with them */
        if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            if (r == TASK_AFTER_IDLE && TASK_REFS(next) == 0) task_dealloc(t);
            return r;
        }
    }
}

static bool owned_remove(task *t);
static bool owned_remove_here(task *t);

void task_complete(task *t, bool cancelled)
{
    t->cancelled = cancelled;
    /* acquire: see "Private tasks" in task.h */
    uint64_t cur = atomic_load_explicit(&t->state, memory_order_acquire);
    bool listed = t->owned_shard != TASK_UNLISTED;
    if (!(cur & TASK_JOIN_INTEREST) && TASK_REFS(cur) == task_private_refs(t) && !t->is_blocking &&
        (!listed || owned_remove_here(t))) {
        task_check_state(cur);
        task_dealloc(t); /* nobody else can see it: no COMPLETE to publish, no count to drop */
        return;
    }
    uint64_t next;
    do {
        next = (cur & ~(uint64_t)(TASK_RUNNING | TASK_JOIN_WAKER | TASK_NOTIFIED)) | TASK_COMPLETE;
        /* release publishes the output and `cancelled`; acquire sees the
         * join handle's write of join_waker (paired with its release CAS) */
    } while (!atomic_compare_exchange_weak_explicit(&t->state, &cur, next, memory_order_acq_rel,
                                                    memory_order_relaxed));
    if ((cur & TASK_JOIN_WAKER) && (cur & TASK_JOIN_INTEREST)) {
        weft_waker w = t->join_waker; /* ours now; the field is left stale */
        weft_waker_wake(&w);
    }
    /* the queue (running) reference, and the owned list's when the task left
     * the list here (otherwise its shard's owner releases it when reaping) */
    bool unlinked = listed && owned_remove(t);
    uint64_t drop = unlinked ? 2 * TASK_REF_ONE : TASK_REF_ONE;
    uint64_t prev = atomic_fetch_sub_explicit(&t->state, drop, memory_order_acq_rel);
    ALWAYS_ASSERT(TASK_REFS(prev) >= drop / TASK_REF_ONE, "task reference count underflow");
    if (TASK_REFS(prev) == drop / TASK_REF_ONE) task_dealloc(t);
}

/* ---- the owned-task list ------------------------------------------------------
 * Every task that has waited is on one shard of the runtime's owned list
 * so that shutdown can find tasks that wait on wakers nobody will call
 * (queued tasks it finds in the queues). A task goes on the shard of the
 * worker that first lets it wait, or on the last shard off the workers
 * (task.h, "The owned list").
 *
 * A worker's shard belongs to that worker: only it links and unlinks, with
 * no lock. A task that completes on another worker (stolen, or woken
 * elsewhere) cannot unlink itself there, so it is pushed on the shard's
 * reap stack (one CAS, Treiber style, through task->next, which no run
 * queue uses once the task completed), and the owner unlinks the reaped
 * tasks in a batch when it next spawns, before it parks, and at shutdown;
 * the list's reference keeps such a task allocated until then. This
 * replaced a spinlock per shard, whose cache line and whose neighbour
 * links bounced between the spawning and the completing core on every
 * stolen task (the largest share of spawn_many ws/2's cost). The outside
 * threads' shard has many writers and keeps its lock. */

static inline bool owned_is_owner(weft_runtime *rt, uint32_t shard)
{
    worker *w = rt_current_worker();
    return w && w->rt == rt && (uint32_t)w->index == shard;
}

static void owned_unlink(owned_shard *s, task *t)
{
    if (t->owned_prev) t->owned_prev->owned_next = t->owned_next;
    else s->head = t->owned_next;
    if (t->owned_next) t->owned_next->owned_prev = t->owned_prev;
    t->owned_prev = t->owned_next = NULL;
}

/* Owner of `shard` (or the only thread left at shutdown): unlinks every
 * reaped task and releases the list's reference to it. */
void owned_reap(weft_runtime *rt, uint32_t shard)
{
    owned_shard *s = &rt->owned[shard];
    /* relaxed peek: the exchange below is the synchronising read */
    if (!atomic_load_explicit(&s->reap, memory_order_relaxed)) return;
    /* acquire pairs with the release CAS in owned_remove */
    task *t = atomic_exchange_explicit(&s->reap, NULL, memory_order_acquire);
    while (t) {
        task *next = t->next;
        owned_unlink(s, t);
        task_drop_reference(t);
        t = next;
    }
}

void owned_insert(weft_runtime *rt, task *t, uint32_t shard)
{
    owned_shard *s = &rt->owned[shard];
    t->owned_shard = shard;
    bool lock = shard == (uint32_t)rt->nworkers; /* the outside threads' shard */
    if (lock) spinlock_lock(&s->lock);
    else owned_reap(rt, shard);
    t->owned_prev = NULL;
    t->owned_next = s->head;
    if (s->head) s->head->owned_prev = t;
    s->head = t;
    if (lock) spinlock_unlock(&s->lock);
}

/* Links t on the calling worker's shard (the outside threads' off the
 * workers): the poller that first lets t wait (task_transition_to_idle). */
static void owned_insert_here(task *t)
{
    weft_runtime *rt = t->rt;
    worker *w = rt_current_worker();
    owned_insert(rt, t, w && w->rt == rt ? (uint32_t)w->index : (uint32_t)rt->nworkers);
}

/* Unlinks t when this thread may (the outside threads' shard under its
 * lock, or a worker's own shard); false, leaving t alone, otherwise. */
static bool owned_remove_here(task *t)
{
    weft_runtime *rt = t->rt;
    uint32_t shard = t->owned_shard;
    owned_shard *s = &rt->owned[shard];
    if (shard == (uint32_t)rt->nworkers) {
        spinlock_lock(&s->lock);
        owned_unlink(s, t);
        spinlock_unlock(&s->lock);
        return true;
    }
    if (owned_is_owner(rt, shard)) {
        owned_unlink(s, t);
        return true;
    }
    return false;
}

/* Returns true when t left the list here (the caller releases the list's
 * reference); false when it was handed to the shard owner's reap stack. */
static bool owned_remove(task *t)
{
    if (owned_remove_here(t)) return true;
    weft_runtime *rt = t->rt;
    owned_shard *s = &rt->owned[t->owned_shard];
    task *head = atomic_load_explicit(&s->reap, memory_order_relaxed);
    do {
        t->next = head;
        /* release publishes the completed task to the reaping owner */
    } while (!atomic_compare_exchange_weak_explicit(&s->reap, &head, t, memory_order_release,
                                                    memory_order_relaxed));
    return false;
}

/* ---- join handles ------------------------------------------------------------ */

static void join_take(weft_join_handle *h, task *t, void *out, int *result)
{
    if (t->cancelled) {
        *result = -ECANCELED;
    } else {
        *result = 0;
        if (out) task_output_copy(out, task_output_ptr(t), t->type->output_size);
    }
    t->join_waker_set = 0;
    h->task = NULL;
    task_drop_reference(t);
}

weft_poll weft_join_poll(weft_join_handle *h, weft_context *cx, void *out, int *result)
{
    int dummy;
    if (!result) result = &dummy;
    task *t = h ? h->task : NULL;
    if (!t) {
        *result = err_fail(-EINVAL, "weft_join_poll: the handle is empty (already joined or detached)");
        return WEFT_READY;
    }
    /* the budget is charged first, ready or not (Tokio's rule): a loop over
     * ready handles must still give up the worker after `budget` polls */
    if (!weft_coop_proceed(cx)) return WEFT_PENDING;
    /* acquire pairs with task_complete's release: the output is visible */
    uint64_t cur = atomic_load_explicit(&t->state, memory_order_acquire);
    if (cur & TASK_COMPLETE) {
        join_take(h, t, out, result);
        return WEFT_READY;
    }
    /* Claim-back (see the essay above): a child that is queued and not
     * running, in a place only this worker takes it from, is polled here
     * and now instead of after this task went idle. */
    if ((cur & (TASK_NOTIFIED | TASK_RUNNING)) == TASK_NOTIFIED && t->rt->ops->take_back &&
        !t->is_blocking) {
        rt_claim r = rt_claim_and_run(t, out);
        if (r == RT_CLAIM_HELD) {
            /* task_complete_claimed found that no other thread can reach t
             * (task.h, "A claimed child's word"): no RMW, no store; the
             * claim copied the output to `out` and freed t */
            *result = 0;
            h->task = NULL;
            return WEFT_READY;
        }
        if (r == RT_CLAIM_POLLED) {
            /* acquire pairs with task_complete's release, as above */
            cur = atomic_load_explicit(&t->state, memory_order_acquire);
            if (cur & TASK_COMPLETE) {
                join_take(h, t, out, result);
                return WEFT_READY;
            }
        }
    }
    const weft_waker *w = weft_context_waker(cx);
    if (cur & TASK_JOIN_WAKER) {
        /* both sides only read the field while the bit is set */
        if (weft_waker_will_wake(&t->join_waker, w)) return WEFT_PENDING;
        /* take the field back: clear the bit unless COMPLETE appeared.
         * acq_rel/acquire: pairs with task_complete's release RMW of the
         * state word (whichever comes second sees the other's writes: the
         * output if COMPLETE won, the field ours again if we won) */
        while (!(cur & TASK_COMPLETE)) {
            if (atomic_compare_exchange_weak_explicit(&t->state, &cur,
                                                      cur & ~(uint64_t)TASK_JOIN_WAKER,
                                                      memory_order_acq_rel, memory_order_acquire))
                break;
        }
        if (cur & TASK_COMPLETE) {
            join_take(h, t, out, result); /* the runtime consumed our old waker */
            return WEFT_READY;
        }
        weft_waker_drop(&t->join_waker);
        t->join_waker_set = 0;
    }
    t->join_waker = weft_waker_clone(w);
    /* acquire (load and CAS failure) pairs with task_complete's release, so a
     * COMPLETE seen here comes with the output */
    cur = atomic_load_explicit(&t->state, memory_order_acquire);
    for (;;) {
        if (cur & TASK_COMPLETE) {
            weft_waker_drop(&t->join_waker); /* never published: still ours */
            join_take(h, t, out, result);
            return WEFT_READY;
        }
        /* release publishes join_waker to the completing worker's acquire */
        if (atomic_compare_exchange_weak_explicit(&t->state, &cur, cur | TASK_JOIN_WAKER,
                                                  memory_order_acq_rel, memory_order_acquire))
            break;
    }
    t->join_waker_set = 1;
    return WEFT_PENDING;
}

bool weft_join_is_finished(const weft_join_handle *h)
{
    task *t = h ? h->task : NULL;
    if (!t) return false;
    /* acquire pairs with task_complete's release: a true answer comes with
     * the output, so a join_poll after it reads it */
    return atomic_load_explicit(&t->state, memory_order_acquire) & TASK_COMPLETE;
}

void weft_join_drop(weft_join_handle *h)
{
    task *t = h ? h->task : NULL;
    if (!t) return;
    /* acquire (load, CAS success and failure) pairs with task_complete's
     * release RMW: if COMPLETE won, the runtime consumed the join waker and
     * we must not touch it; if our CAS won, the runtime will not read the
     * field any more (it checks JOIN_WAKER in the same word) */
    uint64_t cur = atomic_load_explicit(&t->state, memory_order_acquire);
    while (!(cur & TASK_COMPLETE)) {
        uint64_t next = cur & ~(uint64_t)(TASK_JOIN_INTEREST | TASK_JOIN_WAKER);
        if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            if (cur & TASK_JOIN_WAKER) weft_waker_drop(&t->join_waker); /* ours again */
            break;
        }
    }
    t->join_waker_set = 0;
    h->task = NULL;
    task_drop_reference(t);
}

int weft_join_abort(weft_join_handle *h)
{
    task *t = h ? h->task : NULL;
    if (!t) return err_fail(-EINVAL, "weft_join_abort: the handle is empty (already joined or detached)");
    /* acquire pairs with task_complete's release (COMPLETE and CANCELLED
     * read together); the acq_rel CAS below publishes CANCELLED to the
     * poller's acquire in task_begin_poll / task_transition_to_idle, and
     * with NOTIFIED set takes the reference the queue will own */
    uint64_t cur = atomic_load_explicit(&t->state, memory_order_acquire);
    for (;;) {
        if (cur & TASK_COMPLETE)
            return (cur & TASK_CANCELLED) ? 0 : err_fail(-EALREADY, "weft_join_abort: the task already completed");
        if ((cur & TASK_RUNNING) && t->is_blocking) /* a pool thread is inside fn */
            return err_fail(-EBUSY, "weft_join_abort: the blocking job is running and cannot be stopped");
        if (cur & TASK_CANCELLED) return 0;
        uint64_t next = cur | TASK_CANCELLED;
        bool schedule = false;
        if (!(cur & (TASK_RUNNING | TASK_NOTIFIED))) {
            next |= TASK_NOTIFIED; /* queue it so its next scheduling point drops it */
            next += TASK_REF_ONE;
            schedule = true;
        }
        if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            if (schedule) rt_schedule(t, SCHED_WAKE);
            return 0;
        }
    }
}

/* ---- waiting from a plain thread ------------------------------------------------
 * A heap-allocated, reference-counted thread parker used as the join waker,
 * so the waiting thread may return while the waking thread is still inside
 * wake (it holds its own reference). */
typedef struct thread_parker {
    _Atomic int refs;
    int notified; /* under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct thread_parker *next_waiter; /* under rt->fault_mu: rt_block_on_wait's list */
} thread_parker;

static void tp_release(const void *d)
{
    thread_parker *p = (thread_parker *)d;
    /* acq_rel: the last release frees; pairs with the other releases */
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        free(p);
    }
}
static const weft_waker_vtable thread_parker_vtable;
static weft_waker tp_clone(const void *d)
{
    atomic_fetch_add_explicit(&((thread_parker *)d)->refs, 1, memory_order_relaxed);
    return (weft_waker){&thread_parker_vtable, d};
}
static void tp_wake_by_ref(const void *d)
{
    thread_parker *p = (thread_parker *)d;
    pthread_mutex_lock(&p->mu);
    p->notified = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}
static void tp_wake(const void *d)
{
    tp_wake_by_ref(d);
    tp_release(d);
}
static const weft_waker_vtable thread_parker_vtable = {tp_clone, tp_wake, tp_wake_by_ref,
                                                       tp_release};

/* The block_on caller's bounded spin before it sleeps on the condvar.
 *
 * A weft_block_on of a short future on a multi-worker runtime paid two
 * cross-thread wake-ups per call: the spawn from outside unparks a worker
 * (futex), and the completion signals the caller's condvar (futex). On a KVM
 * guest each costs tens of microseconds, so chained_spawn (one block_on per
 * iteration) cost ws/global 3x fifo at one worker. Spinning here for up to
 * RT_BLOCK_ON_SPIN_NS on the task's COMPLETE bit lets a short root finish while
 * the caller is still on its CPU: the completion's condvar signal then finds
 * no sleeper (no futex wake) and the caller returns at once. The spin is
 * bounded and yields the CPU (sched_yield) between short pause bursts, so on
 * an oversubscribed machine (the caller plus N workers on N CPUs) a worker
 * that needs this CPU gets it. Returns true when the task completed or the
 * runtime faulted while spinning (the caller re-polls), false at the
 * deadline (the caller sleeps as before). The waker is already registered,
 * so nothing is lost either way: the COMPLETE bit is only a hint to re-poll. */
static bool block_on_spin(weft_runtime *rt, task *t)
{
    if (!t) return true;
    uint64_t deadline = clock_now_ns() + RT_BLOCK_ON_SPIN_NS;
    for (;;) {
        for (int i = 0; i < 32; i++) {
            /* acquire: pairs with the release that publishes COMPLETE; the
             * re-poll reads the output through the join protocol anyway */
            if (atomic_load_explicit(&t->state, memory_order_acquire) & TASK_COMPLETE) return true;
            cpu_relax();
        }
        if (atomic_load_explicit(&rt->fault, memory_order_acquire)) return true;
        if (clock_now_ns() >= deadline) return false;
        sched_yield();
    }
}

/* weft_join_wait, plus: registered in rt's fault list, so a runtime fault
 * (rt_runtime_fault) wakes it; then the handle is detached and the fault
 * returned with its message. For weft_block_on on a multi-worker runtime. */
int rt_block_on_wait(weft_runtime *rt, weft_join_handle *h, void *out, bool spin)
{
    thread_parker *p = calloc(1, sizeof *p);
    if (!p) {
        weft_join_drop(h);
        return err_fail(-ENOMEM, "weft_block_on: out of memory");
    }
    atomic_init(&p->refs, 2); /* ours, and the fault list's */
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_mutex_lock(&rt->fault_mu);
    p->next_waiter = rt->fault_waiters;
    rt->fault_waiters = p;
    pthread_mutex_unlock(&rt->fault_mu);
    weft_context cx = {{&thread_parker_vtable, p}, NULL, NULL, -1, 0, NULL};
    int result = 0;
    bool spun = !spin;
    for (;;) {
        if (weft_join_poll(h, &cx, out, &result) == WEFT_READY) break;
        if (!spun) {
            spun = true;
            if (block_on_spin(rt, h->task)) continue; /* completed (or faulted): poll again */
        }
        pthread_mutex_lock(&p->mu);
        /* acquire pairs with rt_runtime_fault's release store, made before
         * it signals every registered parker under their mutexes */
        while (!p->notified && !atomic_load_explicit(&rt->fault, memory_order_acquire))
            pthread_cond_wait(&p->cv, &p->mu);
        p->notified = 0;
        pthread_mutex_unlock(&p->mu);
        if (atomic_load_explicit(&rt->fault, memory_order_acquire)) {
            if (weft_join_poll(h, &cx, out, &result) == WEFT_READY) break; /* finished anyway */
            weft_join_drop(h);
            result = err_fail(atomic_load_explicit(&rt->fault, memory_order_relaxed), "weft_block_on: %s",
                              rt->fault_msg);
            break;
        }
    }
    pthread_mutex_lock(&rt->fault_mu);
    for (struct thread_parker **pp = &rt->fault_waiters; *pp; pp = &(*pp)->next_waiter)
        if (*pp == p) {
            *pp = p->next_waiter;
            break;
        }
    pthread_mutex_unlock(&rt->fault_mu);
    tp_release(p); /* the list's reference */
    tp_release(p); /* ours */
    return result;
}

void rt_fault_wake_waiters(weft_runtime *rt)
{
    /* under rt->fault_mu (the caller holds it) */
    for (thread_parker *p = rt->fault_waiters; p; p = p->next_waiter) tp_wake_by_ref(p);
}

int weft_join_wait(weft_join_handle *h, void *out)
{
    task *t = h ? h->task : NULL;
    if (!t) return err_fail(-EINVAL, "weft_join_wait: the handle is empty (already joined or detached)");
    worker *w = rt_current_worker();
    if (w && w->rt == t->rt)
        return err_fail(-EDEADLK, "weft_join_wait: called on a worker thread of the task's runtime; "
                                 "await the handle with weft_join_poll instead");
    thread_parker *p = calloc(1, sizeof *p);
    if (!p) return err_fail(-ENOMEM, "weft_join_wait: out of memory");
    atomic_init(&p->refs, 1);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    weft_context cx = {{&thread_parker_vtable, p}, NULL, NULL, -1, 0, NULL};
    int result = 0;
    for (;;) {
        if (weft_join_poll(h, &cx, out, &result) == WEFT_READY) break;
        pthread_mutex_lock(&p->mu);
        while (!p->notified) pthread_cond_wait(&p->cv, &p->mu);
        p->notified = 0;
        pthread_mutex_unlock(&p->mu);
    }
    tp_release(p);
    return result;
}
