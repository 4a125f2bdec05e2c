// Entry point: config from the environment, start, and exit cleanly on SIGTERM / SIGINT.
import ort from 'onnxruntime-node';
import { loadConfig } from './config.js';
import { T2vError } from './errors.js';
import { startRuntime } from './runtime.js';
import { createLogger } from './telemetry/logger.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: 'invalid configuration', err: (err as Error).message })}\n`);
    process.exit(2);
  }
  const log = createLogger(config.logLevel);
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled promise rejection');
    process.exit(1);
  });

  let runtime;
  try {
    runtime = await startRuntime(config, log, { createSession: (file, options) => ort.InferenceSession.create(file, options) });
  } catch (err) {
    log.fatal({ err, code: err instanceof T2vError ? err.code : undefined }, 'failed to start');
    process.exit(1);
  }
  const rt = runtime;

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting without waiting for jobs');
      process.exit(1);
    }
    rt.shutdown(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Started under a wrapper (a shell, a process manager) that was killed without passing the signal on: leave
  // with it, as on SIGTERM, instead of serving on orphaned (the parent changes when the old one is gone).
  const parent = process.ppid;
  const orphaned = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(orphaned);
    log.warn({ parent, now: process.ppid }, 'parent process exited: shutting down as on SIGTERM');
    onSignal('SIGTERM');
  }, 1000);
  orphaned.unref();

  rt.ready.catch(async (err: unknown) => {
    log.fatal({ err, code: err instanceof T2vError ? err.code : undefined }, 'model failed to load; exiting');
    await rt.shutdown('load failed').catch(() => undefined);
    process.exit(1);
  });
}

void main();
