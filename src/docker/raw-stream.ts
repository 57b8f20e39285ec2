/**
 * A streaming GET to the engine, with the HTTP/1.1 response read off the socket
 * by us instead of Node's HTTP parser. dockerd writes every log message as its
 * own HTTP chunk; Node's parser hands each chunk over as a separate 'data' event
 * (a few µs each, more than the rest of a line's work). Here one socket read
 * becomes one 'data' event: the chunk framing is removed in place and the
 * payload of the whole read handed over at once.
 */
import { isIP, connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';

/** Where to connect: a unix socket, or host and port with or without TLS. */
export interface RawStreamTarget {
  socketPath?: string;
  host?: string;
  port?: number;
  tls: boolean;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
}

/** A failed response: the status and the engine's body text. */
export class RawHttpStatusError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, body: string) {
    super(body);
    this.name = 'RawHttpStatusError';
    this.statusCode = statusCode;
  }
}

const MAX_HEADER_BYTES = 64 * 1024;
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * One read buffer for every plain (not TLS) log socket, filled by the socket's
 * `onread` reads: no Buffer is allocated per read, and a paused socket stops
 * reading at once. Safe to share because every read is handed over before the
 * next one can happen (see RawResponseBody.feed: what must outlive the callback
 * is copied).
 */
const READ_BUFFER_BYTES = 64 * 1024;
let sharedReadBuffer: Buffer | null = null;

function readBuffer(): Buffer {
  sharedReadBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES);
  return sharedReadBuffer;
}

/** When paced streams last waited: shared by the streams whose waits hold each other up. */
export class PacedStreams {
  private lastWaiter: object | null = null;
  private lastWaitMs = -Infinity;
  /** The last wait of a stream other than lastWaiter. */
  private othersLastWaitMs = -Infinity;

  /** `waiter` waits from `nowMs`: whether no other stream waited within the last BUSY_WINDOW_MS. */
  alone(waiter: object, nowMs: number): boolean {
    if (waiter !== this.lastWaiter) {
      this.othersLastWaitMs = this.lastWaitMs;
      this.lastWaiter = waiter;
    }
    this.lastWaitMs = nowMs;
    return nowMs - this.othersLastWaitMs > ReadPacer.BUSY_WINDOW_MS;
  }
}

const everyPacedStream = new PacedStreams();

/**
 * When to wait before reading a plain socket again. dockerd writes every log message as a write
 * of its own, and a reader that reads as soon as bytes arrive takes a few lines per read while
 * draining a backlog (about 7 at 170 000 lines/s on the benchmark machine), paying a read
 * syscall, an event and the per-read work of the framing for each few lines. While a stream is
 * busy (at least BUSY_BYTES over the last window of BUSY_WINDOW_MS), a read smaller than
 * SMALL_READ_BYTES makes the stream wait before the next one: the engine's writes gather in the
 * socket meanwhile, and the next read takes them at once. A stream at an ordinary rate is read as
 * soon as its bytes arrive, so its lines are not delayed and its reads cost no timers.
 *
 * How it waits. The engine's unix socket holds only about 278 of the benchmark's 144-byte
 * messages (40 KB), which dockerd fills in about 1.3 ms, and once it is full dockerd's writer
 * blocks. A timer cannot wait less than 1 ms (1.3 ms at the median in the benchmark's read trace),
 * so every timed wait found the socket full. So a stream that is the only one waiting (no other
 * paced stream waited within BUSY_WINDOW_MS) sleeps the thread for SLEEP_MS instead, in its read
 * callback, without spending CPU. Everything else on the event loop waits for that sleep: quiet
 * streams, exports, busy streams whose reads are large, file tailers. A sleep follows only a small
 * read, and reads are small only while the loop's turns are short, so the more other work there
 * is, the fewer sleeps; the event-loop delay a monitor measures includes them. With another paced
 * stream waiting too, each pauses its socket for WAIT_MS and the loop reads the others meanwhile.
 * Over TCP (an engine at host:port) the socket's buffers grow larger, and a stream waits the same way.
 */
