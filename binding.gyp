# The CPU-only addon through node-gyp: the fallback build of scripts/install.js
# on hosts without CMake (and `SAMPLING_MASK_BUILD=node-gyp npm install`).
# CMakeLists.txt is the main build and the only one that compiles CUDA.
{
  "variables": {
    # 1: warnings are errors (install.js passes -Dwerror=1 in a git checkout, as CMake's SM_WERROR).
    "werror%": 0,
  },
  "target_defaults": {
    "cflags_cc": ["-std=c++17", "-O3", "-ffp-contract=off", "-fno-fast-math", "-fexceptions", "-Wall", "-Wextra", "-Wno-psabi",
                  "-fvisibility=hidden", "-fvisibility-inlines-hidden"],
    "cflags_cc!": ["-fno-exceptions"],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
    "conditions": [["werror == 1", {"cflags_cc": ["-Werror"]}]],
  },
  "targets": [
    {
      "target_name": "sampling_mask",
      # Every host source under native/ whatever the folders, as in CMakeLists.txt: not CUDA, not the per-ISA passes.
      "sources": [
        "<!@(node -p \"const fs = require('fs'); fs.readdirSync('native').filter(d => d !== 'cuda' && d !== 'glibc' && fs.statSync('native/' + d).isDirectory()).flatMap(d => fs.readdirSync('native/' + d).filter(f => f.endsWith('.cpp') && !/row_kernels_avx/.test(f)).map(f => 'native/' + d + '/' + f)).join(' ')\")",
        "native/cuda/unavailable.cpp",
      ],
      "conditions": [
        ["target_arch == 'x64'", {
          "defines": ["SM_HAVE_X86_VARIANTS"],
          "dependencies": ["row_kernels_avx2", "row_kernels_avx512"],
        }],
        # As in CMakeLists.txt: libstdc++ inside, glibc functions at their oldest versions (native/glibc/pins.S).
        ["OS == 'linux' and target_arch == 'x64'", {
          "sources": ["native/glibc/pins.S", "native/glibc/compat.cpp"],
          "ldflags": [
            "-static-libstdc++",
            "-Wl,--exclude-libs,ALL",
            "<!@(node -p \"require('fs').readFileSync('native/glibc/pins.S', 'utf8').match(/^(PIN|WRAPPED) \\\\w+/gm).map(l => '-Wl,--wrap=' + l.split(' ')[1]).join(' ')\")",
          ],
          "libraries": ["-Wl,--push-state,--no-as-needed", "-l:libpthread.so.0", "-l:libdl.so.2", "-Wl,--pop-state"],
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
          # GCC 12's own _mm512_cvtph_ps trips -Wmaybe-uninitialized.
          "cflags_cc": ["-march=x86-64-v4", "-fPIC", "-Wno-maybe-uninitialized"],
        },
      ],
    }],
  ],
}
