/**
 * Groups what an async source has ready into arrays, so a consumer can handle a burst of events at once (one
 * store transaction per burst). A batch ends when the next item is not ready within a few microtask turns
 * (no timer: an idle stream adds no latency) or when it holds `max` items.
 */
const NOT_READY = Symbol("not ready");

function soon(): Promise<typeof NOT_READY> {
  return new Promise((resolve) => {
    let turns = 32;
    const hop = () => (--turns > 0 ? queueMicrotask(hop) : resolve(NOT_READY));
    queueMicrotask(hop);
  });
}

export async function* batches<T>(source: AsyncIterable<T>, max = 512): AsyncGenerator<T[]> {
  const it = source[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<T>> | null = null;
  try {
    for (;;) {
      const first = await (pending ?? it.next());
      pending = null;
      if (first.done) return;
      const batch = [first.value];
      while (batch.length < max) {
        pending = it.next();
        const r = await Promise.race([pending, soon()]);
        if (r === NOT_READY) break;
        pending = null;
        if (r.done) {
          yield batch;
          return;
        }
        batch.push(r.value);
      }
      yield batch;
    }
  } finally {
    // Not awaited: a pending next() settles when the source's own signal stops it.
    it.return?.()?.catch(() => {});
  }
}
