// A tiny OpenMP wrapper: split [0, n) into contiguous chunks, one per thread; serial for small n.
#pragma once
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace avsc {

inline int resolve_threads(int requested) {
#ifdef _OPENMP
  return requested > 0 ? requested : omp_get_max_threads();
#else
  (void)requested;
  return 1;
#endif
}

// fn(begin, end) is called once per chunk; chunks are at least min_chunk items long.
template <typename Fn>
void parallel_for(int64_t n, int threads, int64_t min_chunk, Fn&& fn) {
  if (n <= 0) return;
  const int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk));
  const int nt = static_cast<int>(std::min<int64_t>(resolve_threads(threads), max_chunks));
  if (nt <= 1) {
    fn(int64_t(0), n);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
  {
    const int64_t tid = omp_get_thread_num(), count = omp_get_num_threads();
    const int64_t begin = n * tid / count, end = n * (tid + 1) / count;
    if (begin < end) fn(begin, end);
  }
#else
  fn(int64_t(0), n);
#endif
}

}  // namespace avsc
