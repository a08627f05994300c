#include "logmel.h"

#include <algorithm>
#include <cmath>

#include "fft.h"
#include "parallel.h"
#include "simd.h"

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
  samples = log_mel_signal_length(samples, p);
  if (samples < 1) return 0;
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

namespace {

// Mel projection + dB for one block of kLanes frames; writes out[m * frames + t0 + l] for l < count.
AVSC_SIMD_CLONES
void mel_block(const MelBasis& mel, const LogMelParams& p, const fft_real* __restrict power, int64_t frames,
               int64_t t0, int count, float* __restrict out) {
  for (int64_t m = 0; m < mel.n_mels; ++m) {
    const float* w = mel.weights.data() + mel.offset[m];
    fft_real acc[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int32_t f = mel.start[m]; f < mel.stop[m]; ++f) {
      const fft_real wf = w[f - mel.start[m]];
      const fft_real* pf = power + int64_t(f) * kLanes;
      for (int l = 0; l < kLanes; ++l) acc[l] += wf * pf[l];
    }
    float* o = out + m * frames + t0;
    if (p.log_mode == 0) {
      for (int l = 0; l < count; ++l)
        o[l] = float((10.0 * std::log10(std::max(acc[l], fft_real(kAmin))) + p.norm_shift) / p.norm_scale);
    } else {
      // a mel basis with negative weights could make the sum negative: clamp as the dB branch does
      for (int l = 0; l < count; ++l)
        o[l] = float((std::log(std::max(acc[l], fft_real(0)) + p.log_offset) + p.norm_shift) / p.norm_scale);
    }
  }
}

}  // namespace

void log_mel_cpu(const float* x, int64_t n_signals, int64_t samples, const float* window,
                 const MelBasis& mel, const LogMelParams& p, float* out) {
  const int64_t n_fft = p.n_fft, n_mels = mel.n_mels;
  const int64_t frames = log_mel_num_frames(samples, p);
  const int64_t length = log_mel_signal_length(samples, p);   // of the analysed signal y
  const fft_real c = p.preemphasis;
  const int64_t pad = p.center ? n_fft / 2 : 0;
  const int64_t blocks_per_signal = (frames + kLanes - 1) / kLanes;
  const LaneFFT fft(n_fft);
  const int64_t h = fft.half();
  const bool magnitude = p.power == 1.0f;

  parallel_for(n_signals * blocks_per_signal, p.threads, 1, [&](int64_t begin, int64_t end) {
    std::vector<fft_real> re(h * kLanes), im(h * kLanes), power((h + 1) * kLanes);
    for (int64_t block = begin; block < end; ++block) {
      const int64_t sig = block / blocks_per_signal, t0 = (block % blocks_per_signal) * kLanes;
      const int count = static_cast<int>(std::min<int64_t>(kLanes, frames - t0));
      const float* xs = x + sig * samples;
      // y[i]: the input, or its pre-emphasis x[i+1] - c x[i]
      auto y = [&](int64_t i) { return c != 0 ? fft_real(xs[i + 1]) - c * fft_real(xs[i]) : fft_real(xs[i]); };
      int64_t first[kLanes];
      bool inside = true;
      for (int l = 0; l < kLanes; ++l) {
        first[l] = (t0 + std::min(l, count - 1)) * p.hop - pad;
        inside = inside && first[l] >= 0 && first[l] + n_fft <= length;
      }
      // Row bitrev(i) holds samples 2i (re) and 2i+1 (im) of all kLanes frames: 8 sequential reads
      // streams and one contiguous row write per i.
      for (int64_t i = 0; i < h; ++i) {
        fft_real* rr = re.data() + int64_t(fft.bitrev(i)) * kLanes;
        fft_real* ri = im.data() + int64_t(fft.bitrev(i)) * kLanes;
        const fft_real wa = window[2 * i], wb = window[2 * i + 1];
        if (inside) {
          for (int l = 0; l < kLanes; ++l) {
            rr[l] = y(first[l] + 2 * i) * wa;
            ri[l] = y(first[l] + 2 * i + 1) * wb;
          }
        } else {
          for (int l = 0; l < kLanes; ++l) {
            const int64_t sa = source_index(first[l] + 2 * i, length, p.pad_mode);
            const int64_t sb = source_index(first[l] + 2 * i + 1, length, p.pad_mode);
            rr[l] = sa < 0 ? 0.0 : y(sa) * wa;
            ri[l] = sb < 0 ? 0.0 : y(sb) * wb;
          }
        }
      }
      fft.forward_power(re.data(), im.data(), power.data(), magnitude);
      mel_block(mel, p, power.data(), frames, t0, count, out + sig * n_mels * frames);
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
