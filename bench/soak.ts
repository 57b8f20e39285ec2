/**
 * Soak of the bounded reader: many sequence-numbered writers for a long time,
 * the real service in process against a local OTLP sink, and every line checked.
 *
 *   npm run soak -- --containers 50 --rate 20 --stream-timeout 30s --duration 30m [--report-every 1m]
 *                   [--stderr-every 4] [--jitter 0.1] [--drain-timeout 2m] [--log-level warn] [--all-containers]
 *                   [--read-from api|files|auto] [--max-size 200k --max-file 20]
 *
 * Each writer container prints `w<i>-<n>` for n = 1, 2, ... at --rate lines/s; the
 * even-numbered ones send every --stderr-every-th line to stderr. The receiver reads
 * this soak's containers only (--all-containers: every container on the engine, with
 * start_at: end keeping other people's history out);
 * the sink decodes what it gets and a per-container bitmap counts each number, so
 * loss and duplication are exact. Every --report-every one row: open fds, active
 * handles, heap, RSS, streams (active and unreleased from service.status(), opened
 * and closed from docker_logs.stream.opened/closed read through an in-memory
 * MeterProvider), lines written (roughly: the writers' highest number in the last
 * lines of their logs; at the end exactly, from their whole logs)
 * and lines received. At the end the writers are killed, the receiver drains,
 * and the totals are counted: lost and duplicated lines must be 0, and the fd and
 * handle counts must not trend (least-squares slope per minute within noise).
 *
 * --read-from files soaks the json-file tailer instead of the API streams (it needs
 * read access to the engine's data root); --max-size / --max-file give the writers
 * Docker's own rotation (keep max-size × max-file above what a writer writes, so
 * that the final count from their logs is complete).
 *
 * Prints markdown tables and writes JSON to bench/results/soak-<date>.json.
 * Ctrl-C stops early and still removes every container.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Service } from '../src/service.js';
import { requireEngine, uniqueName } from '../test/helpers/docker.js';
import { OtlpSink } from '../test/helpers/otlp-sink.js';
import { Flags } from './lib/args.js';
import { createInMemoryMetrics } from './lib/metrics.js';
import { activeResources, extraResources, sampleResources, socketFdsOnPort } from './lib/resources.js';
import type { ResourceSample } from './lib/resources.js';
import { SequenceChecker } from './lib/seq-check.js';
import { countOpensOf, startBenchService } from './lib/service.js';
import { fileStamp, formatElapsed, isFlat, leastSquares, markdownTable, mib, signed } from './lib/stats.js';
import type { Fit } from './lib/stats.js';
import { killWriters, removeWriters, startWriters, writtenInLogs, writtenSoFar } from './lib/writers.js';
import type { Writer } from './lib/writers.js';
import type { LogLevel } from '../src/util/logger.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const flags = new Flags();
const CONTAINERS = flags.int('containers', 50, 1);
const RATE = flags.number('rate', 20, 0.1);
const STREAM_TIMEOUT = flags.string('stream-timeout', '30s');
const STREAM_TIMEOUT_MS = flags.duration('stream-timeout', '30s');
const DURATION_MS = flags.duration('duration', '30m');
const REPORT_MS = flags.duration('report-every', '1m');
const STDERR_EVERY = flags.int('stderr-every', 4, 0);
const JITTER = flags.number('jitter', 0.1, 0);
const DRAIN_MS = flags.duration('drain-timeout', `${Math.max(120_000, 3 * STREAM_TIMEOUT_MS)}ms`);
const WARMUP_MS = flags.duration('warmup', `${Math.min(REPORT_MS, DURATION_MS / 4)}ms`);
const LOG_LEVEL = flags.string('log-level', 'warn') as LogLevel;
const ALL_CONTAINERS = flags.bool('all-containers');
const READ_FROM = flags.choice('read-from', ['api', 'files', 'auto'], 'api');
const MAX_SIZE = flags.string('max-size', '');
const MAX_FILE = flags.int('max-file', 20, 1);
flags.rejectUnknown();

/** Tolerated drift of fds / handles over the whole fitted span (a leak grows with time; noise does not). */
const FLAT_TOLERANCE = 3;

