/*
 * common/select.c - select over N embedded futures (weft/select.h).
 *
 * The select owns no memory and takes no lock: it is a loop over the arms'
 * poll functions, in index order, stopping at the first READY, plus the
 * bookkeeping that makes each arm's drop run exactly once (`dropped`:
 * none, the losers at completion, then every arm at weft_select_drop).
 *
 * Order: biased (index order), not random. Deterministic tests and an
 * explicit priority (a stop token first) were worth more here than
 * Tokio's default random start, which only matters when one arm is ready
 * all the time; a caller that wants rotation can rotate its arms array.
 * Every arm is polled on every poll of the select (each stores its own
 * waker), so a wake from any arm re-polls them all: O(N) per wake, the
 * price of not giving every arm a waker of its own (what FuturesUnordered
 * does, and what select of 2..8 arms does not need).
 */
#include "common/error.h"
#include "weft/select.h"

#include <errno.h>

#include "common/wlist.h"

int weft_select_init(weft_select *s, weft_select_arm *arms, int n)
{
    if (!s) return err_fail(-EINVAL, "weft_select_init: NULL select");
    s->arms = arms;
    s->n = 0;
    s->dropped = 2;
    s->reserved = 0;
    s->winner = -EINVAL;
    if (!arms || n < 1 || n > WEFT_SELECT_MAX_ARMS)
        return err_fail(-EINVAL, "weft_select_init: %d arms (NULL array?); a select takes 1..%d", n,
                       WEFT_SELECT_MAX_ARMS);
    for (int i = 0; i < n; i++)
        if (!arms[i].poll) return err_fail(-EINVAL, "weft_select_init: arm %d has no poll function", i);
    s->n = n;
    s->winner = -1;
    s->dropped = 0;
    return 0;
}

weft_poll weft_select_poll(weft_select *s, weft_context *cx, int *index)
{
    if (s->winner == -1) {
        for (int i = 0; i < s->n; i++) {
            if (s->arms[i].poll(s->arms[i].state, cx) == WEFT_READY) {
                s->winner = i;
                break;
            }
        }
        if (s->winner == -1) return WEFT_PENDING;
        /* the losers are cancelled now: their waits end with this select */
        for (int i = 0; i < s->n; i++)
            if (i != s->winner && s->arms[i].drop) s->arms[i].drop(s->arms[i].state);
        s->dropped = 1;
    }
    if (index) *index = s->winner;
    return WEFT_READY;
}

int weft_select_winner(const weft_select *s) { return s ? s->winner : -EINVAL; }

void weft_select_drop(weft_select *s)
{
    if (!s || s->dropped == 2) return;
    for (int i = 0; i < s->n; i++) {
        if (s->dropped == 1 && i != s->winner) continue; /* dropped at completion */
        if (s->arms[i].drop) s->arms[i].drop(s->arms[i].state);
    }
    s->dropped = 2;
}
