import { addon, type NativeBackendInfo } from './native';

export type BackendInfo = NativeBackendInfo;

/** Which backend runs, with how many threads, and what the addon was built with. */
export function backendInfo(): BackendInfo {
  return addon.backendInfo();
}

/** Sets the CPU thread count (0 = all cores); returns the count now in use. */
export function setThreads(threads: number): number {
  return addon.setThreads(threads);
}
