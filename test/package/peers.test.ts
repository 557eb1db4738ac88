/**
 * src/peers.ts: the optional peers' ranges are package.json's, and a peer that is really missing
 * (Node's own resolution failing, by require and by import, in a directory that has no
 * node_modules) becomes a KestConfigurationError naming what to install — but a module missing
 * inside an installed peer, or any other error, is left alone.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { KestConfigurationError } from '../../src/errors.js';
import { installCommand, missingPeerError, OPTIONAL_PEERS } from '../../src/peers.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};

const dir = mkdtempSync(join(tmpdir(), 'kest-peers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

describe('optional peers', () => {
  it("lists exactly package.json's optional peers, with its ranges", () => {
    const optional = Object.fromEntries(
      Object.entries(pkg.peerDependencies).filter(([name]) => pkg.peerDependenciesMeta[name]?.optional),
    );
    expect({ ...OPTIONAL_PEERS }).toEqual(optional);
  });

  it('a peer require() cannot find → KestConfigurationError with the install command', () => {
    const err = caught(() => createRequire(join(dir, 'x.js'))('better-sqlite3'));
    const refined = missingPeerError(err, 'SQLite span files need', ['better-sqlite3']);
    expect(refined).toBeInstanceOf(KestConfigurationError);
    expect(refined?.code).toBe('ERR_CONFIGURATION');
    expect(refined?.message).toBe(
      'SQLite span files need the optional peer better-sqlite3: npm install better-sqlite3@12.11',
    );
    expect(refined?.cause).toBe(err);
  });

  it('a peer import() cannot find (a scoped package, several peers) → the same, naming them all', () => {
    writeFileSync(join(dir, 'spiffe.mjs'), "import '@grpc/grpc-js';\n");
    // Node's own import() (the test runner's differs), in a child: its error, rebuilt here.
    const child = `import(${JSON.stringify(pathToFileURL(join(dir, 'spiffe.mjs')).href)})
      .catch((e) => console.log(JSON.stringify({ code: e.code, message: e.message })))`;
    const seen = JSON.parse(execFileSync(process.execPath, ['-e', child], { encoding: 'utf8' })) as {
      code: string;
      message: string;
    };
    const err = Object.assign(new Error(seen.message), { code: seen.code });
    expect((err as { code?: string }).code).toBe('ERR_MODULE_NOT_FOUND');
    expect(
      missingPeerError(err, 'SPIFFE detection needs', ['@grpc/grpc-js', '@grpc/proto-loader'])?.message,
    ).toBe(
      'SPIFFE detection needs the optional peers @grpc/grpc-js and @grpc/proto-loader: npm install @grpc/grpc-js@1.14 @grpc/proto-loader@^0.8.1',
    );
  });

  it('leaves alone a module missing inside an installed peer, another package, and other errors', () => {
    mkdirSync(join(dir, 'node_modules', 'undici'), { recursive: true });
    writeFileSync(join(dir, 'node_modules', 'undici', 'package.json'), '{"name":"undici","main":"index.js"}');
    writeFileSync(join(dir, 'node_modules', 'undici', 'index.js'), "require('not-installed-dep');\n");
    const inner = caught(() => createRequire(join(dir, 'x.js'))('undici'));
    expect((inner as { code?: string }).code).toBe('MODULE_NOT_FOUND');
    expect(missingPeerError(inner, 'x needs', ['undici'])).toBeUndefined();
    const other = caught(() => createRequire(join(dir, 'x.js'))('ioredis'));
    expect(missingPeerError(other, 'x needs', ['undici'])).toBeUndefined();
    expect(missingPeerError(new Error("Cannot find module 'undici'"), 'x needs', ['undici'])).toBeUndefined();
    expect(missingPeerError(undefined, 'x needs', ['undici'])).toBeUndefined();
  });

  it('installs each named peer at its range', () => {
    expect(installCommand(['undici', 'hono'])).toBe('npm install undici@^7.30.2 hono@^4.13.19');
  });
});
