/** Checkpoint I/O: safetensors read/write, HF model directories, compressed-tensors quantization configs. */
export * from './errors.ts';
export * from './dtypes.ts';
export * from './layout.ts';
export * from './safetensors.ts';
export * from './safetensors_writer.ts';
export * from './sharded_writer.ts';
export * from './index_reader.ts';
export * from './module_match.ts';
export * from './compressed_tensors.ts';
export * from './quant_tensors.ts';
export * from './fingerprint.ts';
