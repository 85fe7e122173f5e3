#include <pybind11/pybind11.h>

#include "avemotion/simd.h"
#include "bindings.h"

#ifdef AVEMOTION_HAVE_ORT
#include <onnxruntime_c_api.h>
#endif

namespace py = pybind11;

#ifndef AVEMOTION_VERSION
#define AVEMOTION_VERSION "unknown"
#endif

PYBIND11_MODULE(_core, m) {
  m.doc() = "avemotion C++ core: SIMD normalization, running statistics, streaming, ONNX Runtime";

  m.def(
      "build_info",
      []() {
        py::dict info;
        info["version"] = AVEMOTION_VERSION;
#if defined(__clang__)
        info["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
        info["compiler"] = std::string("gcc ") + __VERSION__;
#else
        info["compiler"] = "unknown";
#endif
        info["cxx_flags"] = AVEMOTION_CXX_FLAGS;
        info["build_type"] = AVEMOTION_BUILD_TYPE;
        info["simd_detected"] = avemotion::SimdLevelName(avemotion::DetectSimdLevel());
        info["simd_active"] = avemotion::SimdLevelName(avemotion::ActiveSimdLevel());
#ifdef AVEMOTION_HAVE_ORT
        info["ort_headers_api_version"] = ORT_API_VERSION;
#else
        info["ort_headers_api_version"] = py::none();
#endif
#if defined(__SANITIZE_ADDRESS__)
        info["sanitizers"] = "address";
#else
        info["sanitizers"] = py::none();
#endif
        return info;
      },
      "Compiler, flags, SIMD level detected and in use, ONNX Runtime header version.");

  m.def(
      "set_simd_level",
      [](const std::string& name) { avemotion::SetSimdLevel(avemotion::ParseSimdLevel(name)); },
      py::arg("level"), "Force the SIMD level ('scalar', 'avx2', 'avx512'); for tests/benchmarks.");
  m.def("simd_level", []() { return avemotion::SimdLevelName(avemotion::ActiveSimdLevel()); });

  namespace b = avemotion::bindings;
  b::BindNormalize(m);
  b::BindRunningStats(m);
  b::BindFrameRing(m);
  // the classes AVSync's methods take or return, before AVSync (their names appear in its signatures)
  b::BindAVSyncOptions(m);
  b::BindStreamStats(m);
  b::BindSyncStats(m);
  b::BindWindow(m);
  b::BindWindowBatch(m);
  b::BindAVSync(m);
  b::BindOrt(m);
  b::BindSegmentScan(m);
  b::BindTesting(m);
}
