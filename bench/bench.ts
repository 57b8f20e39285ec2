/**
 * `npm run bench`: the receiver's throughput, CPU, memory and latency against
 * the real engine, in one run.
 *
 *   backlog  One container holding 1 000 000 retained lines of ~100 bytes, read
 *            from the beginning and exported (protobuf and JSON, no compression)
 *            to a local sink: wall time until the sink holds every line, lines/s,
 *            receiver CPU s and µs per line, peak RSS, dockerd CPU; against a
 *            baseline reader (one follow request, counting '\n') in the same run,
 *            alternating: receiver/proto, baseline, receiver/json, baseline, …
 *   live     50 containers × 200 lines/s for 60 s: receiver CPU %, dockerd %,
 *            RSS, latency p50/p99 (Docker's timestamp → arrival at the sink),
 *            event-loop delay p99 of the receiver.
 *   idle     50 sleeping containers for 60 s: receiver CPU % and RSS.
 *   profile  One more backlog run (protobuf) under `node --cpu-prof`, summarised
 *            by self time (not in the figures above).
 *
 * Every case ends with an exact count (each line written delivered exactly
 * once); a case that fails it makes the run exit 1. The receiver runs as a child
 * process built from dist/ (`npm run build` first, unless --no-build), so its
 * /proc figures are its own: the sink and this harness are not counted.
 *
 *   npm run bench -- [--quick] [--repeat N] [--cases backlog,live,idle,profile]
 *                    [--lines N] [--live-seconds S] [--idle-seconds S]
 *                    [--containers N] [--rate R] [--impl dist|src] [--no-build]
 *
 * Results: a markdown report on stdout, and JSON in bench/results/bench-<date>.json
 * and bench/results/latest.json.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { engineAddress, requireEngine } from '../test/helpers/docker.js';
import { backlogBaseline, backlogReceiver, idle, live } from './lib/bench-cases.js';
import type { BacklogTarget, BenchContext, CaseResult, Encoding } from './lib/bench-cases.js';
import { REPO_ROOT, childScript } from './lib/bench-children.js';
import { ContainerSet, createBacklogContainer, foreignRunning } from './lib/bench-docker.js';
import { startPrivateEngine } from './lib/bench-engine.js';
import { machineInfo } from './lib/bench-proc.js';
import { formatProfile, summarizeProfile } from './lib/bench-profile.js';
import type { ProfileSummary } from './lib/bench-profile.js';
import { goals, markdown, summarize } from './lib/bench-report.js';
import { BenchSink } from './lib/bench-sink.js';

const CASES = ['backlog', 'live', 'idle', 'profile'] as const;
type CaseName = (typeof CASES)[number];

const USAGE = `usage: npm run bench -- [options]
  --quick               short version: 200 000 backlog lines, 15 s live and idle windows
  --repeat N            runs of each case (default 1; backlog alternates receiver and baseline)
  --cases LIST          any of backlog,live,idle,profile (default backlog,live,idle)
  --profile             same as adding profile to --cases
  --lines N             backlog lines (default 1000000)
  --encodings LIST      backlog encodings of the receiver (default proto,json)
  --live-seconds S      live duration (default 60)
  --idle-seconds S      idle window (default 60)
  --containers N        containers in live and idle (default 50)
  --rate R              lines/s per live container (default 200)
  --impl dist|src       run the receiver from dist/ (default; built first) or src/ under tsx
  --no-build            use dist/ as it is
  --log-level LEVEL     the receiver's own log level (default warn)
  --private-engine      start a private dockerd (socket /tmp/dlr-bench-engine/docker.sock) for this
                        run and stop it at the end: no other users' containers to read`;

interface Options {
  quick: boolean;
  repeat: number;
  cases: CaseName[];
  lines: number;
  encodings: Encoding[];
  liveSeconds: number;
  idleSeconds: number;
  warmupSeconds: number;
  containers: number;
  rate: number;
  impl: 'dist' | 'src';
  build: boolean;
  logLevel: string;
  privateEngine: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      repeat: { type: 'string' },
      cases: { type: 'string' },
      profile: { type: 'boolean' },
      lines: { type: 'string' },
      encodings: { type: 'string' },
      'live-seconds': { type: 'string' },
      'idle-seconds': { type: 'string' },
      containers: { type: 'string' },
      rate: { type: 'string' },
      impl: { type: 'string' },
      'no-build': { type: 'boolean' },
      'log-level': { type: 'string' },
      'private-engine': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const quick = values.quick === true;
  const num = (v: string | undefined, dflt: number, what: string, min = 1): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${what}: expected a number >= ${min}, got "${v}"`);
    return n;
  };
  const cases = (values.cases ?? 'backlog,live,idle').split(',').map((c) => c.trim()).filter((c) => c !== '');
  for (const c of cases) if (!(CASES as readonly string[]).includes(c)) throw new Error(`--cases: unknown case "${c}" (known: ${CASES.join(', ')})`);
  if (values.profile === true && !cases.includes('profile')) cases.push('profile');
  const encodings = (values.encodings ?? 'proto,json').split(',').map((e) => e.trim());
  for (const e of encodings) if (e !== 'proto' && e !== 'json') throw new Error(`--encodings: unknown encoding "${e}"`);
  const impl = values.impl ?? 'dist';
  if (impl !== 'dist' && impl !== 'src') throw new Error(`--impl: dist or src, got "${impl}"`);
  return {
    quick,
    repeat: num(values.repeat, 1, 'repeat'),
    cases: cases as CaseName[],
    lines: Math.floor(num(values.lines, quick ? 200_000 : 1_000_000, 'lines')),
    encodings: encodings as Encoding[],
    liveSeconds: num(values['live-seconds'], quick ? 15 : 60, 'live-seconds', 5),
    idleSeconds: num(values['idle-seconds'], quick ? 15 : 60, 'idle-seconds', 5),
    warmupSeconds: quick ? 3 : 5,
    containers: Math.floor(num(values.containers, 50, 'containers')),
    rate: num(values.rate, 200, 'rate'),
    impl,
    build: values['no-build'] !== true,
    logLevel: values['log-level'] ?? 'warn',
    privateEngine: values['private-engine'] === true,
  };
}

function socketPathOf(endpoint: string): string | null {
  return endpoint.startsWith('unix://') ? endpoint.slice('unix://'.length) : null;
}

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function describe(r: CaseResult): string {
  if (!r.ok) return `FAILED: ${r.failure ?? '?'}`;
  if (r.case === 'backlog') return `${r.linesPerSecond.toLocaleString('en-US')} lines/s in ${r.wallSeconds} s, CPU ${r.cpuSeconds} s (${r.cpuMicrosPerLine} µs/line), peak RSS ${r.peakRssMB} MB, dockerd ${r.dockerdCpuSeconds} s, foreign records ${r.foreignRecords}`;
  if (r.case === 'live') return `CPU ${r.cpuPercent} % (dockerd ${r.dockerdPercent} %), RSS max ${r.rssMaxMB} MB, p50 ${r.latencyP50Ms} ms, p99 ${r.latencyP99Ms} ms, ELD p99 ${r.eventLoopDelay?.p99Ms ?? '–'} ms, ${r.delivered}/${r.lines} lines`;
  return `CPU ${r.cpuPercent} % (dockerd ${r.dockerdPercent} %), RSS ${r.rssMB} MB (max ${r.rssMaxMB}), foreign records ${r.foreignRecords}`;
}

/** What to undo when interrupted (containers first, then the private engine). */
const onInterrupt: Array<() => Promise<void>> = [];

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  process.once('SIGINT', () => {
    log('interrupted: cleaning up');
    void (async () => {
      for (const f of onInterrupt) await f().catch(() => undefined);
      process.exit(130);
    })();
  });
  const engine = options.privateEngine ? await startPrivateEngine(log) : null;
  if (engine !== null) {
    process.env.DOCKER_HOST = engine.endpoint;
    onInterrupt.push(() => engine.stop());
  }
  try {
    return await run(options, engine !== null);
  } finally {
    if (engine !== null) {
      log('stopping the private engine');
      await engine.stop();
    }
  }
}

