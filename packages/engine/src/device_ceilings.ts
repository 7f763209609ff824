/** Roofline ceilings of the known cards (native/device_ceilings.json), for bench, eval and report. */
export {
  KNOWN_CARDS,
  knownCard,
  ceilingsForDevice,
  peakTflops,
  type DeviceCeilings,
  type KnownCard,
  type PeakBasis,
} from '@quantbench/native';
