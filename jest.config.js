// TypeScript ES modules run through ts-jest in ESM mode; type checking is `npm run typecheck`'s job.
export default {
  // Node's environment and jest's order, plus what the suite-wide log audit needs (tests/audit/).
  testEnvironment: '<rootDir>/tests/support/environment.mjs',
  testSequencer: '<rootDir>/tests/support/sequencer.mjs',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.test.json' }],
  },
  testMatch: ['<rootDir>/tests/**/*.test.ts'],
  globalSetup: '<rootDir>/tests/support/global-setup.mjs',
  globalTeardown: '<rootDir>/tests/support/global-teardown.mjs',
  testTimeout: 30000,
};
