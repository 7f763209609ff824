/**
 * GPU clock, power and temperature while a point runs, sampled with `nvidia-smi -lms` in a child process. A sustained
 * FP8 run on an H200 draws the card's power limit and its SM clock falls well below boost (session 17: median 1,575 of
 * 1,980 MHz at 692 W): the same engine then measures several per cent apart on two machines or two points, and this
 * record says why. Recorded per point as `gpuTelemetry`; absent on the CPU backend, with --no-gpu-telemetry, or when
 * nvidia-smi cannot run (the point then says why in `gpuTelemetryNote`).
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** nvidia-smi's clocks_throttle_reasons.active bits (nvml's clocksEventReasons). */
export const CLOCK_REASON = {
  gpuIdle: 0x1,
  swPowerCap: 0x4,
  hwSlowdown: 0x8,
  swThermal: 0x20,
  hwThermal: 0x40,
  hwPowerBrake: 0x80,
} as const;

const QUERY = 'clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu,clocks_throttle_reasons.active';

export interface GpuTelemetrySample {
  smClockMHz: number;
  maxSmClockMHz: number | null;
  powerW: number | null;
  powerLimitW: number | null;
  temperatureC: number | null;
  reasons: number;
}

export interface GpuTelemetry {
  source: 'nvidia-smi';
  /** The nvidia-smi --id sampled: CUDA_VISIBLE_DEVICES' first entry, else 0 (nvidia-smi orders GPUs by PCI bus). */
  gpu: string;
  intervalMs: number;
  /** Samples taken; the statistics below are over the busy ones (the "GPU idle" reason not set). */
  samples: number;
  busySamples: number;
  smClockMHz: { median: number; min: number; max: number };
  /** The card's maximum SM clock (boost), as nvidia-smi reports it. */
  maxSmClockMHz: number | null;
  powerW: { median: number; max: number } | null;
  powerLimitW: number | null;
  temperatureC: { median: number; max: number } | null;
  /** Share of busy samples with the software power cap among the active clock event reasons. */
  powerCappedFraction: number;
  /** Share of busy samples slowed for heat or by the hardware (thermal, HW slowdown or power brake). */
  thermalOrHwSlowdownFraction: number;
}

