// CUDA fused cross-attention: one warp per query row, each lane holding D/32 of the query and the
// output accumulator; a single pass over K/V with a running max (online softmax). blockIdx.z picks
// the problem, so events->objects and objects->events run in one launch.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "cuda_kernels.h"

namespace avsc {
namespace cuda {
namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kMaxPerLane = 8;  // D <= 256

struct Problems {
  AttentionProblem p[2];
};

__global__ void attention_kernel(Problems problems) {
  const AttentionProblem& pr = problems.p[blockIdx.z];
  const AttentionShape s = pr.shape;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t bh = blockIdx.y;
  if (bh >= s.batch * s.heads) return;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + warp;
  if (row >= s.lq) return;
  const int64_t D = s.dim, b = bh / s.heads;
  const float* q = pr.q + (bh * s.lq + row) * D;
  const float* k = pr.k + bh * s.lk * D;
  const float* v = pr.v + bh * s.lk * D;
  const uint8_t* mask = pr.mask ? pr.mask + b * s.lk : nullptr;

  float qr[kMaxPerLane], acc[kMaxPerLane];
#pragma unroll
  for (int i = 0; i < kMaxPerLane; ++i) {
    const int64_t d = lane + 32 * i;
    qr[i] = d < D ? q[d] * pr.scale : 0.0f;
    acc[i] = 0.0f;
  }
  float running_max = -INFINITY, denom = 0.0f;
  for (int64_t j = 0; j < s.lk; ++j) {
    if (mask && mask[j]) continue;
    const float* kj = k + j * D;
    float part = 0.0f;
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i) {
      const int64_t d = lane + 32 * i;
      if (d < D) part += qr[i] * kj[d];
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) part += __shfl_xor_sync(0xffffffffu, part, off);
    const float score = part;
    if (score > running_max) {
      const float c = __expf(running_max - score);
      denom *= c;
#pragma unroll
      for (int i = 0; i < kMaxPerLane; ++i) acc[i] *= c;
      running_max = score;
    }
    const float pj = __expf(score - running_max);
    denom += pj;
    const float* vj = v + j * D;
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i) {
      const int64_t d = lane + 32 * i;
      if (d < D) acc[i] += pj * vj[d];
    }
  }
  float* o = pr.out + (bh * s.lq + row) * D;
  const float inv = 1.0f / denom;
#pragma unroll
  for (int i = 0; i < kMaxPerLane; ++i) {
    const int64_t d = lane + 32 * i;
    if (d < D) o[d] = acc[i] * inv;
  }
}

}  // namespace

void cross_attention(const AttentionProblem* problems, int count, void* stream_ptr) {
  if (count < 1 || count > 2) throw std::invalid_argument("cross_attention takes one or two problems");
  Problems all{};
  int64_t max_rows = 0, max_bh = 0;
  for (int i = 0; i < count; ++i) {
    all.p[i] = problems[i];
    if (problems[i].shape.dim > 32 * kMaxPerLane) throw std::invalid_argument("head dim must be <= 256 on CUDA");
    max_rows = std::max(max_rows, problems[i].shape.lq);
    max_bh = std::max(max_bh, problems[i].shape.batch * problems[i].shape.heads);
  }
  dim3 grid(static_cast<unsigned>((max_rows + kWarpsPerBlock - 1) / kWarpsPerBlock), static_cast<unsigned>(max_bh),
            static_cast<unsigned>(count));
  attention_kernel<<<grid, 32 * kWarpsPerBlock, 0, static_cast<cudaStream_t>(stream_ptr)>>>(all);
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string("attention_kernel launch: ") + cudaGetErrorString(err));
}

}  // namespace cuda
}  // namespace avsc
