export * from './types.ts';
export * from './provenance.ts';
export * from './datadir.ts';
