#include "avemotion/normalize.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "avemotion/simd.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define AVEMOTION_X86 1
#endif

namespace avemotion {
namespace {

// ---- plain path ---------------------------------------------------------------------------------
// Returns false if the row held a non-finite value (the row is still written).
bool RowScalar(const float* x, float* out, int64_t dim, const float* mean, const float* inv) {
  float acc = 0.0f;
  for (int64_t d = 0; d < dim; ++d) {
    const float v = x[d];
    acc += v - v;  // 0 for finite values, NaN for NaN/Inf
    out[d] = (v - mean[d]) * inv[d];
  }
  return acc == 0.0f;
}

int64_t FindNonFiniteScalar(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return i;
  }
  return -1;
}

#ifdef AVEMOTION_X86
// ---- AVX2 ---------------------------------------------------------------------------------------
__attribute__((target("avx2,fma"))) bool RowAVX2(const float* x, float* out, int64_t dim,
                                                  const float* mean, const float* inv) {
  __m256 acc = _mm256_setzero_ps();
  int64_t d = 0;
  for (; d + 16 <= dim; d += 16) {
    __m256 v0 = _mm256_loadu_ps(x + d);
    __m256 v1 = _mm256_loadu_ps(x + d + 8);
    acc = _mm256_add_ps(acc, _mm256_add_ps(_mm256_sub_ps(v0, v0), _mm256_sub_ps(v1, v1)));
    _mm256_storeu_ps(out + d, _mm256_mul_ps(_mm256_sub_ps(v0, _mm256_loadu_ps(mean + d)),
                                            _mm256_loadu_ps(inv + d)));
    _mm256_storeu_ps(out + d + 8, _mm256_mul_ps(_mm256_sub_ps(v1, _mm256_loadu_ps(mean + d + 8)),
                                                _mm256_loadu_ps(inv + d + 8)));
  }
  for (; d + 8 <= dim; d += 8) {
    __m256 v = _mm256_loadu_ps(x + d);
    acc = _mm256_add_ps(acc, _mm256_sub_ps(v, v));
    _mm256_storeu_ps(out + d, _mm256_mul_ps(_mm256_sub_ps(v, _mm256_loadu_ps(mean + d)),
                                            _mm256_loadu_ps(inv + d)));
  }
  bool ok = _mm256_movemask_ps(_mm256_cmp_ps(acc, acc, _CMP_UNORD_Q)) == 0;
  if (d < dim) ok = RowScalar(x + d, out + d, dim - d, mean + d, inv + d) && ok;
  return ok;
}

__attribute__((target("avx2,fma"))) int64_t FindNonFiniteAVX2(const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    __m256 c = _mm256_loadu_ps(x + i + 16), e = _mm256_loadu_ps(x + i + 24);
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_sub_ps(a, a), _mm256_sub_ps(b, b)),
                             _mm256_add_ps(_mm256_sub_ps(c, c), _mm256_sub_ps(e, e)));
    if (_mm256_movemask_ps(_mm256_cmp_ps(s, s, _CMP_UNORD_Q)) != 0) {
      return i + FindNonFiniteScalar(x + i, 32);
    }
  }
  int64_t tail = FindNonFiniteScalar(x + i, n - i);
  return tail < 0 ? -1 : i + tail;
}

