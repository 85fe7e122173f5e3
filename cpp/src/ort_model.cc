#include "avemotion/ort_model.h"

#ifdef AVEMOTION_HAVE_ORT

#include <dlfcn.h>
#include <onnxruntime_c_api.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace avemotion {
namespace {

std::string ShapeStr(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    out += s[i] < 0 ? std::string("?") : std::to_string(s[i]);
    if (s.size() == 1 || i + 1 < s.size()) out += ",";
    if (i + 1 < s.size()) out += " ";
  }
  return out + ")";
}

// The process-wide library: loaded once, never unloaded.
struct Runtime {
  std::string path;
  void* handle = nullptr;
  const OrtApiBase* base = nullptr;
  const OrtApi* api = nullptr;
  OrtEnv* env = nullptr;
};

std::mutex g_runtime_mutex;
Runtime* g_runtime = nullptr;

std::string TakeError(const OrtApi* api, OrtStatus* status) {
  std::string msg = api->GetErrorMessage(status);
  api->ReleaseStatus(status);
  return msg;
}

void Check(const OrtApi* api, OrtStatus* status, const char* what) {
  if (status != nullptr) throw std::runtime_error(std::string(what) + ": " + TakeError(api, status));
}

Runtime& LoadRuntime(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_runtime_mutex);
  if (g_runtime != nullptr) {
    if (g_runtime->path != path) {
      throw std::runtime_error("library_path: ONNX Runtime is already loaded from '" + g_runtime->path +
                               "' in this process, got a request for '" + path + "'");
    }
    return *g_runtime;
  }
  if (path.empty()) throw std::invalid_argument("library_path: expected the path of libonnxruntime.so, got ''");
  // RTLD_LOCAL: keep its symbols away from onnxruntime's Python binding loaded in the same process.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* err = dlerror();
    throw std::runtime_error("library_path: cannot load ONNX Runtime from '" + path + "': " +
                             (err ? err : "unknown dlopen error"));
  }
  using GetApiBaseFn = const OrtApiBase* (*)();
  auto get_base = reinterpret_cast<GetApiBaseFn>(dlsym(handle, "OrtGetApiBase"));
  if (get_base == nullptr) {
    dlclose(handle);
    throw std::runtime_error("library_path: '" + path + "' has no symbol OrtGetApiBase (not ONNX Runtime?)");
  }
  const OrtApiBase* base = get_base();
  const OrtApi* api = base->GetApi(ORT_API_VERSION);
  if (api == nullptr) {
    std::string version = base->GetVersionString();
    dlclose(handle);
    throw std::runtime_error("library_path: ONNX Runtime " + version + " at '" + path +
                             "' does not serve C API version " + std::to_string(ORT_API_VERSION) +
                             " (this build's headers); install onnxruntime >= 1." +
                             std::to_string(ORT_API_VERSION) + " or rebuild against older headers");
  }
  OrtEnv* env = nullptr;
  Check(api, api->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "avemotion", &env), "CreateEnv");
  g_runtime = new Runtime{path, handle, base, api, env};
  return *g_runtime;
}

OrtTensorSpec SpecFrom(const OrtApi* api, OrtTypeInfo* info, std::string name) {
  OrtTensorSpec spec;
  spec.name = std::move(name);
  const OrtTensorTypeAndShapeInfo* t = nullptr;
  OrtStatus* st = api->CastTypeInfoToTensorInfo(info, &t);
  if (st != nullptr || t == nullptr) {
    if (st) api->ReleaseStatus(st);
    api->ReleaseTypeInfo(info);
    throw std::runtime_error("model: '" + spec.name + "' is not a tensor (expected float32 tensors only)");
  }
  ONNXTensorElementDataType type;
  size_t n = 0;
  Check(api, api->GetTensorElementType(t, &type), "GetTensorElementType");
  Check(api, api->GetDimensionsCount(t, &n), "GetDimensionsCount");
  spec.shape.resize(n);
  Check(api, api->GetDimensions(t, spec.shape.data(), n), "GetDimensions");
  spec.element_type = static_cast<int>(type);
  api->ReleaseTypeInfo(info);
  for (auto& d : spec.shape) {
    if (d < 0) d = -1;
  }
  return spec;
}

}  // namespace

