// An ONNX model run through ONNX Runtime's C API, with the library loaded at run time.
//
// Why run time: the onnxruntime / onnxruntime-gpu Python wheels ship libonnxruntime.so.1.X but no
// headers and no link-time stub. The C API is ABI-stable and versioned, so this file is compiled
// against headers of API version ORT_API_VERSION (e.g. Debian's libonnxruntime-dev, 21) and works with
// any installed library whose API version is >= that one. The caller passes the library's path (the
// Python layer finds it inside the installed onnxruntime package).
//
// Contract
//   - Only float32 tensors (inputs and outputs); any other element type throws at construction.
//   - Inputs are given in the session's input order (inputs()), each as a pointer to C-contiguous
//     float32 data plus its shape. The data is wrapped, not copied (CreateTensorWithDataAsOrtValue),
//     and must stay valid for the duration of run().
//   - Outputs whose dimensions are static except the first (batch) are written into buffers owned by
//     the model, grown to the largest batch seen and reused; other outputs are allocated by ONNX
//     Runtime per call. run() then copies each output into the caller's destination.
//   - run() may be called from several threads at once, with the Python GIL released. One call at a
//     time uses the preallocated output buffers (guarded by a mutex taken with try_lock); a call that
//     finds them busy does not wait but lets ONNX Runtime allocate its outputs.
//   - The library, once loaded, stays loaded for the life of the process (unloading ONNX Runtime is
//     unsafe); a second model asking for a different library path throws.
// Errors: std::invalid_argument for bad options or inputs, std::runtime_error for library, session
// and run failures, each naming what was expected and what was found. Nothing is printed.
#pragma once

#ifdef AVEMOTION_HAVE_ORT

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace avemotion {

struct OrtModelOptions {
  std::string library_path;     // absolute path of libonnxruntime.so.1.X (required)
  std::string model_path;       // .onnx file (required)
  std::string provider = "cpu"; // "cpu" or "cuda"
  int device_id = 0;            // CUDA device ordinal, >= 0
  int intra_op_threads = 0;     // 0 = ONNX Runtime's default (one per physical core), else >= 1
  int inter_op_threads = 0;     // 0 = default
  bool strict = false;          // "cuda" unavailable: throw instead of falling back to the CPU
  int graph_optimization = 99;  // 0 none, 1 basic, 2 extended, 99 all

  // Throws std::invalid_argument naming the bad field, the expected and the actual value.
  void validate() const;
};

// Name, element type (ONNX enum, 1 = float) and shape (-1 for a dynamic dimension).
struct OrtTensorSpec {
  std::string name;
  int element_type = 0;
  std::vector<int64_t> shape;
};

// One input of run(): C-contiguous float32 data of the given shape.
struct OrtInputView {
  const float* data = nullptr;
  std::vector<int64_t> shape;
};

// One output of run(): filled with the output's shape and values (resized as needed).
struct OrtOutput {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

// Version string of the library at `library_path` and the highest API version it serves, loading
// it if needed. Throws std::runtime_error when it cannot be loaded.
std::string OrtLibraryVersion(const std::string& library_path);

// The API version the headers this module was built with define (ORT_API_VERSION).
int OrtHeadersApiVersion();

// Execution providers the loaded library was built with (e.g. "CUDAExecutionProvider",
// "CPUExecutionProvider"); loads the library if needed.
std::vector<std::string> OrtAvailableProviders(const std::string& library_path);

class OrtModel {
 public:
  // Loads the library (once per process), creates the session once. With provider "cuda": when the
  // CUDA provider cannot be appended or the session cannot be created with it, either throws
  // (strict) or falls back to the CPU and records the reason in fallback_reason().
  explicit OrtModel(const OrtModelOptions& options);
  ~OrtModel();
  OrtModel(const OrtModel&) = delete;
  OrtModel& operator=(const OrtModel&) = delete;

  const std::vector<OrtTensorSpec>& inputs() const { return inputs_; }
  const std::vector<OrtTensorSpec>& outputs() const { return outputs_; }
  // "cpu" or "cuda": the provider the session actually uses.
  const std::string& provider() const { return provider_; }
  // Empty unless a requested CUDA provider fell back to the CPU; then why.
  const std::string& fallback_reason() const { return fallback_reason_; }
  // Largest batch (first dimension of the first input) seen by run() so far.
  int64_t max_batch_seen() const { return max_batch_.load(); }

  // Runs the model. `inputs` has one entry per inputs() in that order; every shape must have the
  // input's rank and match its static dimensions; all inputs share the first (batch) dimension.
  // `outputs` is resized to outputs().size() and filled. Throws on any mismatch or ORT error.
  void run(const std::vector<OrtInputView>& inputs, std::vector<OrtOutput>* outputs);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<OrtTensorSpec> inputs_;
  std::vector<OrtTensorSpec> outputs_;
  std::string provider_;
  std::string fallback_reason_;
  std::atomic<int64_t> max_batch_{0};
  std::mutex run_mutex_;
};

}  // namespace avemotion

#endif  // AVEMOTION_HAVE_ORT
