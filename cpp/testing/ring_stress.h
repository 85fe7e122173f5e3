// TEST-ONLY: not part of the C++ API (cpp/include) and not in the avemotion_core library.
// Compiled into the _core module only so that tests/streaming/test_frame_ring.py (and the sanitizer
// builds, ThreadSanitizer above all) can drive two real C++ threads through one FrameRing; bound as
// _core.testing_ring_stress.
#pragma once

#include <cstdint>

#include "avemotion/frame_ring.h"

namespace avemotion::testing {

// Test hook: a producer std::thread pushes n_items (timestamps 0..n-1, every vector value equal to the
// index, flag = index & 1) in batches of push_batch while a consumer std::thread pops in batches of
// pop_batch until the producer is done and the ring is empty. Checks order and payload integrity.
struct RingStressResult {
  int64_t pushed = 0, popped = 0, dropped_oldest = 0, dropped_newest = 0;
  int64_t order_errors = 0;    // a popped index not greater than the previous one
  int64_t payload_errors = 0;  // a popped vector/flag not matching its timestamp (torn read)
};
RingStressResult RingStressTest(int64_t dim, int64_t capacity, OverflowPolicy policy,
                                int64_t n_items, int64_t push_batch, int64_t pop_batch);

}  // namespace avemotion::testing
