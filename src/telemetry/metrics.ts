/**
 * The receiver's own metrics: declared once in METRICS (name, kind, unit,
 * attributes, meaning), created from that table, and documented from it in the
 * README (a test checks the two agree). Recording goes through the small typed
 * helpers below, so no other module names an instrument.
 */
import type { Attributes, Histogram, Meter } from '@opentelemetry/api';
import { createNoopMeter } from '@opentelemetry/api';

export type MetricKind = 'counter' | 'updowncounter' | 'histogram' | 'gauge';

export interface MetricDefinition {
  readonly name: string;
  readonly kind: MetricKind;
  readonly unit: string;
  readonly attributes: readonly string[];
  readonly description: string;
}

export const METRICS = [
  { name: 'docker_logs.stream.opened', kind: 'counter', unit: '{stream}', attributes: ['reason', 'source'], description: 'Log streams opened; reason: start, rotation, reconnect, widen; source: api or files.' },
  { name: 'docker_logs.stream.closed', kind: 'counter', unit: '{stream}', attributes: ['reason'], description: 'Log streams closed; reason: timeout, end, error, container_stopped, shutdown, widen, export_failed.' },
  { name: 'docker_logs.stream.active', kind: 'updowncounter', unit: '{stream}', attributes: [], description: 'Log streams open now.' },
  { name: 'docker_logs.stream.unreleased', kind: 'gauge', unit: '{stream}', attributes: [], description: 'Streams closed more than 5 s ago whose socket has still not been released (leaked readers; should read 0).' },
  { name: 'docker_logs.stream.duration', kind: 'histogram', unit: 's', attributes: ['reason'], description: 'How long each log stream lived, by close reason.' },
  { name: 'docker_logs.stream.errors', kind: 'counter', unit: '{error}', attributes: ['error.type'], description: 'Errors opening or reading log streams, by error code.' },
  { name: 'docker_logs.containers.watched', kind: 'gauge', unit: '{container}', attributes: [], description: 'Containers the receiver follows now.' },
  { name: 'docker_logs.containers.missed', kind: 'counter', unit: '{container}', attributes: ['reason'], description: 'Containers whose logs could not be read in full; reason: removed, removed_while_reading (removed while its stream was open: its last lines may be missing), driver_unsupported, rotated.' },
  { name: 'docker_logs.file.lost', kind: 'counter', unit: 'By', attributes: ['reason', 'certain'], description: 'Bytes of json-file logs rotated or removed before they were read (reason: rotated_before_read, compressed_unreadable, file_gone; certain: false where the loss could not be proven).' },
  { name: 'docker_logs.log_records.received', kind: 'counter', unit: '{record}', attributes: ['log.iostream'], description: 'Log lines taken from containers, by stream.' },
  { name: 'docker_logs.duplicates.skipped', kind: 'counter', unit: '{record}', attributes: [], description: 'Lines a reopened stream showed again and that were dropped because they had been taken already.' },
  { name: 'docker_logs.lines.merged', kind: 'counter', unit: '{record}', attributes: [], description: 'Logical lines reassembled from several partial (16 KiB) messages.' },
  { name: 'docker_logs.lines.truncated', kind: 'counter', unit: '{record}', attributes: [], description: 'Lines longer than max_log_size, cut and flagged.' },
  { name: 'docker_logs.lag', kind: 'gauge', unit: 's', attributes: [], description: 'Seconds between now and the timestamp of the newest line acknowledged by the exporters.' },
  { name: 'otelcol_receiver_accepted_log_records', kind: 'counter', unit: '{record}', attributes: ['receiver'], description: 'Log records the receiver pushed into the pipeline (collector name).' },
  { name: 'otelcol_exporter_sent_log_records', kind: 'counter', unit: '{record}', attributes: ['exporter'], description: 'Log records the backend acknowledged (collector name).' },
  { name: 'otelcol_exporter_send_failed_log_records', kind: 'counter', unit: '{record}', attributes: ['exporter'], description: 'Log records given up on after retries; their positions are not committed (collector name).' },
  { name: 'otelcol_exporter_queue_size', kind: 'gauge', unit: '{record}', attributes: ['exporter'], description: 'Log records held in memory waiting for export (collector name).' },
  { name: 'otelcol_exporter_queue_capacity', kind: 'gauge', unit: '{record}', attributes: ['exporter'], description: 'Records the queue may hold before reading pauses (collector name).' },
  { name: 'otelcol_process_memory_rss', kind: 'gauge', unit: 'By', attributes: [], description: 'Resident set size of the process (collector name).' },
  { name: 'otelcol_process_runtime_heap_alloc_bytes', kind: 'gauge', unit: 'By', attributes: [], description: 'V8 heap in use (collector name).' },
  { name: 'otelcol_process_cpu_seconds', kind: 'gauge', unit: 's', attributes: [], description: 'CPU time used by the process, user + system (collector name).' },
  { name: 'otelcol_process_uptime', kind: 'gauge', unit: 's', attributes: [], description: 'Seconds since the process started (collector name).' },
  { name: 'docker_logs.process.open_fds', kind: 'gauge', unit: '{fd}', attributes: [], description: 'Open file descriptors of the process (Linux).' },
  { name: 'docker_logs.process.active_handles', kind: 'gauge', unit: '{handle}', attributes: [], description: 'Active libuv handles and requests (sockets, timers, files) of the process.' },
] as const satisfies readonly MetricDefinition[];

