// bench/micro/micro_handoff.cpp - the floor of an outside spawn: what handing a
// task from one thread to another costs with no runtime at all.
//
//   BM_remote_handoff_floor/N  a producer thread allocates N 64-byte tasks,
//                              writes each, and pushes it onto a Treiber stack
//                              (one seq_cst CAS, as fifo's injection queue);
//                              the benchmark thread spins taking the whole
//                              stack (one exchange), calls each task through a
//                              pointer and frees it. Time per task, the
//                              thread start included (spawn_remote starts its
//                              spawner thread inside the timed region too).
//
// spawn_remote's rows pay this and the runtime's own work on top (the
// counters, the in-flight bracket, the notification, the task header and
// its state machine, parking when the worker runs dry). The consumer here
// never parks, so the figure is a lower bound for the hand-off on this
// machine: the task's lines cross cores twice (written on one, read and
// freed on the other, then reused by the allocator on the first). Checks: every
// task ran exactly once with its own value, or SkipWithError.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace {

struct htask {
    htask *next;
    void (*fn)(htask *, uint64_t *);
    uint64_t value;
    uint64_t pad[5]; /* 64 bytes, as the floor row's task */
};
static_assert(sizeof(htask) == 64, "a 64-byte task");

void htask_run(htask *t, uint64_t *sum) { *sum += t->value; }

void BM_remote_handoff_floor(benchmark::State &state)
{
    const uint64_t n = (uint64_t)state.range(0);
    uint64_t bad = 0;
    for (auto _ : state) {
        std::atomic<htask *> head{nullptr};
        std::atomic<bool> oom{false};
        std::thread producer([&] {
            for (uint64_t i = 0; i < n; i++) {
                htask *t = static_cast<htask *>(malloc(sizeof(htask)));
                if (!t) {
                    oom.store(true);
                    return;
                }
                t->fn = htask_run;
                t->value = i + 1;
                memset(t->pad, 0, sizeof t->pad);
                htask *h = head.load(std::memory_order_relaxed);
                do {
                    t->next = h;
                } while (!head.compare_exchange_weak(h, t, std::memory_order_seq_cst, std::memory_order_relaxed));
            }
        });
        uint64_t ran = 0, sum = 0;
        while (ran < n && !oom.load(std::memory_order_relaxed)) {
            htask *s = head.exchange(nullptr, std::memory_order_acquire);
            if (!s) continue;
            htask *fifo = nullptr; /* push order */
            while (s) {
                htask *nx = s->next;
                s->next = fifo;
                fifo = s;
                s = nx;
            }
            while (fifo) {
                htask *nx = fifo->next;
                fifo->fn(fifo, &sum);
                free(fifo);
                fifo = nx;
                ran++;
            }
        }
        producer.join();
        bad += oom.load() || ran != n || sum != n * (n + 1) / 2;
    }
    if (bad) return state.SkipWithError("a task was lost, run twice or not allocated");
    state.SetItemsProcessed((int64_t)(state.iterations() * n));
    state.counters["ns_per_task"] =
        benchmark::Counter((double)(state.iterations() * n), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_remote_handoff_floor)->Arg(100000)->UseRealTime()->Unit(benchmark::kMillisecond);

} // namespace
