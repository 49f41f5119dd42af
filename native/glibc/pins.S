/* Lowers the glibc a Linux build needs to the oldest version of each function
 * it calls. Linked against Debian 12's glibc 2.36, the addon would require the
 * version each function has there by default: 2.34 for the pthread, dl, sem and
 * shm functions (which moved into libc.so.6 in 2.34), 2.29 for libm's exp
 * (which dropped its SVID error handling there), although every one of them
 * has existed under the same ABI since glibc 2.2.5 (x86-64's first).
 *
 * Each PIN line defines __wrap_NAME as a jump to NAME@VERSION, and the build
 * links with -Wl,--wrap=NAME for every name listed here (CMakeLists.txt and
 * binding.gyp read this file), so that every reference to NAME - ours, the
 * static libstdc++'s and the static CUDA runtime's - binds to the old version.
 * A WRAPPED line names a function wrapped in compat.cpp instead.
 * test/glibc-floor.test.ts checks the built addon's symbol versions.
 */
.macro PIN name, version
  .symver \name\()_pinned, \name@\version
  .globl __wrap_\name
  .hidden __wrap_\name
  .type __wrap_\name, @function
__wrap_\name:
  jmp \name\()_pinned@PLT
  .size __wrap_\name, . - __wrap_\name
.endm

.macro WRAPPED name
.endm

  .text
PIN __pthread_key_create, GLIBC_2.2.5
WRAPPED arc4random
WRAPPED fstat64
PIN dlclose, GLIBC_2.2.5
PIN dlerror, GLIBC_2.2.5
PIN dlmopen, GLIBC_2.3.4
PIN dlopen, GLIBC_2.2.5
PIN dlsym, GLIBC_2.2.5
PIN dlvsym, GLIBC_2.2.5
PIN exp, GLIBC_2.2.5
PIN pthread_condattr_setpshared, GLIBC_2.2.5
PIN pthread_create, GLIBC_2.2.5
PIN pthread_detach, GLIBC_2.2.5
PIN pthread_getspecific, GLIBC_2.2.5
PIN pthread_join, GLIBC_2.2.5
PIN pthread_key_create, GLIBC_2.2.5
PIN pthread_key_delete, GLIBC_2.2.5
PIN pthread_kill, GLIBC_2.2.5
PIN pthread_mutex_trylock, GLIBC_2.2.5
PIN pthread_mutexattr_destroy, GLIBC_2.2.5
PIN pthread_mutexattr_init, GLIBC_2.2.5
PIN pthread_mutexattr_setpshared, GLIBC_2.2.5
PIN pthread_mutexattr_settype, GLIBC_2.2.5
PIN pthread_once, GLIBC_2.2.5
PIN pthread_rwlock_destroy, GLIBC_2.2.5
PIN pthread_rwlock_init, GLIBC_2.2.5
PIN pthread_rwlock_rdlock, GLIBC_2.2.5
PIN pthread_rwlock_timedrdlock, GLIBC_2.2.5
PIN pthread_rwlock_timedwrlock, GLIBC_2.2.5
PIN pthread_rwlock_tryrdlock, GLIBC_2.2.5
PIN pthread_rwlock_trywrlock, GLIBC_2.2.5
PIN pthread_rwlock_unlock, GLIBC_2.2.5
PIN pthread_rwlock_wrlock, GLIBC_2.2.5
PIN pthread_rwlockattr_destroy, GLIBC_2.2.5
PIN pthread_rwlockattr_init, GLIBC_2.2.5
PIN pthread_rwlockattr_setpshared, GLIBC_2.2.5
PIN pthread_setspecific, GLIBC_2.2.5
PIN pthread_spin_destroy, GLIBC_2.2.5
PIN pthread_spin_init, GLIBC_2.2.5
PIN pthread_spin_lock, GLIBC_2.2.5
PIN pthread_spin_trylock, GLIBC_2.2.5
PIN pthread_spin_unlock, GLIBC_2.2.5
PIN sem_destroy, GLIBC_2.2.5
PIN sem_init, GLIBC_2.2.5
PIN sem_post, GLIBC_2.2.5
PIN sem_timedwait, GLIBC_2.2.5
PIN sem_trywait, GLIBC_2.2.5
PIN sem_wait, GLIBC_2.2.5
PIN shm_open, GLIBC_2.2.5
PIN shm_unlink, GLIBC_2.2.5

  .section .note.GNU-stack,"",@progbits
