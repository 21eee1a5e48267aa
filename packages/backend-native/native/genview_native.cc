// Native CPU kernels for the 'genview-native' TensorFlow.js backend.
//
// Every function works in place on Float32Arrays that the JS side owns (the cpu backend's tensor
// storage), so no tensor data is copied across the boundary. Layout is NHWC throughout, filters are
// [KH, KW, Cin, Cout] as in TensorFlow.js. Convolutions are im2col + sgemm (gemm.h: the system
// OpenBLAS when the build found one, our own GEMM otherwise); the memory-bound loops (im2col, col2im,
// reductions, elementwise) are split over the addon's thread pool because on a small machine a single
// thread leaves half the memory bandwidth idle.

#include <napi.h>
#include <malloc.h>

#include "gemm.h"
#include "optimizer_update.h"
#include "thread_pool.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using genview::ParallelFor;
using genview::Sgemm;

int Threads() { return genview::PoolThreads(); }

// One grow-only scratch buffer for im2col columns per JavaScript thread (kernels run synchronously
// on it); reusing it avoids a fresh (and, with std::vector, zero-filled) allocation of up to
// 32 MB per convolution call.
float* Scratch(size_t n, int slot = 0) {
  thread_local std::unique_ptr<float[]> buf[2];
  thread_local size_t cap[2] = {0, 0};
  if (n > cap[slot]) {
    buf[slot].reset(new float[n]);
    cap[slot] = n;
  }
  return buf[slot].get();
}

struct ConvParams {
  int64_t batch, inH, inW, inC, outH, outW, outC, fH, fW, strideH, strideW, dilH, dilW, padTop, padLeft;
};

ConvParams ReadConv(const Napi::Value& v) {
  Napi::Array a = v.As<Napi::Array>();
  auto g = [&](uint32_t i) { return static_cast<int64_t>(a.Get(i).As<Napi::Number>().Int64Value()); };
  return ConvParams{g(0), g(1), g(2), g(3), g(4), g(5), g(6), g(7), g(8), g(9), g(10), g(11), g(12), g(13), g(14)};
}

float* F32(const Napi::Value& v) { return v.As<Napi::Float32Array>().Data(); }
size_t Len(const Napi::Value& v) { return v.As<Napi::Float32Array>().ElementLength(); }

bool IsPointwise(const ConvParams& p) {
  return p.fH == 1 && p.fW == 1 && p.strideH == 1 && p.strideW == 1 && p.padTop == 0 && p.padLeft == 0 &&
         p.outH == p.inH && p.outW == p.inW;
}

// Rows of the im2col matrix handled per gemm call: large enough to keep sgemm efficient, small enough
// that the column buffer (rows x K floats) stays around 8 MB and largely in cache between im2col and
// sgemm (measured ~10 % less CPU per ResNet-18 step than a 32 MB buffer).
int64_t ChunkRows(const ConvParams& p, int64_t K) {
  int64_t perImage = p.outH * p.outW;
  int64_t budget = std::max<int64_t>(perImage, (int64_t{2} << 20) / std::max<int64_t>(1, K));
  int64_t images = std::max<int64_t>(1, budget / perImage);
  return images * perImage;
}

// col[r, (kh*fW + kw)*inC + c] for output rows [row0, row0 + rows); rows are whole images.
void Im2Col(const float* x, float* col, const ConvParams& p, int64_t img0, int64_t images) {
  const int64_t K = p.fH * p.fW * p.inC;
  const int64_t perImage = p.outH * p.outW;
  ParallelFor(images * p.outH, 8, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      int64_t n = img0 + t / p.outH, oh = t % p.outH;
      float* dst = col + ((t / p.outH) * perImage + oh * p.outW) * K;
      const float* xn = x + n * p.inH * p.inW * p.inC;
      for (int64_t ow = 0; ow < p.outW; ++ow, dst += K) {
        float* d = dst;
        for (int64_t kh = 0; kh < p.fH; ++kh) {
          int64_t ih = oh * p.strideH - p.padTop + kh * p.dilH;
          if (ih < 0 || ih >= p.inH) {
            std::memset(d, 0, sizeof(float) * p.fW * p.inC);
            d += p.fW * p.inC;
            continue;
          }
          for (int64_t kw = 0; kw < p.fW; ++kw, d += p.inC) {
            int64_t iw = ow * p.strideW - p.padLeft + kw * p.dilW;
            if (iw < 0 || iw >= p.inW) {
              std::memset(d, 0, sizeof(float) * p.inC);
            } else {
              std::memcpy(d, xn + (ih * p.inW + iw) * p.inC, sizeof(float) * p.inC);
            }
          }
        }
      }
    }
  });
}

