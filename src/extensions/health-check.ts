/**
 * The health_check extension, as in the collector: an HTTP endpoint answering
 * 200 while every receiver has its engine and events stream, 503 otherwise, with
 * a JSON body saying which containers are followed, their state and lag. Next to
 * it, <path>/explain lists every container the receivers know, collected or not,
 * with the rule that decided and the reading state and position.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthCheckConfig } from '../config/schema.js';
import { ReceiverError, errorMessage } from '../errors.js';
import { toHrTime } from '../framing/timestamp.js';
import type { ContainerExplanation, ReceiverStatus } from '../receiver.js';
import { splitHostPort } from '../telemetry/meter-provider.js';

export interface HealthBody {
  status: 'ok' | 'unavailable';
  uptime_seconds: number;
  receivers: Array<{
    id: string;
    engine: ReceiverStatus['engine'];
    streams: ReceiverStatus['streams'];
    containers: Array<{ id: string; name: string; state: string; lag_seconds: number | null; position: unknown }>;
  }>;
}

export function healthBody(statuses: ReceiverStatus[], nowMs = Date.now()): HealthBody {
  const healthy = statuses.length > 0 && statuses.every((s) => s.engine.connected);
  return {
    status: healthy ? 'ok' : 'unavailable',
    uptime_seconds: Math.round(process.uptime()),
    receivers: statuses.map((s) => ({
      id: s.id,
      engine: s.engine,
      streams: s.streams,
      containers: s.containers.map((c) => {
        const newest = [c.committed.stdout?.ts, c.committed.stderr?.ts].filter((t): t is string => t !== undefined).sort().pop();
        let lag: number | null = null;
        if (newest !== undefined) {
          const [sec, ns] = toHrTime(newest);
          lag = Math.max(0, Math.round((nowMs / 1000 - (sec + ns / 1e9)) * 1000) / 1000);
        }
        return { id: c.id, name: c.name, state: c.state, lag_seconds: lag, position: c.committed };
      }),
    })),
  };
}

export class HealthCheckServer {
  private readonly server: Server;
  private constructor(server: Server) {
    this.server = server;
  }

  get address(): string {
    const a = this.server.address() as AddressInfo;
    return `${a.address}:${a.port}`;
  }

  static async start(config: HealthCheckConfig, status: () => ReceiverStatus[], explain: () => Array<{ receiver: string; containers: ContainerExplanation[] }>): Promise<HealthCheckServer> {
    const explainPath = `${config.path.replace(/\/+$/, '')}/explain`;
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method === 'GET' && path === explainPath) {
        try {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ receivers: explain() }));
        } catch (err) {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`${errorMessage(err)}\n`);
        }
        return;
      }
      if (req.method !== 'GET' || path !== config.path) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      let body: HealthBody;
      try {
        body = healthBody(status());
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${errorMessage(err)}\n`);
        return;
      }
      res.writeHead(body.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    const { host, port } = splitHostPort(config.endpoint);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new ReceiverError('CONFIG_INVALID', `extensions.health_check: cannot listen on ${config.endpoint}: ${errorMessage(err)}`, { cause: err })));
      server.listen(port, host, () => resolve());
    });
    return new HealthCheckServer(server);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
