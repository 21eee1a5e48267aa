// The portable micro-kernel: 6 x 8 tile in 4-wide vectors (GCC/Clang vector extensions), which the
// compiler lowers to SSE2 on any x86-64 and to NEON on arm64. The floor under the dispatcher.

#include "gemm_kernels.h"

namespace genview {
namespace {

constexpr int kMr = 6, kNr = 8;
typedef float Vec4 __attribute__((vector_size(16)));

inline Vec4 Load(const float* p) {
  Vec4 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

inline void Store(float* p, Vec4 v) { __builtin_memcpy(p, &v, sizeof v); }

void MicroGeneric(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta) {
  Vec4 acc[kMr][2] = {};
  for (int64_t k = 0; k < kc; ++k, a += kMr, b += kNr) {
    Vec4 b0 = Load(b), b1 = Load(b + 4);
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      Vec4 ai = Vec4{} + a[i];
      acc[i][0] += ai * b0;
      acc[i][1] += ai * b1;
    }
  }
  for (int i = 0; i < kMr; ++i) {
    float* ci = c + i * ldc;
    if (beta == 0.0f) {
      Store(ci, acc[i][0] * alpha);
      Store(ci + 4, acc[i][1] * alpha);
    } else {
      Store(ci, acc[i][0] * alpha + Load(ci) * beta);
      Store(ci + 4, acc[i][1] * alpha + Load(ci + 4) * beta);
    }
  }
}

const GemmKernelSpec kGeneric{"generic", kMr, kNr, 256, 96, 2048, MicroGeneric};

}  // namespace

const GemmKernelSpec* GenericKernel() { return &kGeneric; }

}  // namespace genview