// dx[n, ih, iw, c] += dcol[...]: the adjoint of Im2Col. Split by image so no two threads write the
// same dx element.
void Col2Im(const float* col, float* dx, const ConvParams& p, int64_t img0, int64_t images) {
  const int64_t K = p.fH * p.fW * p.inC;
  const int64_t perImage = p.outH * p.outW;
  ParallelFor(images, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      float* dxn = dx + (img0 + i) * p.inH * p.inW * p.inC;
      const float* src = col + i * perImage * K;
      for (int64_t oh = 0; oh < p.outH; ++oh) {
        for (int64_t ow = 0; ow < p.outW; ++ow, src += K) {
          const float* s = src;
          for (int64_t kh = 0; kh < p.fH; ++kh) {
            int64_t ih = oh * p.strideH - p.padTop + kh * p.dilH;
            if (ih < 0 || ih >= p.inH) {
              s += p.fW * p.inC;
              continue;
            }
            for (int64_t kw = 0; kw < p.fW; ++kw, s += p.inC) {
              int64_t iw = ow * p.strideW - p.padLeft + kw * p.dilW;
              if (iw < 0 || iw >= p.inW) continue;
              float* d = dxn + (ih * p.inW + iw) * p.inC;
              for (int64_t c = 0; c < p.inC; ++c) d[c] += s[c];
            }
          }
        }
      }
    }
  });
}

// Images per group when each thread unfolds and multiplies whole images on its own: few enough that
// their columns (images x pixels x K floats) stay in the core's L2 between the unfold or product that
// writes them and the product or scatter that reads them back. 0 when the groups would not pay: fewer
// groups than threads (a few large images keep every thread busy inside one product instead), or
// OpenBLAS (it runs threads of its own). Both paths sum every output in the same order, so which one
// runs, and so the thread count, never changes the result.
int64_t ImageGroup(const ConvParams& p, int64_t K) {
  const int64_t perImage = p.outH * p.outW;
  const int64_t local = std::max<int64_t>(1, (int64_t{96} << 10) / std::max<int64_t>(1, perImage * K));
  const int64_t groups = (p.batch + local - 1) / local;
  return groups >= std::max(2, genview::PoolThreads()) && genview::GemmImplementation() != "openblas" ? local : 0;
}

// y = conv(x, w): im2col + one product per chunk of rows (or per image group, see ImageGroup).
void ConvForward(const float* x, const float* w, float* y, const ConvParams& p) {
  const int64_t K = p.fH * p.fW * p.inC;
  const int64_t perImage = p.outH * p.outW;
  if (IsPointwise(p)) {
    Sgemm(false, false, p.batch * perImage, p.outC, K, 1.0f, x, K, w, p.outC, 0.0f, y, p.outC);
    return;
  }
  // Groups of whole images, one per thread at a time (see ImageGroup); y rows are the group's own.
  if (const int64_t local = ImageGroup(p, K)) {
    genview::ParallelTasks((p.batch + local - 1) / local, [&](int64_t q) {
      int64_t img0 = q * local, images = std::min(local, p.batch - img0);
      float* colq = Scratch(static_cast<size_t>(images * perImage * K));
      Im2Col(x, colq, p, img0, images);
      Sgemm(false, false, images * perImage, p.outC, K, 1.0f, colq, K, w, p.outC, 0.0f, y + img0 * perImage * p.outC,
            p.outC);
    });
    return;
  }
  const int64_t chunk = ChunkRows(p, K);
  const int64_t imagesPerChunk = chunk / perImage;
  float* col = Scratch(static_cast<size_t>(std::min(chunk, p.batch * perImage) * K));
  for (int64_t img0 = 0; img0 < p.batch; img0 += imagesPerChunk) {
    int64_t images = std::min(imagesPerChunk, p.batch - img0);
    Im2Col(x, col, p, img0, images);
    Sgemm(false, false, images * perImage, p.outC, K, 1.0f, col, K, w, p.outC, 0.0f, y + img0 * perImage * p.outC,
          p.outC);
  }
}

// conv2d(x, w, y, params)
Napi::Value Conv2D(const Napi::CallbackInfo& info) {
  ConvForward(F32(info[0]), F32(info[1]), F32(info[2]), ReadConv(info[3]));
  return info.Env().Undefined();
}

