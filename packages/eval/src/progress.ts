/** Progress bar with ETA on stderr (cli-progress); silent when stderr is not a terminal unless forced. */
import cliProgress from 'cli-progress';

export interface Progress {
  start(total: number, label: string): void;
  increment(n: number): void;
  stop(): void;
}

export function makeProgress(enabled: boolean = process.stderr.isTTY === true): Progress {
  if (!enabled) return { start() {}, increment() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: '{label} |{bar}| {value}/{total} requests | {percentage}% | elapsed {duration_formatted} | ETA {eta_formatted}',
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let running = false;
  return {
    start(total, label) {
      if (running) bar.stop();
      bar.start(total, 0, { label });
      running = true;
    },
    increment(n) {
      if (running) bar.increment(n);
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}
