// The GEMM driver: blocks the product for the caches, packs panels of A and B so the micro-kernel
// reads both contiguously, and spreads the blocks over the addon's thread pool. The loop nest is the
// classic one (columns of C in nc blocks, k in kc blocks with B packed once per block, rows of C in
// mc blocks with A packed per task, then nr x mr register tiles).

#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "gemm_kernels.h"
#include "thread_pool.h"

#ifdef GENVIEW_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace genview {
namespace {

// Below this many multiply-adds a product runs on the calling thread: a hand-off costs more.
constexpr int64_t kSerialFlops = int64_t{1} << 18;

// Products whose depth dwarfs their output (a convolution's filter gradient: K = batch x pixels, C a
// few hundred by a few hundred) have too few row blocks to share out and pay two pool hand-offs per
// kc block. They are cut along K into slices of this depth instead: each slice is one serial product
// into a partial C of its own, and the partials are added in slice order. Whether and how a product is
// cut depends on its shape only, so results stay bit-identical for any thread count.
constexpr int64_t kDepthSlice = 4096;

bool SplitsDepth(int64_t m, int64_t n, int64_t k) {
  int64_t slices = (k + kDepthSlice - 1) / kDepthSlice;
  return k >= 4 * kDepthSlice && m * n <= (int64_t{1} << 20) && slices * m * n <= (int64_t{1} << 24);
}

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

// A grow-only, 64-byte-aligned buffer per thread (the packed panels are re-filled on every call,
// so they are never zeroed or copied when they grow).
float* ThreadBuffer(size_t floats, int which) {
  thread_local std::unique_ptr<float, FreeDeleter> buffers[3];
  thread_local size_t capacity[3] = {0, 0, 0};
  if (floats > capacity[which]) {
    size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    void* p = nullptr;
    if (posix_memalign(&p, 64, bytes) != 0) throw std::bad_alloc();
    buffers[which].reset(static_cast<float*>(p));
    capacity[which] = floats;
  }
  return buffers[which].get();
}

struct Operand {
  const float* data;
  int64_t ld;
  bool trans;
};

// Packs rows [i0, i0 + rows) and depth [p0, p0 + kc) of op(A) into mr-row panels, [panel][k][mr];
// rows past the end are zero so the micro-kernel never needs a row count.
void PackA(const Operand& a, int64_t i0, int64_t rows, int64_t p0, int64_t kc, int mr, float* out) {
  for (int64_t r0 = 0; r0 < rows; r0 += mr, out += kc * mr) {
    int64_t valid = std::min<int64_t>(mr, rows - r0);
    if (a.trans) {
      // op(A)[i, k] = A[k, i]: each k contributes mr contiguous floats.
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = a.data + (p0 + k) * a.ld + i0 + r0;
        float* dst = out + k * mr;
        std::memcpy(dst, src, sizeof(float) * valid);
        for (int64_t i = valid; i < mr; ++i) dst[i] = 0.0f;
      }
    } else {
      for (int64_t i = 0; i < mr; ++i) {
        if (i < valid) {
          const float* src = a.data + (i0 + r0 + i) * a.ld + p0;
          for (int64_t k = 0; k < kc; ++k) out[k * mr + i] = src[k];
        } else {
          for (int64_t k = 0; k < kc; ++k) out[k * mr + i] = 0.0f;
        }
      }
    }
  }
}

// Packs depth [p0, p0 + kc) and columns of nr-column panel `panel` (from column j0) of op(B):
// [k][nr], columns past `cols` zero.
void PackBPanel(const Operand& b, int64_t p0, int64_t kc, int64_t j0, int64_t cols, int64_t panel, int nr,
                float* out) {
  int64_t c0 = panel * nr;
  int64_t valid = std::min<int64_t>(nr, cols - c0);
  out += panel * kc * nr;
  if (!b.trans) {
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = b.data + (p0 + k) * b.ld + j0 + c0;
      float* dst = out + k * nr;
      std::memcpy(dst, src, sizeof(float) * valid);
      for (int64_t j = valid; j < nr; ++j) dst[j] = 0.0f;
    }
  } else {
    // op(B)[k, j] = B[j, k]: read each row of B contiguously.
    for (int64_t j = 0; j < nr; ++j) {
      if (j < valid) {
        const float* src = b.data + (j0 + c0 + j) * b.ld + p0;
        for (int64_t k = 0; k < kc; ++k) out[k * nr + j] = src[k];
      } else {
        for (int64_t k = 0; k < kc; ++k) out[k * nr + j] = 0.0f;
      }
    }
  }
}

void ScaleC(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    if (beta == 0.0f) {
      std::fill(row, row + n, 0.0f);
    } else if (beta != 1.0f) {
      for (int64_t j = 0; j < n; ++j) row[j] *= beta;
    }
  }
}

