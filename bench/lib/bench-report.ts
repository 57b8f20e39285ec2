/**
 * The benchmark's report: medians over the repeats, the goals with a verdict
 * each, and the markdown tables printed at the end (the same figures go to the
 * JSON file).
 */
import type { BacklogResult, CaseResult, IdleResult, LiveResult } from './bench-cases.js';
import type { MachineInfo } from './bench-proc.js';

export interface Goal {
  goal: string;
  target: string;
  measured: number | null;
  unit: string;
  pass: boolean | null;
}

export interface Summary {
  backlog: {
    baselineLinesPerSecond: number | null;
    receiver: Partial<Record<'proto' | 'json', { linesPerSecond: number; ratio: number | null; cpuMicrosPerLine: number; cpuSeconds: number; peakRssMB: number; dockerdCpuSeconds: number }>>;
    baselineCpuMicrosPerLine: number | null;
    baselineDockerdCpuSeconds: number | null;
  } | null;
  live: { cpuPercent: number; dockerdPercent: number; rssMaxMB: number; peakRssMB: number; latencyP50Ms: number; latencyP99Ms: number; eventLoopDelayP99Ms: number | null; cpuMicrosPerLine: number; achievedLinesPerSecond: number } | null;
  idle: { cpuPercent: number; dockerdPercent: number; rssMB: number; peakRssMB: number } | null;
}

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const r2 = (x: number): number => Math.round(x * 100) / 100;

export function summarize(results: readonly CaseResult[]): Summary {
  const ok = results.filter((r) => r.ok);
  const backlog = ok.filter((r): r is BacklogResult => r.case === 'backlog');
  const baseline = backlog.filter((r) => r.reader === 'baseline');
  const baseRate = baseline.length > 0 ? median(baseline.map((r) => r.linesPerSecond)) : null;
  const summary: Summary = { backlog: null, live: null, idle: null };
  if (backlog.length > 0) {
    const receiver: NonNullable<Summary['backlog']>['receiver'] = {};
    for (const enc of ['proto', 'json'] as const) {
      const runs = backlog.filter((r) => r.reader === 'receiver' && r.encoding === enc);
      if (runs.length === 0) continue;
      const rate = median(runs.map((r) => r.linesPerSecond));
      receiver[enc] = {
        linesPerSecond: Math.round(rate),
        ratio: baseRate === null ? null : r2(rate / baseRate),
        cpuMicrosPerLine: r2(median(runs.map((r) => r.cpuMicrosPerLine))),
        cpuSeconds: r2(median(runs.map((r) => r.cpuSeconds))),
        peakRssMB: r2(median(runs.map((r) => r.peakRssMB))),
        dockerdCpuSeconds: r2(median(runs.map((r) => r.dockerdCpuSeconds))),
      };
    }
    summary.backlog = {
      baselineLinesPerSecond: baseRate === null ? null : Math.round(baseRate),
      receiver,
      baselineCpuMicrosPerLine: baseline.length > 0 ? r2(median(baseline.map((r) => r.cpuMicrosPerLine))) : null,
      baselineDockerdCpuSeconds: baseline.length > 0 ? r2(median(baseline.map((r) => r.dockerdCpuSeconds))) : null,
    };
  }
  const live = ok.filter((r): r is LiveResult => r.case === 'live');
  if (live.length > 0) {
    const eld = live.map((r) => r.eventLoopDelay?.p99Ms ?? NaN);
    summary.live = {
      cpuPercent: r2(median(live.map((r) => r.cpuPercent))),
      dockerdPercent: r2(median(live.map((r) => r.dockerdPercent))),
      rssMaxMB: r2(median(live.map((r) => r.rssMaxMB))),
      peakRssMB: r2(median(live.map((r) => r.peakRssMB))),
      latencyP50Ms: median(live.map((r) => r.latencyP50Ms)),
      latencyP99Ms: median(live.map((r) => r.latencyP99Ms)),
      eventLoopDelayP99Ms: Number.isFinite(median(eld)) ? r2(median(eld)) : null,
      cpuMicrosPerLine: r2(median(live.map((r) => r.cpuMicrosPerLine))),
      achievedLinesPerSecond: Math.round(median(live.map((r) => r.achievedLinesPerSecond))),
    };
  }
  const idle = ok.filter((r): r is IdleResult => r.case === 'idle');
  if (idle.length > 0) {
    summary.idle = {
      cpuPercent: Math.round(median(idle.map((r) => r.cpuPercent)) * 1000) / 1000,
      dockerdPercent: r2(median(idle.map((r) => r.dockerdPercent))),
      rssMB: r2(median(idle.map((r) => r.rssMaxMB))),
      peakRssMB: r2(median(idle.map((r) => r.peakRssMB))),
    };
  }
  return summary;
}

