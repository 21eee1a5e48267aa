#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GENVIEW_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define GENVIEW_CPU_RELAX() asm volatile("yield")
#else
#define GENVIEW_CPU_RELAX() ((void)0)
#endif

namespace genview {
namespace {

// How long an idle worker polls for the next job before it sleeps: a few tens of microseconds,
// about the gap between two kernels of a training step, and short enough not to steal a core
// from the JavaScript thread in earnest.
constexpr int kSpinRounds = 2000;

int DefaultThreads() {
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(std::min(hc, 8u));
}

class Pool {
 public:
  int threads() {
    if (wanted_ <= 0) wanted_ = DefaultThreads();
    return wanted_;
  }

  void setThreads(int n) { wanted_ = std::max(1, n); }

  void run(int64_t tasks, void (*fn)(void*, int64_t), void* ctx) {
    int helpers = static_cast<int>(std::min<int64_t>(threads(), tasks)) - 1;
    // One job at a time: a second JavaScript thread (a worker_thread with its own copy of the
    // backend) that finds the pool busy runs its tasks itself rather than waiting.
    std::unique_lock<std::mutex> owner(callerMutex_, std::try_to_lock);
    if (helpers <= 0 || insideTask_ || !owner.owns_lock()) {
      runInline(tasks, fn, ctx);
      return;
    }
    ensureWorkers(helpers);
    uint64_t gen = generation_.load(std::memory_order_relaxed) + 1;
    // Close the previous job before touching its fields. A worker still leaving it may have read
    // next_ (old tag, index = old task count) and be about to compare that index with tasks_: if it
    // read our new, larger tasks_ it would claim a task that does not exist, run a task of this job
    // twice and drive pending_ below zero (a hang). Every field is stored after this close with
    // release order, so a worker that sees a new field value also sees the close, and its claim (a
    // compare-exchange on the old next_) fails.
    next_.store(Tag(gen) | kIndexMask, std::memory_order_release);
    fn_.store(fn, std::memory_order_release);
    ctx_.store(ctx, std::memory_order_release);
    tasks_.store(tasks, std::memory_order_release);
    active_.store(helpers, std::memory_order_release);
    pending_.store(tasks, std::memory_order_release);
    next_.store(Tag(gen), std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.store(gen, std::memory_order_release);
    }
    wake_.notify_all();
    work(gen);
    // The caller has run out of tasks to claim; wait for the ones still running elsewhere.
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < kSpinRounds * 8) {
        GENVIEW_CPU_RELAX();
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  // next_ holds the job's generation in its top bits and the next unclaimed task below them, so a
  // worker that is late leaving one job can never claim a task of the next.
  static constexpr int kIndexBits = 40;
  static constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;
  static uint64_t Tag(uint64_t gen) { return gen << kIndexBits; }

  void runInline(int64_t tasks, void (*fn)(void*, int64_t), void* ctx) {
    bool outer = !insideTask_;
    insideTask_ = true;
    for (int64_t i = 0; i < tasks; ++i) fn(ctx, i);
    if (outer) insideTask_ = false;
  }

  // Claims and runs tasks of job `gen` until none are left.
  void work(uint64_t gen) {
    insideTask_ = true;
    uint64_t tag = Tag(gen) & ~kIndexMask;
    for (;;) {
      uint64_t v = next_.load(std::memory_order_acquire);
      if ((v & ~kIndexMask) != tag) break;
      int64_t i = static_cast<int64_t>(v & kIndexMask);
      if (i >= tasks_.load(std::memory_order_acquire)) break;
      if (!next_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed), i);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
    insideTask_ = false;
  }

  void ensureWorkers(int helpers) {
    while (static_cast<int>(workers_.size()) < helpers) {
      int index = static_cast<int>(workers_.size());
      uint64_t seen = generation_.load(std::memory_order_acquire);
      workers_.emplace_back([this, index, seen] { loop(index, seen); });
      workers_.back().detach();
    }
  }

  void loop(int index, uint64_t seen) {
    for (;;) {
      seen = waitForJob(seen);
      // Only the first `active_` workers join a job, so a job sized for two threads keeps the
      // others off the cores.
      if (index < active_.load(std::memory_order_relaxed)) work(seen);
    }
  }

  uint64_t waitForJob(uint64_t seen) {
    for (int spin = 0; spin < kSpinRounds; ++spin) {
      uint64_t gen = generation_.load(std::memory_order_acquire);
      if (gen != seen) return gen;
      GENVIEW_CPU_RELAX();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    return generation_.load(std::memory_order_acquire);
  }

  std::atomic<int> wanted_{0};
  std::mutex callerMutex_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  // The current job, written by the caller before the release store of next_ that publishes it.
  std::atomic<void (*)(void*, int64_t)> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int64_t> tasks_{0};
  std::atomic<int> active_{0};
  std::atomic<uint64_t> next_{0};
  std::atomic<int64_t> pending_{0};
  static thread_local bool insideTask_;
};

thread_local bool Pool::insideTask_ = false;

Pool& ThePool() {
  // Never destroyed, and its workers are detached: joining threads from a static destructor at
  // process exit can deadlock, and the OS reclaims them anyway.
  static Pool* pool = new Pool();
  return *pool;
}

}  // namespace

int PoolThreads() { return ThePool().threads(); }
void SetPoolThreads(int threads) { ThePool().setThreads(threads); }
void RunTasks(int64_t tasks, void (*fn)(void*, int64_t), void* ctx) {
  if (tasks <= 0) return;
  ThePool().run(tasks, fn, ctx);
}

}  // namespace genview
