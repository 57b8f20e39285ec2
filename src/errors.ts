/**
 * One error type for everything the receiver reports. `code` is stable (safe to
 * match on, documented in the README); `transient` says whether retrying can help.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_READ_FAILED'
  | 'ENGINE_UNREACHABLE'
  | 'ENGINE_API_ERROR'
  | 'CONTAINER_NOT_FOUND'
  | 'CONTAINER_CONFLICT'
  | 'LOG_DRIVER_UNSUPPORTED'
  | 'STREAM_FAILED'
  | 'EXPORT_FAILED'
  | 'EXPORT_REJECTED'
  | 'CHECKPOINT_IO_FAILED'
  | 'SHUTDOWN_TIMEOUT';

export class ReceiverError extends Error {
  readonly code: ErrorCode;
  readonly transient: boolean;

  constructor(code: ErrorCode, message: string, options: { transient?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ReceiverError';
    this.code = code;
    this.transient = options.transient ?? false;
  }
}

/** A config problem, with every issue found (not just the first). */
export class ConfigError extends ReceiverError {
  readonly issues: readonly string[];

  constructor(source: string, issues: readonly string[]) {
    super('CONFIG_INVALID', `invalid configuration in ${source}:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
