/** Progress bar on stderr (cli-progress); silent when stderr is not a terminal. */
import cliProgress from 'cli-progress';

export interface SweepProgress {
  startPoint(label: string, index: number, count: number, total: number): void;
  update(done: number): void;
  stopPoint(): void;
}

export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): SweepProgress {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: '{label} [{bar}] {value}/{total} requests | {point} | {duration_formatted}',
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  return {
    startPoint(label, index, count, total) {
      bar.start(total, 0, { label, point: `point ${index}/${count}` });
    },
    update(done) {
      bar.update(done);
    },
    stopPoint() {
      bar.stop();
    },
  };
}

export const silentProgress: SweepProgress = { startPoint() {}, update() {}, stopPoint() {} };
