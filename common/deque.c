/*
 * common/deque.c - the Chase-Lev work-stealing deque, and why it is correct.
 *
 * THE PROBLEM. A work-stealing worker pushes and pops its own tasks at one
 * end with no lock and no read-modify-write in the common case, while idle
 * workers take the oldest tasks from the other end. Every task must come out
 * exactly once, however the owner's pops, the thieves' steals and the growth
 * of the array interleave.
 *
 * THE DESIGN. Chase & Lev, "Dynamic Circular Work-Stealing Deque" (SPAA 2005):
 * a circular array indexed by two ever-growing counters. `bottom` is the next
 * free index, written only by the owner; `top` is the oldest item, advanced
 * only by CAS. Items of indices [top, bottom) are present; index i lives in
 * slot i & (capacity - 1). The memory orders are those of Lê, Pop, Cohen and
 * Zappa Nardelli, "Correct and Efficient Work-Stealing for Weak Memory Models"
 * (PPoPP 2013), who proved the C11 version correct, with the fixes that model
 * checkers later found in their published code (listed below as the fixes):
 *   push  bottom relaxed; top ACQUIRE; slot relaxed store; RELEASE fence;
 *         bottom relaxed store.                       [deque_push]
 *   pop   bottom := b-1 relaxed; SEQ_CST fence; top relaxed; if last element,
 *         SEQ_CST CAS on top, then bottom := b+1 relaxed.  [deque_pop]
 *   steal top ACQUIRE; SEQ_CST fence; bottom ACQUIRE; array ACQUIRE; slot
 *         relaxed load; SEQ_CST CAS on top.           [deque_steal]
 * and the fixes: (1) push reloads the array after growing (the paper's code
 * kept using the old one); (2) the array pointer is published with release
 * and read with acquire (the paper had relaxed/consume, which lets a thief
 * see the new array but not the copied slots); (3) the thief reads the slot
 * BEFORE its CAS (after a successful CAS the owner considers the slot free
 * and may overwrite it); (4) indices are signed 64-bit (pop on an empty deque
 * computes bottom - 1 below top; unsigned, that wraps and "finds" an item).
 * 2^63 pushes would take centuries, so the counters never wrap.
 *
 * Slots are relaxed atomics, not plain pointers: a thief may load a slot the
 * owner is overwriting (it then loses its CAS, below), and with plain
 * pointers that would be a data race, undefined behaviour in C11.
 *
 * WHY A STEAL RETURNS THE RIGHT ITEM. A thief reads top = t, then bottom = b,
 * and if t < b reads slot t and CASes top from t to t+1. Its acquire load of
 * bottom reads a value written after the release fence of the push of index
 * t (bottom > t was stored by that push or a later store of the same owner,
 * which C11 puts in the push's release sequence), so the slot store is
 * visible. The slot can have been overwritten only by a push of index
 * t + capacity, and push checks bottom - top < capacity with top loaded with
 * ACQUIRE: so that push saw top > t, i.e. top had already moved past t and
 * the thief's CAS fails. Conversely the acquire of top in push pairs with the
 * release half of the thief's successful CAS, so the thief's slot load
 * happens before any overwrite and cannot see it. A successful CAS therefore
 * certifies the value read.
 *
 * THE LAST-ELEMENT RACE (the two seq_cst fences). The owner pops by first
 * claiming index b-1 (bottom := b-1), then reading top = t:
 *   t < b-1   at least two items: index b-1 is the owner's without a CAS,
 *             because a thief only ever takes index top, which is < b-1;
 *   t == b-1  one item: owner and thieves may both want it; the owner CASes
 *             top like a thief, exactly one CAS from t succeeds;
 *   t > b-1   empty: restore bottom.
 * The danger is a thief that reads the OLD bottom (b, so it thinks an item is
 * there) while the owner reads an OLD top (t < b-1, so it takes b-1 without a
 * CAS), both taking index b-1. This is the store-buffering pattern:
 *   owner:  W bottom := b-1 ; fence_o ; R top
 *   thief:  R top = t       ; fence_t ; R bottom
 * Seq_cst fences lie in one total order S, consistent with happens-before.
 * (a) If fence_o preceded fence_t in S, the thief's R bottom would see the
 * owner's store or a later one (C++11 29.3p6; C11 shares this memory model).
 * So if it saw an earlier bottom, fence_t precedes fence_o. (b) The top the
 * thief read was written by a seq_cst CAS (or is the initial 0); its ACQUIRE
 * load synchronises with that CAS, so the CAS happens before fence_t, hence
 * precedes fence_o in S, and the owner's R top after fence_o sees that CAS or
 * a later one (29.3p4). This is why the thief loads top with acquire.
 * So the owner's t_o >= t_thief: if t_o == b-1 both CAS and one wins; if
 * t_o < b-1, the thief's t_thief <= t_o < b-1 is not the owner's index (and
 * if t_thief < t_o, its CAS fails). If instead the thief's R bottom saw b-1,
 * it treats index b-1 as absent. Without the fences both reads may return
 * old values (x86's store buffer does exactly that to the owner's store) and
 * index b-1 is taken twice: the whole point of the fences. On x86 only the
 * owner's fence does work in hardware (loads are not reordered with loads,
 * and the thief has no store before its fence); the thief's is required by
 * the model and by ARM and POWER. test_stress_deque's two-item race catches
 * a pop without its fence on x86; a steal without one cannot fail there.
 * The pop's CAS and the restore
 * of bottom to b need only relaxed/seq_cst as listed: after a lost CAS the
 * deque is empty (top = b) and bottom := b makes it consistently empty.
 *
 * THE GROW RACE. When push finds bottom - top == capacity it allocates an
 * array of twice the size, copies indices [t, b) (t = its acquire read of
 * top), and publishes it with a RELEASE store of `array`. A thief that loads
 * the new array (ACQUIRE) sees the copies; a thief that loads the old array
 * still finds its index there, because the owner never writes an array again
 * once it is replaced, and the old slot of index t was last written for t
 * itself (overwriting needs t + old capacity, which goes to the new array).
 * A thief whose t is below the owner's copy start fails its CAS (top moved).
 * A thief whose bottom came from a push after the grow cannot load the old
 * array: that push's release fence orders the array store before its bottom
 * store, and the thief's acquire of bottom then forbids an older array by
 * coherence. Push then RELOADS the array (fix 1) and stores into the new one.
 *
 * RECLAMATION. A thief may hold a pointer to an old array arbitrarily long
 * (preempted between its array load and its slot load). So a replaced array
 * is never freed while thieves run: it goes on d->retired and deque_destroy,
 * called when no thief remains, frees it. Capacities at least double, so the
 * retired arrays sum to less than the final one: memory is bounded by twice
 * the final array. Epochs or hazard pointers would return that memory sooner
 * at the price of a read-side protocol on every steal; a worker's deque stops
 * growing after warm-up, so the bound is the better trade.
 *
 * STEAL HALF. deque_steal_half is a loop of ordinary steals, each its own CAS.
 * A single CAS of top from t to t+k (taking k items at once) is unsafe: the
 * owner's pop takes index b-1 WITHOUT a CAS whenever it sees top < b-1, i.e.
 * it only synchronises with thieves over the very last item. A thief that
 * read top = t and bottom = b and CASes t -> t+k with t+k > b-1 can succeed
 * while the owner, having seen top = t < b-1, pops b-1 too: an item taken
 * twice. Batch-stealing queues (Tokio, Go) avoid this by making the owner's
 * pop a CAS too; Chase-Lev keeps the owner CAS-free, so thieves take one.
 *
 * TOP CACHE. push's room check needs a top read with acquire, not the
 * latest top: top only grows, so an older value only makes the deque look
 * fuller. The owner keeps the last top it loaded with acquire (top_cache)
 * and reloads top only when top_cache says full. The overwrite argument
 * above still holds: the slot of index b is free once top > b - capacity,
 * and top_cache > b - capacity was read with acquire by this thread before
 * the store, so the thief's slot load that preceded the CAS producing it
 * (or an earlier CAS: every store to top is an RMW, so each CAS's release
 * sequence holds all later ones) happens before the overwrite. It keeps a
 * push off the line every thief's CAS writes (spawn_many ws/2: the owner
 * pushed while the thief stole from the same deque).
 *
 * THREADSANITIZER BUILD (DEQUE_TSAN_MODE). TSan ignores standalone fences, so
 * with the paper's orders it reports the fence-published slot as a race (and
 * cannot see the last-element argument at all). In TSan mode every fence is
 * folded into the atomics next to it, each made at least as strong:
 *   push  RELEASE fence; bottom relaxed store  ->  bottom RELEASE store.
 *         Both make every access before them visible to an acquire load that
 *         reads this bottom or a later store of bottom by the owner (for the
 *         fence through its hypothetical release sequence, for the store
 *         through its release sequence); the thieves read nothing else the
 *         fence could have ordered.
 *   pop   bottom relaxed store; SEQ_CST fence; top relaxed load  ->
 *         bottom SEQ_CST store; top SEQ_CST load.
 *   steal top acquire; SEQ_CST fence; bottom acquire  ->
 *         top SEQ_CST load; bottom SEQ_CST load.
 * The fences were needed only for the store-buffering argument above. With
 * the four accesses W bottom, R top (owner) and R top, R bottom (thief) all
 * seq_cst, they lie in the single total order S, consistent with program
 * order, and a seq_cst load reads the last seq_cst store to its object
 * before it in S (or a later one in modification order). (a) If the thief's
 * R bottom read a value older than the owner's W bottom, it precedes W bottom
 * in S. (b) Every store to top is a seq_cst CAS, so the one the thief read
 * precedes the thief's R top in S, hence (program order) its R bottom, hence
 * W bottom and the owner's R top, which therefore reads that CAS or a later
 * one. Again t_o >= t_thief, and the case analysis is unchanged. (The pushes'
 * release stores of bottom are not seq_cst, but they happen before W bottom,
 * so a load after W bottom in S cannot read them.) seq_cst loads are also
 * acquire and the seq_cst store is also release, so every happens-before
 * edge of the fenced version survives. The build is slower (a seq_cst store
 * is a locked instruction on x86) but TSan checks it soundly and needs no
 * TSAN_OPTIONS. The normal build keeps the paper's orders exactly.
 */
