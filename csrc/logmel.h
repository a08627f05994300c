// Fused log-mel front end: framing + window + real FFT + power + mel projection + dB, one pass per frame.
#pragma once
#include <cstdint>
#include <vector>

namespace avsc {

struct LogMelParams {
  int64_t n_fft = 512;
  int64_t hop = 256;
  bool center = true;
  int pad_mode = 0;        // 0 = constant (zeros), 1 = reflect
  float power = 2.0f;      // 1 = magnitude, 2 = power
  float top_db = -1.0f;    // < 0: no clamp (dB only)
  // EfficientAT's pre-emphasis: the signal is y[i] = x[i+1] - c * x[i] (one sample shorter); 0: none
  float preemphasis = 0.0f;
  int log_mode = 0;        // 0: 10 log10(max(v, 1e-10)) (dB); 1: ln(v + log_offset)
  float log_offset = 1e-5f;
  float norm_shift = 0.0f; // out = (log + norm_shift) / norm_scale
  float norm_scale = 1.0f;
  int threads = 0;         // 0: OpenMP default
};

// Sparse view of a dense mel basis [n_mels, n_bins]: each filter's non-zero bin range.
struct MelBasis {
  int64_t n_mels = 0, n_bins = 0;
  std::vector<int32_t> start, stop;
  std::vector<float> weights;  // concatenated non-zero runs
  std::vector<int64_t> offset;
  static MelBasis from_dense(const float* dense, int64_t n_mels, int64_t n_bins);
};

// Samples of the analysed signal: one fewer than the input with pre-emphasis.
inline int64_t log_mel_signal_length(int64_t samples, const LogMelParams& p) {
  return p.preemphasis != 0.0f ? samples - 1 : samples;
}

int64_t log_mel_num_frames(int64_t samples, const LogMelParams& p);

// x: [n_signals, samples] row-major; window: [n_fft]; out: [n_signals, n_mels, frames].
void log_mel_cpu(const float* x, int64_t n_signals, int64_t samples, const float* window,
                 const MelBasis& mel, const LogMelParams& p, float* out);

}  // namespace avsc