export type MetricName = (typeof METRICS)[number]['name'];

export type StreamOpenReason = 'start' | 'rotation' | 'reconnect' | 'widen';
export type StreamCloseReason = 'timeout' | 'end' | 'error' | 'container_stopped' | 'shutdown' | 'widen' | 'export_failed';
export type MissedReason = 'removed' | 'removed_while_reading' | 'driver_unsupported' | 'rotated';

/** Something that reports the value of a gauge when metrics are collected. */
export type GaugeSource = () => Array<{ value: number; attributes?: Attributes }>;

/**
 * A running total for one counter and one set of attributes. Hot paths keep a
 * cell and add to `value` directly (a plain number add per line); the meter
 * reads the cells when it collects, through observable instruments.
 */
export interface CounterCell {
  value: number;
  readonly attributes: Attributes | undefined;
}

function attributesKey(attributes: Attributes | undefined): string {
  if (attributes === undefined) return '';
  let key = '';
  for (const k of Object.keys(attributes).sort()) key += `${k}=${String(attributes[k])};`;
  return key;
}

export class ReceiverMetrics {
  private readonly cells = new Map<MetricName, Map<string, CounterCell>>();
  private readonly histograms = new Map<MetricName, Histogram>();
  private readonly gaugeSources = new Map<MetricName, GaugeSource[]>();

  constructor(meter: Meter = createNoopMeter()) {
    for (const def of METRICS as readonly MetricDefinition[]) {
      const name = def.name as MetricName;
      const options = { unit: def.unit, description: def.description };
      switch (def.kind) {
        case 'counter':
        case 'updowncounter': {
          this.cells.set(name, new Map());
          const instrument = def.kind === 'counter' ? meter.createObservableCounter(name, options) : meter.createObservableUpDownCounter(name, options);
          instrument.addCallback((result) => {
            for (const cell of this.cells.get(name)?.values() ?? []) result.observe(cell.value, cell.attributes);
          });
          break;
        }
        case 'histogram':
          this.histograms.set(name, meter.createHistogram(name, options));
          break;
        case 'gauge': {
          const gauge = meter.createObservableGauge(name, options);
          gauge.addCallback((result) => {
            for (const source of this.gaugeSources.get(name) ?? []) {
              for (const point of safeRead(source)) result.observe(point.value, point.attributes);
            }
          });
          break;
        }
      }
    }
  }

  /** The cell of a counter for these attributes, created on first use; keep it for hot paths. */
  cell(name: MetricName, attributes?: Attributes): CounterCell {
    const byKey = this.cells.get(name);
    if (byKey === undefined) throw new Error(`${name} is not a counter`);
    const key = attributesKey(attributes);
    let cell = byKey.get(key);
    if (cell === undefined) {
      cell = { value: 0, attributes: attributes === undefined ? undefined : { ...attributes } };
      byKey.set(key, cell);
    }
    return cell;
  }

  add(name: MetricName, value: number, attributes?: Attributes): void {
    if (value === 0) return;
    this.cell(name, attributes).value += value;
  }

  /** The current total of a counter over all attribute sets (for status pages and tests). */
  total(name: MetricName): number {
    let sum = 0;
    for (const cell of this.cells.get(name)?.values() ?? []) sum += cell.value;
    return sum;
  }

  record(name: MetricName, value: number, attributes?: Attributes): void {
    this.histograms.get(name)?.record(value, attributes);
  }

  /** Registers a source for a gauge; returns a function that unregisters it. */
  observe(name: MetricName, source: GaugeSource): () => void {
    const list = this.gaugeSources.get(name) ?? [];
    list.push(source);
    this.gaugeSources.set(name, list);
    return () => {
      const current = this.gaugeSources.get(name) ?? [];
      const i = current.indexOf(source);
      if (i >= 0) current.splice(i, 1);
    };
  }
}

function safeRead(source: GaugeSource): Array<{ value: number; attributes?: Attributes }> {
  try {
    return source();
  } catch {
    // A gauge that cannot be read this time is skipped; collection must go on.
    return [];
  }
}
