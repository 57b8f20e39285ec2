/**
 * Discovery: which containers exist and run, kept current from the events
 * stream. The events stream is opened before the containers are listed, so a
 * container that starts in between is seen by one or the other (the handlers
 * are idempotent). When the engine goes away, discovery says so once, waits with
 * jittered exponential backoff, and lists again after reconnecting.
 */
import type { IncomingMessage } from 'node:http';
import { ReceiverError, errorMessage } from '../errors.js';
import { Backoff, sleep } from '../util/backoff.js';
import type { Logger } from '../util/logger.js';
import type { ContainerSummary, DockerEngine, EngineEvent, EngineInfo } from './engine.js';
import { parseEngineEvent } from './engine.js';

export interface DiscoveryHandlers {
  /** After each (re)connection, before that connection's listing. */
  connected(info: EngineInfo): void;
  /** The listing after each connection: every container, running or not. */
  listed(containers: ContainerSummary[], firstListing: boolean): void;
  event(event: EngineEvent): void;
  disconnected(error: ReceiverError): void;
}

export interface DiscoveryOptions {
  reconnect: { initialMs: number; maxMs: number };
}

export class ContainerDiscovery {
  private readonly engine: DockerEngine;
  private readonly handlers: DiscoveryHandlers;
  private readonly logger: Logger;
  private readonly backoff: Backoff;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;
  private connectedNow = false;
  private listedOnce = false;
  private events: IncomingMessage | null = null;

  constructor(engine: DockerEngine, handlers: DiscoveryHandlers, logger: Logger, options: DiscoveryOptions) {
    this.engine = engine;
    this.handlers = handlers;
    this.logger = logger;
    this.backoff = new Backoff({ initialMs: options.reconnect.initialMs, maxMs: options.reconnect.maxMs });
  }

  /** True while the engine answers and its events stream is open. */
  get connected(): boolean {
    return this.connectedNow;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.events?.destroy();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      try {
        await this.connectAndFollow(signal);
      } catch (err) {
        if (signal.aborted) break;
        const error = err instanceof ReceiverError ? err : new ReceiverError('ENGINE_API_ERROR', errorMessage(err), { cause: err, transient: true });
        this.setDisconnected(error);
      }
      if (signal.aborted) break;
      const wait = this.backoff.next();
      this.logger.debug('reconnecting to the engine', { in_ms: wait });
      await sleep(wait, signal);
    }
    this.connectedNow = false;
  }

  private async connectAndFollow(signal: AbortSignal): Promise<void> {
    const info = await this.engine.info(signal);
    const events = await this.engine.openEventStream(signal);
    this.events = events;
    try {
      const ended = this.follow(events);
      this.connectedNow = true;
      this.logger.clearOnce('engine-down');
      this.logger.info('connected to the Docker engine', { endpoint: this.engine.endpoint, host: info.name, version: info.serverVersion, api: info.apiVersion });
      this.handlers.connected(info);
      const containers = await this.engine.listContainers(true, signal);
      this.handlers.listed(containers, !this.listedOnce);
      this.listedOnce = true;
      this.backoff.reset();
      await ended;
      if (!signal.aborted) throw new ReceiverError('ENGINE_UNREACHABLE', `the events stream of the Docker engine at ${this.engine.endpoint} ended`, { transient: true });
    } finally {
      events.removeAllListeners('data');
      events.on('error', () => undefined);
      events.destroy();
      this.events = null;
    }
  }

  /** Resolves when the events stream ends; rejects when it fails. */
  private follow(events: IncomingMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      let carry = '';
      events.setEncoding('utf8');
      events.on('data', (chunk: string) => {
        carry += chunk;
        let newline = carry.indexOf('\n');
        while (newline >= 0) {
          const line = carry.slice(0, newline).trim();
          carry = carry.slice(newline + 1);
          newline = carry.indexOf('\n');
          if (line === '') continue;
          const event = parseEngineEvent(line);
          if (event === null || event.type !== 'container') continue;
          try {
            this.handlers.event(event);
          } catch (err) {
            this.logger.error('an event handler failed', { action: event.action, error: errorMessage(err) });
          }
        }
      });
      events.once('end', () => resolve());
      events.once('close', () => resolve());
      events.once('error', (err) =>
        reject(new ReceiverError('ENGINE_UNREACHABLE', `the events stream of the Docker engine at ${this.engine.endpoint} failed: ${errorMessage(err)}`, { cause: err, transient: true })),
      );
    });
  }

  private setDisconnected(error: ReceiverError): void {
    const wasConnected = this.connectedNow;
    this.connectedNow = false;
    if (wasConnected) this.logger.warn('lost the Docker engine; reconnecting with backoff', { error: error.message });
    else this.logger.warnOnce('engine-down', 'the Docker engine is not reachable; retrying with backoff', { error: error.message });
    this.handlers.disconnected(error);
  }
}
