/** How table cells are shown (the CSV keeps raw values). */
import type { Cell, CellFormat } from '../charts/chart-types.ts';

export function formatCell(v: Cell, f: CellFormat = 'text'): string {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return String(v);
  switch (f) {
    case 'int':
      return Math.round(v).toLocaleString('en-US');
    case 'num1':
      return v.toLocaleString('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 });
    case 'num2':
      return v.toLocaleString('en-US', { maximumFractionDigits: 2, minimumFractionDigits: 2 });
    case 'num3':
      return v.toLocaleString('en-US', { maximumFractionDigits: 3, minimumFractionDigits: 3 });
    case 'sci':
      return Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(4) : v.toExponential(2);
    case 'pct':
      return `${v.toFixed(1)}%`;
    case 'pct1':
      return `${(100 * v).toFixed(1)}%`;
    case 'times':
      return `${v.toFixed(2)}×`;
    default:
      return String(v);
  }
}