void OrtModelOptions::validate() const {
  if (library_path.empty()) {
    throw std::invalid_argument("library_path: expected the path of libonnxruntime.so.1.*, got ''");
  }
  if (model_path.empty()) throw std::invalid_argument("model_path: expected an .onnx file path, got ''");
  if (provider != "cpu" && provider != "cuda") {
    throw std::invalid_argument("provider: expected 'cpu' or 'cuda', got '" + provider + "'");
  }
  if (device_id < 0) {
    throw std::invalid_argument("device_id: expected >= 0, got " + std::to_string(device_id));
  }
  if (intra_op_threads < 0) {
    throw std::invalid_argument("intra_op_threads: expected 0 (default) or >= 1, got " +
                                std::to_string(intra_op_threads));
  }
  if (inter_op_threads < 0) {
    throw std::invalid_argument("inter_op_threads: expected 0 (default) or >= 1, got " +
                                std::to_string(inter_op_threads));
  }
  if (graph_optimization != 0 && graph_optimization != 1 && graph_optimization != 2 &&
      graph_optimization != 99) {
    throw std::invalid_argument("graph_optimization: expected 0, 1, 2 or 99, got " +
                                std::to_string(graph_optimization));
  }
}

std::string OrtLibraryVersion(const std::string& library_path) {
  return LoadRuntime(library_path).base->GetVersionString();
}

int OrtHeadersApiVersion() { return ORT_API_VERSION; }

std::vector<std::string> OrtAvailableProviders(const std::string& library_path) {
  const OrtApi* api = LoadRuntime(library_path).api;
  char** names = nullptr;
  int n = 0;
  Check(api, api->GetAvailableProviders(&names, &n), "GetAvailableProviders");
  std::vector<std::string> out(names, names + n);
  Check(api, api->ReleaseAvailableProviders(names, n), "ReleaseAvailableProviders");
  return out;
}

struct OrtModel::Impl {
  const OrtApi* api = nullptr;
  OrtSession* session = nullptr;
  OrtMemoryInfo* cpu_memory = nullptr;
  std::vector<std::string> input_names, output_names;
  std::vector<const char*> input_cnames, output_cnames;
  // Per output: whether only its first dimension is dynamic (then preallocated), and the buffer.
  std::vector<bool> preallocated;
  std::vector<int64_t> per_row;  // product of dims after the first
  std::vector<std::vector<float>> buffers;

  ~Impl() {
    if (api == nullptr) return;
    if (cpu_memory) api->ReleaseMemoryInfo(cpu_memory);
    if (session) api->ReleaseSession(session);
  }
};

namespace {

OrtSessionOptions* MakeOptions(const OrtApi* api, const OrtModelOptions& o) {
  OrtSessionOptions* so = nullptr;
  Check(api, api->CreateSessionOptions(&so), "CreateSessionOptions");
  try {
    if (o.intra_op_threads > 0) {
      Check(api, api->SetIntraOpNumThreads(so, o.intra_op_threads), "SetIntraOpNumThreads");
    }
    if (o.inter_op_threads > 0) {
      Check(api, api->SetInterOpNumThreads(so, o.inter_op_threads), "SetInterOpNumThreads");
    }
    Check(api,
          api->SetSessionGraphOptimizationLevel(so, static_cast<GraphOptimizationLevel>(o.graph_optimization)),
          "SetSessionGraphOptimizationLevel");
  } catch (...) {
    api->ReleaseSessionOptions(so);
    throw;
  }
  return so;
}

// Appends the CUDA provider; returns "" on success or the reason it failed.
std::string AppendCuda(const OrtApi* api, OrtSessionOptions* so, int device_id) {
  OrtCUDAProviderOptionsV2* cuda = nullptr;
  OrtStatus* st = api->CreateCUDAProviderOptions(&cuda);
  if (st != nullptr) return TakeError(api, st);
  std::string dev = std::to_string(device_id);
  const char* keys[] = {"device_id"};
  const char* values[] = {dev.c_str()};
  st = api->UpdateCUDAProviderOptions(cuda, keys, values, 1);
  if (st == nullptr) st = api->SessionOptionsAppendExecutionProvider_CUDA_V2(so, cuda);
  api->ReleaseCUDAProviderOptions(cuda);
  return st == nullptr ? std::string() : TakeError(api, st);
}

}  // namespace

