#include "fft.h"

#include <cmath>
#include <stdexcept>

namespace avsc {

RealFFT::RealFFT(int64_t n) : n_(n), half_(n / 2) {
  if (n < 4 || (n & (n - 1)) != 0) throw std::invalid_argument("RealFFT size must be a power of two >= 4");
  int bits = 0;
  while ((int64_t(1) << bits) < half_) ++bits;
  bitrev_.resize(half_);
  for (int64_t i = 0; i < half_; ++i) {
    int64_t r = 0;
    for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
    bitrev_[i] = static_cast<int32_t>(r);
  }
  twiddle_.resize(std::max<int64_t>(half_ / 2, 1));
  for (int64_t k = 0; k < half_ / 2; ++k) {
    double a = -2.0 * M_PI * double(k) / double(half_);
    twiddle_[k] = {float(std::cos(a)), float(std::sin(a))};
  }
  post_.resize(half_);
  for (int64_t k = 0; k < half_; ++k) {
    double a = -2.0 * M_PI * double(k) / double(n_);
    post_[k] = {float(std::cos(a)), float(std::sin(a))};
  }
}

void RealFFT::forward(const float* in, std::complex<float>* out, std::complex<float>* z) const {
  const int64_t h = half_;
  for (int64_t i = 0; i < h; ++i) z[bitrev_[i]] = {in[2 * i], in[2 * i + 1]};
  for (int64_t len = 2; len <= h; len <<= 1) {
    const int64_t step = h / len, halflen = len / 2;
    for (int64_t s = 0; s < h; s += len) {
      for (int64_t j = 0; j < halflen; ++j) {
        const std::complex<float> w = twiddle_[j * step];
        const std::complex<float> a = z[s + j];
        const std::complex<float> b = z[s + j + halflen] * w;
        z[s + j] = a + b;
        z[s + j + halflen] = a - b;
      }
    }
  }
  // Split the half-length transform into the real signal's spectrum.
  out[0] = {z[0].real() + z[0].imag(), 0.0f};
  out[h] = {z[0].real() - z[0].imag(), 0.0f};
  for (int64_t k = 1; k < h; ++k) {
    const std::complex<float> a = z[k], b = std::conj(z[h - k]);
    const std::complex<float> even = 0.5f * (a + b);
    const std::complex<float> odd = std::complex<float>(0.0f, -0.5f) * (a - b);
    out[k] = even + post_[k] * odd;
  }
}

}  // namespace avsc
