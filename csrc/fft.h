// Radix-2 real FFT of a power-of-two length n, via a complex FFT of length n/2, computed for
// kLanes frames at once: every value is a row of kLanes values (one per frame), so each butterfly
// is a short fixed-length loop the compiler turns into SIMD (AVX2/FMA where the CPU has it).
// In double precision: in float, a bin 60-80 dB below a frame's strongest one carried 2-4e-3 dB
// of rounding against torchlibrosa/librosa (tests/test_reference_parity.py); in double, < 1e-4.
#pragma once
#include <cstdint>
#include <vector>

namespace avsc {

constexpr int kLanes = 8;
using fft_real = double;

class LaneFFT {
 public:
  explicit LaneFFT(int64_t n);
  int64_t size() const { return n_; }
  int64_t half() const { return half_; }
  int32_t bitrev(int64_t i) const { return bitrev_[i]; }
  // re/im: [half][kLanes], filled in bit-reversed order by the caller (see bitrev()).
  // power: [half + 1][kLanes] receives |X_k|^2 (or |X_k| when magnitude is true).
  void forward_power(fft_real* re, fft_real* im, fft_real* power, bool magnitude) const;

 private:
  int64_t n_, half_;
  std::vector<int32_t> bitrev_;
  std::vector<fft_real> tw_re_, tw_im_;      // e^{-2 pi i k / half}, k < half/2
  std::vector<fft_real> post_re_, post_im_;  // e^{-2 pi i k / n},    k < half
};

}  // namespace avsc
