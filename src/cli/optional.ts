/**
 * The CLI's optional parts, imported on use so the other commands run without their peers: a
 * missing peer is a KestConfigurationError that says what to install.
 */
import { missingPeerError } from '../peers.js';

/** kest/spiffe (its Workload API client needs gRPC). `needs`: "SPIFFE detection needs", ... */
export async function importSpiffe(needs: string): Promise<typeof import('../spiffe/index.js')> {
  try {
    return await import('../spiffe/index.js');
  } catch (err) {
    throw missingPeerError(err, needs, ['@grpc/grpc-js', '@grpc/proto-loader']) ?? err;
  }
}

/** kest/redis (ioredis). */
export async function importRedis(needs: string): Promise<typeof import('../propagation/redis.js')> {
  try {
    return await import('../propagation/redis.js');
  } catch (err) {
    throw missingPeerError(err, needs, ['ioredis']) ?? err;
  }
}
