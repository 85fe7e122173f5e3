// Single-pass, mergeable mean/variance over batches of vectors (Welford/Chan), float64 accumulation.
//
// Each update() splits its batch into chunks of kChunkRows rows, computes every chunk's exact
// mean and sum of squared deviations (two passes over a chunk that is still in cache), and merges the
// chunks with Chan et al.'s pairwise formula. merge() combines accumulators of parallel workers with
// the same formula, so the result does not depend on how the data was split (up to rounding).
// Variance is the population variance (ddof = 0), as numpy's default.
#pragma once

#include <cstdint>
#include <vector>

namespace avemotion {

class RunningStats {
 public:
  static constexpr int64_t kChunkRows = 1024;

  // dim >= 1, else std::invalid_argument. Allocates all buffers here; update() allocates nothing.
  explicit RunningStats(int64_t dim);

  // Accumulates n_rows rows of dim values (row-major). mask: n_rows bytes, nonzero = use the row,
  // or nullptr for all rows. A NaN/Inf in a used row throws std::invalid_argument naming the row;
  // the accumulator is then unchanged (the batch is merged only once it has been read whole).
  void update(const float* x, int64_t n_rows, const uint8_t* mask);
  void update(const double* x, int64_t n_rows, const uint8_t* mask);

  // Adds another accumulator's data. Dims must match (std::invalid_argument otherwise).
  void merge(const RunningStats& other);

  // Rebuilds an accumulator from its state (pickling). Validates sizes and values.
  static RunningStats from_state(int64_t dim, int64_t count, const std::vector<double>& mean,
                                const std::vector<double>& m2);

  int64_t dim() const { return dim_; }
  int64_t count() const { return count_; }
  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& m2() const { return m2_; }

 private:
  template <typename T>
  void update_impl(const T* x, int64_t n_rows, const uint8_t* mask);
  // Chan merge of (n_b, mean_b, m2_b) into (n_a, mean_a, m2_a).
  static void chan_merge(int64_t dim, double n_a, double* mean_a, double* m2_a, double n_b,
                        const double* mean_b, const double* m2_b);

  int64_t dim_;
  int64_t count_ = 0;
  std::vector<double> mean_, m2_;
  // Scratch, allocated once: the current batch and the current chunk.
  std::vector<double> batch_mean_, batch_m2_, chunk_mean_, chunk_m2_;
};

}  // namespace avemotion
