#include "avemotion/normalize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>
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

// ---- flat kernels -------------------------------------------------------------------------------
// The (n_rows, dim) buffer is processed as one flat run of floats. mean/inv are read from cyclic
// extensions (ext[i] = v[i % dim] for i < dim + lanes), so a vector that crosses a row boundary (or
// several, for dim < lanes) needs no tail handling. Large outputs use non-temporal stores once the
// destination is aligned: the output does not fit in cache anyway, and streaming it skips the
// read-for-ownership, which is what lets the kernel reach copy bandwidth.
constexpr int64_t kCheckBlock = 4096;  // floats between NaN checks (then the row is located exactly)

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) int64_t FlatAVX512(
    const float* x, float* out, int64_t total, int64_t dim, const float* mean_ext,
    const float* inv_ext, bool check, bool stream) {
  int64_t p = 0, d = 0;
  __m512 acc = _mm512_setzero_ps();
  // Prologue: masked vector up to the 64-byte boundary of out (only when streaming).
  if (stream) {
    const int64_t mis = (reinterpret_cast<uintptr_t>(out) & 63) / 4;
    if (mis) {
      const int64_t n = std::min<int64_t>(16 - mis, total);
      const __mmask16 m = static_cast<__mmask16>((1u << n) - 1u);
      __m512 v = _mm512_maskz_loadu_ps(m, x);
      acc = _mm512_add_ps(acc, _mm512_sub_ps(v, v));
      __m512 r = _mm512_mul_ps(_mm512_sub_ps(v, _mm512_maskz_loadu_ps(m, mean_ext)),
                               _mm512_maskz_loadu_ps(m, inv_ext));
      _mm512_mask_storeu_ps(out, m, r);
      p = n;
      d = n % dim;
    }
  }
  int64_t next_check = p + kCheckBlock;
  for (; p + 16 <= total; p += 16) {
    __m512 v = _mm512_loadu_ps(x + p);
    acc = _mm512_add_ps(acc, _mm512_sub_ps(v, v));
    __m512 r = _mm512_mul_ps(_mm512_sub_ps(v, _mm512_loadu_ps(mean_ext + d)),
                             _mm512_loadu_ps(inv_ext + d));
    if (stream) {
      _mm512_stream_ps(out + p, r);
    } else {
      _mm512_storeu_ps(out + p, r);
    }
    d += 16;
    while (d >= dim) d -= dim;
    if (check && p >= next_check) {
      if (_mm512_cmp_ps_mask(acc, acc, _CMP_UNORD_Q) != 0) {
        if (stream) _mm_sfence();
        return FindNonFiniteScalar(x, p + 16);
      }
      next_check = p + kCheckBlock;
    }
  }
  if (p < total) {
    const __mmask16 m = static_cast<__mmask16>((1u << (total - p)) - 1u);
    __m512 v = _mm512_maskz_loadu_ps(m, x + p);
    acc = _mm512_add_ps(acc, _mm512_sub_ps(v, v));
    __m512 r = _mm512_mul_ps(_mm512_sub_ps(v, _mm512_maskz_loadu_ps(m, mean_ext + d)),
                             _mm512_maskz_loadu_ps(m, inv_ext + d));
    _mm512_mask_storeu_ps(out + p, m, r);
  }
  if (stream) _mm_sfence();
  if (check && _mm512_cmp_ps_mask(acc, acc, _CMP_UNORD_Q) != 0) return FindNonFiniteScalar(x, total);
  return -1;
}