// With stride 1 the input gradient is itself a convolution: of dy, padded by the filter's reach less
// the forward padding, with the filter flipped in space and its channel axes swapped. That runs the
// forward path (a gather into columns K = taps x outC deep, then a deep product) instead of a product
// only outC deep whose taps x inC wide result is scattered back with read-modify-write adds, which
// took a third longer than the forward convolution on ResNet-18. The flipped filter is small.
bool InputGradientAsConvolution(const float* dy, const float* w, float* dx, const ConvParams& p) {
  if (p.strideH != 1 || p.strideW != 1) return false;
  ConvParams q{p.batch, p.outH, p.outW, p.outC, p.inH, p.inW, p.inC, p.fH, p.fW, 1, 1, p.dilH, p.dilW,
               (p.fH - 1) * p.dilH - p.padTop, (p.fW - 1) * p.dilW - p.padLeft};
  float* flipped = Scratch(static_cast<size_t>(p.fH * p.fW * p.inC * p.outC), 1);
  const int64_t taps = p.fH * p.fW;
  ParallelFor(taps, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      // w[kh, kw, ci, co] -> flipped[fH-1-kh, fW-1-kw, co, ci]
      const float* src = w + t * p.inC * p.outC;
      float* dst = flipped + (taps - 1 - t) * p.inC * p.outC;
      for (int64_t ci = 0; ci < p.inC; ++ci)
        for (int64_t co = 0; co < p.outC; ++co) dst[co * p.inC + ci] = src[ci * p.outC + co];
    }
  });
  ConvForward(dy, flipped, dx, q);
  return true;
}

// conv2dBackpropInput(dy, w, dx, params): writes every element of dx.
Napi::Value Conv2DBackpropInput(const Napi::CallbackInfo& info) {
  const float* dy = F32(info[0]);
  const float* w = F32(info[1]);
  float* dx = F32(info[2]);
  ConvParams p = ReadConv(info[3]);
  const int64_t K = p.fH * p.fW * p.inC;
  const int64_t perImage = p.outH * p.outW;
  if (IsPointwise(p)) {
    Sgemm(false, true, p.batch * perImage, K, p.outC, 1.0f, dy, p.outC, w, p.outC,
                0.0f, dx, K);
    return info.Env().Undefined();
  }
  if (InputGradientAsConvolution(dy, w, dx, p)) return info.Env().Undefined();
  // The scatter below adds into dx.
  const int64_t dxSize = p.batch * p.inH * p.inW * p.inC;
  ParallelFor(dxSize, 65536, [&](int64_t lo, int64_t hi) { std::memset(dx + lo, 0, sizeof(float) * (hi - lo)); });
  // Groups of whole images, one per thread at a time (see ImageGroup): the stride-2 layers' input
  // gradient is output-heavy (columns K = 9 x channels wide, only outC deep), and one product per 8 MB
  // chunk wrote the columns to memory and read them back for the scatter. A group's dx rows are its
  // own, and every dx element is summed in the same order either way, so the result is the same bits.
  if (const int64_t local = ImageGroup(p, K)) {
    genview::ParallelTasks((p.batch + local - 1) / local, [&](int64_t q) {
      int64_t img0 = q * local, images = std::min(local, p.batch - img0);
      float* colq = Scratch(static_cast<size_t>(images * perImage * K));
      Sgemm(false, true, images * perImage, K, p.outC, 1.0f, dy + img0 * perImage * p.outC, p.outC, w, p.outC, 0.0f,
            colq, K);
      Col2Im(colq, dx, p, img0, images);
    });
    return info.Env().Undefined();
  }
  const int64_t chunk = ChunkRows(p, K);
  const int64_t imagesPerChunk = chunk / perImage;
  float* col = Scratch(static_cast<size_t>(std::min(chunk, p.batch * perImage) * K));
  for (int64_t img0 = 0; img0 < p.batch; img0 += imagesPerChunk) {
    int64_t images = std::min(imagesPerChunk, p.batch - img0);
    Sgemm(false, true, images * perImage, K, p.outC, 1.0f,
                dy + img0 * perImage * p.outC, p.outC, w, p.outC, 0.0f, col, K);
    Col2Im(col, dx, p, img0, images);
  }
  return info.Env().Undefined();
}