// ---- AVX-512 ------------------------------------------------------------------------------------
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) bool RowAVX512(
    const float* x, float* out, int64_t dim, const float* mean, const float* inv) {
  __m512 acc = _mm512_setzero_ps();
  int64_t d = 0;
  for (; d + 32 <= dim; d += 32) {
    __m512 v0 = _mm512_loadu_ps(x + d);
    __m512 v1 = _mm512_loadu_ps(x + d + 16);
    acc = _mm512_add_ps(acc, _mm512_add_ps(_mm512_sub_ps(v0, v0), _mm512_sub_ps(v1, v1)));
    _mm512_storeu_ps(out + d, _mm512_mul_ps(_mm512_sub_ps(v0, _mm512_loadu_ps(mean + d)),
                                            _mm512_loadu_ps(inv + d)));
    _mm512_storeu_ps(out + d + 16, _mm512_mul_ps(_mm512_sub_ps(v1, _mm512_loadu_ps(mean + d + 16)),
                                                 _mm512_loadu_ps(inv + d + 16)));
  }
  for (; d < dim; d += 16) {
    const int64_t left = dim - d;
    const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xFFFF)
                                   : static_cast<__mmask16>((1u << left) - 1u);
    __m512 v = _mm512_maskz_loadu_ps(m, x + d);
    acc = _mm512_add_ps(acc, _mm512_sub_ps(v, v));
    __m512 r = _mm512_mul_ps(_mm512_sub_ps(v, _mm512_maskz_loadu_ps(m, mean + d)),
                             _mm512_maskz_loadu_ps(m, inv + d));
    _mm512_mask_storeu_ps(out + d, m, r);
  }
  return _mm512_cmp_ps_mask(acc, acc, _CMP_UNORD_Q) == 0;
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) int64_t FindNonFiniteAVX512(
    const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
    __m512 c = _mm512_loadu_ps(x + i + 32), e = _mm512_loadu_ps(x + i + 48);
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_sub_ps(a, a), _mm512_sub_ps(b, b)),
                             _mm512_add_ps(_mm512_sub_ps(c, c), _mm512_sub_ps(e, e)));
    if (_mm512_cmp_ps_mask(s, s, _CMP_UNORD_Q) != 0) return i + FindNonFiniteScalar(x + i, 64);
  }
  int64_t tail = FindNonFiniteScalar(x + i, n - i);
  return tail < 0 ? -1 : i + tail;
}
#endif  // AVEMOTION_X86

using RowFn = bool (*)(const float*, float*, int64_t, const float*, const float*);

RowFn PickRow() {
#ifdef AVEMOTION_X86
  switch (ActiveSimdLevel()) {
    case SimdLevel::kAVX512:
      return RowAVX512;
    case SimdLevel::kAVX2:
      return RowAVX2;
    default:
      break;
  }
#endif
  return RowScalar;
}

}  // namespace

int64_t FindNonFinite(const float* x, int64_t n) {
#ifdef AVEMOTION_X86
  switch (ActiveSimdLevel()) {
    case SimdLevel::kAVX512:
      return FindNonFiniteAVX512(x, n);
    case SimdLevel::kAVX2:
      return FindNonFiniteAVX2(x, n);
    default:
      break;
  }
#endif
  return FindNonFiniteScalar(x, n);
}

int64_t NormalizeRows(const float* x, float* out, int64_t n_rows, int64_t dim, const float* mean,
                      const float* inv_std, bool check_finite) {
  if (n_rows <= 0 || dim <= 0) return -1;
  if (check_finite && x == out) {
    // In place: scan first so that a rejected input is left exactly as it was.
    const int64_t bad = FindNonFinite(x, n_rows * dim);
    if (bad >= 0) return bad / dim;
    check_finite = false;
  }
  const RowFn row = PickRow();
  for (int64_t n = 0; n < n_rows; ++n) {
    const bool ok = row(x + n * dim, out + n * dim, dim, mean, inv_std);
    if (check_finite && !ok) return n;
  }
  return -1;
}

int64_t PrepareInvStd(const float* std_dev, int64_t dim, float eps, float* inv_std) {
  int64_t clamped = 0;
  for (int64_t d = 0; d < dim; ++d) {
    const float s = std_dev[d];
    if (!std::isfinite(s) || s < 0.0f || (eps <= 0.0f && s == 0.0f)) {
      std::ostringstream msg;
      msg << "std: expected finite values > 0, got " << s << " at index " << d;
      throw std::invalid_argument(msg.str());
    }
    double v = s;
    if (v < eps) {
      v = eps;
      ++clamped;
    }
    inv_std[d] = static_cast<float>(1.0 / v);
  }
  return clamped;
}

}  // namespace avemotion
