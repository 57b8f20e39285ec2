/**
 * The baseline reader: the least a follower can do. One plain HTTP request per
 * container over the engine's unix socket,
 * GET /containers/ID/logs?follow=1&timestamps=1&stdout=1&stderr=1, kept open;
 * the multiplexed frames are walked (8-byte header, payload) and the '\n' bytes
 * of the payloads counted. Nothing is decoded, kept, or sent anywhere.
 *
 *   child → {type:'ready'}
 *   parent → {type:'go', ids, until}
 *   child → {type:'reached', count, atMs}   when the count first reaches `until`
 *   parent → {type:'stop'}
 *   child → {type:'stopped', count}         the final count, then it exits
 *
 *   node bench-baseline-child.mjs --socket /var/run/docker.sock [--api 1.41]
 */
import { request } from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { parseArgs } from 'node:util';

export type BaselineChildMessage =
  | { type: 'ready' }
  | { type: 'reached'; count: number; atMs: number }
  | { type: 'stopped'; count: number }
  | { type: 'error'; message: string };
export type BaselineParentMessage = { type: 'go'; ids: string[]; until: number } | { type: 'stop' };

function send(message: BaselineChildMessage): void {
  if (process.connected) process.send?.(message);
}

/** Counts newlines in the payloads of a multiplexed (non-TTY) log stream. */
class FrameCounter {
  lines = 0;
  private header = Buffer.alloc(8);
  private headerFill = 0;
  private payloadLeft = 0;

  push(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      if (this.payloadLeft === 0) {
        const n = Math.min(8 - this.headerFill, len - pos);
        chunk.copy(this.header, this.headerFill, pos, pos + n);
        this.headerFill += n;
        pos += n;
        if (this.headerFill === 8) {
          this.payloadLeft = this.header.readUInt32BE(4);
          this.headerFill = 0;
        }
        continue;
      }
      const end = Math.min(len, pos + this.payloadLeft);
      let i = chunk.indexOf(10, pos);
      while (i !== -1 && i < end) {
        this.lines++;
        i = chunk.indexOf(10, i + 1);
      }
      this.payloadLeft -= end - pos;
      pos = end;
    }
  }
}

function main(): void {
  const { values } = parseArgs({ options: { socket: { type: 'string' }, api: { type: 'string' } } });
  const socketPath = values.socket ?? '/var/run/docker.sock';
  const api = values.api ?? '1.41';
  const requests: ClientRequest[] = [];
  const counters: FrameCounter[] = [];
  let until = Infinity;
  let reached = false;
  const total = (): number => counters.reduce((n, c) => n + c.lines, 0);

  const follow = (id: string): void => {
    const counter = new FrameCounter();
    counters.push(counter);
    const path = `/v${api}/containers/${encodeURIComponent(id)}/logs?follow=1&timestamps=1&stdout=1&stderr=1`;
    const req = request({ socketPath, path, method: 'GET' }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        send({ type: 'error', message: `GET ${path}: HTTP ${res.statusCode ?? '?'}` });
        res.resume();
        return;
      }
      res.on('data', (chunk: Buffer) => {
        counter.push(chunk);
        if (!reached && total() >= until) {
          reached = true;
          send({ type: 'reached', count: total(), atMs: Date.now() });
        }
      });
      res.on('error', () => undefined);
    });
    req.on('error', (err) => send({ type: 'error', message: `GET ${path}: ${err.message}` }));
    req.end();
    requests.push(req);
  };

  process.on('message', (message: BaselineParentMessage) => {
    if (message.type === 'go') {
      until = message.until;
      for (const id of message.ids) follow(id);
    } else if (message.type === 'stop') {
      for (const r of requests) r.destroy();
      send({ type: 'stopped', count: total() });
      setTimeout(() => process.exit(0), 50);
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

main();
