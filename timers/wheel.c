/*
 * timers/wheel.c - a hierarchical timing wheel with exact deadlines.
 *
 * THE PROBLEM. A runtime arms far more timers than it fires: most are
 * timeouts around I/O that complete first and cancel them. So arm and
 * cancel must be O(1) and cheap, "when is the next deadline?" must be
 * cheap (the worker loop asks before every park), and expiry must hand
 * timers out in deadline order, never early.
 *
 * THE DESIGN (Varghese & Lauck, "Hashed and hierarchical timing wheels",
 * SOSP 1987; the shape of Tokio's runtime/time/wheel). Time is counted in
 * ticks of tick_ns (1 ms by default). The wheel has `levels` levels (6 by
 * default) of 64 slots; a slot at level l spans 64^l ticks, so level 0
 * spans 64 ticks, level 1 4096, ... level 5 64^6 = 2^36 ticks (795 days
 * at 1 ms). `elapsed` (E) is the current tick. An entry whose deadline
 * falls in tick T > E goes to the level of the highest 6-bit digit in
 * which T and E differ, in the slot named by T's digit there; T <= E (due
 * now, or already past) goes to E's own level-0 slot. Each level keeps a
 * 64-bit occupancy word, so the next non-empty slot is one mask and one
 * count-trailing-zeros per level - no slot scanning. Slot lists are
 * intrusive and doubly linked: arm is a division, a clz, a push and a bit
 * set; cancel is an unlink and maybe a bit clear. As E reaches the start
 * of an occupied slot at level l >= 1, the slot is "cascaded": its entries
 * are re-placed relative to the new E and land on lower levels. An entry
 * cascades at most levels-1 times in its life, and a timeout that is
 * cancelled early (the common case) never cascades at all.
 *
 * EXACT DEADLINES. The tick only picks a slot; the entry keeps its
 * deadline in nanoseconds, never rounded. Tokio rounds a deadline up to
 * the next millisecond tick, so its timers are up to 1 ms late by design;
 * the Linux timer wheel (since 4.8) does not cascade at all and instead
 * rounds deadlines up to its level's granularity, up to ~12 % late by
 * design, in exchange for never touching an entry twice. We want both
 * ordering and precision: due entries of E's slot are filtered by their
 * exact deadline (an entry of the current tick whose nanosecond deadline
 * is still ahead stays), and wheel_next_deadline() returns the exact
 * earliest deadline - the minimum over the one earliest occupied slot,
 * whose entries are all earlier than every other slot's - so the driver
 * sleeps until exactly then (sub-millisecond precision is then the
 * reactor's: epoll_pwait2 and a lowered timer slack). The answer is
 * cached: arm lowers the cache, removing the cached minimum invalidates
 * it, so the usual "arm, ask, park" sequence costs no scan at all.
 *
 * ORDER. A due level-0 slot is detached whole (or, for the current tick,
 * its due part), merge-sorted by (deadline, seq) into the `ready` list and
 * handed out from there one entry at a time. Slots are processed in tick
 * order, so the output is in deadline order; seq is a per-wheel arm
 * counter, so equal deadlines come out in arming order even when the
 * entries took different paths through the levels. Handing out one at a
 * time lets the driver stop after a batch, drop its lock, wake the batch
 * and come back, and lets callers arm and cancel in between.
 *
 * OVERFLOW. A tick whose digits differ from E's above the top level goes
 * to an unsorted overflow list. When every level is empty and E may move
 * into the 64^levels-tick block of the earliest overflow entry, E jumps
 * to that block's start and the overflow list is re-placed. The list is
 * scanned only then and when the wheel has nothing else (for the next
 * deadline); at 1 ms ticks it holds only deadlines years away.
 *
 * COST. arm O(1), cancel O(1), next_deadline O(1) cached else O(levels +
 * entries of one slot), pop O(levels) per slot visited + O(k log k) to
 * sort a due slot of k entries + cascades (amortised O(levels) per entry).
 * Memory: levels * 64 list heads (3 KiB) + 40 bytes per entry.
 *
 * REJECTED. A binary heap (libuv, Go since 1.14 per P): O(log n) arm and
 * cancel, and cancel needs an index in the node. A balanced tree (Linux
 * hrtimers): O(log n) and pointer chasing. A sorted list (Redis ae scans
 * all timers): O(n). The Linux no-cascade wheel: late by design. A
 * single-level hashed wheel: O(n / slots) work per tick for far timers.
 *
 * INVARIANTS (checked by wheel_check):
 *   I1 occupied[l] bit s <=> slots[l][s] != NULL.
 *   I2 An entry at (l, s) has state ARMED, level l, slot s, and tick T with
 *      T >> 6(l+1) == E >> 6(l+1) and digit_l(T) == s > digit_l(E) for
 *      l >= 1; at level 0 either T in E's 64-block with T & 63 == s >= E & 63,
 *      or T <= E and s == E & 63.  Hence slots below E's digit are empty.
 *   I3 Overflow entries are ARMED with T >> 6*levels > E >> 6*levels.
 *   I4 The ready list is sorted by (deadline, seq), entries ARMED, level READY.
 *   I5 count = entries in slots + overflow + ready; next_cache, when valid,
 *      is the minimum deadline (UINT64_MAX if count == 0).
 */
