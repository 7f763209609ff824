/** A raw dataset row and typed accessors that fail with a clear DATA_FORMAT error. */
import { ShimError } from '../errors.ts';

export type Row = Record<string, unknown>;

function bad(row: Row, key: string, want: string): never {
  const got = JSON.stringify(row[key])?.slice(0, 80);
  throw new ShimError('DATA_FORMAT', `dataset row field "${key}" should be ${want}, got ${got}; check the data file format`);
}

export function str(row: Row, key: string): string {
  const v = row[key];
  return typeof v === 'string' ? v : bad(row, key, 'a string');
}

export function int(row: Row, key: string): number {
  const v = row[key];
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v.trim());
  return bad(row, key, 'an integer');
}

export function strList(row: Row, key: string): string[] {
  const v = row[key];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  return bad(row, key, 'a list of strings');
}

export function obj(row: Row, key: string): Row {
  const v = row[key];
  if (v && typeof v === 'object' && !Array.isArray(v)) return v as Row;
  return bad(row, key, 'an object');
}

export function intList(row: Row, key: string): number[] {
  const v = row[key];
  if (Array.isArray(v)) return v.map((x, i) => int({ [`${key}[${i}]`]: x }, `${key}[${i}]`));
  return bad(row, key, 'a list of integers');
}
