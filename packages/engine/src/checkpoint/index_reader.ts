/**
 * Opens a HF model directory: config.json plus either model.safetensors or model.safetensors.index.json and the
 * shards it names. Only headers are read; every tensor is located by file and absolute offset.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointError, describeError } from './errors.ts';
import { readSafetensorsHeader, type TensorEntry } from './safetensors.ts';
import { CONFIG_FILE, INDEX_FILE, SINGLE_WEIGHTS_FILE } from './layout.ts';

export interface Checkpoint {
  /** Absolute path of the directory. */
  dir: string;
  /** config.json as parsed. */
  config: Record<string, unknown>;
  /** Every tensor of every weight file, by name. */
  tensors: Map<string, TensorEntry>;
  /** Absolute paths of the weight files read, in order. */
  files: string[];
  /** Absolute path of the index file, or null for a single model.safetensors. */
  indexFile: string | null;
}

export function openCheckpoint(dir: string): Checkpoint {
  const root = path.resolve(dir);
  let st: fs.Stats;
  try {
    st = fs.statSync(root);
  } catch (e) {
    throw new CheckpointError('NOT_FOUND', root, 'checkpoint directory does not exist; check the --model path', { cause: e });
  }
  if (!st.isDirectory()) {
    throw new CheckpointError('NOT_FOUND', root, 'is not a directory; pass the model directory (the one holding config.json)');
  }

  const config = readConfig(root);
  const single = path.join(root, SINGLE_WEIGHTS_FILE);
  const index = path.join(root, INDEX_FILE);
  const hasSingle = fs.existsSync(single);
  const hasIndex = fs.existsSync(index);

  if (hasSingle && hasIndex) {
    throw new CheckpointError(
      'BAD_INDEX',
      root,
      `both ${SINGLE_WEIGHTS_FILE} and ${INDEX_FILE} exist, so which weights are meant is ambiguous; remove the stale one`,
    );
  }
  if (hasSingle) {
    const header = readSafetensorsHeader(single);
    return { dir: root, config, tensors: header.tensors, files: [single], indexFile: null };
  }
  if (hasIndex) {
    return { dir: root, config, ...readSharded(root, index) };
  }
  throw new CheckpointError('NO_WEIGHTS', root, noWeightsMessage(root));
}

function readConfig(root: string): Record<string, unknown> {
  const file = path.join(root, CONFIG_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CheckpointError('BAD_CONFIG', file, 'config.json is missing or unreadable; a HF model directory needs its config.json', {
      cause: e,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError('BAD_CONFIG', file, `config.json is not valid JSON (${describeError(e)}); restore it from the model source`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CheckpointError('BAD_CONFIG', file, 'config.json must hold a JSON object; restore it from the model source');
  }
  return json as Record<string, unknown>;
}

function readWeightMap(index: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(index, 'utf8'));
  } catch (e) {
    throw new CheckpointError('BAD_INDEX', index, `cannot read the index as JSON (${describeError(e)}); restore it from the model source`);
  }
  const wm = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) {
    throw new CheckpointError('BAD_INDEX', index, 'index has no "weight_map" object (tensor name -> shard file); restore it from the model source');
  }
  const map = new Map<string, string>();
  for (const [name, shard] of Object.entries(wm)) {
    if (typeof shard !== 'string' || shard.length === 0) {
      throw new CheckpointError('BAD_INDEX', index, `weight_map entry is ${JSON.stringify(shard)}, not a shard file name`, { tensor: name });
    }
    if (path.isAbsolute(shard) || shard.split(/[\\/]/).includes('..')) {
      throw new CheckpointError('BAD_INDEX', index, `shard "${shard}" points outside the checkpoint directory; shard names must be relative`, {
        tensor: name,
      });
    }
    map.set(name, shard);
  }
  return map;
}

function readSharded(root: string, index: string): Omit<Checkpoint, 'dir' | 'config'> {
  const weightMap = readWeightMap(index);
  const shardNames = [...new Set(weightMap.values())].sort();
  if (shardNames.length === 0) {
    throw new CheckpointError('NO_WEIGHTS', index, 'weight_map is empty, so the checkpoint has no weights; restore the index from the model source');
  }
  const tensors = new Map<string, TensorEntry>();
  const files: string[] = [];
  for (const shard of shardNames) {
    const file = path.join(root, shard);
    if (!fs.existsSync(file)) {
      const count = [...weightMap.values()].filter((s) => s === shard).length;
      throw new CheckpointError(
        'MISSING_SHARD',
        file,
        `shard "${shard}" named by ${INDEX_FILE} for ${count} tensor(s) does not exist; download the missing shard`,
      );
    }
    const header = readSafetensorsHeader(file);
    for (const [name, entry] of header.tensors) {
      const other = tensors.get(name);
      if (other) {
        throw new CheckpointError(
          'DUPLICATE_TENSOR',
          file,
          `tensor is also in ${path.basename(other.file)}; a tensor must live in exactly one shard (the checkpoint is inconsistent)`,
          { tensor: name },
        );
      }
      tensors.set(name, entry);
    }
    files.push(file);
  }
  for (const [name, shard] of weightMap) {
    const file = path.join(root, shard);
    const entry = tensors.get(name);
    if (!entry || entry.file !== file) {
      const elsewhere = entry ? ` (it is in ${path.basename(entry.file)} instead: the index is stale)` : '';
      throw new CheckpointError('MISSING_TENSOR', file, `${INDEX_FILE} puts this tensor in "${shard}" but that shard does not hold it${elsewhere}; re-download the checkpoint`, {
        tensor: name,
      });
    }
  }
  return { tensors, files, indexFile: index };
}

function noWeightsMessage(root: string): string {
  let names: string[] = [];
  try {
    names = fs.readdirSync(root);
  } catch {
    /* the directory was readable a moment ago; fall through with no listing */
  }
  const bins = names.filter((n) => n.endsWith('.bin') || n.endsWith('.pt') || n.endsWith('.pth'));
  const others = names.filter((n) => n.endsWith('.safetensors'));
  let hint = `expected ${SINGLE_WEIGHTS_FILE} or ${INDEX_FILE}`;
  if (others.length > 0) hint += `; found ${others.join(', ')} but no index naming them`;
  if (bins.length > 0) hint += `; found PyTorch pickle weights (${bins.join(', ')}), which are not read: convert them to safetensors`;
  return `no safetensors weights: ${hint}`;
}