#include "common/deque.h"
#include "common/error.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* One generation of the array. Immutable except for its slots. */
struct deque_array {
    int64_t capacity;          /* power of two, fixed at allocation */
    deque_array *retired_next; /* owner only: link on deque.retired */
    _Atomic(void *) slots[];   /* relaxed atomics; see the essay. Left
                                * uninitialised: only indices in [top,bottom)
                                * are ever read, and each was stored first. */
};

/* The padding argument of deque.h, checked. Every field is 8-aligned, so
 * comparing first bytes suffices. */
_Static_assert(offsetof(deque, top) >= DEQUE_SEPARATION,
               "top must be DEQUE_SEPARATION bytes from whatever precedes the deque");
_Static_assert(offsetof(deque, bottom) - offsetof(deque, top) >= DEQUE_SEPARATION,
               "top and bottom must be DEQUE_SEPARATION bytes apart");
_Static_assert(sizeof(deque) - offsetof(deque, retired) >= DEQUE_SEPARATION,
               "bottom/array/retired must be DEQUE_SEPARATION bytes from whatever follows");
_Static_assert(offsetof(deque, array) > offsetof(deque, bottom) &&
                   offsetof(deque, retired) > offsetof(deque, array),
               "the owner's fields share bottom's line, after it");
_Static_assert((DEQUE_SEPARATION & (DEQUE_SEPARATION - 1)) == 0,
               "DEQUE_SEPARATION must be a power of two");
