/**
 * The docker_logs receiver component: collector lifecycle (start, shutdown that
 * is idempotent and safe before start), one ContainerReader per running
 * container, discovery keeping that set current, and positions kept in the
 * checkpoint store once the consumer acknowledged them.
 */
import type { MeterProvider } from '@opentelemetry/api';
import type { DockerLogsReceiverConfig } from './config/schema.js';
import { ContainerReader, PLAIN_SHAPING } from './docker/container-reader.js';
import type { ReaderContext, ReaderStatus, RecordShaping } from './docker/container-reader.js';
import type { CompiledMultiline } from './framing/multiline.js';
import { compileMultiline } from './framing/multiline.js';
import { ContainerDiscovery } from './docker/discovery.js';
import type { ContainerDetails, ContainerSummary, EngineEvent, EngineInfo } from './docker/engine.js';
import { DockerEngine } from './docker/engine.js';
import type { ContainerPosition } from './docker/position.js';
import { StreamRegistry } from './docker/stream-registry.js';
import { ReceiverError, errorMessage } from './errors.js';
import type { DockerTimestamp } from './framing/timestamp.js';
import { fromHrTime, normalizeTimestamp, toHrTime } from './framing/timestamp.js';
import type { CheckpointStore } from './pipeline/checkpoint.js';
import { FileCheckpointStore, MemoryCheckpointStore } from './pipeline/checkpoint.js';
import type { LogsConsumer } from './pipeline/consumer.js';
import { ReceiverMetrics } from './telemetry/metrics.js';
import type { Logger } from './util/logger.js';
import { silentLogger } from './util/logger.js';
import { Semaphore } from './util/semaphore.js';
import { Backoff, sleep } from './util/backoff.js';
import { eventRecord } from './mapping/event-record.js';
import type { ContainerFacts, ContainerFilter, FilterDecision } from './docker/container-filter.js';
import { compileFilter, labelSettings } from './docker/container-filter.js';
import type { SelfContainer } from './docker/self-container.js';
import { detectSelfContainerId, resolveSelfContainerId } from './docker/self-container.js';
import { hrTimeNow } from './mapping/log-record.js';

export interface ReceiverSettings {
  /** The component id, e.g. "docker_logs" or "docker_logs/edge"; names the positions file and metric attributes. */
  id?: string;
  logger?: Logger;
  /** Where the receiver's own metrics go; a no-op meter when absent. */
  meterProvider?: MeterProvider;
  /** Shared metrics (the service passes one for all components); overrides meterProvider. */
  metrics?: ReceiverMetrics;
}

/** Why each known container is or is not collected, and how its reading goes (the explain endpoint). */
export interface ContainerExplanation {
  id: string;
  name: string;
  collected: boolean;
  rule: string;
  state: string | null;
  source: 'api' | 'files' | null;
  position: ContainerPosition | null;
  committed: ContainerPosition | null;
}

export interface ReceiverStatus {
  id: string;
  engine: { endpoint: string; connected: boolean; host: string; version: string };
  streams: { active: number; unreleased: number };
  containers: ReaderStatus[];
}

/** Container creation times are whole seconds, and clocks drift a little. */
const LOOK_MARGIN_SECONDS = 2;

/** How often "we knew of every container until now" is recorded with the positions. */
const WATCHED_EVERY_MS = 5000;

/** How long shutdown waits for destroyed sockets to report closed. */
const RELEASE_WAIT_MS = 2000;

export class DockerLogsReceiver {
  readonly id: string;
  private readonly config: DockerLogsReceiverConfig;
  private readonly consumer: LogsConsumer;
  private readonly logger: Logger;
  private readonly metrics: ReceiverMetrics;
  private readonly engine: DockerEngine;
  private readonly streams = new StreamRegistry();
  private readonly readers = new Map<string, ContainerReader>();
  /** Containers being inspected before their reader exists (events can race the listing). */
  private readonly pending = new Map<string, Promise<void>>();
  private readonly opens: Semaphore;
  private readonly unobserve: Array<() => void> = [];
  private discovery: ContainerDiscovery | null = null;
  private checkpoints: CheckpointStore = new MemoryCheckpointStore();
  private engineInfo: EngineInfo | null = null;
  private clockOffsetMs = 0;
  /** Local time when we last knew of every container (start, or the last moment the events stream was up). */
  private lastLookMs = Date.now();
  private connectedSince: number | null = null;
  private watchTimer: NodeJS.Timeout | null = null;
  private state: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  private shutdownPromise: Promise<void> | null = null;
  private readonly stopping = new AbortController();
  private filter: ContainerFilter;
  /** Receiver-wide multiline, compiled once; labels may override it per container. */
  private readonly multiline: CompiledMultiline | null;
  private readonly self: SelfContainer | null;
  /** Containers decided against, with the rule that decided (for the explain endpoint). */
  private readonly skipped = new Map<string, { name: string; decision: FilterDecision }>();
  /**
   * The last start or die event of a container whose create-time inspect was under
   * way: the inspect may tell of a state it has left since (a die implies a start).
   */
  private readonly eventWhilePending = new Map<string, 'start' | 'die'>();
  /** The rule that selected each followed container. */
  private readonly selectedBy = new Map<string, string>();

