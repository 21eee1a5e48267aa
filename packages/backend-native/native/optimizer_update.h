// Fused optimizer steps: one pass over a variable's weights, gradient and moments per call.
#pragma once

#include <napi.h>

namespace genview {

// adamUpdate(w, g, m, v, wOut, mOut, vOut, beta1, beta2, eps, stepSize, sqrtBiasCorrection2, l2, decayFactor)
Napi::Value AdamUpdate(const Napi::CallbackInfo& info);

}  // namespace genview
