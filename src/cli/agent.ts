/**
 * The agent: `docker-logs-receiver [--config FILE]` runs the service until
 * SIGTERM/SIGINT, then stops reading, exports what was read and exits 0 within
 * the shutdown deadline; `docker-logs-receiver validate --config FILE` checks a
 * config and lists every problem. Exit codes: 0 ok, 1 runtime failure, 2 bad
 * usage or config. Only this file exits the process (and main.ts, when it
 * cannot load this one).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DiagLogLevel, diag } from '@opentelemetry/api';
import type { Config } from '../config/schema.js';
import { loadConfigFile, loadDefaultConfig, DEFAULT_CONFIG_PATH } from '../config/load.js';
import { ConfigError, ReceiverError, errorMessage } from '../errors.js';
import { Service } from '../service.js';
import { createLogger, diagSinkFor } from '../util/logger.js';

const USAGE = `usage:
  docker-logs-receiver [--config FILE]            run (built-in default config when --config is absent)
  docker-logs-receiver validate [--config FILE]   check a config; exit 0 when valid
options:
  --config FILE            collector-style YAML config
  --shutdown-timeout MS    how long to flush on SIGTERM/SIGINT (default 10000)
  --help, --version`;

export interface AgentHooks {
  /** Called once the service has started. */
  onStarted?: () => void;
}

export async function main(argv: string[], hooks: AgentHooks = {}): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        'shutdown-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\n${USAGE}\n`);
    return 2;
  }
  if (args.values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.values.version === true) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const command = args.positionals[0] ?? 'run';
  if (command !== 'run' && command !== 'validate') {
    process.stderr.write(`unknown command "${command}"\n${USAGE}\n`);
    return 2;
  }
  if (args.positionals.length > 1) {
    process.stderr.write(`unexpected argument "${args.positionals[1]}" (the config file is given with --config FILE)\n${USAGE}\n`);
    return 2;
  }
  const shutdownTimeout = Number(args.values['shutdown-timeout'] ?? '10000');
  if (!Number.isFinite(shutdownTimeout) || shutdownTimeout < 0) {
    process.stderr.write(`--shutdown-timeout: expected milliseconds, got "${args.values['shutdown-timeout']}"\n`);
    return 2;
  }

  let config: Config;
  const source = args.values.config ?? `${DEFAULT_CONFIG_PATH} (built-in default)`;
  try {
    config = args.values.config === undefined ? await loadDefaultConfig() : await loadConfigFile(args.values.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    process.stderr.write(`${errorMessage(err)}\n`);
    return 2;
  }
  if (command === 'validate') {
    process.stdout.write(`${source}: valid\n`);
    return 0;
  }
  return run(config, source, shutdownTimeout, hooks);
}

async function run(config: Config, source: string, shutdownTimeoutMs: number, hooks: AgentHooks): Promise<number> {
  const logger = createLogger({ level: config.service.telemetry.logs.level, encoding: config.service.telemetry.logs.encoding });
  // The CLI owns the process, so it may set the global diag logger (a library embedding us keeps its own).
  diag.setLogger(diagSinkFor(logger), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  let service: Service;
  try {
    service = new Service(config, { logger });
  } catch (err) {
    logger.error(errorMessage(err));
    return 2;
  }

  let stopping: Promise<number> | null = null;
  const stop = (signal: string): Promise<number> => {
    if (stopping !== null) {
      logger.warn('second signal: exiting without waiting for the flush', { signal });
      process.exit(130);
    }
    logger.info('stopping: no more reading; exporting what was read', { signal, deadline_ms: shutdownTimeoutMs });
    stopping = service.shutdown(shutdownTimeoutMs).then(
      () => {
        logger.info('stopped');
        return 0;
      },
      (err: unknown) => {
        logger.error('shutdown failed', { error: errorMessage(err) });
        return 1;
      },
    );
    return stopping;
  };

  const done = new Promise<number>((resolve) => {
    process.once('SIGTERM', () => void stop('SIGTERM').then(resolve));
    process.once('SIGINT', () => void stop('SIGINT').then(resolve));
  });

  try {
    await service.start();
  } catch (err) {
    logger.error('cannot start', { error: errorMessage(err), code: err instanceof ReceiverError ? err.code : undefined });
    await service.shutdown(shutdownTimeoutMs).catch(() => undefined);
    return 1;
  }
  const pipelines = config.service.pipelines.logs;
  logger.info('started', { config: source, receivers: pipelines?.receivers.join(','), exporters: pipelines?.exporters.join(',') });
  try {
    hooks.onStarted?.();
  } catch (err) {
    logger.warn('the start hook failed', { error: errorMessage(err) });
  }
  return done;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Runs the agent with these arguments and exits the process with its code. */
export function runAgent(argv: string[], hooks: AgentHooks = {}): void {
  main(argv, hooks).then(
    (code) => {
      process.exitCode = code;
      // After the stop, only a request abandoned at the deadline (a hung backend) may still hold
      // the loop open: do not let it push the exit past the deadline. stdout/stderr writes to files,
      // pipes and terminals are synchronous on Linux, so nothing printed is lost.
      setTimeout(() => process.exit(code), 50).unref();
    },
    (err: unknown) => {
      process.stderr.write(`fatal: ${errorMessage(err)}\n`);
      process.exit(1);
    },
  );
}