OrtModel::OrtModel(const OrtModelOptions& options) : impl_(new Impl) {
  options.validate();
  Runtime& rt = LoadRuntime(options.library_path);
  const OrtApi* api = rt.api;
  impl_->api = api;

  provider_ = "cpu";
  OrtSessionOptions* so = MakeOptions(api, options);
  OrtStatus* st = nullptr;
  if (options.provider == "cuda") {
    std::string why = AppendCuda(api, so, options.device_id);
    if (why.empty()) {
      st = api->CreateSession(rt.env, options.model_path.c_str(), so, &impl_->session);
      if (st == nullptr) {
        provider_ = "cuda";
      } else {
        why = "session creation with CUDA failed: " + TakeError(api, st);
        st = nullptr;
      }
    }
    if (!why.empty()) {
      api->ReleaseSessionOptions(so);
      if (options.strict) {
        throw std::runtime_error("provider: 'cuda' requested in strict mode but unavailable: " + why);
      }
      fallback_reason_ = "CUDA execution provider unavailable, using the CPU: " + why;
      so = MakeOptions(api, options);
    }
  }
  if (impl_->session == nullptr) {
    st = api->CreateSession(rt.env, options.model_path.c_str(), so, &impl_->session);
  }
  api->ReleaseSessionOptions(so);
  if (st != nullptr) {
    throw std::runtime_error("model_path: cannot create an ONNX Runtime session for '" + options.model_path +
                             "': " + TakeError(api, st));
  }

  OrtAllocator* alloc = nullptr;
  Check(api, api->GetAllocatorWithDefaultOptions(&alloc), "GetAllocatorWithDefaultOptions");
  size_t n_in = 0, n_out = 0;
  Check(api, api->SessionGetInputCount(impl_->session, &n_in), "SessionGetInputCount");
  Check(api, api->SessionGetOutputCount(impl_->session, &n_out), "SessionGetOutputCount");
  for (size_t i = 0; i < n_in + n_out; ++i) {
    const bool is_in = i < n_in;
    const size_t k = is_in ? i : i - n_in;
    char* raw = nullptr;
    Check(api, is_in ? api->SessionGetInputName(impl_->session, k, alloc, &raw)
                     : api->SessionGetOutputName(impl_->session, k, alloc, &raw),
          "SessionGetInputName/OutputName");
    std::string name(raw);
    Check(api, api->AllocatorFree(alloc, raw), "AllocatorFree");
    OrtTypeInfo* info = nullptr;
    Check(api, is_in ? api->SessionGetInputTypeInfo(impl_->session, k, &info)
                     : api->SessionGetOutputTypeInfo(impl_->session, k, &info),
          "SessionGetInputTypeInfo/OutputTypeInfo");
    OrtTensorSpec spec = SpecFrom(api, info, name);
    if (spec.element_type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
      throw std::runtime_error(std::string(is_in ? "input" : "output") + " '" + name +
                               "': expected element type float32 (1), got " +
                               std::to_string(spec.element_type));
    }
    (is_in ? inputs_ : outputs_).push_back(std::move(spec));
  }
  for (const auto& s : inputs_) impl_->input_names.push_back(s.name);
  for (const auto& s : outputs_) {
    impl_->output_names.push_back(s.name);
    bool static_rest = !s.shape.empty();
    int64_t row = 1;
    for (size_t d = 1; d < s.shape.size(); ++d) {
      if (s.shape[d] < 0) static_rest = false;
      else row *= s.shape[d];
    }
    impl_->preallocated.push_back(static_rest);
    impl_->per_row.push_back(row);
    impl_->buffers.emplace_back();
  }
  for (const auto& n : impl_->input_names) impl_->input_cnames.push_back(n.c_str());
  for (const auto& n : impl_->output_names) impl_->output_cnames.push_back(n.c_str());
  Check(api, api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &impl_->cpu_memory),
        "CreateCpuMemoryInfo");
}

OrtModel::~OrtModel() = default;