  constructor(config: DockerLogsReceiverConfig, settings: ReceiverSettings, consumer: LogsConsumer) {
    this.id = settings.id ?? 'docker_logs';
    this.config = config;
    this.consumer = consumer;
    this.logger = (settings.logger ?? silentLogger).child(this.id);
    this.metrics = settings.metrics ?? new ReceiverMetrics(settings.meterProvider?.getMeter('docker-logs-receiver'));
    this.engine = new DockerEngine({ endpoint: config.endpoint, apiVersion: config.api_version, timeoutMs: config.timeout, tls: config.tls });
    this.opens = new Semaphore(config.max_concurrent_opens);
    this.self = detectSelfContainerId();
    // Bad entries fail here (CONFIG_INVALID). An id from the cgroup needs no confirmation by the engine.
    this.filter = compileFilter(config, this.self?.source === 'cgroup' ? this.self.id : null, `receivers.${this.id}`);
    const m = config.multiline;
    this.multiline = m.line_start_pattern === null && m.line_end_pattern === null ? null : compileMultiline(m, `receivers.${this.id}.multiline`);
  }

  /**
   * Starts following the engine. Resolves once the receiver runs; it does not
   * wait for the engine, which may come later (the receiver says so and retries).
   * Fails only for what retrying cannot fix, such as an unusable storage directory.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new ReceiverError('ENGINE_API_ERROR', `receiver ${this.id} was already started`);
    this.state = 'starting';
    const directory = this.config.storage.directory;
    if (directory !== null) this.checkpoints = await FileCheckpointStore.open(directory, this.id, this.config.endpoint, this.logger);
    if (this.state !== 'starting') return; // shut down while opening storage
    // Containers created after we last knew of every container were never seen: read them whole.
    this.lastLookMs = this.checkpoints.watchedUntil ?? Date.now();
    this.watchTimer = setInterval(() => this.noteWatched(), WATCHED_EVERY_MS);
    this.watchTimer.unref();
    this.unobserve.push(
      this.metrics.observe('docker_logs.containers.watched', () => [{ value: this.readers.size, attributes: { receiver: this.id } }]),
      this.metrics.observe('docker_logs.stream.unreleased', () => [{ value: this.streams.unreleased, attributes: { receiver: this.id } }]),
    );
    this.discovery = new ContainerDiscovery(
      this.engine,
      {
        connected: (info) => {
          this.connectedSince = Date.now();
          this.onConnected(info);
        },
        listed: (containers, first) => this.onListed(containers, first),
        event: (event) => this.onEvent(event),
        disconnected: () => {
          if (this.connectedSince !== null) this.lastLookMs = Date.now();
          this.connectedSince = null;
        },
      },
      this.logger,
      { reconnect: { initialMs: this.config.reconnect.initial_interval, maxMs: this.config.reconnect.max_interval } },
    );
    this.discovery.start();
    this.state = 'running';
  }

  /**
   * Stops reading: closes every stream and the discovery, waits (bounded) for
   * the sockets to be released. Records already handed to the consumer are the
   * consumer's to flush. Idempotent, and safe before start.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.stop();
    return this.shutdownPromise;
  }

  /** Writes positions acknowledged so far (call after the consumer has flushed). */
  async flushPositions(): Promise<void> {
    await this.checkpoints.flush();
  }

