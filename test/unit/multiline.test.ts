import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReceiverError } from '../../src/errors.js';
import type { IoStream, LogLine } from '../../src/framing/log-framer.js';
import { MULTILINE_DEFAULTS, MultilineAggregator, compileMultiline, linePatternProblem } from '../../src/framing/multiline.js';
import type { CompiledMultiline, MultilineConfig } from '../../src/framing/multiline.js';
import { fromHrTime } from '../../src/framing/timestamp.js';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function ts(i: number): string {
  return fromHrTime([1_714_564_800 + i, 123_456_789]);
}

function mkLine(stream: IoStream, text: string, i = 0, extra: Partial<LogLine> = {}): LogLine {
  return { stream, timestamp: ts(i), text, truncated: false, size: Buffer.byteLength(text), pieces: 1, ...extra };
}

function config(overrides: Partial<MultilineConfig>): MultilineConfig {
  return { line_start_pattern: null, line_end_pattern: null, ...MULTILINE_DEFAULTS, ...overrides };
}

interface Emitted {
  line: LogLine;
  position: number;
}

/** An aggregator on a fake clock; positions are the index of each pushed line. */
function harness(compiled: CompiledMultiline) {
  const out: Emitted[] = [];
  const clock = { now: 0 };
  const agg = new MultilineAggregator<number>(compiled, (line, position) => out.push({ line, position }), { now: () => clock.now });
  let index = 0;
  return {
    agg,
    out,
    clock,
    /** Pushes each text as one line of `stream`; returns the positions used. */
    push(stream: IoStream, ...texts: string[]): number[] {
      return texts.map((text) => {
        const i = index++;
        agg.push(mkLine(stream, text, i), i);
        return i;
      });
    },
    texts(): string[] {
      return out.map((e) => e.line.text);
    },
  };
}

const start = (pattern: string, more: Partial<MultilineConfig> = {}): CompiledMultiline =>
  compileMultiline(config({ line_start_pattern: pattern, ...more }));
const end = (pattern: string, more: Partial<MultilineConfig> = {}): CompiledMultiline =>
  compileMultiline(config({ line_end_pattern: pattern, ...more }));

// ---------------------------------------------------------------------------------------------
// Stack traces
// ---------------------------------------------------------------------------------------------

const PYTHON_TRACEBACK = [
  'Traceback (most recent call last):',
  '  File "/app/main.py", line 12, in <module>',
  '    main()',
  '  File "/app/main.py", line 8, in main',
  '    raise ValueError("x")',
  'ValueError: x',
];

describe('Python tracebacks', () => {
  test('with ^[^\\s] the indented frames join the Traceback line, but the exception line starts a record of its own', () => {
    // The naive pattern: every unindented line starts a record. The last line of a traceback is
    // unindented, so it is split off; this test documents the pitfall.
    const h = harness(start('^[^\\s]'));
    h.push('stderr', 'starting', ...PYTHON_TRACEBACK, 'next line');
    h.agg.flushAll();
    assert.deepEqual(h.texts(), ['starting', PYTHON_TRACEBACK.slice(0, 5).join('\n'), 'ValueError: x', 'next line']);
  });

  test('a start pattern that excludes the exception line keeps a bare traceback whole', () => {
    // A record starts at any line that is not indented, not blank, not an exception line and
    // not one of the sentences Python puts between chained tracebacks.
    const pattern = '^(?!\\s|$|\\w[\\w.]*(Error|Exception|Warning|Interrupt|Exit)\\b|During handling|The above exception)';
    const h = harness(start(pattern));
    h.push('stderr', 'starting', ...PYTHON_TRACEBACK, 'INFO next');
    h.agg.flushAll();
    assert.deepEqual(h.texts(), ['starting', PYTHON_TRACEBACK.join('\n'), 'INFO next']);

    // A per-line pattern cannot tell that a "Traceback" line follows "During handling ...": a
    // chained traceback becomes two records, each a whole traceback.
    const second = ['Traceback (most recent call last):', '  File "/app/main.py", line 14, in <module>', '    cleanup()', 'RuntimeError: cleanup failed'];
    const chain = ['', 'During handling of the above exception, another exception occurred:', ''];
    const h2 = harness(start(pattern));
    h2.push('stderr', ...PYTHON_TRACEBACK, ...chain, ...second);
    h2.agg.flushAll();
    assert.deepEqual(h2.texts(), [[...PYTHON_TRACEBACK, ...chain].join('\n'), second.join('\n')]);
  });

  test('with timestamp-prefixed logging, logger.exception output is one record', () => {
    const h = harness(start('^\\d{4}-\\d{2}-\\d{2} '));
    const record = ['2024-05-01 12:00:00,123 ERROR request failed', ...PYTHON_TRACEBACK];
    h.push('stderr', ...record, '2024-05-01 12:00:01,000 INFO recovered');
    h.agg.flushAll();
    assert.deepEqual(h.texts(), [record.join('\n'), '2024-05-01 12:00:01,000 INFO recovered']);
  });
});

