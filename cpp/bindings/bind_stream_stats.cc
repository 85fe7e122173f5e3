// StreamStats: one stream's counters in an AVSync's stats() (rules in av_sync.h).
#include <pybind11/pybind11.h>

#include "avemotion/av_sync.h"
#include "bindings.h"

namespace py = pybind11;

namespace avemotion::bindings {

void BindStreamStats(py::module_& m) {
  py::class_<StreamStats> c(m, "StreamStats",
                            "One stream's counters (cpp/include/avemotion/av_sync.h, per-step rules).");
  c.def(py::init<>())
      .def_readonly("accepted", &StreamStats::accepted)
      .def_property_readonly("dropped", &StreamStats::dropped,
                             "dropped_duplicate + dropped_out_of_order + dropped_late")
      .def_readonly("dropped_duplicate", &StreamStats::dropped_duplicate)
      .def_readonly("dropped_out_of_order", &StreamStats::dropped_out_of_order)
      .def_readonly("dropped_late", &StreamStats::dropped_late)
      .def_readonly("late", &StreamStats::late, "accepted after its window was cut or its stream completed")
      .def_readonly("overflowed", &StreamStats::overflowed, "discarded by a full stream buffer")
      .def_readonly("truncated", &StreamStats::truncated, "left out of a window holding too many steps");
  DefFieldMethods(c);
}

}  // namespace avemotion::bindings
