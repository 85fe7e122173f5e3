// Test-only (see ring_stress.h): compiled into the _core module, never into avemotion_core.
#include "ring_stress.h"

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace avemotion::testing {

RingStressResult RingStressTest(int64_t dim, int64_t capacity, OverflowPolicy policy,
                                int64_t n_items, int64_t push_batch, int64_t pop_batch) {
  if (push_batch < 1) throw std::invalid_argument("push_batch: expected >= 1, got " + std::to_string(push_batch));
  if (pop_batch < 1) throw std::invalid_argument("pop_batch: expected >= 1, got " + std::to_string(pop_batch));
  if (n_items < 0) throw std::invalid_argument("n_items: expected >= 0, got " + std::to_string(n_items));
  FrameRing ring(dim, capacity, policy);
  RingStressResult r;
  std::atomic<bool> done{false};
  std::atomic<int> ready{0};
  auto start_together = [&ready] {  // both threads spin until the other one runs
    ready.fetch_add(1, std::memory_order_acq_rel);
    while (ready.load(std::memory_order_acquire) < 2) std::this_thread::yield();
  };
  std::thread producer([&] {
    start_together();
    std::vector<double> ts(push_batch);
    std::vector<float> x(push_batch * dim);
    std::vector<uint8_t> fl(push_batch);
    for (int64_t i = 0; i < n_items; i += push_batch) {
      const int64_t n = std::min(push_batch, n_items - i);
      for (int64_t k = 0; k < n; ++k) {
        ts[k] = static_cast<double>(i + k);
        std::fill(&x[k * dim], &x[(k + 1) * dim], static_cast<float>(i + k));
        fl[k] = static_cast<uint8_t>((i + k) & 1);
      }
      ring.push(ts.data(), x.data(), fl.data(), n);
    }
    done.store(true, std::memory_order_release);
  });
  std::thread consumer([&] {
    std::vector<double> ts(pop_batch);
    std::vector<float> x(pop_batch * dim);
    std::vector<uint8_t> fl(pop_batch);
    double last = -1.0;
    start_together();
    for (;;) {
      const bool finished = done.load(std::memory_order_acquire);
      const int64_t n = ring.pop(ts.data(), x.data(), fl.data(), pop_batch);
      for (int64_t k = 0; k < n; ++k) {
        if (!(ts[k] > last)) ++r.order_errors;
        last = ts[k];
        const float want = static_cast<float>(ts[k]);
        bool bad = fl[k] != (static_cast<int64_t>(ts[k]) & 1);
        for (int64_t d = 0; d < dim; ++d) bad = bad || x[k * dim + d] != want;
        if (bad) ++r.payload_errors;
      }
      if (n == 0 && finished) break;
    }
  });
  producer.join();
  consumer.join();
  r.pushed = ring.pushed();
  r.popped = ring.popped();
  r.dropped_oldest = ring.dropped_oldest();
  r.dropped_newest = ring.dropped_newest();
  return r;
}

}  // namespace avemotion::testing
