// One Adam/AdamW step per call (see @genview/core's ADAM_UPDATE_KERNEL). The composed form runs
// thirteen full-size elementwise ops, each a pass over memory into a fresh buffer; for ResNet-18's 11M
// parameters that was about an eighth of a training step. Here every element is read once and its
// three results written once.
//
// Bit-for-bit the composed ops: the same float32 operations in the same order, one rounding each.
// This file is compiled for the baseline ISA (no -mfma), so the compiler cannot contract a*b+c into a
// fused multiply-add, which would round once instead of twice.

#include "optimizer_update.h"

#include "thread_pool.h"

#include <cmath>
#include <cstdint>

namespace genview {

namespace {

struct AdamScalars {
  float lerpWeight, lerpComplement, beta2, oneMinusBeta2, eps, stepSize, sqrtBiasCorrection2, l2, decayFactor;
  bool smallWeight, coupledDecay, decoupledDecay;
};

void AdamLoop(const float* w, const float* g, const float* m, const float* v, float* wOut, float* mOut, float* vOut,
              int64_t lo, int64_t hi, const AdamScalars& s) {
  for (int64_t i = lo; i < hi; ++i) {
    float grad = s.coupledDecay ? g[i] + w[i] * s.l2 : g[i];
    float diff = grad - m[i];
    // torch.lerp's two forms, as the composed ops pick them.
    float mNext = s.smallWeight ? m[i] + diff * s.lerpWeight : grad - diff * s.lerpComplement;
    float vNext = v[i] * s.beta2 + (grad * grad) * s.oneMinusBeta2;
    float denom = std::sqrt(vNext) / s.sqrtBiasCorrection2 + s.eps;
    float base = s.decoupledDecay ? w[i] * s.decayFactor : w[i];
    wOut[i] = base - (mNext / denom) * s.stepSize;
    mOut[i] = mNext;
    vOut[i] = vNext;
  }
}

float* Floats(const Napi::Value& v) { return v.As<Napi::Float32Array>().Data(); }
size_t Count(const Napi::Value& v) { return v.As<Napi::Float32Array>().ElementLength(); }
double Number(const Napi::Value& v) { return v.As<Napi::Number>().DoubleValue(); }

}  // namespace

Napi::Value AdamUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 14) {
    Napi::TypeError::New(env, "adamUpdate: expected 7 Float32Arrays and 7 numbers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t n = Count(info[0]);
  for (int a = 1; a < 7; ++a) {
    if (Count(info[a]) != n) {
      Napi::RangeError::New(env, "adamUpdate: w, g, m, v and the three outputs must have one length").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  // The attributes arrive as doubles; the composed ops turn each scalar into a float32 tensor, and
  // derive 1 − β1 and 1 − β2 in double precision first, so this does the same.
  double beta1 = Number(info[7]), beta2 = Number(info[8]);
  double lerpWeight = 1.0 - beta1;
  AdamScalars s{};
  s.lerpWeight = static_cast<float>(lerpWeight);
  s.lerpComplement = static_cast<float>(1.0 - lerpWeight);
  s.smallWeight = std::fabs(lerpWeight) < 0.5;
  s.beta2 = static_cast<float>(beta2);
  s.oneMinusBeta2 = static_cast<float>(1.0 - beta2);
  s.eps = static_cast<float>(Number(info[9]));
  s.stepSize = static_cast<float>(Number(info[10]));
  s.sqrtBiasCorrection2 = static_cast<float>(Number(info[11]));
  double l2 = Number(info[12]), decayFactor = Number(info[13]);
  s.l2 = static_cast<float>(l2);
  s.coupledDecay = l2 != 0.0;
  s.decayFactor = static_cast<float>(decayFactor);
  s.decoupledDecay = decayFactor != 1.0;
  const float *w = Floats(info[0]), *g = Floats(info[1]), *m = Floats(info[2]), *v = Floats(info[3]);
  float *wOut = Floats(info[4]), *mOut = Floats(info[5]), *vOut = Floats(info[6]);
  ParallelFor(static_cast<int64_t>(n), 32768, [&](int64_t lo, int64_t hi) { AdamLoop(w, g, m, v, wOut, mOut, vOut, lo, hi, s); });
  return env.Undefined();
}

}  // namespace genview