export class ReadPacer {
  static readonly BUSY_WINDOW_MS = 10;
  static readonly BUSY_BYTES = 64 * 1024;
  static readonly SMALL_READ_BYTES = 16 * 1024;
  static readonly WAIT_MS = 1;
  static readonly SLEEP_MS = 0.5;

  private windowStart = -Infinity;
  private windowBytes = 0;
  private lastReadMs = -Infinity;
  private busy = false;

  constructor(private readonly streams: PacedStreams = everyPacedStream) {}

  /** `bytes` were read at `nowMs` (a monotonic clock): whether to wait before reading again. */
  read(bytes: number, nowMs: number): boolean {
    if (nowMs - this.windowStart > ReadPacer.BUSY_WINDOW_MS) {
      // The window that just ended says whether the stream is busy for the next one, unless
      // nothing was read for longer than a window since: then it has been quiet.
      this.busy = this.windowBytes >= ReadPacer.BUSY_BYTES && nowMs - this.lastReadMs <= ReadPacer.BUSY_WINDOW_MS;
      this.windowStart = nowMs;
      this.windowBytes = 0;
    }
    this.windowBytes += bytes;
    this.lastReadMs = nowMs;
    return this.busy && bytes < ReadPacer.SMALL_READ_BYTES;
  }

  /** The stream waits from `nowMs`: by sleeping the thread when it is the only one waiting, else on a timer. */
  howToWait(nowMs: number): 'sleep' | 'timer' {
    return this.streams.alone(this, nowMs) ? 'sleep' : 'timer';
  }
}

let sleepCell: Int32Array | null = null;

/** Blocks the thread for `ms` (fractions of a millisecond too) without spinning: a timed wait nothing ends early. */
function sleepThread(ms: number): void {
  sleepCell ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(sleepCell, 0, 0, ms);
}

/** Told of every read of a paced stream: the benchmark's read trace (`npm run bench -- --trace-reads`). */
export interface ReadTrace {
  /**
   * `bytes` were read (and handed on), `waitedMs` after the pacer's wait began (a sleep, or a
   * paused socket); null when the read did not follow a pacing wait, or the consumer held the
   * socket paused beyond it (backpressure). Called within the socket's read callback: must not throw.
   */
  read(bytes: number, waitedMs: number | null): void;
}

let readTrace: ReadTrace | null = null;

/** What paced streams opened from now on report their reads to; null for none (the default). */
export function traceReads(trace: ReadTrace | null): void {
  readTrace = trace;
}

/**
 * Removes HTTP/1.1 chunked transfer framing. Works in place: the payload bytes
 * of a buffer are moved to its front (a forward memmove) and that part returned.
 */
export class ChunkedDecoder {
  private state: 'size' | 'ext' | 'size-lf' | 'data' | 'data-cr' | 'data-lf' | 'trailer' | 'trailer-lf' | 'done' = 'size';
  private remaining = 0;
  private sizeDigits = 0;
  private trailerLineEmpty = true;

  get done(): boolean {
    return this.state === 'done';
  }

