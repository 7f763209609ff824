/**
 * A checkpoint's content fingerprint (issue 20): what caches key on instead of its path, so a checkpoint re-quantized
 * in place (same path, same tensor names and shapes, new scales) never answers from stale entries. It hashes
 * config.json and the other small JSON files (tokenizer, quantization config) in full, each safetensors file's header
 * (names, dtypes, shapes, offsets), and every file's size and modification time — rewriting a file changes its mtime
 * even when its header and size stay the same. Cheap: the tensor data is not read.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

function safetensorsHeader(file: string): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const len = Buffer.alloc(8);
    if (fs.readSync(fd, len, 0, 8, 0) < 8) return Buffer.alloc(0);
    const n = Number(len.readBigUInt64LE(0));
    if (!Number.isSafeInteger(n) || n <= 0 || n > 256 * 1024 * 1024) return len;
    const head = Buffer.alloc(n);
    fs.readSync(fd, head, 0, n, 8);
    return head;
  } finally {
    fs.closeSync(fd);
  }
}

/** sha256 (hex, 16 chars) of a model directory's content as described above; synthetic:NAME is its own fingerprint. */
export function checkpointFingerprint(model: string): string {
  const h = createHash('sha256');
  if (model.startsWith('synthetic:') || !fs.existsSync(model) || !fs.statSync(model).isDirectory()) {
    h.update(`name:${model}`);
    return h.digest('hex').slice(0, 16);
  }
  const names = fs.readdirSync(model).filter((n) => /\.(json|safetensors|model|txt)$/i.test(n)).sort();
  for (const name of names) {
    const file = path.join(model, name);
    const st = fs.statSync(file);
    if (!st.isFile()) continue;
    h.update(`${name}\0${st.size}\0${Math.round(st.mtimeMs)}\0`);
    if (name.endsWith('.safetensors')) h.update(safetensorsHeader(file));
    else if (st.size <= 64 * 1024 * 1024) h.update(fs.readFileSync(file));
  }
  return h.digest('hex').slice(0, 16);
}
