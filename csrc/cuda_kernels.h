// Host-callable CUDA entry points (defined in the .cu files). Pointers are device pointers unless
// named *_host; `stream` is a cudaStream_t passed as void*. Errors come back as exceptions
// (std::runtime_error) carrying the CUDA error string.
#pragma once
#include <cstdint>

#include "attention.h"
#include "logmel.h"

namespace avsc {
namespace cuda {

int device_count();

// x: [n_signals, samples] -> out: [n_signals, n_mels, frames] (both device, float32, contiguous).
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
