// Device arrays arrive through __cuda_array_interface__ (CuPy, PyTorch CUDA tensors, Numba; DLPack
// capsules are converted in Python). Outputs are caller-provided so that the log-mel can be written
// straight into a GPU engine's input buffer.
#ifdef AVSC_EDGE_WITH_CUDA
#include "cuda_bindings.h"

#include <pybind11/numpy.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "checks.h"
#include "cuda_kernels.h"

namespace py = pybind11;

namespace avsc {
namespace {

struct DeviceArray {
  std::uintptr_t ptr = 0;
  std::vector<int64_t> dims;
  std::string typestr;
  bool readonly = false;
  int64_t shape(size_t i) const { return dims.at(i); }
  int64_t size() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
};

using avsc::describe;  // the host-array overload, beside the device-array one below

std::string describe(const DeviceArray& a) {
  std::ostringstream s;
  s << "device array of shape (";
  for (size_t i = 0; i < a.dims.size(); ++i) s << (i ? ", " : "") << a.dims[i];
  s << "), typestr " << a.typestr;
  return s.str();
}

DeviceArray device_array(const py::handle& obj, const char* name, size_t ndim, const char* typestr, bool writable) {
  if (!py::hasattr(obj, "__cuda_array_interface__"))
    throw py::type_error(std::string(name) + " must be a CUDA device array (__cuda_array_interface__): a CuPy "
                         "array or a PyTorch CUDA tensor");
  py::dict cai = obj.attr("__cuda_array_interface__");
  DeviceArray a;
  py::tuple data = cai["data"];
  a.ptr = data[0].cast<std::uintptr_t>();
  a.readonly = data[1].cast<bool>();
  a.typestr = cai["typestr"].cast<std::string>();
  for (auto d : cai["shape"].cast<py::tuple>()) a.dims.push_back(d.cast<int64_t>());
  if (a.typestr != typestr)
    throw py::type_error(std::string(name) + " must have typestr " + typestr + ", got " + describe(a));
  if (a.dims.size() != ndim)
    throw py::value_error(std::string(name) + " must have " + std::to_string(ndim) + " dimensions, got " + describe(a));
  if (cai.contains("strides") && !cai["strides"].is_none()) {
    auto strides = cai["strides"].cast<py::tuple>();
    int64_t expect = std::string(typestr) == "|b1" ? 1 : 4;
    for (size_t i = ndim; i-- > 0;) {
      if (a.dims[i] > 1 && strides[i].cast<int64_t>() != expect)
        throw py::value_error(std::string(name) + " must be C-contiguous, got " + describe(a));
      expect *= a.dims[i];
    }
  }
  for (int64_t d : a.dims)
    if (d <= 0) throw py::value_error(std::string(name) + " has a zero-size dimension: " + describe(a));
  if (a.size() > kMaxElements) throw py::value_error(std::string(name) + " is too large: " + describe(a));
  if (a.ptr == 0 || (std::string(typestr) != "|b1" && a.ptr % 4 != 0))
    throw py::value_error(std::string(name) + " has a null or misaligned device pointer");
  if (writable && a.readonly) throw py::value_error(std::string(name) + " is read-only");
  return a;
}

void* stream_ptr(std::uintptr_t stream) { return reinterpret_cast<void*>(stream); }

void log_mel_cuda(const py::handle& x_obj, const py::handle& out_obj, const py::handle& window_obj,
                  const py::handle& mel_obj, int64_t hop, bool center, int pad_mode, float power, float top_db,
                  float preemphasis, int log_mode, float log_offset, float norm_shift, float norm_scale,
                  std::uintptr_t stream) {
  const DeviceArray x = device_array(x_obj, "waveform", 2, "<f4", false);
  const DeviceArray out = device_array(out_obj, "out", 3, "<f4", true);
  auto window = checked_array<float>(window_obj, "window", 1);
  auto mel = checked_array<float>(mel_obj, "mel_basis", 2);
  check_nonempty(mel, "mel_basis");
  const int64_t n_fft = window.shape(0);
  const LogMelParams p = make_params(n_fft, hop, center, pad_mode, power, top_db, 0,
                                     {preemphasis, log_mode, log_offset, norm_shift, norm_scale});
  if (n_fft > 4096) throw py::value_error("the CUDA log-mel supports n_fft <= 4096");
  if (mel.shape(1) != n_fft / 2 + 1) throw py::value_error("mel_basis must have n_fft/2+1 columns, got " + describe(mel));
  if (center && pad_mode == 1 && log_mel_signal_length(x.shape(1), p) <= n_fft / 2)
    throw py::value_error("pad_mode=reflect needs more than n_fft/2 samples; use pad_mode=constant");
  const int64_t frames = log_mel_num_frames(x.shape(1), p);
  if (frames < 1) throw py::value_error("waveform is shorter than one frame (center=False)");
  if (out.shape(0) != x.shape(0) || out.shape(1) != mel.shape(0) || out.shape(2) != frames)
    throw py::value_error("out must have shape [" + std::to_string(x.shape(0)) + ", " + std::to_string(mel.shape(0)) +
                          ", " + std::to_string(frames) + "], got " + describe(out));
  check_finite(window, "window");
  check_finite(mel, "mel_basis");
  const MelBasis basis = MelBasis::from_dense(mel.data(), mel.shape(0), mel.shape(1));
  py::gil_scoped_release release;
  cuda::log_mel(reinterpret_cast<const float*>(x.ptr), x.shape(0), x.shape(1), window.data(), basis, p,
                reinterpret_cast<float*>(out.ptr), stream_ptr(stream));
}

// A plan: the tables on the device once; calls write into a given device buffer.
class LogMelCudaPlan {
 public:
  LogMelCudaPlan(const py::handle& window_obj, const py::handle& mel_obj, int64_t hop, bool center, int pad_mode,
                 float power, float top_db, float preemphasis, int log_mode, float log_offset, float norm_shift,
                 float norm_scale) {
    auto window = checked_array<float>(window_obj, "window", 1);
    auto mel = checked_array<float>(mel_obj, "mel_basis", 2);
    check_nonempty(mel, "mel_basis");
    n_fft_ = window.shape(0);
    p_ = make_params(n_fft_, hop, center, pad_mode, power, top_db, 0,
                     {preemphasis, log_mode, log_offset, norm_shift, norm_scale});
    if (n_fft_ > 4096) throw py::value_error("the CUDA log-mel supports n_fft <= 4096");
    if (mel.shape(1) != n_fft_ / 2 + 1)
      throw py::value_error("mel_basis must have n_fft/2+1 columns, got " + describe(mel));
    check_finite(window, "window");
    check_finite(mel, "mel_basis");
    const MelBasis basis = MelBasis::from_dense(mel.data(), mel.shape(0), mel.shape(1));
    plan_ = std::make_unique<cuda::LogMelPlan>(window.data(), basis, p_);
  }

