// bench/micro/micro_sync.cpp - the MPMC channel, select and the cancellation token.
//
//   BM_mpmc_try_pair     try_send + try_recv of an 8-byte element, one thread
//   BM_mpmc_future_pair  the same through a send future and a recv future
//                        (init, poll, drop each), with a reference-counted waker
//   BM_mpmc_pingpong     two threads, capacity 1: a value each way per iteration
//                        (try_send/try_recv spinning), the cross-core cost
//   BM_select/N          select over N arms: N-1 pending cancel waits (each
//                        registers a waker, and its drop unregisters it) and a
//                        recv that is ready; init + poll + drop, N = 2 and 8
//   BM_token_fire/W      new token, W waiters registered, fire (wakes W), free
//
// Each benchmark checks its own work (values come back in order, the winner
// is the ready arm, every waiter was woken exactly once, no waker reference
// is left) and fails with SkipWithError if not.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "weft/cancel.h"
#include "weft/mpmc.h"
#include "weft/select.h"

namespace {

std::atomic<long> g_refs{0}, g_wakes{0};
weft_waker cw_clone(const void *d);
void cw_wake(const void *)
{
    g_wakes.fetch_add(1, std::memory_order_relaxed);
    g_refs.fetch_sub(1, std::memory_order_relaxed);
}
void cw_wake_by_ref(const void *) { g_wakes.fetch_add(1, std::memory_order_relaxed); }
void cw_drop(const void *) { g_refs.fetch_sub(1, std::memory_order_relaxed); }
const weft_waker_vtable cw_vt = {cw_clone, cw_wake, cw_wake_by_ref, cw_drop};
weft_waker cw_clone(const void *d)
{
    g_refs.fetch_add(1, std::memory_order_relaxed);
    return weft_waker{&cw_vt, d};
}
weft_context bench_cx()
{
    weft_context cx = {{&cw_vt, nullptr}, nullptr, nullptr, -1, 0, nullptr};
    return cx;
}

void BM_mpmc_try_pair(benchmark::State &state)
{
    weft_mpmc *c;
    if (weft_mpmc_new(64, sizeof(uint64_t), nullptr, &c) < 0) return state.SkipWithError("new");
    uint64_t i = 0, bad = 0;
    for (auto _ : state) {
        uint64_t v = i, out = ~0ull;
        bad += weft_mpmc_try_send(c, &v) != 0;
        bad += weft_mpmc_try_recv(c, &out) != 0 || out != i;
        i++;
    }
    weft_mpmc_sender_drop(c);
    weft_mpmc_receiver_drop(c);
    if (bad) state.SkipWithError("a value went missing");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_mpmc_try_pair);

void BM_mpmc_future_pair(benchmark::State &state)
{
    weft_mpmc *c;
    if (weft_mpmc_new(64, sizeof(uint64_t), nullptr, &c) < 0) return state.SkipWithError("new");
    weft_context cx = bench_cx();
    uint64_t i = 0, bad = 0;
    for (auto _ : state) {
        uint64_t v = i, out = ~0ull;
        weft_mpmc_send s;
        weft_mpmc_recv r;
        int rs = 1, rr = 1;
        weft_mpmc_send_init(&s, c, &v);
        bad += weft_mpmc_send_poll(&s, &cx, &rs) != WEFT_READY || rs != 0;
        weft_mpmc_send_drop(&s);
        weft_mpmc_recv_init(&r, c, &out);
        bad += weft_mpmc_recv_poll(&r, &cx, &rr) != WEFT_READY || rr != 0 || out != i;
        weft_mpmc_recv_drop(&r);
        i++;
    }
    weft_mpmc_sender_drop(c);
    weft_mpmc_receiver_drop(c);
    if (bad || g_refs.load() != 0) state.SkipWithError("a value or a waker went missing");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_mpmc_future_pair);

void BM_mpmc_pingpong(benchmark::State &state)
{
    weft_mpmc *ab, *ba;
    if (weft_mpmc_new(1, sizeof(uint64_t), nullptr, &ab) < 0 || weft_mpmc_new(1, sizeof(uint64_t), nullptr, &ba) < 0)
        return state.SkipWithError("new");
    std::atomic<bool> stop{false};
    std::thread echo([&] {
        uint64_t v;
        for (;;) {
            int rc = weft_mpmc_try_recv(ab, &v);
            if (rc == -EPIPE) return;
            if (rc == 0)
                while (weft_mpmc_try_send(ba, &v) == -EAGAIN) {
                }
        }
    });
    uint64_t i = 0, bad = 0;
    for (auto _ : state) {
        uint64_t v = i, out;
        while (weft_mpmc_try_send(ab, &v) == -EAGAIN) {
        }
        while (weft_mpmc_try_recv(ba, &out) == -EAGAIN) {
        }
        bad += out != i++;
    }
    weft_mpmc_close(ab);
    echo.join();
    for (weft_mpmc *c : {ab, ba}) {
        weft_mpmc_sender_drop(c);
        weft_mpmc_receiver_drop(c);
    }
    (void)stop;
    if (bad) state.SkipWithError("out of order");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_mpmc_pingpong)->UseRealTime();

void BM_select(benchmark::State &state)
{
    const int n = static_cast<int>(state.range(0));
    weft_mpmc *c;
    weft_cancel *tok;
    if (weft_mpmc_new(4, sizeof(uint64_t), nullptr, &c) < 0 || weft_cancel_new(&tok) < 0)
        return state.SkipWithError("new");
    std::vector<weft_cancel_wait> waits(static_cast<size_t>(n));
    std::vector<weft_select_arm> arms(static_cast<size_t>(n));
    weft_context cx = bench_cx();
    uint64_t i = 0, bad = 0;
    for (auto _ : state) {
        uint64_t v = i, out = ~0ull;
        bad += weft_mpmc_try_send(c, &v) != 0;
        weft_mpmc_recv r;
        weft_mpmc_recv_init(&r, c, &out);
        for (int k = 0; k < n - 1; k++) {
            weft_cancel_wait_init(&waits[static_cast<size_t>(k)], tok);
            arms[static_cast<size_t>(k)] = weft_select_arm_cancel(&waits[static_cast<size_t>(k)]);
        }
        arms[static_cast<size_t>(n - 1)] = weft_select_arm_mpmc_recv(&r);
        weft_select s;
        weft_select_init(&s, arms.data(), n);
        int idx = -1;
        bad += weft_select_poll(&s, &cx, &idx) != WEFT_READY || idx != n - 1 || out != i;
        weft_select_drop(&s);
        i++;
    }
    weft_cancel_free(tok);
    weft_mpmc_sender_drop(c);
    weft_mpmc_receiver_drop(c);
    if (bad || g_refs.load() != 0) state.SkipWithError("wrong winner or a waker left");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_select)->Arg(2)->Arg(8);

void BM_token_fire(benchmark::State &state)
{
    const int w = static_cast<int>(state.range(0));
    std::vector<weft_cancel_wait> waits(static_cast<size_t>(w > 0 ? w : 1));
    weft_context cx = bench_cx();
    long wakes0 = g_wakes.load(), bad = 0;
    for (auto _ : state) {
        weft_cancel *t;
        weft_cancel_new(&t);
        for (int k = 0; k < w; k++) {
            weft_cancel_wait_init(&waits[static_cast<size_t>(k)], t);
            bad += weft_cancel_wait_poll(&waits[static_cast<size_t>(k)], &cx) != WEFT_PENDING;
        }
        bad += weft_cancel_fire(t) != 1;
        for (int k = 0; k < w; k++) weft_cancel_wait_drop(&waits[static_cast<size_t>(k)]);
        weft_cancel_free(t);
    }
    long woken = g_wakes.load() - wakes0;
    if (bad || woken != static_cast<long>(state.iterations()) * w || g_refs.load() != 0)
        state.SkipWithError("a waiter was not woken exactly once");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_token_fire)->Arg(0)->Arg(1)->Arg(8);

} // namespace
