#include "attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "parallel.h"

namespace avsc {

namespace {
constexpr int64_t kQueryBlock = 8;  // queries that share one pass over K/V
}

void cross_attention_cpu(const float* q, const float* k, const float* v, const uint8_t* mask,
                         const AttentionShape& s, float scale, int threads, float* out) {
  const int64_t D = s.dim, blocks_per_head = (s.lq + kQueryBlock - 1) / kQueryBlock;
  const int64_t tasks = s.batch * s.heads * blocks_per_head;
  const int64_t work_per_task = kQueryBlock * s.lk * D;
  const int64_t min_chunk = std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(1, work_per_task));

  parallel_for(tasks, threads, min_chunk, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(kQueryBlock * D), running_max(kQueryBlock), denom(kQueryBlock), score(kQueryBlock);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t bh = task / blocks_per_head, qb = task % blocks_per_head;
      const int64_t b = bh / s.heads;
      const int64_t q0 = qb * kQueryBlock, nq = std::min(kQueryBlock, s.lq - q0);
      const float* qp = q + (bh * s.lq + q0) * D;
      const float* kp = k + bh * s.lk * D;
      const float* vp = v + bh * s.lk * D;
      const uint8_t* mp = mask ? mask + b * s.lk : nullptr;
      std::fill(acc.begin(), acc.end(), 0.0f);
      std::fill(running_max.begin(), running_max.end(), -std::numeric_limits<float>::infinity());
      std::fill(denom.begin(), denom.end(), 0.0f);
      for (int64_t j = 0; j < s.lk; ++j) {
        if (mp && mp[j]) continue;
        const float* kj = kp + j * D;
        const float* vj = vp + j * D;
        for (int64_t i = 0; i < nq; ++i) {
          const float* qi = qp + i * D;
          float dot = 0.0f;
          for (int64_t d = 0; d < D; ++d) dot += qi[d] * kj[d];
          score[i] = dot * scale;
        }
        for (int64_t i = 0; i < nq; ++i) {
          float* a = acc.data() + i * D;
          if (score[i] > running_max[i]) {
            const float correction = std::exp(running_max[i] - score[i]);
            running_max[i] = score[i];
            denom[i] *= correction;
            for (int64_t d = 0; d < D; ++d) a[d] *= correction;
          }
          const float pj = std::exp(score[i] - running_max[i]);
          denom[i] += pj;
          for (int64_t d = 0; d < D; ++d) a[d] += pj * vj[d];
        }
      }
      float* op = out + (bh * s.lq + q0) * D;
      for (int64_t i = 0; i < nq; ++i) {
        const float inv = 1.0f / denom[i];
        for (int64_t d = 0; d < D; ++d) op[i * D + d] = acc[i * D + d] * inv;
      }
    }
  });
}

}  // namespace avsc
