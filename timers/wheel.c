/*
 * timers/wheel.c - a hierarchical timing wheel with exact deadlines.
 *
 * THE PROBLEM. A runtime arms far more timers than it fires: most are
 * timeouts around I/O that complete first and cancel them. So arm and
 * cancel must be O(1) and cheap, "when is the next deadline?" must be
 * cheap (the worker loop asks before every park), and expiry must hand
 * timers out in deadline order, never early, at a cost proportional to
 * what expires: the driver looks for due timers often (every maintenance
 * pass of a busy worker, every park), usually under a lock that the
 * workers' arms and cancels wait for.
 *
 * THE DESIGN (Varghese & Lauck, "Hashed and hierarchical timing wheels",
 * SOSP 1987; the shape of Tokio's runtime/time/wheel). Time is counted in
 * ticks of tick_ns (1 ms by default); `elapsed` (E) is the current tick
 * and B = E rounded down to a multiple of 64 is the start of E's "block".
 *
 *   Level 0 is a ring of 128 slots, one tick each, covering E's block and
 *   the next one, [B, B + 128): tick T is in ring slot T & 127. Ticks at or
 *   before E (due now, or already past) go to E's own slot.
 *   Levels 1 .. levels-1 are the classic hierarchy for ticks >= B + 128,
 *   run one block ahead: relative to U = B + 64 (the next block's start),
 *   tick T goes to the level of the highest 6-bit digit in which T and U
 *   differ, in the slot named by T's digit there. A slot at level l spans
 *   64^l ticks (level 5: 2^36 ticks, 795 days at 1 ms). Beyond the top
 *   level: an unsorted overflow list.
 *
 * Each level keeps 64-bit occupancy words, so the next non-empty slot is
 * one mask and one count-trailing-zeros per level - no slot scanning.
 * Lists are intrusive and doubly linked: arm is a division, a clz, a push
 * and a bit set; cancel is an unlink and maybe a bit clear. When U reaches
 * the start of an occupied slot at level l >= 1 (E enters the block before
 * it), the slot is "cascaded": its entries are re-placed relative to the
 * new E and land lower. An entry cascades at most levels-1 times in its
 * life, and a timeout that is cancelled early (the common case) never
 * cascades at all.
 *
 * WHY TWO BLOCKS AT LEVEL 0. With one block (Tokio's layout) a deadline
 * only a few ticks ahead but across a 64-tick boundary lands on level 1,
 * and all such entries cascade together when E crosses the boundary. A
 * cascade is a walk over entries armed long ago: one cache miss each,
 * serialised by the list links. In timer_storm (many sleeps of 0-50 ms,
 * whose deadlines always straddle a boundary) one cascade moved tens of
 * thousands of entries in milliseconds, a stall of the whole worker (and,
 * under the driver lock, of every worker that arms a timer) that set the
 * run's p99. With the two-block ring every deadline less than 64 ticks
 * ahead is placed directly at level 0 and never cascades; a cascade moves
 * entries at least 64 ticks before they are due.
 *
 * SUB-SLOTS AT LEVEL 0. Each level-0 tick is split into 64 sub-slots of
 * 2^sub_shift ns (the smallest power of two >= tick/64: 16.4 us at 1 ms),
 * each with its own list head and a bit in the tick's occupancy word; an
 * entry keeps its sub-slot in its `reserved` byte and is put there when it
 * is armed or cascaded, while its memory is hot anyway. Expiry visits one
 * sub-slot at a time: one that ends at or before now is due whole; the one
 * now falls in is scanned for exact deadlines; later ones are not looked
 * at. Without sub-slots the current tick had to be rescanned whole at every
 * look, which made wheel_pop_expired the largest share of timer_storm's
 * CPU time when thousands of entries share a tick. Splitting a tick into sub-slots only when it
 * becomes current (tried first) costs one more walk over entries that are
 * cold by then, as slow as the rescans it saved; placed at arm time, an
 * entry armed at level 0 is touched cold once in its life, when it fires.
 *
 * EXACT DEADLINES. The tick only picks a slot; the entry keeps its
 * deadline in nanoseconds, never rounded. Tokio rounds a deadline up to
 * the next millisecond tick, so its timers are up to 1 ms late by design;
 * the Linux timer wheel (since 4.8) does not cascade at all and instead
 * rounds deadlines up to its level's granularity, up to ~12 % late by
 * design, in exchange for never touching an entry twice. We want both
 * ordering and precision: the sub-slot now falls in is filtered by exact
 * deadline (an entry whose nanosecond deadline is still ahead stays), and
 * wheel_next_deadline() returns the exact earliest deadline - the minimum
 * over the one earliest occupied (sub-)slot, whose entries are all earlier
 * than every other slot's - so the driver sleeps until exactly then
 * (sub-millisecond precision is then the reactor's). The answer is cached:
 * arm lowers the cache, removing the cached minimum invalidates it, so the
 * usual "arm, ask, park" sequence costs no scan at all.
 *
 * ORDER. A due sub-slot is detached whole (or, for the one now falls in,
 * its due part), merge-sorted by (deadline, seq) into the `ready` list and
 * handed out from there one entry at a time. Sub-slots are processed in
 * time order, so the output is in deadline order; seq is a per-wheel arm
 * counter, so equal deadlines come out in arming order even when the
 * entries took different paths through the levels. Handing out one at a
 * time lets the driver stop after a batch, drop its lock, wake the batch
 * and come back, and lets callers arm and cancel in between; an entry
 * armed in between at a deadline already due comes out after the ready
 * list, in the next batch.
 *
 * OVERFLOW. A tick whose digits differ from U's above the top level goes
 * to an unsorted overflow list, with a lower bound of its earliest tick
 * (lowered by arm, not raised by cancel, reset when the list was empty).
 * When U reaches the 64^levels-tick block of that bound (E the block
 * before it), the list is re-placed and the bound recomputed. It
 * is scanned only then and when the wheel has nothing else (for the next
 * deadline); at 1 ms ticks it holds only deadlines years away.
 *
 * COST. arm O(1), cancel O(1), next_deadline O(1) cached else O(levels +
 * entries of one (sub-)slot), pop O(levels) per sub-slot visited +
 * O(k log k) to sort a due sub-slot of k entries + the entries of the
 * sub-slot now falls in + cascades (at most levels-1 per entry). Memory:
 * 64 KiB of level-0 list heads, 3 KiB for the other levels, 40 bytes per
 * entry (in the entry's owner).
 *
 * REJECTED. A binary heap (libuv, Go since 1.14 per P): O(log n) arm and
 * cancel, and cancel needs an index in the node. A balanced tree (Linux
 * hrtimers): O(log n) and pointer chasing. A sorted list (Redis ae scans
 * all timers): O(n). The Linux no-cascade wheel: late by design. A
 * single-level hashed wheel: O(n / slots) work per tick for far timers.
 * A heap or sorted list for the current tick only: building it when the
 * tick becomes current walks every entry of the tick cold.
 *
 * INVARIANTS (checked by wheel_check), with B = E & ~63, U = B + 64:
 *   I1 ring_occupied bit r <=> sub_occupied[r] != 0; sub_occupied[r] bit u
 *      <=> subs[r][u] != NULL; occupied[l] bit s <=> slots[l][s] != NULL
 *      for l >= 1; occupied[0] and slots[0][*] are unused (0 / NULL).
 *   I2 A ring entry of tick T has level 0 and either T <= E and slot
 *      E & 127, or E < T < B + 128 and slot T & 127; its sub-slot (in
 *      `reserved`) is (deadline - T tick) >> sub_shift, but 0 when T < E.
 *      Hence ring slots of E's block below E's are empty.
 *   I3 An entry at level l >= 1, slot s has T >= B + 128,
 *      T >> 6(l+1) == U >> 6(l+1) and digit_l(T) == s > digit_l(U).
 *   I4 Overflow entries have T >> 6*levels > U >> 6*levels, and
 *      overflow_floor <= their earliest tick, in a later top-level block
 *      than U's (so the overflow point is > E).
 *   I5 The ready list is sorted by (deadline, seq), entries ARMED, level
 *      READY; count = entries in the ring, slots, overflow and ready;
 *      next_cache, when valid, is the minimum deadline (UINT64_MAX if none).
 * Consequences the code relies on: a sub-slot holds no deadline at or after
 * the end of its span (past ones sit in sub-slot 0 of E's slot, the first
 * looked at); so a sub-slot's entries are later than those of every earlier
 * sub-slot and ring slot (in ring order from E's) and earlier than those of
 * every later one and of every upper level, whose ticks are >= B + 128.
 */
