/**
 * Why the API reader cannot take bigger bites: how many socket reads, how much
 * reader CPU (user and kernel) and how much time a bare reader needs for a
 * container's whole log, reading eagerly or pausing between reads so that more
 * could pile up in the socket.
 *
 *   node --import tsx bench/read-pattern.ts [--lines 1000000] [--pauses 0,1,2] [--follow] [--paced]
 *
 * One container holds --lines lines of ~100 bytes (the bench's backlog). For each
 * pause (ms; 0 = eager), one GET /containers/ID/logs?timestamps=1 (no follow) is
 * read to its end over the engine's unix socket by a plain Node socket that only
 * counts bytes: with a pause, reading stops (readStop) after every read and
 * starts again after the pause. With --follow the request follows the log, as the
 * receiver's streams do (follow=1), and is read until every line has arrived.
 * --paced adds a row read the receiver's way: openRawStream (src/docker/raw-stream.ts),
 * whose ReadPacer waits only after a small read of a busy stream (alone, it sleeps
 * 0.5 ms), following the log; its reads are counted as its 'data' events (one per
 * socket read that carried payload). dockerd writes every log message with its own
 * write, so what the socket can hold while the reader waits decides whether a
 * pause makes reads bigger or only stalls dockerd.
 *
 * Prints a markdown table; needs a Docker engine (DOCKER_HOST or the default socket).
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { openRawStream } from '../src/docker/raw-stream.js';
import { requireEngine } from '../test/helpers/docker.js';
import { Flags } from './lib/args.js';
import { ContainerSet, createBacklogContainer } from './lib/bench-docker.js';
import { markdownTable } from './lib/stats.js';

const flags = new Flags();
const LINES = flags.int('lines', 1_000_000, 1);
const PAUSES = flags
  .string('pauses', '0,1,2')
  .split(',')
  .map((p) => Number(p));
const FOLLOW = flags.bool('follow');
const PACED = flags.bool('paced');
flags.rejectUnknown();
if (PAUSES.some((p) => !Number.isFinite(p) || p < 0)) throw new Error('--pauses: a comma-separated list of milliseconds >= 0');

/** The private parts of net.Socket this experiment needs to stop reading at once. */
interface ReadHandle {
  reading: boolean;
  readStop(): number;
  readStart(): number;
}

interface ReadResult {
  /** Milliseconds after every read, or 'paced' (the receiver's ReadPacer). */
  pauseMs: number | 'paced';
  reads: number;
  bytes: number;
  wallMs: number;
  userMs: number;
  sysMs: number;
}

function socketPath(): string {
  const host = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
  if (!host.startsWith('unix://')) throw new Error(`read-pattern needs the engine's unix socket (DOCKER_HOST=${host})`);
  return host.slice('unix://'.length);
}

function readWhole(id: string, pauseMs: number): Promise<ReadResult> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ path: socketPath() });
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    let reads = 0;
    let bytes = 0;
    let newlines = 0;
    const done = (): void => {
      const cpu = process.cpuUsage(cpu0);
      resolve({ pauseMs, reads, bytes, wallMs: Date.now() - t0, userMs: cpu.user / 1000, sysMs: cpu.system / 1000 });
    };
    socket.on('data', (b: Buffer) => {
      reads++;
      bytes += b.length;
      if (FOLLOW) {
        for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) newlines++;
        // A followed log never ends: this is its end.
        if (newlines >= LFS_PER_LINE * LINES) {
          socket.destroy();
          done();
          return;
        }
      }
      if (pauseMs === 0 || socket.isPaused()) return;
      // pause() alone leaves the handle reading into Node's buffer: stop the handle too.
      const handle = (socket as unknown as { _handle: ReadHandle | null })._handle;
      socket.pause();
      if (handle !== null && handle.reading) {
        handle.reading = false;
        handle.readStop();
      }
      setTimeout(() => {
        socket.resume();
        if (handle !== null && !handle.reading && !socket.destroyed) {
          handle.reading = true;
          handle.readStart();
        }
      }, pauseMs);
    });
    socket.once('error', reject);
    socket.once('end', done);
    socket.write(`GET /containers/${id}/logs?timestamps=1&stdout=1&stderr=1${FOLLOW ? '&follow=1' : ''} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n`);
  });
}

/** dockerd sends every message as one HTTP chunk (size CRLF, the frame, which ends in the line's LF, CRLF). */
const LFS_PER_LINE = 3;

/** The log read as the receiver's streams read it (follow=1), until every line has arrived. */
async function readPaced(id: string): Promise<ReadResult> {
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  const body = await openRawStream({ socketPath: socketPath(), tls: false, rejectUnauthorized: true }, `/containers/${id}/logs?timestamps=1&stdout=1&stderr=1&follow=1`, new AbortController().signal, { borrowChunks: true });
  let reads = 0;
  let bytes = 0;
  let newlines = 0;
  await new Promise<void>((resolve, reject) => {
    body.once('error', reject);
    body.on('data', (b: Buffer) => {
      reads++;
      bytes += b.length;
      // The payload has no chunk framing: one LF a line.
      for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) newlines++;
      if (newlines >= LINES) {
        body.destroy();
        resolve();
      }
    });
  });
  const cpu = process.cpuUsage(cpu0);
  return { pauseMs: 'paced', reads, bytes, wallMs: Date.now() - t0, userMs: cpu.user / 1000, sysMs: cpu.system / 1000 };
}

async function main(): Promise<void> {
  const docker = await requireEngine();
  const set = new ContainerSet(docker);
  try {
    process.stderr.write(`writing ${LINES} lines…\n`);
    const c = await createBacklogContainer(docker, set, 'dlr-read-pattern', LINES, 600_000);
    const rows: ReadResult[] = [];
    for (const pause of PAUSES) {
      process.stderr.write(`reading with pause ${pause} ms…\n`);
      rows.push(await readWhole(c.id, pause));
    }
    if (PACED) {
      process.stderr.write('reading the receiver\'s way (ReadPacer)…\n');
      rows.push(await readPaced(c.id));
    }
    process.stdout.write(
      markdownTable(
        ['pause between reads', 'reads', 'bytes per read', 'wall s', 'lines/s', 'reader user s', 'reader kernel s', 'reader µs per read'],
        rows.map((r) => [
          r.pauseMs === 'paced' ? 'after small reads of a busy stream, 0.5 ms (ReadPacer)' : r.pauseMs === 0 ? 'none (eager)' : `${r.pauseMs} ms`,
          r.reads.toLocaleString('en-US'),
          Math.round(r.bytes / r.reads).toLocaleString('en-US'),
          (r.wallMs / 1000).toFixed(2),
          Math.round(LINES / (r.wallMs / 1000)).toLocaleString('en-US'),
          (r.userMs / 1000).toFixed(2),
          (r.sysMs / 1000).toFixed(2),
          (((r.userMs + r.sysMs) * 1000) / r.reads).toFixed(1),
        ]),
      ) + '\n',
    );
  } finally {
    await set.remove();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`read-pattern: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
