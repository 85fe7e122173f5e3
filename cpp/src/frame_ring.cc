#include "avemotion/frame_ring.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

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

int64_t FrameRing::push(const double* timestamps, const float* x, const uint8_t* flags, int64_t n) {
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

int64_t FrameRing::pop(double* timestamps, float* x, uint8_t* flags, int64_t max_n) {
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

}  // namespace avemotion