const JAVA_TRACE = [
  'Exception in thread "main" java.lang.IllegalStateException: boom',
  '\tat com.x.Y.z(Y.java:10)',
  '\tat com.x.Main.main(Main.java:5)',
  'Caused by: java.io.IOException: disk full',
  '\tat com.x.Y.read(Y.java:20)',
  '\t... 3 more',
];

describe('Java stack traces', () => {
  test('^\\S splits at "Caused by:" (it starts with a non-space): the pitfall', () => {
    const h = harness(start('^\\S'));
    h.push('stderr', ...JAVA_TRACE);
    h.agg.flushAll();
    assert.deepEqual(h.texts(), [JAVA_TRACE.slice(0, 3).join('\n'), JAVA_TRACE.slice(3).join('\n')]);
  });

  test('a pattern for the first line of a trace keeps it whole, "Caused by" included', () => {
    const h = harness(start('^(\\d{4}-\\d{2}-\\d{2}|Exception|[A-Za-z.]+Exception)'));
    h.push('stderr', ...JAVA_TRACE, 'java.lang.RuntimeException: again', '\tat com.x.Y.z(Y.java:11)');
    h.agg.flushAll();
    assert.deepEqual(h.texts(), [JAVA_TRACE.join('\n'), 'java.lang.RuntimeException: again\n\tat com.x.Y.z(Y.java:11)']);
  });

  test('a timestamp-prefixed log (logback/log4j layout) keeps message and trace together', () => {
    const h = harness(start('^\\d{4}-\\d{2}-\\d{2} '));
    const first = ['2024-05-01 12:00:00.123 ERROR [main] com.x.Y - request failed', ...JAVA_TRACE.slice(1)];
    h.push('stdout', '2024-05-01 11:59:59.000 INFO  [main] com.x.Y - handling', ...first, '2024-05-01 12:00:01.000 INFO  [main] com.x.Y - next');
    h.agg.flushAll();
    assert.deepEqual(h.texts(), [
      '2024-05-01 11:59:59.000 INFO  [main] com.x.Y - handling',
      first.join('\n'),
      '2024-05-01 12:00:01.000 INFO  [main] com.x.Y - next',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Record shape, positions, streams
// ---------------------------------------------------------------------------------------------

describe('records', () => {
  test('a merged record has the first timestamp, the joined text, summed sizes and pieces, and the last position', () => {
    const out: Emitted[] = [];
    const agg = new MultilineAggregator<number>(start('^\\S'), (line, position) => out.push({ line, position }), { now: () => 0 });
    agg.push(mkLine('stdout', 'head', 1, { pieces: 2, size: 4 }), 10);
    agg.push(mkLine('stdout', ' ab', 2, { truncated: true, size: 50_000 }), 11);
    agg.push(mkLine('stdout', ' é', 3), 12);
    assert.equal(out.length, 0);
    assert.equal(agg.pendingLines, 3);
    agg.flushAll();
    assert.equal(out.length, 1);
    assert.deepEqual(out[0], {
      line: { stream: 'stdout', timestamp: ts(1), text: 'head\n ab\n é', truncated: true, size: 4 + 1 + 50_000 + 1 + 3, pieces: 4 },
      position: 12,
    });
    assert.equal(agg.pendingLines, 0);
  });

  test('a record of one line is emitted as the very object that was pushed', () => {
    const out: LogLine[] = [];
    const agg = new MultilineAggregator<number>(start('^\\S'), (line) => out.push(line), { now: () => 0 });
    const a = mkLine('stdout', 'one');
    const b = mkLine('stdout', 'two');
    agg.push(a, 0);
    agg.push(b, 1);
    agg.flushAll();
    assert.equal(out[0], a);
    assert.equal(out[1], b);
  });

  test('lines before the first start match form their own record', () => {
    const h = harness(start('^START'));
    h.push('stdout', '  tail of a trace', '  more tail', 'START a', '  a.1');
    h.agg.flushAll();
    assert.deepEqual(h.texts(), ['  tail of a trace\n  more tail', 'START a\n  a.1']);
  });

  test('stdout and stderr interleaved aggregate separately', () => {
    const h = harness(start('^\\S'));
    h.push('stdout', 'out A');
    h.push('stderr', 'err A');
    h.push('stdout', ' out A.1');
    h.push('stderr', ' err A.1');
    h.push('stderr', ' err A.2');
    h.push('stdout', 'out B');
    h.push('stderr', 'err B');
    h.agg.flushAll();
    assert.deepEqual(
      h.out.map((e) => [e.line.stream, e.line.text, e.position]),
      [
        ['stdout', 'out A\n out A.1', 2],
        ['stderr', 'err A\n err A.1\n err A.2', 4],
        // flushAll: the record that began first comes first.
        ['stdout', 'out B', 5],
        ['stderr', 'err B', 6],
      ],
    );
  });
});

describe('line_end_pattern', () => {
  test('a matching line ends the record; a matching line alone is a record at once', () => {
    const h = harness(end(';\\s*$'));
    h.push('stdout', 'SELECT *', '  FROM t', '  WHERE x = 1;', 'COMMIT;');
    assert.deepEqual(h.texts(), ['SELECT *\n  FROM t\n  WHERE x = 1;', 'COMMIT;']);
    assert.deepEqual(h.out.map((e) => e.position), [2, 3]);
    assert.equal(h.agg.pendingLines, 0);
    assert.equal(h.agg.nextDeadline(), null);
  });

  test('lines without an end are flushed by the timeout or at the end of the stream', () => {
    const h = harness(end('^END$', { flush_timeout: 100 }));
    h.push('stdout', 'a', 'b');
    h.clock.now = 100;
    h.agg.flushDue();
    assert.deepEqual(h.texts(), ['a\nb']);
    h.push('stdout', 'c');
    h.agg.flushAll();
    assert.deepEqual(h.texts(), ['a\nb', 'c']);
  });
});

describe('flush timeout', () => {
  test('a pending record is emitted once its stream was idle for flush_timeout (fake clock)', () => {
    const h = harness(start('^\\S', { flush_timeout: 500 }));
    h.push('stdout', 'first');
    assert.equal(h.agg.nextDeadline(), 500);
    h.agg.flushDue(499);
    assert.equal(h.out.length, 0);
    h.clock.now = 300;
    h.push('stdout', ' continued');
    assert.equal(h.agg.nextDeadline(), 800, 'each line of the stream moves the deadline');
    h.agg.flushDue(600);
    assert.equal(h.out.length, 0);
    h.agg.flushDue(800);
    assert.deepEqual(h.texts(), ['first\n continued']);
    assert.equal(h.agg.nextDeadline(), null);
    h.agg.flushDue(10_000);
    assert.equal(h.out.length, 1, 'nothing left to flush');
  });

  test('the deadline is per stream: stderr lines do not keep a stdout record waiting', () => {
    const h = harness(start('^\\S', { flush_timeout: 500 }));
    h.push('stdout', 'out');
    h.clock.now = 400;
    h.push('stderr', 'err');
    assert.equal(h.agg.nextDeadline(), 500);
    h.agg.flushDue(500);
    assert.deepEqual(h.texts(), ['out']);
    assert.equal(h.agg.nextDeadline(), 900);
    h.agg.flushDue(900);
    assert.deepEqual(h.texts(), ['out', 'err']);
  });

  test('flushDue without an argument reads the injected clock', () => {
    const h = harness(start('^\\S', { flush_timeout: 50 }));
    h.push('stdout', 'x');
    h.agg.flushDue();
    assert.equal(h.out.length, 0);
    h.clock.now = 50;
    h.agg.flushDue();
    assert.equal(h.out.length, 1);
  });
});

describe('limits', () => {
  test('max_lines: the record is emitted when it has that many lines; the next line starts another', () => {
    const h = harness(start('^\\S', { max_lines: 3 }));
    h.push('stdout', 'a', ' 1', ' 2');
    assert.deepEqual(h.texts(), ['a\n 1\n 2'], 'emitted at once, not on the next line');
    h.push('stdout', ' 3', ' 4', 'b');
    h.agg.flushAll();
    assert.deepEqual(h.texts(), ['a\n 1\n 2', ' 3\n 4', 'b']);
  });

  test('max_lines 1 turns aggregation off', () => {
    const h = harness(start('^\\S', { max_lines: 1 }));
    h.push('stdout', 'a', ' 1');
    assert.deepEqual(h.texts(), ['a', ' 1']);
    assert.equal(h.agg.pendingLines, 0);
  });

  test('max_bytes: a line that would not fit is not cut; the record is emitted before it', () => {
    // 'aaaa' + '\n' + ' bbbb' = 10 bytes; + '\n' + ' cccc' would be 16 > 12.
    const h = harness(start('^\\S', { max_bytes: 12 }));
    h.push('stdout', 'aaaa', ' bbbb', ' cccc');
    assert.deepEqual(h.texts(), ['aaaa\n bbbb']);
    h.agg.flushAll();
    assert.deepEqual(h.texts(), ['aaaa\n bbbb', ' cccc']);
    assert.ok(h.out.every((e) => !e.line.truncated));
  });

  test('max_bytes: a record that reaches the limit exactly is emitted at once', () => {
    const h = harness(start('^\\S', { max_bytes: 10 }));
    h.push('stdout', 'aaaa', ' bbbb');
    assert.deepEqual(h.texts(), ['aaaa\n bbbb']);
  });

  test('max_bytes: a single longer line is cut at a character boundary and flagged truncated', () => {
    const h = harness(start('^\\S', { max_bytes: 8 }));
    h.push('stdout', 'x');
    // 'ééééé' is 10 bytes; 8 bytes hold 4 characters.
    h.push('stdout', ' éééé');
    h.agg.flushAll();
    assert.deepEqual(
      h.out.map((e) => [e.line.text, e.line.truncated, e.line.size]),
      [
        ['x', false, 1],
        [' ééé', true, 9],
      ],
    );
    // Cutting in the middle of a 2-byte character steps back to its start.
    const h2 = harness(start('^\\S', { max_bytes: 4 }));
    h2.push('stdout', 'aéé');
    assert.deepEqual(h2.out.map((e) => [e.line.text, e.line.truncated, e.line.size]), [['aé', true, 5]]);
  });

  test('a truncated input line makes the record truncated', () => {
    const out: LogLine[] = [];
    const agg = new MultilineAggregator<number>(start('^\\S'), (line) => out.push(line), { now: () => 0 });
    agg.push(mkLine('stdout', 'head'), 0);
    agg.push(mkLine('stdout', ' cut…', 1, { truncated: true, size: 2_000_000 }), 1);
    agg.flushAll();
    assert.equal(out[0].truncated, true);
    assert.equal(out[0].size, 4 + 1 + 2_000_000);
  });
});

describe('reset and positions', () => {
  test('reset discards pending lines and forgets positions', () => {
    const h = harness(start('^\\S'));
    h.push('stdout', 'a', ' 1');
    h.push('stderr', 'e');
    assert.equal(h.agg.pendingLines, 3);
    h.agg.reset();
    assert.equal(h.agg.pendingLines, 0);
    assert.equal(h.agg.nextDeadline(), null);
    assert.equal(h.agg.settledPosition(), undefined);
    h.agg.flushAll();
    assert.equal(h.out.length, 0);
    // Usable again afterwards.
    h.push('stdout', 'b');
    h.agg.flushAll();
    assert.deepEqual(h.texts(), ['b']);
  });

  test('settledPosition never passes a pending line, on either stream', () => {
    const h = harness(start('^\\S'));
    assert.equal(h.agg.settledPosition(), undefined, 'nothing pushed yet');
    h.push('stdout', 'a'); // 0
    assert.equal(h.agg.settledPosition(), undefined, 'the pending record began with the first push');
    h.push('stdout', ' a1'); // 1
    h.push('stderr', 'e1', 'e2', 'e3'); // 2, 3, 4: e1 and e2 are emitted (position 2, 3)
    assert.deepEqual(h.out.map((e) => e.position), [2, 3]);
    assert.equal(h.agg.settledPosition(), undefined, 'stdout still holds lines 0..1');
    h.push('stdout', 'b'); // 5: emits 'a\n a1' at position 1
    assert.deepEqual(h.out.map((e) => e.position), [2, 3, 1], 'records are not emitted in position order');
    assert.equal(h.agg.settledPosition(), 3, 'e3 (4) is the oldest pending line');
    h.agg.flushAll();
    assert.equal(h.agg.settledPosition(), 5);
  });
});

describe('compileMultiline', () => {
  test('needs exactly one pattern', () => {
    for (const c of [config({}), config({ line_start_pattern: 'a', line_end_pattern: 'b' })]) {
      assert.throws(() => compileMultiline(c), (err: unknown) => err instanceof ReceiverError && err.code === 'CONFIG_INVALID' && /exactly one/.test(err.message));
    }
  });

  test('an invalid regular expression is a CONFIG_INVALID naming the setting and the reason', () => {
    assert.throws(
      () => compileMultiline(config({ line_start_pattern: '^(\\d+' })),
      (err: unknown) => {
        assert.ok(err instanceof ReceiverError);
        assert.equal(err.code, 'CONFIG_INVALID');
        assert.equal(err.message, 'multiline.line_start_pattern: invalid regular expression "^(\\\\d+": Unterminated group');
        return true;
      },
    );
    assert.throws(
      () => compileMultiline(config({ line_end_pattern: '[' }), 'label io.opentelemetry.logs.multiline'),
      /^ReceiverError: label io\.opentelemetry\.logs\.multiline\.line_end_pattern: invalid regular expression "\[": /,
    );
  });

  test('rejects empty patterns and non-positive limits', () => {
    assert.throws(() => compileMultiline(config({ line_start_pattern: '' })), /line_start_pattern: must not be empty/);
    assert.throws(() => compileMultiline(config({ line_start_pattern: 'a', max_lines: 0 })), /multiline\.max_lines: expected a positive integer, got 0/);
    assert.throws(() => compileMultiline(config({ line_start_pattern: 'a', max_bytes: 1.5 })), /multiline\.max_bytes/);
    assert.throws(() => compileMultiline(config({ line_start_pattern: 'a', flush_timeout: -1 })), /multiline\.flush_timeout/);
  });

  test('a leading Go-style flag group becomes RegExp flags', () => {
    const compiled = compileMultiline(config({ line_start_pattern: '(?i)^error' }));
    assert.equal(compiled.pattern.flags, 'i');
    assert.ok(compiled.pattern.test('ERROR: x'));
    assert.equal(compiled.source, '(?i)^error');
    assert.equal(compiled.mode, 'line_start');
    assert.equal(compileMultiline(config({ line_end_pattern: '(?is)x' })).pattern.flags, 'is');
  });

  test('linePatternProblem (for the config schema) agrees with compileMultiline', () => {
    assert.equal(linePatternProblem('(?i)^error'), null);
    assert.equal(linePatternProblem('^\\d{4}-'), null);
    assert.equal(linePatternProblem('^(\\d+'), 'invalid regular expression "^(\\\\d+": Unterminated group');
    assert.equal(linePatternProblem(''), 'must not be empty');
  });

  test('the pattern is never global or sticky (test() would carry lastIndex between lines)', () => {
    const compiled = compileMultiline(config({ line_start_pattern: '^a' }));
    assert.equal(compiled.pattern.global || compiled.pattern.sticky, false);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: nothing is lost, duplicated, reordered or mixed
// ---------------------------------------------------------------------------------------------

interface Step {
  stream: IoStream;
  boundary: boolean;
  body: string;
  /** Clock advance before this line. */
  wait: number;
  /** Call flushDue after this line. */
  flush: boolean;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  stream: fc.constantFrom<IoStream>('stdout', 'stderr'),
  boundary: fc.boolean(),
  body: fc.stringMatching(/^[a-z ;]{0,8}$/),
  wait: fc.integer({ min: 0, max: 120 }),
  flush: fc.boolean(),
});

test('property: per stream, the emitted records are the input lines in order, within the limits, at the right positions', () => {
  fc.assert(
    fc.property(
      fc.array(stepArb, { maxLength: 60 }),
      fc.constantFrom<'line_start' | 'line_end'>('line_start', 'line_end'),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 12, max: 60 }),
      (steps, mode, maxLines, maxBytes) => {
        // Line texts are at most 9 bytes, so with max_bytes >= 12 no line is ever cut.
        const compiled =
          mode === 'line_start'
            ? start('^S', { max_lines: maxLines, max_bytes: maxBytes, flush_timeout: 100 })
            : end(';$', { max_lines: maxLines, max_bytes: maxBytes, flush_timeout: 100 });
        const out: Emitted[] = [];
        const clock = { now: 0 };
        const agg = new MultilineAggregator<number>(compiled, (line, position) => out.push({ line, position }), { now: () => clock.now });
        const input: Record<IoStream, Array<{ text: string; index: number }>> = { stdout: [], stderr: [] };
        const emittedIndexes = new Set<number>();
        let emittedCount = 0;
        const noteEmitted = (): void => {
          // Map each newly emitted record back to the input indexes it covers.
          for (; emittedCount < out.length; emittedCount++) {
            const { line, position } = out[emittedCount];
            const n = line.text.split('\n').length;
            const lines = input[line.stream];
            const lastAt = lines.findIndex((l) => l.index === position);
            assert.ok(lastAt >= 0, 'the position is one of the stream’s lines');
            for (let k = lastAt - n + 1; k <= lastAt; k++) emittedIndexes.add(lines[k].index);
            assert.equal(line.timestamp, ts(lines[lastAt - n + 1].index), 'the timestamp of the first line');
          }
        };
        steps.forEach((step, index) => {
          clock.now += step.wait;
          const body = step.body.replace(/[S;]/g, '');
          const text = mode === 'line_start' ? (step.boundary ? `S${body}` : body) : step.boundary ? `${body};` : body;
          input[step.stream].push({ text, index });
          agg.push(mkLine(step.stream, text, index), index);
          if (step.flush) agg.flushDue();
          noteEmitted();
          // Everything up to the settled position has been emitted, and it is as far as it can be.
          const settled = agg.settledPosition() ?? -1;
          for (let k = 0; k <= settled; k++) assert.ok(emittedIndexes.has(k), `line ${k} is settled but not emitted`);
          if (settled + 1 <= index) assert.ok(!emittedIndexes.has(settled + 1), 'the line after the settled position is pending');
        });
        agg.flushAll();
        noteEmitted();
        assert.equal(agg.pendingLines, 0);
        for (const stream of ['stdout', 'stderr'] as const) {
          const records = out.filter((e) => e.line.stream === stream);
          const lines = records.flatMap((e) => e.line.text.split('\n'));
          assert.deepEqual(lines, input[stream].map((l) => l.text));
          for (const { line } of records) {
            assert.ok(line.text.split('\n').length <= maxLines);
            assert.ok(Buffer.byteLength(line.text) <= maxBytes);
            assert.equal(line.size, Buffer.byteLength(line.text));
            assert.equal(line.truncated, false);
          }
        }
        assert.equal(emittedIndexes.size, steps.length);
      },
    ),
    { numRuns: 400 },
  );
});
