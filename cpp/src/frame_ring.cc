#include "avemotion/frame_ring.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace avemotion {

OverflowPolicy ParseOverflowPolicy(const std::string& name) {
  if (name == "drop_oldest") return OverflowPolicy::kDropOldest;
  if (name == "drop_newest") return OverflowPolicy::kDropNewest;
  throw std::invalid_argument("policy: expected 'drop_oldest' or 'drop_newest', got '" + name + "'");
}

const char* OverflowPolicyName(OverflowPolicy p) {
  return p == OverflowPolicy::kDropOldest ? "drop_oldest" : "drop_newest";
}

namespace {
int64_t CheckPositive(const char* name, int64_t v) {
  if (v < 1) {
    throw std::invalid_argument(std::string(name) + ": expected >= 1, got " + std::to_string(v));
  }
  return v;
}
}  // namespace

FrameRing::FrameRing(int64_t dim, int64_t capacity, OverflowPolicy policy, int64_t max_pop_batch)
    : dim_(CheckPositive("dim", dim)),
      capacity_(CheckPositive("capacity", capacity)),
      max_claim_(CheckPositive("max_pop_batch", max_pop_batch)),
      slots_(capacity + max_pop_batch),
      policy_(policy),
      ts_(static_cast<size_t>(slots_)),
      data_(static_cast<size_t>(slots_ * dim_)),
      flags_(static_cast<size_t>(slots_)) {}

int64_t FrameRing::size() const {
  const int64_t t = tail_.load(std::memory_order_acquire);
  const int64_t h = head_.load(std::memory_order_acquire);
  return std::max<int64_t>(0, h - t);
}

int64_t FrameRing::Push(const double* timestamps, const float* x, const uint8_t* flags, int64_t n) {
  int64_t h = head_.load(std::memory_order_relaxed);  // only this thread writes head
  int64_t stored = 0, newest = 0, oldest = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool store = true;
    for (;;) {
      int64_t t = tail_.load(std::memory_order_seq_cst);
      if (h - t < capacity_) break;
      if (policy_ == OverflowPolicy::kDropNewest) {
        store = false;
        break;
      }
      // Discarding the oldest lets the write at h land on slot (t + capacity) % slots; that is in
      // the consumer's claimed range [rf, rf + max_claim) only when t - rf >= max_claim.
      const int64_t rf = reader_from_.load(std::memory_order_seq_cst);
      if (rf != kNone && t - rf >= max_claim_) {
        store = false;
        break;
      }
      if (tail_.compare_exchange_weak(t, t + 1, std::memory_order_seq_cst)) {
        ++oldest;
        break;
      }
    }
    if (!store) {
      ++newest;
      continue;
    }
    const int64_t slot = h % slots_;
    ts_[slot] = timestamps[i];
    std::memcpy(&data_[slot * dim_], x + i * dim_, sizeof(float) * dim_);
    flags_[slot] = flags ? flags[i] : 1;
    ++h;
    head_.store(h, std::memory_order_release);
    ++stored;
  }
  pushed_.fetch_add(stored, std::memory_order_relaxed);
  if (newest) dropped_newest_.fetch_add(newest, std::memory_order_relaxed);
  if (oldest) dropped_oldest_.fetch_add(oldest, std::memory_order_relaxed);
  return stored;
}

int64_t FrameRing::Pop(double* timestamps, float* x, uint8_t* flags, int64_t max_n) {
  int64_t total = 0;
  while (total < max_n) {
    int64_t t = tail_.load(std::memory_order_seq_cst);
    int64_t n = 0;
    for (;;) {
      const int64_t h = head_.load(std::memory_order_acquire);
      n = std::min({h - t, max_n - total, max_claim_});
      if (n <= 0) break;
      reader_from_.store(t, std::memory_order_seq_cst);
      if (tail_.compare_exchange_strong(t, t + n, std::memory_order_seq_cst)) break;
      // t now holds the current tail (the producer discarded items); retry from there.
    }
    if (n <= 0) break;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t slot = (t + k) % slots_;
      const int64_t o = total + k;
      if (timestamps) timestamps[o] = ts_[slot];
      if (x) std::memcpy(x + o * dim_, &data_[slot * dim_], sizeof(float) * dim_);
      if (flags) flags[o] = flags_[slot];
    }
    reader_from_.store(kNone, std::memory_order_seq_cst);
    total += n;
  }
  if (total) popped_.fetch_add(total, std::memory_order_relaxed);
  return total;
}

RingStressResult RingStressTest(int64_t dim, int64_t capacity, OverflowPolicy policy,
                                int64_t n_items, int64_t push_batch, int64_t pop_batch) {
  CheckPositive("push_batch", push_batch);
  CheckPositive("pop_batch", pop_batch);
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
      ring.Push(ts.data(), x.data(), fl.data(), n);
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
      const int64_t n = ring.Pop(ts.data(), x.data(), fl.data(), pop_batch);
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

}  // namespace avemotion
