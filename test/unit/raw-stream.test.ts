import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import fc from 'fast-check';
import { ChunkedDecoder, PacedStreams, RawHttpStatusError, ReadPacer, openRawStream, parseResponseHead, traceReads } from '../../src/docker/raw-stream.js';

/** Encodes payloads as HTTP/1.1 chunks, sometimes with a chunk extension, ending with the last chunk. */
function chunked(pieces: Buffer[], withExtensions: boolean): Buffer {
  const parts: Buffer[] = [];
  pieces.forEach((p, k) => {
    if (p.length === 0) return;
    const ext = withExtensions && k % 2 === 1 ? ';name=value' : '';
    parts.push(Buffer.from(`${k % 2 === 0 ? p.length.toString(16).toUpperCase() : p.length.toString(16)}${ext}\r\n`, 'latin1'), p, Buffer.from('\r\n'));
  });
  parts.push(Buffer.from(withExtensions ? '0\r\nX-Trailer: 1\r\n\r\n' : '0\r\n\r\n'));
  return Buffer.concat(parts);
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(Buffer.from(buf.subarray(from, p)));
    from = p;
  }
  out.push(Buffer.from(buf.subarray(from)));
  return out;
}

test('chunked decoding: any payloads, any chunking, any split of the bytes read', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.boolean(),
      (pieces, cuts, ext) => {
        const payloads = pieces.map((p) => Buffer.from(p));
        const wire = chunked(payloads, ext);
        const decoder = new ChunkedDecoder();
        const got: Buffer[] = [];
        for (const read of splitAt(wire, cuts)) got.push(Buffer.from(decoder.decode(read)));
        assert.deepEqual(Buffer.concat(got), Buffer.concat(payloads));
        assert.equal(decoder.done, true);
      },
    ),
    { numRuns: 500 },
  );
});

test('chunked decoding: malformed framing is an error, not silent garbage', () => {
  assert.throws(() => new ChunkedDecoder().decode(Buffer.from('zz\r\n')), /malformed chunk size/);
  assert.throws(() => new ChunkedDecoder().decode(Buffer.from('3\r\nabcXY')), /CRLF/);
  assert.throws(() => new ChunkedDecoder().decode(Buffer.from('\r\n')), /malformed chunk header/);
});

test('response head: status, chunked, content-length', () => {
  assert.deepEqual(parseResponseHead('HTTP/1.1 200 OK\r\nContent-Type: x\r\nTransfer-Encoding: chunked'), { statusCode: 200, chunked: true, contentLength: null });
  assert.deepEqual(parseResponseHead('HTTP/1.0 404 Not Found\r\ncontent-length: 12'), { statusCode: 404, chunked: false, contentLength: 12 });
  assert.equal(parseResponseHead('SSH-2.0-OpenSSH'), null);
});

async function withServer(handle: (socket: Socket) => void, run: (port: number) => Promise<void>): Promise<void> {
  const server: Server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await run((server.address() as AddressInfo).port);
  } finally {
    server.close();
  }
}

const target = (port: number) => ({ host: '127.0.0.1', port, tls: false, rejectUnauthorized: true });

test('a streaming response: one data event per read, end at the last chunk, close once the socket closed', async () => {
  await withServer(
    (socket) => {
      socket.once('data', () => {
        const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
        // Head and first chunks in one write, the rest later: as dockerd does.
        socket.write(head + chunked([Buffer.from('one\n'), Buffer.from('two\n')], false).toString('latin1').replace('0\r\n\r\n', ''));
        setTimeout(() => socket.end(chunked([Buffer.from('three\n')], false)), 20);
      });
    },
    async (port) => {
      const body = await openRawStream(target(port), '/x', new AbortController().signal);
      const parts: string[] = [];
      body.on('data', (b: Buffer) => parts.push(b.toString()));
      await new Promise<void>((resolve, reject) => {
        body.once('end', resolve);
        body.once('error', reject);
      });
      assert.equal(parts.join(''), 'one\ntwo\nthree\n');
      assert.ok(parts.length <= 2, `${parts.length} data events`);
      body.destroy();
      await new Promise((r) => body.once('close', r));
    },
  );
});

test('backpressure: a consumer that pauses after every piece still gets every byte', async () => {
  const payload = Buffer.alloc(1024 * 1024, 'x');
  await withServer(
    (socket) =>
      socket.once('data', () =>
        socket.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), chunked([payload.subarray(0, 300_000), payload.subarray(300_000)], false)])),
      ),
    async (port) => {
      const body = await openRawStream(target(port), '/x', new AbortController().signal);
      let got = 0;
      body.on('data', (b: Buffer) => {
        got += b.length;
        body.pause();
        setTimeout(() => body.resume(), 2);
      });
      await new Promise<void>((resolve, reject) => {
        body.once('end', resolve);
        body.once('error', reject);
      });
      assert.equal(got, payload.length);
    },
  );
});