  status(): ReceiverStatus {
    return {
      id: this.id,
      engine: {
        endpoint: this.config.endpoint,
        connected: this.discovery?.connected ?? false,
        host: this.engineInfo?.name ?? '',
        version: this.engineInfo?.serverVersion ?? '',
      },
      streams: { active: this.streams.active, unreleased: this.streams.unreleased },
      containers: [...this.readers.values()].map((r) => r.status),
    };
  }

  explain(): ContainerExplanation[] {
    const out: ContainerExplanation[] = [];
    for (const reader of this.readers.values()) {
      const status = reader.status;
      out.push({
        id: status.id,
        name: status.name,
        collected: true,
        rule: this.selectedBy.get(status.id) ?? '',
        state: status.state,
        source: status.source,
        position: status.position,
        committed: status.committed,
      });
    }
    for (const [id, { name, decision }] of this.skipped) {
      out.push({ id, name, collected: false, rule: decision.rule, state: null, source: null, position: null, committed: null });
    }
    return out;
  }

  get streamRegistry(): StreamRegistry {
    return this.streams;
  }

  private async stop(): Promise<void> {
    const wasRunning = this.state === 'running' || this.state === 'starting';
    this.state = 'stopped';
    this.stopping.abort();
    if (!wasRunning) return;
    if (this.watchTimer !== null) clearInterval(this.watchTimer);
    this.noteWatched();
    for (const off of this.unobserve) off();
    const discovery = this.discovery;
    for (const reader of this.readers.values()) reader.close();
    await discovery?.stop();
    await Promise.allSettled(this.pending.values());
    for (const reader of this.readers.values()) reader.close();
    this.engine.close();
    const released = await this.streams.whenReleased(RELEASE_WAIT_MS);
    if (!released) this.logger.warn('some log stream sockets were not released in time', { pending: this.streams.releasePending });
  }

  /** While the events stream is up, nothing can start unseen: record that, for the next start. */
  private noteWatched(): void {
    if (this.discovery?.connected === true) this.checkpoints.watchedUntil = Date.now();
  }

  private readerContext(): ReaderContext {
    return {
      engine: this.engine,
      consumer: this.consumer,
      opens: this.opens,
      streams: this.streams,
      metrics: this.metrics,
      logger: this.logger,
      receiverId: this.id,
      hostName: this.engineInfo?.name ?? '',
      engineRootDir: this.engineInfo?.rootDir ?? '',
      settings: {
        readFrom: this.config.read_from,
        streamTimeoutMs: this.config.stream_timeout,
        streamTimeoutJitter: this.config.stream_timeout_jitter,
        maxLogSize: this.config.max_log_size,
        reconnect: { initialMs: this.config.reconnect.initial_interval, maxMs: this.config.reconnect.max_interval },
      },
      engineNow: () => this.engineNow(),
      committed: (id, position) => this.checkpoints.set(id, position),
      finished: (id) => this.forget(id),
    };
  }

  private engineNow(): DockerTimestamp {
    const ms = Date.now() + this.clockOffsetMs;
    return fromHrTime([Math.floor(ms / 1000), (ms % 1000) * 1_000_000]);
  }

  private onConnected(info: EngineInfo): void {
    this.engineInfo = info;
    const engineTime = normalizeTimestamp(info.systemTime);
    if (engineTime !== null) {
      const [s, ns] = toHrTime(engineTime);
      this.clockOffsetMs = s * 1000 + Math.floor(ns / 1e6) - Date.now();
    }
    for (const reader of this.readers.values()) reader.retryNow();
  }

  /**
   * After each (re)connection. A container that runs is followed; one that is
   * not running is read when it was created since we last looked (it started and
   * exited in between) or when we hold a position for it (it ran on after we
   * stopped reading). Containers running at our very first look get start_at.
   */
  private onListed(containers: ContainerSummary[], first: boolean): void {
    if (first) {
      const selfId = resolveSelfContainerId(this.self, containers);
      this.filter = compileFilter(this.config, selfId, `receivers.${this.id}`);
      if (selfId !== null) this.logger.info("not reading the receiver's own container", { id: selfId.slice(0, 12), source: this.self?.source });
      // Positions of containers removed while we were away are of no further use.
      const existing = new Set(containers.map((c) => c.id));
      for (const id of this.checkpoints.ids()) if (!existing.has(id)) this.checkpoints.delete(id);
    }
    const lookedLast = Math.floor((this.lastLookMs + this.clockOffsetMs) / 1000) - LOOK_MARGIN_SECONDS;
    for (const c of containers) {
      if (this.skipped.has(c.id)) continue;
      const reader = this.readers.get(c.id);
      if (reader !== undefined) {
        if (c.state === 'running' || !reader.finishedReading) reader.wake();
        continue;
      }
      const unseen = c.created >= lookedLast;
      if (c.state === 'running') this.track(c.id, first && !unseen && this.config.start_at === 'end');
      else if (unseen || this.checkpoints.get(c.id) !== undefined) this.track(c.id, false);
    }
  }