_Static_assert((DEQUE_CAPACITY_MAX & (DEQUE_CAPACITY_MAX - 1)) == 0 &&
                   DEQUE_CAPACITY_MAX <= (SIZE_MAX - sizeof(deque_array)) / sizeof(void *) / 2,
               "DEQUE_CAPACITY_MAX must be a power of two whose array size cannot overflow");
#if ATOMIC_LLONG_LOCK_FREE != 2 && ATOMIC_LONG_LOCK_FREE != 2
#error "deque.c needs lock-free 64-bit atomics"
#endif
#if ATOMIC_POINTER_LOCK_FREE != 2
#error "deque.c needs lock-free pointer atomics"
#endif

static inline _Atomic(void *) *deque_slot(deque_array *a, int64_t i)
{
    return &a->slots[i & (a->capacity - 1)];
}

#ifndef NDEBUG
/* The invariants of deque.h, as the owner sees them between its calls. The
 * owner's loads of top never go backwards (read-read coherence), and top only
 * grows, so a top read now is >= the one its last push checked against. */
static int deque_invariants_owner(const deque *d)
{
    /* relaxed: a check, no data is read on its strength */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    const deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    return a != NULL && a->capacity >= 2 && (a->capacity & (a->capacity - 1)) == 0 &&
           t <= b && b - t <= a->capacity;
}
#endif

