// The glibc symbols the static libraries reference that have no older
// version to pin (pins.S pins the rest). Linux/glibc builds only.
#include <sys/random.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>

extern "C" {

// arc4random (glibc 2.36): reached only through std::random_device, which the
// addon never constructs; the same entropy, from getentropy (glibc 2.25).
uint32_t __wrap_arc4random() {
  uint32_t value;
  if (getentropy(&value, sizeof value) != 0) std::abort();
  return value;
}

// fstat64 (an exported function since glibc 2.33; before, an inline over
// __fxstat64): the static CUDA 11.8 runtime calls it.
int __fxstat64(int version, int fd, struct stat64* buf);
__asm__(".symver __fxstat64, __fxstat64@GLIBC_2.2.5");
int __wrap_fstat64(int fd, struct stat64* buf) {
  constexpr int kStatVersion = 1;  // _STAT_VER_LINUX on x86-64
  return __fxstat64(kStatVersion, fd, buf);
}

// __libc_single_threaded (glibc 2.32): libstdc++'s reference counts skip their
// atomic operations while it is non-zero. This hidden copy binds the addon's
// reads to itself and stays 0, "maybe multi-threaded": always atomic, always
// correct (Node runs threads from its start anyway).
__attribute__((visibility("hidden"))) char __libc_single_threaded = 0;
}