test('an error status rejects with the engine message; a cut response is an error', async () => {
  await withServer(
    (socket) => socket.once('data', () => socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 27\r\n\r\n{"message":"no such thing"}')),
    async (port) => {
      await assert.rejects(openRawStream(target(port), '/x', new AbortController().signal), (err: unknown) => {
        assert.ok(err instanceof RawHttpStatusError);
        assert.equal(err.statusCode, 404);
        assert.match(err.message, /no such thing/);
        return true;
      });
    },
  );
  await withServer(
    (socket) => socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab')),
    async (port) => {
      const body = await openRawStream(target(port), '/x', new AbortController().signal);
      body.resume();
      await assert.rejects(new Promise((resolve, reject) => {
        body.once('end', resolve);
        body.once('error', reject);
      }), /closed the connection in the middle/);
    },
  );
});

/** A server that accepts and never answers; `peerClosed()` resolves once our side let the connection go. */
async function withSilentServer(run: (port: number, peerClosed: () => Promise<void>) => Promise<void>): Promise<void> {
  let closed: Promise<void> | null = null;
  await withServer(
    (socket) => {
      socket.resume();
      closed = new Promise((r) => socket.once('close', () => r()));
    },
    (port) => run(port, () => closed ?? Promise.reject(new Error('no connection came'))),
  );
}

test('abort before the answer rejects and closes the socket; a refused connection carries its code', async () => {
  await withSilentServer(async (port, peerClosed) => {
    const abort = new AbortController();
    const opening = openRawStream(target(port), '/x', abort.signal);
    setTimeout(() => abort.abort(), 50);
    await assert.rejects(opening);
    await peerClosed(); // the connection was really let go
  });
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  closed.close();
  await assert.rejects(openRawStream(target(port), '/x', new AbortController().signal), { code: 'ECONNREFUSED' });
});

test('an engine that accepts and never answers: ETIMEDOUT after the head timeout, the socket let go', async () => {
  await withSilentServer(async (port, peerClosed) => {
    const started = Date.now();
    await assert.rejects(openRawStream(target(port), '/x', new AbortController().signal, { headTimeoutMs: 100 }), { code: 'ETIMEDOUT' });
    assert.ok(Date.now() - started < 2000);
    await peerClosed();
  });
});

/** A server answering every request with `pieces` as chunks, one write every `gapMs`. */
function trickleServer(pieces: Buffer[], gapMs: number): (socket: Socket) => void {
  return (socket) =>
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      let k = 0;
      const next = (): void => {
        if (socket.destroyed) return;
        if (k === pieces.length) {
          socket.end('0\r\n\r\n');
          return;
        }
        const p = pieces[k++];
        socket.write(`${p.length.toString(16)}\r\n`);
        socket.write(Buffer.concat([p, Buffer.from('\r\n')]));
        setTimeout(next, gapMs);
      };
      next();
    });
}

/**
 * A server answering every request with `pieces` as chunks, 40 at a time as fast as it can (a
 * backlog: the stream is busy); `onWrite` is told the byte count of everything written.
 */
function burstServer(pieces: string[], onWrite: (bytes: number) => void = () => undefined): (socket: Socket) => void {
  return (socket) => {
    const write = (text: string): void => {
      onWrite(Buffer.byteLength(text, 'latin1'));
      socket.write(text, 'latin1');
    };
    socket.once('data', () => {
      write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      let k = 0;
      const burst = (): void => {
        if (socket.destroyed) return;
        for (let i = 0; i < 40 && k < pieces.length; i++, k++) write(`${pieces[k].length.toString(16)}\r\n${pieces[k]}\r\n`);
        if (k === pieces.length) {
          onWrite(5);
          socket.end('0\r\n\r\n');
        } else setImmediate(burst);
      };
      burst();
    });
  };
}

function ended(body: NodeJS.ReadableStream): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    body.once('end', resolve);
    body.once('error', reject);
  });
}

