/**
 * The retry_on_failure policy of the collector's exporters: exponential backoff
 * with jitter while the error is transient, until max_elapsed_time (0 = as long
 * as the receiver runs) or until the caller's signal says stop (shutdown deadline).
 * Retry-After from the backend is honoured inside the OTLP SDK's own attempts.
 */
import type { RetryOnFailureConfig } from '../config/schema.js';
import { ReceiverError } from '../errors.js';
import { Backoff, sleep } from '../util/backoff.js';
import type { ExportAttempt } from './exporters.js';

/** `attemptOnce` is one delivery attempt of the batch by one exporter. */
export async function exportWithRetry(
  attemptOnce: () => Promise<ExportAttempt>,
  policy: RetryOnFailureConfig,
  signal: AbortSignal,
  onRetry: (attempt: ExportAttempt & { ok: false }, waitMs: number) => void,
): Promise<ExportAttempt> {
  const started = Date.now();
  const backoff = new Backoff({
    initialMs: policy.initial_interval,
    maxMs: policy.max_interval,
    multiplier: policy.multiplier,
    randomizationFactor: policy.randomization_factor,
  });
  for (;;) {
    const attempt = await attemptOnce();
    if (attempt.ok || !attempt.retryable || !policy.enabled) return attempt;
    if (signal.aborted) return attempt;
    const wait = backoff.next();
    if (policy.max_elapsed_time > 0 && Date.now() - started + wait > policy.max_elapsed_time) {
      return {
        ok: false,
        retryable: false,
        error: new ReceiverError('EXPORT_FAILED', `${attempt.error.message} (gave up after ${Math.round((Date.now() - started) / 1000)} s of retries)`, { cause: attempt.error }),
      };
    }
    onRetry(attempt, wait);
    await sleep(wait, signal);
    if (signal.aborted) return attempt;
  }
}
