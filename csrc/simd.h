// Function multi-versioning: hot loops get an AVX2/FMA clone picked at load time on x86-64 GCC
// builds; elsewhere (aarch64, clang, AVSC_EDGE_NO_CLONES for sanitizers) the macro is empty.
#pragma once

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(AVSC_EDGE_NO_CLONES)
#define AVSC_SIMD_CLONES __attribute__((target_clones("arch=haswell", "default")))
#else
#define AVSC_SIMD_CLONES
#endif
