#include "avemotion/running_stats.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace avemotion {
namespace {

// Chunk kernels, compiled for several instruction sets and chosen by the loader (GCC
// target_clones): the float -> double widening and the double arithmetic vectorize per target.
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define AVEMOTION_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define AVEMOTION_CLONES
#endif

template <typename T>
inline int64_t ChunkSumT(const T* x, int64_t rows, int64_t dim, const uint8_t* mask, double* sum) {
  std::fill(sum, sum + dim, 0.0);
  int64_t used = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (mask && !mask[r]) continue;
    ++used;
    const T* row = x + r * dim;
    for (int64_t d = 0; d < dim; ++d) sum[d] += static_cast<double>(row[d]);
  }
  return used;
}

template <typename T>
inline void ChunkM2T(const T* x, int64_t rows, int64_t dim, const uint8_t* mask,
                     const double* mean, double* m2) {
  std::fill(m2, m2 + dim, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    if (mask && !mask[r]) continue;
    const T* row = x + r * dim;
    for (int64_t d = 0; d < dim; ++d) {
      const double dv = static_cast<double>(row[d]) - mean[d];
      m2[d] += dv * dv;
    }
  }
}

AVEMOTION_CLONES int64_t ChunkSum(const float* x, int64_t rows, int64_t dim, const uint8_t* mask,
                                  double* sum) {
  return ChunkSumT(x, rows, dim, mask, sum);
}
AVEMOTION_CLONES int64_t ChunkSum(const double* x, int64_t rows, int64_t dim, const uint8_t* mask,
                                  double* sum) {
  return ChunkSumT(x, rows, dim, mask, sum);
}
AVEMOTION_CLONES void ChunkM2(const float* x, int64_t rows, int64_t dim, const uint8_t* mask,
                              const double* mean, double* m2) {
  ChunkM2T(x, rows, dim, mask, mean, m2);
}
AVEMOTION_CLONES void ChunkM2(const double* x, int64_t rows, int64_t dim, const uint8_t* mask,
                              const double* mean, double* m2) {
  ChunkM2T(x, rows, dim, mask, mean, m2);
}

template <typename T>
[[noreturn]] void ThrowNonFinite(const T* x, int64_t rows, int64_t dim, const uint8_t* mask,
                                 int64_t row_offset) {
  for (int64_t r = 0; r < rows; ++r) {
    if (mask && !mask[r]) continue;
    for (int64_t d = 0; d < dim; ++d) {
      if (!std::isfinite(static_cast<double>(x[r * dim + d]))) {
        std::ostringstream msg;
        msg << "x: expected finite values, got " << static_cast<double>(x[r * dim + d])
            << " at row " << (row_offset + r) << ", column " << d;
        throw std::invalid_argument(msg.str());
      }
    }
  }
  throw std::invalid_argument("x: values too large to accumulate (sum overflowed)");
}

}  // namespace

RunningStats::RunningStats(int64_t dim) : dim_(dim) {
  if (dim < 1) {
    throw std::invalid_argument("dim: expected an integer >= 1, got " + std::to_string(dim));
  }
  mean_.assign(dim, 0.0);
  m2_.assign(dim, 0.0);
  batch_mean_.assign(dim, 0.0);
  batch_m2_.assign(dim, 0.0);
  chunk_mean_.assign(dim, 0.0);
  chunk_m2_.assign(dim, 0.0);
}

void RunningStats::chan_merge(int64_t dim, double n_a, double* mean_a, double* m2_a, double n_b,
                             const double* mean_b, const double* m2_b) {
  if (n_b <= 0) return;
  const double n = n_a + n_b;
  const double wb = n_b / n;
  const double wab = n_a * n_b / n;
  for (int64_t d = 0; d < dim; ++d) {
    const double delta = mean_b[d] - mean_a[d];
    mean_a[d] += delta * wb;
    m2_a[d] += m2_b[d] + delta * delta * wab;
  }
}

template <typename T>
void RunningStats::update_impl(const T* x, int64_t n_rows, const uint8_t* mask) {
  if (n_rows < 0) throw std::invalid_argument("x: negative row count");
  int64_t batch_n = 0;
  std::fill(batch_mean_.begin(), batch_mean_.end(), 0.0);
  std::fill(batch_m2_.begin(), batch_m2_.end(), 0.0);
  for (int64_t start = 0; start < n_rows; start += kChunkRows) {
    const int64_t rows = std::min(kChunkRows, n_rows - start);
    const T* cx = x + start * dim_;
    const uint8_t* cm = mask ? mask + start : nullptr;
    const int64_t used = ChunkSum(cx, rows, dim_, cm, chunk_mean_.data());
    if (used == 0) continue;
    double check = 0.0;
    for (int64_t d = 0; d < dim_; ++d) {
      chunk_mean_[d] /= static_cast<double>(used);
      check += chunk_mean_[d] - chunk_mean_[d];
    }
    if (!std::isfinite(check) || check != 0.0) ThrowNonFinite(cx, rows, dim_, cm, start);
    ChunkM2(cx, rows, dim_, cm, chunk_mean_.data(), chunk_m2_.data());
    chan_merge(dim_, static_cast<double>(batch_n), batch_mean_.data(), batch_m2_.data(),
              static_cast<double>(used), chunk_mean_.data(), chunk_m2_.data());
    batch_n += used;
  }
  chan_merge(dim_, static_cast<double>(count_), mean_.data(), m2_.data(),
            static_cast<double>(batch_n), batch_mean_.data(), batch_m2_.data());
  count_ += batch_n;
}

void RunningStats::update(const float* x, int64_t n_rows, const uint8_t* mask) {
  update_impl(x, n_rows, mask);
}

void RunningStats::update(const double* x, int64_t n_rows, const uint8_t* mask) {
  update_impl(x, n_rows, mask);
}

void RunningStats::merge(const RunningStats& other) {
  if (other.dim_ != dim_) {
    throw std::invalid_argument("other: expected RunningStats of dim " + std::to_string(dim_) +
                                ", got dim " + std::to_string(other.dim_));
  }
  if (&other == this) {
    // Merging with itself doubles the count; mean stays, m2 doubles.
    for (auto& v : m2_) v *= 2.0;
    count_ *= 2;
    return;
  }
  chan_merge(dim_, static_cast<double>(count_), mean_.data(), m2_.data(),
            static_cast<double>(other.count_), other.mean_.data(), other.m2_.data());
  count_ += other.count_;
}

RunningStats RunningStats::from_state(int64_t dim, int64_t count, const std::vector<double>& mean,
                                     const std::vector<double>& m2) {
  RunningStats s(dim);
  if (count < 0) throw std::invalid_argument("count: expected >= 0, got " + std::to_string(count));
  if (static_cast<int64_t>(mean.size()) != dim || static_cast<int64_t>(m2.size()) != dim) {
    throw std::invalid_argument("state: expected mean and m2 of length " + std::to_string(dim) +
                                ", got " + std::to_string(mean.size()) + " and " +
                                std::to_string(m2.size()));
  }
  for (int64_t d = 0; d < dim; ++d) {
    if (!std::isfinite(mean[d]) || !std::isfinite(m2[d]) || m2[d] < 0.0) {
      throw std::invalid_argument("state: non-finite mean or negative/non-finite m2 at index " +
                                  std::to_string(d));
    }
  }
  s.count_ = count;
  s.mean_ = mean;
  s.m2_ = m2;
  return s;
}

}  // namespace avemotion
