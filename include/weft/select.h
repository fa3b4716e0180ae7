/*
 * weft/select.h - waiting on several futures: select (the first of N) and
 * join-all (every one of N join handles).
 *
 * ## select
 * An arm is an embedded future: a poll function over its state, the drop
 * function that releases it, and the state pointer (usually a field of the
 * coroutine state). weft_select_poll polls the arms in index order (biased,
 * as Tokio's `select! { biased; ... }`: an earlier arm wins when two are
 * ready at once; put the stop token first) and stops at the first READY.
 * Only the winner has completed: the arms after it were not polled this
 * round, so a channel recv there consumed nothing.
 *
 * "Drops the rest": each arm's drop function runs exactly once. When the
 * select completes, every losing arm is dropped at once (inside that poll);
 * the winner is dropped by weft_select_drop, after the caller has read its
 * result. A select dropped before completing (its task cancelled) drops
 * every arm in weft_select_drop. So: always call weft_select_drop, from the
 * code after the await and from the task's drop function (it is idempotent).
 *
 *     st->arms[0] = weft_select_arm_cancel(&st->stop);
 *     st->arms[1] = weft_select_arm_mpmc_recv(&st->recv);
 *     st->arms[2] = weft_select_arm_sleep(&st->idle);
 *     weft_select_init(&st->sel, st->arms, 3);
 *     WEFT_AWAIT(st, weft_select_poll(&st->sel, cx, &st->which));
 *     ... st->which: 0 stop, 1 a value (weft_mpmc_recv_result), 2 idle ...
 *     weft_select_drop(&st->sel);
 *
 * weft_select_init copies nothing: the arms array must outlive the select.
 * Errors: init with NULL arms, n outside 1..WEFT_SELECT_MAX_ARMS or an arm
 * without a poll function is -EINVAL (message in weft_last_error()), and
 * the select is then READY with index -EINVAL.
 *
 * ## join-all
 * Awaits every handle of an array (weft_join_poll on each, in order, one
 * registered waker at a time: O(N) polls in all, however they finish).
 * READY when all are joined: results[i] is each join's result (0,
 * -ECANCELED, -EINVAL for an empty handle), output i is at outs + i *
 * out_size (outs may be NULL), and *result is 0 or the first non-zero
 * results[i]. Each handle is empty afterwards. Dropped before READY, the
 * handles not joined yet stay in the array, valid, for the caller to
 * abort, detach or join.
 */
#ifndef WEFT_SELECT_H
#define WEFT_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "weft/cancel.h"
#include "weft/future.h"
#include "weft/mpmc.h"
#include "weft/runtime.h"
#include "weft/sync.h"
#include "weft/time.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_SELECT_MAX_ARMS 1024

typedef struct weft_select_arm {
    weft_poll (*poll)(void *state, weft_context *cx); /* required */
    void (*drop)(void *state);                        /* may be NULL */
    void *state;
} weft_select_arm;

typedef struct weft_select {
    WEFT_SELECT_PRIVATE_FIELDS /* private */
} weft_select;

/* 0 or -EINVAL (then READY with index -EINVAL). */
int weft_select_init(weft_select *s, weft_select_arm *arms, int n);
/* READY with *index (may be NULL) the winner's index, or -EINVAL. */
weft_poll weft_select_poll(weft_select *s, weft_context *cx, int *index);
/* The winner's index, -1 while pending, -EINVAL. */
int weft_select_winner(const weft_select *s);
/* Drops every arm not dropped yet. Idempotent. */
void weft_select_drop(weft_select *s);

/* ---- ready-made arms over weft's own futures ----------------------------------- */
static inline weft_poll weft_select_cancel_poll(void *p, weft_context *cx)
{
    return weft_cancel_wait_poll((weft_cancel_wait *)p, cx);
}
static inline void weft_select_cancel_drop(void *p) { weft_cancel_wait_drop((weft_cancel_wait *)p); }
static inline weft_select_arm weft_select_arm_cancel(weft_cancel_wait *w)
{
    weft_select_arm a = {weft_select_cancel_poll, weft_select_cancel_drop, w};
    return a;
}

static inline weft_poll weft_select_sleep_poll(void *p, weft_context *cx)
{
    return weft_sleep_poll((weft_sleep *)p, cx);
}
static inline void weft_select_sleep_drop(void *p) { weft_sleep_drop((weft_sleep *)p); }
static inline weft_select_arm weft_select_arm_sleep(weft_sleep *s)
{
    weft_select_arm a = {weft_select_sleep_poll, weft_select_sleep_drop, s};
    return a;
}

static inline weft_poll weft_select_recv_poll(void *p, weft_context *cx)
{
    return weft_mpmc_recv_poll((weft_mpmc_recv *)p, cx, NULL);
}
static inline void weft_select_recv_drop(void *p) { weft_mpmc_recv_drop((weft_mpmc_recv *)p); }
static inline weft_select_arm weft_select_arm_mpmc_recv(weft_mpmc_recv *op)
{
    weft_select_arm a = {weft_select_recv_poll, weft_select_recv_drop, op};
    return a;
}

static inline weft_poll weft_select_send_poll(void *p, weft_context *cx)
{
    return weft_mpmc_send_poll((weft_mpmc_send *)p, cx, NULL);
}
static inline void weft_select_send_drop(void *p) { weft_mpmc_send_drop((weft_mpmc_send *)p); }
static inline weft_select_arm weft_select_arm_mpmc_send(weft_mpmc_send *op)
{
    weft_select_arm a = {weft_select_send_poll, weft_select_send_drop, op};
    return a;
}

static inline weft_poll weft_select_notified_poll(void *p, weft_context *cx)
{
    return weft_notified_poll((weft_notified *)p, cx);
}
static inline void weft_select_notified_drop(void *p) { weft_notified_drop((weft_notified *)p); }
static inline weft_select_arm weft_select_arm_notified(weft_notified *op)
{
    weft_select_arm a = {weft_select_notified_poll, weft_select_notified_drop, op};
    return a;
}

/* ---- join-all --------------------------------------------------------------------- */
typedef struct weft_join_all {
    WEFT_JOIN_ALL_PRIVATE_FIELDS /* private */
} weft_join_all;

/* handles: n >= 1 handles (n == 0 is READY at once); results: n ints
 * (required); outs: n * out_size bytes or NULL. 0 or -EINVAL. */
int weft_join_all_init(weft_join_all *j, weft_join_handle *handles, size_t n, void *outs,
                       size_t out_size, int *results);
/* READY with *result (may be NULL) 0, the first error, or -EINVAL. */
weft_poll weft_join_all_poll(weft_join_all *j, weft_context *cx, int *result);
void weft_join_all_drop(weft_join_all *j);

#ifdef __cplusplus
}
#endif
#endif
