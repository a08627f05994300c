// Fused scaled-dot-product cross-attention: softmax(Q K^T * scale [masked]) V.
#pragma once
#include <cstdint>

namespace avsc {

struct AttentionShape {
  int64_t batch, heads, lq, lk, dim;
};

struct AttentionArgs {
  const float* q;        // [B,H,Lq,D]
  const float* k;        // [B,H,Lk,D]
  const float* v;        // [B,H,Lk,D]
  const uint8_t* mask;   // [B,Lk], 1 = ignore that key; may be null (every row keeps one key: checked by caller)
  float* out;            // [B,H,Lq,D]
  AttentionShape shape;
  float scale;
};

// Runs `count` problems (e.g. events->objects and objects->events) in one parallel region.
// Keys up to kShortKeys: scores kept per query block, one pass over K then one over V, float sums.
// Longer: online softmax (running max) in one pass over K/V with double accumulators.
constexpr int64_t kShortKeys = 256;
void cross_attention_cpu(const AttentionArgs* problems, int count, int threads);

}  // namespace avsc
