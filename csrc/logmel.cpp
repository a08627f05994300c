#include "logmel.h"

#include <algorithm>
#include <cmath>
#include <complex>

#include "fft.h"
#include "parallel.h"

namespace avsc {

MelBasis MelBasis::from_dense(const float* dense, int64_t n_mels, int64_t n_bins) {
  MelBasis m;
  m.n_mels = n_mels;
  m.n_bins = n_bins;
  for (int64_t i = 0; i < n_mels; ++i) {
    const float* row = dense + i * n_bins;
    int64_t lo = 0, hi = n_bins;
    while (lo < n_bins && row[lo] == 0.0f) ++lo;
    while (hi > lo && row[hi - 1] == 0.0f) --hi;
    m.start.push_back(static_cast<int32_t>(lo));
    m.stop.push_back(static_cast<int32_t>(hi));
    m.offset.push_back(static_cast<int64_t>(m.weights.size()));
    m.weights.insert(m.weights.end(), row + lo, row + hi);
  }
  return m;
}

int64_t log_mel_num_frames(int64_t samples, const LogMelParams& p) {
  if (p.center) return 1 + samples / p.hop;
  return samples < p.n_fft ? 0 : 1 + (samples - p.n_fft) / p.hop;
}

namespace {

constexpr float kAmin = 1e-10f;

inline int64_t source_index(int64_t s, int64_t samples, int pad_mode) {
  if (s >= 0 && s < samples) return s;
  if (pad_mode == 0) return -1;
  // reflect without repeating the edge sample (numpy's "reflect"); callers guarantee pad < samples
  if (s < 0) return -s;
  return 2 * (samples - 1) - s;
}

}  // namespace

void log_mel_cpu(const float* x, int64_t n_signals, int64_t samples, const float* window,
                 const MelBasis& mel, const LogMelParams& p, float* out) {
  const int64_t n_fft = p.n_fft, n_bins = n_fft / 2 + 1, n_mels = mel.n_mels;
  const int64_t frames = log_mel_num_frames(samples, p);
  const int64_t pad = p.center ? n_fft / 2 : 0;
  const int64_t total = n_signals * frames;
  const RealFFT fft(n_fft);
  const bool magnitude = p.power == 1.0f;

  parallel_for(total, p.threads, /*min_chunk=*/8,
               [&](int64_t begin, int64_t end) {
    std::vector<float> frame(n_fft), pow_spec(n_bins);
    std::vector<std::complex<float>> spec(n_bins), scratch(n_fft / 2);
    for (int64_t idx = begin; idx < end; ++idx) {
      const int64_t sig = idx / frames, t = idx % frames;
      const float* xs = x + sig * samples;
      const int64_t first = t * p.hop - pad;
      if (first >= 0 && first + n_fft <= samples) {
        for (int64_t i = 0; i < n_fft; ++i) frame[i] = xs[first + i] * window[i];
      } else {
        for (int64_t i = 0; i < n_fft; ++i) {
          const int64_t s = source_index(first + i, samples, p.pad_mode);
          frame[i] = s < 0 ? 0.0f : xs[s] * window[i];
        }
      }
      fft.forward(frame.data(), spec.data(), scratch.data());
      for (int64_t f = 0; f < n_bins; ++f) {
        const float pw = spec[f].real() * spec[f].real() + spec[f].imag() * spec[f].imag();
        pow_spec[f] = magnitude ? std::sqrt(pw) : pw;
      }
      float* o = out + sig * n_mels * frames + t;
      for (int64_t m = 0; m < n_mels; ++m) {
        const float* w = mel.weights.data() + mel.offset[m];
        float acc = 0.0f;
        for (int32_t f = mel.start[m]; f < mel.stop[m]; ++f) acc += w[f - mel.start[m]] * pow_spec[f];
        o[m * frames] = 10.0f * std::log10(std::max(acc, kAmin));
      }
    }
  });

  if (p.top_db >= 0.0f) {
    parallel_for(n_signals, p.threads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t sig = begin; sig < end; ++sig) {
        float* o = out + sig * n_mels * frames;
        const int64_t count = n_mels * frames;
        const float floor = *std::max_element(o, o + count) - p.top_db;
        for (int64_t i = 0; i < count; ++i) o[i] = std::max(o[i], floor);
      }
    });
  }
}

}  // namespace avsc
