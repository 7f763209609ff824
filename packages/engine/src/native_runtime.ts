/**
 * What the packages above the engine may know about the native addon: whether it is built, whether a CUDA GPU is
 * visible, the CPU reference ops (op microbenchmarks), the profiler bracket (ncu), and the step types a raw
 * forward takes. Nothing above the engine imports @quantbench/native.
 */
import fs from 'node:fs';
import { ADDON_PATH, loadNative, type NativeOps } from '@quantbench/native';

export { ADDON_PATH };
export type { BlockTimesMs, NativeBatch, NativeOps, NativeStepResult } from '@quantbench/native';

export function nativeAddonBuilt(): boolean {
  return fs.existsSync(ADDON_PATH);
}

/** True when the native addon is built with CUDA and a GPU is visible. */
export function cudaAvailable(): boolean {
  if (!nativeAddonBuilt()) return false;
  try {
    return loadNative().cudaAvailable();
  } catch {
    return false;
  }
}

export function hardwareThreads(): number {
  return loadNative().hardwareThreads();
}

/** The CPU reference ops (native/src/cpu/ops.h) through the binding. */
export function referenceOps(): NativeOps {
  return loadNative().ops;
}

/** Brackets a region for `ncu --profile-from-start off` (no-op on a CPU-only build). */
export function cudaProfiler(on: boolean): void {
  loadNative().cudaProfiler(on);
}
