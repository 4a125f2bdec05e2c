import { defineConfig } from 'vitest/config';

// Three projects so each can run alone: pure unit tests (no processes), the inference runtime
// against real onnxruntime + ffmpeg, and the operator against a real local control plane.
export default defineConfig({
  test: {
    // onnxruntime-node's usage telemetry off in the tests' own sessions too (execution-provider.ts: disableOrtTelemetry).
    env: { ORT_DISABLE_TELEMETRY: '1' },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['operator/src/**/*.test.ts', 'inference-image/src/**/*.test.ts', 'test/env/**/*.test.ts'],
          // The state-machine fuzzers and crash replays run thousands of passes: seconds on a busy 2-core machine.
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'inference',
          include: ['test/inference/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/env/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          // One control plane is shared; files run one after another to keep 2 cores unsaturated.
          fileParallelism: false,
        },
      },
    ],
  },
});
