import { createSourceEventStream, subscribe, type DocumentNode, type ExecutionArgs } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { isAsyncIterable, makeSubscribe, mapAsyncIterator, type Plugin } from 'graphql-yoga';

/**
 * Subscriptions whose events run graphql-jit's compiled execution. The source stream still comes from
 * graphql-js: graphql-jit 0.8's own subscribe hands the subscription field the operation's variables
 * instead of its arguments. Each event is then executed by the operation compiled once per document,
 * with the event as root value, as graphql-js's subscribe does with its interpreter: every subscriber
 * of one query shares one compiled function, and an event costs a fraction of an interpreted execution.
 * An operation graphql-jit cannot compile runs on graphql-js alone.
 */
export function useCompiledSubscriptionEvents(): Plugin {
  const compiled = new WeakMap<DocumentNode, Map<string, CompiledQuery | null>>();
  const compiledFor = (args: ExecutionArgs): CompiledQuery | null => {
    let byOperation = compiled.get(args.document);
    if (!byOperation) compiled.set(args.document, (byOperation = new Map()));
    const name = args.operationName ?? '';
    if (!byOperation.has(name)) {
      const result = compileQuery(args.schema, args.document, args.operationName ?? undefined);
      byOperation.set(name, isCompiledQuery(result) ? result : null);
    }
    return byOperation.get(name)!;
  };
  const subscribeCompiled = makeSubscribe(async (args: ExecutionArgs) => {
    const operation = compiledFor(args);
    if (!operation) return subscribe(args);
    const source = await createSourceEventStream(args);
    if (!isAsyncIterable(source)) return source;
    return mapAsyncIterator(source, (event) => operation.query(event, args.contextValue, args.variableValues));
  });
  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(subscribeCompiled);
    },
  };
}
