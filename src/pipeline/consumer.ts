/**
 * The interface between the receiver and whatever takes its records: in the
 * agent, the batching/exporting pipeline; in a library, anything that can tell
 * when records are safely delivered. It carries the two things the receiver needs
 * to be exact and bounded: an acknowledgement per handover (positions are only
 * committed after it) and backpressure (reading pauses while the consumer is full).
 */
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { ReceiverError } from '../errors.js';

export type DeliveryOutcome = { readonly delivered: true } | { readonly delivered: false; readonly error: ReceiverError };

export interface LogsConsumer {
  /**
   * Takes the records (the consumer owns the array from now on). `settled` is
   * called exactly once, after the records were acknowledged downstream or given
   * up on (unless a later handover of the same `source` took its place, below).
   * `bytes` is their approximate size, for memory bounds. Returns false when the
   * consumer is full: the caller should stop reading until onceWritable.
   *
   * `source`, when given, says that handovers with the same source settle in
   * order and that a later one's settlement stands for the earlier ones (as a
   * committed position does): a consumer may then merge a few handovers of that
   * source that it has not started sending, and call only the last one's
   * `settled`, with the outcome of all their records. (Records acknowledged stay
   * uncommitted until the merged handover is settled: keep merges small.)
   */
  consume(records: ReadableLogRecord[], bytes: number, settled: (outcome: DeliveryOutcome) => void, source?: object): boolean;
  /** Calls listener once, as soon as the consumer accepts records again (at once if it does now). */
  onceWritable(listener: () => void): void;
}

/**
 * Wraps an async function as a consumer, for library use: it is called per
 * handover, one at a time, and records count as delivered when it resolves.
 */
export function consumerFromFunction(
  deliver: (records: ReadableLogRecord[]) => Promise<void>,
  options: { maxPendingRecords?: number } = {},
): LogsConsumer {
  const maxPending = options.maxPendingRecords ?? 10_000;
  let pending = 0;
  let chain: Promise<void> = Promise.resolve();
  let listeners: Array<() => void> = [];
  return {
    consume(records, _bytes, settled) {
      pending += records.length;
      chain = chain.then(async () => {
        try {
          await deliver(records);
          settled({ delivered: true });
        } catch (err) {
          settled({ delivered: false, error: err instanceof ReceiverError ? err : new ReceiverError('EXPORT_FAILED', String(err), { cause: err }) });
        } finally {
          pending -= records.length;
          if (pending < maxPending) {
            const ready = listeners;
            listeners = [];
            for (const l of ready) l();
          }
        }
      });
      return pending < maxPending;
    },
    onceWritable(listener) {
      if (pending < maxPending) listener();
      else listeners.push(listener);
    },
  };
}
