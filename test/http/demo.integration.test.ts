/**
 * Integration: `npm run demo` as a user runs it (a child process running tsx), in its three modes.
 * It must print the nested result, end by itself and exit 0 when it behaves as the mode expects.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function runDemo(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/trusted-chain/main.ts', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    // The demo must end by itself; this only keeps a hung demo from hanging the suite.
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run demo', () => {
  it('the trusted chain: nested result, lineage table, verified', async () => {
    const { code, stdout, stderr } = await runDemo();
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(
      '{"service":"hop1","next":{"service":"hop2","next":{"service":"hop3","status":"end_of_chain"}}}',
    );
    expect(stdout).toMatch(/0 +hop1 +spiffe:\/\/kest\.demo\/gateway +hop1\.handle/);
    expect(stdout).toMatch(/2 +hop3 +spiffe:\/\/kest\.demo\/exporter +hop3\.handle/);
    expect(stdout.trimEnd().endsWith('verified')).toBe(true);
  });

  it('--tamper: hop3 refuses with 401 and the offline check names entry 0', async () => {
    const { code, stdout } = await runDemo('--tamper');
    expect(code).toBe(0);
    expect(stdout).toContain(
      'hop3 refused the request: 401 ERR_VERIFICATION_FAILED (bad_signature, entry 0)',
    );
    expect(stdout).toMatch(/NOT verified: entry 0 \(hop1, hop1\.handle\): bad_signature/);
    expect(stdout).toContain('labels.kest.identity');
    expect(stdout).not.toContain('"status":"end_of_chain"');
  });

  it('--tamper=inflate: refused as an unauthorized sanitizer at entry 1', async () => {
    const { code, stdout } = await runDemo('--tamper=inflate');
    expect(code).toBe(0);
    expect(stdout).toContain('(unauthorized_sanitizer, entry 1)');
    expect(stdout).toMatch(/NOT verified: entry 1 \(hop2, hop2\.handle\): unauthorized_sanitizer/);
  });

  it('any adapter per hop (node:http only)', async () => {
    const { code, stdout } = await runDemo('--frameworks=node,node,node');
    expect(code).toBe(0);
    expect(stdout.trimEnd().endsWith('verified')).toBe(true);
  });
});