#include "timers/wheel.h"

#include <errno.h>

_Static_assert(WHEEL_SLOTS == 64, "one uint64_t occupancy word per level");
_Static_assert(WHEEL_SUBS == 64, "one uint64_t occupancy word per level-0 tick");
_Static_assert(WHEEL_RING == 128 && WHEEL_RING <= 256, "a ring slot fits in the entry's slot byte");
_Static_assert(WHEEL_MAX_LEVELS * WHEEL_SLOT_BITS < 64, "level spans must fit in a 64-bit tick");
_Static_assert(WHEEL_MAX_LEVELS < WHEEL_LEVEL_OVERFLOW, "level numbers must not collide with markers");

/* ---- small helpers -------------------------------------------------------- */

/* wheel_tick_of (ns / tick_ns by a reciprocal) is in wheel.h, for the tests. */

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

/* B: the first tick of E's block. */
static inline uint64_t wheel_block(const wheel *w) { return w->elapsed & ~(uint64_t)(WHEEL_SLOTS - 1); }

/* U: the tick the upper levels are relative to, the next block's first.
 * Never called while E is in the last block a uint64_t can count (a tick
 * there is always inside the ring). */
static inline uint64_t wheel_upper_ref(const wheel *w) { return wheel_block(w) + WHEEL_SLOTS; }

