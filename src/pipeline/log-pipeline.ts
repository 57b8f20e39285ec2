/**
 * The logs pipeline: a bounded in-memory queue, batching, one export in flight,
 * fan-out to every exporter of the pipeline, and acknowledgements in order.
 *
 * Unlike the SDK's BatchLogRecordProcessor it never drops: when the queue is
 * full, consume() says so and the receiver stops reading its sockets (Docker's
 * log files are the buffer). A handover is settled only when every record in it
 * was acknowledged by every exporter, or given up on; since batches go out one
 * at a time in arrival order, settlements come in the order of handovers.
 *
 * When every exporter sends OTLP/protobuf (the default), records are encoded as
 * they are handed over and only their bytes are queued (see EncodedRun for why).
 */
import type { HrTime } from '@opentelemetry/api';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { BatchProcessorConfig, RetryOnFailureConfig } from '../config/schema.js';
import { ReceiverError, errorMessage } from '../errors.js';
import type { Logger } from '../util/logger.js';
import type { ReceiverMetrics } from '../telemetry/metrics.js';
import type { DeliveryOutcome, LogsConsumer } from './consumer.js';
import type { ExportAttempt, LogExporter } from './exporters.js';
import type { EncodedRun, EncodedSlice } from './otlp-proto-encoder.js';
import { OtlpProtoLogsEncoder } from './otlp-proto-encoder.js';
import { exportWithRetry } from './retry.js';

export interface PipelineExporter {
  exporter: LogExporter;
  retry: RetryOnFailureConfig;
}

export interface LogPipelineOptions {
  exporters: PipelineExporter[];
  batch: BatchProcessorConfig;
  queueSize: number;
  queueBytes: number;
  metrics: ReceiverMetrics;
  logger: Logger;
}

/**
 * Most records a merged handover grows to. Its records are committed only when all of them are
 * acknowledged (one position), and its chunks released only then: a bound on both what a crash
 * sends again beyond what was in flight and the memory held beyond queue_size. One read of 64 KiB
 * of short lines hands over as many at once anyway.
 */
const MERGED_HANDOVER_RECORDS = 512;

interface Handover {
  /** The records, or null when they were encoded on arrival (`runs`). */
  readonly records: ReadableLogRecord[] | null;
  /** Grows (with count, newest, bytes and settled) when a later handover of its source is merged into it. */
  runs: EncodedRun[] | null;
  count: number;
  /** Timestamp of the last record, for the lag gauge. */
  newest: HrTime;
  bytes: number;
  settled: (outcome: DeliveryOutcome) => void;
  readonly source: object | undefined;
  /** Records and bytes already placed in a batch. */
  taken: number;
  bytesTaken: number;
  failure: ReceiverError | null;
}

interface Batch {
  /** The records, when they were kept as records; otherwise their encoded slices. */
  records: ReadableLogRecord[];
  slices: EncodedSlice[];
  count: number;
  /** Records in it that could not be encoded on arrival: they are not sent, and count as failed. */
  unencodable: number;
  bytes: number;
  /** Handovers with records in this batch. */
  touched: Handover[];
  /** Handovers whose last record is in this batch: settled when it is done. */
  completed: Handover[];
}

export class LogPipeline implements LogsConsumer {
  private readonly options: LogPipelineOptions;
  private readonly queue: Handover[] = [];
  /** Records and bytes held (queued and in flight): what the memory bound counts. */
  private heldRecords = 0;
  private heldBytes = 0;
  /** Records queued and not yet in a batch. */
  private unbatched = 0;
  private oldestArrival = 0;
  private inFlight: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private writableListeners: Array<() => void> = [];
  private draining = false;
  /** Set when the shutdown deadline passed: nothing more is exported. */
  private stopped = false;
  private readonly abort = new AbortController();
  private newestAcked: [number, number] | null = null;
  private readonly unobserve: Array<() => void> = [];
  /** Set when every exporter sends OTLP/protobuf: records are then encoded as they arrive. */
  private readonly encoder: OtlpProtoLogsEncoder | null;

  constructor(options: LogPipelineOptions) {
    this.options = options;
    this.encoder = options.exporters.length > 0 && options.exporters.every(({ exporter }) => exporter.exportEncoded !== undefined) ? new OtlpProtoLogsEncoder() : null;
    const { metrics } = options;
    for (const { exporter } of options.exporters) {
      this.unobserve.push(metrics.observe('otelcol_exporter_queue_size', () => [{ value: this.heldRecords, attributes: { exporter: exporter.id } }]));
      this.unobserve.push(metrics.observe('otelcol_exporter_queue_capacity', () => [{ value: options.queueSize, attributes: { exporter: exporter.id } }]));
    }
    this.unobserve.push(
      metrics.observe('docker_logs.lag', () => {
        if (this.newestAcked === null) return [];
        return [{ value: Math.max(0, Date.now() / 1000 - (this.newestAcked[0] + this.newestAcked[1] / 1e9)) }];
      }),
    );
  }

  get held(): { records: number; bytes: number } {
    return { records: this.heldRecords, bytes: this.heldBytes };
  }

