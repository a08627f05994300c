// Fused scaled-dot-product cross-attention: softmax(Q K^T * scale [masked]) V with a running max.
#pragma once
#include <cstdint>

namespace avsc {

struct AttentionShape {
  int64_t batch, heads, lq, lk, dim;
};

// q: [B,H,Lq,D], k/v: [B,H,Lk,D], mask: [B,Lk] (1 = ignore that key) or nullptr; out: [B,H,Lq,D].
// Every row must keep at least one key (checked by the caller).
void cross_attention_cpu(const float* q, const float* k, const float* v, const uint8_t* mask,
                         const AttentionShape& s, float scale, int threads, float* out);

}  // namespace avsc
