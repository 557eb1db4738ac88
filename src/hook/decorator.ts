import { type KestVerifiedOptions, kestVerified } from './verified.js';

/**
 * TC39 (TypeScript 5 standard) method decorator with the options of kestVerified:
 *
 *   class Reports { @verified({ policy: 'export-allowed' }) async export(id: string) { ... } }
 *
 * `operation` defaults to the method name.
 */
export function verified<A extends unknown[]>(options: KestVerifiedOptions<A>) {
  return function decorate<This, R>(
    method: (this: This, ...args: A) => R,
    ctx: ClassMethodDecoratorContext<This, (this: This, ...args: A) => R>,
  ): (this: This, ...args: A) => Promise<Awaited<R>> {
    if (ctx.kind !== 'method') throw new TypeError('@verified decorates methods');
    const operation = options.operation ?? String(ctx.name);
    return kestVerified(method as (...args: A) => R, { ...options, operation }) as (
      this: This,
      ...args: A
    ) => Promise<Awaited<R>>;
  };
}
