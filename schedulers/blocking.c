/*
 * schedulers/blocking.c - the spawn_blocking pool.
 *
 * Blocking work (a synchronous syscall, a CPU-heavy computation) must not
 * run on a worker: it would stall every task queued behind it. The pool
 * runs such jobs on threads of its own, created on demand up to
 * blocking_max_threads (512 by default, Tokio's number) and retired after
 * blocking_keepalive_ms idle (10 s), so a burst costs thread creations
 * once and an idle program holds no threads.
 *
 * A job is a task (schedulers/task.h) whose poll calls fn(arg) once, so its
 * join handle is an ordinary join handle: tasks await it with
 * weft_join_poll, plain threads with weft_join_wait, and completion wakes
 * the joiner through the same state-word protocol. The pool's queue is a
 * mutex-protected FIFO; a job submission takes the mutex once (jobs are
 * expected to run for microseconds or more, so the lock is not the cost).
 *
 * Pool threads run at a lower CPU priority (nice blocking_nice, 10 by
 * default) than the workers. spawn_blocking is where CPU-bound work goes,
 * and on a machine with fewer cores than busy pool threads the kernel would
 * otherwise share the CPU evenly among all of them, so a worker with a
 * timer due or a socket ready waits behind every job (blocking_mix: 64 jobs
 * of 10 ms on 2 cores held 1 ms sleeps to 3-58 ms). Nice only reorders
 * CPU contention: a job that blocks in a syscall is unaffected, and with
 * idle cores the jobs run at full speed. blocking_nice = 0 turns it off.
 *
 * Threads are joinable: one retiring on keep-alive records itself as
 * finished and is joined by the next submit or by shutdown, so no thread
 * ever touches the pool after it is freed. Shutdown waits for running jobs
 * (a blocking job cannot be interrupted) and cancels queued ones, whose
 * joiners see -ECANCELED and whose argument drop function runs (as it does
 * after a job ran, or when an aborted job is popped: exactly once).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "schedulers/runtime_internal.h"
#include "schedulers/taskq.h"

typedef struct pool_thread {
    pthread_t tid;
    struct blocking_pool *bp;
    bool finished; /* under bp->mu */
    struct pool_thread *next;
} pool_thread;

typedef struct blocking_pool {
    int nice;               /* setpriority() for each pool thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* work or shutdown */
    taskq queue;            /* under mu */
    int threads;            /* live threads, under mu */
    int idle;               /* threads waiting for work, under mu */
    int max_threads;
    uint64_t keepalive_ns;
    bool shutdown;          /* under mu */
    pool_thread *all;       /* every started, not yet joined thread, under mu */
} blocking_pool;

static void *pool_main(void *arg)
{
    pool_thread *self = arg;
    blocking_pool *bp = self->bp;
    /* per thread on Linux: setpriority on the thread id (best effort: a
     * failure leaves the thread at the default priority) */
    if (bp->nice > 0) (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), bp->nice);
    pthread_mutex_lock(&bp->mu);
    for (;;) {
        task *t = taskq_pop(&bp->queue);
        if (t) {
            pthread_mutex_unlock(&bp->mu);
            blocking_run_task(t);
            pthread_mutex_lock(&bp->mu);
            continue;
        }
        if (bp->shutdown) break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + bp->keepalive_ns;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        bp->idle++;
        int rc = pthread_cond_timedwait(&bp->cv, &bp->mu, &ts);
        bp->idle--;
        if (rc == ETIMEDOUT && !bp->queue.head) break; /* idle past the keep-alive */
    }
    bp->threads--;
    self->finished = true;
    pthread_cond_broadcast(&bp->cv);
    pthread_mutex_unlock(&bp->mu);
    return NULL;
}

int blocking_pool_new(weft_runtime *rt, blocking_pool **out)
{
    blocking_pool *bp = calloc(1, sizeof *bp);
    if (!bp) return -ENOMEM;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&bp->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&bp->mu, NULL);
    taskq_init(&bp->queue);
    bp->max_threads = rt->cfg.blocking_max_threads;
    bp->nice = rt->cfg.blocking_nice;
    bp->keepalive_ns = (uint64_t)rt->cfg.blocking_keepalive_ms * 1000000u;
    *out = bp;
    return 0;
}

/* Joins threads that retired; called under mu, drops it while joining. */
static void reap_finished(blocking_pool *bp)
{
    pool_thread **pp = &bp->all;
    while (*pp) {
        pool_thread *pt = *pp;
        if (pt->finished) {
            *pp = pt->next;
            pthread_mutex_unlock(&bp->mu);
            pthread_join(pt->tid, NULL);
            free(pt);
            pthread_mutex_lock(&bp->mu);
            pp = &bp->all; /* the list may have changed */
        } else {
            pp = &pt->next;
        }
    }
}

int blocking_pool_submit(blocking_pool *bp, task *t)
{
    pthread_mutex_lock(&bp->mu);
    reap_finished(bp);
    if (bp->shutdown) {
        pthread_mutex_unlock(&bp->mu);
        return -ESHUTDOWN;
    }
    /* a new thread unless an idle one is left for this job too: idle threads
     * that were signalled but have not woken yet are already spoken for by
     * the jobs queued before this one */
    if (bp->queue.len + 1 > (size_t)bp->idle && bp->threads < bp->max_threads) {
        pool_thread *pt = calloc(1, sizeof *pt);
        int rc = pt ? 0 : ENOMEM;
        if (pt) {
            pt->bp = bp;
            rc = pthread_create(&pt->tid, NULL, pool_main, pt);
        }
        if (rc) {
            free(pt);
            if (bp->threads == 0) { /* nobody would ever run it */
                pthread_mutex_unlock(&bp->mu);
                return -rc;
            }
        } else {
            bp->threads++;
            pt->next = bp->all;
            bp->all = pt;
        }
    }
    taskq_push(&bp->queue, t);
    if (bp->idle > 0) pthread_cond_signal(&bp->cv);
    pthread_mutex_unlock(&bp->mu);
    return 0;
}

void blocking_pool_free(blocking_pool *bp)
{
    if (!bp) return;
    pthread_mutex_lock(&bp->mu);
    bp->shutdown = true;
    pthread_cond_broadcast(&bp->cv);
    /* running jobs finish; queued jobs are left for cancellation below */
    taskq queued = bp->queue;
    taskq_init(&bp->queue);
    while (bp->threads > 0) pthread_cond_wait(&bp->cv, &bp->mu);
    reap_finished(bp);
    pthread_mutex_unlock(&bp->mu);
    for (task *t; (t = taskq_pop(&queued));) blocking_cancel_queued(t); /* arg_drop runs */
    pthread_mutex_destroy(&bp->mu);
    pthread_cond_destroy(&bp->cv);
    free(bp);
}
