// x86-64 micro-kernels: AVX-512 (12 x 32 tile, 24 of the 32 zmm registers accumulate) and AVX2 + FMA
// (6 x 16 tile, 12 of the 16 ymm registers). Each function carries its own target attribute, so the
// file builds with the baseline flags and the binary still runs on any x86-64; the dispatcher in
// gemm.cc only calls a kernel after the CPU has said it supports it.

#include "gemm_kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

namespace genview {
namespace {

constexpr int kAvx512Mr = 12, kAvx512Nr = 32;
constexpr int kAvx2Mr = 6, kAvx2Nr = 16;

__attribute__((target("avx512f"))) void MicroAvx512(int64_t kc, const float* a, const float* b, float* c,
                                                     int64_t ldc, float alpha, float beta) {
  __m512 acc[kAvx512Mr][2];
#pragma GCC unroll 12
  for (int i = 0; i < kAvx512Mr; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k, a += kAvx512Mr, b += kAvx512Nr) {
    __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < kAvx512Mr; ++i) {
      __m512 ai = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 12
    for (int i = 0; i < kAvx512Mr; ++i) {
      _mm512_storeu_ps(c + i * ldc, _mm512_mul_ps(va, acc[i][0]));
      _mm512_storeu_ps(c + i * ldc + 16, _mm512_mul_ps(va, acc[i][1]));
    }
  } else {
    __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int i = 0; i < kAvx512Mr; ++i) {
      float* ci = c + i * ldc;
      _mm512_storeu_ps(ci, _mm512_fmadd_ps(va, acc[i][0], _mm512_mul_ps(vb, _mm512_loadu_ps(ci))));
      _mm512_storeu_ps(ci + 16, _mm512_fmadd_ps(va, acc[i][1], _mm512_mul_ps(vb, _mm512_loadu_ps(ci + 16))));
    }
  }
}

__attribute__((target("avx2,fma"))) void MicroAvx2(int64_t kc, const float* a, const float* b, float* c,
                                                    int64_t ldc, float alpha, float beta) {
  __m256 acc[kAvx2Mr][2];
#pragma GCC unroll 6
  for (int i = 0; i < kAvx2Mr; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k, a += kAvx2Mr, b += kAvx2Nr) {
    __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kAvx2Mr; ++i) {
      __m256 ai = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  __m256 va = _mm256_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 6
    for (int i = 0; i < kAvx2Mr; ++i) {
      _mm256_storeu_ps(c + i * ldc, _mm256_mul_ps(va, acc[i][0]));
      _mm256_storeu_ps(c + i * ldc + 8, _mm256_mul_ps(va, acc[i][1]));
    }
  } else {
    __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
    for (int i = 0; i < kAvx2Mr; ++i) {
      float* ci = c + i * ldc;
      _mm256_storeu_ps(ci, _mm256_fmadd_ps(va, acc[i][0], _mm256_mul_ps(vb, _mm256_loadu_ps(ci))));
      _mm256_storeu_ps(ci + 8, _mm256_fmadd_ps(va, acc[i][1], _mm256_mul_ps(vb, _mm256_loadu_ps(ci + 8))));
    }
  }
}

// Block sizes: a kc x nr panel of B (24 KB for AVX-512, 16 KB for AVX2) stays in a 32 KB L1 while
// the micro-kernel walks the mc rows of the packed A block (about 110 KB, in L2).
const GemmKernelSpec kAvx512{"avx512", kAvx512Mr, kAvx512Nr, 192, 144, 3072, MicroAvx512};
const GemmKernelSpec kAvx2{"avx2", kAvx2Mr, kAvx2Nr, 256, 108, 3072, MicroAvx2};

}  // namespace

const GemmKernelSpec* Avx512Kernel() { return __builtin_cpu_supports("avx512f") ? &kAvx512 : nullptr; }
const GemmKernelSpec* Avx2Kernel() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? &kAvx2 : nullptr;
}

}  // namespace genview

#else

namespace genview {
const GemmKernelSpec* Avx512Kernel() { return nullptr; }
const GemmKernelSpec* Avx2Kernel() { return nullptr; }
}  // namespace genview

#endif
