// The two glibc symbols of the static libstdc++ that have no older version to
// pin (pins.S pins the rest). Linux/glibc builds only.
#include <sys/random.h>

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

// __libc_single_threaded (glibc 2.32): libstdc++'s reference counts skip their
// atomic operations while it is non-zero. This hidden copy binds the addon's
// reads to itself and stays 0, "maybe multi-threaded": always atomic, always
// correct (Node runs threads from its start anyway).
__attribute__((visibility("hidden"))) char __libc_single_threaded = 0;
}
