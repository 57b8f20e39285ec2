/**
 * Why the API reader cannot take bigger bites: how many socket reads, how much
 * reader CPU (user and kernel) and how much time a bare reader needs for a
 * container's whole log, reading eagerly or pausing between reads so that more
 * could pile up in the socket.
 *
 *   node --import tsx bench/read-pattern.ts [--lines 1000000] [--pauses 0,1,2]
 *
 * One container holds --lines lines of ~100 bytes (the bench's backlog). For each
 * pause (ms; 0 = eager), one GET /containers/ID/logs?timestamps=1 (no follow) is
 * read to its end over the engine's unix socket by a plain Node socket that only
 * counts bytes: with a pause, reading stops (readStop) after every read and
 * starts again after the pause. dockerd writes every log message with its own
 * write, so what the socket can hold while the reader waits decides whether a
 * pause makes reads bigger or only stalls dockerd.
 *
 * Prints a markdown table; needs a Docker engine (DOCKER_HOST or the default socket).
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
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
flags.rejectUnknown();
if (PAUSES.some((p) => !Number.isFinite(p) || p < 0)) throw new Error('--pauses: a comma-separated list of milliseconds >= 0');

/** The private parts of net.Socket this experiment needs to stop reading at once. */
interface ReadHandle {
  reading: boolean;
  readStop(): number;
  readStart(): number;
}

interface ReadResult {
  pauseMs: number;
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
    socket.on('data', (b: Buffer) => {
      reads++;
      bytes += b.length;
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
    socket.once('end', () => {
      const cpu = process.cpuUsage(cpu0);
      resolve({ pauseMs, reads, bytes, wallMs: Date.now() - t0, userMs: cpu.user / 1000, sysMs: cpu.system / 1000 });
    });
    socket.write(`GET /containers/${id}/logs?timestamps=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n`);
  });
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
    process.stdout.write(
      markdownTable(
        ['pause between reads', 'reads', 'bytes per read', 'wall s', 'lines/s', 'reader user s', 'reader kernel s', 'reader µs per read'],
        rows.map((r) => [
          r.pauseMs === 0 ? 'none (eager)' : `${r.pauseMs} ms`,
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