static deque_array *deque_array_new(int64_t capacity)
{
    deque_array *a = malloc(sizeof *a + (size_t)capacity * sizeof a->slots[0]);
    if (a == NULL) return NULL;
    a->capacity = capacity;
    a->retired_next = NULL;
    return a;
}

int deque_init(deque *d, size_t initial_capacity)
{
    if (initial_capacity < 2 || (initial_capacity & (initial_capacity - 1)) != 0 ||
        initial_capacity > DEQUE_CAPACITY_MAX) {
        return err_fail(-EINVAL,
                        "deque_init: initial capacity %zu is invalid: it must be a power of two "
                        "between 2 and %zu",
                        initial_capacity, (size_t)DEQUE_CAPACITY_MAX);
    }
    deque_array *a = deque_array_new((int64_t)initial_capacity);
    if (a == NULL) return -ENOMEM;
    /* Not yet shared: the caller publishes d with its own happens-before. */
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    atomic_init(&d->array, a);
    d->retired = NULL;
    d->top_cache = 0;
    d->top_reloads = 0;
    return 0;
}

void deque_destroy(deque *d)
{
    /* No thief remains (caller's contract), so relaxed suffices. */
    deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    free(a);
    atomic_store_explicit(&d->array, NULL, memory_order_relaxed);
    for (deque_array *r = d->retired, *next; r != NULL; r = next) {
        next = r->retired_next;
        free(r);
    }
    d->retired = NULL;
}

/*
 * OWNER. Replace `a` (holding indices [t, b)) by an array of `capacity`
 * slots, retire `a`, and return the new array, or NULL (and change nothing)
 * if it cannot be allocated.
 */
static deque_array *deque_grow(deque *d, deque_array *a, int64_t t, int64_t b, int64_t capacity)
{
    if (capacity > (int64_t)DEQUE_CAPACITY_MAX) return NULL;
    deque_array *n = deque_array_new(capacity);
    if (n == NULL) return NULL;
    for (int64_t i = t; i < b; i++) {
        /* relaxed: the owner reads its own stores; the new slots are published
         * by the release store of `array` below */
        void *item = atomic_load_explicit(deque_slot(a, i), memory_order_relaxed);
        atomic_store_explicit(deque_slot(n, i), item, memory_order_relaxed);
    }
    a->retired_next = d->retired; /* never freed before deque_destroy */
    d->retired = a;
    /* release: pairs with the acquire load of array in deque_steal, so a thief
     * that sees n also sees the copied slots */
    atomic_store_explicit(&d->array, n, memory_order_release);
    return n;
}

