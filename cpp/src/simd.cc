#include "avemotion/simd.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace avemotion {
namespace {

std::atomic<int> g_active{-1};

SimdLevel InitialLevel() {
  SimdLevel best = DetectSimdLevel();
  if (const char* env = std::getenv("AVEMOTION_SIMD")) {
    if (*env != '\0') {
      SimdLevel asked = ParseSimdLevel(env);
      if (static_cast<int>(asked) < static_cast<int>(best)) best = asked;
    }
  }
  return best;
}

}  // namespace

SimdLevel DetectSimdLevel() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    return SimdLevel::kAVX512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::kAVX2;
#endif
  return SimdLevel::kScalar;
}

SimdLevel ActiveSimdLevel() {
  int v = g_active.load(std::memory_order_relaxed);
  if (v < 0) {
    v = static_cast<int>(InitialLevel());
    g_active.store(v, std::memory_order_relaxed);
  }
  return static_cast<SimdLevel>(v);
}

void SetSimdLevel(SimdLevel level) {
  if (static_cast<int>(level) > static_cast<int>(DetectSimdLevel())) {
    throw std::invalid_argument(std::string("simd level: this CPU supports at most '") +
                                SimdLevelName(DetectSimdLevel()) + "', got '" +
                                SimdLevelName(level) + "'");
  }
  g_active.store(static_cast<int>(level), std::memory_order_relaxed);
}

const char* SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAVX512:
      return "avx512";
    case SimdLevel::kAVX2:
      return "avx2";
    default:
      return "scalar";
  }
}

SimdLevel ParseSimdLevel(const std::string& name) {
  if (name == "scalar") return SimdLevel::kScalar;
  if (name == "avx2") return SimdLevel::kAVX2;
  if (name == "avx512") return SimdLevel::kAVX512;
  throw std::invalid_argument("simd level: expected one of 'scalar', 'avx2', 'avx512', got '" + name +
                              "'");
}

}  // namespace avemotion
