/*
 * schedulers/join_all.c - join-all over N join handles (weft/select.h).
 *
 * Joins the handles in index order with weft_join_poll, waiting on the
 * first one not joined yet. Handles that finish out of order are joined at
 * once when the cursor reaches them (their task is already COMPLETE), so
 * the whole join costs N join polls plus one per wake, never N per wake,
 * and only one join waker is registered at any time. The latency is still
 * that of the last handle to finish: waiting on them in order delays no
 * result, because every result is only delivered at the end.
 *
 * Each weft_join_poll charges the cooperative budget: a join-all over more
 * handles than the budget yields and goes on at the next turn.
 */
#include <errno.h>

#include "common/error.h"
#include "weft/select.h"
#include "common/wlist.h"

int weft_join_all_init(weft_join_all *j, weft_join_handle *handles, size_t n, void *outs,
                       size_t out_size, int *results)
{
    if (!j) return err_fail(-EINVAL, "weft_join_all_init: NULL join-all");
    j->handles = handles;
    j->n = n;
    j->outs = outs;
    j->out_size = out_size;
    j->results = results;
    j->next = 0;
    j->reserved = 0;
    j->result = 1;
    if (n > 0 && (!handles || !results)) {
        j->n = 0;
        j->result = -EINVAL;
        return err_fail(-EINVAL, "weft_join_all_init: NULL handles or results for %zu handles", n);
    }
    return 0;
}

weft_poll weft_join_all_poll(weft_join_all *j, weft_context *cx, int *result)
{
    while (j->result == 1 && j->next < j->n) {
        size_t i = j->next;
        void *out = j->outs ? j->outs + i * j->out_size : NULL;
        int r = 1;
        if (weft_join_poll(&j->handles[i], cx, out, &r) == WEFT_PENDING) return WEFT_PENDING;
        j->results[i] = r;
        j->next = i + 1;
    }
    if (j->result == 1) {
        j->result = 0;
        for (size_t i = 0; i < j->n; i++)
            if (j->results[i] != 0) {
                j->result = j->results[i];
                break;
            }
    }
    if (result) *result = j->result;
    return WEFT_READY;
}

void weft_join_all_drop(weft_join_all *j)
{
    /* the waker registered in handles[next] (if any) stays with that task
     * until it completes: a stale wake of a finished or dropped task is a
     * no-op (schedulers/task.h), so there is nothing to undo here */
    if (j) j->n = j->next;
}
