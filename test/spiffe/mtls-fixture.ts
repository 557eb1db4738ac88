/**
 * Shared parts of the SPIFFE mutual TLS tests: two real dev agents (example.org and partner.org)
 * on Unix sockets, X509Sources on them, servers on 127.0.0.1, and a raw client that presents any
 * certificate/key it is given (to play the attacker).
 */

import type { KeyObject } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:tls';
import { DevAgent, derToPem, type ParsedCertificate, X509Source } from '../../src/spiffe/index.js';
import { socketDir } from './helpers.js';

export interface Agents {
  example: DevAgent;
  partner: DevAgent;
  source(agent: DevAgent, id: string): Promise<X509Source>;
  close(): Promise<void>;
}

export async function startAgents(): Promise<Agents> {
  const dirs = [socketDir(), socketDir()];
  const example = await DevAgent.start({
    trustDomain: 'example.org',
    socket: dirs[0]!.socket,
    workloads: ['/server', '/client', '/other'],
    rotateAt: 0,
  });
  const partner = await DevAgent.start({
    trustDomain: 'partner.org',
    socket: dirs[1]!.socket,
    workloads: ['/server', '/client'],
    rotateAt: 0,
  });
  const sources: X509Source[] = [];
  return {
    example,
    partner,
    async source(agent, id) {
      const s = await X509Source.create({
        address: agent.address,
        spiffeId: agent.trustDomain.id(id).toString(),
      });
      sources.push(s);
      return s;
    },
    async close() {
      for (const s of sources) await s.close();
      await example.stop();
      await partner.stop();
      for (const d of dirs) d.cleanup();
    },
  };
}

/** Listen on an ephemeral loopback port; resolves with the https:// base URL. */
export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export function closeServer(server: Server): Promise<void> {
  (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Resolve the next time the source applies an update from the agent. */
export function nextUpdate(source: X509Source): Promise<void> {
  return new Promise((resolve) => {
    const off = source.onUpdate(() => {
      off();
      resolve();
    });
  });
}

export interface Credentials {
  certificates: readonly ParsedCertificate[];
  privateKey: KeyObject;
}

/**
 * A GET with the given client certificate (or none), not verifying the server: resolves with the
 * status, rejects with the transport error when the server refuses the connection.
 */
export function rawGet(url: string, creds?: Credentials): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, {
      agent: false,
      rejectUnauthorized: false,
      ...(creds && {
        cert: creds.certificates.map((c) => derToPem(c.der)).join(''),
        key: creds.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      }),
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}