  private onEvent(event: EngineEvent): void {
    if (this.state !== 'running') return;
    const reader = this.readers.get(event.id);
    if (this.config.events) this.emitEvent(event, reader);
    switch (event.action) {
      case 'create':
        // Follow from creation: the log file is watched before the container runs, so one
        // that prints and exits at once (docker run --rm) is still read in full.
        this.track(event.id, false, event);
        break;
      case 'start':
        reader?.containerStarted();
        if (reader !== undefined) reader.wake();
        else if (this.pending.has(event.id)) this.eventWhilePending.set(event.id, 'start');
        else this.track(event.id, false, event);
        break;
      case 'rename':
        if (reader !== undefined) void this.refresh(reader);
        // A new name may now be included.
        else if (this.filter.usesNames && this.skipped.delete(event.id)) this.track(event.id, false);
        break;
      case 'destroy':
        this.skipped.delete(event.id);
        // A reader still draining the last lines finds out by itself (inspect → 404).
        if (reader === undefined) this.checkpoints.delete(event.id);
        else reader.containerRemoved();
        break;
      case 'die':
        // A follow stream ends by itself after the last line; a file stream is told.
        if (reader !== undefined) reader.containerExited();
        else if (this.pending.has(event.id)) this.eventWhilePending.set(event.id, 'die');
        break;
      default:
        break;
    }
  }

  /**
   * Lifecycle events go out next to the logs, on the container's Resource. A
   * start event comes before the reader exists: it waits for the inspect.
   */
  private emitEvent(event: EngineEvent, reader: ContainerReader | undefined): void {
    const send = (r: ContainerReader): void => {
      if (event.action === 'rename') {
        // The rename's record belongs to the new name: refresh first.
        void this.refresh(r).then(() => this.deliverEvent(event, r));
        return;
      }
      this.deliverEvent(event, r);
    };
    if (reader !== undefined) {
      send(reader);
      return;
    }
    // Track now (the event handler below would too) so the inspect is under way.
    if (event.action === 'start') this.track(event.id, false);
    // Events that come while the container is inspected wait for it, in order (start before die).
    void this.pending.get(event.id)?.then(() => {
      const created = this.readers.get(event.id);
      if (created !== undefined) send(created);
    });
  }

  private deliverEvent(event: EngineEvent, reader: ContainerReader): void {
    const record = eventRecord(event, reader.containerResource, hrTimeNow());
    if (record === null) return;
    this.metrics.add('otelcol_receiver_accepted_log_records', 1, { receiver: this.id });
    this.consumer.consume([record], 256, () => undefined);
  }

  /** `seen`: what an event said of the container, for when it is gone before the inspect. */
  private track(id: string, startAtEnd: boolean, seen?: EngineEvent): void {
    if (this.readers.has(id) || this.pending.has(id)) return;
    const work = this.inspectUntilKnown(id, seen)
      .then((details) => {
        if (details !== null) this.addReader(details, startAtEnd);
      })
      .finally(() => {
        this.pending.delete(id);
        // Gone before it was known (or we stopped): nothing waits for it any more.
        this.eventWhilePending.delete(id);
      });
    this.pending.set(id, work);
  }