  /** Returns the payload in `buf` (a view of its front), overwriting `buf`. Throws on malformed framing. */
  decode(buf: Buffer): Buffer {
    let w = 0;
    let i = 0;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case 'data': {
          const take = Math.min(this.remaining, n - i);
          if (w !== i) buf.copyWithin(w, i, i + take);
          w += take;
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = 'data-cr';
          break;
        }
        case 'size': {
          const c = buf[i++];
          const digit = hexValue(c);
          if (digit >= 0) {
            if (++this.sizeDigits > 12) throw new Error('chunk size too large');
            this.remaining = this.remaining * 16 + digit;
          } else if (c === 0x0d) {
            this.state = 'size-lf';
          } else if (c === 0x3b || c === 0x20 || c === 0x09) {
            this.state = 'ext';
          } else {
            throw new Error(`malformed chunk size (byte 0x${c.toString(16)})`);
          }
          break;
        }
        case 'ext':
          if (buf[i++] === 0x0d) this.state = 'size-lf';
          break;
        case 'size-lf':
          if (buf[i++] !== 0x0a || this.sizeDigits === 0) throw new Error('malformed chunk header');
          this.sizeDigits = 0;
          if (this.remaining === 0) {
            this.state = 'trailer';
            this.trailerLineEmpty = true;
          } else {
            this.state = 'data';
          }
          break;
        case 'data-cr':
          if (buf[i++] !== 0x0d) throw new Error('chunk not followed by CRLF');
          this.state = 'data-lf';
          break;
        case 'data-lf':
          if (buf[i++] !== 0x0a) throw new Error('chunk not followed by CRLF');
          this.state = 'size';
          break;
        case 'trailer': {
          const c = buf[i++];
          if (c === 0x0d) this.state = 'trailer-lf';
          else this.trailerLineEmpty = false;
          break;
        }
        case 'trailer-lf':
          if (buf[i++] !== 0x0a) throw new Error('malformed chunk trailer');
          if (this.trailerLineEmpty) this.state = 'done';
          else {
            this.state = 'trailer';
            this.trailerLineEmpty = true;
          }
          break;
        case 'done':
          // Bytes after the last chunk: the server closes the connection; ignore them.
          i = n;
          break;
      }
    }
    return buf.subarray(0, w);
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

interface ResponseHead {
  statusCode: number;
  chunked: boolean;
  /** null: the body runs to the end of the connection. */
  contentLength: number | null;
}

/** Parses the status line and the headers we need; null when malformed. */
export function parseResponseHead(text: string): ResponseHead | null {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (status === null) return null;
  let chunked = false;
  let contentLength: number | null = null;
  for (let k = 1; k < lines.length; k++) {
    const line = lines[k];
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'transfer-encoding') chunked = value.toLowerCase().split(',').some((v) => v.trim() === 'chunked');
    else if (name === 'content-length' && /^\d+$/.test(value)) contentLength = Number(value);
  }
  return { statusCode: Number(status[1]), chunked, contentLength };
}

/**
 * The body of a streaming response. 'close' is emitted only once the socket
 * itself has closed, so a destroyed stream that never emits it is a socket we
 * failed to let go of.
 */
export class RawResponseBody extends Readable {
  private readonly socket: Socket;
  private readonly decoder: ChunkedDecoder | null;
  private remaining: number | null;
  private ended = false;

  /**
   * @param sharedBytes what feed() is given is a view of the shared read buffer, overwritten by the next read
   * @param borrowChunks the consumer handles each 'data' chunk within the event and keeps no reference to it,
   *   so a chunk may be such a view (no copy); otherwise every chunk is the consumer's own
   */
  constructor(
    socket: Socket,
    head: ResponseHead,
    private readonly sharedBytes: boolean,
    private readonly borrowChunks: boolean,
  ) {
    super({ highWaterMark: 0 });
    this.socket = socket;
    this.decoder = head.chunked ? new ChunkedDecoder() : null;
    this.remaining = head.chunked ? null : head.contentLength;
  }

  /** Whether the whole body has been read (the end is pushed; 'end' follows when it is consumed). */
  get complete(): boolean {
    return this.ended;
  }

  /** Takes bytes of the body as read from the socket. */
  feed(bytes: Buffer): void {
    if (this.ended || this.destroyed) return;
    let payload: Buffer;
    if (this.decoder !== null) {
      try {
        payload = this.decoder.decode(bytes);
      } catch (err) {
        this.destroy(new Error(`the engine sent a malformed chunked response: ${(err as Error).message}`));
        return;
      }
    } else if (this.remaining !== null) {
      payload = bytes.length > this.remaining ? bytes.subarray(0, this.remaining) : bytes;
      this.remaining -= payload.length;
    } else {
      payload = bytes;
    }
    if (payload.length > 0) {
      if (this.sharedBytes && this.borrowChunks && this.readableFlowing === true && this.readableLength === 0) {
        // What push() would do here (flowing, nothing queued), minus its bookkeeping: the chunk is
        // handled within the event, so the view needs no copy.
        this.emit('data', payload);
      } else if (!this.push(this.sharedBytes ? Buffer.from(payload) : payload)) {
        this.socket.pause();
      }
    }
    if (this.decoder?.done === true || this.remaining === 0) this.finish();
  }

