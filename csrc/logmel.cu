// CUDA fused log-mel: one thread block per (frame, signal); the frame's half-length complex FFT runs
// in shared memory, then power, sparse mel projection and dB are written straight to `out` (which
// may be a TensorRT engine's input binding: no host round trip).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_kernels.h"

namespace avsc {
namespace cuda {
namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

struct DeviceTables {
  float* window;
  float2* twiddle;   // e^{-2 pi i k / h}, k < h/2
  float2* post;      // e^{-2 pi i k / n}, k < h
  int32_t* start;
  int32_t* stop;
  int64_t* offset;
  float* weights;
};

__device__ __forceinline__ float2 cmul(float2 a, float2 b) {
  return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

__device__ __forceinline__ int64_t src_index(int64_t s, int64_t samples, int pad_mode) {
  if (s >= 0 && s < samples) return s;
  if (pad_mode == 0) return -1;
  return s < 0 ? -s : 2 * (samples - 1) - s;
}

struct Scale {        // LogMelParams' pre-emphasis and output scale
  float preemphasis;
  int log_mode;
  float log_offset, norm_shift, norm_scale;
};

// y[i]: the input, or EfficientAT's pre-emphasis x[i+1] - c x[i]
__device__ __forceinline__ float signal_at(const float* xs, int64_t i, float c) {
  return c != 0.0f ? xs[i + 1] - c * xs[i] : xs[i];
}

__global__ void log_mel_kernel(const float* __restrict__ x, int64_t samples, int64_t frames, int n_fft, int bits,
                               int64_t hop, int64_t pad, int pad_mode, int magnitude, int n_mels, DeviceTables t,
                               Scale sc, float* __restrict__ out) {
  extern __shared__ float2 smem[];
  const int h = n_fft / 2;
  float2* z = smem;                                   // h complex values
  float* power = reinterpret_cast<float*>(smem + h);  // h + 1 floats
  const int64_t frame = blockIdx.x, sig = blockIdx.y;
  const float* xs = x + sig * samples;
  const int64_t first = frame * hop - pad;
  const int64_t length = sc.preemphasis != 0.0f ? samples - 1 : samples;   // of the analysed signal

  for (int i = threadIdx.x; i < h; i += blockDim.x) {
    const int64_t a = src_index(first + 2 * i, length, pad_mode);
    const int64_t b = src_index(first + 2 * i + 1, length, pad_mode);
    const float va = a < 0 ? 0.0f : signal_at(xs, a, sc.preemphasis) * t.window[2 * i];
    const float vb = b < 0 ? 0.0f : signal_at(xs, b, sc.preemphasis) * t.window[2 * i + 1];
    z[__brev(static_cast<unsigned>(i)) >> (32 - bits)] = make_float2(va, vb);
  }
  for (int len = 2; len <= h; len <<= 1) {
    __syncthreads();
    const int half = len >> 1, step = h / len;
    for (int u = threadIdx.x; u < h / 2; u += blockDim.x) {
      const int group = u / half, j = u % half, s = group * len;
      const float2 w = t.twiddle[j * step];
      const float2 a = z[s + j], b = cmul(z[s + j + half], w);
      z[s + j] = make_float2(a.x + b.x, a.y + b.y);
      z[s + j + half] = make_float2(a.x - b.x, a.y - b.y);
    }
  }
  __syncthreads();
  for (int k = threadIdx.x; k <= h; k += blockDim.x) {
    float2 X;
    if (k == 0 || k == h) {
      X = make_float2(k == 0 ? z[0].x + z[0].y : z[0].x - z[0].y, 0.0f);
    } else {
      const float2 a = z[k], b = make_float2(z[h - k].x, -z[h - k].y);
      const float2 even = make_float2(0.5f * (a.x + b.x), 0.5f * (a.y + b.y));
      const float2 diff = make_float2(a.x - b.x, a.y - b.y);
      const float2 odd = make_float2(0.5f * diff.y, -0.5f * diff.x);  // -i/2 * diff
      const float2 r = cmul(t.post[k], odd);
      X = make_float2(even.x + r.x, even.y + r.y);
    }
    const float pw = X.x * X.x + X.y * X.y;
    power[k] = magnitude ? sqrtf(pw) : pw;
  }
  __syncthreads();
  float* o = out + sig * n_mels * frames + frame;
  for (int m = threadIdx.x; m < n_mels; m += blockDim.x) {
    const float* w = t.weights + t.offset[m];
    float acc = 0.0f;
    for (int f = t.start[m]; f < t.stop[m]; ++f) acc += w[f - t.start[m]] * power[f];
    const float v = sc.log_mode == 0 ? 10.0f * log10f(fmaxf(acc, 1e-10f)) : logf(fmaxf(acc, 0.0f) + sc.log_offset);
    o[static_cast<int64_t>(m) * frames] = (v + sc.norm_shift) / sc.norm_scale;
  }
}

__global__ void top_db_kernel(float* out, int64_t per_signal, float top_db) {
  __shared__ float best[256];
  float* o = out + blockIdx.x * per_signal;
  float m = -INFINITY;
  for (int64_t i = threadIdx.x; i < per_signal; i += blockDim.x) m = fmaxf(m, o[i]);
  best[threadIdx.x] = m;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) best[threadIdx.x] = fmaxf(best[threadIdx.x], best[threadIdx.x + s]);
    __syncthreads();
  }
  const float floor = best[0] - top_db;
  for (int64_t i = threadIdx.x; i < per_signal; i += blockDim.x) o[i] = fmaxf(o[i], floor);
}

template <typename T>
T* upload(const std::vector<T>& host, std::vector<void*>& owned) {
  void* ptr = nullptr;
  check(cudaMalloc(&ptr, std::max<size_t>(1, host.size()) * sizeof(T)), "cudaMalloc");
  owned.push_back(ptr);
  if (!host.empty()) check(cudaMemcpy(ptr, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy");
  return static_cast<T*>(ptr);
}

}  // namespace

int device_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

struct LogMelPlan::Impl {
  DeviceTables t{};
  std::vector<void*> owned;
  LogMelParams p;
  int n_fft = 0, bits = 0;
  int64_t n_mels = 0;
  float* staging = nullptr;   // grow-only device copy of host waveforms (run_host)
  size_t staging_floats = 0;
  ~Impl() {
    for (void* ptr : owned) cudaFree(ptr);
    if (staging) cudaFree(staging);
  }
};

LogMelPlan::LogMelPlan(const float* window_host, const MelBasis& mel, const LogMelParams& p) : impl_(new Impl) {
  Impl& m = *impl_;
  m.p = p;
  m.n_fft = static_cast<int>(p.n_fft);
  m.n_mels = mel.n_mels;
  const int h = m.n_fft / 2;
  while ((1 << m.bits) < h) ++m.bits;
  std::vector<float2> twiddle(std::max(1, h / 2)), post(h);
  for (int k = 0; k < h / 2; ++k) {
    const double a = -2.0 * M_PI * k / h;
    twiddle[k] = make_float2(float(std::cos(a)), float(std::sin(a)));
  }
  for (int k = 0; k < h; ++k) {
    const double a = -2.0 * M_PI * k / m.n_fft;
    post[k] = make_float2(float(std::cos(a)), float(std::sin(a)));
  }
  m.t.window = upload(std::vector<float>(window_host, window_host + m.n_fft), m.owned);
  m.t.twiddle = upload(twiddle, m.owned);
  m.t.post = upload(post, m.owned);
  m.t.start = upload(mel.start, m.owned);
  m.t.stop = upload(mel.stop, m.owned);
  m.t.offset = upload(mel.offset, m.owned);
  m.t.weights = upload(mel.weights, m.owned);
}

LogMelPlan::~LogMelPlan() = default;

int64_t LogMelPlan::frames(int64_t samples) const { return log_mel_num_frames(samples, impl_->p); }
int64_t LogMelPlan::n_mels() const { return impl_->n_mels; }

void LogMelPlan::run(const float* x, int64_t n_signals, int64_t samples, float* out, void* stream_ptr) const {
  const Impl& m = *impl_;
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  const int h = m.n_fft / 2;
  const int64_t frames = log_mel_num_frames(samples, m.p);
  const size_t shared = h * sizeof(float2) + (h + 1) * sizeof(float);
  dim3 grid(static_cast<unsigned>(frames), static_cast<unsigned>(n_signals));
  log_mel_kernel<<<grid, 256, shared, stream>>>(x, samples, frames, m.n_fft, m.bits, m.p.hop,
                                                m.p.center ? m.n_fft / 2 : 0, m.p.pad_mode, m.p.power == 1.0f,
                                                static_cast<int>(m.n_mels), m.t,
                                                Scale{m.p.preemphasis, m.p.log_mode, m.p.log_offset,
                                                      m.p.norm_shift, m.p.norm_scale},
                                                out);
  check(cudaGetLastError(), "log_mel_kernel launch");
  if (m.p.top_db >= 0.0f) {
    top_db_kernel<<<static_cast<unsigned>(n_signals), 256, 0, stream>>>(out, m.n_mels * frames, m.p.top_db);
    check(cudaGetLastError(), "top_db_kernel launch");
  }
}

void LogMelPlan::run_host(const float* x_host, int64_t n_signals, int64_t samples, float* out, void* stream_ptr) {
  Impl& m = *impl_;
  const size_t need = static_cast<size_t>(n_signals * samples);
  if (need > m.staging_floats) {
    if (m.staging) check(cudaFree(m.staging), "cudaFree");
    m.staging = nullptr;
    check(cudaMalloc(reinterpret_cast<void**>(&m.staging), need * sizeof(float)), "cudaMalloc");
    m.staging_floats = need;
  }
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  check(cudaMemcpyAsync(m.staging, x_host, need * sizeof(float), cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync");
  run(m.staging, n_signals, samples, out, stream_ptr);
}

void log_mel(const float* x, int64_t n_signals, int64_t samples, const float* window_host, const MelBasis& mel,
             const LogMelParams& p, float* out, void* stream) {
  const LogMelPlan plan(window_host, mel, p);   // one-shot: tables uploaded for this call
  plan.run(x, n_signals, samples, out, stream);
  check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "cudaStreamSynchronize");
}

}  // namespace cuda
}  // namespace avsc