/** One `--format=csv,noheader,nounits` line of QUERY; null for what is not a sample ("[N/A]" clocks, blank lines). */
export function parseSample(line: string): GpuTelemetrySample | null {
  const f = line.split(',').map((s) => s.trim());
  if (f.length < 6) return null;
  const num = (s: string): number | null => {
    const v = Number(s);
    return s !== '' && Number.isFinite(v) ? v : null;
  };
  const sm = num(f[0]);
  const reasons = /^0x[0-9a-f]+$/i.test(f[5]) ? parseInt(f[5], 16) : null;
  if (sm === null || reasons === null) return null;
  return { smClockMHz: sm, maxSmClockMHz: num(f[1]), powerW: num(f[2]), powerLimitW: num(f[3]), temperatureC: num(f[4]), reasons };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The statistics of a point's samples; null when none was busy. */
export function summarize(samples: GpuTelemetrySample[], gpu: string, intervalMs: number): GpuTelemetry | null {
  const busy = samples.filter((s) => !(s.reasons & CLOCK_REASON.gpuIdle));
  if (busy.length === 0) return null;
  const clocks = busy.map((s) => s.smClockMHz);
  const power = busy.flatMap((s) => (s.powerW === null ? [] : [s.powerW]));
  const temp = busy.flatMap((s) => (s.temperatureC === null ? [] : [s.temperatureC]));
  const last = <K extends keyof GpuTelemetrySample>(k: K) => [...busy].reverse().find((s) => s[k] !== null)?.[k] ?? null;
  const slow = CLOCK_REASON.swThermal | CLOCK_REASON.hwThermal | CLOCK_REASON.hwSlowdown | CLOCK_REASON.hwPowerBrake;
  return {
    source: 'nvidia-smi',
    gpu,
    intervalMs,
    samples: samples.length,
    busySamples: busy.length,
    smClockMHz: { median: median(clocks), min: Math.min(...clocks), max: Math.max(...clocks) },
    maxSmClockMHz: last('maxSmClockMHz') as number | null,
    powerW: power.length ? { median: median(power), max: Math.max(...power) } : null,
    powerLimitW: last('powerLimitW') as number | null,
    temperatureC: temp.length ? { median: median(temp), max: Math.max(...temp) } : null,
    powerCappedFraction: busy.filter((s) => s.reasons & CLOCK_REASON.swPowerCap).length / busy.length,
    thermalOrHwSlowdownFraction: busy.filter((s) => s.reasons & slow).length / busy.length,
  };
}

/** The GPU nvidia-smi should sample for the CUDA device this process uses (device 0 of CUDA_VISIBLE_DEVICES). */
export function telemetryGpuId(env: NodeJS.ProcessEnv = process.env): string {
  const first = (env.CUDA_VISIBLE_DEVICES ?? '').split(',')[0].trim();
  return first !== '' ? first : '0';
}

export interface TelemetryResult {
  telemetry: GpuTelemetry | null;
  /** Why there is none (nvidia-smi missing or failing, no busy sample). */
  note?: string;
}

export interface GpuTelemetrySampler {
  /** Stops sampling and summarizes what was sampled since start. */
  stop(): Promise<TelemetryResult>;
}

export interface TelemetryOptions {
  intervalMs?: number;
  gpu?: string;
  /** The nvidia-smi executable (default: from PATH). */
  command?: string;
}

/** Starts sampling now; never throws (a failure to run nvidia-smi becomes the result's note). */
export function startGpuTelemetry(o: TelemetryOptions = {}): GpuTelemetrySampler {
  const intervalMs = o.intervalMs ?? 500;
  const gpu = o.gpu ?? telemetryGpuId();
  const command = o.command ?? 'nvidia-smi';
  const samples: GpuTelemetrySample[] = [];
  let failure: string | undefined;
  let stderr = '';
  let pending = '';
  let child: ChildProcess | null = null;
  let exited: Promise<void>;
  let firstSample: () => void = () => {};
  const sampled = new Promise<void>((resolve) => (firstSample = resolve));
  try {
    child = spawn(command, [`--query-gpu=${QUERY}`, '--format=csv,noheader,nounits', '-lms', String(intervalMs), `--id=${gpu}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) {
        const s = parseSample(l);
        if (s) samples.push(s);
      }
      if (samples.length > 0) firstSample();
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      if (stderr.length < 2000) stderr += chunk;
    });
    exited = new Promise<void>((resolve) => {
      child!.on('error', (e: NodeJS.ErrnoException) => {
        failure = e.code === 'ENOENT' ? `${command} not found: no GPU clock / power record` : `${command} failed: ${e.message}`;
        resolve();
      });
      child!.on('close', (code) => {
        if (code !== null && code !== 0 && !failure)
          failure = `${command} exited with ${code}${stderr.trim() ? `: ${stderr.trim().split('\n')[0]}` : ''}`;
        resolve();
      });
    });
  } catch (e) {
    failure = `${command} could not start: ${(e as Error).message}`;
    exited = Promise.resolve();
  }
  return {
    async stop(): Promise<TelemetryResult> {
      if (samples.length === 0 && child && child.exitCode === null) {
        // a point shorter than nvidia-smi's start-up: wait (up to 1.5 s) for its first sample, taken as the point ends
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([sampled, exited, new Promise<void>((r) => (timer = setTimeout(r, 1500)))]);
        clearTimeout(timer);
      }
      let killer: NodeJS.Timeout | undefined;
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        // one that ignores SIGTERM (a hung driver query) is killed after 2 s: the point is never held up by it
        killer = setTimeout(() => child!.kill('SIGKILL'), 2000);
      }
      await exited;
      clearTimeout(killer);
      const last = parseSample(pending);
      if (last) samples.push(last);
      const telemetry = summarize(samples, gpu, intervalMs);
      if (telemetry) return { telemetry };
      return { telemetry: null, note: failure ?? `no busy sample from ${command} (${samples.length} samples, all idle)` };
    },
  };
}

/** A point's record of a sampler's result: the telemetry, or why there is none (nothing when none was asked for). */
export function telemetryFields(r: TelemetryResult | null): { gpuTelemetry?: GpuTelemetry; gpuTelemetryNote?: string } {
  if (r?.telemetry) return { gpuTelemetry: r.telemetry };
  return r?.note ? { gpuTelemetryNote: r.note } : {};
}

/** "; SM 1575 MHz p50 ..." (or the note) for the end of a point's progress line; '' without either. */
export function telemetrySuffix(p: { gpuTelemetry?: GpuTelemetry; gpuTelemetryNote?: string }): string {
  return p.gpuTelemetry ? `; ${telemetryLine(p.gpuTelemetry)}` : p.gpuTelemetryNote ? `; ${p.gpuTelemetryNote}` : '';
}

/** "SM 1575 MHz p50 (max 1980), 692 W of 700, power-capped 95%" for a progress line. */
export function telemetryLine(t: GpuTelemetry): string {
  const parts = [`SM ${t.smClockMHz.median.toFixed(0)} MHz p50${t.maxSmClockMHz ? ` (max ${t.maxSmClockMHz.toFixed(0)})` : ''}`];
  if (t.powerW) parts.push(`${t.powerW.median.toFixed(0)} W${t.powerLimitW ? ` of ${t.powerLimitW.toFixed(0)}` : ''}`);
  if (t.powerCappedFraction > 0) parts.push(`power-capped ${(t.powerCappedFraction * 100).toFixed(0)}% of samples`);
  if (t.thermalOrHwSlowdownFraction > 0) parts.push(`thermal / HW slowdown ${(t.thermalOrHwSlowdownFraction * 100).toFixed(0)}%`);
  return parts.join(', ');
}