  /** Also stops reading the socket (a chunk handed over without push() leaves _read uncalled). */
  override pause(): this {
    super.pause();
    this.socket.pause();
    return this;
  }

  override resume(): this {
    super.resume();
    if (!this.destroyed) this.socket.resume();
    return this;
  }

  /** The connection ended: a complete body ends, a cut one fails. */
  socketEnded(): void {
    if (this.ended || this.destroyed) return;
    if (this.decoder !== null || this.remaining !== null) {
      this.destroy(Object.assign(new Error('the engine closed the connection in the middle of the response'), { code: 'ECONNRESET' }));
      return;
    }
    this.finish();
  }

  private finish(): void {
    this.ended = true;
    this.push(null);
  }

  override _read(): void {
    this.socket.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const socket = this.socket;
    if (socket.closed) {
      callback(error);
      return;
    }
    socket.once('close', () => callback(error));
    socket.destroy();
  }
}

/** How openRawStream reads a response. */
export interface RawStreamOptions {
  /** Fail with ETIMEDOUT when no answer began within this many ms; 0 (the default): no limit, a stream may then be quiet for ever. */
  headTimeoutMs?: number;
  /** The consumer handles each 'data' chunk within the event and keeps no reference to it (see RawResponseBody). Only such streams are paced (ReadPacer). */
  borrowChunks?: boolean;
  /** How the stream's reads are paced; by default a ReadPacer weighed with every other stream's (tests give their own). */
  pacer?: ReadPacer;
}

/**
 * Sends a GET for `path` and resolves with the body stream once the status is
 * known to be 200; rejects with RawHttpStatusError (the engine's message) for
 * other statuses, or with the socket's error; with ETIMEDOUT when no answer
 * began within `options.headTimeoutMs`.
 */
