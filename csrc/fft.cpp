#include "fft.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "simd.h"

namespace avsc {

LaneFFT::LaneFFT(int64_t n) : n_(n), half_(n / 2) {
  if (n < 4 || (n & (n - 1)) != 0) throw std::invalid_argument("FFT size must be a power of two >= 4");
  int bits = 0;
  while ((int64_t(1) << bits) < half_) ++bits;
  bitrev_.resize(half_);
  for (int64_t i = 0; i < half_; ++i) {
    int64_t r = 0;
    for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
    bitrev_[i] = static_cast<int32_t>(r);
  }
  for (int64_t k = 0; k < std::max<int64_t>(half_ / 2, 1); ++k) {
    const double a = -2.0 * M_PI * double(k) / double(half_);
    tw_re_.push_back(fft_real(std::cos(a)));
    tw_im_.push_back(fft_real(std::sin(a)));
  }
  for (int64_t k = 0; k < half_; ++k) {
    const double a = -2.0 * M_PI * double(k) / double(n_);
    post_re_.push_back(fft_real(std::cos(a)));
    post_im_.push_back(fft_real(std::sin(a)));
  }
}

namespace {

// Stages len = first_len .. last_len over [begin, end) (end - begin is a multiple of last_len).
inline void stages(fft_real* __restrict re, fft_real* __restrict im, int64_t h, int64_t begin, int64_t end,
                   int64_t first_len, int64_t last_len, const fft_real* __restrict tw_re,
                   const fft_real* __restrict tw_im) {
  for (int64_t len = first_len; len <= last_len; len <<= 1) {
    const int64_t half = len >> 1, step = h / len;
    for (int64_t s = begin; s < end; s += len) {
      for (int64_t j = 0; j < half; ++j) {
        const fft_real wr = tw_re[j * step], wi = tw_im[j * step];
        fft_real* __restrict ar = re + (s + j) * kLanes;
        fft_real* __restrict ai = im + (s + j) * kLanes;
        fft_real* __restrict br = re + (s + j + half) * kLanes;
        fft_real* __restrict bi = im + (s + j + half) * kLanes;
        for (int l = 0; l < kLanes; ++l) {
          const fft_real tr = br[l] * wr - bi[l] * wi;
          const fft_real ti = br[l] * wi + bi[l] * wr;
          br[l] = ar[l] - tr;
          bi[l] = ai[l] - ti;
          ar[l] += tr;
          ai[l] += ti;
        }
      }
    }
  }
}

// The first stages run depth-first on sub-blocks that fit in L1 (kL1Points complex x kLanes lanes
// of doubles = 16 KiB for re and im together), so only the last few stages stream the whole array.
constexpr int64_t kL1Points = 128;

AVSC_SIMD_CLONES
void butterflies(fft_real* __restrict re, fft_real* __restrict im, int64_t h, const fft_real* __restrict tw_re,
                 const fft_real* __restrict tw_im) {
  const int64_t block = std::min<int64_t>(h, kL1Points);
  for (int64_t base = 0; base < h; base += block) stages(re, im, h, base, base + block, 2, block, tw_re, tw_im);
  stages(re, im, h, 0, h, block * 2, h, tw_re, tw_im);
}

AVSC_SIMD_CLONES
void split_power(const fft_real* __restrict re, const fft_real* __restrict im, int64_t h,
                 const fft_real* __restrict post_re,
                 const fft_real* __restrict post_im, fft_real* __restrict power, bool magnitude) {
  for (int l = 0; l < kLanes; ++l) {
    const fft_real dc = re[l] + im[l], ny = re[l] - im[l];
    power[l] = dc * dc;
    power[h * kLanes + l] = ny * ny;
  }
  for (int64_t k = 1; k < h; ++k) {
    const fft_real* ar = re + k * kLanes;
    const fft_real* ai = im + k * kLanes;
    const fft_real* br = re + (h - k) * kLanes;
    const fft_real* bi = im + (h - k) * kLanes;
    const fft_real pr = post_re[k], pi = post_im[k];
    fft_real* out = power + k * kLanes;
    for (int l = 0; l < kLanes; ++l) {
      // X = E + w * O with E = (a + conj b) / 2, O = -i (a - conj b) / 2
      const fft_real er = 0.5 * (ar[l] + br[l]), ei = 0.5 * (ai[l] - bi[l]);
      const fft_real orr = 0.5 * (ai[l] + bi[l]), oi = -0.5 * (ar[l] - br[l]);
      const fft_real xr = er + pr * orr - pi * oi;
      const fft_real xi = ei + pr * oi + pi * orr;
      out[l] = xr * xr + xi * xi;
    }
  }
  if (magnitude)
    for (int64_t i = 0; i < (h + 1) * kLanes; ++i) power[i] = std::sqrt(power[i]);
}

}  // namespace

void LaneFFT::forward_power(fft_real* re, fft_real* im, fft_real* power, bool magnitude) const {
  butterflies(re, im, half_, tw_re_.data(), tw_im_.data());
  split_power(re, im, half_, post_re_.data(), post_im_.data(), power, magnitude);
}

}  // namespace avsc
