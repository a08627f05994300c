#include "attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "parallel.h"
#include "simd.h"

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

struct Task {
  const AttentionArgs* p;
  int64_t bh, q0, nq;
};

// Short key sequences: scores of the whole block in a buffer, softmax, then one pass over V.
AVSC_SIMD_CLONES
void short_keys(const Task& t, std::vector<float>& scores) {
  const AttentionShape& s = t.p->shape;
  const int64_t D = s.dim, lk = s.lk, b = t.bh / s.heads;
  const float* qp = t.p->q + (t.bh * s.lq + t.q0) * D;
  const float* kp = t.p->k + t.bh * lk * D;
  const float* vp = t.p->v + t.bh * lk * D;
  const uint8_t* mp = t.p->mask ? t.p->mask + b * lk : nullptr;
  float* op = t.p->out + (t.bh * s.lq + t.q0) * D;
  scores.resize(kQueryBlock * lk);
  for (int64_t j = 0; j < lk; ++j) {
    const bool masked = mp && mp[j];
    for (int64_t i = 0; i < t.nq; ++i)
      scores[i * lk + j] = masked ? -std::numeric_limits<float>::infinity() : dot(qp + i * D, kp + j * D, D) * t.p->scale;
  }
  for (int64_t i = 0; i < t.nq; ++i) {
    float* si = scores.data() + i * lk;
    const float m = *std::max_element(si, si + lk);
    double sum = 0.0;
    for (int64_t j = 0; j < lk; ++j) {
      si[j] = std::exp(si[j] - m);
      sum += si[j];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t j = 0; j < lk; ++j) si[j] *= inv;
    std::fill(op + i * D, op + (i + 1) * D, 0.0f);
  }
  for (int64_t j = 0; j < lk; ++j) {
    const float* vj = vp + j * D;
    for (int64_t i = 0; i < t.nq; ++i) {
      const float pj = scores[i * lk + j];
      if (pj == 0.0f) continue;
      float* o = op + i * D;
      for (int64_t d = 0; d < D; ++d) o[d] += pj * vj[d];
    }
  }
}

// Long key sequences: online softmax with a running max, double accumulators.
void long_keys(const Task& t, std::vector<double>& acc) {
  const AttentionShape& s = t.p->shape;
  const int64_t D = s.dim, b = t.bh / s.heads;
  const float* qp = t.p->q + (t.bh * s.lq + t.q0) * D;
  const float* kp = t.p->k + t.bh * s.lk * D;
  const float* vp = t.p->v + t.bh * s.lk * D;
  const uint8_t* mp = t.p->mask ? t.p->mask + b * s.lk : nullptr;
  acc.assign(kQueryBlock * D, 0.0);
  double denom[kQueryBlock] = {0};
  float running_max[kQueryBlock], score[kQueryBlock];
  std::fill(running_max, running_max + kQueryBlock, -std::numeric_limits<float>::infinity());
  for (int64_t j = 0; j < s.lk; ++j) {
    if (mp && mp[j]) continue;
    const float* kj = kp + j * D;
    const float* vj = vp + j * D;
    for (int64_t i = 0; i < t.nq; ++i) score[i] = dot(qp + i * D, kj, D) * t.p->scale;
    for (int64_t i = 0; i < t.nq; ++i) {
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
  float* op = t.p->out + (t.bh * s.lq + t.q0) * D;
  for (int64_t i = 0; i < t.nq; ++i)
    for (int64_t d = 0; d < D; ++d) op[i * D + d] = static_cast<float>(acc[i * D + d] / denom[i]);
}

}  // namespace

void cross_attention_cpu(const AttentionArgs* problems, int count, int threads) {
  std::vector<Task> tasks;
  int64_t work = 0;
  for (int c = 0; c < count; ++c) {
    const AttentionShape& s = problems[c].shape;
    for (int64_t bh = 0; bh < s.batch * s.heads; ++bh)
      for (int64_t q0 = 0; q0 < s.lq; q0 += kQueryBlock)
        tasks.push_back({&problems[c], bh, q0, std::min(kQueryBlock, s.lq - q0)});
    work += s.batch * s.heads * s.lq * s.lk * s.dim;
  }
  // Forking threads costs more than tiny problems take: stay serial below ~256k multiply-adds.
  const int64_t min_chunk = std::max<int64_t>(1, int64_t(tasks.size()) * (int64_t(1) << 18) / std::max<int64_t>(1, work));
  parallel_for(static_cast<int64_t>(tasks.size()), threads, min_chunk, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;
    std::vector<double> acc;
    for (int64_t i = begin; i < end; ++i) {
      if (tasks[i].p->shape.lk <= kShortKeys)
        short_keys(tasks[i], scores);
      else
        long_keys(tasks[i], acc);
    }
  });
}

}  // namespace avsc
