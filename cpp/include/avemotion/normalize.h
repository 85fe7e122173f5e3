// Feature normalization: out = (x - mean) / std over float32 rows, one pass over memory.
//
// Contract
//   x, out     n_rows * dim floats, row-major, any alignment. out == x (exact alias) normalizes in
//              place; any other overlap is undefined.
//   mean       dim floats.
//   inv_std    dim floats, the reciprocal 1/std, precomputed by the caller (PrepareInvStd).
//   Returns    -1 when every input value was finite, else the index of the first row holding a NaN
//              or +-Inf. In that case nothing of x has been changed when normalizing in place (the
//              input is scanned before it is overwritten); when out-of-place, out is unspecified.
//   check_finite=false skips the scan and propagates NaN/Inf (the "propagate" policy).
#pragma once

#include <cstdint>

namespace avemotion {

int64_t NormalizeRows(const float* x, float* out, int64_t n_rows, int64_t dim, const float* mean,
                      const float* inv_std, bool check_finite);

// Index of the first non-finite value among n floats, or -1.
int64_t FindNonFinite(const float* x, int64_t n);

// inv_std[d] = 1 / std[d], computed in double and rounded once; where std[d] < eps the feature is
// constant and inv_std[d] = 1 (scikit-learn's rule: scale 1, so out = x - mean, never a 1/eps blow-up).
// Throws std::invalid_argument if eps is NaN/Inf or < 0, or a std is NaN/Inf, < 0 or 0 (when eps == 0),
// naming the index and value. Returns the number of constant entries (std < eps).
int64_t PrepareInvStd(const float* std, int64_t dim, float eps, float* inv_std);

}  // namespace avemotion
