/**
 * Cheap exact checking of sequence-numbered writers: every container writes
 * `<tag>-<n>` for n = 1, 2, 3, ... (every k-th line to stderr), and the checker
 * keeps one byte per number per container (how often it arrived), so lost and
 * duplicated lines are counted exactly without keeping the records themselves.
 * Feed it the sink's decoded records and drop them afterwards.
 */
import type { SinkLogRecord } from '../../test/helpers/otlp-sink.js';

export interface WriterSpec {
  /** Container name (records are matched on resource container.name). */
  name: string;
  /** What each body starts with before `-<n>`. */
  tag: string;
  /** Every k-th line goes to stderr (0: stdout only). */
  stderrEvery: number;
}

export interface ContainerTally {
  name: string;
  /** Distinct numbers received. */
  received: number;
  /** Extra copies of numbers already received. */
  duplicates: number;
  /** Highest number received. */
  maxSeen: number;
  /** Lines that arrived on the wrong stream (stdout/stderr) for their number. */
  wrongStream: number;
  /** Records of this container whose body is not `<tag>-<n>`. */
  malformed: number;
}

export interface LossReport {
  lost: number;
  duplicated: number;
  wrongStream: number;
  malformed: number;
  /** Numbers received beyond what the container says it wrote (should be impossible). */
  beyondWritten: number;
  /** A few examples per container, for messages. */
  examples: Array<{ name: string; missing: number[]; duplicated: number[] }>;
}

class Tally {
  counts = new Uint8Array(1024);
  received = 0;
  duplicates = 0;
  maxSeen = 0;
  wrongStream = 0;
  malformed = 0;
  constructor(readonly spec: WriterSpec) {}

  add(n: number, stream: unknown): void {
    if (n >= this.counts.length) {
      let size = this.counts.length;
      while (size <= n) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.counts);
      this.counts = grown;
    }
    const c = this.counts[n];
    if (c === 0) this.received++;
    else this.duplicates++;
    if (c < 255) this.counts[n] = c + 1;
    if (n > this.maxSeen) this.maxSeen = n;
    const expected = this.spec.stderrEvery > 0 && n % this.spec.stderrEvery === 0 ? 'stderr' : 'stdout';
    if (stream !== expected) this.wrongStream++;
  }
}

export class SequenceChecker {
  private readonly tallies = new Map<string, Tally>();
  /** Records of our containers that arrived before the container was registered, held until it is. */
  private readonly early = new Map<string, SinkLogRecord[]>();
  /** Records of containers that are not ours (the receiver reads every container). */
  foreign = 0;
  total = 0;

  constructor(private readonly namePrefix: string) {}

  register(spec: WriterSpec): void {
    if (this.tallies.has(spec.name)) return;
    this.tallies.set(spec.name, new Tally(spec));
    const early = this.early.get(spec.name);
    if (early !== undefined) {
      this.early.delete(spec.name);
      this.ingest(early);
    }
  }

  /** Records of containers named with our prefix that were never registered. */
  get unknown(): number {
    let sum = 0;
    for (const list of this.early.values()) sum += list.length;
    return sum;
  }

  /** Checks records and forgets them: call with sink.logs.splice(0). */
  ingest(records: readonly SinkLogRecord[]): void {
    for (const r of records) {
      const name = r.resource['container.name'];
      if (typeof name !== 'string' || !name.startsWith(this.namePrefix)) {
        this.foreign++;
        continue;
      }
      const tally = this.tallies.get(name);
      if (tally === undefined) {
        const list = this.early.get(name) ?? [];
        list.push(r);
        this.early.set(name, list);
        continue;
      }
      this.total++;
      const body = typeof r.body === 'string' ? r.body : '';
      const tag = tally.spec.tag;
      const n = body.length > tag.length + 1 && body.startsWith(tag) && body.charCodeAt(tag.length) === 45 ? Number(body.slice(tag.length + 1)) : NaN;
      if (!Number.isSafeInteger(n) || n < 1) {
        tally.malformed++;
        continue;
      }
      tally.add(n, r.attributes['log.iostream']);
    }
  }

  tally(name: string): ContainerTally {
    const t = this.tallies.get(name);
    if (t === undefined) return { name, received: 0, duplicates: 0, maxSeen: 0, wrongStream: 0, malformed: 0 };
    return { name, received: t.received, duplicates: t.duplicates, maxSeen: t.maxSeen, wrongStream: t.wrongStream, malformed: t.malformed };
  }

  get names(): string[] {
    return [...this.tallies.keys()];
  }

  /** Distinct lines received over all containers. */
  get received(): number {
    let sum = 0;
    for (const t of this.tallies.values()) sum += t.received;
    return sum;
  }

  get duplicates(): number {
    let sum = 0;
    for (const t of this.tallies.values()) sum += t.duplicates;
    return sum;
  }

  /** True when every container has every number up to what it wrote. */
  complete(written: ReadonlyMap<string, number>): boolean {
    for (const [name, upTo] of written) {
      const t = this.tallies.get(name);
      if (upTo === 0) continue;
      if (t === undefined || t.received < upTo || t.maxSeen < upTo) return false;
      for (let n = 1; n <= upTo; n++) if (t.counts[n] === 0) return false;
    }
    return true;
  }

  /** Compares with what each container wrote (1..written[name]). */
  report(written: ReadonlyMap<string, number>): LossReport {
    const out: LossReport = { lost: 0, duplicated: 0, wrongStream: 0, malformed: 0, beyondWritten: 0, examples: [] };
    for (const [name, upTo] of written) {
      const t = this.tallies.get(name);
      const missing: number[] = [];
      const duplicated: number[] = [];
      let lost = 0;
      for (let n = 1; n <= upTo; n++) {
        const c = t !== undefined && n < t.counts.length ? t.counts[n] : 0;
        if (c === 0) {
          lost++;
          if (missing.length < 10) missing.push(n);
        } else if (c > 1 && duplicated.length < 10) duplicated.push(n);
      }
      out.lost += lost;
      if (t !== undefined) {
        out.duplicated += t.duplicates;
        out.wrongStream += t.wrongStream;
        out.malformed += t.malformed;
        for (let n = upTo + 1; n < t.counts.length; n++) if (t.counts[n] > 0) out.beyondWritten++;
      }
      if (missing.length > 0 || duplicated.length > 0) out.examples.push({ name, missing, duplicated });
    }
    return out;
  }
}