interface Row {
  elapsedMs: number;
  phase: 'baseline' | 'writing' | 'drained' | 'shutdown';
  fds: number;
  handles: number;
  heapUsed: number;
  rss: number;
  streamsActive: number;
  streamsUnreleased: number;
  streamsOpened: number;
  streamsClosed: number;
  /** Streams opened for our own writers (the metric counts every container on the engine). */
  oursOpened: number;
  written: number;
  received: number;
  duplicates: number;
}

const stop = new AbortController();
let interrupts = 0;

/** Sleeps; false when interrupted. */
function pause(ms: number): Promise<boolean> {
  if (stop.signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stop.signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    stop.signal.addEventListener('abort', onAbort, { once: true });
  });
}

const ROW_HEADERS = ['elapsed', 'phase', 'fds', 'handles', 'heap MiB', 'RSS MiB', 'active', 'opened', 'closed', 'ours opened', 'unreleased', 'written', 'received', 'behind'];
const ROW_WIDTHS = ROW_HEADERS.map((h) => Math.max(h.length, 8));

function tableLine(cells: readonly string[]): string {
  return `| ${cells.map((c, i) => (i <= 1 ? c.padEnd(ROW_WIDTHS[i]) : c.padStart(ROW_WIDTHS[i]))).join(' | ')} |\n`;
}

function printRow(r: Row): void {
  process.stdout.write(
    tableLine([
      formatElapsed(r.elapsedMs),
      r.phase,
      String(r.fds),
      String(r.handles),
      mib(r.heapUsed),
      mib(r.rss),
      String(r.streamsActive),
      String(r.streamsOpened),
      String(r.streamsClosed),
      String(r.oursOpened),
      String(r.streamsUnreleased),
      String(r.written),
      String(r.received),
      String(r.written - r.received),
    ]),
  );
}