  /** Timestamp of the newest record acknowledged so far, or null. */
  get newestAcknowledged(): [number, number] | null {
    return this.newestAcked;
  }

  consume(records: ReadableLogRecord[], bytes: number, settled: (outcome: DeliveryOutcome) => void, source?: object): boolean {
    if (records.length === 0) {
      settled({ delivered: true });
      return this.writable();
    }
    if (this.unbatched === 0) this.oldestArrival = Date.now();
    const count = records.length;
    const newest = records[count - 1].hrTime;
    let runs: EncodedRun[] | null = null;
    let failure: ReceiverError | null = null;
    if (this.encoder !== null) {
      try {
        runs = this.encoder.encodeRuns(records);
      } catch (err) {
        // Settled as not delivered, in its turn (settlements keep the order of handovers).
        runs = [];
        failure = new ReceiverError('EXPORT_REJECTED', `could not encode ${count} record(s): ${errorMessage(err)}`, { cause: err });
        this.options.logger.error('could not encode records; they will be read again from their last committed position', { error: failure.message });
      }
    }
    const tail = this.queue.length > 0 ? this.queue[this.queue.length - 1] : undefined;
    if (
      runs !== null &&
      failure === null &&
      source !== undefined &&
      tail !== undefined &&
      tail.source === source &&
      tail.runs !== null &&
      tail.failure === null &&
      tail.taken === 0 &&
      tail.count + count <= MERGED_HANDOVER_RECORDS
    ) {
      // A reader hands over what each turn of the event loop read: during a drain, thousands of
      // handovers of a few records each would wait here, and every scavenge copied their objects.
      // Merged, they are a few dozen handovers, mostly one run each.
      this.encoder?.appendRuns(tail.runs, runs);
      tail.count += count;
      tail.bytes += bytes;
      tail.newest = newest;
      tail.settled = settled;
    } else {
      this.queue.push({ records: runs === null ? records : null, runs, count, newest, bytes, settled, source, taken: 0, bytesTaken: 0, failure });
    }
    this.heldRecords += count;
    this.heldBytes += bytes;
    this.unbatched += count;
    this.schedule();
    return this.writable();
  }

  onceWritable(listener: () => void): void {
    if (this.writable()) listener();
    else this.writableListeners.push(listener);
  }

  /** Exports everything held now, ignoring the batch timeout; resolves when all of it is settled. */
  async flush(): Promise<void> {
    this.draining = true;
    try {
      this.schedule();
      while (!this.stopped && (this.inFlight !== null || this.unbatched > 0)) {
        if (this.inFlight !== null) await this.inFlight;
        else this.schedule();
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * Flushes within the deadline, then stops retrying: what is still unsent is
   * settled as failed (its positions stay uncommitted, so it is read again).
   */
  async shutdown(deadlineMs: number): Promise<void> {
    const started = Date.now();
    let expired = (): void => undefined;
    const deadlinePassed = new Promise<void>((resolve) => (expired = resolve));
    const deadline = setTimeout(() => {
      this.abort.abort();
      expired();
    }, deadlineMs);
    deadline.unref();
    try {
      // An export in flight cannot be cancelled (the OTLP SDK takes no signal): stop waiting for it at
      // the deadline. What is not acknowledged by then keeps its positions uncommitted: it is read again.
      await Promise.race([this.flush(), deadlinePassed]);
    } finally {
      clearTimeout(deadline);
      this.abort.abort();
      this.stopped = true;
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      for (const off of this.unobserve) off();
      // The SDK exporters' shutdown waits for their pending requests: bound it by what is left of the deadline.
      const left = Math.max(0, deadlineMs - (Date.now() - started));
      await Promise.race([
        Promise.allSettled(this.options.exporters.map(({ exporter }) => exporter.shutdown())),
        new Promise<void>((resolve) => setTimeout(resolve, left).unref()),
      ]);
    }
  }

  private writable(): boolean {
    return this.heldRecords < this.options.queueSize && this.heldBytes < this.options.queueBytes;
  }

  private schedule(): void {
    if (this.stopped || this.inFlight !== null || this.unbatched === 0) return;
    const { send_batch_size: batchSize, timeout } = this.options.batch;
    const waited = Date.now() - this.oldestArrival;
    // A full queue has stopped reading: waiting for the batch timeout would only slow the drain.
    if (this.draining || this.abort.signal.aborted || this.unbatched >= batchSize || waited >= timeout || !this.writable()) {
      if (this.timer !== null) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      this.inFlight = this.exportBatch(this.takeBatch()).finally(() => {
        this.inFlight = null;
        this.schedule();
      });
      return;
    }
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.schedule();
      }, timeout - waited);
      this.timer.unref();
    }
  }

