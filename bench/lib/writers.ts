/**
 * Sequence-numbered writer containers (busybox sh on the local test image,
 * NetworkMode none), what they wrote according to their own logs, and cleanup.
 */
import type Docker from 'dockerode';
import { LogFramer } from '../../src/framing/log-framer.js';
import type { LogLine } from '../../src/framing/log-framer.js';
import { removeByPrefix, runContainer, seqWriterCmd } from '../../test/helpers/docker.js';
import type { WriterSpec } from './seq-check.js';

export interface Writer extends WriterSpec {
  id: string;
  /** Lines per second the writer aims at (busybox sleep granularity makes it a little less). */
  rate: number;
}

export interface WriterPlan {
  /** Container names are `${prefix}-w<i>`. */
  prefix: string;
  count: number;
  /** Lines per second per container. */
  rate: number;
  /** Every k-th line to stderr, for the containers that write to stderr. */
  stderrEvery: number;
  /** Which containers write to stderr too (by index). Default: every other one. */
  usesStderr?: (index: number) => boolean;
  /** Lines each writer writes at most before exiting by itself. */
  maxLines: number;
  /** How many containers are created at once. */
  concurrency?: number;
}

export async function startWriters(docker: Docker, plan: WriterPlan): Promise<Writer[]> {
  const usesStderr = plan.usesStderr ?? ((i: number) => i % 2 === 0);
  const writers: Writer[] = new Array<Writer>(plan.count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < plan.count) {
      const i = next++;
      const tag = `w${String(i).padStart(3, '0')}`;
      const stderrEvery = usesStderr(i) ? plan.stderrEvery : 0;
      const name = `${plan.prefix}-${tag}`;
      const c = await runContainer(docker, { name, cmd: seqWriterCmd({ count: plan.maxLines, ratePerSec: plan.rate, stderrEvery, prefix: tag }) });
      writers[i] = { id: c.id, name, tag, stderrEvery, rate: plan.rate };
    }
  };
  await Promise.all(Array.from({ length: Math.min(plan.concurrency ?? 8, plan.count) }, () => worker()));
  return writers;
}

/** The highest sequence number in the last lines of the container's own log (0 when it wrote nothing). */
export async function lastWritten(docker: Docker, writer: WriterSpec & { id: string }): Promise<number> {
  // stdout and stderr lines may be a little out of order at the end of the log: look at a few.
  const body = (await docker.getContainer(writer.id).logs({ follow: false, stdout: true, stderr: true, timestamps: true, tail: 8 })) as unknown as Buffer;
  let max = 0;
  const framer = new LogFramer(
    { tty: false, maxLogSize: 64 * 1024 },
    {
      line: (line: LogLine) => {
        if (!line.text.startsWith(`${writer.tag}-`)) return;
        const n = Number(line.text.slice(writer.tag.length + 1));
        if (Number.isSafeInteger(n) && n > max) max = n;
      },
      daemonError: () => undefined,
    },
  );
  framer.push(Buffer.isBuffer(body) ? body : Buffer.from(body));
  framer.end();
  return max;
}

/** What every writer has written so far, by container name. */
export async function writtenSoFar(docker: Docker, writers: readonly Writer[], concurrency = 8): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < writers.length) {
      const w = writers[next++];
      out.set(w.name, await lastWritten(docker, w));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, writers.length) }, () => worker()));
  return new Map(writers.map((w) => [w.name, out.get(w.name) ?? 0]));
}

/** Stops writers at once (SIGKILL: busybox sh as PID 1 ignores SIGTERM); already stopped ones are fine. */
export async function killWriters(docker: Docker, writers: readonly Writer[]): Promise<void> {
  await Promise.all(
    writers.map(async (w) => {
      try {
        await docker.getContainer(w.id).kill({ signal: 'SIGKILL' });
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        if (status !== 409 && status !== 404) throw err; // 409: not running
      }
    }),
  );
  // Wait until the engine says they are all stopped, so that their logs are final.
  await Promise.all(writers.map((w) => docker.getContainer(w.id).wait({ condition: 'not-running' }).catch(() => undefined)));
}

/** Removes every container named with the prefix; never throws (cleanup must go on). */
export async function removeWriters(docker: Docker, prefix: string): Promise<void> {
  try {
    await removeByPrefix(docker, prefix);
  } catch (err) {
    process.stderr.write(`cleanup: removing containers ${prefix}* failed: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}
