// Runtime CPU feature detection and the SIMD level the kernels dispatch to.
//
// One build runs on any x86-64: kernels are compiled for several instruction sets and the level is
// chosen once, at first use, from what the CPU reports (cpuid). Other architectures use the plain path.
#pragma once

#include <string>

namespace avemotion {

enum class SimdLevel { kScalar = 0, kAVX2 = 1, kAVX512 = 2 };

// Highest level this CPU supports (AVX2 needs AVX2+FMA; AVX-512 needs F+BW+VL+DQ).
SimdLevel DetectSimdLevel();

// Level the kernels use now. Defaults to DetectSimdLevel(), or to the level named by the environment
// variable AVEMOTION_SIMD ("scalar", "avx2", "avx512") when set, capped at what the CPU supports.
SimdLevel ActiveSimdLevel();

// Forces a level (tests and benchmarks). Throws std::invalid_argument if the CPU lacks it.
void SetSimdLevel(SimdLevel level);

// "scalar", "avx2" or "avx512".
const char* SimdLevelName(SimdLevel level);

// Parses a name as above; throws std::invalid_argument naming the accepted values.
SimdLevel ParseSimdLevel(const std::string& name);

}  // namespace avemotion