/* True if tick t (> E) lies in the ring's window [B, B + 128). */
static inline bool wheel_in_ring(const wheel *w, uint64_t t) { return t - wheel_block(w) < WHEEL_RING; }

/* The sub-slot of a deadline of tick t (I2): its offset into tick t in
 * units of 2^sub_shift ns, < 64 by the choice of sub_shift; 0 for a tick
 * before E (already past: due at the first look). */
static inline unsigned wheel_sub_of(const wheel *w, uint64_t deadline_ns, uint64_t t)
{
    if (t < w->elapsed) return 0;
    return (unsigned)((deadline_ns - t * w->tick_ns) >> w->sub_shift);
}

/* Links e (ARMED, deadline set) where invariants I2-I4 say it belongs. */
static void wheel_place(wheel *w, wheel_entry *e)
{
    uint64_t t = wheel_tick_of(w, e->deadline_ns);
    uint64_t now = w->elapsed;
    if (t <= now || wheel_in_ring(w, t)) {
        unsigned r = (unsigned)((t <= now ? now : t) & (WHEEL_RING - 1));
        unsigned sub = wheel_sub_of(w, e->deadline_ns, t);
        e->level = 0;
        e->slot = (uint8_t)r;
        e->reserved = (uint8_t)sub;
        wheel_list_push(&w->subs[r][sub], e);
        w->sub_occupied[r] |= 1ull << sub;
        w->ring_occupied[r / WHEEL_SLOTS] |= 1ull << (r % WHEEL_SLOTS);
        return;
    }
    uint64_t u = wheel_upper_ref(w);
    unsigned sig = 63u - (unsigned)__builtin_clzll(t ^ u); /* highest differing bit, >= 6 */
    unsigned level = sig / WHEEL_SLOT_BITS;
    e->reserved = 0;
    if (level >= w->levels) {
        e->level = WHEEL_LEVEL_OVERFLOW;
        e->slot = 0;
        if (!w->overflow || t < w->overflow_floor) w->overflow_floor = t;
        wheel_list_push(&w->overflow, e);
        return;
    }
    unsigned slot = (unsigned)((t >> (level * WHEEL_SLOT_BITS)) & (WHEEL_SLOTS - 1));
    e->level = (uint8_t)level;
    e->slot = (uint8_t)slot;
    wheel_list_push(&w->slots[level][slot], e);
    w->occupied[level] |= 1ull << slot;
}

