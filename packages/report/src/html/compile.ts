/** Vega-Lite → Vega at build time: the page ships the compiled specs and only the vega runtime. */
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Spec as VegaSpec } from 'vega';

export function toVega(spec: TopLevelSpec): VegaSpec {
  const warnings: string[] = [];
  const logger = {
    level: () => logger,
    error: (...m: unknown[]) => {
      throw new Error(m.join(' '));
    },
    warn: (...m: unknown[]) => {
      warnings.push(m.join(' '));
      return logger;
    },
    info: () => logger,
    debug: () => logger,
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const out = compile(spec, { logger: logger as any }).spec;
  if (warnings.length) throw new Error(`Vega-Lite warnings: ${warnings.join('; ')}`);
  return out;
}