  int64_t frames(int64_t samples) const { return plan_->frames(samples); }

  void check_samples(int64_t samples) const {
    if (p_.center && p_.pad_mode == 1 && log_mel_signal_length(samples, p_) <= n_fft_ / 2)
      throw py::value_error("pad_mode=reflect needs more than n_fft/2 samples; use pad_mode=constant");
    if (plan_->frames(samples) < 1) throw py::value_error("waveform is shorter than one frame (center=False)");
  }

  // Device arrays (__cuda_array_interface__): x [N, samples] -> out [N, n_mels, frames].
  void call(const py::handle& x_obj, const py::handle& out_obj, std::uintptr_t stream) const {
    const DeviceArray x = device_array(x_obj, "waveform", 2, "<f4", false);
    const DeviceArray out = device_array(out_obj, "out", 3, "<f4", true);
    check_samples(x.shape(1));
    const int64_t frames = plan_->frames(x.shape(1));
    if (out.shape(0) != x.shape(0) || out.shape(1) != plan_->n_mels() || out.shape(2) != frames)
      throw py::value_error("out must have shape [" + std::to_string(x.shape(0)) + ", " +
                            std::to_string(plan_->n_mels()) + ", " + std::to_string(frames) + "], got " + describe(out));
    py::gil_scoped_release release;
    plan_->run(reinterpret_cast<const float*>(x.ptr), x.shape(0), x.shape(1), reinterpret_cast<float*>(out.ptr),
               stream_ptr(stream));
  }

  // Host waveforms (NumPy [N, samples]) into a raw device buffer of `capacity` floats (e.g. a
  // TensorRT engine's input binding).
  void run_host(const py::handle& x_obj, std::uintptr_t out_ptr, int64_t capacity, std::uintptr_t stream) {
    auto x = checked_array<float>(x_obj, "waveform", 2);
    check_nonempty(x, "waveform");
    check_finite(x, "waveform");
    check_samples(x.shape(1));
    const int64_t need = x.shape(0) * plan_->n_mels() * plan_->frames(x.shape(1));
    if (out_ptr == 0 || out_ptr % 4 != 0) throw py::value_error("out_ptr is a null or misaligned device pointer");
    if (capacity < need)
      throw py::value_error("the output buffer holds " + std::to_string(capacity) + " floats, the log-mel needs " +
                            std::to_string(need));
    py::gil_scoped_release release;
    plan_->run_host(x.data(), x.shape(0), x.shape(1), reinterpret_cast<float*>(out_ptr), stream_ptr(stream));
  }

