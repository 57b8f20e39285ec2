/** What a leak would show as: file descriptors, libuv handles, memory. */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

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

/**
 * How many of this process's file descriptors are TCP sockets with `port` at
 * either end (e.g. both ends of the connections to a sink listening on it).
 */
export function socketFdsOnPort(port: number): number {
  const inodes = new Set<string>();
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const row of text.split('\n').slice(1)) {
      const f = row.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = parseInt(f[1].split(':')[1] ?? '', 16);
      const remote = parseInt(f[2].split(':')[1] ?? '', 16);
      const listening = f[3] === '0A';
      if (!listening && (local === port || remote === port)) inodes.add(f[9]);
    }
  }
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSafe(`/proc/self/fd/${fd}`));
    if (m !== null && inodes.has(m[1])) n++;
  }
  return n;
}