int deque_push(deque *d, void *item)
{
    if (item == NULL) {
        return err_fail(-EINVAL, "deque_push: refusing a NULL item (NULL means \"empty\")");
    }
    assert(deque_invariants_owner(d));
    /* relaxed: bottom is written only by this thread */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    /* relaxed: array is written only by this thread */
    deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    /* Room is checked against top_cache, a top this thread loaded with
     * acquire earlier ("TOP CACHE" in the essay); top is reloaded only when
     * that says full. */
    int64_t t = d->top_cache;
    if (b - t > a->capacity - 1) {
        /* acquire: pairs with the seq_cst (release) CAS on top in deque_steal
         * and deque_pop, so a thief's slot load happens before we overwrite
         * that slot */
        t = atomic_load_explicit(&d->top, memory_order_acquire);
        d->top_cache = t;
        d->top_reloads++;
    }
    if (b - t > a->capacity - 1) {
        if (deque_grow(d, a, t, b, 2 * a->capacity) == NULL) return -ENOMEM;
        /* fix 1: reload the array after growing (relaxed: our own store) */
        a = atomic_load_explicit(&d->array, memory_order_relaxed);
    }
    /* relaxed: published by the release below */
    atomic_store_explicit(deque_slot(a, b), item, memory_order_relaxed);
#if DEQUE_TSAN_MODE
    /* release: pairs with the seq_cst (acquire) load of bottom in deque_steal;
     * replaces the fence, see "ThreadSanitizer build" */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
#else
    /* release fence: orders the slot store (and a grow's array store) before
     * the bottom store; pairs with the acquire load of bottom in deque_steal */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
#endif
    return 0;
}

void *deque_pop(deque *d)
{
    assert(deque_invariants_owner(d));
    /* relaxed: bottom and array are written only by this thread */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
#if DEQUE_TSAN_MODE
    /* seq_cst store then seq_cst load: the store-buffering pair of the
     * last-element argument, partner of the two seq_cst loads in deque_steal */
    atomic_store_explicit(&d->bottom, b, memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
#else
    /* claim index b; the seq_cst fence pairs with the seq_cst fence in
     * deque_steal (last-element argument): our load of top cannot miss a top
     * that a thief read before missing this store */
    atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
#endif
    void *item = NULL;
    if (t <= b) {
        /* relaxed: the owner reads its own store */
        item = atomic_load_explicit(deque_slot(a, b), memory_order_relaxed);
        if (t == b) {
            /* the last item: race the thieves for it. seq_cst CAS, partner of
             * the thieves' CAS on top; failure order relaxed (nothing read) */
            if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1,
                                                         memory_order_seq_cst,
                                                         memory_order_relaxed))
                item = NULL; /* a thief won: the deque is empty */
            /* relaxed: top == b + 1 now either way; restore bottom to match */
            atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        }
    } else {
        /* empty: undo the claim (relaxed, as in the paper: a thief reading
         * b or b + 1 sees an empty deque either way) */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    }
    return item;
}

void *deque_pop_unshared(deque *d)
{
    assert(deque_invariants_owner(d));
    /* relaxed throughout: with no thief (the caller's promise) every field
     * is this thread's own; there is no last-element race to fence against */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    if (t > b) return NULL;
    deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    void *item = atomic_load_explicit(deque_slot(a, b), memory_order_relaxed);
    atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
    return item;
}

/* OWNER. The item at index bottom - 1 if the owner's snapshot says the
 * deque is non-empty, else NULL. A thief may already have taken that item
 * (top moved since): the pointer is used only for comparison, and the pop
 * that follows decides who has it. */
static inline void *deque_bottom_peek(const deque *d)
{
    /* relaxed: bottom and array are ours; top a snapshot (thieves only raise it) */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    if (t > b) return NULL;
    deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    /* relaxed: the owner reads its own store */
    return atomic_load_explicit(deque_slot(a, b), memory_order_relaxed);
}

bool deque_pop_if(deque *d, const void *item)
{
    if (item == NULL || deque_bottom_peek(d) != item) return false;
    /* the owner is the only writer of bottom and of the slots, so the pop
     * below takes index bottom - 1, which holds `item`: it returns item,
     * or NULL when a thief's CAS on top won it (then it is the thief's) */
    void *got = deque_pop(d);
    assert(got == NULL || got == item);
    return got != NULL;
}

bool deque_pop_if_unshared(deque *d, const void *item)
{
    if (item == NULL || deque_bottom_peek(d) != item) return false;
    /* deque_pop_unshared's store, without its call and the loads the peek
     * just made: index bottom - 1 holds `item`, and nobody else moves top */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
    return true;
}