// conv2dBackpropFilter(x, dy, dw, params)
Napi::Value Conv2DBackpropFilter(const Napi::CallbackInfo& info) {
  const float* x = F32(info[0]);
  const float* dy = F32(info[1]);
  float* dw = F32(info[2]);
  ConvParams p = ReadConv(info[3]);
  const int64_t K = p.fH * p.fW * p.inC;
  const int64_t perImage = p.outH * p.outW;
  if (IsPointwise(p)) {
    Sgemm(true, false, K, p.outC, p.batch * perImage, 1.0f, x, K, dy, p.outC, 0.0f,
                dw, p.outC);
    return info.Env().Undefined();
  }
  const int64_t chunk = ChunkRows(p, K);
  const int64_t imagesPerChunk = chunk / perImage;
  const int64_t chunks = (p.batch + imagesPerChunk - 1) / imagesPerChunk;
  const int64_t wSize = K * p.outC;
  // dw sums over every output pixel of the batch, so the chunks are independent: each is unfolded and
  // multiplied on one thread into a partial gradient of its own, and the partials are added in chunk
  // order. Handing out one chunk per thread replaces a few row blocks of a small product handed out
  // twice per k block (ResNet-18's 3x3 filter gradients ran at a quarter of the GEMM's speed). The
  // chunks follow from the shape alone, so the sum is the same on any number of threads. OpenBLAS
  // runs its own threads, so with it the chunks stay sequential.
  if (chunks > 1 && chunks * wSize <= (int64_t{1} << 24) && genview::GemmImplementation() != "openblas") {
    float* partial = Scratch(static_cast<size_t>(chunks * wSize), 1);
    genview::ParallelTasks(chunks, [&](int64_t q) {
      int64_t img0 = q * imagesPerChunk, images = std::min(imagesPerChunk, p.batch - img0);
      float* colq = Scratch(static_cast<size_t>(images * perImage * K));
      Im2Col(x, colq, p, img0, images);
      Sgemm(true, false, K, p.outC, images * perImage, 1.0f, colq, K, dy + img0 * perImage * p.outC, p.outC, 0.0f,
            partial + q * wSize, p.outC);
    });
    ParallelFor(wSize, 4096, [&](int64_t lo, int64_t hi) {
      for (int64_t e = lo; e < hi; ++e) {
        float sum = partial[e];
        for (int64_t q = 1; q < chunks; ++q) sum += partial[q * wSize + e];
        dw[e] = sum;
      }
    });
    return info.Env().Undefined();
  }
  float* col = Scratch(static_cast<size_t>(std::min(chunk, p.batch * perImage) * K));
  for (int64_t img0 = 0; img0 < p.batch; img0 += imagesPerChunk) {
    int64_t images = std::min(imagesPerChunk, p.batch - img0);
    Im2Col(x, col, p, img0, images);
    Sgemm(true, false, K, p.outC, images * perImage, 1.0f, col, K,
                dy + img0 * perImage * p.outC, p.outC, img0 == 0 ? 0.0f : 1.0f, dw, p.outC);
  }
  return info.Env().Undefined();
}

// batchMatMul(a, b, out, batchA, batchB, M, N, K, transA, transB): out[i] = op(a[i % batchA]) op(b[i % batchB]).
Napi::Value BatchMatMul(const Napi::CallbackInfo& info) {
  const float* a = F32(info[0]);
  const float* b = F32(info[1]);
  float* out = F32(info[2]);
  int64_t batchA = info[3].As<Napi::Number>().Int64Value();
  int64_t batchB = info[4].As<Napi::Number>().Int64Value();
  int64_t M = info[5].As<Napi::Number>().Int64Value();
  int64_t N = info[6].As<Napi::Number>().Int64Value();
  int64_t K = info[7].As<Napi::Number>().Int64Value();
  bool tA = info[8].As<Napi::Boolean>().Value();
  bool tB = info[9].As<Napi::Boolean>().Value();
  int64_t batch = std::max(batchA, batchB);
  for (int64_t i = 0; i < batch; ++i) {
    Sgemm(tA, tB, M, N, K, 1.0f,
                a + (i % batchA) * M * K, tA ? M : K, b + (i % batchB) * K * N, tB ? K : N, 0.0f, out + i * M * N, N);
  }
  return info.Env().Undefined();
}

// reduceSum(x, out, outer, reduce, inner, mean): x viewed as [outer, reduce, inner], out[o, i] = sum_r x[o, r, i]
// (divided by `reduce` when mean). Accumulates in double, as the JS reference does, so long
// reductions (batch-norm over N*H*W) agree with the cpu backend to float precision.
Napi::Value ReduceSum(const Napi::CallbackInfo& info) {
  const float* x = F32(info[0]);
  float* out = F32(info[1]);
  int64_t outer = info[2].As<Napi::Number>().Int64Value();
  int64_t reduce = info[3].As<Napi::Number>().Int64Value();
  int64_t inner = info[4].As<Napi::Number>().Int64Value();
  bool mean = info[5].As<Napi::Boolean>().Value();
  double scale = mean && reduce > 0 ? 1.0 / static_cast<double>(reduce) : 1.0;
  if (inner == 1) {
    ParallelFor(outer, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, reduce)), [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o) {
        const float* s = x + o * reduce;
        double acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
        int64_t r = 0;
        for (; r + 4 <= reduce; r += 4) {
          acc0 += s[r];
          acc1 += s[r + 1];
          acc2 += s[r + 2];
          acc3 += s[r + 3];
        }
        for (; r < reduce; ++r) acc0 += s[r];
        out[o] = static_cast<float>((acc0 + acc1 + acc2 + acc3) * scale);
      }
    });
    return info.Env().Undefined();
  }
  // inner > 1: each thread sums a slice of the reduced rows into its own double buffer, then the
  // partial sums are added; this splits the work evenly even when outer == 1 (batch-norm moments).
  int nt = Threads();
  int64_t total = outer * reduce * inner;
  int64_t slices = total < 262144 ? 1 : std::min<int64_t>(nt, reduce);
  std::vector<std::vector<double>> partial(slices, std::vector<double>(outer * inner, 0.0));
  ParallelFor(slices, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t s = lo; s < hi; ++s) {
      int64_t r0 = reduce * s / slices, r1 = reduce * (s + 1) / slices;
      double* acc = partial[s].data();
      for (int64_t o = 0; o < outer; ++o) {
        double* a = acc + o * inner;
        for (int64_t r = r0; r < r1; ++r) {
          const float* src = x + (o * reduce + r) * inner;
          for (int64_t i = 0; i < inner; ++i) a[i] += src[i];
        }
      }
    }
  });
  for (int64_t j = 0; j < outer * inner; ++j) {
    double v = 0;
    for (int64_t s = 0; s < slices; ++s) v += partial[s][j];
    out[j] = static_cast<float>(v * scale);
  }
  return info.Env().Undefined();
}

