/** `--name value` / `--name=value` flags for the bench tools, with Go-style durations. */
import { parseDuration } from '../../src/config/units.js';

export class Flags {
  private readonly values = new Map<string, string>();
  private readonly known = new Set<string>();

  constructor(argv: readonly string[] = process.argv.slice(2)) {
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i];
      if (arg === '--') continue;
      if (!arg.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(arg)} (flags look like --name value)`);
      const eq = arg.indexOf('=');
      if (eq > 0) {
        this.values.set(arg.slice(2, eq), arg.slice(eq + 1));
      } else {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith('--')) this.values.set(arg.slice(2), 'true');
        else {
          this.values.set(arg.slice(2), next);
          i++;
        }
      }
    }
  }

  string(name: string, fallback: string): string {
    this.known.add(name);
    return this.values.get(name) ?? fallback;
  }

  int(name: string, fallback: number, min = 0): number {
    const text = this.string(name, String(fallback));
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer >= ${min}, got ${JSON.stringify(text)}`);
    return n;
  }

  number(name: string, fallback: number, min = 0): number {
    const text = this.string(name, String(fallback));
    const n = Number(text);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name}: expected a number >= ${min}, got ${JSON.stringify(text)}`);
    return n;
  }

  /** Milliseconds, from a Go-style duration such as 30s, 1m30s, 5m. */
  duration(name: string, fallback: string): number {
    const text = this.string(name, fallback);
    try {
      return parseDuration(text);
    } catch (err) {
      throw new Error(`--${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** One of `choices`. */
  choice<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const text = this.string(name, fallback);
    const found = choices.find((c) => c === text);
    if (found === undefined) throw new Error(`--${name}: expected one of ${choices.join(', ')}, got ${JSON.stringify(text)}`);
    return found;
  }

  bool(name: string): boolean {
    const v = this.string(name, 'false');
    return v === 'true' || v === '1' || v === 'yes';
  }

  /** Throws on flags nobody asked for (call after reading them all). */
  rejectUnknown(): void {
    const unknown = [...this.values.keys()].filter((k) => !this.known.has(k));
    if (unknown.length > 0) throw new Error(`unknown flag(s): ${unknown.map((k) => `--${k}`).join(', ')}`);
  }
}
