// Fixed-capacity ring of timestamped feature vectors: one producer thread, one consumer thread,
// no locks, no allocation after construction.
//
// An item is (timestamp: float64 seconds, vector: `dim` float32, flag: one byte, e.g. face present).
//
// Threads. push() may be called from one thread (the producer) and pop() from one other thread (the
// consumer) at the same time; size() and the counters from any thread (approximate while the others
// run). Two producers or two consumers need outside locking.
//
// Overflow policy, chosen at construction:
//  * kDropNewest: a push into a full ring drops the pushed item (counted in dropped_newest()).
//  * kDropOldest (default): a push into a full ring discards the oldest unread item (dropped_oldest())
//    and stores the new one. The producer discards by advancing the read index with a CAS, and the
//    consumer claims items with a CAS on the same index *before* copying them, so an item is either
//    popped or counted as dropped, never both, never torn. To keep the producer off slots the consumer
//    is still copying, storage has capacity + max_pop_batch slots and the consumer publishes where its
//    claimed range starts; if the producer would have to discard past that range (the consumer is
//    stalled mid-copy on a full ring), it drops the new item instead (counted in dropped_newest()).
//
// Memory order: the producer writes a slot, then publishes it with head.store(release); the consumer
// reads head with acquire. Claims/discards are seq_cst CAS on tail; the consumer's "reading from"
// index is seq_cst, so the producer either sees it or the consumer's claim fails and is retried.
//
// Invariant (at rest): pushed() == popped() + dropped_oldest() + size(); every push() item is counted
// in pushed() or dropped_newest(). Items come out in push order.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace avemotion {

enum class OverflowPolicy { kDropOldest, kDropNewest };

// "drop_oldest" / "drop_newest"; anything else: std::invalid_argument naming `policy`.
OverflowPolicy ParseOverflowPolicy(const std::string& name);
const char* OverflowPolicyName(OverflowPolicy p);

class FrameRing {
 public:
  // dim >= 1, capacity >= 1, max_pop_batch >= 1 (the most items one claim takes; pop() of more
  // items loops). std::invalid_argument otherwise. Allocates (capacity + max_pop_batch) slots here.
  FrameRing(int64_t dim, int64_t capacity, OverflowPolicy policy = OverflowPolicy::kDropOldest,
            int64_t max_pop_batch = 256);

  FrameRing(const FrameRing&) = delete;
  FrameRing& operator=(const FrameRing&) = delete;

  // Producer only. n items: timestamps[n], x[n * dim] row-major, flags[n] (nullptr: all 1).
  // Returns how many were stored (n minus those dropped as newest). Never blocks, never allocates.
  int64_t push(const double* timestamps, const float* x, const uint8_t* flags, int64_t n);

  // Consumer only. Copies up to max_n oldest items out (any pointer may be nullptr to skip that
  // field) and removes them; returns how many. Never blocks, never allocates.
  int64_t pop(double* timestamps, float* x, uint8_t* flags, int64_t max_n);

  int64_t dim() const { return dim_; }
  int64_t capacity() const { return capacity_; }
  int64_t max_pop_batch() const { return max_claim_; }
  OverflowPolicy policy() const { return policy_; }
  int64_t size() const;
  int64_t pushed() const { return pushed_.load(std::memory_order_relaxed); }
  int64_t popped() const { return popped_.load(std::memory_order_relaxed); }
  int64_t dropped_oldest() const { return dropped_oldest_.load(std::memory_order_relaxed); }
  int64_t dropped_newest() const { return dropped_newest_.load(std::memory_order_relaxed); }

 private:
  static constexpr int64_t kNone = -1;

  const int64_t dim_;
  const int64_t capacity_;
  const int64_t max_claim_;
  const int64_t slots_;
  const OverflowPolicy policy_;
  std::vector<double> ts_;
  std::vector<float> data_;
  std::vector<uint8_t> flags_;

  alignas(64) std::atomic<int64_t> head_{0};         // next index to write (producer)
  alignas(64) std::atomic<int64_t> tail_{0};         // next index to read (CAS: both)
  alignas(64) std::atomic<int64_t> reader_from_{kNone};  // consumer's claimed range start
  alignas(64) std::atomic<int64_t> pushed_{0};
  std::atomic<int64_t> dropped_oldest_{0};
  std::atomic<int64_t> dropped_newest_{0};
  alignas(64) std::atomic<int64_t> popped_{0};
};

}  // namespace avemotion
