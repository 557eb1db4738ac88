/**
 * KestTelemetry.setup: send the hook's spans (docs/spec.md §7) somewhere an auditor can read them.
 *
 * The hook only uses the OpenTelemetry API, so spans go to whatever tracer provider is global:
 * - no provider registered yet: register a BasicTracerProvider with resource service.name and the
 *   chosen exporter (plus an AsyncLocalStorage context manager if none is active);
 * - the application already registered an SDK: never register a second one. Add Kest's span
 *   processor to it — through addSpanProcessor() where the SDK has it (1.x), else to the 2.x
 *   provider's processor list — or, with `existingProvider: 'error'`, refuse and let the application
 *   add `KestTelemetry.spanProcessor(...)` to its own SDK configuration (the supported way with the
 *   2.x NodeSDK, whose providers take their processors at construction).
 */
import { ProxyTracerProvider, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ensureContextManager } from '../context/context.js';
import { KestConfigurationError } from '../errors.js';
import { JsonLinesSpanExporter } from './file-exporter.js';
import { SqliteSpanExporter } from './sqlite-exporter.js';

export type ExporterKind = 'otlp' | 'file' | 'sqlite' | 'console';

export interface KestTelemetryOptions {
  /** resource service.name of every span. */
  serviceName: string;
  /** A kind, or any SpanExporter instance. */
  exporter: ExporterKind | SpanExporter;
  /** otlp: the traces URL. Default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / ..._ENDPOINT, else http://localhost:4318/v1/traces. */
  endpoint?: string;
  /** otlp: extra HTTP headers (e.g. authorization for a collector). */
  headers?: Record<string, string>;
  /** file / sqlite: where spans go. Default kest-spans.jsonl / kest-spans.sqlite in the working directory. */
  path?: string;
  /**
   * 'simple' exports each span when it ends (file, sqlite, console default: nothing waits in memory);
   * 'batch' queues and exports in the background (otlp default).
   */
  processor?: 'simple' | 'batch';
  /** More resource attributes. */
  resourceAttributes?: Record<string, string>;
  /** When an SDK is already registered: 'attach' (default) or 'error'. */
  existingProvider?: 'attach' | 'error';
}

export interface KestTelemetryHandle {
  /** 'registered': Kest registered its provider; 'attached': Kest's processor joined the application's. */
  readonly mode: 'registered' | 'attached';
  readonly processor: SpanProcessor;
  readonly exporter: SpanExporter;
  readonly provider: BasicTracerProvider | undefined;
  forceFlush(): Promise<void>;
  /** Flush pending spans, close the exporter; a registered provider is unregistered. Idempotent. */
  shutdown(): Promise<void>;
}

function createExporter(options: KestTelemetryOptions): SpanExporter {
  const kind = options.exporter;
  if (typeof kind === 'object' && kind !== null && typeof kind.export === 'function') return kind;
  switch (kind) {
    case 'otlp':
      return new OTLPTraceExporter({
        ...(options.endpoint ? { url: options.endpoint } : {}),
        ...(options.headers ? { headers: options.headers } : {}),
      });
    case 'file':
      return new JsonLinesSpanExporter({
        path: options.path ?? 'kest-spans.jsonl',
        serviceName: options.serviceName,
      });
    case 'sqlite':
      return new SqliteSpanExporter({
        path: options.path ?? 'kest-spans.sqlite',
        serviceName: options.serviceName,
      });
    case 'console':
      return new ConsoleSpanExporter();
    default:
      throw new KestConfigurationError(
        `unknown telemetry exporter ${JSON.stringify(kind)} (expected otlp, file, sqlite or console)`,
      );
  }
}

function createProcessor(options: KestTelemetryOptions, exporter: SpanExporter): SpanProcessor {
  const batch = (options.processor ?? (options.exporter === 'otlp' ? 'batch' : 'simple')) === 'batch';
  return batch ? new BatchSpanProcessor(exporter) : new SimpleSpanProcessor(exporter);
}

function validate(options: KestTelemetryOptions): void {
  if (typeof options?.serviceName !== 'string' || options.serviceName.length === 0) {
    throw new KestConfigurationError('KestTelemetry.setup: serviceName is required');
  }
  if (options.processor !== undefined && options.processor !== 'simple' && options.processor !== 'batch') {
    throw new KestConfigurationError('KestTelemetry.setup: processor must be "simple" or "batch"');
  }
}

/** The application's registered provider, or undefined when only the API's no-op one is there. */
function registeredProvider(): object | undefined {
  const global = trace.getTracerProvider();
  if (!(global instanceof ProxyTracerProvider)) return global;
  const delegate = global.getDelegate();
  // A fresh proxy's delegate is the API's no-op provider singleton.
  return delegate === new ProxyTracerProvider().getDelegate() ? undefined : delegate;
}

interface ProviderInternals {
  addSpanProcessor?: (p: SpanProcessor) => void;
  _activeSpanProcessor?: { _spanProcessors?: unknown };
}

function attach(provider: object, processor: SpanProcessor): boolean {
  const p = provider as ProviderInternals;
  if (typeof p.addSpanProcessor === 'function') {
    p.addSpanProcessor(processor);
    return true;
  }
  const list = p._activeSpanProcessor?._spanProcessors;
  if (Array.isArray(list)) {
    list.push(processor);
    return true;
  }
  return false;
}

export const KestTelemetry = {
  /** A span processor with the configured exporter, for applications that build their own SDK. */
  spanProcessor(options: Omit<KestTelemetryOptions, 'existingProvider'>): SpanProcessor {
    validate(options);
    return createProcessor(options, createExporter(options));
  },

  setup(options: KestTelemetryOptions): KestTelemetryHandle {
    validate(options);
    const existing = registeredProvider();
    if (existing && (options.existingProvider ?? 'attach') === 'error') {
      throw new KestConfigurationError(
        'an OpenTelemetry tracer provider is already registered: add KestTelemetry.spanProcessor(...) to its span processors',
      );
    }
    const exporter = createExporter(options);
    const processor = createProcessor(options, exporter);
    let done: Promise<void> | undefined;

    if (existing) {
      if (!attach(existing, processor)) {
        void exporter.shutdown();
        throw new KestConfigurationError(
          'the registered OpenTelemetry tracer provider accepts no new span processor: add KestTelemetry.spanProcessor(...) to your SDK configuration',
        );
      }
      return {
        mode: 'attached',
        processor,
        exporter,
        provider: undefined,
        forceFlush: () => processor.forceFlush(),
        shutdown: () => {
          done ??= processor.shutdown();
          return done;
        },
      };
    }

    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        ...options.resourceAttributes,
        'service.name': options.serviceName,
      }),
      spanProcessors: [processor],
    });
    ensureContextManager();
    if (!trace.setGlobalTracerProvider(provider)) {
      void provider.shutdown();
      throw new KestConfigurationError('could not register the OpenTelemetry tracer provider');
    }
    return {
      mode: 'registered',
      processor,
      exporter,
      provider,
      forceFlush: () => provider.forceFlush(),
      shutdown: () => {
        done ??= (async () => {
          try {
            await provider.shutdown();
          } finally {
            // Let a later setup() (or the application) register again.
            if ((trace.getTracerProvider() as ProxyTracerProvider).getDelegate?.() === provider)
              trace.disable();
          }
        })();
        return done;
      },
    };
  },
} as const;
