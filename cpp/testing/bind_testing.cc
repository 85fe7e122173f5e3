// TEST-ONLY bindings (see ring_stress.h): _core.testing_ring_stress.
#include <pybind11/pybind11.h>

#include <string>

#include "bindings.h"
#include "ring_stress.h"

namespace py = pybind11;

namespace avemotion::bindings {

void BindTesting(py::module_& m) {
  m.def(
      "testing_ring_stress",
      [](int64_t dim, int64_t capacity, const std::string& policy, int64_t n_items, int64_t push_batch,
         int64_t pop_batch) {
        const OverflowPolicy p = ParseOverflowPolicy(policy);
        testing::RingStressResult r;
        {
          py::gil_scoped_release release;
          r = testing::RingStressTest(dim, capacity, p, n_items, push_batch, pop_batch);
        }
        py::dict d;
        d["pushed"] = r.pushed;
        d["popped"] = r.popped;
        d["dropped_oldest"] = r.dropped_oldest;
        d["dropped_newest"] = r.dropped_newest;
        d["order_errors"] = r.order_errors;
        d["payload_errors"] = r.payload_errors;
        return d;
      },
      py::arg("dim"), py::arg("capacity"), py::arg("policy"), py::arg("n_items"), py::arg("push_batch"),
      py::arg("pop_batch"),
      "TEST HOOK, not an API (cpp/testing/ring_stress.h): a C++ producer thread and a consumer thread "
      "hammer one FrameRing; returns counters and order/payload error counts.");
}

}  // namespace avemotion::bindings
