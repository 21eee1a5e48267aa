/**
 * @genview/backend-native: an optional TensorFlow.js backend ('genview-native') that is the cpu
 * backend with convolutions, matmuls, reductions and the hot elementwise ops in a BLAS-backed addon.
 */
export {
  NATIVE_BACKEND_NAME,
  NATIVE_KERNEL_NAMES,
  type NativeBackendInfo,
  isNativeAvailable,
  nativeBackendInfo,
  registerNativeBackend,
  selectNativeGemm,
  setNativeThreads,
} from './register';