void OrtModel::run(const std::vector<OrtInputView>& inputs, std::vector<OrtOutput>* outputs) {
  if (outputs == nullptr) throw std::invalid_argument("outputs: expected a vector, got nullptr");
  if (inputs.size() != inputs_.size()) {
    throw std::invalid_argument("inputs: expected " + std::to_string(inputs_.size()) + " arrays, got " +
                                std::to_string(inputs.size()));
  }
  int64_t batch = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& spec = inputs_[i];
    const auto& shape = inputs[i].shape;
    bool ok = shape.size() == spec.shape.size();
    for (size_t d = 0; ok && d < shape.size(); ++d) {
      if (shape[d] < 0 || (spec.shape[d] >= 0 && shape[d] != spec.shape[d])) ok = false;
    }
    if (!ok) {
      throw std::invalid_argument("input '" + spec.name + "': expected shape " + ShapeStr(spec.shape) +
                                  ", got " + ShapeStr(shape));
    }
    if (inputs[i].data == nullptr) {
      throw std::invalid_argument("input '" + spec.name + "': data is null");
    }
    if (!shape.empty()) {
      if (batch < 0) batch = shape[0];
      else if (shape[0] != batch) {
        throw std::invalid_argument("input '" + spec.name + "': expected batch size " + std::to_string(batch) +
                                    " (as the first input), got " + std::to_string(shape[0]));
      }
    }
  }

  const OrtApi* api = impl_->api;
  // The preallocated output buffers serve one call at a time. A concurrent caller does not wait for
  // them: its outputs are allocated by ONNX Runtime instead (the session itself is thread-safe).
  std::unique_lock<std::mutex> lock(run_mutex_, std::try_to_lock);
  const bool use_buffers = lock.owns_lock();
  std::vector<OrtValue*> in_values(inputs.size(), nullptr);
  std::vector<OrtValue*> out_values(outputs_.size(), nullptr);
  auto release_all = [&]() {
    for (auto* v : in_values) if (v) api->ReleaseValue(v);
    for (auto* v : out_values) if (v) api->ReleaseValue(v);
  };
  try {
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto& shape = inputs[i].shape;
      int64_t count = 1;
      for (int64_t d : shape) count *= d;
      Check(api,
            api->CreateTensorWithDataAsOrtValue(impl_->cpu_memory, const_cast<float*>(inputs[i].data),
                                                static_cast<size_t>(count) * sizeof(float), shape.data(),
                                                shape.size(), ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT,
                                                &in_values[i]),
            "CreateTensorWithDataAsOrtValue (input)");
    }
    int64_t seen = max_batch_.load();
    while (batch > seen && !max_batch_.compare_exchange_weak(seen, batch)) {
    }
    for (size_t o = 0; o < outputs_.size() && use_buffers; ++o) {
      if (!impl_->preallocated[o] || batch < 0) continue;
      std::vector<int64_t> shape = outputs_[o].shape;
      shape[0] = batch;
      auto& buf = impl_->buffers[o];
      const size_t need = static_cast<size_t>(std::max(batch, max_batch_.load()) * impl_->per_row[o]);
      if (buf.size() < need) buf.resize(need);  // grows to the largest batch seen, then reused
      Check(api,
            api->CreateTensorWithDataAsOrtValue(impl_->cpu_memory, buf.data(),
                                                static_cast<size_t>(batch * impl_->per_row[o]) * sizeof(float),
                                                shape.data(), shape.size(),
                                                ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &out_values[o]),
            "CreateTensorWithDataAsOrtValue (output)");
    }
    OrtStatus* st = api->Run(impl_->session, nullptr, impl_->input_cnames.data(), in_values.data(),
                             in_values.size(), impl_->output_cnames.data(), out_values.size(),
                             out_values.data());
    if (st != nullptr) throw std::runtime_error("ONNX Runtime Run failed: " + TakeError(api, st));

    outputs->resize(outputs_.size());
    for (size_t o = 0; o < outputs_.size(); ++o) {
      OrtTensorTypeAndShapeInfo* info = nullptr;
      Check(api, api->GetTensorTypeAndShape(out_values[o], &info), "GetTensorTypeAndShape");
      size_t nd = 0;
      OrtStatus* s1 = api->GetDimensionsCount(info, &nd);
      std::vector<int64_t> shape(nd);
      OrtStatus* s2 = s1 ? nullptr : api->GetDimensions(info, shape.data(), nd);
      api->ReleaseTensorTypeAndShapeInfo(info);
      Check(api, s1, "GetDimensionsCount");
      Check(api, s2, "GetDimensions");
      int64_t count = 1;
      for (int64_t d : shape) count *= d;
      void* data = nullptr;
      Check(api, api->GetTensorMutableData(out_values[o], &data), "GetTensorMutableData");
      OrtOutput& dst = (*outputs)[o];
      dst.shape = std::move(shape);
      dst.values.resize(static_cast<size_t>(count));
      if (count > 0) std::memcpy(dst.values.data(), data, static_cast<size_t>(count) * sizeof(float));
    }
  } catch (...) {
    release_all();
    throw;
  }
  release_all();
}

}  // namespace avemotion

#endif  // AVEMOTION_HAVE_ORT
