/*
 * common/deque.h - a growable Chase-Lev work-stealing deque of `void *`.
 *
 * One thread, the OWNER, pushes and pops at the bottom (LIFO); any number of
 * other threads, THIEVES, steal from the top (FIFO). The `ws` and `numa`
 * schedulers keep one per worker. The algorithm, its memory orders and the
 * argument for why it is correct are at the top of common/deque.c.
 *
 * Ownership is in the names:
 *   owner only  deque_push, deque_pop, deque_len_owner, deque_capacity_owner,
 *               deque_pop_unshared (only while no thief exists),
 *               deque_pop_if (and deque_pop_if_unshared), and
 *               deque_steal_half for its `into` argument
 *   any thread  deque_steal, deque_len_estimate, deque_steal_half (as thief of
 *               `victim`)
 *   no others   deque_init, deque_destroy (no thief may still be reading)
 *
 * Items are opaque non-NULL pointers; the deque never dereferences or frees
 * them. NULL is the "nothing" return value, so pushing NULL is refused.
 *
 * Memory: growth doubles the array and never frees the old one while thieves
 * may still read it; retired arrays stay on a list until deque_destroy. Their
 * sizes are initial, 2*initial, ..., final/2, so they sum to less than the final
 * array: all memory held is bounded by 2x the final array (plus headers). The
 * array never shrinks ("keep until destroy" reclamation: a thief may still
 * read an old array after a grow, and freeing it only at destroy makes that
 * safe without tracking readers); epochs or hazard pointers were rejected as
 * machinery that a per-worker queue that stops growing after warm-up does
 * not need.
 */
#ifndef WEFT_COMMON_DEQUE_H
#define WEFT_COMMON_DEQUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The struct is visible so that callers can embed it (one per worker) without
 * an extra allocation. C++ (the micro-benchmarks) only needs its size and
 * layout: std::atomic<T> has the same size, alignment and representation as
 * _Atomic(T) for the lock-free types used here (C++23 even defines _Atomic(T)
 * as std::atomic<T>). No C++ code touches the fields.
 */
