import { addon, type NativeBackendInfo, type NativeExec } from './native';
import { rangeError, typeError } from './errors';

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
  default: { backend: BackendName; device: number };
}

let defaults: { backend: BackendName; device: number } = { backend: 'auto', device: 0 };

function checkBackend(backend: unknown): asserts backend is BackendName | undefined {
  if (backend !== undefined && backend !== 'auto' && backend !== 'cpu' && backend !== 'cuda') {
    throw typeError('backend', `expected 'auto', 'cpu' or 'cuda', got ${String(backend)}`);
  }
}

function checkDevice(device: unknown): asserts device is number | undefined {
  if (device !== undefined && !(Number.isInteger(device) && (device as number) >= 0)) {
    throw rangeError('ERR_SM_OUT_OF_RANGE', 'device', `expected an integer >= 0, got ${String(device)}`);
  }
}

/** Which backend runs calls with default options, with how many threads, what was compiled in, and why CUDA is not used when it is not. */
export function backendInfo(): BackendInfo {
  const info = addon.backendInfo(defaults.device);
  return { ...info, backend: defaults.backend === 'cpu' ? 'cpu' : info.backend, default: { ...defaults } };
}

/**
 * Sets the backend (and CUDA device) of calls that do not name one. 'cuda'
 * is checked now: where CUDA cannot run it throws ERR_SM_CUDA_UNAVAILABLE.
 */
export function setBackend(backend: BackendName, options: { device?: number } = {}): void {
  checkBackend(backend);
  checkDevice(options.device);
  const device = options.device ?? 0;
  if (backend === 'cuda') {
    const cuda = addon.backendInfo(device).cuda;
    if (!cuda.available) {
      throw Object.assign(new Error(`backend 'cuda': CUDA cannot run here: ${cuda.reason}`), {
        code: 'ERR_SM_CUDA_UNAVAILABLE',
        argument: 'backend',
      });
    }
  }
  defaults = { backend, device };
}

/** The defaults set by setBackend(). */
export function getBackend(): { backend: BackendName; device: number } {
  return { ...defaults };
}

/** The native options of a call on host data: its own choices, else the defaults. */
export function hostExec(options: ExecOptions & { profile?: boolean }): NativeExec {
  checkBackend(options.backend);
  checkDevice(options.device);
  return {
    backend: options.backend ?? defaults.backend,
    device: options.device ?? defaults.device,
    profile: options.profile === true,
  };
}

/** The native options of a call on a DeviceTensor: it runs where the tensor lives. */
export function deviceExec(options: ExecOptions & { profile?: boolean }): NativeExec {
  checkBackend(options.backend);
  checkDevice(options.device);
  return { backend: options.backend, device: options.device, profile: options.profile === true };
}

/** Sets the CPU thread count (0 = all cores); returns the count now in use. */
export function setThreads(threads: number): number {
  return addon.setThreads(threads);
}
