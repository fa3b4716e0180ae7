/*
 * common/spinlock.h - a test-and-test-and-set lock for very short critical
 * sections (a few list-pointer updates). Uncontended it costs one atomic
 * exchange and one release store, about a third of a pthread mutex pair.
 * Contended it spins with a pause and yields after a bounded number of
 * tries (1023: large enough that a holder preempted mid-section is rare,
 * small enough that a preempted holder does not burn a whole time slice).
 */
#ifndef WEFT_COMMON_SPINLOCK_H
#define WEFT_COMMON_SPINLOCK_H
#include <sched.h>
#include <stdatomic.h>

typedef struct spinlock { atomic_int locked; } spinlock;
#define SPINLOCK_INIT {0}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline void spinlock_init(spinlock *l) { atomic_init(&l->locked, 0); }

static inline void spinlock_lock(spinlock *l)
{
    for (unsigned spins = 0;;) {
        /* acquire pairs with the release store in spinlock_unlock */
        if (!atomic_exchange_explicit(&l->locked, 1, memory_order_acquire)) return;
        while (atomic_load_explicit(&l->locked, memory_order_relaxed)) {
            if (++spins & 1023u) cpu_relax();
            else sched_yield();
        }
    }
}

static inline int spinlock_trylock(spinlock *l)
{
    return !atomic_load_explicit(&l->locked, memory_order_relaxed) &&
           !atomic_exchange_explicit(&l->locked, 1, memory_order_acquire);
}

static inline void spinlock_unlock(spinlock *l)
{
    atomic_store_explicit(&l->locked, 0, memory_order_release); /* pairs with lock's acquire */
}
#endif
