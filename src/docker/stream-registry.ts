/**
 * Keeps count of every log stream socket we open and whether it was really let
 * go after we closed it. A stream that has not emitted 'close' some seconds
 * after being destroyed is "unreleased": the leaked readers this design exists
 * to prevent, reported as a metric that must read 0.
 */
import type { Readable } from 'node:stream';

export class StreamRegistry {
  private activeCount = 0;
  private unreleasedCount = 0;
  private readonly releasing = new Set<Readable>();
  private readonly releaseTimeoutMs: number;
  private waiters: Array<() => void> = [];

  constructor(releaseTimeoutMs = 5000) {
    this.releaseTimeoutMs = releaseTimeoutMs;
  }

  get active(): number {
    return this.activeCount;
  }

  get unreleased(): number {
    return this.unreleasedCount;
  }

  /** Streams destroyed and not yet closed (including the unreleased ones). */
  get releasePending(): number {
    return this.releasing.size;
  }

  opened(): void {
    this.activeCount++;
  }

  /** Call once per opened stream, right after destroying it. */
  closed(response: Readable): void {
    this.activeCount--;
    if (response.closed) return;
    this.releasing.add(response);
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      this.unreleasedCount++;
    }, this.releaseTimeoutMs);
    timer.unref();
    response.once('close', () => {
      clearTimeout(timer);
      if (late) this.unreleasedCount--;
      this.releasing.delete(response);
      if (this.releasing.size === 0) {
        const waiters = this.waiters;
        this.waiters = [];
        for (const w of waiters) w();
      }
    });
  }

  /** Resolves when every destroyed stream has closed, or after timeoutMs. */
  whenReleased(timeoutMs: number): Promise<boolean> {
    if (this.releasing.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
