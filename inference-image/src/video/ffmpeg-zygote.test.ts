// The ffmpeg zygote with real processes: Debian's ffmpeg with the library hack/setup.sh builds (npm run
// build:native), real clips, exits, kills, and what happens when the zygote or the runtime dies.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ZYGOTE_LIBRARY, firstAlive, startFfmpegZygote, zygoteUnusable, type FfmpegZygote } from './ffmpeg-zygote.js';
import { startMp4Encoder } from './mp4-encoder.js';
import { startProcessLauncher } from './process-launcher.js';

const library = DEFAULT_ZYGOTE_LIBRARY;
let zygote: FfmpegZygote | undefined;
let dir: string;
afterEach(async () => {
  await zygote?.close();
  zygote = undefined;
  rmSync(dir, { recursive: true, force: true });
});
beforeAll(() => {
  if (!existsSync(library)) throw new Error(`${library} is missing: run bash hack/setup.sh (npm run build:native)`);
});

async function started(): Promise<FfmpegZygote> {
  dir = mkdtempSync(path.join(os.tmpdir(), 't2v-zygote-'));
  zygote = startFfmpegZygote({ ffmpegPath: 'ffmpeg', library });
  expect(await zygote.ready).toBe(true);
  expect(zygote.alive).toBe(true);
  return zygote;
}

function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function parentOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
}

