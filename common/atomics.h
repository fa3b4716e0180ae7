/*
 * common/atomics.h - the fence that ThreadSanitizer cannot see.
 *
 * TSan does not model standalone atomic_thread_fence (the ThreadSanitizer
 * documentation lists atomic_thread_fence as unsupported; gcc 12 says so
 * with -Wtsan):
 * a Dekker-style pair of seq_cst fences (store; fence; load on both sides)
 * looks like no synchronisation to it. Under
 * TSan (WEFT_TSAN, set by the CMake sanitizer build) SEQ_CST_FENCE is a
 * seq_cst read-modify-write of one shared word instead: both sides of
 * the pattern RMW the same location, so whichever comes second in the
 * word's modification order synchronises with the first. That is at least
 * as strong as the fence pair on every architecture, and TSan models it.
 * Normal builds keep the fence (an mfence or a locked op on x86 either way).
 */
#ifndef WEFT_COMMON_ATOMICS_H
#define WEFT_COMMON_ATOMICS_H
#include <stdatomic.h>

#if defined(WEFT_TSAN)
extern _Atomic int weft_tsan_fence_word; /* common/atomics.c */
#define SEQ_CST_FENCE() \
    ((void)atomic_fetch_add_explicit(&weft_tsan_fence_word, 0, memory_order_seq_cst))
#else
#define SEQ_CST_FENCE() atomic_thread_fence(memory_order_seq_cst)
#endif
#endif