void *deque_steal(deque *d, int *status)
{
    int dummy;
    if (status == NULL) status = &dummy;
#if DEQUE_TSAN_MODE
    /* seq_cst loads: partners of the seq_cst store/load pair in deque_pop
     * (replacing the fence) and acquire for the release store of bottom in
     * deque_push and the CAS on top */
    int64_t t = atomic_load_explicit(&d->top, memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_seq_cst);
#else
    /* acquire: pairs with the release half of the CAS that wrote this top */
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    /* seq_cst fence: pairs with the seq_cst fence in deque_pop */
    atomic_thread_fence(memory_order_seq_cst);
    /* acquire: pairs with the release fence in deque_push */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
#endif
    if (t >= b) {
        *status = DEQUE_EMPTY;
        return NULL;
    }
    /* acquire (fix 2): pairs with the release store of array in deque_grow */
    deque_array *a = atomic_load_explicit(&d->array, memory_order_acquire);
    /* fix 3: read the slot BEFORE the CAS. relaxed: the value is certified by
     * the CAS below (see "why a steal returns the right item") */
    void *item = atomic_load_explicit(deque_slot(a, t), memory_order_relaxed);
    /* seq_cst: partner of the owner's CAS in deque_pop and of other thieves;
     * its release half pairs with the acquire load of top in deque_push */
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed)) {
        *status = DEQUE_ABORT;
        return NULL;
    }
    *status = DEQUE_OK;
    return item;
}

extern inline int64_t deque_len_owner(const deque *d);
extern inline int64_t deque_len_bound_owner(const deque *d);

int64_t deque_len_sync_owner(deque *d)
{
    /* relaxed: ours */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    /* acquire: top_cache must be a top read with acquire (see deque_push) */
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    if (t > d->top_cache) d->top_cache = t;
    return b - t > 0 ? b - t : 0;
}

size_t deque_capacity_owner(const deque *d)
{
    /* relaxed: array is written only by the owner */
    return (size_t)atomic_load_explicit(&d->array, memory_order_relaxed)->capacity;
}

int64_t deque_len_estimate(const deque *d)
{
    /* relaxed: a heuristic; no slot is read on its strength, so there is no
     * partner. Top first, so a concurrent pop's transient bottom - 1 is the
     * only way to go negative; clamp it. */
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    return b - t > 0 ? b - t : 0;
}

/* OWNER of d. Make room for `extra` more items without growing again. */
static int deque_reserve_owner(deque *d, int64_t extra)
{
    /* relaxed: ours */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    /* acquire: as in deque_push (we may copy slots [t, b)) */
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    d->top_cache = t;
    /* relaxed: ours */
    deque_array *a = atomic_load_explicit(&d->array, memory_order_relaxed);
    int64_t need = b - t + extra; /* push fits while bottom - top < capacity */
    if (need <= a->capacity) return 0;
    int64_t capacity = a->capacity;
    while (capacity < need && capacity <= (int64_t)DEQUE_CAPACITY_MAX) capacity *= 2;
    return deque_grow(d, a, t, b, capacity) != NULL ? 0 : -ENOMEM;
}

size_t deque_steal_half(deque *victim, deque *into) { return deque_steal_half_max(victim, into, SIZE_MAX); }

size_t deque_steal_half_max(deque *victim, deque *into, size_t max)
{
    if (victim == into) {
        err_fail(-EINVAL, "deque_steal_half: a deque cannot steal from itself");
        return 0;
    }
    int64_t n = deque_len_estimate(victim);
    if (n <= 0) return 0;
    int64_t want = n - n / 2; /* ceil(n / 2) */
    if (max == 0) return 0;
    if ((uint64_t)want > max) want = (int64_t)max;
    if (deque_reserve_owner(into, want) != 0) return 0;
    size_t moved = 0;
    /* Aborts mean someone else made progress; bound them (as many as items
     * wanted) so a thief does not spin long on a contended victim. */
    int64_t aborts = 0;
    while ((int64_t)moved < want) {
        int status;
        void *item = deque_steal(victim, &status);
        if (item != NULL) {
            if (deque_push(into, item) != 0) {
                /* impossible after the reserve; an item would be lost */
                fprintf(stderr, "deque_steal_half: push into reserved deque failed\n");
                abort();
            }
            moved++;
        } else if (status == DEQUE_EMPTY || ++aborts >= want) {
            break;
        }
    }
    return moved;
}