// Two per-channel sums over the rows of an [rows, C] array (sums[c] and sums[C + c]); row(r, a, b)
// adds row r's terms. Each thread accumulates its slice of rows in its own double buffer and the
// buffers are added in slice order, so the result does not depend on scheduling.
template <typename F>
std::vector<double> ChannelSums(int64_t rows, int64_t C, F row) {
  int64_t slices = rows * C < 65536 ? 1 : std::min<int64_t>(Threads(), rows);
  std::vector<std::vector<double>> partial(slices, std::vector<double>(2 * C, 0.0));
  ParallelFor(slices, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t s = lo; s < hi; ++s) {
      double* acc = partial[s].data();
      for (int64_t r = rows * s / slices, end = rows * (s + 1) / slices; r < end; ++r) row(r, acc, acc + C);
    }
  });
  std::vector<double> total(2 * C, 0.0);
  for (const auto& p : partial)
    for (int64_t j = 0; j < 2 * C; ++j) total[j] += p[j];
  return total;
}

// out[r, c] = a[c] * (u[r, c] - cu[c]) + b[c] * (v[r, c] - cv[c]) + d[c], the one full-size write of the
// batch-norm forward (u = x) and backward (u = dy, v = x); cu, cv and v may be null. Centring before
// scaling keeps the float rounding relative to the spread, not to the mean. relu clamps out at 0.
void ChannelAffine(const float* u, const float* cu, const float* v, const float* cv, const float* a, const float* b,
                   const float* d, float* out, int64_t rows, int64_t C, bool relu = false) {
  std::vector<float> zero(C, 0.0f);
  if (!cu) cu = zero.data();
  if (!cv) cv = zero.data();
  ParallelFor(rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, C)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const float* ur = u + r * C;
      float* o = out + r * C;
      if (v) {
        const float* vr = v + r * C;
        for (int64_t c = 0; c < C; ++c) o[c] = a[c] * (ur[c] - cu[c]) + b[c] * (vr[c] - cv[c]) + d[c];
      } else if (relu) {
        for (int64_t c = 0; c < C; ++c) o[c] = std::max(0.0f, a[c] * (ur[c] - cu[c]) + d[c]);
      } else {
        for (int64_t c = 0; c < C; ++c) o[c] = a[c] * (ur[c] - cu[c]) + d[c];
      }
    }
  });
}

// batchNormForward(x, scale, offset, y, mean, variance, rows, C, eps[, relu]): training-mode batch norm of an
// [rows, C] array (NHWC flattened). Statistics in one pass: sums of x - x[0] and its square in double
// (the shift by the first row keeps E[v^2] - E[v]^2 from cancelling when |mean| >> std). variance is
// the biased batch variance, as the normalisation uses.
Napi::Value BatchNormForward(const Napi::CallbackInfo& info) {
  const float* x = F32(info[0]);
  const float* scale = F32(info[1]);
  const float* offset = F32(info[2]);
  float* y = F32(info[3]);
  float* mean = F32(info[4]);
  float* variance = F32(info[5]);
  int64_t rows = info[6].As<Napi::Number>().Int64Value();
  int64_t C = info[7].As<Napi::Number>().Int64Value();
  double eps = info[8].As<Napi::Number>().DoubleValue();
  bool relu = info.Length() > 9 && info[9].ToBoolean().Value();
  const float* shift = x;
  std::vector<double> sums = ChannelSums(rows, C, [&](int64_t r, double* s1, double* s2) {
    const float* xr = x + r * C;
    for (int64_t c = 0; c < C; ++c) {
      double v = static_cast<double>(xr[c]) - shift[c];
      s1[c] += v;
      s2[c] += v * v;
    }
  });
  std::vector<float> mult(C);
  for (int64_t c = 0; c < C; ++c) {
    double m = sums[c] / rows;
    double var = std::max(0.0, sums[C + c] / rows - m * m);
    mean[c] = static_cast<float>(m + shift[c]);
    variance[c] = static_cast<float>(var);
    mult[c] = static_cast<float>(scale[c] / std::sqrt(var + eps));
  }
  ChannelAffine(x, mean, nullptr, nullptr, mult.data(), nullptr, offset, y, rows, C, relu);
  return info.Env().Undefined();
}

