import type { NativeModelConfig } from '@quantbench/native';
import type { ActDtype, DeviceKind, KvCacheDtype, LlamaConfig, AttentionDtype } from '../types.ts';

export function toNativeConfig(c: LlamaConfig, o: { actDtype: ActDtype; device: DeviceKind; threads: number; maxPositions: number; kvCacheDtype?: KvCacheDtype; attentionDtype?: AttentionDtype }): NativeModelConfig {
  return {
    hiddenSize: c.hiddenSize,
    intermediateSize: c.intermediateSize,
    numLayers: c.numLayers,
    numHeads: c.numHeads,
    numKvHeads: c.numKvHeads,
    headDim: c.headDim,
    vocabSize: c.vocabSize,
    rmsNormEps: c.rmsNormEps,
    ropeTheta: c.ropeTheta,
    ropeFactor: c.ropeScaling?.factor ?? 0,
    ropeLowFreqFactor: c.ropeScaling?.lowFreqFactor ?? 1,
    ropeHighFreqFactor: c.ropeScaling?.highFreqFactor ?? 4,
    ropeOriginalMaxPos: c.ropeScaling?.originalMaxPositionEmbeddings ?? 8192,
    tieWordEmbeddings: c.tieWordEmbeddings,
    maxPositions: o.maxPositions,
    actDtype: o.actDtype,
    kvCacheDtype: o.kvCacheDtype ?? 'auto',
    ...(o.attentionDtype && o.attentionDtype !== 'auto' ? { attentionDtype: o.attentionDtype } : {}),
    device: o.device,
    threads: o.threads,
  };
}
