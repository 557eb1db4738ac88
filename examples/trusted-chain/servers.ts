/**
 * One tiny HTTP service on 127.0.0.1, in the framework of your choice, with or without Kest on its
 * route. Used by the demo, the HTTP tests and the HTTP benchmark, so all three exercise the same
 * adapter wiring an application would write.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { KestHttpCore, type KestHttpOptions } from '../../src/http/core.js';
import { kestExpress } from '../../src/http/express.js';
import { kestFastify } from '../../src/http/fastify.js';
import { kestHono } from '../../src/http/hono.js';
import { kestNode } from '../../src/http/node.js';

export const FRAMEWORKS = ['express', 'fastify', 'hono', 'node'] as const;
export type Framework = (typeof FRAMEWORKS)[number];

/** What a route handler sees of the request. */
export interface RouteRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

/** The route: its resolved value is sent as JSON (200); a thrown Kest error becomes a refusal. */
export type RouteHandler = (req: RouteRequest) => unknown | Promise<unknown>;

export interface ServiceOptions {
  framework: Framework;
  /** Path of the one route (GET and POST). Default `/`. */
  path?: string;
  handler: RouteHandler;
  /** Kest server options; `false` serves the route bare (no Kest at all). */
  kest: KestHttpOptions | KestHttpCore | false;
  /**
   * Serve over TLS: wraps the framework's request listener in an https server, e.g.
   * `SpiffeTlsServer#createServer` for SPIFFE mutual TLS (mtls.ts). Default: plain node:http.
   */
  https?: (listener: RequestListener) => HttpsServer;
}

export interface RunningService {
  readonly framework: Framework;
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

function plainHeaders(h: Headers | Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof (h as Headers).forEach === 'function' && typeof (h as Headers).get === 'function') {
    (h as Headers).forEach((v, k) => {
      out[k] = v;
    });
    return out;
  }
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(',') : v;
  return out;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startService(options: ServiceOptions): Promise<RunningService> {
  const path = options.path ?? '/';
  const kest = options.kest;
  const core = kest === false ? undefined : kest instanceof KestHttpCore ? kest : new KestHttpCore(kest);
  const done = (port: number, close: () => Promise<void>): RunningService => ({
    framework: options.framework,
    port,
    url: `${options.https ? 'https' : 'http'}://127.0.0.1:${port}${path}`,
    close,
  });

  switch (options.framework) {
    case 'express': {
      const app = express();
      if (core) app.use(kestExpress(core));
      app.use(express.json());
      const route = async (req: express.Request, res: express.Response) => {
        res.json(
          await options.handler({
            method: req.method,
            path: req.path,
            headers: plainHeaders(req.headers),
            body: req.body,
          }),
        );
      };
      app.get(path, route);
      app.post(path, route);
      if (core) app.use(kestExpress(core).errorHandler);
      const server = options.https ? options.https(app) : createServer(app);
      return done(await listen(server), () => closeServer(server));
    }
    case 'fastify': {
      const https = options.https;
      // Typed as the plain server: Fastify's https typings would fork every route signature.
      const serverFactory = https && ((listener: RequestListener) => https(listener) as unknown as Server);
      const app = Fastify({ logger: false, ...(serverFactory ? { serverFactory } : {}) });
      if (core) await app.register(kestFastify, { core });
      const route = async (req: import('fastify').FastifyRequest) =>
        options.handler({
          method: req.method,
          path: req.url,
          headers: plainHeaders(req.headers),
          body: req.body,
        });
      app.get(path, route);
      app.post(path, route);
      await app.listen({ host: '127.0.0.1', port: 0 });
      const port = (app.server.address() as AddressInfo).port;
      return done(port, async () => {
        app.server.closeAllConnections();
        await app.close();
      });
    }
    case 'hono': {
      const app = new Hono();
      const https = options.https;
      if (core) app.use('*', kestHono(core));
      const route = async (c: import('hono').Context) => {
        const body = c.req.method === 'POST' ? await c.req.json().catch(() => undefined) : undefined;
        return c.json(
          (await options.handler({
            method: c.req.method,
            path: c.req.path,
            headers: plainHeaders(c.req.raw.headers),
            body,
          })) as object,
        );
      };
      app.get(path, route);
      app.post(path, route);
      // Hono's default onError logs the error; Kest refusals are produced by the middleware.
      app.onError((_err, c) => c.json({ error: 'ERR_INTERNAL', message: 'internal error' }, 500));
      const server = await new Promise<Server>((resolve) => {
        const s = serve(
          {
            fetch: app.fetch,
            hostname: '127.0.0.1',
            port: 0,
            // @hono/node-server calls createServer(serverOptions, listener).
            ...(https ? { createServer: ((_: unknown, l: RequestListener) => https(l)) as never } : {}),
          },
          () => resolve(s as Server),
        );
      });
      return done((server.address() as AddressInfo).port, () => closeServer(server));
    }
    case 'node': {
      const route = async (
        req: import('node:http').IncomingMessage,
        res: import('node:http').ServerResponse,
      ) => {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const text = Buffer.concat(chunks).toString('utf8');
        const url = new URL(req.url ?? '/', 'http://x');
        if (url.pathname !== path) {
          res.writeHead(404).end();
          return;
        }
        const result = await options.handler({
          method: req.method ?? 'GET',
          path: url.pathname,
          headers: plainHeaders(req.headers),
          body: text ? JSON.parse(text) : undefined,
        });
        const json = JSON.stringify(result);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
        res.end(json);
      };
      const listener = core ? kestNode(route, core) : route;
      const server = options.https ? options.https(listener as RequestListener) : createServer(listener);
      return done(await listen(server), () => closeServer(server));
    }
  }
}
