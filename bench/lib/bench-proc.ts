/**
 * What the benchmark reads from /proc: CPU time (utime + stime of a whole
 * process, every thread included) and memory (VmRSS, VmHWM) of a child, the
 * engine daemons' CPU, and a description of the machine.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';

/** Clock ticks per second for /proc/PID/stat (USER_HZ); 100 on every Linux we run on. */
let ticksPerSecond: number | null = null;

export function clockTicks(): number {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** user + system CPU seconds of process pid (all its threads; not its children), or null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces: fields start after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return (utime + stime) / clockTicks();
}

/** Sum of cpuSeconds over several processes (missing ones count 0). */
export function cpuSecondsOf(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) sum += cpuSeconds(pid) ?? 0;
  return sum;
}

export interface MemoryStatus {
  /** Resident set size now, bytes. */
  rss: number;
  /** Peak resident set size ("high water mark"), bytes. */
  hwm: number;
}

export function memory(pid: number): MemoryStatus | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m === null ? 0 : Number(m[1]) * 1024;
  };
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  args: string[];
}

function processes(filter: (comm: string) => boolean): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (!filter(comm)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
      out.push({ pid: Number(entry), ppid, comm, args });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The value of a command-line option given as `--name value`, `--name=value` (or `-H value`). */
function optionValue(args: readonly string[], names: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    for (const n of names) {
      if (args[i] === n) return args[i + 1];
      if (args[i].startsWith(`${n}=`)) return args[i].slice(n.length + 1);
    }
  }
  return undefined;
}

/** The engine's processes: dockerd, and the containerd it manages with that containerd's shims (one per running container). */
export interface EnginePids {
  dockerd: number[];
  containerd: number[];
}

/**
 * The processes of the engine that serves socketPath: the dockerd listening
 * there (-H unix://…, or no -H for /var/run/docker.sock), its child containerd,
 * and the shims talking to that containerd. Without a socket path (a tcp
 * engine), every dockerd and containerd process.
 */
export function enginePids(socketPath: string | null): EnginePids {
  const all = processes((c) => c === 'dockerd' || c.startsWith('containerd'));
  const dockerds = all.filter((p) => p.comm === 'dockerd');
  if (socketPath === null) return { dockerd: dockerds.map((p) => p.pid), containerd: all.filter((p) => p.comm !== 'dockerd').map((p) => p.pid) };
  const mine = dockerds.filter((p) => {
    const host = optionValue(p.args, ['-H', '--host']);
    return (host === undefined ? '/var/run/docker.sock' : host.replace(/^unix:\/\//, '')) === socketPath;
  });
  const containerds = all.filter((p) => p.comm === 'containerd' && mine.some((d) => d.pid === p.ppid));
  const addresses = containerds
    .map((p) => optionValue(p.args, ['--config', '-c']))
    .filter((c): c is string => c !== undefined)
    .map((c) => `${c.replace(/\/[^/]*$/, '')}/containerd.sock`);
  const shims = all.filter((p) => p.comm.startsWith('containerd-shi') && addresses.some((a) => p.args.includes(a)));
  return { dockerd: mine.map((p) => p.pid), containerd: [...containerds, ...shims].map((p) => p.pid) };
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  engineVersion: string;
  engineApiVersion: string;
  loadAverageAtStart: number[];
}

export function machineInfo(engine: { Version?: string; ApiVersion?: string }): MachineInfo {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m !== null) model = m[1].trim();
  } catch {
    // keep os.cpus()
  }
  return {
    cpuModel: model,
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    engineVersion: engine.Version ?? 'unknown',
    engineApiVersion: engine.ApiVersion ?? 'unknown',
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/**
 * Samples a process's RSS (and the engine's CPU) about once a second, so a
 * case can report the largest RSS seen within its window, not just at its end.
 */
export class RssSampler {
  private timer: NodeJS.Timeout | null = null;
  maxRss = 0;
  samples = 0;

  constructor(private readonly pid: number) {}

  start(intervalMs = 1000): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  reset(): void {
    this.maxRss = 0;
    this.samples = 0;
    this.sample();
  }

  stop(): void {
    this.sample();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private sample(): void {
    const m = memory(this.pid);
    if (m === null) return;
    this.samples++;
    if (m.rss > this.maxRss) this.maxRss = m.rss;
  }
}