// batchNormBackward(dy, x, mean, variance, scale, dx, dscale, doffset, rows, C, eps[, y]): the gradient of
// batchNormForward through the batch statistics; with y (the forward output of a batch norm + ReLU),
// through the ReLU too: dy counts only where y > 0. With x^ = (x - mean) * invStd,
// dx = scale * invStd * (dy - mean(dy) - x^ * mean(dy * x^)), dscale = sum(dy * x^), doffset = sum(dy).
// One pass for the two sums, one to write dx.
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  const float* dy = F32(info[0]);
  const float* x = F32(info[1]);
  const float* mean = F32(info[2]);
  const float* variance = F32(info[3]);
  const float* scale = F32(info[4]);
  float* dx = F32(info[5]);
  float* dscale = F32(info[6]);
  float* doffset = F32(info[7]);
  int64_t rows = info[8].As<Napi::Number>().Int64Value();
  int64_t C = info[9].As<Napi::Number>().Int64Value();
  double eps = info[10].As<Napi::Number>().DoubleValue();
  if (info.Length() > 11 && info[11].IsTypedArray()) {
    // Through the ReLU first: dy where its output y is positive, into a scratch buffer the passes
    // below read as dy. A separate pass keeps the two sums and the write branch-free (gating inside
    // them, the coin-toss mask of a ReLU made them several times slower), and a buffer of its own
    // rather than dx keeps the write vectorised (in place, the compiler's overlap check falls back to
    // scalar code).
    const float* y = F32(info[11]);
    float* gated = Scratch(static_cast<size_t>(rows * C), 1);
    const float* in = dy;
    ParallelFor(rows * C, 32768, [&](int64_t lo, int64_t hi) {
      const float* __restrict g = in;
      const float* __restrict out = y;
      float* __restrict dst = gated;
      for (int64_t i = lo; i < hi; ++i) {
        // Both loads unconditional, so the select compiles to a blend instead of a branch.
        float value = g[i];
        dst[i] = out[i] > 0.0f ? value : 0.0f;
      }
    });
    dy = gated;
  }
  std::vector<double> sums = ChannelSums(rows, C, [&](int64_t r, double* sdy, double* sdyx) {
    const float* g = dy + r * C;
    const float* xr = x + r * C;
    for (int64_t c = 0; c < C; ++c) {
      sdy[c] += g[c];
      sdyx[c] += static_cast<double>(g[c]) * (xr[c] - mean[c]);
    }
  });
  std::vector<float> a(C), b(C), d(C);
  for (int64_t c = 0; c < C; ++c) {
    double invStd = 1.0 / std::sqrt(static_cast<double>(variance[c]) + eps);
    double k = scale[c] * invStd;
    doffset[c] = static_cast<float>(sums[c]);
    dscale[c] = static_cast<float>(sums[C + c] * invStd);
    a[c] = static_cast<float>(k);
    b[c] = static_cast<float>(-k * invStd * invStd * sums[C + c] / rows);
    d[c] = static_cast<float>(-k * sums[c] / rows);
  }
  ChannelAffine(dy, nullptr, x, mean, a.data(), b.data(), d.data(), dx, rows, C);
  return info.Env().Undefined();
}

// binary(op, a, b, out, shape, aStrides, bStrides): out = a OP b with numpy broadcasting, after the JS
// side has collapsed the output shape so that each dim is either fully present (stride = element
// stride) or broadcast (stride 0) in each operand. The innermost dim is the vector loop.
// op: 0 add, 1 sub, 2 mul, 3 div, 4 squaredDifference.
template <int OP>
inline float Apply(float a, float b) {
  if (OP == 0) return a + b;
  if (OP == 1) return a - b;
  if (OP == 2) return a * b;
  if (OP == 3) return a / b;
  float d = a - b;
  return d * d;
}

