/**
 * Sequence-numbered writer containers (busybox sh on the local test image,
 * NetworkMode none), what they wrote according to their own logs, and cleanup.
 */
import type Docker from 'dockerode';
import { LogFramer } from '../../src/framing/log-framer.js';
import type { LogLine } from '../../src/framing/log-framer.js';
import { removeByPrefix, runContainer } from '../../test/helpers/docker.js';
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
  /** json-file log options (max-size, max-file) for Docker's own rotation. */
  logOpts?: Record<string, string>;
}

/**
 * A busybox sh writer of `TAG-<n>` for n = 1..count that keeps to `rate` lines/s
 * by the clock ($EPOCHREALTIME): it writes a batch every ~50 ms (at least one
 * line) and sleeps until the next batch is due, so a loaded machine makes it
 * catch up in bursts instead of falling behind for good (a fixed sleep per
 * line, as in seqWriterCmd, loses the fork and scheduling time of every sleep).
 * With stderrEvery = k, every k-th line goes to stderr.
 */
export function pacedWriterCmd(opts: { count: number; rate: number; stderrEvery: number; tag: string }): string[] {
  if (!/^[A-Za-z0-9_.:=+-]+$/.test(opts.tag)) throw new Error(`pacedWriterCmd: tag ${JSON.stringify(opts.tag)} must match [A-Za-z0-9_.:=+-]+`);
  const count = Math.max(0, Math.floor(opts.count));
  const batch = Math.max(1, Math.round(opts.rate * 0.05));
  const usPerLine = Math.max(1, Math.round(1e6 / opts.rate));
  const every = Math.max(0, Math.floor(opts.stderrEvery));
  const out = every > 0 ? `if [ $((i % ${every})) -eq 0 ]; then echo "${opts.tag}-$i" >&2; else echo "${opts.tag}-$i"; fi` : `echo "${opts.tag}-$i"`;
  const script = [
    't=$EPOCHREALTIME; start=${t/./}; i=1',
    `while [ $i -le ${count} ]; do`,
    `  j=0; while [ $j -lt ${batch} ] && [ $i -le ${count} ]; do ${out}; i=$((i + 1)); j=$((j + 1)); done`,
    '  t=$EPOCHREALTIME; now=${t/./}',
    `  ahead=$((start + (i - 1) * ${usPerLine} - now))`,
    '  if [ $ahead -gt 0 ]; then sleep $(printf "%d.%06d" $((ahead / 1000000)) $((ahead % 1000000))); fi',
    'done',
  ].join('\n');
  return ['sh', '-c', script];
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
      const c = await runContainer(docker, { name, cmd: pacedWriterCmd({ count: plan.maxLines, rate: plan.rate, stderrEvery, tag }), logOpts: plan.logOpts });
      writers[i] = { id: c.id, name, tag, stderrEvery, rate: plan.rate };
    }
  };
  await Promise.all(Array.from({ length: Math.min(plan.concurrency ?? 8, plan.count) }, () => worker()));
  return writers;
}

/** Parses the sequence numbers of `<tag>-<n>` lines out of a non-TTY log body. */
function sequenceNumbers(body: Buffer, tag: string, each: (n: number) => void): void {
  const framer = new LogFramer(
    { tty: false, maxLogSize: 64 * 1024 },
    {
      line: (line: LogLine) => {
        if (!line.text.startsWith(`${tag}-`)) return;
        const n = Number(line.text.slice(tag.length + 1));
        if (Number.isSafeInteger(n)) each(n);
      },
      daemonError: () => undefined,
    },
  );
  framer.push(body);
  framer.end();
}

/**
 * Roughly how far a running writer has got: the highest number among the last
 * lines of its log (stdout and stderr are logged by separate copiers, so the
 * very last lines may lag a little). For progress rows only; use logSequence
 * for the final count.
 */
export async function lastWritten(docker: Docker, writer: WriterSpec & { id: string }): Promise<number> {
  const body = await docker.getContainer(writer.id).logs({ follow: false, stdout: true, stderr: true, timestamps: true, tail: 64 });
  let max = 0;
  sequenceNumbers(body, writer.tag, (n) => {
    if (n > max) max = n;
  });
  return max;
}

export interface LogSequence {
  /** Highest number in the log. */
  max: number;
  /** Lines of the sequence in the log. */
  lines: number;
  /** The log holds exactly 1..max, each once (what the writer wrote, as Docker kept it). */
  contiguous: boolean;
}

/** Reads the writer's whole log from the engine: the ground truth of what it wrote. */
export async function logSequence(docker: Docker, writer: WriterSpec & { id: string }): Promise<LogSequence> {
  const body = await docker.getContainer(writer.id).logs({ follow: false, stdout: true, stderr: true, timestamps: true });
  const seen: number[] = [];
  let max = 0;
  sequenceNumbers(body, writer.tag, (n) => {
    seen.push(n);
    if (n > max) max = n;
  });
  const once = new Uint8Array(max + 1);
  let contiguous = seen.length === max;
  for (const n of seen) {
    if (n < 1 || once[n] === 1) contiguous = false;
    else once[n] = 1;
  }
  return { max, lines: seen.length, contiguous };
}

/**
 * Every writer's whole log (stop them first): what each wrote, by container name,
 * and the writers whose log is not exactly 1..max (then a loss is not the receiver's).
 */
export async function writtenInLogs(docker: Docker, writers: readonly Writer[], concurrency = 4): Promise<{ written: Map<string, number>; incomplete: string[] }> {
  const out = new Map<string, number>();
  const incomplete: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < writers.length) {
      const w = writers[next++];
      const seq = await logSequence(docker, w);
      if (!seq.contiguous) incomplete.push(`${w.name}: ${seq.lines} lines, highest ${seq.max}`);
      out.set(w.name, seq.max);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, writers.length) }, () => worker()));
  return { written: new Map(writers.map((w) => [w.name, out.get(w.name) ?? 0])), incomplete };
}

/** Roughly what every writer has written so far (lastWritten), by container name. */
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
