// Radix-2 real FFT of a power-of-two length, computed through a complex FFT of half the length.
#pragma once
#include <complex>
#include <cstdint>
#include <vector>

namespace avsc {

class RealFFT {
 public:
  explicit RealFFT(int64_t n);
  int64_t size() const { return n_; }
  // in: n real samples; out: n/2+1 complex bins. scratch must hold n/2 complex values.
  void forward(const float* in, std::complex<float>* out, std::complex<float>* scratch) const;

 private:
  int64_t n_, half_;
  std::vector<int32_t> bitrev_;
  std::vector<std::complex<float>> twiddle_;  // for the half-length complex FFT
  std::vector<std::complex<float>> post_;     // e^{-2 pi i k / n}, k < n/2
};

}  // namespace avsc