__attribute__((target("avx2,fma"))) int64_t FlatAVX2(const float* x, float* out, int64_t total,
                                                     int64_t dim, const float* mean_ext,
                                                     const float* inv_ext, bool check,
                                                     bool stream) {
  int64_t p = 0, d = 0;
  __m256 acc = _mm256_setzero_ps();
  if (stream) {
    // Scalar prologue up to the 32-byte boundary of out.
    while (p < total && (reinterpret_cast<uintptr_t>(out + p) & 31) != 0) {
      const float v = x[p];
      acc = _mm256_add_ps(acc, _mm256_set1_ps(v - v));
      out[p] = (v - mean_ext[d]) * inv_ext[d];
      ++p;
      if (++d == dim) d = 0;
    }
  }
  int64_t next_check = p + kCheckBlock;
  for (; p + 8 <= total; p += 8) {
    __m256 v = _mm256_loadu_ps(x + p);
    acc = _mm256_add_ps(acc, _mm256_sub_ps(v, v));
    __m256 r = _mm256_mul_ps(_mm256_sub_ps(v, _mm256_loadu_ps(mean_ext + d)),
                             _mm256_loadu_ps(inv_ext + d));
    if (stream) {
      _mm256_stream_ps(out + p, r);
    } else {
      _mm256_storeu_ps(out + p, r);
    }
    d += 8;
    while (d >= dim) d -= dim;
    if (check && p >= next_check) {
      if (_mm256_movemask_ps(_mm256_cmp_ps(acc, acc, _CMP_UNORD_Q)) != 0) {
        if (stream) _mm_sfence();
        return FindNonFiniteScalar(x, p + 8);
      }
      next_check = p + kCheckBlock;
    }
  }
  for (; p < total; ++p) {
    const float v = x[p];
    acc = _mm256_add_ps(acc, _mm256_set1_ps(v - v));
    out[p] = (v - mean_ext[d]) * inv_ext[d];
    if (++d == dim) d = 0;
  }
  if (stream) _mm_sfence();
  if (check && _mm256_movemask_ps(_mm256_cmp_ps(acc, acc, _CMP_UNORD_Q)) != 0) {
    return FindNonFiniteScalar(x, total);
  }
  return -1;
}
#endif  // AVEMOTION_X86

// Outputs at least this large are written with non-temporal stores (out of place only).
constexpr int64_t kStreamBytes = int64_t{8} << 20;

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
#ifdef AVEMOTION_X86
  const SimdLevel level = ActiveSimdLevel();
  if (level != SimdLevel::kScalar) {
    const int64_t lanes = level == SimdLevel::kAVX512 ? 16 : 8;
    const int64_t total = n_rows * dim;
    // Cyclic extensions of mean/inv_std; reused across calls on the same thread.
    thread_local std::vector<float> ext;
    const int64_t ext_len = dim + lanes;
    if (static_cast<int64_t>(ext.size()) < 2 * ext_len) ext.resize(2 * ext_len);
    float* mean_ext = ext.data();
    float* inv_ext = ext.data() + ext_len;
    // ext = v, then its own start repeated: ext[i] = v[i % dim] without a modulo per element.
    std::copy(mean, mean + dim, mean_ext);
    std::copy(inv_std, inv_std + dim, inv_ext);
    for (int64_t i = dim; i < ext_len; ++i) {
      mean_ext[i] = mean_ext[i - dim];
      inv_ext[i] = inv_ext[i - dim];
    }
    const bool stream = x != out && total * static_cast<int64_t>(sizeof(float)) >= kStreamBytes;
    const int64_t bad = level == SimdLevel::kAVX512
                            ? FlatAVX512(x, out, total, dim, mean_ext, inv_ext, check_finite, stream)
                            : FlatAVX2(x, out, total, dim, mean_ext, inv_ext, check_finite, stream);
    return bad < 0 ? -1 : bad / dim;
  }
#endif
  for (int64_t n = 0; n < n_rows; ++n) {
    const bool ok = RowScalar(x + n * dim, out + n * dim, dim, mean, inv_std);
    if (check_finite && !ok) return n;
  }
  return -1;
}

int64_t PrepareInvStd(const float* std_dev, int64_t dim, float eps, float* inv_std) {
  if (!std::isfinite(eps) || eps < 0.0f) {
    std::ostringstream msg;
    msg << "eps: expected a finite value >= 0, got " << eps;
    throw std::invalid_argument(msg.str());
  }
  int64_t constant = 0;
  for (int64_t d = 0; d < dim; ++d) {
    const float s = std_dev[d];
    if (!std::isfinite(s) || s < 0.0f || (eps <= 0.0f && s == 0.0f)) {
      std::ostringstream msg;
      msg << "std: expected finite values > 0, got " << s << " at index " << d;
      throw std::invalid_argument(msg.str());
    }
    if (s < eps) {  // a constant feature: scale 1 (scikit-learn's rule), i.e. out = x - mean
      inv_std[d] = 1.0f;
      ++constant;
    } else {
      inv_std[d] = static_cast<float>(1.0 / static_cast<double>(s));
    }
  }
  return constant;
}

}  // namespace avemotion
