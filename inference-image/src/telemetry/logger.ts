import { pino, type Logger } from 'pino';

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options = { level, base: { component: 't2v-runtime', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(options, destination) : pino(options);
}