export function goals(s: Summary): Goal[] {
  const out: Goal[] = [];
  const add = (goal: string, target: string, measured: number | null | undefined, unit: string, pass: (x: number) => boolean): void => {
    const m = measured === undefined || measured === null || !Number.isFinite(measured) ? null : measured;
    out.push({ goal, target, measured: m, unit, pass: m === null ? null : pass(m) });
  };
  if (s.backlog !== null) {
    for (const enc of ['proto', 'json'] as const) {
      const rec = s.backlog.receiver[enc];
      if (rec === undefined) continue;
      add(`backlog (${enc}): receiver lines/s ÷ baseline lines/s`, '>= 0.9', rec.ratio, '×', (x) => x >= 0.9);
      add(`backlog (${enc}): receiver CPU per delivered line`, '<= 8', rec.cpuMicrosPerLine, 'µs', (x) => x <= 8);
    }
  }
  if (s.live !== null) {
    add('live: receiver CPU (one core = 100 %)', '<= 10', s.live.cpuPercent, '%', (x) => x <= 10);
    add('live: receiver RSS (largest sample)', '<= 100', s.live.rssMaxMB, 'MB', (x) => x <= 100);
    add('live: p99 latency (Docker timestamp → sink)', '<= 1500', s.live.latencyP99Ms, 'ms', (x) => x <= 1500);
  }
  if (s.idle !== null) {
    add('idle: receiver CPU', '<= 0.5', s.idle.cpuPercent, '%', (x) => x <= 0.5);
    add('idle: receiver RSS (largest sample)', '<= 70', s.idle.rssMB, 'MB', (x) => x <= 70);
  }
  return out;
}

const fmt = (x: number | null | undefined, digits = 2): string => (x === null || x === undefined || !Number.isFinite(x) ? '–' : Number(x.toFixed(digits)).toLocaleString('en-US', { maximumFractionDigits: digits }));
const exact = (r: CaseResult): string => (r.ok ? 'ok' : `**FAIL**`);