template <int OP>
void BinaryLoop(const float* a, const float* b, float* out, const std::vector<int64_t>& shape,
                const std::vector<int64_t>& as, const std::vector<int64_t>& bs) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t inner = shape[rank - 1];
  const int64_t ai = as[rank - 1], bi = bs[rank - 1];
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < rank; ++d) rows *= shape[d];
  ParallelFor(rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, inner)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      int64_t rem = r, ao = 0, bo = 0;
      for (int64_t d = rank - 2; d >= 0; --d) {
        int64_t idx = rem % shape[d];
        rem /= shape[d];
        ao += idx * as[d];
        bo += idx * bs[d];
      }
      const float* ar = a + ao;
      const float* br = b + bo;
      float* o = out + r * inner;
      if (ai == 1 && bi == 1) {
        for (int64_t i = 0; i < inner; ++i) o[i] = Apply<OP>(ar[i], br[i]);
      } else if (ai == 1) {
        const float bv = br[0];
        for (int64_t i = 0; i < inner; ++i) o[i] = Apply<OP>(ar[i], bv);
      } else if (bi == 1) {
        const float av = ar[0];
        for (int64_t i = 0; i < inner; ++i) o[i] = Apply<OP>(av, br[i]);
      } else {
        const float v = Apply<OP>(ar[0], br[0]);
        for (int64_t i = 0; i < inner; ++i) o[i] = v;
      }
    }
  });
}

std::vector<int64_t> Ints(const Napi::Value& v) {
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) out[i] = arr.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

Napi::Value Binary(const Napi::CallbackInfo& info) {
  int op = info[0].As<Napi::Number>().Int32Value();
  const float* a = F32(info[1]);
  const float* b = F32(info[2]);
  float* out = F32(info[3]);
  std::vector<int64_t> shape = Ints(info[4]), as = Ints(info[5]), bs = Ints(info[6]);
  if (shape.empty() || shape.size() != as.size() || shape.size() != bs.size()) {
    Napi::Error::New(info.Env(), "binary: shape and strides must have the same non-zero rank").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  switch (op) {
    case 0: BinaryLoop<0>(a, b, out, shape, as, bs); break;
    case 1: BinaryLoop<1>(a, b, out, shape, as, bs); break;
    case 2: BinaryLoop<2>(a, b, out, shape, as, bs); break;
    case 3: BinaryLoop<3>(a, b, out, shape, as, bs); break;
    case 4: BinaryLoop<4>(a, b, out, shape, as, bs); break;
    default: Napi::Error::New(info.Env(), "unknown binary op").ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

// unary(op, x, out): 0 relu, 1 step (x > 0 ? 1 : 0), 2 square, 3 sqrt, 4 rsqrt, 5 neg, 6 exp.
Napi::Value Unary(const Napi::CallbackInfo& info) {
  int op = info[0].As<Napi::Number>().Int32Value();
  const float* x = F32(info[1]);
  float* out = F32(info[2]);
  int64_t n = static_cast<int64_t>(Len(info[1]));
  ParallelFor(n, 65536, [&](int64_t lo, int64_t hi) {
    switch (op) {
      case 0: for (int64_t i = lo; i < hi; ++i) out[i] = x[i] < 0.0f ? 0.0f : x[i]; break;  // NaN passes, as in tfjs
      case 1: for (int64_t i = lo; i < hi; ++i) out[i] = x[i] > 0.0f ? 1.0f : (x[i] != x[i] ? x[i] : 0.0f); break;
      case 2: for (int64_t i = lo; i < hi; ++i) out[i] = x[i] * x[i]; break;
      case 3: for (int64_t i = lo; i < hi; ++i) out[i] = std::sqrt(x[i]); break;
      case 4: for (int64_t i = lo; i < hi; ++i) out[i] = 1.0f / std::sqrt(x[i]); break;
      case 5: for (int64_t i = lo; i < hi; ++i) out[i] = -x[i]; break;
      case 6: for (int64_t i = lo; i < hi; ++i) out[i] = std::exp(x[i]); break;
      default: break;
    }
  });
  return info.Env().Undefined();
}

// biasActivation(y, bias, rows, inner, relu): y[r, i] = act(y[r, i] + bias[i]) in place; bias may be empty.
Napi::Value BiasActivation(const Napi::CallbackInfo& info) {
  float* y = F32(info[0]);
  bool hasBias = info[1].IsTypedArray();
  const float* bias = hasBias ? F32(info[1]) : nullptr;
  int64_t rows = info[2].As<Napi::Number>().Int64Value();
  int64_t inner = info[3].As<Napi::Number>().Int64Value();
  bool relu = info[4].As<Napi::Boolean>().Value();
  ParallelFor(rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, inner)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      float* o = y + r * inner;
      if (hasBias)
        for (int64_t i = 0; i < inner; ++i) o[i] += bias[i];
      if (relu)
        for (int64_t i = 0; i < inner; ++i) o[i] = o[i] > 0.0f ? o[i] : 0.0f;
    }
  });
  return info.Env().Undefined();
}

