/**
 * The receiver as the benchmark runs it: a child process doing what the CLI
 * (src/cli/main.ts, agent.ts) does (hold the young generation while loading,
 * load the YAML config, create the logger, run the Service), plus an
 * event-loop delay monitor, driven over the IPC channel:
 *
 *   child → {type:'ready'}             modules and config loaded, nothing started
 *   parent → {type:'go'}               reset the delay monitor, start the service
 *   child → {type:'started'}
 *   parent → {type:'status'}           (any time after go) which source each reader uses
 *   child → {type:'status', containers}  name, state and source (api | files | null) of every reader
 *   parent → {type:'stop'}             shut the service down (flush), report, exit
 *   child → {type:'stopped', eld}      event-loop delay over go..stop, in ms
 *
 * It imports only node: modules statically; the service comes from --root
 * (dist/ after `npm run build`, or src/ under tsx), so the harness can run it as
 * plain JavaScript without a TypeScript loader inside the measured process.
 *
 *   node bench-receiver-child.mjs --root file:///…/dist --config FILE [--eld]
 */
import { PerformanceObserver, createHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram, PerformanceEntry, RecordableHistogram } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

type ServiceModule = typeof import('../../src/service.js');
type LoadModule = typeof import('../../src/config/load.js');
type LoggerModule = typeof import('../../src/util/logger.js');
type StartupHeapModule = typeof import('../../src/cli/startup-heap.js');
type RawStreamModule = typeof import('../../src/docker/raw-stream.js');

export interface EventLoopDelay {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  samples: number;
}

/**
 * How the receiver's paced log streams read (--trace-reads), from go to stop: whether a read that
 * followed a pacing wait found the engine's socket full, how long the waits lasted, and how much
 * of that time garbage collection took.
 */
export interface ReadTraceSummary {
  reads: number;
  bytesPerRead: number;
  maxReadBytes: number;
  afterWait: { reads: number; bytesP50: number; bytesP90: number; waitMsP50: number; waitMsP90: number; waitMsP99: number; waitMsTotal: number };
  otherReads: { reads: number; bytesP50: number };
  gc: { count: number; ms: number };
}

/** One reader as service.status() shows it; source is null while no stream is open (and with a build that predates read_from). */
export interface ReaderSource {
  name: string;
  state: string;
  source: 'api' | 'files' | null;
}

export type ReceiverChildMessage =
  | { type: 'ready' }
  | { type: 'started' }
  | { type: 'status'; containers: ReaderSource[] }
  | { type: 'stopped'; eld: EventLoopDelay | null; shutdownMs: number; reads: ReadTraceSummary | null }
  | { type: 'error'; message: string };
export type ReceiverParentMessage = { type: 'go' } | { type: 'status' } | { type: 'stop' };

function send(message: ReceiverChildMessage): void {
  if (process.connected) process.send?.(message);
}

/** Collects the read trace; summary() once reading is over. */
class ReadTraceCollector {
  private bytes = 0;
  private maxBytes = 0;
  private waitMsTotal = 0;
  // Five significant figures: with the default three, a 40 032-byte read counts as 40 063.
  private readonly afterWaitBytes: RecordableHistogram = createHistogram({ figures: 5 });
  private readonly waitMicros: RecordableHistogram = createHistogram({ figures: 5 });
  private readonly otherBytes: RecordableHistogram = createHistogram({ figures: 5 });
  private gcCount = 0;
  private gcMs = 0;
  private readonly gcObserver = new PerformanceObserver((list) => this.countGc(list.getEntries()));

  constructor() {
    this.gcObserver.observe({ entryTypes: ['gc'] });
  }

  read(bytes: number, waitedMs: number | null): void {
    this.bytes += bytes;
    if (bytes > this.maxBytes) this.maxBytes = bytes;
    if (waitedMs === null) {
      this.otherBytes.record(Math.max(1, bytes));
    } else {
      this.afterWaitBytes.record(Math.max(1, bytes));
      this.waitMicros.record(Math.max(1, Math.round(waitedMs * 1000)));
      this.waitMsTotal += waitedMs;
    }
  }

  private countGc(entries: readonly PerformanceEntry[]): void {
    for (const entry of entries) {
      this.gcCount++;
      this.gcMs += entry.duration;
    }
  }

