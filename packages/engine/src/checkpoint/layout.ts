/** File names of a HF model directory, as transformers' save_pretrained writes them. */

export const CONFIG_FILE = 'config.json';
export const SINGLE_WEIGHTS_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

/** `model-00001-of-00003.safetensors` (1-based, five digits). */
export function shardFileName(i: number, n: number): string {
  return `model-${String(i).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
}
