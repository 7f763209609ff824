/**
 * Writes a whole checkpoint directory: `model.safetensors`, or `model-00001-of-0000N.safetensors` shards plus
 * `model.safetensors.index.json` ({metadata: {total_size}, weight_map}) as HF transformers' save_pretrained does,
 * along with any extra files (config.json, tokenizer files).
 *
 * Atomic as a whole: everything is written into a temporary directory beside the target (same filesystem) and
 * renamed into place at the end; on any error the temporary directory is removed and the target is untouched.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointError, describeError, isCheckpointError } from './errors.ts';
import { planTensors, writeSafetensors, type WriteEntry } from './safetensors_writer.ts';
import { INDEX_FILE, SINGLE_WEIGHTS_FILE, shardFileName } from './layout.ts';


export interface ShardedWriteOptions {
  /** A shard is closed before it would pass this many data bytes (a larger tensor gets a shard of its own). */
  maxShardBytes: number;
  /** Written into every shard's `__metadata__`; `format: "pt"` is added unless given (transformers requires it). */
  metadata?: Record<string, string>;
  /** Other files to place in the directory, by base name (e.g. config.json, tokenizer.json). */
  extraFiles?: Record<string, string | Uint8Array>;
  /** Replace an existing target directory (default: refuse with TARGET_EXISTS). */
  overwrite?: boolean;
}

export interface ShardedWriteResult {
  dir: string;
  /** Weight file base names in order. */
  files: string[];
  /** Base name of the index file, or null when a single model.safetensors was written. */
  indexFile: string | null;
  /** Sum of tensor data bytes (the index's metadata.total_size). */
  totalSize: number;
  weightMap: Record<string, string>;
}

/** Split entries, in order, into shards of at most maxShardBytes data bytes each. */
export function planShards(dir: string, entries: readonly WriteEntry[], maxShardBytes: number): WriteEntry[][] {
  if (!(Number.isSafeInteger(maxShardBytes) && maxShardBytes > 0)) {
    throw new CheckpointError('BAD_ENTRY', dir, `maxShardBytes ${maxShardBytes} must be a positive integer`);
  }
  const planned = planTensors(dir, entries);
  const shards: WriteEntry[][] = [];
  let current: WriteEntry[] = [];
  let size = 0;
  for (const t of planned) {
    if (current.length > 0 && size + t.nbytes > maxShardBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(t.entry);
    size += t.nbytes;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

export function writeShardedSafetensors(
  dir: string,
  entries: readonly WriteEntry[],
  options: ShardedWriteOptions,
): ShardedWriteResult {
  const target = path.resolve(dir);
  const shards = planShards(target, entries, options.maxShardBytes);
  const files = shards.length === 1 ? [SINGLE_WEIGHTS_FILE] : shards.map((_, i) => shardFileName(i + 1, shards.length));
  const extra = options.extraFiles ?? {};
  for (const name of Object.keys(extra)) {
    if (name !== path.basename(name) || name === '.' || name === '..' || files.includes(name) || name === INDEX_FILE) {
      throw new CheckpointError('BAD_ENTRY', target, `extra file name "${name}" must be a plain file name that is not a weights or index file`);
    }
  }
  if (fs.existsSync(target) && !options.overwrite) {
    throw new CheckpointError('TARGET_EXISTS', target, 'the output directory already exists; choose a new path or pass overwrite: true');
  }
  const metadata = { format: 'pt', ...(options.metadata ?? {}) };

  const parent = path.dirname(target);
  let tmpDir: string;
  try {
    fs.mkdirSync(parent, { recursive: true });
    tmpDir = fs.mkdtempSync(path.join(parent, `.${path.basename(target)}.tmp-`));
  } catch (e) {
    throw new CheckpointError('WRITE_FAILED', target, `cannot create a temporary directory in ${parent} (${describeError(e)})`, { cause: e });
  }

  try {
    const weightMap: Record<string, string> = {};
    let totalSize = 0;
    shards.forEach((shard, i) => {
      const written = writeSafetensors(path.join(tmpDir, files[i]), shard, metadata);
      totalSize += written.dataBytes;
      for (const name of written.names) weightMap[name] = files[i];
    });
    let indexFile: string | null = null;
    if (shards.length > 1) {
      indexFile = INDEX_FILE;
      const sortedMap = Object.fromEntries(Object.keys(weightMap).sort().map((k) => [k, weightMap[k]]));
      // As transformers writes it: json.dumps(index, indent=2, sort_keys=True) + "\n".
      const index = { metadata: { total_size: totalSize }, weight_map: sortedMap };
      fs.writeFileSync(path.join(tmpDir, INDEX_FILE), JSON.stringify(index, null, 2) + '\n');
    }
    for (const [name, content] of Object.entries(extra)) {
      fs.writeFileSync(path.join(tmpDir, name), content);
    }
    moveIntoPlace(tmpDir, target, options.overwrite === true);
    return { dir: target, files, indexFile, totalSize, weightMap };
  } catch (e) {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    if (isCheckpointError(e)) {
      // Name the file as it would have been in the target, not in the (now deleted) temporary directory.
      const rel = path.relative(tmpDir, e.file);
      if (rel.startsWith('..') || path.isAbsolute(rel)) throw e;
      const detail = e.detail.replace(/no file was written$/, 'nothing was written');
      throw new CheckpointError(e.code, path.join(target, rel), detail, { tensor: e.tensor, cause: e });
    }
    throw new CheckpointError('WRITE_FAILED', target, `writing the checkpoint failed (${describeError(e)}); nothing was written`, {
      cause: e,
    });
  }
}

function moveIntoPlace(tmpDir: string, target: string, overwrite: boolean): void {
  if (!fs.existsSync(target)) {
    fs.renameSync(tmpDir, target);
    return;
  }
  if (!overwrite) {
    throw new CheckpointError('TARGET_EXISTS', target, 'the output directory appeared while writing; choose a new path or pass overwrite: true');
  }
  const old = `${tmpDir}.old`;
  fs.renameSync(target, old);
  try {
    fs.renameSync(tmpDir, target);
  } catch (e) {
    fs.renameSync(old, target);
    throw e;
  }
  fs.rmSync(old, { recursive: true, force: true });
}