/* Bookkeeping after level-0 list subs[r][sub] may have become empty. */
static inline void wheel_sub_emptied(wheel *w, unsigned r, unsigned sub)
{
    if (w->subs[r][sub]) return;
    w->sub_occupied[r] &= ~(1ull << sub);
    if (!w->sub_occupied[r]) w->ring_occupied[r / WHEEL_SLOTS] &= ~(1ull << (r % WHEEL_SLOTS));
}

/* Unlinks an armed e from wherever it is. */
static void wheel_unlink(wheel *w, wheel_entry *e)
{
    if (e->level == WHEEL_LEVEL_READY) {
        wheel_list_unlink(&w->ready, e);
    } else if (e->level == WHEEL_LEVEL_OVERFLOW) {
        wheel_list_unlink(&w->overflow, e);
    } else if (e->level == 0) {
        wheel_list_unlink(&w->subs[e->slot][e->reserved], e);
        wheel_sub_emptied(w, e->slot, e->reserved);
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
    w->tick_inv = UINT64_MAX / tick_ns;
    w->levels = levels;
    /* The smallest power of two >= tick/64, so (tick - 1) >> sub_shift < 64
     * and a sub-slot index is a shift, not a division. */
    uint64_t q = (tick_ns + WHEEL_SUBS - 1) / WHEEL_SUBS;
    w->sub_shift = q <= 1 ? 0u : 64u - (unsigned)__builtin_clzll(q - 1);
    w->elapsed = now_ns / tick_ns;
    w->seq = 0;
    w->ring_occupied[0] = w->ring_occupied[1] = 0;
    for (unsigned r = 0; r < WHEEL_RING; r++) {
        w->sub_occupied[r] = 0;
        for (unsigned u = 0; u < WHEEL_SUBS; u++) w->subs[r][u] = NULL;
    }
    for (unsigned l = 0; l < WHEEL_MAX_LEVELS; l++) {
        w->occupied[l] = 0;
        for (unsigned s = 0; s < WHEEL_SLOTS; s++) w->slots[l][s] = NULL;
    }
    w->overflow = NULL;
    w->overflow_floor = UINT64_MAX;
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

/* The earliest occupied ring slot: its ring index and tick. By I2 the ring
 * holds ticks E .. B + 127 in ring order from E's slot, and the slots of
 * E's block below E's are empty. False when the ring is empty. */
static bool wheel_earliest_ring(const wheel *w, unsigned *r, uint64_t *tick)
{
    unsigned half = (unsigned)((w->elapsed / WHEEL_SLOTS) & 1);
    unsigned pos = (unsigned)(w->elapsed & (WHEEL_SLOTS - 1));
    uint64_t m = w->ring_occupied[half] & (~0ull << pos);
    uint64_t base = wheel_block(w);
    if (!m) { /* nothing left in E's block: the next one */
        half ^= 1;
        m = w->ring_occupied[half];
        base += WHEEL_SLOTS;
        if (!m) return false;
    }
    unsigned d = (unsigned)__builtin_ctzll(m);
    *r = half * WHEEL_SLOTS + d;
    *tick = base + d;
    return true;
}

/* The earliest occupied slot of levels >= 1: level, slot and the tick at
 * which it starts. By I3 the lowest level with an occupied slot holds it (a
 * level-l slot ends before any level-(l+1) slot starts). False when every
 * upper level is empty. */
static bool wheel_earliest_upper(const wheel *w, unsigned *level, unsigned *slot, uint64_t *start)
{
    uint64_t u = wheel_upper_ref(w);
    for (unsigned l = 1; l < w->levels; l++) {
        if (!w->occupied[l]) continue;
        unsigned shift = l * WHEEL_SLOT_BITS;
        unsigned pos = (unsigned)((u >> shift) & (WHEEL_SLOTS - 1));
        uint64_t m = w->occupied[l] & (~0ull << pos);
        if (!m) continue; /* unreachable while I3 holds; wheel_check reports it */
        unsigned s = (unsigned)__builtin_ctzll(m);
        uint64_t block_mask = (1ull << (shift + WHEEL_SLOT_BITS)) - 1;
        *level = l;
        *slot = s;
        *start = (u & ~block_mask) | ((uint64_t)s << shift);
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
        e->reserved = 0;
        prev = e;
    }
}

/* Re-places every entry of slots[level][slot] (level >= 1) relative to the
 * current E. */
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

/* The tick at which U reaches the top-level block of the earliest overflow
 * entry (by overflow_floor, a lower bound that cancels do not raise): the
 * tick before that block's first. > E by I4. */
static inline uint64_t wheel_overflow_point(const wheel *w)
{
    unsigned bits = wheel_span_bits(w);
    return ((w->overflow_floor >> bits) << bits) - WHEEL_SLOTS;
}

/* Re-places the whole overflow list relative to the current E (which has
 * just reached wheel_overflow_point) and recomputes the floor from what
 * stays. O(overflow entries), once per top-level block (795 days at 1 ms). */
static void wheel_refill_from_overflow(wheel *w)
{
    wheel_entry *e = w->overflow;
    w->overflow = NULL;
    w->overflow_floor = UINT64_MAX;
    while (e) {
        wheel_entry *next = e->next;
        wheel_place(w, e);
        e = next;
    }
}

/* The due part of ring slot r, which holds tick `start` (and past entries,
 * if start == E), as a singly linked list, or NULL. One sub-slot per call,
 * the earliest occupied one: whole if it ends at or before now_ns, else
 * only its entries whose exact deadline has come. A later sub-slot starts
 * after now_ns, so it is not looked at. */
static wheel_entry *wheel_collect_sub(wheel *w, unsigned r, uint64_t start, uint64_t now_ns)
{
    /* lim: sub-slots below it end at or before now_ns (64: the whole tick
     * has passed); -1: now_ns is before the tick (the clock went back) */
    uint64_t base = start * w->tick_ns;
    int lim;
    if (now_ns < base) lim = -1;
    else if (now_ns - base >= w->tick_ns) lim = (int)WHEEL_SUBS;
    else lim = (int)((now_ns - base) >> w->sub_shift);
    unsigned sub = (unsigned)__builtin_ctzll(w->sub_occupied[r]);
    wheel_entry **head = &w->subs[r][sub];
    wheel_entry *due = NULL;
    if ((int)sub < lim) {
        /* It ends at base + (sub + 1) 2^shift <= base + lim 2^shift <= now.
         * (The sort reads only `next`; wheel_make_ready relinks `prev`.) */
        due = *head;
        *head = NULL;
    } else if ((int)sub == lim || sub == 0) {
        /* now_ns falls in it, or (sub-slot 0) past entries may wait there */
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
    wheel_sub_emptied(w, r, sub);
    return due;
}

/* Moves the next group of entries due at now_ns into the (empty) ready
 * list, advancing E and cascading as it goes. False when nothing is due;
 * E then stands at now_ns's tick (or stays, if the clock went back).
 *
 * Events, in tick order: the earliest ring tick; the cascade point of the
 * earliest upper slot (the tick before its start's block, where U reaches
 * its start); the overflow point. On a tie the move wins over the ring,
 * which only gains entries from it. Taking events in order keeps I2-I4
 * true for every E passed on the way: E never enters a block while the
 * next one still has entries above the ring. */
static bool wheel_collect(wheel *w, uint64_t now_ns)
{
    uint64_t nt = wheel_tick_of(w, now_ns);
    if (nt < w->elapsed) nt = w->elapsed; /* a clock that went back moves nothing */
    for (;;) {
        unsigned r = 0, level = 0, slot = 0;
        uint64_t tick = UINT64_MAX, start = 0, move = UINT64_MAX;
        bool ring = wheel_earliest_ring(w, &r, &tick);
        if (wheel_earliest_upper(w, &level, &slot, &start)) move = start - WHEEL_SLOTS; /* > E (I3) */
        if (w->overflow && wheel_overflow_point(w) < move) { /* > E (I4) */
            move = wheel_overflow_point(w); /* before any upper slot unless the floor is stale */
            level = 0;
        }
        if (move != UINT64_MAX && (!ring || move <= tick)) {
            if (move > nt) break;
            w->elapsed = move;
            if (level > 0) wheel_cascade(w, level, slot);
            else wheel_refill_from_overflow(w);
            continue;
        }
        if (!ring || tick > nt) break;
        w->elapsed = tick; /* >= E: every earlier tick is empty (I2) */
        wheel_entry *due = wheel_collect_sub(w, r, tick, now_ns);
        if (!due) return false; /* tick == nt: the rest of it is not due yet */
        wheel_make_ready(w, due);
        return true;
    }
    if (nt > w->elapsed) w->elapsed = nt; /* no event lies in between */
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
    for (unsigned h = 0; h < 2 && !e; h++) {
        if (!w->ring_occupied[h]) continue;
        unsigned r = h * WHEEL_SLOTS + (unsigned)__builtin_ctzll(w->ring_occupied[h]);
        e = w->subs[r][__builtin_ctzll(w->sub_occupied[r])];
    }
    for (unsigned l = 1; l < w->levels && !e; l++)
        if (w->occupied[l]) e = w->slots[l][__builtin_ctzll(w->occupied[l])];
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
    const wheel_entry *e = NULL;
    unsigned r, level, slot;
    uint64_t tick, start;
    if (wheel_earliest_ring(w, &r, &tick)) {
        /* its earliest sub-slot holds the minimum of everything armed */
        e = w->subs[r][__builtin_ctzll(w->sub_occupied[r])];
    } else if (wheel_earliest_upper(w, &level, &slot, &start)) {
        /* every entry of this slot is earlier than every entry of any
         * later slot (they lie in disjoint, ordered tick ranges) */
        e = w->slots[level][slot];
    } else if (!w->ready) {
        e = w->overflow; /* only overflow left (rare: deadlines beyond the top level) */
    }
    for (; e; e = e->next)
        if (e->deadline_ns < best) best = e->deadline_ns;
    w->next_cache = best;
    w->next_valid = 1;
    return best;
}

/* ---- invariant checker ---------------------------------------------------- */

/* Checks a list's links and the entries' common fields; adds its entries to
 * *n and lowers *min. 0 or the negative code of the broken invariant. */
static int wheel_check_list(const wheel_entry *head, unsigned level, unsigned slot, unsigned sub,
                            size_t *n, uint64_t *min)
{
    const wheel_entry *prev = NULL;
    for (const wheel_entry *e = head; e; prev = e, e = e->next) {
        if (e->prev != prev) return -4;
        if (e->state != WHEEL_ARMED || e->level != level || e->slot != slot || e->reserved != sub)
            return -5;
        if (e->deadline_ns < *min) *min = e->deadline_ns;
        (*n)++;
    }
    return 0;
}

int wheel_check(const wheel *w)
{
    size_t n = 0;
    uint64_t min = UINT64_MAX;
    const uint64_t now = w->elapsed, b = wheel_block(w);
    int rc;
    if (w->levels == 0 || w->levels > WHEEL_MAX_LEVELS || w->tick_ns == 0) return -1;
    if (w->tick_inv != UINT64_MAX / w->tick_ns) return -1;
    if (w->sub_shift > 63 || ((w->tick_ns - 1) >> w->sub_shift) >= WHEEL_SUBS) return -1;
    /* the ring (I1, I2) */
    for (unsigned r = 0; r < WHEEL_RING; r++) {
        bool bit = (w->ring_occupied[r / WHEEL_SLOTS] >> (r % WHEEL_SLOTS)) & 1;
        if (bit != (w->sub_occupied[r] != 0)) return -2;
        for (unsigned u = 0; u < WHEEL_SUBS; u++) {
            const wheel_entry *head = w->subs[r][u];
            if (!!(w->sub_occupied[r] & (1ull << u)) != (head != NULL)) return -2;
            if ((rc = wheel_check_list(head, 0, r, u, &n, &min))) return rc;
            for (const wheel_entry *e = head; e; e = e->next) {
                uint64_t t = wheel_tick_of(w, e->deadline_ns);
                if (t > now && !wheel_in_ring(w, t)) return -6;
                if (((t <= now ? now : t) & (WHEEL_RING - 1)) != r) return -7;
                if (wheel_sub_of(w, e->deadline_ns, t) != u) return -8;
            }
        }
    }
    /* the upper levels (I1, I3); U is only defined below the top block */
    for (unsigned l = 0; l < WHEEL_MAX_LEVELS; l++) {
        for (unsigned s = 0; s < WHEEL_SLOTS; s++) {
            const wheel_entry *head = w->slots[l][s];
            if (!!(w->occupied[l] & (1ull << s)) != (head != NULL)) return -2;
            if (head && (l == 0 || l >= w->levels)) return -3;
            if ((rc = wheel_check_list(head, l, s, 0, &n, &min))) return rc;
            if (!head) continue;
            uint64_t u = wheel_upper_ref(w);
            unsigned shift = l * WHEEL_SLOT_BITS, up = shift + WHEEL_SLOT_BITS;
            for (const wheel_entry *e = head; e; e = e->next) {
                uint64_t t = wheel_tick_of(w, e->deadline_ns);
                if (t <= now || t - b < WHEEL_RING) return -9;
                if ((t >> up) != (u >> up)) return -10;
                if (((t >> shift) & (WHEEL_SLOTS - 1)) != s) return -11;
                if (s <= ((u >> shift) & (WHEEL_SLOTS - 1))) return -11;
            }
        }
    }
    /* overflow (I4) */
    unsigned bits = wheel_span_bits(w);
    const wheel_entry *prev = NULL;
    for (const wheel_entry *e = w->overflow; e; prev = e, e = e->next) {
        if (e->prev != prev) return -12;
        if (e->state != WHEEL_ARMED || e->level != WHEEL_LEVEL_OVERFLOW) return -12;
        uint64_t t = wheel_tick_of(w, e->deadline_ns);
        if (t <= now || t - b < WHEEL_RING) return -13;
        if ((t >> bits) <= (wheel_upper_ref(w) >> bits)) return -13;
        if (t < w->overflow_floor) return -13;
        if ((w->overflow_floor >> bits) <= (wheel_upper_ref(w) >> bits)) return -13;
        if (e->deadline_ns < min) min = e->deadline_ns;
        n++;
    }
    /* ready (I5) */
    prev = NULL;
    for (const wheel_entry *e = w->ready; e; prev = e, e = e->next) {
        if (e->prev != prev) return -14;
        if (e->state != WHEEL_ARMED || e->level != WHEEL_LEVEL_READY) return -14;
        if (prev && !wheel_before(prev, e)) return -15;
        if (e->deadline_ns < min) min = e->deadline_ns;
        n++;
    }
    if (n != w->count) return -16;
    if (w->next_valid && w->next_cache != min) return -17;
    return 0;
}
