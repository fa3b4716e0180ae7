/*
 * timers/wheel.h - a hierarchical timing wheel (Varghese & Lauck, 1987)
 * with exact nanosecond deadlines. NOT thread-safe: one owner at a time
 * (timers/timer.c wraps it in a lock). The design essay is in wheel.c.
 *
 * An entry is intrusive and holds no waker (the driver layer adds that):
 * embed a wheel_entry, wheel_entry_init() it once, then arm, re-arm and
 * cancel it in O(1). Expired entries come out of wheel_pop_expired() or
 * wheel_advance() in deadline order, equal deadlines in arming order, and
 * never before now >= deadline.
 */
#ifndef WEFT_TIMERS_WHEEL_H
#define WEFT_TIMERS_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/time.h" /* weft_wheel_entry: the layout the public futures embed */

#ifdef __cplusplus
extern "C" {
#endif

#define WHEEL_SLOT_BITS 6u                    /* 64 slots: one 64-bit occupancy word per level */
#define WHEEL_SLOTS (1u << WHEEL_SLOT_BITS)
#define WHEEL_RING (2u * WHEEL_SLOTS)         /* level 0: two blocks of 64 ticks (see wheel.c) */
#define WHEEL_SUBS 64u                        /* sub-slots per level-0 tick */
#define WHEEL_MAX_LEVELS 6u                   /* 6 x 6 = 36 bits of ticks, as Tokio */
#define WHEEL_DEFAULT_LEVELS WHEEL_MAX_LEVELS
#define WHEEL_DEFAULT_TICK_NS 1000000ull      /* 1 ms */

/* wheel_entry.state */
enum wheel_state { WHEEL_IDLE = 0, WHEEL_ARMED = 1, WHEEL_FIRED = 2 };

/* wheel_entry.level values beyond the real levels */
enum { WHEEL_LEVEL_OVERFLOW = 0xFE, WHEEL_LEVEL_READY = 0xFF };

/* Fields (all owned by whoever holds the wheel):
 *   deadline_ns  exact deadline of the current arming
 *   seq          the wheel's arm counter at that arming (tie-break)
 *   prev, next   links in a slot, the overflow list or the ready list
 *   level, slot  where it is linked (level 0..levels-1, OVERFLOW, READY);
 *                at level 0 `slot` is the ring slot, tick & 127
 *   reserved     at level 0: the sub-slot within the tick (0..63); else 0
 *   state        IDLE (never armed or cancelled), ARMED, FIRED (popped) */
typedef weft_wheel_entry wheel_entry;

typedef struct wheel {
    uint64_t tick_ns;                  /* slot width at level 0 */
    uint64_t tick_inv;                 /* floor((2^64 - 1) / tick_ns): wheel_tick_of's reciprocal */
    uint64_t elapsed;                  /* E: the current tick; every tick < E is processed */
    uint64_t seq;                      /* next arm sequence number */
    uint64_t ring_occupied[2];         /* level 0: bit d of word h: ring slot 64h + d non-empty */
    uint64_t sub_occupied[WHEEL_RING]; /* bit u: subs[r][u] non-empty */
    wheel_entry *subs[WHEEL_RING][WHEEL_SUBS];         /* level 0: ring slot r, sub-slot u */
    uint64_t occupied[WHEEL_MAX_LEVELS];               /* levels >= 1, bit s: slots[l][s] non-empty */
    wheel_entry *slots[WHEEL_MAX_LEVELS][WHEEL_SLOTS]; /* list heads of levels >= 1 (row 0 unused) */
    unsigned sub_shift;                /* a sub-slot spans 2^sub_shift ns >= tick_ns / 64 */
    wheel_entry *overflow;             /* deadlines beyond the top level's range */
    uint64_t overflow_floor;           /* <= the earliest overflow tick; UINT64_MAX if none */
    wheel_entry *ready;                /* due entries, sorted, being handed out */
    size_t count;                      /* armed entries (slots + overflow + ready) */
    uint64_t next_cache;               /* earliest armed deadline, when next_valid */
    unsigned levels;                   /* 1..WHEEL_MAX_LEVELS */
    int next_valid;
} wheel;

/* Makes an entry IDLE and unlinked. Call once before first use. */
void wheel_entry_init(wheel_entry *e);

/* tick_ns 0 means WHEEL_DEFAULT_TICK_NS, levels 0 means WHEEL_DEFAULT_LEVELS.
 * The struct is ~69 KiB, mostly level-0 list heads.
 * now_ns is the clock's current value (the wheel starts at its tick).
 * 0, or -EINVAL for levels > WHEEL_MAX_LEVELS. */
int wheel_init(wheel *w, uint64_t tick_ns, unsigned levels, uint64_t now_ns);

/* Arms e at `deadline_ns`, or moves it there if already armed (earlier or
 * later). Any deadline is accepted: one already past is due at the next
 * pop. Gives e a new sequence number. O(1). */
void wheel_arm(wheel *w, wheel_entry *e, uint64_t deadline_ns);

/* Unlinks e if armed (then IDLE, returns true); otherwise false and e is
 * unchanged. O(1). */
bool wheel_cancel(wheel *w, wheel_entry *e);

/* The exact earliest armed deadline, UINT64_MAX if none. O(1) when cached;
 * otherwise scans the entries of the earliest occupied slot only. */
uint64_t wheel_next_deadline(wheel *w);

/* Detaches and returns the next entry with deadline <= now_ns (state FIRED),
 * or NULL. Successive calls hand out entries in (deadline, seq) order. The
 * caller may arm and cancel entries between calls. */
wheel_entry *wheel_pop_expired(wheel *w, uint64_t now_ns);

/* Pops every entry due at now_ns and calls cb(entry, ctx) for each, in
 * order; cb may arm or cancel entries (an entry it arms at a deadline
 * <= now_ns is handed out in this same call). Returns how many. */
size_t wheel_advance(wheel *w, uint64_t now_ns, void (*cb)(wheel_entry *e, void *ctx), void *ctx);

/* Detaches any armed entry (state IDLE), or NULL when empty: teardown. */
wheel_entry *wheel_pop_any(wheel *w);

static inline size_t wheel_count(const wheel *w) { return w->count; }

/* ns / tick_ns without a division (a 64-bit DIV was the costliest
 * instruction of an arm: timeout_cancel's perf profile put a fifth of
 * wheel_arm's samples on it). tick_inv = floor((2^64 - 1) / tick_ns), so
 * q = floor(ns * tick_inv / 2^64) satisfies ns/tick - 1 < q <= ns/tick:
 * it is the quotient or one below, and one compare fixes it. */
static inline uint64_t wheel_tick_of(const wheel *w, uint64_t ns)
{
    uint64_t q = (uint64_t)(((unsigned __int128)ns * w->tick_inv) >> 64);
    if (ns - q * w->tick_ns >= w->tick_ns) q++;
    return q;
}

/* Checks every invariant of the wheel (see wheel.c); 0 if they hold, or a
 * negative number naming the first broken one. For tests and assert(). */
int wheel_check(const wheel *w);

#ifdef __cplusplus
}
#endif
#endif