#include "timers/wheel.h"

#include <errno.h>

_Static_assert(WHEEL_SLOTS == 64, "one uint64_t occupancy word per level");
_Static_assert(WHEEL_MAX_LEVELS * WHEEL_SLOT_BITS < 64, "level spans must fit in a 64-bit tick");
_Static_assert(WHEEL_MAX_LEVELS < WHEEL_LEVEL_OVERFLOW, "level numbers must not collide with markers");

/* ---- small helpers -------------------------------------------------------- */

static inline uint64_t wheel_tick_of(const wheel *w, uint64_t ns) { return ns / w->tick_ns; }

static inline bool wheel_before(const wheel_entry *a, const wheel_entry *b)
{
    return a->deadline_ns < b->deadline_ns ||
           (a->deadline_ns == b->deadline_ns && a->seq < b->seq);
}

static inline void wheel_list_push(wheel_entry **head, wheel_entry *e)
{
    e->prev = NULL;
    e->next = *head;
    if (*head) (*head)->prev = e;
    *head = e;
}

static inline void wheel_list_unlink(wheel_entry **head, wheel_entry *e)
{
    if (e->prev) e->prev->next = e->next;
    else *head = e->next;
    if (e->next) e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

/* Bits of ticks that the levels span: 6 * levels. */
static inline unsigned wheel_span_bits(const wheel *w) { return WHEEL_SLOT_BITS * w->levels; }

/* Links e (ARMED, deadline set) where invariants I2/I3 say it belongs. */
static void wheel_place(wheel *w, wheel_entry *e)
{
    uint64_t t = wheel_tick_of(w, e->deadline_ns);
    uint64_t now = w->elapsed;
    unsigned level, slot;
    if (t <= now) {
        level = 0;
        slot = (unsigned)(now & (WHEEL_SLOTS - 1));
    } else {
        unsigned sig = 63u - (unsigned)__builtin_clzll(t ^ now); /* highest differing bit */
        level = sig / WHEEL_SLOT_BITS;
        if (level >= w->levels) {
            e->level = WHEEL_LEVEL_OVERFLOW;
            e->slot = 0;
            wheel_list_push(&w->overflow, e);
            return;
        }
        slot = (unsigned)((t >> (level * WHEEL_SLOT_BITS)) & (WHEEL_SLOTS - 1));
    }
    e->level = (uint8_t)level;
    e->slot = (uint8_t)slot;
    wheel_list_push(&w->slots[level][slot], e);
    w->occupied[level] |= 1ull << slot;
}

/* Unlinks an armed e from wherever it is. */
static void wheel_unlink(wheel *w, wheel_entry *e)
{
    if (e->level == WHEEL_LEVEL_READY) {
        wheel_list_unlink(&w->ready, e);
    } else if (e->level == WHEEL_LEVEL_OVERFLOW) {
        wheel_list_unlink(&w->overflow, e);
    } else {
        wheel_entry **head = &w->slots[e->level][e->slot];
        wheel_list_unlink(head, e);
        if (!*head) w->occupied[e->level] &= ~(1ull << e->slot);
    }
}

/* Bookkeeping for an entry leaving the armed set. */
static inline void wheel_forget(wheel *w, const wheel_entry *e)
{
    w->count--;
    if (w->count == 0) {
        w->next_cache = UINT64_MAX;
        w->next_valid = 1;
    } else if (w->next_valid && e->deadline_ns == w->next_cache) {
        w->next_valid = 0; /* it may have been the only minimum */
    }
}

/* ---- public: init, arm, cancel -------------------------------------------- */

void wheel_entry_init(wheel_entry *e)
{
    e->deadline_ns = 0;
    e->seq = 0;
    e->prev = e->next = NULL;
    e->level = 0;
    e->slot = 0;
    e->state = WHEEL_IDLE;
    e->reserved = 0;
}

int wheel_init(wheel *w, uint64_t tick_ns, unsigned levels, uint64_t now_ns)
{
    if (levels == 0) levels = WHEEL_DEFAULT_LEVELS;
    if (levels > WHEEL_MAX_LEVELS) return -EINVAL;
    if (tick_ns == 0) tick_ns = WHEEL_DEFAULT_TICK_NS;
    w->tick_ns = tick_ns;
    w->levels = levels;
    w->elapsed = now_ns / tick_ns;
    w->seq = 0;
    for (unsigned l = 0; l < WHEEL_MAX_LEVELS; l++) {
        w->occupied[l] = 0;
        for (unsigned s = 0; s < WHEEL_SLOTS; s++) w->slots[l][s] = NULL;
    }
    w->overflow = NULL;
    w->ready = NULL;
    w->count = 0;
    w->next_cache = UINT64_MAX;
    w->next_valid = 1;
    return 0;
}

void wheel_arm(wheel *w, wheel_entry *e, uint64_t deadline_ns)
{
    if (e->state == WHEEL_ARMED) {
        wheel_unlink(w, e);
        wheel_forget(w, e);
    }
    e->deadline_ns = deadline_ns;
    e->seq = w->seq++;
    e->state = WHEEL_ARMED;
    wheel_place(w, e);
    if (++w->count == 1) {
        w->next_cache = deadline_ns;
        w->next_valid = 1;
    } else if (w->next_valid && deadline_ns < w->next_cache) {
        w->next_cache = deadline_ns;
    }
}

bool wheel_cancel(wheel *w, wheel_entry *e)
{
    if (e->state != WHEEL_ARMED) return false;
    wheel_unlink(w, e);
    wheel_forget(w, e);
    e->state = WHEEL_IDLE;
    return true;
}

/* ---- finding the next slot ------------------------------------------------ */

/* The earliest occupied slot over all levels: level, slot and the tick at
 * which it starts. By I2 the lowest level with an occupied slot at or after
 * E's digit holds it (a level-l slot ends before any level-(l+1) slot
 * starts). False when every level is empty. */
static bool wheel_earliest_slot(const wheel *w, unsigned *level, unsigned *slot, uint64_t *start)
{
    for (unsigned l = 0; l < w->levels; l++) {
        if (!w->occupied[l]) continue;
        unsigned shift = l * WHEEL_SLOT_BITS;
        unsigned pos = (unsigned)((w->elapsed >> shift) & (WHEEL_SLOTS - 1));
        uint64_t m = w->occupied[l] & (~0ull << pos);
        if (!m) continue; /* unreachable while I2 holds; wheel_check reports it */
        unsigned s = (unsigned)__builtin_ctzll(m);
        uint64_t block_mask = (1ull << (shift + WHEEL_SLOT_BITS)) - 1;
        *level = l;
        *slot = s;
        *start = (w->elapsed & ~block_mask) | ((uint64_t)s << shift);
        return true;
    }
    return false;
}

/* ---- expiry --------------------------------------------------------------- */

static wheel_entry *wheel_merge(wheel_entry *a, wheel_entry *b)
{
    wheel_entry head;
    wheel_entry *t = &head;
    while (a && b) {
        if (wheel_before(b, a)) {
            t->next = b;
            b = b->next;
        } else {
            t->next = a;
            a = a->next;
        }
        t = t->next;
    }
    t->next = a ? a : b;
    return head.next;
}

/* Bottom-up merge sort of a NULL-terminated singly linked list (only
 * `next` is meaningful on input): O(k log k), no allocation. 64 bins hold
 * runs of 2^i entries, enough for any list that fits in memory. */
static wheel_entry *wheel_sort(wheel_entry *list)
{
    wheel_entry *bins[64] = {0};
    unsigned used = 0;
    while (list) {
        wheel_entry *e = list;
        list = list->next;
        e->next = NULL;
        unsigned i = 0;
        for (; bins[i]; i++) {
            e = wheel_merge(bins[i], e);
            bins[i] = NULL;
        }
        bins[i] = e;
        if (i + 1 > used) used = i + 1;
    }
    wheel_entry *out = NULL;
    for (unsigned i = 0; i < used; i++)
        if (bins[i]) out = wheel_merge(bins[i], out);
    return out;
}

/* Makes `due` (singly linked, non-empty) the ready list. */
static void wheel_make_ready(wheel *w, wheel_entry *due)
{
    wheel_entry *prev = NULL;
    w->ready = wheel_sort(due);
    for (wheel_entry *e = w->ready; e; e = e->next) {
        e->prev = prev;
        e->level = WHEEL_LEVEL_READY;
        e->slot = 0;
        prev = e;
    }
}

/* Re-places every entry of slots[level][slot] relative to the current E. */
static void wheel_cascade(wheel *w, unsigned level, unsigned slot)
{
    wheel_entry *e = w->slots[level][slot];
    w->slots[level][slot] = NULL;
    w->occupied[level] &= ~(1ull << slot);
    while (e) {
        wheel_entry *next = e->next;
        wheel_place(w, e);
        e = next;
    }
}

/* Re-places the overflow list if E may move into the block of its earliest
 * entry without passing `nt`. Called only when every level is empty. */
static bool wheel_refill_from_overflow(wheel *w, uint64_t nt)
{
    if (!w->overflow) return false;
    unsigned bits = wheel_span_bits(w);
    uint64_t min_tick = UINT64_MAX;
    for (wheel_entry *e = w->overflow; e; e = e->next) {
        uint64_t t = wheel_tick_of(w, e->deadline_ns);
        if (t < min_tick) min_tick = t;
    }
    uint64_t block_start = (min_tick >> bits) << bits;
    if (block_start > nt) return false;
    w->elapsed = block_start; /* > E by I3, and no level entry lies in between */
    wheel_entry *e = w->overflow;
    w->overflow = NULL;
    while (e) {
        wheel_entry *next = e->next;
        wheel_place(w, e);
        e = next;
    }
    return true;
}

/* Moves the next group of entries due at now_ns into the (empty) ready
 * list, advancing E and cascading as it goes. False when nothing is due;
 * E then stands at now_ns's tick (or stays, if the clock went back). */
static bool wheel_collect(wheel *w, uint64_t now_ns)
{
    uint64_t nt = wheel_tick_of(w, now_ns);
    if (nt < w->elapsed) nt = w->elapsed; /* a clock that went back moves nothing */
    for (;;) {
        unsigned level, slot;
        uint64_t start;
        if (!wheel_earliest_slot(w, &level, &slot, &start)) {
            if (wheel_refill_from_overflow(w, nt)) continue;
            break;
        }
        if (start > nt) break;
        w->elapsed = start; /* >= E: every earlier tick is empty (I2) */
        if (level > 0) {
            wheel_cascade(w, level, slot);
            continue;
        }
        wheel_entry **head = &w->slots[0][slot];
        wheel_entry *due = NULL;
        if (start < nt) {
            /* Every entry has tick <= start < nt, so deadline < nt * tick_ns <= now. */
            for (wheel_entry *e = *head; e; e = e->next) e->prev = NULL;
            due = *head;
            *head = NULL;
        } else {
            /* The current tick: only entries whose exact deadline has come. */
            wheel_entry *e = *head;
            while (e) {
                wheel_entry *next = e->next;
                if (e->deadline_ns <= now_ns) {
                    wheel_list_unlink(head, e);
                    e->next = due;
                    due = e;
                }
                e = next;
            }
        }
        if (!*head) w->occupied[0] &= ~(1ull << slot);
        if (!due) break; /* start == nt and nothing due yet */
        wheel_make_ready(w, due);
        return true;
    }
    if (nt > w->elapsed) w->elapsed = nt;
    return false;
}

wheel_entry *wheel_pop_expired(wheel *w, uint64_t now_ns)
{
    if (!w->ready && !wheel_collect(w, now_ns)) return NULL;
    wheel_entry *e = w->ready;
    wheel_list_unlink(&w->ready, e);
    wheel_forget(w, e);
    e->state = WHEEL_FIRED;
    return e;
}

size_t wheel_advance(wheel *w, uint64_t now_ns, void (*cb)(wheel_entry *e, void *ctx), void *ctx)
{
    size_t n = 0;
    wheel_entry *e;
    while ((e = wheel_pop_expired(w, now_ns)) != NULL) {
        n++;
        cb(e, ctx);
    }
    return n;
}

wheel_entry *wheel_pop_any(wheel *w)
{
    wheel_entry *e = w->ready ? w->ready : w->overflow;
    if (!e) {
        for (unsigned l = 0; l < w->levels && !e; l++)
            if (w->occupied[l]) e = w->slots[l][__builtin_ctzll(w->occupied[l])];
    }
    if (!e) return NULL;
    wheel_unlink(w, e);
    wheel_forget(w, e);
    e->state = WHEEL_IDLE;
    return e;
}

/* ---- next deadline -------------------------------------------------------- */

uint64_t wheel_next_deadline(wheel *w)
{
    if (w->next_valid) return w->next_cache;
    uint64_t best = UINT64_MAX;
    if (w->ready) best = w->ready->deadline_ns; /* sorted: the head is its minimum */
    unsigned level, slot;
    uint64_t start;
    if (wheel_earliest_slot(w, &level, &slot, &start)) {
        /* Every entry of this slot is earlier than every entry of any
         * later slot (they lie in disjoint, ordered tick ranges). */
        for (const wheel_entry *e = w->slots[level][slot]; e; e = e->next)
            if (e->deadline_ns < best) best = e->deadline_ns;
    } else if (!w->ready) {
        /* Only overflow entries remain (rare: deadlines beyond the top level). */
        for (const wheel_entry *e = w->overflow; e; e = e->next)
            if (e->deadline_ns < best) best = e->deadline_ns;
    }
    w->next_cache = best;
    w->next_valid = 1;
    return best;
}

/* ---- invariant checker ---------------------------------------------------- */

int wheel_check(const wheel *w)
{
    size_t n = 0;
    uint64_t min = UINT64_MAX;
    uint64_t now = w->elapsed;
    if (w->levels == 0 || w->levels > WHEEL_MAX_LEVELS || w->tick_ns == 0) return -1;
    for (unsigned l = 0; l < WHEEL_MAX_LEVELS; l++) {
        unsigned shift = l * WHEEL_SLOT_BITS;
        unsigned pos = (unsigned)((now >> shift) & (WHEEL_SLOTS - 1));
        for (unsigned s = 0; s < WHEEL_SLOTS; s++) {
            const wheel_entry *head = w->slots[l][s];
            if (!!(w->occupied[l] & (1ull << s)) != (head != NULL)) return -2; /* I1 */
            if (head && l >= w->levels) return -3;
            const wheel_entry *prev = NULL;
            for (const wheel_entry *e = head; e; prev = e, e = e->next) {
                if (e->prev != prev) return -4;
                if (e->state != WHEEL_ARMED || e->level != l || e->slot != s) return -5;
                uint64_t t = wheel_tick_of(w, e->deadline_ns);
                unsigned up = shift + WHEEL_SLOT_BITS;
                if (l == 0 && t <= now) {
                    if (s != pos) return -6;
                } else {
                    if ((t >> up) != (now >> up)) return -7;
                    if (((t >> shift) & (WHEEL_SLOTS - 1)) != s) return -8;
                    if (l == 0 ? s < pos : s <= pos) return -9;
                }
                if (e->deadline_ns < min) min = e->deadline_ns;
                n++;
            }
        }
    }
    unsigned bits = wheel_span_bits(w);
    const wheel_entry *prev = NULL;
    for (const wheel_entry *e = w->overflow; e; prev = e, e = e->next) {
        if (e->prev != prev) return -10;
        if (e->state != WHEEL_ARMED || e->level != WHEEL_LEVEL_OVERFLOW) return -11;
        if ((wheel_tick_of(w, e->deadline_ns) >> bits) <= (now >> bits)) return -12; /* I3 */
        if (e->deadline_ns < min) min = e->deadline_ns;
        n++;
    }
    prev = NULL;
    for (const wheel_entry *e = w->ready; e; prev = e, e = e->next) {
        if (e->prev != prev) return -13;
        if (e->state != WHEEL_ARMED || e->level != WHEEL_LEVEL_READY) return -14;
        if (prev && !wheel_before(prev, e)) return -15; /* I4 */
        if (e->deadline_ns < min) min = e->deadline_ns;
        n++;
    }
    if (n != w->count) return -16; /* I5 */
    if (w->next_valid && w->next_cache != min) return -17;
    return 0;
}
