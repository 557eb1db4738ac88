/**
 * The SPIFFE Workload API service (spiffe/go-spiffe proto/spiffe/workload/workload.proto) as a
 * protobufjs JSON descriptor for @grpc/proto-loader's fromJSON: no .proto file to ship or locate at
 * run time. The standard's proto has no package, so methods are `/SpiffeWorkloadAPI/<Method>`.
 * ValidateJWTSVID (whose response needs google.protobuf.Struct) is not part of this descriptor.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const bytes = (id: number) => ({ type: 'bytes', id });
const str = (id: number) => ({ type: 'string', id });

export const WORKLOAD_API_DESCRIPTOR = {
  nested: {
    SpiffeWorkloadAPI: {
      methods: {
        FetchJWTSVID: { requestType: 'JWTSVIDRequest', responseType: 'JWTSVIDResponse' },
        FetchJWTBundles: {
          requestType: 'JWTBundlesRequest',
          responseType: 'JWTBundlesResponse',
          responseStream: true,
        },
        FetchX509SVID: {
          requestType: 'X509SVIDRequest',
          responseType: 'X509SVIDResponse',
          responseStream: true,
        },
        FetchX509Bundles: {
          requestType: 'X509BundlesRequest',
          responseType: 'X509BundlesResponse',
          responseStream: true,
        },
      },
    },
    X509SVIDRequest: { fields: {} },
    X509SVIDResponse: {
      fields: {
        svids: { rule: 'repeated', type: 'X509SVID', id: 1 },
        crl: { rule: 'repeated', type: 'bytes', id: 2 },
        federated_bundles: { keyType: 'string', type: 'bytes', id: 3 },
      },
    },
    X509SVID: {
      fields: {
        spiffe_id: str(1),
        x509_svid: bytes(2),
        x509_svid_key: bytes(3),
        bundle: bytes(4),
        hint: str(5),
      },
    },
    X509BundlesRequest: { fields: {} },
    X509BundlesResponse: {
      fields: {
        crl: { rule: 'repeated', type: 'bytes', id: 1 },
        bundles: { keyType: 'string', type: 'bytes', id: 2 },
      },
    },
    JWTSVIDRequest: { fields: { audience: { rule: 'repeated', type: 'string', id: 1 }, spiffe_id: str(2) } },
    JWTSVIDResponse: { fields: { svids: { rule: 'repeated', type: 'JWTSVID', id: 1 } } },
    JWTSVID: { fields: { spiffe_id: str(1), svid: str(2), hint: str(3) } },
    JWTBundlesRequest: { fields: {} },
    JWTBundlesResponse: { fields: { bundles: { keyType: 'string', type: 'bytes', id: 1 } } },
  },
} as const;

/** Metadata every Workload API call carries; servers refuse calls without it. */
export const WORKLOAD_API_HEADER = 'workload.spiffe.io';

export interface X509SVIDMessage {
  spiffe_id: string;
  x509_svid: Buffer;
  x509_svid_key: Buffer;
  bundle: Buffer;
  hint: string;
}
export interface X509SVIDResponseMessage {
  svids: X509SVIDMessage[];
  crl: Buffer[];
  federated_bundles: Record<string, Buffer>;
}
export interface X509BundlesResponseMessage {
  crl: Buffer[];
  bundles: Record<string, Buffer>;
}
export interface JWTSVIDResponseMessage {
  svids: { spiffe_id: string; svid: string; hint: string }[];
}
export interface JWTBundlesResponseMessage {
  bundles: Record<string, Buffer>;
}

let cached: grpc.ServiceClientConstructor | undefined;

/** The generated client constructor; its `.service` is the service definition servers add. */
export function workloadApiService(): grpc.ServiceClientConstructor {
  if (!cached) {
    const definition = protoLoader.fromJSON(
      WORKLOAD_API_DESCRIPTOR as unknown as Parameters<typeof protoLoader.fromJSON>[0],
      {
        keepCase: true,
        longs: String,
        enums: String,
        defaults: true,
        oneofs: true,
      },
    );
    cached = grpc.loadPackageDefinition(definition).SpiffeWorkloadAPI as grpc.ServiceClientConstructor;
  }
  return cached;
}
