// Known-answer test of the CPU kernels, self-contained (no Python): the fused log-mel and the
// cross-attention (short-key and online-softmax paths) on closed-form inputs against the NumPy
// references' outputs in known_answers.h. Built natively or cross-compiled (aarch64 under
// qemu-user: scripts/aarch64_check.sh). Exit status 0 when every value is within tolerance.
#include <cmath>
#include <cstdio>
#include <vector>

#include "../attention.h"
#include "../logmel.h"
#include "known_answers.h"

namespace {

int failures = 0;

void expect_close(const char* what, const float* got, const float* want, size_t n, float atol) {
  float worst = 0.0f;
  for (size_t i = 0; i < n; ++i) worst = std::fmax(worst, std::fabs(got[i] - want[i]));
  const bool ok = worst <= atol && std::isfinite(worst);
  std::printf("%-28s max |diff| %.3g (tolerance %.3g): %s\n", what, worst, atol, ok ? "ok" : "FAIL");
  failures += !ok;
}

// dB values: float32 power has no precision left near the floor (amin = 1e-10, -100 dB), so bins
// more than 60 dB below the loudest one get a looser bound.
void expect_close_db(const char* what, const float* got, const float* want, size_t n) {
  float loudest = -1e30f, worst_loud = 0.0f, worst_quiet = 0.0f;
  for (size_t i = 0; i < n; ++i) loudest = std::fmax(loudest, want[i]);
  for (size_t i = 0; i < n; ++i) {
    const float d = std::fabs(got[i] - want[i]);
    if (want[i] > loudest - 60.0f) worst_loud = std::fmax(worst_loud, d); else worst_quiet = std::fmax(worst_quiet, d);
  }
  const bool ok = worst_loud <= 0.01f && worst_quiet <= 0.5f && std::isfinite(worst_loud + worst_quiet);
  std::printf("%-28s max |diff| %.3g dB within 60 dB of the peak (tolerance 0.01), %.3g below (0.5): %s\n", what,
              worst_loud, worst_quiet, ok ? "ok" : "FAIL");
  failures += !ok;
}

std::vector<float> tensor(size_t n, double salt) {
  std::vector<float> t(n);
  for (size_t i = 0; i < n; ++i) t[i] = static_cast<float>(std::sin(0.7 * double(i) + salt));
  return t;
}

void attention_case(const char* name, const int* dims, const float* want) {
  const int b = dims[0], h = dims[1], lq = dims[2], lk = dims[3], d = dims[4];
  auto q = tensor(size_t(b) * h * lq * d, 0.1), k = tensor(size_t(b) * h * lk * d, 0.2),
       v = tensor(size_t(b) * h * lk * d, 0.3);
  std::vector<float> out(q.size());
  avsc::AttentionArgs args{q.data(), k.data(), v.data(), nullptr, out.data(), {b, h, lq, lk, d},
                           1.0f / std::sqrt(float(d))};
  avsc::cross_attention_cpu(&args, 1, 2);
  expect_close(name, out.data(), want, out.size(), 2e-5f);
}

}  // namespace

int main() {
  std::vector<float> x(kSamples);
  for (int i = 0; i < kSamples; ++i)
    x[i] = static_cast<float>(std::sin(0.01 * i) + 0.5 * std::sin(0.37 * i) * std::cos(0.0021 * i));
  avsc::LogMelParams p;
  p.n_fft = kNfft;
  p.hop = kHop;
  p.threads = 2;
  const avsc::MelBasis mel = avsc::MelBasis::from_dense(kMelBasis, kMels, kNfft / 2 + 1);
  const int64_t frames = avsc::log_mel_num_frames(kSamples, p);
  std::vector<float> out(size_t(kMels) * frames);
  avsc::log_mel_cpu(x.data(), 1, kSamples, kWindow, mel, p, out.data());
  expect_close_db("log-mel", out.data(), kLogMel, out.size());
  attention_case("attention, short keys", kAttn0, kAttnOut0);
  attention_case("attention, online softmax", kAttn1, kAttnOut1);
  std::printf("%s\n", failures ? "known-answer test FAILED" : "known-answer test passed");
  return failures ? 1 : 0;
}
