# The CPU-only addon through node-gyp: the fallback build of scripts/install.js
# on hosts without CMake (and `SAMPLING_MASK_BUILD=node-gyp npm install`).
# CMakeLists.txt is the main build and the only one that compiles CUDA.
{
  "target_defaults": {
    "cflags_cc": ["-std=c++17", "-O3", "-ffp-contract=off", "-fexceptions", "-Wall", "-Wextra", "-Werror", "-Wno-psabi"],
    "cflags_cc!": ["-fno-exceptions"],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
  },
  "targets": [
    {
      "target_name": "sampling_mask",
      "sources": [
        "<!@(node -p \"require('fs').readdirSync('native/binding').filter(f => f.endsWith('.cpp')).map(f => 'native/binding/' + f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/host').filter(f => f.endsWith('.cpp')).map(f => 'native/host/' + f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/cpu').filter(f => f.endsWith('.cpp') && !/row_kernels_avx/.test(f)).map(f => 'native/cpu/' + f).join(' ')\")",
        "native/cuda/unavailable.cpp",
      ],
      "conditions": [
        ["target_arch == 'x64'", {
          "defines": ["SM_HAVE_X86_VARIANTS"],
          "dependencies": ["row_kernels_avx2", "row_kernels_avx512"],
        }],
      ],
    },
  ],
  "conditions": [
    ["target_arch == 'x64'", {
      "targets": [
        {
          "target_name": "row_kernels_avx2",
          "type": "static_library",
          "sources": ["native/cpu/row_kernels_avx2.cpp"],
          "cflags_cc": ["-march=x86-64-v3", "-fPIC"],
        },
        {
          "target_name": "row_kernels_avx512",
          "type": "static_library",
          "sources": ["native/cpu/row_kernels_avx512.cpp"],
          "cflags_cc": ["-march=x86-64-v4", "-fPIC", "-Wno-maybe-uninitialized"],
        },
      ],
    }],
  ],
}
