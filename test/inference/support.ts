// Harness for the inference runtime tests: builds the small model into a temp dir, starts the real
// runtime as a child process on 127.0.0.1 (port 0 → the port it logs), tracks it by PID and stops it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTinyModel, type TinyModelOptions } from '../../inference-image/scripts/lib/tiny-model.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const mainTs = path.join(repoRoot, 'inference-image/src/main.ts');

/** Every runtime this test process started; stopAll() in afterAll stops what is still running. */
const started = new Set<RuntimeProcess>();

export async function stopAll(): Promise<void> {
  await Promise.all([...started].map((p) => p.stop()));
}

/**
 * Stops `pid` if this test process dies first (a crashed or SIGKILLed vitest worker runs no afterAll).
 * It gives up as soon as the child is gone, so a recycled PID is never signalled later.
 */
function watchdog(pid: number): void {
  const script =
    `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${pid} 2>/dev/null; do sleep 1; done; ` +
    `if kill -0 ${pid} 2>/dev/null; then kill -TERM ${pid}; sleep 3; kill -KILL ${pid} 2>/dev/null; fi; exit 0`;
  spawn('bash', ['-c', script], { stdio: 'ignore', detached: true }).unref();
}

export interface RedisProcess {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts Debian's redis-server on a free loopback port with its own directory, no persistence, tracked by PID
 * (a watchdog stops it if this test process dies); stop() in afterAll.
 */
export async function startRedis(dir: string, opts: { password?: string } = {}): Promise<RedisProcess> {
  const port = await freePort();
  const auth = opts.password === undefined ? [] : ['--requirepass', opts.password];
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
      '--daemonize',
      'no',
      ...auth,
    ],
    { stdio: 'ignore' },
  );
  if (child.pid === undefined) throw new Error('could not spawn redis-server (apt-get install redis-server)');
  watchdog(child.pid);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await answersPing(port, opts.password))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}`);
    await sleep(50);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether a Redis answers PING on `port` (after AUTH when it has a password). */
function answersPing(port: number, password?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const auth = password === undefined ? '' : `AUTH ${password}\r\n`;
    let reply = '';
    socket.once('connect', () => socket.write(`${auth}PING\r\n`));
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      // Wait for PONG or an error reply (+OK from AUTH may come alone).
      if (!reply.includes('PONG') && !reply.includes('-')) return;
      socket.destroy();
      resolve(reply.includes('+PONG'));
    });
    socket.once('error', () => resolve(false));
  });
}

export interface TempDir {
  dir: string;
  remove(): void;
}

export function tempDir(prefix: string): TempDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Builds the small model under `parent` (one per test file, in beforeAll). */
export function buildModel(parent: string, options: Partial<TinyModelOptions> = {}): string {
  const dir = path.join(parent, `model-${options.version ?? 'v1'}-${options.scheduler ?? 'flow-euler'}`);
  buildTinyModel(dir, options);
  return dir;
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export class RuntimeProcess {
  private output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    private readonly child: ChildProcess,
    public port = 0,
  ) {
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString('utf8')));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString('utf8')));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    started.add(this);
    void this.exited.then(() => started.delete(this));
  }

  /** Starts the runtime; resolves once it listens (and, unless `waitReady` is false, once /readyz is 200). */
  static async start(env: Record<string, string>, opts: { waitReady?: boolean; timeoutMs?: number } = {}): Promise<RuntimeProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', mainTs], {
      cwd: repoRoot,
      env: { ...process.env, T2V_HOST: '127.0.0.1', T2V_PORT: '0', T2V_LOG_LEVEL: 'info', T2V_WEBHOOK_ALLOW_PRIVATE: 'true', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) throw new Error('could not spawn the runtime');
    watchdog(child.pid);
    const rt = new RuntimeProcess(child);
    const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
    while (rt.port === 0) {
      const listening = rt.logs().find((l) => l.msg === 'listening');
      if (listening) rt.port = Number(listening.port);
      else if (child.exitCode !== null)
        return rt; // the caller inspects exit code and logs
      else if (Date.now() > deadline) {
        await rt.stop();
        throw new Error(`runtime did not listen in time:\n${rt.output}`);
      } else await sleep(50);
    }
    if (opts.waitReady ?? true) {
      try {
        await rt.waitReady(deadline);
      } catch (err) {
        await rt.stop();
        throw err;
      }
    }
    return rt;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get rawOutput(): string {
    return this.output;
  }

  /** The JSON log lines written so far (onnxruntime's own native lines are skipped). */
  logs(): LogLine[] {
    const out: LogLine[] = [];
    for (const line of this.output.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as LogLine);
      } catch {
        /* a partial line still being written */
      }
    }
    return out;
  }

  async waitReady(deadline = Date.now() + 90_000): Promise<void> {
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`runtime exited (${this.child.exitCode}) before ready:\n${this.output}`);
      const res = await fetch(`${this.url}/readyz`).catch(() => undefined);
      if (res?.status === 200) return;
      if (Date.now() > deadline) throw new Error(`runtime not ready in time:\n${this.output}`);
      await sleep(100);
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child.exitCode === null) process.kill(this.pid, sig);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it exited. */
  async stop(graceMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export async function postJson(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...init });
}

export interface Probe {
  codec: string;
  pixFmt: string;
  width: number;
  height: number;
  frames: number;
  fps: string;
  duration: number;
  format: string;
}

/** ffprobe's view of an MP4 (frames counted by decoding, not read from the header). */
export async function ffprobe(video: Buffer, dir: string): Promise<Probe> {
  const file = path.join(dir, `probe-${process.pid}-${Math.random().toString(36).slice(2)}.mp4`);
  fs.writeFileSync(file, video);
  try {
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        'ffprobe',
        [
          '-v',
          'error',
          '-count_frames',
          '-select_streams',
          'v:0',
          '-show_entries',
          'stream=codec_name,pix_fmt,width,height,nb_read_frames,avg_frame_rate:format=duration,format_name',
          '-of',
          'json',
          file,
        ],
        (err, out) => (err ? reject(err) : resolve(out)),
      ),
    );
    const j = JSON.parse(stdout) as { streams: Array<Record<string, string | number>>; format: Record<string, string> };
    const s = j.streams[0] ?? {};
    return {
      codec: String(s.codec_name),
      pixFmt: String(s.pix_fmt),
      width: Number(s.width),
      height: Number(s.height),
      frames: Number(s.nb_read_frames),
      fps: String(s.avg_frame_rate),
      duration: Number(j.format.duration),
      format: String(j.format.format_name),
    };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** Value of the Prometheus sample `name` carrying all of `labels` (any label order), or undefined. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z0-9_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

export async function metricsText(rt: RuntimeProcess): Promise<string> {
  return (await fetch(`${rt.url}/metrics`)).text();
}

export interface JobView {
  id: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  progress: { phase: string; step: number; steps: number; percent: number };
  request: Record<string, unknown>;
  result?: { content_url: string; bytes: number; frames: number; seconds: number };
  error?: { code: string; message: string };
}

/** Polls GET /v1/videos/{id} until the job is succeeded or failed. */
export async function waitForJob(rt: RuntimeProcess, id: string, timeoutMs = 60_000): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await (await fetch(`${rt.url}/v1/videos/${id}`)).json()) as JobView;
    if (job.status === 'succeeded' || job.status === 'failed') return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status}`);
    await sleep(50);
  }
}

/** The "job finished" log line of each job id. */
export function finishedJobs(rt: RuntimeProcess): Map<string, LogLine> {
  return new Map(
    rt
      .logs()
      .filter((l) => l.msg === 'job finished')
      .map((l) => [String(l.jobId), l]),
  );
}
