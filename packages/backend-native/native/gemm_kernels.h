// The micro-kernels behind our GEMM and the block sizes each is tuned for. A micro-kernel computes
// one MR x NR tile of C from a packed MR-row panel of A and a packed NR-column panel of B:
// c = alpha * sum_k a[k*MR + i] * b[k*NR + j] + beta * c (c is not read when beta is 0).
#pragma once

#include <cstdint>

namespace genview {

using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                             float beta);

struct GemmKernelSpec {
  const char* name;
  int mr, nr;      // register tile
  int kc, mc, nc;  // cache blocks: kc x nr of B stays in L1, mc x kc of A in L2, kc x nc of B in L3
  MicroKernel micro;
};

// Each returns nullptr when this build or this CPU cannot run that kernel.
const GemmKernelSpec* Avx512Kernel();
const GemmKernelSpec* Avx2Kernel();
const GemmKernelSpec* GenericKernel();

}  // namespace genview
