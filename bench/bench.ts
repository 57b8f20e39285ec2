/**
 * `npm run bench`: the receiver's throughput, CPU, memory and latency against
 * the real engine, in one run.
 *
 *   Sources: the backlog and live cases run once per log source (--sources,
 *   default both), the receiver configured with receivers.docker_logs.read_from:
 *     api    the Engine API (bounded follow streams; dockerd reads the json-file
 *            and sends every line over HTTP),
 *     files  the engine's json-file logs read directly (LogPath; needs read
 *            access to the engine's data root: root here, or the private engine's).
 *   Idle runs with the product default, read_from: auto (files when the log is
 *   readable here, else the API), and reports what auto chose.
 *
 *   backlog  One container holding 1 000 000 retained lines of ~100 bytes, read
 *            from the beginning and exported (protobuf and JSON, no compression)
 *            to a local sink: wall time until the sink holds every line, lines/s,
 *            receiver CPU s and µs per line, peak RSS, dockerd CPU s and µs per
 *            line (also beyond its idle rate, sampled just before each run);
 *            against a baseline reader (one API follow request, counting '\n') in
 *            the same run, alternating: api/proto, baseline, files/proto,
 *            baseline, api/json, baseline, files/json, baseline, …
 *   live     50 containers × 200 lines/s for 60 s, per source: receiver CPU %,
 *            dockerd % and µs per line, RSS, latency p50/p99 (Docker's timestamp
 *            → arrival at the sink), event-loop delay p99 of the receiver.
 *   idle     50 sleeping containers for 60 s (read_from: auto): receiver CPU % and RSS.
 *   profile  One more backlog run per source under `node --cpu-prof` (protobuf, or
 *            --profile-encoding json), summarised by self time (not in the figures above).
 *   profile-live  The same for one live run per source.
 *
 * Every case ends with an exact count (each line written delivered exactly
 * once); a case that fails it makes the run exit 1 (goals that are missed are
 * reported, not fatal). The receiver runs as a child process built from dist/
 * (`npm run build` first, unless --no-build), so its /proc figures are its own:
 * the sink and this harness are not counted. Its config includes only this
 * run's containers (include.names), so other users of a shared engine cost it
 * nothing; --private-engine runs a private dockerd so that dockerd's figures
 * are not shared either.
 *
 *   npm run bench -- [--quick] [--repeat N] [--cases backlog,live,idle,profile]
 *                    [--sources api,files] [--private-engine] [--help for every option]
 *
 * Results: a markdown report on stdout, and JSON in bench/results/bench-<date>.json
 * and bench/results/latest.json.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { engineAddress, requireEngine } from '../test/helpers/docker.js';
import { backlogBaseline, backlogReceiver, formatReadTrace, formatSources, idle, live, SOURCES } from './lib/bench-cases.js';
import type { BacklogResult, BacklogTarget, BenchContext, CaseResult, Encoding, LiveResult, Source } from './lib/bench-cases.js';
import { REPO_ROOT, SinkProcess, childScript } from './lib/bench-children.js';
import { ContainerSet, createBacklogContainer, foreignRunning } from './lib/bench-docker.js';
import { startPrivateEngine } from './lib/bench-engine.js';
import { machineInfo } from './lib/bench-proc.js';
import { formatProfile, summarizeProfile } from './lib/bench-profile.js';
import type { ProfileSummary } from './lib/bench-profile.js';
import { describeRun, FILES_GOALS, goals, markdown, summarize } from './lib/bench-report.js';

const CASES = ['backlog', 'live', 'idle', 'profile', 'profile-live'] as const;
type CaseName = (typeof CASES)[number];

const USAGE = `usage: npm run bench -- [options]
  --quick               short version: 200 000 backlog lines, 15 s live and idle windows
  --repeat N            runs of each case (default 1; backlog alternates receiver and baseline)
  --cases LIST          any of backlog,live,idle,profile,profile-live (default backlog,live,idle);
                        profile-live: one more live run per source under node --cpu-prof
  --sources LIST        log sources for backlog, live and profile: any of api,files (default
                        api,files): the receiver runs with read_from: api (Engine API streams) or
                        read_from: files (the engine's json-file logs read directly; needs read
                        access to the engine's data root, i.e. root). Idle always runs with the
                        product default, read_from: auto, and reports what auto chose
  --profile             same as adding profile to --cases: one more backlog run per source under
                        node --cpu-prof, summarised by self time
  --profile-encoding E  the exporter encoding of the profiled runs: proto (default) or json
  --lines N             backlog lines (default 1000000)
  --encodings LIST      backlog encodings of the receiver (default proto,json)
  --live-seconds S      live duration (default 60)
  --idle-seconds S      idle window (default 60)
  --containers N        containers in live and idle (default 50)
  --rate R              lines/s per live container (default 200)
  --impl dist|src|DIR   run the receiver from dist/ (default; built first), src/ under tsx, or
                        another built tree DIR holding service.js (e.g. a patched copy of dist/)
  --no-build            use dist/ as it is
  --log-level LEVEL     the receiver's own log level (default warn)
  --private-engine      start a private dockerd (socket /tmp/dlr-bench-engine/docker.sock) for this
                        run and stop it at the end: no other users' containers to read
  --queue-size N        the exporter's sending_queue.queue_size (default: the product default, 16384)
  --batch-size N        processors.batch.send_batch_size (default: the product default, 8192)
  --node-args=ARGS      extra node options for the receiver process, e.g. --node-args=--max-semi-space-size=32
  --trace-reads         backlog: trace how the receiver's API streams read (reads after a pacing wait,
                        their size, the waits, garbage collection), printed per run and kept in the JSON
  --no-self-metrics     leave out the receiver's own metrics pipeline (the product default exports them
                        with the logs, here to the sink's /v1/metrics)
  --no-filter           no container filter: the receiver reads every container on the engine (the
                        default config has include.names matching this run's containers only)`;

interface Options {
  quick: boolean;
  repeat: number;
  cases: CaseName[];
  sources: Source[];
  profileEncoding: Encoding;
  lines: number;
  encodings: Encoding[];
  liveSeconds: number;
  idleSeconds: number;
  warmupSeconds: number;
  /** dockerd's idle rate is sampled this long before each backlog run. */
  idleProbeSeconds: number;
  containers: number;
  rate: number;
  /** 'dist', 'src', or the path of another built tree. */
  impl: string;
  build: boolean;
  logLevel: string;
  privateEngine: boolean;
  queueSize: number | null;
  batchSize: number | null;
  selfMetrics: boolean;
  nodeArgs: string[];
  filter: boolean;
  traceReads: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      repeat: { type: 'string' },
      cases: { type: 'string' },
      sources: { type: 'string' },
      profile: { type: 'boolean' },
      'profile-encoding': { type: 'string' },
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
      'queue-size': { type: 'string' },
      'batch-size': { type: 'string' },
      'node-args': { type: 'string' },
      'trace-reads': { type: 'boolean' },
      'no-filter': { type: 'boolean' },
      'no-self-metrics': { type: 'boolean' },
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
  const sources = (values.sources ?? SOURCES.join(',')).split(',').map((x) => x.trim()).filter((x) => x !== '');
  for (const x of sources) if (!(SOURCES as readonly string[]).includes(x)) throw new Error(`--sources: unknown source "${x}" (known: ${SOURCES.join(', ')})`);
  if (sources.length === 0) throw new Error('--sources: at least one of api, files');
  const encodings = (values.encodings ?? 'proto,json').split(',').map((e) => e.trim());
  for (const e of encodings) if (e !== 'proto' && e !== 'json') throw new Error(`--encodings: unknown encoding "${e}"`);
  const profileEncoding = values['profile-encoding'] ?? 'proto';
  if (profileEncoding !== 'proto' && profileEncoding !== 'json') throw new Error(`--profile-encoding: proto or json, got "${profileEncoding}"`);
  const impl = values.impl ?? 'dist';
  if (impl !== 'dist' && impl !== 'src' && !existsSync(join(resolve(impl), 'service.js'))) throw new Error(`--impl: dist, src, or a directory holding service.js; got "${impl}"`);
  return {
    quick,
    repeat: num(values.repeat, 1, 'repeat'),
    cases: cases as CaseName[],
    sources: [...new Set(sources)] as Source[],
    profileEncoding,
    lines: Math.floor(num(values.lines, quick ? 200_000 : 1_000_000, 'lines')),
    encodings: encodings as Encoding[],
    liveSeconds: num(values['live-seconds'], quick ? 15 : 60, 'live-seconds', 5),
    idleSeconds: num(values['idle-seconds'], quick ? 15 : 60, 'idle-seconds', 5),
    warmupSeconds: quick ? 3 : 5,
    idleProbeSeconds: quick ? 2 : 3,
    containers: Math.floor(num(values.containers, 50, 'containers')),
    rate: num(values.rate, 200, 'rate'),
    impl,
    build: values['no-build'] !== true,
    logLevel: values['log-level'] ?? 'warn',
    privateEngine: values['private-engine'] === true,
    filter: values['no-filter'] !== true,
    selfMetrics: values['no-self-metrics'] !== true,
    nodeArgs: (values['node-args'] ?? '').split(/\s+/).filter((a) => a !== ''),
    traceReads: values['trace-reads'] === true,
    queueSize: values['queue-size'] === undefined ? null : Math.floor(num(values['queue-size'], 10_000, 'queue-size')),
    batchSize: values['batch-size'] === undefined ? null : Math.floor(num(values['batch-size'], 1, 'batch-size')),
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
  if (r.case === 'backlog') {
    return (
      `${r.linesPerSecond.toLocaleString('en-US')} lines/s in ${r.wallSeconds} s, CPU ${r.cpuSeconds} s (${r.cpuMicrosPerLine} µs/line), peak RSS ${r.peakRssMB} MB, ` +
      `dockerd ${r.dockerdCpuSeconds} s (${r.dockerdMicrosPerLine} µs/line, ${r.dockerdMicrosPerLineBeyondIdle} beyond idle)${r.reader === 'receiver' ? `, sources seen ${formatSources(r.sourcesSeen)}` : ''}, load ${r.loadAverage1m}` +
      (r.readTrace === undefined || r.readTrace === null ? '' : `\n  reads: ${formatReadTrace(r.readTrace)}`)
    );
  }
  if (r.case === 'live') {
    return (
      `CPU ${r.cpuPercent} % (${r.cpuMicrosPerLine} µs/line; dockerd ${r.dockerdPercent} %, ${r.dockerdMicrosPerLine} µs/line), RSS max ${r.rssMaxMB} MB, p50 ${r.latencyP50Ms} ms, p99 ${r.latencyP99Ms} ms, ` +
      `ELD p99 ${r.eventLoopDelay?.p99Ms ?? '–'} ms, ${r.delivered}/${r.lines} lines, sources seen ${formatSources(r.sourcesSeen)}, load ${r.loadAverage1m}`
    );
  }
  return `CPU ${r.cpuPercent} % (dockerd ${r.dockerdPercent} %), RSS ${r.rssMB} MB (max ${r.rssMaxMB}), auto chose ${formatSources(r.sourcesSeen)}, load ${r.loadAverage1m}`;
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
  const runPrefix = `bench-${randomBytes(3).toString('hex')}`;
  const containers = new ContainerSet(docker);
  const sink = await SinkProcess.start();
  const ctx: BenchContext = {
    docker,
    containers,
    sink,
    receiverScript: childScript('bench-receiver-child'),
    baselineScript: childScript('bench-baseline-child'),
    root: pathToFileURL(options.impl === 'dist' || options.impl === 'src' ? join(REPO_ROOT, options.impl) : resolve(options.impl)).href,
    tsx: options.impl === 'src',
    endpoint,
    socketPath: socketPathOf(endpoint),
    apiVersion: version.ApiVersion ?? '1.41',
    tmpDir,
    logLevel: options.logLevel,
    queueSize: options.queueSize,
    batchSize: options.batchSize,
    selfMetrics: options.selfMetrics,
    nodeArgs: options.nodeArgs,
    traceReads: options.traceReads,
    runPrefix,
    includeNames: options.filter ? `dlrt-${runPrefix}-*` : null,
    idleProbeMs: options.idleProbeSeconds * 1000,
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
    log(`${describeRun(r)}${'profile' in r && r.profile !== undefined ? ' (profiled)' : ''}: ${describe(r)}`);
  };
  const profiles: Array<{ source: Source; encoding: Encoding; summary: ProfileSummary }> = [];
  const profileTexts: string[] = [];
  const liveLoad = { containers: options.containers, ratePerContainer: options.rate, seconds: options.liveSeconds };
  /** One run under --cpu-prof into a fresh directory: the result carries the profile's path (or fails without one), with its summary. */
  const profiled = async <R extends BacklogResult | LiveResult>(name: string, what: string, run: (dir: string) => Promise<R>): Promise<{ result: R; summary: ProfileSummary | null }> => {
    const dir = join(REPO_ROOT, '.tmp', 'bench', `${name}-${Date.now()}`);
    mkdirSync(dir, { recursive: true });
    log(`profile: ${what} under --cpu-prof → ${dir}`);
    const result = await run(dir);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) {
      if (result.ok) {
        result.ok = false;
        result.failure = 'no .cpuprofile was written';
      }
      return { result, summary: null };
    }
    result.profile = join(dir, file);
    return { result, summary: summarizeProfile(result.profile, 30) };
  };
  const foreignAtStart = await foreignRunning(docker, new Set());
  if (foreignAtStart.length > 0) log(`note: ${foreignAtStart.length} other container(s) running on the shared engine: ${foreignAtStart.slice(0, 8).join(', ')}`);

  try {
    if (options.cases.includes('backlog') || options.cases.includes('profile')) {
      log(`creating the backlog container (${options.lines.toLocaleString('en-US')} lines)`);
      const c = await createBacklogContainer(docker, containers, ctx.runPrefix, options.lines, 600_000);
      log(`backlog container ${c.name} written in ${c.writeSeconds.toFixed(1)} s`);
      const target: BacklogTarget = { id: c.id, name: c.name, lines: options.lines };
      if (options.cases.includes('backlog')) {
        // Alternating: each receiver run (per encoding, per source) is followed by a baseline run.
        for (let run = 1; run <= options.repeat; run++) {
          for (const encoding of options.encodings) {
            for (const source of options.sources) {
              log(`backlog run ${run}: receiver (read_from: ${source}, ${encoding})`);
              record(await backlogReceiver(ctx, target, source, encoding, run));
              log(`backlog run ${run}: baseline`);
              record(await backlogBaseline(ctx, target, run));
            }
          }
        }
      }
      if (options.cases.includes('profile')) {
        for (const source of options.sources) {
          const encoding = options.profileEncoding;
          const { result, summary } = await profiled(`profile-${source}`, `backlog receiver (read_from: ${source}, ${encoding})`, (dir) => backlogReceiver(ctx, target, source, encoding, 1, dir));
          if (summary !== null) {
            profiles.push({ source, encoding, summary });
            profileTexts.push(`### CPU profile of the receiver (backlog, ${encoding === 'proto' ? 'protobuf' : 'JSON'}, read_from: ${source})\n\n${formatProfile(summary)}`);
          }
          record(result);
        }
      }
      await containers.remove([c.id]);
    }
    if (options.cases.includes('live')) {
      for (let run = 1; run <= options.repeat; run++) {
        for (const source of options.sources) {
          log(`live run ${run}: read_from: ${source}, ${options.containers} containers × ${options.rate} lines/s for ${options.liveSeconds} s`);
          record(await live(ctx, liveLoad, source, run));
        }
      }
    }
    if (options.cases.includes('profile-live')) {
      for (const source of options.sources) {
        const { result, summary } = await profiled(`profile-live-${source}`, `live receiver (read_from: ${source})`, (dir) => live(ctx, liveLoad, source, 1, dir));
        if (summary !== null) profileTexts.push(`### CPU profile of the receiver (live, protobuf, read_from: ${source})\n\n${formatProfile(summary)}`);
        record(result);
      }
    }
    if (options.cases.includes('idle')) {
      for (let run = 1; run <= options.repeat; run++) {
        log(`idle run ${run}: read_from: auto (the product default), ${options.containers} sleeping containers for ${options.idleSeconds} s`);
        record(await idle(ctx, { containers: options.containers, seconds: options.idleSeconds, warmupSeconds: options.warmupSeconds }, run));
      }
    }
  } finally {
    await cleanup();
  }

  // The profiled run is reported, but not part of the figures (profiling slows it down).
  const measured = results.filter((r) => !('profile' in r && r.profile !== undefined));
  const summary = summarize(measured);
  const verdicts = goals(summary);
  const shownOptions = {
    quick: options.quick,
    repeat: options.repeat,
    cases: options.cases,
    sources: options.sources,
    idleSource: 'auto',
    profileEncoding: options.cases.includes('profile') ? options.profileEncoding : '–',
    lines: options.lines,
    encodings: options.encodings,
    liveSeconds: options.liveSeconds,
    idleSeconds: options.idleSeconds,
    containers: options.containers,
    rate: options.rate,
    idleProbeSeconds: options.idleProbeSeconds,
    impl: options.impl,
    engine: privateEngine ? 'private' : 'shared',
    queueSize: options.queueSize ?? 'default',
    batchSize: options.batchSize ?? 'default',
    selfMetrics: options.selfMetrics ? 'exported to the sink (product default)' : 'none (--no-self-metrics)',
    nodeArgs: options.nodeArgs.join(' '),
    traceReads: options.traceReads,
    filter: options.filter ? 'this run\'s containers' : 'none (every container)',
  };
  const report = markdown(machine, shownOptions, results, summary, verdicts);
  process.stdout.write(`${report}\n`);
  for (const text of profileTexts) process.stdout.write(`\n${text}\n`);

  const date = new Date().toISOString().replace(/[:]/g, '-').replace(/\..*$/, '');
  const out = {
    date: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine,
    options: shownOptions,
    foreignContainersAtStart: foreignAtStart.length,
    method: [
      'The receiver runs as a child process (bench/lib/bench-receiver-child.ts: what src/cli/main.ts does, plus monitorEventLoopDelay) from dist/; CPU is utime+stime of /proc/PID/stat over the window, RSS from /proc/PID/status (VmRSS sampled every second, VmHWM at the end).',
      `Its config is the product default except start_at, read_from, the container filter, the exporter endpoint (a local sink), encoding, and compression: none${options.selfMetrics ? '' : ', and no metrics pipeline (--no-self-metrics)'}.`,
      `Sources: backlog, live and profile run once per source in --sources (${options.sources.join(', ')}), with receivers.docker_logs.read_from: api (Engine API follow streams, bounded by stream_timeout) or read_from: files (the engine's json-file logs, LogPath, read directly; readable here because the harness runs as root). Every such run asks the receiver (service.status(), over IPC, while its streams are open) which source each of its readers of this run's containers uses; a run where any reads from the other source fails. Idle runs with the product default (read_from not set: auto, which picks files when the container uses json-file and its log is readable here, else the API) and reports what auto chose.`,
      'The sink counts records by the resource attribute container.name and checks the sequence number at the start of each line (each of 1..N exactly once); records of other containers are counted as foreign. The receiver is configured with include.names matching only this run\'s containers (unless --no-filter: then it also reads other users\' containers on a shared engine, and µs/line divides its CPU by all records delivered).',
      'Backlog: the container writes its lines and then sleeps (it must be running: the receiver does not read a stopped container created before it started). Time and CPU run from the go message (modules and config already loaded; the service start-up, engine listing and inspect are inside the window) to the moment the sink holds every line; for the baseline (one API follow request counting newlines, the API ratio\'s reference), to the moment it has counted every line. Runs alternate: for each encoding, each source, then a baseline.',
      `Backlog dockerd figures: dockerd CPU s over the window; µs/line = that × 10⁶ ÷ the backlog's lines; beyond idle = minus dockerd's idle rate (its CPU over ${options.idleProbeSeconds} s just before go, the reader loaded but not started) × the window. The files source's goal "no engine CPU attributable" is <= ${FILES_GOALS.dockerdMicrosPerLineBeyondIdle} µs/line beyond idle (the API source costs dockerd ~6 µs/line). /proc CPU has 10 ms resolution: 0.01 µs/line per 1 000 000 lines.`,
      'Backlog sink CPU s: CPU of the sink\'s own process over the window (/proc), i.e. decoding and counting what the receiver sends; on a 2-core machine the receiver, dockerd and the sink share the cores, so a source that needs dockerd (api) is bounded by their sum. "best lines/s" is the fastest run of a kind (the least disturbed on a shared machine); goals use medians.',
      `Goals: api source: lines/s >= 0.9 × the baseline's, <= 8 µs receiver CPU per line; files source: >= ${FILES_GOALS.linesPerSecond} lines/s, <= ${FILES_GOALS.cpuMicrosPerLine} µs receiver CPU per line, <= ${FILES_GOALS.dockerdMicrosPerLineBeyondIdle} µs dockerd CPU per line beyond idle, peak RSS <= ${FILES_GOALS.peakRssMB} MB (each per encoding); live (each source): <= 10 % CPU at the nominal rate, <= 8 µs/line, RSS <= 100 MB, p99 <= 1500 ms; idle (auto): <= 0.5 % CPU, RSS <= 70 MB. Missed goals are reported, not fatal.`,
      'Live: start_at: end; writers start after the receiver, once per source. CPU % is over the window while all writers run; latency is the request arrival at the sink minus the record time (Docker timestamp), for every line. dockerd µs/line is dockerd CPU over the window ÷ lines delivered in it: it includes taking the writers\' output and writing their json-files, the same for both sources, so the difference between sources is the cost of serving the API streams.',
      'Idle: read_from: auto (the product default); sleeping containers start before the receiver; 5 s warm-up (3 s with --quick), then the window. No event-loop monitor there (its timer would cost CPU).',
      `dockerd CPU is from /proc/<dockerd>/stat over the same window; ${privateEngine ? 'the engine is private to this run (--private-engine), so it includes only this run\'s work (and dockerd\'s own housekeeping)' : 'the engine is shared, so it includes other users\' work'}. The machine's cores are shared either way: the load average at start is in machine, each run's 1-minute load average at its start in runs[].loadAverage1m.`,
      'Exact count, every run: the sink checks that each of 1..N of every container arrived exactly once (none missing, no duplicate, none out of range); the baseline checks its newline count equals N.',
    ],
    runs: results,
    summary,
    goals: verdicts,
    profiles,
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