#ifdef __cplusplus
#include <atomic>
#define DEQUE_ATOMIC(T) std::atomic<T>
extern "C" {
#else
#include <stdatomic.h>
#define DEQUE_ATOMIC(T) _Atomic(T)
#endif

/*
 * ThreadSanitizer mode. TSan does not model standalone atomic_thread_fence,
 * so deque.c replaces each fence by stronger orders on the atomics themselves
 * when this is 1 (see "ThreadSanitizer build" in deque.c). CMake defines
 * WEFT_TSAN for -fsanitize=thread builds; the compilers' own markers catch a
 * hand-made TSan build. Tests may read DEQUE_TSAN_MODE to scale their work.
 */
#if defined(WEFT_TSAN) || defined(__SANITIZE_THREAD__)
#define DEQUE_TSAN_MODE 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DEQUE_TSAN_MODE 1
#endif
#endif
#ifndef DEQUE_TSAN_MODE
#define DEQUE_TSAN_MODE 0
#endif

/*
 * Distance kept between `top` (CASed by thieves) and `bottom` (written by the
 * owner on every push and pop), and around the struct. 128, not 64: Intel's
 * L2 spatial prefetcher fetches 64-byte lines in aligned pairs, so lines 64
 * bytes apart still ping-pong (crossbeam's CachePadded and folly's
 * hardware_destructive_interference_size use 128 on x86-64 for this reason).
 * The separation is by padding, not by _Alignas: a deque embedded in a
 * malloc'ed worker struct gets only 16-byte alignment, and an over-aligned
 * type there would be undefined behaviour (UBSan reports it). Two bytes 128
 * or more apart are never on the same 128-byte pair, whatever the base
 * address, and every field is 8-aligned, so a field is that far from another
 * when their first bytes are (deque.c asserts the offsets). Cost: 408 bytes
 * per deque.
 */
#define DEQUE_SEPARATION 128

/* One array generation: index i lives in slots[i & (capacity - 1)]. Defined
 * in deque.c; nobody else needs its fields. */
typedef struct deque_array deque_array;

/*
 * Invariants (owner's view, between its own calls; checked by
 * deque_invariants_owner() in deque.c under assert):
 *   - top <= bottom, and bottom - top <= array->capacity;
 *   - items of indices [top, bottom) live in array->slots[i & (capacity-1)];
 *   - top never decreases; only a successful CAS changes it;
 *   - bottom is written only by the owner; array only by the owner (on grow);
 *   - every array ever installed but the current one is on `retired`.
 * Who writes / who reads:
 *   top      thieves CAS, owner CASes for the last element; all read
 *   bottom   owner writes; thieves read
 *   array    owner writes (release, on grow); thieves read (acquire)
 *   retired  owner only (and deque_destroy)
 */
typedef struct deque {
    char pad_head[DEQUE_SEPARATION];
    DEQUE_ATOMIC(int64_t) top;
    char pad_mid[DEQUE_SEPARATION - sizeof(int64_t)];
    DEQUE_ATOMIC(int64_t) bottom;
    DEQUE_ATOMIC(deque_array *) array;
    deque_array *retired;
    /* owner only: a value of top read with acquire, never above top (top
     * only grows). deque_push checks room against it and reloads top only
     * when it says full, so a push does not read the line thieves CAS. */
    int64_t top_cache;
    /* owner only: how many pushes reloaded top because top_cache said full
     * (tests read it to see that a push with room reads no top) */
    uint64_t top_reloads;
    char pad_tail[DEQUE_SEPARATION];
} deque;

#ifdef __cplusplus
/* Same sizes and alignments as the C11 atomics, hence the same layout. */
static_assert(sizeof(DEQUE_ATOMIC(int64_t)) == sizeof(int64_t) &&
                  alignof(DEQUE_ATOMIC(int64_t)) == alignof(int64_t) &&
                  sizeof(DEQUE_ATOMIC(deque_array *)) == sizeof(void *) &&
                  alignof(DEQUE_ATOMIC(deque_array *)) == alignof(void *),
              "std::atomic must match _Atomic for struct deque to be shared with C");
#endif

/* deque_steal's *status. */
enum {
    DEQUE_EMPTY = 0, /* the deque was empty when looked at */
    DEQUE_ABORT = 1, /* lost a race with the owner or another thief; retrying
                        may succeed */
    DEQUE_OK = 2     /* an item was returned */
};

/* Largest capacity the deque grows to (2^40 slots = 8 TiB of array): far
 * below where capacity * sizeof(void *) or bottom - top could overflow.
 * Reaching it makes deque_push return -ENOMEM. */
#define DEQUE_CAPACITY_MAX ((size_t)1 << 40)

/* Initialise an empty deque whose array starts with `initial_capacity` slots
 * (a power of two, 2 <= initial_capacity <= DEQUE_CAPACITY_MAX). Hand `d` to
 * thieves only after this returns, through something that orders memory
 * (thread creation, a mutex, a release store).
 * Returns 0, -EINVAL (bad capacity; the message in err_last()) or -ENOMEM. */
int deque_init(deque *d, size_t initial_capacity);

/* Free the arrays (current and retired). No other thread may use `d` any more:
 * join or otherwise quiesce the thieves first. Items still inside are not
 * touched (the deque does not own them). */
void deque_destroy(deque *d);

/* OWNER ONLY. Push a non-NULL item at the bottom, doubling the array when it
 * is full. Returns 0, -EINVAL (item is NULL) or -ENOMEM (growth failed; the
 * deque is unchanged and the item was not pushed). */
int deque_push(deque *d, void *item);

/* OWNER ONLY. Pop the most recently pushed item still present (LIFO), or NULL
 * if the deque is empty (possibly because a thief just took the last item). */
void *deque_pop(deque *d);

/* OWNER ONLY, and only while no other thread can call deque_steal or
 * deque_steal_half on d (a work-stealing runtime with one worker): deque_pop
 * without the seq_cst fence and the last-element CAS, which exist only to
 * race thieves. The owner's own deque_steal calls are fine. */
void *deque_pop_unshared(deque *d);

/* OWNER ONLY. Pops the bottom item only if it is `item` (join claim-back in
 * schedulers/ws.c: a joining task takes its not-yet-started child back).
 * Returns true when `item` was removed by this call; false when the bottom
 * item is another one, the deque is empty, or a thief took `item` first (the
 * last-element race is decided by deque_pop's own CAS). The _unshared form
 * has deque_pop_unshared's contract (no thief can exist). */
bool deque_pop_if(deque *d, const void *item);
bool deque_pop_if_unshared(deque *d, const void *item);

/* OWNER ONLY. Number of items present: exact when no thief is active, else
 * an upper bound (thieves can only make it smaller). */
#ifdef __cplusplus
int64_t deque_len_owner(const deque *d);
#else
/* C11 inline (deque.c emits the external definition): the worker loop asks
 * this before every pop, and the call showed in profiles. */
inline int64_t deque_len_owner(const deque *d)
{
    /* relaxed: bottom is ours; top is a snapshot (thieves only lower the
     * count); nothing is read on the strength of either */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    return b - t > 0 ? b - t : 0;
}
#endif

/* OWNER ONLY. An upper bound of the number of items present that reads no
 * line a thief writes: bottom - the top the owner last read (top_cache). */
#ifdef __cplusplus
int64_t deque_len_bound_owner(const deque *d);
#else
inline int64_t deque_len_bound_owner(const deque *d)
{
    /* relaxed: bottom is ours */
    return atomic_load_explicit(&d->bottom, memory_order_relaxed) - d->top_cache;
}
#endif

/* OWNER ONLY. deque_len_owner, refreshing top_cache with the top it reads. */
int64_t deque_len_sync_owner(deque *d);

/* OWNER ONLY. Current array capacity (for tests and statistics). */
size_t deque_capacity_owner(const deque *d);

/* ANY THREAD. Take the oldest item (FIFO). Returns it and sets *status to
 * DEQUE_OK, or returns NULL with *status DEQUE_EMPTY or DEQUE_ABORT (lost a
 * race; the caller may retry). `status` may be NULL. Lock-free: an abort
 * means some other operation succeeded. */
void *deque_steal(deque *d, int *status);

/* ANY THREAD. Number of items, racy: a snapshot of two independent loads,
 * clamped at 0. For heuristics (whom to steal from, whether to wake a worker)
 * only; never a licence to read a slot. */
int64_t deque_len_estimate(const deque *d);

/* Steal up to ceil(n/2) items from `victim`, where n is its length estimate at
 * entry, and push them, oldest first, into `into`. The calling thread must be
 * the owner of `into` and must not be the owner of `victim` (victim != into).
 * Each item is a separate deque_steal (see deque.c for why a multi-item CAS
 * is unsafe here). Capacity in `into` is reserved first, so a move never
 * strands an item: if that growth fails, nothing is stolen. Stops early when
 * the victim turns out empty or after as many aborts as items wanted.
 * Returns the number of items moved. */
size_t deque_steal_half(deque *victim, deque *into);

/* deque_steal_half moving at most `max` items (min(ceil(n/2), max)): a
 * thief's bound on one steal, so half of a queue grown to thousands is not
 * moved, one CAS per item, by a single steal (0 moves nothing). */
size_t deque_steal_half_max(deque *victim, deque *into, size_t max);

#ifdef __cplusplus
}
#endif
#endif
