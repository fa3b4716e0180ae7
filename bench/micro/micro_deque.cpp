// bench/micro/micro_deque.cpp - micro-benchmarks of the Chase-Lev deque
// (common/deque.c), the local queue of the ws and numa schedulers.
//
//   BM_deque_push_pop      owner push + pop of one item: the cost a worker pays
//                          per task it spawns and runs itself (no CAS, one
//                          seq_cst fence in pop).
//   BM_deque_push_steal    push + steal on one thread: the steal path without
//                          contention (seq_cst fence + CAS), for comparison.
//   BM_deque_steal_1thief  one thief stealing while an owner thread keeps the
//                          deque topped up: stolen items per second with the
//                          top/bottom cache lines moving between two cores.
//                          Thief and owner are pinned to the first two CPUs
//                          allowed (the label says which): unpinned, the
//                          number depends on whether the scheduler happens to
//                          put both on one core (~40 ns, all in L1) or not.
//                          The owner is usually the limit: every push loads
//                          top (acquire) and writes bottom, lines the thief's
//                          CAS and polling keep taking away, so empties_per_steal
//                          above 1 means the thief outran the owner.
//                          Real time (the thief's CPU time would count its
//                          spinning too, NOTES.md). Checks its own work: the
//                          stolen items strictly increase (FIFO, no repeats),
//                          the drained rest lie above them, and stolen plus
//                          drained is the number pushed: each exactly once.
//
// Run: weft-micro --benchmark_filter=deque --benchmark_repetitions=5
// (Debian's libbenchmark 1.7.1 reports itself as a debug build; the code
// measured here is the -O2 library.)
#include <benchmark/benchmark.h>

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "common/deque.h"

namespace {

void *item_of(uintptr_t i) { return reinterpret_cast<void *>(i + 1); }

// common/spinlock.h's cpu_relax, which is C-only (C11 atomics in that header)
inline void pause_cpu()
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

// Steady state: capacity 64 is never outgrown, so no allocation is timed.
void BM_deque_push_pop(benchmark::State &state)
{
    deque d;
    if (deque_init(&d, 64) != 0) {
        state.SkipWithError("deque_init failed");
        return;
    }
    uintptr_t i = 0, got = 0;
    for (auto _ : state) {
        deque_push(&d, item_of(i++));
        void *x = deque_pop(&d);
        benchmark::DoNotOptimize(x);
        got += x != nullptr;
    }
    deque_destroy(&d);
    if (got != i) state.SkipWithError("push+pop lost an item");
    state.SetItemsProcessed(static_cast<int64_t>(i));
}
BENCHMARK(BM_deque_push_pop);

void BM_deque_push_steal(benchmark::State &state)
{
    deque d;
    if (deque_init(&d, 64) != 0) {
        state.SkipWithError("deque_init failed");
        return;
    }
    uintptr_t i = 0, got = 0;
    for (auto _ : state) {
        deque_push(&d, item_of(i++));
        void *x = deque_steal(&d, nullptr);
        benchmark::DoNotOptimize(x);
        got += x != nullptr;
    }
    deque_destroy(&d);
    if (got != i) state.SkipWithError("push+steal lost an item");
    state.SetItemsProcessed(static_cast<int64_t>(i));
}
BENCHMARK(BM_deque_push_steal);

// The owner tops the deque up in bursts of 64 whenever it holds fewer than
// kHigh items, so the thief rarely finds it empty and the 2 * kHigh array
// (16 KiB, inside L1) never grows. Bursts keep the owner's pushes on its own
// cache lines; 1024 leaves the thief ~1000 steals of slack per refill.
constexpr int64_t kHigh = 1024;

// The first two CPUs this thread may run on, or false if there is only one.
bool two_cpus(const cpu_set_t &allowed, int *a, int *b)
{
    int found = 0;
    for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
        if (CPU_ISSET(c, &allowed)) (found == 0 ? *a : *b) = c, found++;
    return found == 2;
}

bool pin_self(int cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0;
}

void BM_deque_steal_1thief(benchmark::State &state)
{
    deque d;
    if (deque_init(&d, 2 * kHigh) != 0) {
        state.SkipWithError("deque_init failed");
        return;
    }
    cpu_set_t allowed;
    int thief_cpu = -1, owner_cpu = -1;
    bool pinned = pthread_getaffinity_np(pthread_self(), sizeof allowed, &allowed) == 0 &&
                  two_cpus(allowed, &thief_cpu, &owner_cpu) && pin_self(thief_cpu);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> pushed_total{0};
    std::thread owner([&] {
        if (pinned) pin_self(owner_cpu);
        uint64_t pushed = 0;
        // relaxed: a flag; the owner's items reach the thief through the deque
        while (!stop.load(std::memory_order_relaxed)) {
            if (deque_len_owner(&d) < kHigh) {
                for (int k = 0; k < 64; k++) deque_push(&d, item_of(pushed++));
            } else {
                // spin, not yield: a yield on a busy 2-core machine can cost
                // the owner a whole time slice and leave the thief starving
                for (int k = 0; k < 16; k++) pause_cpu();
            }
        }
        // release: pairs with the acquire after join (join orders it anyway)
        pushed_total.store(pushed, std::memory_order_release);
    });
    uint64_t stolen = 0, aborts = 0, empties = 0, out_of_order = 0;
    uintptr_t last = 0; // item_of(i) is i + 1, so 0 is below every item
    for (auto _ : state) {
        for (;;) {
            int status;
            void *x = deque_steal(&d, &status);
            if (x != nullptr) {
                uintptr_t v = reinterpret_cast<uintptr_t>(x);
                out_of_order += v <= last;
                last = v;
                stolen++;
                break;
            }
            if (status == DEQUE_ABORT) aborts++;
            else empties++;
        }
    }
    stop.store(true, std::memory_order_relaxed);
    owner.join();
    if (pinned) {
        // undo the pinning for the benchmarks that run after this one
        pthread_setaffinity_np(pthread_self(), sizeof allowed, &allowed);
        state.SetLabel("thief cpu " + std::to_string(thief_cpu) + ", owner cpu " +
                       std::to_string(owner_cpu));
    } else {
        state.SetLabel("unpinned");
    }
    uint64_t drained = 0;
    // The owner thread is gone; this thread now owns the deque.
    for (void *x; (x = deque_pop(&d)) != nullptr; drained++)
        out_of_order += reinterpret_cast<uintptr_t>(x) <= last;
    deque_destroy(&d);
    if (out_of_order != 0 || stolen + drained != pushed_total.load(std::memory_order_acquire))
        state.SkipWithError("an item was lost, repeated or stolen out of order");
    state.SetItemsProcessed(static_cast<int64_t>(stolen));
    state.counters["aborts_per_steal"] =
        benchmark::Counter(static_cast<double>(aborts) / static_cast<double>(stolen ? stolen : 1));
    state.counters["empties_per_steal"] =
        benchmark::Counter(static_cast<double>(empties) / static_cast<double>(stolen ? stolen : 1));
}
BENCHMARK(BM_deque_steal_1thief)->UseRealTime();

} // namespace