test('the shared read buffer: two streams read side by side, chunks kept by an owner stay intact, lent chunks are right during their event', async () => {
  const piecesA = Array.from({ length: 40 }, (_, k) => Buffer.from(`A${k} ${'a'.repeat(50 + k)}\n`));
  const piecesB = Array.from({ length: 40 }, (_, k) => Buffer.from(`B${k} ${'b'.repeat(90 - k)}\n`));
  await withServer(trickleServer(piecesA, 1), async (portA) => {
    await withServer(trickleServer(piecesB, 1), async (portB) => {
      // Owned chunks (the default): kept as they are, read after the fact.
      const owned = await openRawStream(target(portA), '/x', new AbortController().signal);
      // Lent chunks: copied out within the event, as the log reader's framer does.
      const lent = await openRawStream(target(portB), '/x', new AbortController().signal, { borrowChunks: true });
      const kept: Buffer[] = [];
      const copied: Buffer[] = [];
      owned.on('data', (b: Buffer) => kept.push(b));
      lent.on('data', (b: Buffer) => copied.push(Buffer.from(b)));
      await Promise.all([ended(owned), ended(lent)]);
      assert.equal(Buffer.concat(kept).toString(), Buffer.concat(piecesA).toString());
      assert.equal(Buffer.concat(copied).toString(), Buffer.concat(piecesB).toString());
    });
  });
});

test('lent chunks: a consumer that pauses stops the reads until it resumes, and still gets every byte once', async () => {
  const pieces = Array.from({ length: 30 }, (_, k) => Buffer.from(`${String(k).padStart(3, '0')} ${'x'.repeat(200)}\n`));
  await withServer(trickleServer(pieces, 1), async (port) => {
    const body = await openRawStream(target(port), '/x', new AbortController().signal, { borrowChunks: true });
    const got: string[] = [];
    let pausedAt = -1;
    let readWhilePaused = false;
    body.on('data', (b: Buffer) => {
      if (body.isPaused()) readWhilePaused = true;
      got.push(b.toString());
      if (got.length % 3 === 0) {
        body.pause();
        pausedAt = got.length;
        setTimeout(() => {
          assert.equal(got.length, pausedAt, 'no data while paused');
          body.resume();
        }, 15);
      }
    });
    await ended(body);
    assert.equal(readWhilePaused, false);
    assert.equal(got.join(''), Buffer.concat(pieces).toString());
  });
});

test('read pacing: a stream waits between small reads only while it is busy (a backlog), and stops waiting once it is quiet', () => {
  const { BUSY_WINDOW_MS: window, BUSY_BYTES: busy, SMALL_READ_BYTES: small } = ReadPacer;
  const pacer = new ReadPacer(new PacedStreams());
  // Ordinary load: small reads far below the busy rate are read as they come.
  let t = 0;
  for (; t < 100; t += 5) assert.equal(pacer.read(2000, t), false, `quiet read at ${t} ms`);
  // A backlog: reads every millisecond that add up to more than BUSY_BYTES a window. Once a
  // window has shown it, small reads wait; large ones (what gathered while waiting) do not.
  const perMs = Math.ceil(busy / window) + 1;
  for (const end = t + window + 1; t <= end; t++) pacer.read(perMs, t);
  assert.equal(pacer.read(small - 1, t), true, 'small read of a busy stream');
  assert.equal(pacer.read(small, t + 1), false, 'a large read: read again at once');
  // Reads stop for longer than a window: the first one after that is not delayed.
  t += 1 + window + 5;
  assert.equal(pacer.read(100, t), false, 'the stream went quiet');
  // A trickle after a busy window is judged by its own window.
  for (let k = 0; k < 3 * window; k++) assert.equal(pacer.read(100, ++t), false, 'a trickle');
});

test('read pacing: a stream that is the only one waiting sleeps the thread; while others wait too, each waits on a timer', () => {
  const { BUSY_WINDOW_MS: window } = ReadPacer;
  const streams = new PacedStreams();
  const [a, b, c] = [new ReadPacer(streams), new ReadPacer(streams), new ReadPacer(streams)];
  let t = 0;
  assert.equal(a.howToWait(t), 'sleep', 'a alone');
  assert.equal(a.howToWait(++t), 'sleep', 'a alone, again');
  // b starts waiting too: from then on each sees the other's waits, even after a wait of its own.
  assert.equal(b.howToWait(++t), 'timer', 'b beside a');
  assert.equal(b.howToWait(++t), 'timer', 'b again: a waited within the window');
  assert.equal(a.howToWait(++t), 'timer', 'a beside b');
  // A third one sees the last of the others.
  assert.equal(c.howToWait(++t), 'timer', 'c beside a and b');
  // Only a goes on waiting: once the others' last wait is a window old, it sleeps again.
  t += window;
  assert.equal(a.howToWait(t), 'timer', 'c waited exactly a window ago');
  assert.equal(a.howToWait(++t), 'sleep', 'a alone once the others have not waited for a window');
});

/** Paced streams that always have another one waiting beside them: every wait is on a timer. */
class NeverAlone extends PacedStreams {
  override alone(): boolean {
    return false;
  }
}