  /**
   * Inspects a container, retrying with backoff while the engine is slow or away
   * (a busy engine can take seconds): a container must not wait for the next
   * reconnection to be read. Null when it is gone or we stop.
   */
  private async inspectUntilKnown(id: string, seen?: EngineEvent): Promise<ContainerDetails | null> {
    const backoff = new Backoff({ initialMs: this.config.reconnect.initial_interval, maxMs: this.config.reconnect.max_interval });
    while (this.state === 'running' || this.state === 'starting') {
      try {
        return await this.engine.inspect(id, this.stopping.signal);
      } catch (err) {
        if (err instanceof ReceiverError && err.code === 'CONTAINER_NOT_FOUND') {
          // A container the filter would not have collected is no loss (its event carried its name, image and labels).
          if (seen !== undefined && !this.filter.decide(factsFromEvent(seen)).collect) {
            this.logger.debug('a container that is not collected was removed before it could be inspected', { id });
            return null;
          }
          // Started and removed before we could look: its lines are gone with it.
          this.metrics.add('docker_logs.containers.missed', 1, { reason: 'removed' });
          this.logger.warn('a container was removed before it could be read', { id });
          return null;
        }
        if (this.state !== 'running') return null;
        this.logger.warnOnce(`inspect:${id}`, 'cannot inspect a container yet; retrying', { id, error: errorMessage(err) });
        await sleep(backoff.next(), this.stopping.signal);
      }
    }
    return null;
  }

  private addReader(details: ContainerDetails, startAtEnd: boolean): void {
    const lastEvent = this.eventWhilePending.get(details.id);
    this.eventWhilePending.delete(details.id);
    if (this.state !== 'running' || this.readers.has(details.id)) return;
    const decision = this.filter.decide(details);
    if (!decision.collect) {
      this.skipped.set(details.id, { name: details.name, decision });
      this.logger.debug('not collecting container', { id: details.id.slice(0, 12), name: details.name, rule: decision.rule });
      return;
    }
    this.selectedBy.set(details.id, decision.rule);
    const shaping = this.shapingFor(details);
    const saved: ContainerPosition | undefined = this.checkpoints.get(details.id);
    const reader = new ContainerReader(this.readerContext(), details, saved, startAtEnd, shaping);
    if (lastEvent !== undefined) reader.containerStarted();
    if (lastEvent === 'die') reader.containerExited();
    this.readers.set(details.id, reader);
    this.logger.debug('following container', { id: details.id.slice(0, 12), name: details.name, resume: saved !== undefined });
    reader.wake();
  }

  /**
   * The receiver's parse and multiline settings, overridden by the container's
   * io.opentelemetry.logs.* labels. A bad label is said once and ignored: an app
   * team's typo must not stop its logs.
   */
  private shapingFor(details: ContainerDetails): RecordShaping {
    const labels = labelSettings(details.labels);
    const warn = (problem: string): void => this.logger.warnOnce(`labels:${details.id}:${problem}`, problem, { id: details.id.slice(0, 12), name: details.name });
    labels.problems.forEach(warn);
    let multiline = this.multiline;
    if (labels.multilineStartPattern !== null || labels.multilineEndPattern !== null) {
      try {
        multiline = compileMultiline(
          { ...this.config.multiline, line_start_pattern: labels.multilineStartPattern, line_end_pattern: labels.multilineStartPattern === null ? labels.multilineEndPattern : null },
          'label io.opentelemetry.logs.multiline',
        );
      } catch (err) {
        warn(errorMessage(err));
      }
    }
    const json = labels.parse === 'json' || this.config.parse === 'json';
    if (!json && multiline === null) return PLAIN_SHAPING;
    return { record: json ? { json: this.config.json } : {}, multiline };
  }

  private async refresh(reader: ContainerReader): Promise<void> {
    try {
      const details = await this.engine.inspect(reader.id, this.stopping.signal);
      reader.updateDetails(details);
      const decision = this.filter.usesNames ? this.filter.decide(details) : null;
      if (decision !== null && !decision.collect) {
        // Renamed out of the selection: stop reading it.
        this.skipped.set(details.id, { name: details.name, decision });
        this.forget(details.id);
      }
    } catch (err) {
      this.logger.debug('cannot refresh container details', { id: reader.id, error: errorMessage(err) });
    }
  }

  private forget(id: string): void {
    const reader = this.readers.get(id);
    reader?.close();
    this.readers.delete(id);
    this.selectedBy.delete(id);
    this.checkpoints.delete(id);
  }
}

export function createLogsReceiver(config: DockerLogsReceiverConfig, settings: ReceiverSettings, consumer: LogsConsumer): DockerLogsReceiver {
  return new DockerLogsReceiver(config, settings, consumer);
}

/**
 * A container's facts as its event tells them: Docker puts the name, the image
 * and every label in a container event's attributes.
 */
function factsFromEvent(event: EngineEvent): ContainerFacts {
  const { name = '', image = '', ...labels } = event.attributes;
  return { id: event.id, name, image, labels };
}