async function main(): Promise<void> {
  const docker = await requireEngine();
  const prefix = uniqueName('soak');
  const writerPrefix = `${prefix}-w`;
  let writers: Writer[] = [];
  let service: Service | null = null;
  let drainTimer: NodeJS.Timeout | undefined;

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      interrupts++;
      if (interrupts === 1) {
        process.stderr.write(`\n${sig}: stopping early; removing containers ${prefix}* (again to force)\n`);
        stop.abort();
      } else {
        void removeWriters(docker, prefix).finally(() => process.exit(130));
      }
    });
  }

  const sink = await OtlpSink.start();
  const metrics = createInMemoryMetrics();
  const checker = new SequenceChecker(writerPrefix);
  const ours = countOpensOf(writerPrefix, LOG_LEVEL);
  const rows: Row[] = [];
  const runStart = Date.now();
  let written = new Map<string, number>();

  const snapshot = async (phase: Row['phase'], sample: ResourceSample, fetchWritten: boolean): Promise<Row> => {
    checker.ingest(sink.logs.splice(0));
    if (fetchWritten && writers.length > 0) written = await writtenSoFar(docker, writers);
    const status = service?.status()[0];
    const row: Row = {
      elapsedMs: sample.elapsedMs,
      phase,
      fds: sample.fds,
      handles: sample.handles,
      heapUsed: sample.heapUsed,
      rss: sample.rss,
      streamsActive: status?.streams.active ?? 0,
      streamsUnreleased: status?.streams.unreleased ?? 0,
      streamsOpened: await metrics.sum('docker_logs.stream.opened'),
      streamsClosed: await metrics.sum('docker_logs.stream.closed'),
      oursOpened: ours.total(),
      written: [...written.values()].reduce((a, b) => a + b, 0),
      received: checker.received,
      duplicates: checker.duplicates,
    };
    rows.push(row);
    printRow(row);
    return row;
  };

  let exitCode = 0;
  try {
    process.stdout.write(
      `# soak: ${CONTAINERS} containers x ${RATE} lines/s (every ${STDERR_EVERY}th line to stderr on half of them), stream_timeout ${STREAM_TIMEOUT}, ` +
        `${formatElapsed(DURATION_MS)}, a row every ${formatElapsed(REPORT_MS)}; containers ${prefix}-*; sink ${sink.url}\n\n`,
    );
    process.stdout.write(tableLine(ROW_HEADERS) + `|${ROW_WIDTHS.map((w) => '-'.repeat(w + 2)).join('|')}|\n`);
    await new Promise((r) => setTimeout(r, 200));
    const baseline = await snapshot('baseline', sampleResources(runStart), false);
    const resourcesBefore = activeResources();

    service = await startBenchService(docker, `${prefix}-marker`, {
      sink,
      metrics,
      logger: ours.logger,
      streamTimeout: STREAM_TIMEOUT,
      jitter: JITTER,
      batchTimeout: '200ms',
      logLevel: LOG_LEVEL,
      // Only this soak's containers: other users of the engine (a test suite) would blur its figures.
      receiver: { read_from: READ_FROM, ...(ALL_CONTAINERS ? {} : { include: `{ names: ["${prefix}-*"] }` }) },
    });
    const running = service;
    drainTimer = setInterval(() => checker.ingest(sink.logs.splice(0)), 500);
    const maxLines = Math.ceil(RATE * (DURATION_MS / 1000) * 2) + 1000;
    writers = await startWriters(docker, { prefix, count: CONTAINERS, rate: RATE, stderrEvery: STDERR_EVERY, maxLines, logOpts: MAX_SIZE === '' ? undefined : { 'max-size': MAX_SIZE, 'max-file': String(MAX_FILE) } });
    for (const w of writers) checker.register(w);
    const writeStart = Date.now();

    let maxUnreleased = 0;
    for (let next = REPORT_MS; next <= DURATION_MS; next += REPORT_MS) {
      if (!(await pause(writeStart + next - Date.now()))) break;
      const row = await snapshot('writing', sampleResources(runStart), true);
      maxUnreleased = Math.max(maxUnreleased, row.streamsUnreleased);
    }
    const writeEnd = Date.now();

    // Stop the writers, take what they wrote from their own logs, wait for the receiver to catch up.
    await killWriters(docker, writers);
    // The ground truth: each writer's whole log as the engine kept it.
    const logs = await writtenInLogs(docker, writers);
    written = logs.written;
    const drainStart = Date.now();
    let drained = false;
    while (!stop.signal.aborted && Date.now() - drainStart < DRAIN_MS) {
      checker.ingest(sink.logs.splice(0));
      if (checker.complete(written)) {
        drained = true;
        break;
      }
      await pause(250);
    }
    const drainMs = Date.now() - drainStart;
    // A duplicate would come from a reopen: the stopped containers' streams have ended by now; wait a moment anyway.
    await pause(Math.min(5000, STREAM_TIMEOUT_MS));
    clearInterval(drainTimer);
    drainTimer = undefined;
    const drainedRow = await snapshot('drained', sampleResources(runStart), false);
    maxUnreleased = Math.max(maxUnreleased, drainedRow.streamsUnreleased);
    const openedByReason = await metrics.sumBy('docker_logs.stream.opened', 'reason');
    const closedByReason = await metrics.sumBy('docker_logs.stream.closed', 'reason');
    const streamErrors = await metrics.sumBy('docker_logs.stream.errors', 'error.type');
    const skippedDuplicates = await metrics.sum('docker_logs.duplicates.skipped');
    const otherContainers = running.status()[0]?.containers.filter((c) => !c.name.startsWith(prefix)).length ?? 0;

    await running.shutdown(10_000);
    service = null;
    await metrics.shutdown();
    await removeWriters(docker, prefix);
    // Node's global agent closes idle Docker API sockets after 5 s.
    await pause(6000);
    const sinkPort = Number(new URL(sink.url).port);
    const exporterFds = socketFdsOnPort(sinkPort);
    const after = sampleResources(runStart);
    const extraHandles = extraResources(resourcesBefore, activeResources());
    rows.push({ ...drainedRow, phase: 'shutdown', elapsedMs: after.elapsedMs, fds: after.fds, handles: after.handles, heapUsed: after.heapUsed, rss: after.rss, streamsActive: 0, streamsUnreleased: 0 });
    printRow(rows[rows.length - 1]);

    // Totals and trends.
    const report = checker.report(written);
    const totalWritten = [...written.values()].reduce((a, b) => a + b, 0);
    const fitted = rows.filter((r) => r.phase === 'writing' && r.elapsedMs - (writeStart - runStart) >= WARMUP_MS);
    const xs = fitted.map((r) => r.elapsedMs / 60_000);
    const span = xs.length > 1 ? xs[xs.length - 1] - xs[0] : 0;
    const fit = (pick: (r: Row) => number): Fit => leastSquares(xs, fitted.map(pick));
    const fits = {
      fds: fit((r) => r.fds),
      handles: fit((r) => r.handles),
      heapMiB: fit((r) => r.heapUsed / 1024 / 1024),
      rssMiB: fit((r) => r.rss / 1024 / 1024),
      streamsActive: fit((r) => r.streamsActive),
    };
    const fdsFlat = isFlat(fits.fds, span, FLAT_TOLERANCE);
    const handlesFlat = isFlat(fits.handles, span, FLAT_TOLERANCE);
    const interrupted = stop.signal.aborted;
    const failures: string[] = [];
    if (interrupted) failures.push('interrupted');
    if (!drained && !interrupted) failures.push(`the receiver did not catch up within ${formatElapsed(DRAIN_MS)}`);
    if (logs.incomplete.length > 0) failures.push(`the engine's own logs are not 1..n for ${logs.incomplete.length} writer(s): ${logs.incomplete.slice(0, 3).join('; ')}`);
    if (report.lost > 0) failures.push(`${report.lost} lines lost`);
    if (report.duplicated > 0) failures.push(`${report.duplicated} lines duplicated`);
    if (report.wrongStream > 0) failures.push(`${report.wrongStream} lines on the wrong stream`);
    if (report.malformed > 0 || report.beyondWritten > 0) failures.push(`${report.malformed} malformed, ${report.beyondWritten} beyond what was written`);
    if (maxUnreleased > 0) failures.push(`up to ${maxUnreleased} streams unreleased`);
    if (fitted.length < 3) failures.push(`only ${fitted.length} rows to fit trends on (run longer or report more often)`);
    if (!fdsFlat) failures.push(`open fds trend ${signed(fits.fds.slope)}/min`);
    if (!handlesFlat) failures.push(`active handles trend ${signed(fits.handles.slope)}/min`);
    const verdict = failures.length === 0 ? 'PASS' : 'FAIL';

    const fitRows = Object.entries<Fit>(fits).map(([name, f]) => [
      name,
      signed(f.slope, 3),
      f.slopeStdErr.toFixed(3),
      signed(f.slope * span, 2),
      name === 'fds' ? (fdsFlat ? 'flat' : 'TRENDS') : name === 'handles' ? (handlesFlat ? 'flat' : 'TRENDS') : 'info',
    ]);
    const writtenSecs = (writeEnd - writeStart) / 1000;
    const summary = `
## Trends (least squares over ${fitted.length} rows from ${formatElapsed(fitted[0]?.elapsedMs ?? 0)} to ${formatElapsed(fitted[fitted.length - 1]?.elapsedMs ?? 0)})

${markdownTable(['figure', 'slope /min', 'std err', `drift over ${span.toFixed(1)} min`, 'judged'], fitRows)}

## Totals

${markdownTable(
  ['what', 'value'],
  [
    ['lines written (from the writers\' whole logs)', totalWritten],
    ['lines received (distinct)', checker.received],
    ['lines lost', report.lost],
    ['lines duplicated', report.duplicated],
    ['lines on the wrong stream / malformed / beyond written', `${report.wrongStream} / ${report.malformed} / ${report.beyondWritten}`],
    ['write rate achieved (lines/s, all writers)', (totalWritten / writtenSecs).toFixed(0)],
    ['drain after the writers stopped', `${(drainMs / 1000).toFixed(1)} s${drained ? '' : interrupted ? ' (interrupted)' : ' (timed out)'}`],
    ['streams opened (all containers) by reason', JSON.stringify(openedByReason)],
    ['streams closed (all containers) by reason', JSON.stringify(closedByReason)],
    ['streams opened for our writers by reason', JSON.stringify(ours.byReason())],
    ['other containers on the engine followed', otherContainers],
    ['stream errors by type (all containers)', JSON.stringify(streamErrors)],
    ['receiver warnings about other containers (not printed)', ours.foreignMessages()],
    ['replayed lines dropped as already taken (duplicates.skipped)', skippedDuplicates],
    ['max streams unreleased', maxUnreleased],
    ['open fds: before the service / after shutdown (of which exporter-to-sink keep-alive)', `${baseline.fds} / ${after.fds} (${exporterFds})`],
    ['active handles left after shutdown', JSON.stringify(extraHandles)],
  ],
)}

**Verdict: ${verdict}**${failures.length > 0 ? ` (${failures.join('; ')})` : ' (no line lost or repeated; fds and handles flat)'}
`;
    process.stdout.write(summary);
    if (report.examples.length > 0) process.stdout.write(`\nexamples: ${JSON.stringify(report.examples.slice(0, 5))}\n`);

    const out = path.join(ROOT, 'bench', 'results', `soak-${fileStamp()}.json`);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(
      out,
      JSON.stringify(
        {
          tool: 'bench/soak.ts',
          date: new Date().toISOString(),
          settings: { containers: CONTAINERS, rate: RATE, readFrom: READ_FROM, maxSize: MAX_SIZE === '' ? null : MAX_SIZE, maxFile: MAX_SIZE === '' ? null : MAX_FILE, stderrEvery: STDERR_EVERY, streamTimeout: STREAM_TIMEOUT, jitter: JITTER, durationMs: DURATION_MS, reportEveryMs: REPORT_MS, warmupMs: WARMUP_MS },
          rows,
          fits,
          fittedSpanMinutes: span,
          flat: { fds: fdsFlat, handles: handlesFlat, tolerance: FLAT_TOLERANCE },
          totals: {
            written: totalWritten,
            received: checker.received,
            lost: report.lost,
            duplicated: report.duplicated,
            wrongStream: report.wrongStream,
            malformed: report.malformed,
            beyondWritten: report.beyondWritten,
            foreignRecords: checker.foreign,
            examples: report.examples.slice(0, 10),
          },
          drain: { drained, ms: drainMs },
          incompleteEngineLogs: logs.incomplete,
          streams: { openedByReason, closedByReason, oursOpenedByReason: ours.byReason(), errors: streamErrors, skippedDuplicates, maxUnreleased, otherContainers },
          afterShutdown: { fdsBefore: baseline.fds, fdsAfter: after.fds, exporterFds, extraHandles },
          verdict,
          failures,
        },
        null,
        2,
      ) + '\n',
    );
    process.stdout.write(`\nJSON: ${path.relative(ROOT, out)}\n`);
    if (verdict !== 'PASS') exitCode = 1;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    exitCode = 1;
  } finally {
    if (drainTimer !== undefined) clearInterval(drainTimer);
    if (writers.length > 0 && service !== null) await killWriters(docker, writers).catch(() => undefined);
    await service?.shutdown(5000).catch(() => undefined);
    await removeWriters(docker, prefix);
    await sink.stop();
  }
  process.exitCode = interrupts > 0 ? 130 : exitCode;
}

void main();