async function run(options: Options, privateEngine: boolean): Promise<number> {
  const docker = await requireEngine();
  const version = await docker.version();
  const machine = machineInfo(version);
  const endpoint = engineAddress();
  log(`engine: ${endpoint}${privateEngine ? ' (private)' : ' (shared)'}`);
  log(`machine: ${machine.cpuModel}, ${machine.cores} cores; engine ${machine.engineVersion}; node ${machine.node}; load ${machine.loadAverageAtStart.join(' ')}`);

  if (options.impl === 'dist' && options.build) {
    log('building dist/ (npm run build)');
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    } catch {
      throw new Error('npm run build failed (src/ does not compile right now); fix it, or run with --no-build (dist/ as it is) or --impl src');
    }
  }
  if (options.impl === 'dist' && !existsSync(join(REPO_ROOT, 'dist', 'service.js'))) throw new Error('dist/service.js is missing: run npm run build');

  const tmpDir = mkdtempSync(join(tmpdir(), 'dlr-bench-'));
  const containers = new ContainerSet(docker);
  const sink = await BenchSink.start();
  const ctx: BenchContext = {
    docker,
    containers,
    sink,
    receiverScript: childScript('bench-receiver-child'),
    baselineScript: childScript('bench-baseline-child'),
    root: pathToFileURL(join(REPO_ROOT, options.impl)).href,
    tsx: options.impl === 'src',
    endpoint,
    socketPath: socketPathOf(endpoint),
    apiVersion: version.ApiVersion ?? '1.41',
    tmpDir,
    logLevel: options.logLevel,
  };
  const cleanup = async (): Promise<void> => {
    await containers.remove();
    await sink.stop();
    rmSync(tmpDir, { recursive: true, force: true });
  };
  onInterrupt.unshift(cleanup);

  const results: CaseResult[] = [];
  const record = (r: CaseResult): void => {
    results.push(r);
    const what = r.case === 'backlog' ? `${r.reader}${r.encoding !== null ? `/${r.encoding}` : ''}` : '';
    log(`${r.case} ${what} run ${r.run}: ${describe(r)}`);
  };
  let profile: ProfileSummary | null = null;
  let profileText = '';
  const foreignAtStart = await foreignRunning(docker, new Set());
  if (foreignAtStart.length > 0) log(`note: ${foreignAtStart.length} other container(s) running on the shared engine: ${foreignAtStart.slice(0, 8).join(', ')}`);

  try {
    if (options.cases.includes('backlog') || options.cases.includes('profile')) {
      log(`creating the backlog container (${options.lines.toLocaleString('en-US')} lines)`);
      const c = await createBacklogContainer(docker, containers, options.lines, 600_000);
      log(`backlog container ${c.name} written in ${c.writeSeconds.toFixed(1)} s`);
      const target: BacklogTarget = { id: c.id, name: c.name, lines: options.lines };
      if (options.cases.includes('backlog')) {
        for (let run = 1; run <= options.repeat; run++) {
          for (const encoding of options.encodings) {
            log(`backlog run ${run}: receiver (${encoding})`);
            record(await backlogReceiver(ctx, target, encoding, run));
            log(`backlog run ${run}: baseline`);
            record(await backlogBaseline(ctx, target, run));
          }
        }
      }
      if (options.cases.includes('profile')) {
        const dir = join(REPO_ROOT, '.tmp', 'bench', `profile-${Date.now()}`);
        mkdirSync(dir, { recursive: true });
        log(`profile: backlog receiver (proto) under --cpu-prof → ${dir}`);
        const r = await backlogReceiver(ctx, target, 'proto', 1, dir);
        const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
        if (file !== undefined) {
          r.profile = join(dir, file);
          profile = summarizeProfile(r.profile, 30);
          profileText = formatProfile(profile);
        } else if (r.ok) {
          r.ok = false;
          r.failure = 'no .cpuprofile was written';
        }
        record(r);
      }
      await containers.remove([c.id]);
    }
    if (options.cases.includes('live')) {
      for (let run = 1; run <= options.repeat; run++) {
        log(`live run ${run}: ${options.containers} containers × ${options.rate} lines/s for ${options.liveSeconds} s`);
        record(await live(ctx, { containers: options.containers, ratePerContainer: options.rate, seconds: options.liveSeconds }, run));
      }
    }
    if (options.cases.includes('idle')) {
      for (let run = 1; run <= options.repeat; run++) {
        log(`idle run ${run}: ${options.containers} sleeping containers for ${options.idleSeconds} s`);
        record(await idle(ctx, { containers: options.containers, seconds: options.idleSeconds, warmupSeconds: options.warmupSeconds }, run));
      }
    }
  } finally {
    await cleanup();
  }

  // The profiled run is reported, but not part of the figures (profiling slows it down).
  const measured = results.filter((r) => !(r.case === 'backlog' && r.profile !== undefined));
  const summary = summarize(measured);
  const verdicts = goals(summary);
  const shownOptions = {
    quick: options.quick,
    repeat: options.repeat,
    cases: options.cases,
    lines: options.lines,
    encodings: options.encodings,
    liveSeconds: options.liveSeconds,
    idleSeconds: options.idleSeconds,
    containers: options.containers,
    rate: options.rate,
    impl: options.impl,
    engine: privateEngine ? 'private' : 'shared',
  };
  const report = markdown(machine, shownOptions, results, summary, verdicts);
  process.stdout.write(`${report}\n`);
  if (profileText !== '') process.stdout.write(`\n### CPU profile of the receiver (backlog, protobuf)\n\n${profileText}\n`);

  const date = new Date().toISOString().replace(/[:]/g, '-').replace(/\..*$/, '');
  const out = {
    date: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine,
    options: shownOptions,
    foreignContainersAtStart: foreignAtStart.length,
    method: [
      'The receiver runs as a child process (bench/lib/bench-receiver-child.ts: what src/cli/main.ts does, plus monitorEventLoopDelay) from dist/; CPU is utime+stime of /proc/PID/stat over the window, RSS from /proc/PID/status (VmRSS sampled every second, VmHWM at the end).',
      'Its config is the product default except start_at, the exporter endpoint (a local sink), encoding, and compression: none.',
      'The sink counts records by the resource attribute container.name and checks the sequence number at the start of each line (each of 1..N exactly once); records of other containers on the shared engine are counted as foreign. The receiver has no container filter, so it reads those too: their cost is in its CPU (µs/line divides by all records delivered).',
      'Backlog: the container writes its lines and then sleeps (it must be running: the receiver does not read a stopped container created before it started). Time and CPU run from the go message (modules and config already loaded) to the moment the sink holds every line; for the baseline, to the moment it has counted every line.',
      'Live: start_at: end; writers start after the receiver. CPU % is over the window while all writers run; latency is the request arrival at the sink minus the record time (Docker timestamp), for every line.',
      'Idle: sleeping containers start before the receiver; 5 s warm-up (3 s with --quick), then the window. No event-loop monitor there (its timer would cost CPU).',
      'dockerd CPU is from /proc/<dockerd>/stat over the same window; the engine is shared, so it includes other users\' work.',
    ],
    runs: results,
    summary,
    goals: verdicts,
    profile,
  };
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const json = `${JSON.stringify(out, null, 2)}\n`;
  writeFileSync(join(dir, `bench-${date}.json`), json);
  writeFileSync(join(dir, 'latest.json'), json);
  log(`results written to bench/results/bench-${date}.json and bench/results/latest.json`);

  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) {
    log(`${failed.length} run(s) failed`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
