{
  "targets": [
    {
      "target_name": "genview_native",
      "sources": ["native/genview_native.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-O3", "-std=c++17"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["-lopenblas"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
