/**
 * The benchmark's containers, all from the test image with NetworkMode none
 * and named dlrt-bench-*: one backlog container holding N retained lines, paced
 * writers for the live case, and sleepers for the idle case. Every line
 * written starts with its sequence number (1..N) so the sink can check that
 * each was delivered exactly once.
 */
import type Docker from 'dockerode';

import { removeContainer, runContainer, uniqueName } from '../../test/helpers/docker.js';

/** About 100 bytes per line with the 7-digit sequence number and the space. */
export const FILLER = 'level=info msg="request handled" path=/api/v1/items/42 status=200 duration_ms=12 user=u-42';

export function lineBytes(seq: number): number {
  return String(seq).padStart(7, '0').length + 1 + FILLER.length + 1;
}

/** Containers this run made, so that they are removed even when a case fails. */
export class ContainerSet {
  readonly ids = new Set<string>();

  constructor(private readonly docker: Docker) {}

  add(id: string): void {
    this.ids.add(id);
  }

  async remove(ids: Iterable<string> = [...this.ids]): Promise<void> {
    const list = [...ids];
    await inBatches(list, 10, async (id) => {
      await removeContainer(this.docker, id).catch(() => undefined);
      this.ids.delete(id);
    });
  }
}

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/**
 * A container that writes `lines` lines of ~100 bytes as fast as it can, then
 * sleeps quietly. It keeps running on purpose: the receiver only picks up a
 * stopped container that was created since it last looked (or one it holds a
 * position for), so an exited backlog container would never be read by a
 * freshly started receiver. Resolves once the last line is in Docker's log.
 */
export async function createBacklogContainer(docker: Docker, set: ContainerSet, prefix: string, lines: number, timeoutMs: number): Promise<{ id: string; name: string; writeSeconds: number }> {
  const started = Date.now();
  const script = `seq 1 ${lines} | awk '{ printf "%07d ${FILLER.replace(/"/g, '\\"')}\\n", $1 }'; exec sleep 86400`;
  const c = await runContainer(docker, { name: uniqueName(`${prefix}-backlog`), cmd: ['sh', '-c', script] });
  set.add(c.id);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = await lastLineNumber(docker, c.id);
    if (last === lines) break;
    if (Date.now() > deadline) throw new Error(`backlog container ${c.name}: the last line is ${last}, not ${lines}, after ${timeoutMs} ms`);
    await sleep(500);
  }
  return { ...c, writeSeconds: (Date.now() - started) / 1000 };
}

/** The sequence number of the container's last log line (0 when none). */
async function lastLineNumber(docker: Docker, id: string): Promise<number> {
  const raw = (await docker.getContainer(id).logs({ stdout: true, stderr: true, tail: 1, follow: false }));
  // Non-TTY logs are multiplexed: an 8-byte header, then the line.
  const text = raw.length > 8 ? raw.subarray(8).toString('utf8') : '';
  const m = /^(\d+) /.exec(text);
  return m === null ? 0 : Number(m[1]);
}

/**
 * A busybox sh loop that writes lines 1..count at ratePerSec: every 0.2 s a
 * burst of ratePerSec/5 lines, written by one printf (one write: cheaper for
 * the shell and the container's pipe; Docker still makes each line its own
 * log message with its own timestamp). The sleep runs in the background while
 * the burst is prepared, and the loop waits for it, so each round takes 0.2 s
 * plus the cost of starting `sleep` (fewer, larger bursts keep the writers
 * cheap). The sink measures the real rate from Docker's timestamps.
 */
export function pacedWriterCmd(count: number, ratePerSec: number): string[] {
  const burst = Math.max(1, Math.round(ratePerSec / 5));
  const pause = (burst / ratePerSec).toFixed(3);
  const script =
    `i=1; n=${count}; while [ $i -le $n ]; do sleep ${pause} & a=; k=0; ` +
    `while [ $k -lt ${burst} ] && [ $i -le $n ]; do a="$a $i"; i=$((i + 1)); k=$((k + 1)); done; ` +
    `printf "%d ${FILLER.replace(/"/g, '\\"')}\\n" $a; wait; done`;
  return ['sh', '-c', script];
}

export interface StartedContainers {
  ids: string[];
  /** Local time when the first and the last container had been started. */
  firstStartedMs: number;
  allStartedMs: number;
}

/** Names for n containers (the sink tracks containers by name, before they exist). */
export function containerNames(n: number, prefix: string): string[] {
  return Array.from({ length: n }, () => uniqueName(prefix));
}

/** Starts containers with these names running cmd, `parallel` at a time. */
export async function startContainers(docker: Docker, set: ContainerSet, names: readonly string[], cmd: string[], parallel = 5): Promise<StartedContainers> {
  const ids: string[] = [];
  let first = 0;
  await inBatches(names, parallel, async (name) => {
    const c = await runContainer(docker, { name, cmd });
    if (first === 0) first = Date.now();
    set.add(c.id);
    ids.push(c.id);
  });
  return { ids, firstStartedMs: first, allStartedMs: Date.now() };
}

/** Running containers on the engine that this run did not make (other users of the shared engine). */
export async function foreignRunning(docker: Docker, ours: ReadonlySet<string>): Promise<string[]> {
  const list = await docker.listContainers({ all: false });
  return list.filter((c) => !ours.has(c.Id)).map((c) => `${(c.Names[0] ?? c.Id).replace(/^\//, '')}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