export function markdown(machine: MachineInfo, options: Record<string, unknown>, results: readonly CaseResult[], s: Summary, g: readonly Goal[]): string {
  const lines: string[] = [];
  lines.push(`## docker-logs-receiver benchmark`);
  lines.push('');
  lines.push(`Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, kernel ${machine.kernel}; Docker Engine ${machine.engineVersion} (API ${machine.engineApiVersion}); Node ${machine.node}; load average at start ${machine.loadAverageAtStart.join(' ')}`);
  lines.push(`Options: ${Object.entries(options).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`).join(' ')}`);
  const backlog = results.filter((r): r is BacklogResult => r.case === 'backlog');
  if (backlog.length > 0) {
    const base = s.backlog?.baselineLinesPerSecond ?? null;
    lines.push('');
    lines.push(`### Backlog drain (${fmt(backlog[0].lines, 0)} retained lines of ~100 bytes, one container, start_at: beginning)`);
    lines.push('');
    lines.push('| # | reader | encoding | wall s | lines/s | × baseline | CPU s | µs/line | peak RSS MB | dockerd CPU s | containerd CPU s | ELD p99 ms | foreign recs | exact |');
    lines.push('|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    backlog.forEach((r, i) => {
      const ratio = r.reader === 'receiver' && base !== null ? r.linesPerSecond / base : NaN;
      lines.push(`| ${i + 1} | ${r.reader}${r.profile !== undefined ? ' (profiled)' : ''} | ${r.encoding ?? '–'} | ${fmt(r.wallSeconds)} | ${fmt(r.linesPerSecond, 0)} | ${fmt(ratio)} | ${fmt(r.cpuSeconds)} | ${fmt(r.cpuMicrosPerLine)} | ${fmt(r.peakRssMB, 1)} | ${fmt(r.dockerdCpuSeconds)} | ${fmt(r.containerdCpuSeconds)} | ${fmt(r.eventLoopDelay?.p99Ms)} | ${fmt(r.foreignRecords, 0)} | ${exact(r)} |`);
    });
  }
  const live = results.filter((r): r is LiveResult => r.case === 'live');
  if (live.length > 0) {
    const l = live[0];
    lines.push('');
    lines.push(`### Live load (${l.containers} containers × ${l.ratePerContainer} lines/s for ${l.seconds} s, start_at: end, protobuf)`);
    lines.push('');
    lines.push('| # | lines | written lines/s | steady window s | CPU % | overall CPU % | µs/line | dockerd % | containerd+shims % | RSS max MB | peak RSS MB | p50 ms | p90 ms | p99 ms | max ms | ELD p99 ms | foreign recs | exact |');
    lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    live.forEach((r, i) => {
      lines.push(`| ${i + 1} | ${fmt(r.delivered, 0)}/${fmt(r.lines, 0)} | ${fmt(r.achievedLinesPerSecond, 0)} | ${fmt(r.steadySeconds, 1)} | ${fmt(r.cpuPercent)} | ${fmt(r.overallCpuPercent)} | ${fmt(r.cpuMicrosPerLine)} | ${fmt(r.dockerdPercent)} | ${fmt(r.containerdPercent)} | ${fmt(r.rssMaxMB, 1)} | ${fmt(r.peakRssMB, 1)} | ${fmt(r.latencyP50Ms, 0)} | ${fmt(r.latencyP90Ms, 0)} | ${fmt(r.latencyP99Ms, 0)} | ${fmt(r.latencyMaxMs, 0)} | ${fmt(r.eventLoopDelay?.p99Ms)} | ${fmt(r.foreignRecords, 0)} | ${exact(r)} |`);
    });
  }
  const idle = results.filter((r): r is IdleResult => r.case === 'idle');
  if (idle.length > 0) {
    lines.push('');
    lines.push(`### Idle (${idle[0].containers} sleeping containers, ${idle[0].seconds} s window after warm-up)`);
    lines.push('');
    lines.push('| # | CPU % | dockerd % | containerd+shims % | RSS MB (end) | RSS max MB | peak RSS MB | foreign recs | exact |');
    lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    idle.forEach((r, i) => {
      lines.push(`| ${i + 1} | ${fmt(r.cpuPercent, 3)} | ${fmt(r.dockerdPercent)} | ${fmt(r.containerdPercent)} | ${fmt(r.rssMB, 1)} | ${fmt(r.rssMaxMB, 1)} | ${fmt(r.peakRssMB, 1)} | ${fmt(r.foreignRecords, 0)} | ${exact(r)} |`);
    });
  }
  lines.push('');
  lines.push('### Goals (medians over the runs that passed the exact count)');
  lines.push('');
  lines.push('| goal | target | measured | verdict |');
  lines.push('|---|---:|---:|---|');
  for (const x of g) lines.push(`| ${x.goal} | ${x.target} ${x.unit} | ${fmt(x.measured, 3)} ${x.unit} | ${x.pass === null ? 'n/a' : x.pass ? 'pass' : '**FAIL**'} |`);
  const failures = results.filter((r) => !r.ok);
  if (failures.length > 0) {
    lines.push('');
    lines.push('### Failed runs');
    lines.push('');
    for (const r of failures) lines.push(`- ${r.case} run ${r.run}${'reader' in r ? ` (${r.reader}${r.encoding !== null ? `, ${r.encoding}` : ''})` : ''}: ${r.failure ?? 'failed'}`);
  }
  return lines.join('\n');
}
