// bench/micro/micro_timer.cpp - the timer wheel and the timer driver.
//
//   BM_wheel_arm_cancel    arm a 10 s timer on the raw wheel and cancel it
//   BM_timer_arm_cancel    the same through the locked driver; arg 0 with no
//                          waker, arg 1 with a reference-counted waker (a
//                          clone on arm and a drop on cancel, as a real task
//                          waker costs); also with 2 threads on one driver
//   BM_timer_fire          arm N timers spread over 1 s, fire them all
//
// Each benchmark checks its own work (the wheel is empty afterwards, every
// armed timer fired exactly once) and fails with SkipWithError if not.
// Target: BM_timer_arm_cancel <= 50 ns per pair (median) on 2 vCPUs.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <ctime>
#include <vector>

#include "timers/timer.h"
#include "timers/wheel.h"

namespace {

uint64_t bench_now_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// A waker over a reference count, like a task's: clone and drop are atomic
// read-modify-writes on the count that `data` points to (one per thread,
// as tasks on different workers have different counts). Wakes are counted
// in one global for the self-checks.
std::atomic<long> bench_waker_wakes{0};
std::atomic<long> *refs_of(const void *d)
{
    return static_cast<std::atomic<long> *>(const_cast<void *>(d));
}
weft_waker bench_waker_clone(const void *d);
void bench_waker_wake(const void *d)
{
    bench_waker_wakes.fetch_add(1, std::memory_order_relaxed);
    refs_of(d)->fetch_sub(1, std::memory_order_release);
}
void bench_waker_wake_by_ref(const void *d)
{
    (void)d;
    bench_waker_wakes.fetch_add(1, std::memory_order_relaxed);
}
void bench_waker_drop(const void *d) { refs_of(d)->fetch_sub(1, std::memory_order_release); }
const weft_waker_vtable bench_waker_vt = {bench_waker_clone, bench_waker_wake,
                                          bench_waker_wake_by_ref, bench_waker_drop};
weft_waker bench_waker_clone(const void *d)
{
    refs_of(d)->fetch_add(1, std::memory_order_relaxed);
    return weft_waker{&bench_waker_vt, d};
}

constexpr uint64_t kTenSeconds = 10ull * 1000000000ull;

void BM_wheel_arm_cancel(benchmark::State &state)
{
    wheel w;
    uint64_t now = bench_now_ns();
    wheel_init(&w, 0, 0, now);
    wheel_entry e;
    wheel_entry_init(&e);
    uint64_t i = 0;
    for (auto _ : state) {
        // vary the deadline over ~1 ms so that slots and bitmaps vary too
        wheel_arm(&w, &e, now + kTenSeconds + (i++ & 1023) * 997);
        wheel_cancel(&w, &e);
    }
    if (wheel_count(&w) != 0 || wheel_check(&w) != 0) state.SkipWithError("wheel not empty");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_wheel_arm_cancel);

timer_driver *shared_driver()
{
    static timer_driver *td = timer_driver_new(0, nullptr, nullptr, nullptr, nullptr);
    return td;
}

void BM_timer_arm_cancel(benchmark::State &state)
{
    timer_driver *td = shared_driver();
    const bool with_waker = state.range(0) != 0;
    timer_entry e;
    timer_entry_init(&e);
    std::atomic<long> refs{0};
    weft_waker w{&bench_waker_vt, &refs};
    const weft_waker *wp = with_waker ? &w : nullptr;
    const uint64_t now = bench_now_ns();
    uint64_t i = static_cast<uint64_t>(state.thread_index()) * 4099;
    bool ok = true;
    for (auto _ : state) {
        timer_driver_arm(td, &e, now + kTenSeconds + (i++ & 1023) * 997, wp);
        ok &= timer_driver_cancel(td, &e);
    }
    if (!ok) state.SkipWithError("a cancel found its timer not armed");
    if (refs.load(std::memory_order_acquire) != 0) state.SkipWithError("waker references leaked");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_timer_arm_cancel)->Arg(0)->Arg(1);
BENCHMARK(BM_timer_arm_cancel)->Arg(1)->Threads(2)->UseRealTime();

uint64_t fake_clock_value = 0;
uint64_t fake_clock(void *ctx) { return *static_cast<uint64_t *>(ctx); }

void BM_timer_fire(benchmark::State &state)
{
    const size_t n = static_cast<size_t>(state.range(0));
    timer_driver *td = timer_driver_new(0, fake_clock, &fake_clock_value, nullptr, nullptr);
    std::vector<timer_entry> entries(n);
    for (auto &e : entries) timer_entry_init(&e);
    std::vector<uint64_t> offsets(n);
    uint64_t x = 88172645463325252ull;
    for (auto &o : offsets) { // xorshift: deadlines spread over 1 s, all levels 0..2
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        o = x % 1000000000ull;
    }
    std::atomic<long> refs{0};
    weft_waker w{&bench_waker_vt, &refs};
    uint64_t base = 0;
    long wakes_before = bench_waker_wakes.load(std::memory_order_relaxed);
    bool ok = true;
    for (auto _ : state) {
        for (size_t i = 0; i < n; i++) timer_driver_arm(td, &entries[i], base + offsets[i], &w);
        base += 1000000000ull;
        ok &= timer_driver_fire(td, base) == n;
    }
    long wakes = bench_waker_wakes.load(std::memory_order_relaxed) - wakes_before;
    if (!ok || wakes != static_cast<long>(n * state.iterations()) || timer_driver_count(td) != 0 ||
        refs.load(std::memory_order_acquire) != 0)
        state.SkipWithError("not every timer fired exactly once");
    timer_driver_free(td);
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}
BENCHMARK(BM_timer_fire)->Arg(64)->Arg(4096)->Arg(65536);

} // namespace
