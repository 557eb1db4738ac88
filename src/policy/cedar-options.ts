/**
 * Options of CedarLocalEngine (docs/policy.md) and where the shipped policy library lives. Kept
 * apart from the engine so the file loader and the policy catalogue can name them without a cycle.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { CedarContextShape } from './cedar-context.js';

/** The ready-made policies shipped with Kest (`policies/*.cedar`) and their schema. */
export const KEST_POLICY_LIBRARY_DIR = fileURLToPath(new URL('../../policies/', import.meta.url));
export const KEST_POLICY_SCHEMA_PATH = join(KEST_POLICY_LIBRARY_DIR, 'kest.cedarschema');

/** One source of Cedar policy text; `name` (a file name) prefixes generated policy ids and errors. */
export interface CedarPolicySource {
  name: string;
  text: string;
}

export interface CedarEntityTypes {
  /** Entity type of the principal (the workload running the hook). Default `Kest::Workload`. */
  principalType?: string;
  /** Entity type of the action; its id is the policy name. Default `Kest::Action`. */
  actionType?: string;
  /** Entity type of the resource. Default `Kest::Resource`. */
  resourceType?: string;
  /** Resource id used when the evaluation has no resource id. Default `"default"`. */
  defaultResourceId?: string;
}

export interface CedarLocalEngineOptions extends CedarEntityTypes {
  /** Cedar policy text, or several named sources (e.g. one per file). */
  policies: string | readonly CedarPolicySource[];
  /** A Cedar schema (text or JSON) the policies are validated against at start-up. */
  schema?: cedar.Schema;
  /** Context form handed to Cedar. Default `both` (structured + dotted keys). */
  contextShape?: CedarContextShape;
  /** Static entity data, e.g. workload groups for `principal in Kest::WorkloadGroup::"x"`. */
  entities?: cedar.EntityJson[];
  /**
   * Cedar skips a policy whose condition errors (e.g. a missing attribute), which can keep a
   * `forbid` from firing. Kest denies instead unless this is set to false. Default true.
   */
  denyOnPolicyError?: boolean;
  /**
   * Hand Cedar only the context keys the policies of each name read (default true). Decisions are
   * the same (a policy cannot observe a key it never names) and copying values into the Wasm
   * module is most of a decision's cost.
   */
  pruneContext?: boolean;
  /**
   * Decision cache, off by default. Its key is the whole Cedar request (principal, action,
   * resource, complete context), so one request's decision can never authorise a different one.
   */
  decisionCache?: { maxEntries: number };
}

export interface CedarFileOptions extends Omit<CedarLocalEngineOptions, 'policies' | 'schema'> {
  /** A Cedar schema file: `*.cedarschema` (Cedar syntax) or `*.json` (JSON schema). */
  schemaPath?: string;
}