Napi::Array Strings(Napi::Env env, const std::vector<std::string>& list) {
  Napi::Array out = Napi::Array::New(env, list.size());
  for (uint32_t i = 0; i < list.size(); ++i) out.Set(i, list[i]);
  return out;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("gemm", genview::GemmImplementation());
  o.Set("gemmImplementations", Strings(env, genview::GemmImplementations()));
  o.Set("blas", genview::BlasConfig());
  o.Set("core", genview::BlasCore());
  o.Set("blasThreads", genview::BlasThreads());
  o.Set("loopThreads", Threads());
  return o;
}

// setThreads(n): the same count for OpenBLAS (when linked) and for the addon's pool.
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 1) n = 1;
  genview::SetBlasThreads(n);
  genview::SetPoolThreads(n);
  return info.Env().Undefined();
}

// selectGemm(name): which implementation the kernels use from now on; false when not available here.
Napi::Value SelectGemm(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), genview::SelectGemm(info[0].As<Napi::String>().Utf8Value()));
}

// sgemm(impl, a, b, c, m, n, k, transA, transB, alpha, beta): one row-major product with contiguous
// operands through a named implementation, for tests and benchmarks; false when `impl` is unknown here.
Napi::Value SgemmOnce(const Napi::CallbackInfo& info) {
  std::string impl = info[0].As<Napi::String>().Utf8Value();
  const float* a = F32(info[1]);
  const float* b = F32(info[2]);
  float* c = F32(info[3]);
  int64_t m = info[4].As<Napi::Number>().Int64Value();
  int64_t n = info[5].As<Napi::Number>().Int64Value();
  int64_t k = info[6].As<Napi::Number>().Int64Value();
  bool tA = info[7].As<Napi::Boolean>().Value();
  bool tB = info[8].As<Napi::Boolean>().Value();
  float alpha = static_cast<float>(info[9].As<Napi::Number>().DoubleValue());
  float beta = static_cast<float>(info[10].As<Napi::Number>().DoubleValue());
  if (Len(info[1]) < static_cast<size_t>(m * k) || Len(info[2]) < static_cast<size_t>(k * n) ||
      Len(info[3]) < static_cast<size_t>(m * n)) {
    Napi::RangeError::New(info.Env(), "sgemm: a must hold m*k, b k*n and c m*n floats").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  bool ok = genview::SgemmWith(impl, tA, tB, m, n, k, alpha, a, tA ? m : k, b, tB ? k : n, beta, c, n);
  return Napi::Boolean::New(info.Env(), ok);
}

// tuneMalloc(): keeps freed tensor buffers in the process heap instead of returning them to the OS.
// Node allocates every ArrayBuffer with calloc; glibc serves big ones with mmap and unmaps them on
// free, so each new activation (tens of MB per training step) costs page faults plus kernel zeroing:
// measured about a third of the step's CPU time on the small CNN. The heap still gives back free space
// above 64 MB at its top (32 MB of padding kept): with no trimming at all RSS crept up 5.7 % over 500
// steps (bench/memory.mjs), with these values it stays flat at the same step time. Returns whether
// glibc took all three.
Napi::Value TuneMalloc(const Napi::CallbackInfo& info) {
#ifdef M_MMAP_THRESHOLD
  bool ok = mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1;
  ok = mallopt(M_TRIM_THRESHOLD, 64 << 20) == 1 && ok;
  ok = mallopt(M_TOP_PAD, 32 << 20) == 1 && ok;
  return Napi::Boolean::New(info.Env(), ok);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("tuneMalloc", Napi::Function::New(env, TuneMalloc));
  exports.Set("conv2d", Napi::Function::New(env, Conv2D));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2DBackpropInput));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2DBackpropFilter));
  exports.Set("batchMatMul", Napi::Function::New(env, BatchMatMul));
  exports.Set("reduceSum", Napi::Function::New(env, ReduceSum));
  exports.Set("batchNormForward", Napi::Function::New(env, BatchNormForward));
  exports.Set("batchNormBackward", Napi::Function::New(env, BatchNormBackward));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("biasActivation", Napi::Function::New(env, BiasActivation));
  exports.Set("adamUpdate", Napi::Function::New(env, genview::AdamUpdate));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("selectGemm", Napi::Function::New(env, SelectGemm));
  exports.Set("sgemm", Napi::Function::New(env, SgemmOnce));
  return exports;
}

}  // namespace

NODE_API_MODULE(genview_native, Init)
