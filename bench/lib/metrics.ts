/**
 * The receiver's own metrics read in process: a MeterProvider with a reader we
 * collect() from on demand, passed to the service as ServiceSettings.meterProvider.
 */
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';

/** A pull reader: nothing is exported, collect() returns what the instruments hold now (cumulative). */
export class CollectingReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export interface InMemoryMetrics {
  meterProvider: MeterProvider;
  reader: CollectingReader;
  /** Sum of a counter (or up-down counter) over its points, optionally only points whose attribute `key` equals `value`. */
  sum(name: string, where?: { key: string; value: string }): Promise<number>;
  /** Last values of a gauge, summed over its points; null when it reported nothing. */
  gauge(name: string): Promise<number | null>;
  /** Every counter point of `name`, by the value of attribute `key`. */
  sumBy(name: string, key: string): Promise<Record<string, number>>;
  shutdown(): Promise<void>;
}

export function createInMemoryMetrics(): InMemoryMetrics {
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const points = async (name: string, type: DataPointType): Promise<Array<{ attributes: Record<string, unknown>; value: number }>> => {
    const { resourceMetrics } = await reader.collect();
    const out: Array<{ attributes: Record<string, unknown>; value: number }> = [];
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (metric.descriptor.name !== name || metric.dataPointType !== type) continue;
        for (const p of metric.dataPoints) if (typeof p.value === 'number') out.push({ attributes: p.attributes, value: p.value });
      }
    }
    return out;
  };
  return {
    meterProvider,
    reader,
    async sum(name, where) {
      let total = 0;
      for (const p of await points(name, DataPointType.SUM)) {
        if (where === undefined || p.attributes[where.key] === where.value) total += p.value;
      }
      return total;
    },
    async gauge(name) {
      const list = await points(name, DataPointType.GAUGE);
      return list.length === 0 ? null : list.reduce((a, p) => a + p.value, 0);
    },
    async sumBy(name, key) {
      const out: Record<string, number> = {};
      for (const p of await points(name, DataPointType.SUM)) {
        const v = p.attributes[key];
        const k = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
        out[k] = (out[k] ?? 0) + p.value;
      }
      return out;
    },
    shutdown: () => meterProvider.shutdown(),
  };
}
