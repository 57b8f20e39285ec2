/**
 * Exponential backoff with jitter, as the collector's retry settings describe it:
 * each wait is the current interval randomised by ±randomizationFactor, and the
 * interval grows by multiplier up to maxInterval.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  multiplier?: number;
  randomizationFactor?: number;
}

export class Backoff {
  private intervalMs: number;
  private readonly options: Required<BackoffOptions>;

  constructor(options: BackoffOptions) {
    this.options = { multiplier: 2, randomizationFactor: 0.5, ...options };
    this.intervalMs = this.options.initialMs;
  }

  /** The next wait, in ms. */
  next(): number {
    const { randomizationFactor, multiplier, maxMs } = this.options;
    const delta = this.intervalMs * randomizationFactor;
    const wait = this.intervalMs - delta + Math.random() * 2 * delta;
    this.intervalMs = Math.min(maxMs, this.intervalMs * multiplier);
    return Math.max(0, Math.round(wait));
  }

  reset(): void {
    this.intervalMs = this.options.initialMs;
  }
}

/** Resolves after ms, or early (without throwing) when the signal aborts. The timer never keeps the process alive. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