/** Waits after every read, however quiet the stream, and counts the waits. */
class PacerWaitingAlways extends ReadPacer {
  waits = 0;
  override read(): boolean {
    return true;
  }
  override howToWait(nowMs: number): 'sleep' | 'timer' {
    this.waits++;
    return super.howToWait(nowMs);
  }
}

for (const [how, pacedStreams] of [
  ['sleeping the thread', new PacedStreams()],
  ['on a timer', new NeverAlone()],
] as const) {
  test(`read pacing, waits ${how}: a busy stream still gets every byte once and in order, and a consumer that pauses during a wait is not resumed by it`, async () => {
    // Many small writes as fast as the server can; the stream waits after every read.
    const pieces = Array.from({ length: 4000 }, (_, k) => `${String(k).padStart(5, '0')} ${'p'.repeat(120)}\n`);
    await withServer(burstServer(pieces), async (port) => {
      const pacer = new PacerWaitingAlways(pacedStreams);
      const body = await openRawStream(target(port), '/x', new AbortController().signal, { borrowChunks: true, pacer });
      const got: Buffer[] = [];
      let events = 0;
      let readWhilePaused = false;
      body.on('data', (b: Buffer) => {
        if (body.isPaused()) readWhilePaused = true;
        got.push(Buffer.from(b));
        if (++events % 25 === 0) {
          body.pause();
          const at = got.length;
          // Longer than a pacing wait: a wait that ends meanwhile must leave the socket paused.
          setTimeout(() => {
            assert.equal(got.length, at, 'no data while paused');
            body.resume();
          }, ReadPacer.WAIT_MS * 5);
        }
      });
      await ended(body);
      assert.ok(pacer.waits > 0);
      assert.equal(readWhilePaused, false);
      assert.equal(Buffer.concat(got).toString(), pieces.join(''));
    });
  });
}

test('the read trace (bench --trace-reads): every byte of a paced stream reported once, waits measured; nothing once cleared', async () => {
  const pieces = Array.from({ length: 4000 }, (_, k) => `${String(k).padStart(5, '0')} ${'t'.repeat(120)}\n`);
  let sent = 0;
  const server = burstServer(pieces, (bytes) => (sent += bytes));
  const reads: Array<{ bytes: number; waitedMs: number | null }> = [];
  traceReads({ read: (bytes, waitedMs) => reads.push({ bytes, waitedMs }) });
  try {
    await withServer(server, async (port) => {
      const body = await openRawStream(target(port), '/x', new AbortController().signal, { borrowChunks: true });
      body.resume();
      await ended(body);
    });
  } finally {
    traceReads(null);
  }
  assert.equal(reads.reduce((n, r) => n + r.bytes, 0), sent);
  // Whether this stream got busy enough to wait depends on the machine's pace; when it did, the
  // waits were measured, and the first reads (before it was busy) never follow one.
  const afterWait = reads.filter((r) => r.waitedMs !== null);
  assert.ok(afterWait.every((r) => (r.waitedMs ?? 0) > 0));
  assert.equal(reads[0].waitedMs, null);

  // A consumer that pauses after a read, as the receiver's handover does (backpressure), here
  // after every fourth read that began a wait, and holds the socket for longer than any wait: the
  // read after it does not count that pause as a wait.
  const pauseMs = 50;
  const pacer = new PacerWaitingAlways();
  const tracedBefore = reads.length;
  traceReads({ read: (bytes, waitedMs) => reads.push({ bytes, waitedMs }) });
  try {
    await withServer(server, async (port) => {
      const body = await openRawStream(target(port), '/x', new AbortController().signal, { borrowChunks: true, pacer });
      let waitsSeen = 0;
      body.on('data', () => {
        // Runs after the read's pacing decision, before the next read.
        setImmediate(() => {
          if (pacer.waits === waitsSeen) return;
          waitsSeen = pacer.waits;
          if (waitsSeen % 4 !== 0) return;
          body.pause();
          setTimeout(() => body.resume(), pauseMs);
        });
      });
      await ended(body);
    });
  } finally {
    traceReads(null);
  }
  const waits = reads.slice(tracedBefore).flatMap((r) => (r.waitedMs === null ? [] : [r.waitedMs]));
  assert.ok(pacer.waits >= 4 && waits.length > 0, `${pacer.waits} waits, ${waits.length} reads after one`);
  assert.ok(waits.every((ms) => ms < pauseMs * 0.8), `waits ${waits.filter((ms) => ms >= pauseMs * 0.8).join(', ')} ms`);

  const before = reads.length;
  await withServer(server, async (port) => {
    const body = await openRawStream(target(port), '/x', new AbortController().signal, { borrowChunks: true });
    body.resume();
    await ended(body);
  });
  assert.equal(reads.length, before, 'a stream opened after the trace was cleared reports nothing');
});
