/** `--model` is checked before any work: a directory that exists, or synthetic:NAME (which the loader checks). */
import fs from 'node:fs';
import { UsageError } from './contract.ts';

export function checkModelPath(model: string): void {
  if (model.startsWith('synthetic:')) return;
  if (!fs.existsSync(model)) throw new UsageError(`--model: ${model} does not exist`);
  if (!fs.statSync(model).isDirectory()) throw new UsageError(`--model: ${model} is not a directory (give an HF model directory)`);
}
