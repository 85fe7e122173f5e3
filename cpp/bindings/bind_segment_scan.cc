#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <string_view>
#include <vector>

#include "avemotion/segment_scan.h"
#include "bindings.h"

namespace py = pybind11;

namespace avemotion::bindings {
namespace {

std::string_view View(const py::bytes& b) {
  char* data = nullptr;
  Py_ssize_t size = 0;
  if (PyBytes_AsStringAndSize(b.ptr(), &data, &size) != 0) throw py::error_already_set();
  return {data, static_cast<size_t>(size)};
}

py::tuple ScanBlock(const SegmentScanner& self, const py::buffer& block) {
  const py::buffer_info info = block.request();
  if (info.ndim != 1 || info.itemsize != 1 || (info.size > 1 && info.strides[0] != 1)) {
    throw py::type_error("block: expected a contiguous 1-D byte buffer (bytes, bytearray, memoryview), got ndim=" +
                         std::to_string(info.ndim) + " itemsize=" + std::to_string(info.itemsize));
  }
  const std::string_view view(static_cast<const char*>(info.ptr), static_cast<size_t>(info.size));
  SegmentBlockScan scan;
  {
    py::gil_scoped_release release;
    scan = self.scan(view);
  }
  py::list picks(scan.picks.size());
  for (size_t i = 0; i < scan.picks.size(); ++i) {
    const auto& k = scan.picks[i];
    picks[i] = py::make_tuple(k.line, k.begin, k.end, k.flags);
  }
  return py::make_tuple(scan.lines, scan.comments, scan.first_invalid, picks);
}

}  // namespace

void BindSegmentScan(py::module_& m) {
  m.attr("PICK_HIT") = kPickHit;
  m.attr("PICK_SAMPLED") = kPickSampled;
  m.attr("PICK_ID") = kPickId;
  m.def(
      "crc32", [](const py::bytes& data, uint32_t value) { return Crc32(View(data), value); },
      py::arg("data"), py::arg("value") = 0U, "zlib-compatible CRC-32 of bytes, continued from value.");
  py::class_<SegmentScanner>(m, "SegmentScanner",
                             "One-pass line scanner for AudioSet segment CSV blocks (see segment_scan.h): "
                             "line/comment counts, first line breaking the row grammar, and the lines that "
                             "contain a needle, fall in the CRC-32 sample or start with one of the ids.")
      .def(py::init<std::vector<std::string>, std::vector<std::string>, uint32_t, uint64_t, bool>(),
           py::arg("needles"), py::arg("ids"), py::arg("crc_seed"), py::arg("crc_limit"),
           py::arg("check_grammar"))
      .def("scan", &ScanBlock, py::arg("block"),
           "block: bytes of whole lines ending in b'\\n' -> (lines, comments, first_invalid (-1: none), "
           "[(line, begin, end, flags), ...]) with byte offsets; flags: PICK_HIT | PICK_SAMPLED | PICK_ID.");
}

}  // namespace avemotion::bindings
