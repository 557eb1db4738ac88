/**
 * Reading Cedar policy files and schemas from disk for CedarLocalEngine.fromPath/fromPathSync:
 * every `*.cedar` file of the given files/directories (directories recursively, sorted), named by
 * file name. Any read or parse failure is a KestConfigurationError naming the file.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { KestConfigurationError } from '../errors.js';
import type { CedarFileOptions, CedarLocalEngineOptions, CedarPolicySource } from './cedar-options.js';

/** Engine options with the policies (and schema) read from `paths` and `options.schemaPath`. */
export async function readCedarOptions(
  paths: string | readonly string[],
  options: CedarFileOptions,
): Promise<CedarLocalEngineOptions> {
  const files: string[] = [];
  for (const path of typeof paths === 'string' ? [paths] : paths) {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (cause) {
      throw new KestConfigurationError(`CedarLocalEngine: cannot read ${path}`, { cause });
    }
    if (info.isDirectory()) {
      const entries = await readdir(path, { recursive: true });
      files.push(...cedarFiles(path, entries));
    } else {
      files.push(path);
    }
  }
  const sources = await Promise.all(
    files.map(async (file) => ({ name: basename(file), text: await readText(file) })),
  );
  const schema = options.schemaPath === undefined ? undefined : await readSchema(options.schemaPath);
  return withSources(options, sources, schema);
}

/** Synchronous twin of readCedarOptions. */
export function readCedarOptionsSync(
  paths: string | readonly string[],
  options: CedarFileOptions,
): CedarLocalEngineOptions {
  const files: string[] = [];
  for (const path of typeof paths === 'string' ? [paths] : paths) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch (cause) {
      throw new KestConfigurationError(`CedarLocalEngine: cannot read ${path}`, { cause });
    }
    if (isDirectory) files.push(...cedarFiles(path, readdirSync(path, { recursive: true }) as string[]));
    else files.push(path);
  }
  const sources = files.map((file) => ({ name: basename(file), text: readTextSync(file) }));
  const schema = options.schemaPath === undefined ? undefined : readSchemaSync(options.schemaPath);
  return withSources(options, sources, schema);
}

function cedarFiles(dir: string, entries: readonly string[]): string[] {
  return entries
    .filter((entry) => entry.endsWith('.cedar'))
    .sort()
    .map((entry) => join(dir, entry));
}

function withSources(
  options: CedarFileOptions,
  sources: CedarPolicySource[],
  schema: cedar.Schema | undefined,
): CedarLocalEngineOptions {
  const { schemaPath: _schemaPath, ...rest } = options;
  if (sources.length === 0) throw new KestConfigurationError('CedarLocalEngine: no .cedar files found');
  return schema === undefined ? { ...rest, policies: sources } : { ...rest, policies: sources, schema };
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new KestConfigurationError(`CedarLocalEngine: cannot read ${file}`, { cause });
  }
}

function readTextSync(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new KestConfigurationError(`CedarLocalEngine: cannot read ${file}`, { cause });
  }
}

async function readSchema(file: string): Promise<cedar.Schema> {
  return parseSchemaFile(file, await readText(file));
}

function readSchemaSync(file: string): cedar.Schema {
  return parseSchemaFile(file, readTextSync(file));
}

function parseSchemaFile(file: string, text: string): cedar.Schema {
  if (!file.endsWith('.json')) return text;
  try {
    return JSON.parse(text) as cedar.Schema;
  } catch (cause) {
    throw new KestConfigurationError(`CedarLocalEngine: schema ${file} is not valid JSON`, { cause });
  }
}
