#include "attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "parallel.h"

namespace avsc {

namespace {
constexpr int64_t kQueryBlock = 8;  // queries that share one pass over K/V

// Dot product with 8 independent partial sums: vectorises, and rounds like a pairwise sum.
inline float dot(const float* a, const float* b, int64_t n) {
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) part[j] += a[i + j] * b[i + j];
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7])) + tail;
}
}  // namespace

void cross_attention_cpu(const float* q, const float* k, const float* v, const uint8_t* mask,
                         const AttentionShape& s, float scale, int threads, float* out) {
  const int64_t D = s.dim, blocks_per_head = (s.lq + kQueryBlock - 1) / kQueryBlock;
  const int64_t tasks = s.batch * s.heads * blocks_per_head;
  const int64_t work_per_task = kQueryBlock * s.lk * D;
  const int64_t min_chunk = std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(1, work_per_task));

  parallel_for(tasks, threads, min_chunk, [&](int64_t begin, int64_t end) {
    // Accumulators in double: long key sequences (1024+) stay within float32 SDPA's own error.
    std::vector<double> acc(kQueryBlock * D), denom(kQueryBlock);
    std::vector<float> running_max(kQueryBlock), score(kQueryBlock);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t bh = task / blocks_per_head, qb = task % blocks_per_head;
      const int64_t b = bh / s.heads;
      const int64_t q0 = qb * kQueryBlock, nq = std::min(kQueryBlock, s.lq - q0);
      const float* qp = q + (bh * s.lq + q0) * D;
      const float* kp = k + bh * s.lk * D;
      const float* vp = v + bh * s.lk * D;
      const uint8_t* mp = mask ? mask + b * s.lk : nullptr;
      std::fill(acc.begin(), acc.end(), 0.0);
      std::fill(running_max.begin(), running_max.end(), -std::numeric_limits<float>::infinity());
      std::fill(denom.begin(), denom.end(), 0.0);
      for (int64_t j = 0; j < s.lk; ++j) {
        if (mp && mp[j]) continue;
        const float* kj = kp + j * D;
        const float* vj = vp + j * D;
        for (int64_t i = 0; i < nq; ++i) score[i] = dot(qp + i * D, kj, D) * scale;
        for (int64_t i = 0; i < nq; ++i) {
          double* a = acc.data() + i * D;
          if (score[i] > running_max[i]) {
            const double correction = std::exp(double(running_max[i]) - double(score[i]));
            running_max[i] = score[i];
            denom[i] *= correction;
            for (int64_t d = 0; d < D; ++d) a[d] *= correction;
          }
          const double pj = std::exp(double(score[i]) - double(running_max[i]));
          denom[i] += pj;
          for (int64_t d = 0; d < D; ++d) a[d] += pj * vj[d];
        }
      }
      float* op = out + (bh * s.lq + q0) * D;
      for (int64_t i = 0; i < nq; ++i) {
        const double inv = 1.0 / denom[i];
        for (int64_t d = 0; d < D; ++d) op[i * D + d] = static_cast<float>(acc[i * D + d] * inv);
      }
    }
  });
}

}  // namespace avsc
