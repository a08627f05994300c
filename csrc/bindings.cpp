// The private extension module avsc_edge._C: argument checks, GIL release, dispatch to the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>
#include <vector>

#include "attention.h"
#include "checks.h"
#include "logmel.h"
#include "parallel.h"

#ifdef AVSC_EDGE_WITH_CUDA
#include "cuda_bindings.h"
#endif

namespace py = pybind11;
using namespace avsc;

namespace {

py::array_t<float> log_mel(const py::handle& x_obj, const py::handle& window_obj, const py::handle& mel_obj,
                           int64_t hop, bool center, int pad_mode, float power, float top_db, float preemphasis,
                           int log_mode, float log_offset, float norm_shift, float norm_scale, int threads) {
  auto x = checked_array<float>(x_obj, "waveform", 2);
  auto window = checked_array<float>(window_obj, "window", 1);
  auto mel = checked_array<float>(mel_obj, "mel_basis", 2);
  check_nonempty(x, "waveform");
  check_nonempty(mel, "mel_basis");
  const int64_t n_fft = window.shape(0);
  auto p = make_params(n_fft, hop, center, pad_mode, power, top_db, threads,
                       {preemphasis, log_mode, log_offset, norm_shift, norm_scale});
  if (mel.shape(1) != n_fft / 2 + 1)
    throw py::value_error("mel_basis must have n_fft/2+1 = " + std::to_string(n_fft / 2 + 1) + " columns, got " +
                          describe(mel));
  const int64_t n_signals = x.shape(0), samples = x.shape(1);
  if (center && pad_mode == 1 && log_mel_signal_length(samples, p) <= n_fft / 2)
    throw py::value_error("pad_mode=reflect needs more than n_fft/2 = " + std::to_string(n_fft / 2) +
                          " samples, got " + std::to_string(log_mel_signal_length(samples, p)) +
                          "; use pad_mode=constant");
  const int64_t frames = log_mel_num_frames(samples, p);
  if (frames < 1)
    throw py::value_error("waveform has " + std::to_string(samples) + " samples, fewer than n_fft = " +
                          std::to_string(n_fft) + " with center=False: no complete frame");
  if (n_signals * mel.shape(0) * frames > kMaxElements) throw py::value_error("log-mel output would be too large");
  check_finite(x, "waveform");
  check_finite(window, "window");
  check_finite(mel, "mel_basis");
  const MelBasis basis = MelBasis::from_dense(mel.data(), mel.shape(0), mel.shape(1));
  py::array_t<float> out({n_signals, static_cast<int64_t>(mel.shape(0)), frames});
  float* out_ptr = out.mutable_data();
  {
    py::gil_scoped_release release;
    log_mel_cpu(x.data(), n_signals, samples, window.data(), basis, p, out_ptr);
  }
  return out;
}

// Validates one (q, k, v, mask) problem and allocates its output.
AttentionArgs attention_args(const py::handle& q_obj, const py::handle& k_obj, const py::handle& v_obj,
                             const py::object& mask_obj, float scale, std::vector<py::object>& keep) {
  auto q = checked_array<float>(q_obj, "q", 4);
  auto k = checked_array<float>(k_obj, "k", 4);
  auto v = checked_array<float>(v_obj, "v", 4);
  check_nonempty(q, "q");
  check_nonempty(k, "k");
  check_nonempty(v, "v");
  const AttentionShape s = attention_shape(q, k, v);
  if (!std::isfinite(scale) || scale <= 0) throw py::value_error("scale must be a positive finite number");
  const uint8_t* mask_ptr = nullptr;
  if (!mask_obj.is_none()) {
    auto mask = checked_array<bool>(mask_obj, "key_padding_mask", 2);
    if (mask.shape(0) != s.batch || mask.shape(1) != s.lk)
      throw py::value_error("key_padding_mask must have shape [B, Lk] = [" + std::to_string(s.batch) + ", " +
                            std::to_string(s.lk) + "], got " + describe(mask));
    mask_ptr = reinterpret_cast<const uint8_t*>(mask.data());
    for (int64_t b = 0; b < s.batch; ++b) {
      int64_t kept = 0;
      for (int64_t j = 0; j < s.lk; ++j) kept += mask_ptr[b * s.lk + j] == 0;
      if (kept == 0)
        throw py::value_error("key_padding_mask ignores every key of batch item " + std::to_string(b) +
                              "; attention over no keys is undefined");
    }
    keep.push_back(mask);
  }
  check_finite(q, "q");
  check_finite(k, "k");
  check_finite(v, "v");
  py::array_t<float> out({s.batch, s.heads, s.lq, s.dim});
  keep.insert(keep.end(), {q, k, v, out});
  return {q.data(), k.data(), v.data(), mask_ptr, out.mutable_data(), s, scale};
}

void check_threads(int threads) {
  if (threads < 0 || threads > 1024) throw py::value_error("threads must be in 0..1024 (0 = default)");
}

py::array_t<float> cross_attention(const py::handle& q, const py::handle& k, const py::handle& v,
                                   const py::object& mask, float scale, int threads) {
  check_threads(threads);
  std::vector<py::object> keep;
  const AttentionArgs args = attention_args(q, k, v, mask, scale, keep);
  {
    py::gil_scoped_release release;
    cross_attention_cpu(&args, 1, threads);
  }
  return py::reinterpret_borrow<py::array_t<float>>(keep.back());
}

// Events->objects and objects->events in one call (one parallel region).
py::tuple cross_attention_pair(const py::tuple& first, const py::tuple& second, float scale, int threads) {
  check_threads(threads);
  if (first.size() != 4 || second.size() != 4) throw py::value_error("each problem is a tuple (q, k, v, mask_or_None)");
  std::vector<py::object> keep_a, keep_b;
  const AttentionArgs args[2] = {attention_args(first[0], first[1], first[2], first[3], scale, keep_a),
                                 attention_args(second[0], second[1], second[2], second[3], scale, keep_b)};
  {
    py::gil_scoped_release release;
    cross_attention_cpu(args, 2, threads);
  }
  return py::make_tuple(keep_a.back(), keep_b.back());
}

py::dict info() {
  py::dict d;
#ifdef _OPENMP
  d["openmp"] = true;
#else
  d["openmp"] = false;
#endif
  d["max_threads"] = resolve_threads(0);
#ifdef AVSC_EDGE_WITH_CUDA
  d["cuda_compiled"] = true;
  d["cuda_archs"] = AVSC_EDGE_CUDA_ARCHS;
#else
  d["cuda_compiled"] = false;
#endif
  return d;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "avsc-edge native kernels (private: use avsc_edge.features and avsc_edge.kernels)";
  m.def("log_mel", &log_mel, py::arg("waveform"), py::arg("window"), py::arg("mel_basis"), py::arg("hop_length"),
        py::arg("center"), py::arg("pad_mode"), py::arg("power"), py::arg("top_db"), py::arg("preemphasis") = 0.0f,
        py::arg("log_mode") = 0, py::arg("log_offset") = 1e-5f, py::arg("norm_shift") = 0.0f,
        py::arg("norm_scale") = 1.0f, py::arg("threads") = 0);
  m.def("cross_attention", &cross_attention, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("key_padding_mask") = py::none(), py::arg("scale"), py::arg("threads") = 0);
  m.def("cross_attention_pair", &cross_attention_pair, py::arg("first"), py::arg("second"), py::arg("scale"),
        py::arg("threads") = 0);
  m.def("info", &info);
#ifdef AVSC_EDGE_WITH_CUDA
  register_cuda(m);
#endif
}
