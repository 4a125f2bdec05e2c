// `npm run cluster:up` / `npm run cluster:down`: a local control plane for people, left running in the background.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startControlPlane } from './control-plane.js';
import { isAlive, signal } from './process-group.js';

const stateDir = path.join(os.homedir(), '.cache', 'modelrollout', 'cluster');
const stateFile = path.join(stateDir, 'state.json');

interface ClusterState {
  dir: string;
  kubeconfigPath: string;
  pids: { name: string; pid: number }[];
}

async function up(): Promise<void> {
  const existing = readState();
  if (existing && existing.pids.every((p) => isAlive(p.pid))) {
    console.log(`already running.\nexport KUBECONFIG=${existing.kubeconfigPath}`);
    return;
  }
  if (existing) await down();
  fs.rmSync(stateDir, { recursive: true, force: true });
  fs.mkdirSync(stateDir, { recursive: true });
  const cp = await startControlPlane({ dir: path.join(stateDir, 'run'), detached: true, log: (l) => console.log(l) });
  const state: ClusterState = { dir: cp.dir, kubeconfigPath: cp.kubeconfigPath, pids: cp.processes.processes.map((p) => ({ name: p.name, pid: p.pid })) };
  fs.writeFileSync(stateFile, JSON.stringify(state, null, 2));
  console.log(`\nlocal control plane is up (logs in ${path.join(cp.dir, 'logs')}); stop it with: npm run cluster:down`);
  console.log(`export KUBECONFIG=${cp.kubeconfigPath}`);
}

async function down(): Promise<void> {
  const state = readState();
  if (!state) return console.log('no local control plane recorded');
  for (const p of [...state.pids].reverse()) signal(p.pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (state.pids.some((p) => isAlive(p.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const p of state.pids) if (isAlive(p.pid)) signal(p.pid, 'SIGKILL');
  fs.rmSync(stateFile, { force: true });
  console.log(`stopped ${state.pids.map((p) => `${p.name}(${p.pid})`).join(' ')}`);
}

function readState(): ClusterState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile, 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

const command = process.argv[2];
if (command === 'up') await up();
else if (command === 'down') await down();
else {
  console.error('usage: tsx test/env/cli.ts up|down');
  process.exit(2);
}
