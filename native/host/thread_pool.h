// A small fork-join pool: parallel_for hands out task indices from an atomic
// counter to the workers and to the calling thread. Results never depend on
// which thread ran which task; callers merge per-task results in task order.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "../core/trainer.h"

namespace sm::host {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Holds the pool for one operation made of several parallel_for calls: no
  // other operation's tasks run on its threads in between, so per-thread
  // scratch written by one parallel_for is still there for the next.
  class Exclusive {
   public:
    explicit Exclusive(ThreadPool& pool) : lock_(pool.submit_mutex_) {}

   private:
    std::unique_lock<std::recursive_mutex> lock_;
  };

  // Runs task(i) for i in [0, count), using every thread of the pool. Calls
  // from several threads at once take turns; a task must not call
  // parallel_for on the same pool. If tasks throw, the remaining tasks still
  // run (or are skipped) and the first exception is rethrown here, once every
  // thread has left the task.
  void parallel_for(int64_t count, const std::function<void(int64_t)>& task);

 private:
  void worker_loop();
  void drain();
  void stop();

  std::vector<std::thread> workers_;
  std::recursive_mutex submit_mutex_;  // one parallel_for (or Exclusive holder) at a time
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
  std::exception_ptr failure_;  // the first exception a task threw
  int busy_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

int hardware_threads();

// Runs chunk(begin, end) over chunks of rows on the pool. Each chunk returns
// its first failure; the lowest failing row wins, as if rows ran in order.
template <class Chunk>
RowFailure for_row_chunks(ThreadPool& pool, int64_t rows, const Chunk& chunk) {
  const int64_t size = std::clamp<int64_t>(rows / (8 * pool.threads()), 1, 64);
  const int64_t count = (rows + size - 1) / size;
  std::vector<RowFailure> failures(count);
  pool.parallel_for(count, [&](int64_t c) { failures[c] = chunk(c * size, std::min(rows, (c + 1) * size)); });
  for (const RowFailure& failure : failures) {
    if (failure.row >= 0) return failure;
  }
  return {};
}

}  // namespace sm::host