export function openRawStream(target: RawStreamTarget, path: string, signal: AbortSignal, options: RawStreamOptions = {}): Promise<RawResponseBody> {
  const { headTimeoutMs = 0, borrowChunks = false } = options;
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    // Plain sockets read into the shared buffer (onread); TLS sockets emit their own buffers.
    // Pausing is RawResponseBody's: it pauses the socket, which for onread stops reading at once.
    let onBytes: (bytes: Buffer) => void = () => undefined;
    // Only lent chunks are paced: with push(), Node's stream asks for more (_read) right after a
    // chunk, which would resume the socket at once.
    const pacer = borrowChunks ? (options.pacer ?? new ReadPacer()) : null;
    const trace = pacer === null ? null : readTrace;
    let waitTimer: NodeJS.Timeout | null = null;
    let waitStartedMs: number | null = null;
    const readAgain = (): void => {
      waitTimer = null;
      // A consumer that paused in the meantime resumes the socket itself.
      if (socket.destroyed || body?.isPaused() === true) return;
      socket.resume();
    };
    const onread = {
      buffer: readBuffer(),
      callback: (n: number, buf: Uint8Array): boolean => {
        const waitedMs = waitStartedMs === null ? null : performance.now() - waitStartedMs;
        waitStartedMs = null;
        onBytes((buf as Buffer).subarray(0, n));
        trace?.read(n, waitedMs);
        if (pacer !== null && pacer.read(n, performance.now()) && waitTimer === null && !socket.destroyed && !socket.isPaused() && body?.complete !== true) {
          const now = performance.now();
          if (trace !== null) waitStartedMs = now;
          if (pacer.howToWait(now) === 'sleep') {
            // The socket is not paused: its read was partial, so libuv reads it again when the
            // loop next polls (after this turn's immediates, such as the handover, and the next
            // turn's timers).
            sleepThread(ReadPacer.SLEEP_MS);
          } else {
            socket.pause();
            waitTimer = setTimeout(readAgain, ReadPacer.WAIT_MS);
          }
        }
        return true;
      },
    };
    const sharedBytes = !target.tls;
    const socket: Socket =
      target.socketPath !== undefined
        ? netConnect({ path: target.socketPath, onread })
        : target.tls
          ? tlsConnect({ host: target.host, port: target.port, ca: target.ca, cert: target.cert, key: target.key, rejectUnauthorized: target.rejectUnauthorized, ...(target.host !== undefined && isIP(target.host) === 0 ? { servername: target.host } : {}) })
          : netConnect({ host: target.host, port: target.port ?? 2375, onread });
    if (target.tls) socket.on('data', (bytes: Buffer) => onBytes(bytes));
    socket.setNoDelay(true);
    let head: Buffer = Buffer.alloc(0);
    let body: RawResponseBody | null = null;
    let settled = false;
    const headTimer =
      headTimeoutMs > 0
        ? setTimeout(() => fail(Object.assign(new Error(`the engine did not answer within ${headTimeoutMs} ms`), { code: 'ETIMEDOUT' })), headTimeoutMs)
        : null;
    const fail = (err: Error): void => {
      if (headTimer !== null) clearTimeout(headTimer);
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    };
    const onAbort = (): void => {
      if (!settled) fail(abortError(signal));
      else body?.destroy();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('close', () => {
      signal.removeEventListener('abort', onAbort);
      if (waitTimer !== null) clearTimeout(waitTimer);
    });
    const onHeadData = (data: Buffer): void => {
      // A copy: the read buffer is shared.
      head = head.length === 0 ? Buffer.from(data) : Buffer.concat([head, data]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEADER_BYTES) fail(new Error('the engine sent response headers longer than 64 KiB'));
        return;
      }
      const parsed = parseResponseHead(head.toString('latin1', 0, end));
      if (parsed === null) {
        fail(new Error(`the engine did not answer with HTTP/1.1 (${JSON.stringify(head.toString('latin1', 0, Math.min(end, 80)))})`));
        return;
      }
      const stream = new RawResponseBody(socket, parsed, sharedBytes, borrowChunks);
      body = stream;
      onBytes = (bytes) => stream.feed(bytes);
      // A read that follows the consumer's pause (backpressure) did not follow a pacing wait.
      if (trace !== null) stream.on('pause', () => (waitStartedMs = null));
      socket.once('end', () => stream.socketEnded());
      socket.once('error', (err) => stream.destroy(err));
      socket.once('close', () => stream.socketEnded());
      const rest = head.subarray(end + 4);
      if (headTimer !== null) clearTimeout(headTimer);
      if (parsed.statusCode === 200) {
        settled = true;
        // The caller attaches its listeners before the bytes that came with the head are handed over.
        socket.pause();
        resolve(stream);
        if (rest.length > 0) stream.feed(rest);
        return;
      }
      readErrorBody(stream).then(
        (text) => fail(new RawHttpStatusError(parsed.statusCode, text)),
        () => fail(new RawHttpStatusError(parsed.statusCode, '')),
      );
      if (rest.length > 0) stream.feed(rest);
    };
    onBytes = onHeadData;
    socket.once('error', (err) => fail(err));
    socket.once('close', () => fail(Object.assign(new Error('the engine closed the connection before answering'), { code: 'ECONNRESET' })));
    socket.write(`GET ${path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: docker-logs-receiver\r\nConnection: close\r\n\r\n`);
  });
}

function readErrorBody(body: RawResponseBody): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    body.on('data', (b: Buffer) => {
      if (size < MAX_ERROR_BODY_BYTES) parts.push(Buffer.from(b));
      size += b.length;
    });
    body.once('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    body.once('error', reject);
  });
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : Object.assign(new Error('aborted'), { name: 'AbortError', code: 'ABORT_ERR' });
}