// One mr x nr tile; edge tiles go through a full-size scratch tile so the kernel has one shape.
inline void Tile(const GemmKernelSpec& s, int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc,
                 int64_t rows, int64_t cols, float alpha, float beta) {
  if (rows == s.mr && cols == s.nr) {
    s.micro(kc, ap, bp, c, ldc, alpha, beta);
    return;
  }
  alignas(64) float tile[16 * 64];  // >= the largest mr x nr
  s.micro(kc, ap, bp, tile, s.nr, alpha, 0.0f);
  for (int64_t i = 0; i < rows; ++i) {
    float* ci = c + i * ldc;
    const float* ti = tile + i * s.nr;
    if (beta == 0.0f) {
      for (int64_t j = 0; j < cols; ++j) ci[j] = ti[j];
    } else {
      for (int64_t j = 0; j < cols; ++j) ci[j] = ti[j] + beta * ci[j];
    }
  }
}

void OwnSgemm(const GemmKernelSpec& s, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    ScaleC(m, n, beta, c, ldc);
    return;
  }
  if (SplitsDepth(m, n, k)) {
    const int64_t slices = (k + kDepthSlice - 1) / kDepthSlice;
    const int64_t size = m * n;
    float* partial = ThreadBuffer(static_cast<size_t>(slices * size), 2);
    // Inside a task the nested product's own parallel loops run inline: one slice per thread at a time.
    ParallelTasks(slices, [&](int64_t q) {
      int64_t p0 = q * kDepthSlice, depth = std::min<int64_t>(kDepthSlice, k - p0);
      const float* aq = transA ? a + p0 * lda : a + p0;
      const float* bq = transB ? b + p0 : b + p0 * ldb;
      OwnSgemm(s, transA, transB, m, n, depth, 1.0f, aq, lda, bq, ldb, 0.0f, partial + q * size, n);
    });
    ParallelFor(m, std::max<int64_t>(1, 4096 / n), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        float* ci = c + i * ldc;
        for (int64_t j = 0; j < n; ++j) {
          float sum = partial[i * n + j];
          for (int64_t q = 1; q < slices; ++q) sum += partial[q * size + i * n + j];
          ci[j] = beta == 0.0f ? alpha * sum : alpha * sum + beta * ci[j];
        }
      }
    });
    return;
  }
  const Operand A{a, lda, transA}, B{b, ldb, transB};
  const int64_t threads = m * n * k < kSerialFlops ? 1 : PoolThreads();
  // Row blocks of at most the L2-sized mc. When there are only a few, make their count a multiple of
  // the threads so none idles through the last round (288 rows on 2 threads: 4 x 72, not 3 x 108).
  int64_t rowBlocks = (m + s.mc - 1) / s.mc;
  if (rowBlocks < 4 * threads) rowBlocks = (rowBlocks + threads - 1) / threads * threads;
  int64_t mc = ((m + rowBlocks - 1) / rowBlocks + s.mr - 1) / s.mr * s.mr;
  rowBlocks = (m + mc - 1) / mc;
  for (int64_t j0 = 0; j0 < n; j0 += s.nc) {
    int64_t cols = std::min<int64_t>(s.nc, n - j0);
    int64_t panels = (cols + s.nr - 1) / s.nr;
    // With fewer row blocks than threads (short, wide products), split the column panels too.
    int64_t colSplits = std::max<int64_t>(1, std::min<int64_t>(panels, (threads + rowBlocks - 1) / rowBlocks));
    for (int64_t p0 = 0; p0 < k; p0 += s.kc) {
      int64_t kc = std::min<int64_t>(s.kc, k - p0);
      float* bp = ThreadBuffer(static_cast<size_t>(panels * kc * s.nr), 0);
      if (threads > 1 && panels > 1) {
        ParallelTasks(panels, [&](int64_t q) { PackBPanel(B, p0, kc, j0, cols, q, s.nr, bp); });
      } else {
        for (int64_t q = 0; q < panels; ++q) PackBPanel(B, p0, kc, j0, cols, q, s.nr, bp);
      }
      // The first k block applies the caller's beta; later ones add to what it wrote.
      float betaHere = p0 == 0 ? beta : 1.0f;
      auto task = [&](int64_t t) {
        int64_t rb = t / colSplits, cs = t % colSplits;
        int64_t i0 = rb * mc, rows = std::min<int64_t>(mc, m - i0);
        int64_t q0 = panels * cs / colSplits, q1 = panels * (cs + 1) / colSplits;
        if (q0 >= q1) return;
        float* ap = ThreadBuffer(static_cast<size_t>((rows + s.mr - 1) / s.mr * s.mr * kc), 1);
        PackA(A, i0, rows, p0, kc, s.mr, ap);
        for (int64_t q = q0; q < q1; ++q) {
          const float* bq = bp + q * kc * s.nr;
          int64_t jc = q * s.nr, tileCols = std::min<int64_t>(s.nr, cols - jc);
          for (int64_t r = 0; r < rows; r += s.mr) {
            Tile(s, kc, ap + r * kc, bq, c + (i0 + r) * ldc + j0 + jc, ldc, std::min<int64_t>(s.mr, rows - r),
                 tileCols, alpha, betaHere);
          }
        }
      };
      int64_t tasks = rowBlocks * colSplits;
      if (threads > 1 && tasks > 1) {
        ParallelTasks(tasks, task);
      } else {
        for (int64_t t = 0; t < tasks; ++t) task(t);
      }
    }
  }
}