  private takeBatch(): Batch {
    const { send_batch_size, send_batch_max_size } = this.options.batch;
    const limit = send_batch_max_size > 0 ? send_batch_max_size : send_batch_size;
    const batch: Batch = { records: [], slices: [], count: 0, unencodable: 0, bytes: 0, touched: [], completed: [] };
    while (batch.count < limit && this.queue.length > 0) {
      const handover = this.queue[0];
      const room = limit - batch.count;
      const rest = handover.count - handover.taken;
      const n = Math.min(room, rest);
      if (handover.runs !== null) {
        if (handover.runs.length === 0) batch.unencodable += n;
        takeSlices(handover.runs, handover.taken, handover.taken + n, batch.slices);
      } else if (handover.records !== null) {
        if (handover.taken === 0 && n === rest) {
          for (const r of handover.records) batch.records.push(r);
        } else {
          for (let i = handover.taken; i < handover.taken + n; i++) batch.records.push(handover.records[i]);
        }
      }
      batch.count += n;
      // Bytes are attributed proportionally; the last piece takes the remainder so the totals balance.
      const bytes = n === rest ? handover.bytes - handover.bytesTaken : Math.round((handover.bytes * n) / handover.count);
      batch.bytes += bytes;
      handover.bytesTaken += bytes;
      handover.taken += n;
      batch.touched.push(handover);
      if (handover.taken === handover.count) {
        this.queue.shift();
        batch.completed.push(handover);
      }
    }
    this.unbatched -= batch.count;
    if (this.unbatched > 0) this.oldestArrival = Date.now();
    return batch;
  }

  private async exportBatch(batch: Batch): Promise<void> {
    const { metrics, logger } = this.options;
    const results = await Promise.all(
      this.options.exporters.map(async ({ exporter, retry }) => {
        let result: ExportAttempt;
        try {
          const { exportEncoded } = exporter;
          let attemptOnce = (): Promise<ExportAttempt> => exporter.exportOnce(batch.records);
          if (this.encoder !== null && exportEncoded !== undefined) {
            // Only records that could not be encoded (already failed): nothing to send.
            attemptOnce = batch.slices.length === 0 ? () => Promise.resolve({ ok: true }) : () => exportEncoded(batch.slices, batch.count - batch.unencodable);
          }
          result = await exportWithRetry(attemptOnce, retry, this.abort.signal, (attempt, waitMs) => {
            logger.warnOnce(`export-retry:${exporter.id}`, 'export failed; retrying', { exporter: exporter.id, error: attempt.error.message, retry_in_ms: waitMs });
          });
        } catch (err) {
          // exportOnce returns values; this is a bug guard so one bad exporter cannot stall the pipeline.
          result = { ok: false, retryable: false, error: new ReceiverError('EXPORT_FAILED', `${exporter.id}: ${String(err)}`, { cause: err }) };
        }
        if (result.ok) {
          metrics.add('otelcol_exporter_sent_log_records', batch.count - batch.unencodable, { exporter: exporter.id });
          if (batch.unencodable > 0) metrics.add('otelcol_exporter_send_failed_log_records', batch.unencodable, { exporter: exporter.id });
          logger.clearOnce(`export-retry:${exporter.id}`);
        } else {
          metrics.add('otelcol_exporter_send_failed_log_records', batch.count, { exporter: exporter.id });
          logger.error('gave up exporting a batch; its records will be read again from their last committed position', {
            exporter: exporter.id,
            records: batch.count,
            error: result.error.message,
          });
        }
        return result;
      }),
    );
    const failed = results.find((r): r is ExportAttempt & { ok: false } => !r.ok);
    if (failed !== undefined) for (const h of batch.touched) h.failure ??= failed.error;
    else this.noteAcknowledged(batch.completed);
    this.heldRecords -= batch.count;
    this.heldBytes -= batch.bytes;
    for (const h of batch.completed) {
      // Every record of the handover is done with (acknowledged or given up on): its bytes may be reused.
      if (h.runs !== null) this.encoder?.release(h.runs);
      try {
        h.settled(h.failure === null ? { delivered: true } : { delivered: false, error: h.failure });
      } catch (err) {
        logger.error('a delivery callback threw', { error: String(err) });
      }
    }
    if (this.writable() && this.writableListeners.length > 0) {
      const listeners = this.writableListeners;
      this.writableListeners = [];
      for (const l of listeners) l();
    }
  }

  /**
   * For the lag gauge: the last record of each handover whose records are now all acknowledged.
   * Records come in log order per container, so that is (close to) the newest of each.
   */
  private noteAcknowledged(completed: readonly Handover[]): void {
    for (const h of completed) {
      if (h.failure !== null) continue;
      const t = h.newest;
      const newest = this.newestAcked;
      if (newest === null || t[0] > newest[0] || (t[0] === newest[0] && t[1] > newest[1])) this.newestAcked = [t[0], t[1]];
    }
  }

}

/** Appends the slices of `runs` that hold the handover's records [from, to). */
function takeSlices(runs: readonly EncodedRun[], from: number, to: number, out: EncodedSlice[]): void {
  let base = 0;
  for (const run of runs) {
    const length = run.ends.length;
    const start = Math.max(from, base);
    const end = Math.min(to, base + length);
    if (start < end) out.push({ run, from: start - base, to: end - base });
    base += length;
    if (base >= to) break;
  }
}
