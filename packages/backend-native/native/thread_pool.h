// A persistent pool of worker threads shared by the GEMM and the addon's memory-bound loops.
//
// The addon used to start fresh std::threads for every parallel loop: each start maps a stack, faults
// it in and unmaps it again, hundreds of times per training step, which showed up as system time.
// Workers here live for the process; an idle worker spins briefly (back-to-back kernels are common)
// and then sleeps on a condition variable.
#pragma once

#include <cstdint>
#include <type_traits>

namespace genview {

// Threads that run tasks, the calling thread included (default: the machine's cores, at most 8).
int PoolThreads();
// Sets that count (at least 1); takes effect at the next RunTasks.
void SetPoolThreads(int threads);

// Runs fn(ctx, i) for every i in [0, tasks), on the pool and the calling thread, and returns when all
// have finished. Tasks are claimed one at a time, so uneven tasks balance. Called from inside a task,
// it runs the tasks inline (no nested parallelism).
void RunTasks(int64_t tasks, void (*fn)(void* ctx, int64_t task), void* ctx);

template <typename F>
void ParallelTasks(int64_t tasks, F&& fn) {
  using Fn = std::remove_reference_t<F>;
  RunTasks(
      tasks, [](void* ctx, int64_t task) { (*static_cast<Fn*>(ctx))(task); }, const_cast<void*>(static_cast<const void*>(&fn)));
}

// Runs fn(lo, hi) over [0, n) in up to PoolThreads() contiguous slices, fewer when a slice would hold
// less than `grain` items (below that a hand-off costs more than the work).
template <typename F>
void ParallelFor(int64_t n, int64_t grain, F fn) {
  if (n <= 0) return;
  int64_t threads = PoolThreads();
  int64_t byGrain = n / (grain > 0 ? grain : 1);
  int64_t slices = threads < byGrain ? threads : (byGrain > 1 ? byGrain : 1);
  if (slices <= 1) {
    fn(int64_t{0}, n);
    return;
  }
  int64_t step = (n + slices - 1) / slices;
  ParallelTasks(slices, [&](int64_t s) {
    int64_t lo = s * step, hi = lo + step < n ? lo + step : n;
    if (lo < hi) fn(lo, hi);
  });
}

}  // namespace genview
