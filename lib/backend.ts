// Where operations run. The defaults live in the addon (per JS environment),
// which checks every backend and device option; this module only forwards.
import { addon, type NativeBackendInfo, type NativeBackendDefaults } from './native';

export type BackendName = 'auto' | 'cpu' | 'cuda';

/** Where an operation runs; each field defaults to what setBackend() set. */
export interface ExecOptions {
  /**
   * 'auto': CUDA when this build has it and a usable GPU and driver exist,
   * else the CPU. 'cuda': CUDA, or an error that says why not (never a
   * silent CPU run). 'cpu': the CPU.
   */
  backend?: BackendName;
  /** CUDA device ordinal. */
  device?: number;
}

export interface BackendInfo extends NativeBackendInfo {
  /** The defaults set by setBackend(); `backend` above is what they run on. */
  default: NativeBackendDefaults;
}

/** Which backend runs calls with default options, with how many threads, what was compiled in, and why CUDA is not used when it is not. */
export function backendInfo(): BackendInfo {
  return addon.backendInfo();
}

/**
 * Sets the backend (and CUDA device) of calls that do not name one. 'cuda'
 * is checked now: where CUDA cannot run it throws ERR_SM_CUDA_UNAVAILABLE.
 */
export function setBackend(backend: BackendName, options: { device?: number } = {}): void {
  addon.setBackend({ backend, options });
}

/** The defaults set by setBackend(). */
export function getBackend(): NativeBackendDefaults {
  return addon.getBackend();
}

/** Sets the CPU thread count (0 = all cores); returns the count now in use. */
export function setThreads(threads: number): number {
  return addon.setThreads(threads);
}
