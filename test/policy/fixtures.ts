import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EvaluationContext } from '../../src/policy/types.js';

export interface ContextOverrides {
  workload?: string;
  user?: string | null;
  trust?: number;
  taints?: string[];
  resourceId?: string;
  attributes?: Record<string, unknown>;
  tier?: EvaluationContext['environment']['policy_tier'];
  deviations?: EvaluationContext['environment']['active_deviations'];
  policyNames?: string[];
}

/** An evaluation context as the hook builds it (docs/spec.md §6). */
export function makeContext(o: ContextOverrides = {}): EvaluationContext {
  const trust = o.trust ?? 100;
  const user = o.user === undefined ? 'alice' : o.user;
  return {
    subject: {
      workload: o.workload ?? 'spiffe://kest.demo/exporter',
      user,
      agent: null,
      task: 'nightly-export',
      trust_score: trust,
      taints: o.taints ?? [],
    },
    object: { id: o.resourceId ?? 'report-42', attributes: o.attributes ?? {} },
    environment: {
      is_root: false,
      source_type: 'internal',
      parent_hash: 'a'.repeat(64),
      policy_names: o.policyNames ?? ['min-trust'],
      policy_tier: o.tier ?? 'function',
      active_deviations: o.deviations ?? [],
    },
    identity: { user, agent: null, task: 'nightly-export' },
    trust_score: trust,
  };
}

export interface LoopbackServer {
  server: Server;
  url: string;
  port: number;
  /** TCP connections accepted so far (to observe keep-alive). */
  connections: number;
  requests: { method: string; url: string; body: unknown }[];
  close(): Promise<void>;
}

export type JsonHandler = (req: IncomingMessage, body: unknown, res: ServerResponse) => void | Promise<void>;

/** A real HTTP server on 127.0.0.1 with an ephemeral port; `close` also drops idle keep-alive sockets. */
export async function startServer(handler: JsonHandler): Promise<LoopbackServer> {
  const state: LoopbackServer = {
    server: undefined as unknown as Server,
    url: '',
    port: 0,
    connections: 0,
    requests: [],
    close: async () => {},
  };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = raw.length > 0 ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    state.requests.push({ method: req.method ?? '', url: req.url ?? '', body });
    await handler(req, body, res);
  });
  server.on('connection', () => {
    state.connections++;
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  state.server = server;
  state.port = port;
  state.url = `http://127.0.0.1:${port}`;
  state.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A port that was just free: bind, read the port, close. Connecting to it is refused (TC-09). */
export async function deadAddress(): Promise<string> {
  const s = await startServer(() => {});
  const url = s.url;
  await s.close();
  return url;
}
