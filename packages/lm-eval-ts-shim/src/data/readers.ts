/** Read a data file into rows: JSONL, JSON (array), CSV (header) — each optionally .gz —, parquet (hyparquet), HellaSwag text export. */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { ShimError } from '../errors.ts';
import { parseCsvObjects } from './csv.ts';
import type { Row } from './rows.ts';

export type RowFormat = 'jsonl' | 'json' | 'csv' | 'parquet' | 'hellaswag-txt';

export function formatOf(file: string): RowFormat {
  const ext = path.extname(file.replace(/\.gz$/i, '')).toLowerCase();
  if (ext === '.jsonl') return 'jsonl';
  if (ext === '.json') return 'json';
  if (ext === '.csv') return 'csv';
  if (ext === '.parquet') return 'parquet';
  throw new ShimError('DATA_FORMAT', `cannot tell the format of ${file}: use .jsonl, .json, .csv or .parquet`);
}

/** A text file, gunzipped when its name ends in .gz (WinoGrande's train split is shared compressed). */
function readText(file: string): string {
  const buf = fs.readFileSync(file);
  return (file.toLowerCase().endsWith('.gz') ? zlib.gunzipSync(buf) : buf).toString('utf8');
}

export async function readRows(file: string, format: RowFormat = formatOf(file)): Promise<Row[]> {
  switch (format) {
    case 'jsonl':
      return readText(file)
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l, i) => {
          try {
            return JSON.parse(l) as Row;
          } catch {
            throw new ShimError('DATA_FORMAT', `${file}:${i + 1} is not valid JSON`);
          }
        });
    case 'json': {
      const v: unknown = JSON.parse(readText(file));
      if (!Array.isArray(v)) throw new ShimError('DATA_FORMAT', `${file} should hold a JSON array of rows`);
      return v as Row[];
    }
    case 'csv':
      return parseCsvObjects(readText(file));
    case 'parquet': {
      const rows = await parquetReadObjects({ file: await asyncBufferFromFile(file) });
      return rows as Row[];
    }
    case 'hellaswag-txt':
      return readHellaswagText(file);
  }
}

/** llama.cpp-style HellaSwag export: 6 lines per item (label: ctx, gold index, 4 endings). */
function readHellaswagText(file: string): Row[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  if (lines.length % 6 !== 0) {
    throw new ShimError('DATA_FORMAT', `${file}: ${lines.length} lines is not a multiple of 6 (see FORMAT.md)`);
  }
  const rows: Row[] = [];
  for (let i = 0; i < lines.length; i += 6) {
    rows.push({ query_raw: lines[i], label: Number(lines[i + 1]), endings: lines.slice(i + 2, i + 6) });
  }
  return rows;
}
