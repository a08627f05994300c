// Host-callable CUDA entry points (defined in the .cu files). Pointers are device pointers unless
// named *_host; `stream` is a cudaStream_t passed as void*. Errors come back as exceptions
// (std::runtime_error) carrying the CUDA error string.
#pragma once
#include <cstdint>
#include <memory>

#include "attention.h"
#include "logmel.h"

namespace avsc {
namespace cuda {

int device_count();

// The fused log-mel with its tables (window, twiddles, sparse mel basis) uploaded once: a GPU
// backend keeps one plan and calls run() per batch, writing straight into its input buffer.
class LogMelPlan {
 public:
  LogMelPlan(const float* window_host, const MelBasis& mel, const LogMelParams& p);
  ~LogMelPlan();
  LogMelPlan(const LogMelPlan&) = delete;
  LogMelPlan& operator=(const LogMelPlan&) = delete;
  int64_t frames(int64_t samples) const;
  int64_t n_mels() const;
  // x: [n_signals, samples] (device) -> out: [n_signals, n_mels, frames] (device); no allocation.
  void run(const float* x, int64_t n_signals, int64_t samples, float* out, void* stream) const;
  // x_host: [n_signals, samples] in host memory, copied to a grow-only device buffer first.
  void run_host(const float* x_host, int64_t n_signals, int64_t samples, float* out, void* stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-shot (uploads the tables for this call, then synchronises the stream): prefer LogMelPlan.
void log_mel(const float* x, int64_t n_signals, int64_t samples, const float* window_host, const MelBasis& mel,
             const LogMelParams& p, float* out, void* stream);

struct AttentionProblem {
  const float* q;
  const float* k;
  const float* v;
  const uint8_t* mask;  // [B, Lk], 1 = ignore; may be null
  float* out;
  AttentionShape shape;
  float scale;
};

// One launch for one or two problems (events->objects and objects->events). dim <= 256.
void cross_attention(const AttentionProblem* problems, int count, void* stream);

}  // namespace cuda
}  // namespace avsc