// Our kernels, best first, as far as this CPU runs them.
std::vector<const GemmKernelSpec*> OwnKernels() {
  std::vector<const GemmKernelSpec*> list;
  for (const GemmKernelSpec* s : {Avx512Kernel(), Avx2Kernel(), GenericKernel()}) {
    if (s) list.push_back(s);
  }
  return list;
}

const GemmKernelSpec* FindOwn(const std::string& name) {
  for (const GemmKernelSpec* s : OwnKernels()) {
    if (name == s->name) return s;
  }
  return nullptr;
}

#ifdef GENVIEW_HAVE_OPENBLAS
constexpr bool kHaveBlas = true;
void BlasSgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k, alpha,
              a, lda, b, ldb, beta, c, ldc);
}
#else
constexpr bool kHaveBlas = false;
void BlasSgemm(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float,
               float*, int64_t) {}
#endif

// The current choice: OpenBLAS (own == nullptr) or one of our kernels. GENVIEW_NATIVE_GEMM picks
// one at load time (e.g. `avx2` to try a lower kernel, `generic` for the portable one).
struct Choice {
  const GemmKernelSpec* own = nullptr;
  bool blas = false;
};

// "auto": our kernel whenever the CPU has AVX2 or AVX-512, else OpenBLAS when linked, else our
// portable one. Product for product OpenBLAS 0.3.21 is ahead of our AVX2 kernel on skinny shapes, but
// the convolutions run whole image groups one per thread on our kernel (unfold, product and scatter
// in the core's own cache), which OpenBLAS's own threading rules out; on an AVX2 EPYC that made a
// stride-2 input gradient 3x and a ResNet-18 3x3 input gradient 3.2x faster than OpenBLAS's path.
bool Resolve(const std::string& name, Choice* out) {
  if (name == "auto") {
    const GemmKernelSpec* best = OwnKernels().front();
    bool preferOwn = !kHaveBlas || std::string(best->name) != "generic";
    *out = preferOwn ? Choice{best, false} : Choice{nullptr, true};
    return true;
  }
  if (name == "openblas") {
    if (!kHaveBlas) return false;
    *out = Choice{nullptr, true};
    return true;
  }
  const GemmKernelSpec* s = FindOwn(name);
  if (!s) return false;
  *out = Choice{s, false};
  return true;
}

Choice& Current() {
  static Choice choice = [] {
    Choice c;
    Resolve("auto", &c);
    const char* env = std::getenv("GENVIEW_NATIVE_GEMM");
    if (env && *env) Resolve(env, &c);  // an unknown name keeps "auto"; info() shows what runs
    return c;
  }();
  return choice;
}

void Run(const Choice& c, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
         int64_t lda, const float* b, int64_t ldb, float beta, float* cm, int64_t ldc) {
  if (c.blas) {
    BlasSgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, cm, ldc);
  } else {
    OwnSgemm(*c.own, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, cm, ldc);
  }
}

}  // namespace

void Sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  Run(Current(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

bool SgemmWith(const std::string& name, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  Choice choice;
  if (!Resolve(name, &choice)) return false;
  Run(choice, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  return true;
}

std::vector<std::string> GemmImplementations() {
  // In the order "auto" prefers them.
  std::vector<std::string> names;
  for (const GemmKernelSpec* s : OwnKernels()) names.push_back(s->name);
  if (kHaveBlas) names.insert(names.end() - 1, "openblas");  // just before the portable kernel, always last
  return names;
}

std::string GemmImplementation() {
  const Choice& c = Current();
  return c.blas ? "openblas" : c.own->name;
}

bool SelectGemm(const std::string& name) {
  Choice c;
  if (!Resolve(name, &c)) return false;
  Current() = c;
  return true;
}

#ifdef GENVIEW_HAVE_OPENBLAS
void SetBlasThreads(int threads) { openblas_set_num_threads(threads); }
int BlasThreads() { return openblas_get_num_threads(); }
std::string BlasConfig() { return openblas_get_config(); }
std::string BlasCore() { return openblas_get_corename(); }
#else
void SetBlasThreads(int) {}
int BlasThreads() { return 0; }
std::string BlasConfig() { return ""; }
std::string BlasCore() { return ""; }
#endif

}  // namespace genview
