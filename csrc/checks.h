// Argument checks at the Python boundary: every message names the argument, its shape and dtype.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

#include "attention.h"
#include "logmel.h"

namespace avsc {
namespace py = pybind11;

constexpr int64_t kMaxElements = int64_t(1) << 32;  // 16 GiB of float32: refuse anything larger

inline std::string describe(const py::array& a) {
  std::ostringstream s;
  s << "shape (";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  s << "), dtype " << std::string(py::str(a.dtype()));
  return s.str();
}

// Returns the argument as a NumPy array of the given dtype and rank, C-contiguous and aligned.
template <typename T>
py::array_t<T> checked_array(const py::handle& obj, const char* name, py::ssize_t ndim) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(name) + " must be a NumPy array, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (!a.dtype().is(py::dtype::of<T>())) {
    throw py::type_error(std::string(name) + " must have dtype " + std::string(py::str(py::dtype::of<T>())) +
                         ", got " + describe(a) + "; convert it with .astype()");
  }
  if (a.ndim() != ndim) {
    throw py::value_error(std::string(name) + " must have " + std::to_string(ndim) + " dimensions, got " + describe(a));
  }
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(name) + " must be C-contiguous, got a strided view with " + describe(a) +
                          "; pass numpy.ascontiguousarray(x)");
  }
  if (reinterpret_cast<std::uintptr_t>(a.data()) % alignof(T) != 0) {
    throw py::value_error(std::string(name) + " is misaligned in memory; pass a copy (x.copy())");
  }
  if (a.size() > kMaxElements) {
    throw py::value_error(std::string(name) + " is too large (" + describe(a) + "); split the input");
  }
  return py::reinterpret_borrow<py::array_t<T>>(a);
}

inline void check_finite(const py::array_t<float>& a, const char* name) {
  const float* p = a.data();
  for (py::ssize_t i = 0, n = a.size(); i < n; ++i) {
    if (!std::isfinite(p[i])) {
      throw py::value_error(std::string(name) + " contains NaN or inf at flat index " + std::to_string(i));
    }
  }
}

inline void check_nonempty(const py::array& a, const char* name) {
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (a.shape(i) == 0) throw py::value_error(std::string(name) + " has a zero-size dimension: " + describe(a));
  }
}

// The front end's output scale: log kind and normalisation, pre-emphasis (see LogMelParams).
struct LogScale {
  float preemphasis = 0.0f;
  int log_mode = 0;
  float log_offset = 1e-5f, norm_shift = 0.0f, norm_scale = 1.0f;
};

inline LogMelParams make_params(int64_t n_fft, int64_t hop, bool center, int pad_mode, float power, float top_db,
                         int threads, const LogScale& scale = {}) {
  if (n_fft < 16 || n_fft > 65536 || (n_fft & (n_fft - 1)) != 0)
    throw py::value_error("n_fft must be a power of two in 16..65536, got " + std::to_string(n_fft));
  if (hop < 1 || hop > 4 * n_fft) throw py::value_error("hop_length must be in 1..4*n_fft, got " + std::to_string(hop));
  if (pad_mode != 0 && pad_mode != 1) throw py::value_error("pad_mode must be 0 (constant) or 1 (reflect)");
  if (power != 1.0f && power != 2.0f) throw py::value_error("power must be 1.0 or 2.0");
  if (threads < 0 || threads > 1024) throw py::value_error("threads must be in 0..1024 (0 = default)");
  LogMelParams p;
  p.n_fft = n_fft;
  p.hop = hop;
  p.center = center;
  p.pad_mode = pad_mode;
  p.power = power;
  p.top_db = std::isnan(top_db) ? -1.0f : top_db;
  if (!std::isnan(top_db) && top_db < 0) throw py::value_error("top_db must be >= 0 or NaN (no clamp)");
  p.threads = threads;
  if (!std::isfinite(scale.preemphasis) || std::fabs(scale.preemphasis) > 1.0f)
    throw py::value_error("preemphasis must be in -1..1 (0: none)");
  if (scale.log_mode != 0 && scale.log_mode != 1) throw py::value_error("log_mode must be 0 (dB) or 1 (ln)");
  if (!(scale.log_offset > 0.0f) || !std::isfinite(scale.log_offset))
    throw py::value_error("log_offset must be a finite value > 0");
  if (!std::isfinite(scale.norm_shift) || !std::isfinite(scale.norm_scale) || scale.norm_scale == 0.0f)
    throw py::value_error("norm_shift must be finite and norm_scale finite and non-zero");
  if (p.top_db >= 0.0f && (scale.log_mode != 0 || scale.norm_shift != 0.0f || scale.norm_scale != 1.0f))
    throw py::value_error("top_db clamps dB values: it needs log_mode 0 without normalisation");
  p.preemphasis = scale.preemphasis;
  p.log_mode = scale.log_mode;
  p.log_offset = scale.log_offset;
  p.norm_shift = scale.norm_shift;
  p.norm_scale = scale.norm_scale;
  return p;
}

template <typename Q, typename K, typename V>
inline AttentionShape attention_shape(const Q& q, const K& k, const V& v) {
  const bool ok = k.shape(0) == q.shape(0) && v.shape(0) == q.shape(0) && k.shape(1) == q.shape(1) &&
                  v.shape(1) == q.shape(1) && k.shape(2) == v.shape(2) && k.shape(3) == q.shape(3) &&
                  v.shape(3) == q.shape(3);
  if (!ok)
    throw py::value_error("q " + describe(q) + ", k " + describe(k) + ", v " + describe(v) +
                          " do not match: expected q [B,H,Lq,D] and k, v [B,H,Lk,D]");
  if (q.shape(3) > 4096) throw py::value_error("head dim " + std::to_string(q.shape(3)) + " is too large (max 4096)");
  return {q.shape(0), q.shape(1), q.shape(2), k.shape(2), q.shape(3)};
}

}  // namespace avsc