async function until(check: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

/** PIDs of the processes whose parent is `ppid`. */
function childrenOf(ppid: number): number[] {
  return readFileSync(`/proc/${ppid}/task/${ppid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

/** The zygote among `ppid`'s children (an ffmpeg process) and its one forked child, or zeros while there is none. */
function forkedFfmpeg(ppid: number): { zygotePid: number; child: number } {
  for (const c of childrenOf(ppid)) {
    try {
      if (!readFileSync(`/proc/${c}/cmdline`, 'utf8').startsWith('ffmpeg')) continue;
      const kids = childrenOf(c);
      if (kids.length === 1) return { zygotePid: c, child: kids[0]! };
    } catch {
      /* ended meanwhile */
    }
  }
  return { zygotePid: 0, child: 0 };
}

/** An ffmpeg that runs until killed (a real-time test source, no end). */
const forever = (): string[] => ['-hide_banner', '-re', '-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=5', '-f', 'null', '-'];

describe('startFfmpegZygote', () => {
  it('encodes a real clip through mp4-encoder: a valid H.264 MP4 with the comment, from a child of the zygote', async () => {
    const z = await started();
    const w = 64;
    const h = 48;
    const frames = 8;
    const encoder = await startMp4Encoder({ width: w, height: h, fps: 8, ffmpegPath: 'ffmpeg', comment: 'model=t2v seed=7 «naïve»', launcher: z, tmpDir: dir });
    const mp4 = await encoder.encode({
      width: w,
      height: h,
      frames,
      frame: (f: number, into: Uint8Array) => into.fill((f * 30) % 256),
    } as never);
    const file = path.join(dir, 'out.mp4');
    writeFileSync(file, mp4);
    const probe = JSON.parse(
      execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,nb_frames,width:format_tags=comment', '-of', 'json', file], {
        encoding: 'utf8',
      }),
    );
    expect(probe.streams[0]).toMatchObject({ codec_name: 'h264', nb_frames: String(frames), width: w });
    expect(probe.format.tags.comment).toBe('model=t2v seed=7 «naïve»');
  });

  it('makes the same MP4 bytes as an ffmpeg spawned on its own, from the same frames', async () => {
    const z = await started();
    const clip = { width: 64, height: 64, frames: 12, frame: (f: number, into: Uint8Array) => into.map((_, i) => (i * 7 + f * 13) % 256) } as never;
    const encode = async (launcher?: FfmpegZygote): Promise<Buffer> =>
      (
        await startMp4Encoder({ width: 64, height: 64, fps: 8, ffmpegPath: 'ffmpeg', comment: 'seed=3', tmpDir: dir, ...(launcher ? { launcher } : {}) })
      ).encode(clip);
    const forked = await encode(z);
    const spawned = await encode();
    expect(forked.length).toBeGreaterThan(1000);
    expect(forked.equals(spawned)).toBe(true);
  });

  it('reports exit codes and the last 4 KiB of stderr, and tells concurrent processes apart', async () => {
    const z = await started();
    const [bad, chatty, good] = await Promise.all([
      z.launch('ffmpeg', ['-hide_banner', '-i', path.join(dir, 'missing.mp4')]).exited,
      // debug logging of a short encode writes far more than 4 KiB
      z.launch('ffmpeg', ['-loglevel', 'debug', '-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=5', '-frames:v', '3', '-f', 'null', '-']).exited,
      z.launch('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=32x32:rate=5', '-frames:v', '2', path.join(dir, 'g.mp4')])
        .exited,
    ]);
    expect(bad).toMatchObject({ code: 1, signal: null });
    expect(bad.stderr).toMatch(/missing\.mp4: No such file or directory/);
    expect(chatty.code).toBe(0);
    expect(Buffer.byteLength(chatty.stderr)).toBeGreaterThan(4000);
    expect(Buffer.byteLength(chatty.stderr)).toBeLessThanOrEqual(4096);
    expect(good).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(existsSync(path.join(dir, 'g.mp4'))).toBe(true);
  });

  it('kills on request (SIGKILL) a child forked from the zygote; a kill after the exit does nothing', async () => {
    const z = await started();
    const p = z.launch('ffmpeg', forever());
    let forked = { zygotePid: 0, child: 0 };
    expect(await until(() => (forked = forkedFfmpeg(process.pid)).child > 0)).toBe(true);
    const child = forked.child;
    expect(parentOf(child)).toBe(forked.zygotePid);
    p.kill();
    expect(await p.exited).toMatchObject({ code: null, signal: 'SIGKILL' });
    p.kill();
    expect(running(child)).toBe(false);
  });

  it('when the zygote is SIGKILLed, its running ffmpeg dies too and ends with an error; the zygote is not alive', async () => {
    const z = await started();
    const p = z.launch('ffmpeg', forever());
    let forked = { zygotePid: 0, child: 0 };
    expect(await until(() => (forked = forkedFfmpeg(process.pid)).child > 0)).toBe(true);
    const { zygotePid, child } = forked;
    expect(parentOf(child)).toBe(zygotePid);
    process.kill(zygotePid, 'SIGKILL');
    expect(await p.exited).toMatchObject({ error: 'the ffmpeg zygote exited' });
    expect(z.alive).toBe(false);
    expect(await until(() => !running(child), 3000)).toBe(true);
    expect((await z.launch('ffmpeg', ['-version']).exited).error).toMatch(/not ready|not running/);
  });

  it('a zygote that stops answering (SIGSTOP) is SIGKILLed when a kill gets no exit report, and the clip ends', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 't2v-zygote-'));
    let why = '';
    const z = (zygote = startFfmpegZygote({ ffmpegPath: 'ffmpeg', library, killAnswerMs: 300, onExit: (_c, _s, w) => (why = w) }));
    expect(await z.ready).toBe(true);
    const p = z.launch('ffmpeg', forever());
    let forked = { zygotePid: 0, child: 0 };
    expect(await until(() => (forked = forkedFfmpeg(process.pid)).child > 0)).toBe(true);
    process.kill(forked.zygotePid, 'SIGSTOP');
    p.kill();
    expect(await p.exited).toMatchObject({ error: 'the ffmpeg zygote exited' });
    expect(why).toBe('no exit report within 300 ms of a kill (hung)');
    expect(z.alive).toBe(false);
    expect(await until(() => !running(forked.child) && !running(forked.zygotePid), 3000)).toBe(true);
  });

  it('close() kills what runs, and the zygote is gone', async () => {
    const z = await started();
    const p = z.launch('ffmpeg', forever());
    await new Promise((r) => setTimeout(r, 200));
    await z.close();
    expect(z.alive).toBe(false);
    expect((await p.exited).error).toBe('the ffmpeg zygote exited');
  });

  it('refuses another file, and an argument with a NUL byte, without forking', async () => {
    const z = await started();
    expect((await z.launch('/usr/bin/ffmpeg-other', ['-version']).exited).error).toMatch(/forks ffmpeg, not \/usr\/bin\/ffmpeg-other/);
    expect((await z.launch('ffmpeg', ['a\0b']).exited).error).toMatch(/NUL/);
    expect((await z.launch('ffmpeg', ['-hide_banner', '-version']).exited).code).toBe(0);
  });

  it('refuses arguments over its 1 MiB cap as not started, and goes on serving the clips it runs', async () => {
    const z = await started();
    const p = z.launch('ffmpeg', forever());
    const huge = await z.launch('ffmpeg', ['-metadata', `comment=${'x'.repeat(1 << 20)}`, '-version']).exited;
    expect(huge).toMatchObject({ notStarted: true, error: expect.stringMatching(/over the zygote's 1048576/) });
    expect(z.alive).toBe(true);
    expect((await z.launch('ffmpeg', ['-hide_banner', '-version']).exited).code).toBe(0);
    p.kill();
    expect(await p.exited).toMatchObject({ signal: 'SIGKILL' });
  });

  it('with its table of 64 clips full, refuses the next as not started (EAGAIN)', async () => {
    const z = await started();
    const idle = ['-hide_banner', '-re', '-f', 'lavfi', '-i', 'testsrc=size=16x16:rate=1', '-f', 'null', '-'];
    const full = Array.from({ length: 64 }, () => z.launch('ffmpeg', idle));
    try {
      expect(await z.launch('ffmpeg', ['-version']).exited).toMatchObject({ notStarted: true, error: 'fork failed: errno 11' });
    } finally {
      for (const p of full) p.kill();
    }
    expect(new Set((await Promise.all(full.map((p) => p.exited))).map((e) => e.signal))).toEqual(new Set(['SIGKILL']));
  });

  it('a forked ffmpeg holds no other clip stderr: only its own, as fd 2', async () => {
    const z = await started();
    const first = z.launch('ffmpeg', forever());
    let forked = { zygotePid: 0, child: 0 };
    expect(await until(() => (forked = forkedFfmpeg(process.pid)).child > 0)).toBe(true);
    const second = z.launch('ffmpeg', forever());
    let kids: number[] = [];
    expect(await until(() => (kids = childrenOf(forked.zygotePid)).length === 2)).toBe(true);
    const memfds = (pid: number): string[] =>
      readdirSync(`/proc/${pid}/fd`).filter((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('/memfd:ffmpeg-stderr');
        } catch {
          return false;
        }
      });
    for (const kid of kids) expect(memfds(kid)).toEqual(['2']);
    first.kill();
    second.kill();
    await Promise.all([first.exited, second.exited]);
  });

  it('a stderr tail cut inside a UTF-8 sequence starts at the next whole character', async () => {
    const z = await started();
    // Stderr ends '<path>: File name too long'; paths ending one byte apart: one of the two 4096-byte tails starts
    // inside a two-byte 'é'.
    for (const end of ['', 'x']) {
      const exit = await z.launch('ffmpeg', ['-hide_banner', '-i', `/nonexistent/${'é'.repeat(3000)}${end}`]).exited;
      expect(exit.code).toBe(1);
      expect(exit.stderr).toMatch(/^é+x?: File name too long\n$/);
    }
  });

  it('when the runtime is SIGKILLed, the zygote and its ffmpeg go with it', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 't2v-zygote-'));
    const script = `
      const { startFfmpegZygote } = await import(${JSON.stringify(new URL('./ffmpeg-zygote.ts', import.meta.url).href)});
      const z = startFfmpegZygote({ ffmpegPath: 'ffmpeg', library: ${JSON.stringify(library)} });
      await z.ready;
      z.launch('ffmpeg', ${JSON.stringify(forever())});
      setInterval(() => {}, 1000);
    `;
    const runtime = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'ignore' });
    let forked = { zygotePid: 0, child: 0 };
    expect(await until(() => (forked = forkedFfmpeg(runtime.pid!)).child > 0, 20_000)).toBe(true);
    const pids = [forked.zygotePid, forked.child];
    runtime.kill('SIGKILL');
    expect(await until(() => pids.every((p) => !running(p)), 5000)).toBe(true);
  });

  it('preloaded into a program that is not ffmpeg, it never becomes ready (exit 121)', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 't2v-zygote-'));
    let exit: [number | null, string | null, string] | undefined;
    zygote = startFfmpegZygote({ ffmpegPath: '/bin/sleep', library, onExit: (code, signal, why) => (exit = [code, signal, why]) });
    expect(await zygote.ready).toBe(false);
    expect(zygote.alive).toBe(false);
    expect(exit).toEqual([121, null, 'exited']);
  });
});

describe('zygoteUnusable', () => {
  it('accepts an ELF ffmpeg found on PATH, and refuses a script, a missing file and a missing library, saying why', () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 't2v-zygote-'));
    expect(zygoteUnusable('ffmpeg', library)).toBeUndefined();
    const script = path.join(dir, 'ffmpeg');
    writeFileSync(script, '#!/bin/sh\nexec ffmpeg "$@"\n');
    chmodSync(script, 0o755);
    expect(zygoteUnusable(script, library)).toMatch(/is not an ELF executable/);
    expect(zygoteUnusable('ffmpeg', library, { PATH: dir })).toMatch(/is not an ELF executable/);
    expect(zygoteUnusable('no-such-ffmpeg', library)).toMatch(/not found on PATH/);
    expect(zygoteUnusable('ffmpeg', path.join(dir, 'none.so'))).toMatch(/none\.so not found/);
  });

  it('refuses a library that is not an ELF file, or whose path LD_PRELOAD would split (space, colon)', () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 't2v-zygote-'));
    expect(zygoteUnusable('ffmpeg', '/etc/passwd')).toMatch(/\/etc\/passwd is not an ELF file/);
    expect(zygoteUnusable('ffmpeg', dir)).toMatch(/cannot be read: EISDIR/);
    const spaced = path.join(dir, 'a b.so');
    copyFileSync(library, spaced);
    expect(zygoteUnusable('ffmpeg', spaced)).toMatch(/cannot name a path with a space or a colon/);
  });
});

describe('firstAlive', () => {
  it('sends the zygote its own ffmpeg and anything else to the node launcher, and to it what the zygote started nothing for (over its cap); the node launcher once the zygote is gone', async () => {
    const z = await started();
    const nodeLauncher = startProcessLauncher();
    const both = firstAlive([
      { launcher: z, serves: (f) => f === z.file },
      { launcher: nodeLauncher, serves: () => true },
    ]);
    try {
      expect((await both.launch('/bin/sh', ['-c', 'exit 4']).exited).code).toBe(4);
      expect((await both.launch('ffmpeg', ['-hide_banner', '-version']).exited).code).toBe(0);
      // 5000 arguments of ~210 bytes: over the zygote's 1 MiB, under exec's limits.
      const many = Array.from({ length: 5000 }, (_, i) => ['-metadata', `k${i}=${'v'.repeat(200)}`]).flat();
      expect(await both.launch('ffmpeg', ['-hide_banner', ...many, '-version']).exited).toMatchObject({ code: 0, signal: null });
      expect(z.alive).toBe(true);
      await z.close();
      expect(both.alive).toBe(true);
      expect(await both.launch('ffmpeg', ['-hide_banner', '-version']).exited).toMatchObject({ code: 0 });
    } finally {
      await both.close();
    }
    expect(both.alive).toBe(false);
  });
});
