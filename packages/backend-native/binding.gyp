{
  "variables": {
    # 1 when the system's OpenBLAS can be linked (scripts/detect-blas.cjs); our own GEMM otherwise.
    "genview_openblas%": "<!(node scripts/detect-blas.cjs)"
  },
  "targets": [
    {
      "target_name": "genview_native",
      "sources": [
        "native/genview_native.cc",
        "native/gemm.cc",
        "native/gemm_kernels_x86.cc",
        "native/gemm_kernel_generic.cc",
        "native/thread_pool.cc",
        "native/optimizer_update.cc"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-O3", "-std=c++17", "-pthread"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3"]
      },
      "conditions": [
        ["genview_openblas==1", {
          "defines": ["GENVIEW_HAVE_OPENBLAS"],
          "libraries": ["-lopenblas"]
        }]
      ]
    }
  ]
}