  summary(): ReadTraceSummary {
    this.countGc(this.gcObserver.takeRecords());
    this.gcObserver.disconnect();
    const ms = (micros: number): number => Math.round(micros) / 1000;
    const pct = (h: RecordableHistogram, p: number): number => (h.count === 0 ? 0 : h.percentile(p));
    const reads = this.afterWaitBytes.count + this.otherBytes.count;
    return {
      reads,
      bytesPerRead: reads === 0 ? 0 : Math.round(this.bytes / reads),
      maxReadBytes: this.maxBytes,
      afterWait: {
        reads: this.afterWaitBytes.count,
        bytesP50: pct(this.afterWaitBytes, 50),
        bytesP90: pct(this.afterWaitBytes, 90),
        waitMsP50: ms(pct(this.waitMicros, 50)),
        waitMsP90: ms(pct(this.waitMicros, 90)),
        waitMsP99: ms(pct(this.waitMicros, 99)),
        waitMsTotal: Math.round(this.waitMsTotal),
      },
      otherReads: { reads: this.otherBytes.count, bytesP50: pct(this.otherBytes, 50) },
      gc: { count: this.gcCount, ms: Math.round(this.gcMs) },
    };
  }
}

function delay(h: IntervalHistogram): EventLoopDelay {
  const ms = (ns: number): number => Math.round((ns / 1e6) * 100) / 100;
  return { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max), meanMs: ms(h.mean), samples: h.count };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { root: { type: 'string' }, config: { type: 'string' }, eld: { type: 'boolean' }, 'trace-reads': { type: 'boolean' } } });
  if (values.root === undefined || values.config === undefined) throw new Error('usage: --root URL --config FILE [--eld] [--trace-reads]');
  const root = values.root.replace(/\/+$/, '');
  // As the CLI's main.ts does, before the agent's modules load; a build from before it had none.
  const releaseYoungGeneration = await import(`${root}/cli/startup-heap.js`).then(
    (m: StartupHeapModule) => m.holdYoungGenerationAtStartup(),
    (err: unknown) => {
      if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
      return () => undefined;
    },
  );
  const [{ Service }, { loadConfigFile }, { createLogger }] = await Promise.all([
    import(`${root}/service.js`) as Promise<ServiceModule>,
    import(`${root}/config/load.js`) as Promise<LoadModule>,
    import(`${root}/util/logger.js`) as Promise<LoggerModule>,
  ]);
  const config = await loadConfigFile(values.config);
  const logger = createLogger({ level: config.service.telemetry.logs.level, encoding: config.service.telemetry.logs.encoding });
  const service = new Service(config, { logger });
  // Sampling every 10 ms (the default) costs ~100 wake-ups a second: only when asked for.
  const eld = values.eld === true ? monitorEventLoopDelay({ resolution: 10 }) : null;
  const rawStream = values['trace-reads'] === true ? ((await import(`${root}/docker/raw-stream.js`)) as RawStreamModule) : null;
  if (rawStream !== null && typeof rawStream.traceReads !== 'function') throw new Error(`--trace-reads: ${root} has no read trace (a build from before it)`);
  let readTrace: ReadTraceCollector | null = null;
  let stopping = false;

  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    eld?.disable();
    rawStream?.traceReads(null);
    const reads = readTrace?.summary() ?? null;
    const began = Date.now();
    await service.shutdown(10_000);
    send({ type: 'stopped', eld: eld === null ? null : delay(eld), shutdownMs: Date.now() - began, reads });
    // Exit normally (not by a signal) so that --cpu-prof writes its profile.
    setTimeout(() => process.exit(0), 50);
  };

  process.on('message', (message: ReceiverParentMessage) => {
    if (message.type === 'go') {
      eld?.enable();
      eld?.reset();
      if (rawStream !== null) {
        readTrace = new ReadTraceCollector();
        rawStream.traceReads(readTrace);
      }
      service.start().then(
        () => {
          releaseYoungGeneration();
          send({ type: 'started' });
        },
        (err: unknown) => send({ type: 'error', message: `cannot start: ${err instanceof Error ? err.message : String(err)}` }),
      );
    } else if (message.type === 'status') {
      const containers: ReaderSource[] = [];
      for (const r of service.status()) {
        for (const c of r.containers) containers.push({ name: c.name, state: c.state, source: (c as { source?: 'api' | 'files' | null }).source ?? null });
      }
      send({ type: 'status', containers });
    } else if (message.type === 'stop') {
      void stop();
    }
  });
  // The harness went away: do not linger.
  process.on('disconnect', () => void stop().finally(() => process.exit(0)));
  send({ type: 'ready' });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-receiver-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
