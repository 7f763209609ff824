/** Shapes and dashes per precision, so precisions that overlap stay apart without colour. */
export const PRECISION_SHAPES: Record<string, string> = {
  fp32: 'cross',
  bf16: 'diamond',
  fp16: 'circle',
  'int8-w8a8': 'square',
  'fp8-dynamic': 'triangle-up',
  'fp8-static': 'triangle-down',
};

export const PRECISION_DASHES: Record<string, number[]> = {
  fp32: [1, 0],
  bf16: [2, 2],
  fp16: [1, 0],
  'int8-w8a8': [6, 3],
  'fp8-dynamic': [2, 2],
  'fp8-static': [8, 3, 2, 3],
};

/** strokeDash and shape scales over the precisions present (same order as precisionScale). */
export function dashScale(domain: string[]): { domain: string[]; range: number[][] } {
  return { domain, range: domain.map((p) => PRECISION_DASHES[p] ?? [1, 0]) };
}

export function shapeScale(domain: string[]): { domain: string[]; range: string[] } {
  return { domain, range: domain.map((p) => PRECISION_SHAPES[p] ?? 'circle') };
}

/** Encodings that make lines (dash) and points (shape) of each precision distinguishable without colour. */
export function lineStyle(precisions: string[], title = 'precision') {
  return { strokeDash: { field: 'precision', type: 'nominal' as const, title, scale: dashScale(precisions) } };
}
export function pointStyle(precisions: string[], title = 'precision') {
  return { shape: { field: 'precision', type: 'nominal' as const, title, scale: shapeScale(precisions) } };
}
