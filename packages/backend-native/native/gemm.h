// Single-precision matrix multiply for the addon: C = alpha * op(A) * op(B) + beta * C, row-major,
// op(X) = X or X^T. Runs the system OpenBLAS when the addon was built against it, and otherwise (or
// when asked) our own packed, register-blocked GEMM with a micro-kernel picked for this CPU at load
// time. Our GEMM gives the same bits for any thread count: each element of C is summed in the same
// order whichever thread computes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace genview {

void Sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// The implementations this build and CPU can run, in the order "auto" prefers them: ours ("avx512",
// "avx2", "generic": portable vector code, the floor for any CPU) with "openblas", when linked, placed
// after avx512 and before avx2.
std::vector<std::string> GemmImplementations();

// The implementation Sgemm uses now.
std::string GemmImplementation();

// Makes Sgemm use `name` (one of GemmImplementations(), or "auto" for the first); false if unknown
// here, leaving the choice as it was.
bool SelectGemm(const std::string& name);

// Runs one product with a named implementation, leaving the default alone (tests compare them).
bool SgemmWith(const std::string& name, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Threads for OpenBLAS's own pool, when linked (our GEMM uses the addon's pool).
void SetBlasThreads(int threads);
int BlasThreads();
// OpenBLAS's configuration string and CPU core name, or empty when not linked.
std::string BlasConfig();
std::string BlasCore();

}  // namespace genview
