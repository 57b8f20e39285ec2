/** What a leak would show as: file descriptors, libuv handles, memory. */
import { readdirSync, readlinkSync } from 'node:fs';

export interface ResourceSample {
  /** Milliseconds since the run started. */
  elapsedMs: number;
  fds: number;
  handles: number;
  heapUsed: number;
  rss: number;
}

/** Open file descriptors of this process (Linux; the listing's own descriptor included, so compare like with like). */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Entries of /proc/self/fd with what they point at, for failure messages. */
export function describeFds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    out.push(`${fd} -> ${readlinkSafe(`/proc/self/fd/${fd}`)}`);
  }
  return out;
}

function readlinkSafe(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '?';
  }
}

/** Resources keeping the event loop alive, by type (TCPSocketWrap, Timeout, PipeWrap, ...). */
export function activeResources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) out[type] = (out[type] ?? 0) + 1;
  return out;
}

export function sampleResources(startedAt: number): ResourceSample {
  const mem = process.memoryUsage();
  return {
    elapsedMs: Date.now() - startedAt,
    fds: openFds(),
    handles: process.getActiveResourcesInfo().length,
    heapUsed: mem.heapUsed,
    rss: mem.rss,
  };
}

/** What `after` has more of than `before`, by type (only positive differences). */
export function extraResources(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [type, n] of Object.entries(after)) {
    const d = n - (before[type] ?? 0);
    if (d > 0) out[type] = d;
  }
  return out;
}