 private:
  std::unique_ptr<cuda::LogMelPlan> plan_;
  LogMelParams p_;
  int64_t n_fft_ = 0;
};

cuda::AttentionProblem attention_problem(const py::tuple& args, float scale, const char* which) {
  if (args.size() != 5) throw py::value_error(std::string(which) + " must be a tuple (q, k, v, out, mask_or_None)");
  const DeviceArray q = device_array(args[0], "q", 4, "<f4", false);
  const DeviceArray k = device_array(args[1], "k", 4, "<f4", false);
  const DeviceArray v = device_array(args[2], "v", 4, "<f4", false);
  const DeviceArray out = device_array(args[3], "out", 4, "<f4", true);
  const AttentionShape s = attention_shape(q, k, v);
  if (out.dims != q.dims) throw py::value_error("out must have the shape of q, got " + describe(out));
  if (s.dim > 256) throw py::value_error("the CUDA attention supports head dims <= 256");
  const uint8_t* mask = nullptr;
  if (!args[4].is_none()) {
    const DeviceArray m = device_array(args[4], "key_padding_mask", 2, "|b1", false);
    if (m.shape(0) != s.batch || m.shape(1) != s.lk) throw py::value_error("key_padding_mask must be [B, Lk]");
    mask = reinterpret_cast<const uint8_t*>(m.ptr);
  }
  return {reinterpret_cast<const float*>(q.ptr), reinterpret_cast<const float*>(k.ptr),
          reinterpret_cast<const float*>(v.ptr), mask, reinterpret_cast<float*>(out.ptr), s, scale};
}

void cross_attention_cuda(const py::list& problems, float scale, std::uintptr_t stream) {
  if (problems.size() < 1 || problems.size() > 2) throw py::value_error("pass one or two (q, k, v, out, mask) tuples");
  if (!std::isfinite(scale) || scale <= 0) throw py::value_error("scale must be a positive finite number");
  std::vector<cuda::AttentionProblem> ps;
  for (auto p : problems) ps.push_back(attention_problem(p.cast<py::tuple>(), scale, "problem"));
  py::gil_scoped_release release;
  cuda::cross_attention(ps.data(), static_cast<int>(ps.size()), stream_ptr(stream));
}

}  // namespace

void register_cuda(py::module_& m) {
  m.def("cuda_device_count", &cuda::device_count);
  m.def("log_mel_cuda", &log_mel_cuda, py::arg("waveform"), py::arg("out"), py::arg("window"), py::arg("mel_basis"),
        py::arg("hop_length"), py::arg("center"), py::arg("pad_mode"), py::arg("power"), py::arg("top_db"),
        py::arg("preemphasis") = 0.0f, py::arg("log_mode") = 0, py::arg("log_offset") = 1e-5f,
        py::arg("norm_shift") = 0.0f, py::arg("norm_scale") = 1.0f, py::arg("stream") = 0);
  m.def("cross_attention_cuda", &cross_attention_cuda, py::arg("problems"), py::arg("scale"), py::arg("stream") = 0);
  py::class_<LogMelCudaPlan>(m, "LogMelCudaPlan")
      .def(py::init<const py::handle&, const py::handle&, int64_t, bool, int, float, float, float, int, float, float,
                    float>(),
           py::arg("window"), py::arg("mel_basis"), py::arg("hop_length"), py::arg("center"), py::arg("pad_mode"),
           py::arg("power"), py::arg("top_db"), py::arg("preemphasis") = 0.0f, py::arg("log_mode") = 0,
           py::arg("log_offset") = 1e-5f, py::arg("norm_shift") = 0.0f, py::arg("norm_scale") = 1.0f)
      .def("frames", &LogMelCudaPlan::frames, py::arg("samples"))
      .def("__call__", &LogMelCudaPlan::call, py::arg("waveform"), py::arg("out"), py::arg("stream") = 0)
      .def("run_host", &LogMelCudaPlan::run_host, py::arg("waveform"), py::arg("out_ptr"), py::arg("capacity"),
           py::arg("stream") = 0);
}

}  // namespace avsc
#endif  // AVSC_EDGE_WITH_CUDA
