/**
 * The receiver's own diagnostic log (not the container logs it ships). Small on
 * purpose: levels, a component name, structured fields, console or JSON lines on
 * stderr, and `warnOnce` so a condition that repeats every second is said once.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** Logs at warn the first time `key` is seen (until `clearOnce(key)`), at debug afterwards. */
  warnOnce(key: string, message: string, fields?: LogFields): void;
  clearOnce(key: string): void;
  child(component: string): Logger;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  level: LogLevel;
  encoding: 'console' | 'json';
  write?: (line: string) => void;
}

export function createLogger(options: LoggerOptions, component = 'docker-logs-receiver', once: Set<string> = new Set()): Logger {
  const min = LEVELS[options.level];
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (LEVELS[level] < min) return;
    const time = new Date().toISOString();
    if (options.encoding === 'json') {
      write(JSON.stringify({ time, level, component, msg: message, ...fields }));
      return;
    }
    let line = `${time}\t${level}\t${component}\t${message}`;
    if (fields !== undefined) {
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += `\t${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`;
    }
    write(line);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    warnOnce(key, message, fields) {
      if (once.has(key)) {
        emit('debug', message, fields);
        return;
      }
      once.add(key);
      emit('warn', message, fields);
    },
    clearOnce(key) {
      once.delete(key);
    },
    child: (name) => createLogger(options, `${component}/${name}`, once),
  };
}

/** A logger that drops everything: the default for library use without settings. */
export const silentLogger: Logger = createLogger({ level: 'error', encoding: 'console', write: () => undefined });

/** The shape of @opentelemetry/api's DiagLogger (kept structural: this module imports nothing). */
export interface DiagSink {
  error(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  debug(message: string, ...args: unknown[]): void;
  verbose(message: string, ...args: unknown[]): void;
}

/**
 * What the OpenTelemetry SDK says through `diag` (a backend's partial success, an error it caught
 * in the background), into our log under the component `otel-sdk`, each distinct message once at
 * warn and at debug afterwards (the SDK repeats them per request or per collection).
 * Errors caught in the background reach `diag` through the SDK's default global error handler as
 * JSON of the exception (stack included): only its message is kept. That handler cannot simply be
 * replaced: the SDK's CommonJS and ES module builds each hold their own. A failed metrics export
 * is already said, with the exporter's id, by the metrics pipeline (telemetry/meter-provider.ts),
 * so it only goes to debug here.
 */
export function diagSinkFor(logger: Logger): DiagSink {
  const sdk = logger.child('otel-sdk');
  const join = (message: string, args: unknown[]): string =>
    [message, ...args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : JSON.stringify(a)))].join(' ');
  const report = (message: string, args: unknown[]): void => {
    let text = join(message, args);
    if (args.length === 0 && message.startsWith('{')) {
      try {
        const parsed: unknown = JSON.parse(message);
        if (typeof parsed === 'object' && parsed !== null && 'message' in parsed && typeof parsed.message === 'string') text = parsed.message;
      } catch {
        // not the exception JSON: keep the text as it is
      }
    }
    if (text.startsWith('PeriodicExportingMetricReader: metrics export failed')) sdk.debug(text);
    else sdk.warnOnce(`diag:${args.length > 0 ? message : text}`, text);
  };
  return {
    error: (message, ...args) => report(message, args),
    warn: (message, ...args) => report(message, args),
    info: (message, ...args) => sdk.debug(join(message, args)),
    debug: (message, ...args) => sdk.debug(join(message, args)),
    verbose: () => undefined,
  };
}
