// Argument checks at the Python boundary: every message names the argument, its shape and dtype.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

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

}  // namespace avsc
