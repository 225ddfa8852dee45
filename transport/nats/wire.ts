/**
 * The JSON of every NATS message and status-bucket value. Plain JSON turns NaN and ±Infinity into `null`, so
 * a diverged job's metrics would arrive as nulls; here a non-finite number travels as `{"$num": "NaN"}` (or
 * "Infinity", "-Infinity") and comes back as the number.
 */
const enc = new TextEncoder();
const dec = new TextDecoder();

export function wireJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? { $num: String(v) } : v),
  );
}

export function toWire(value: unknown): Uint8Array {
  return enc.encode(wireJson(value));
}

export function parseWire<T>(text: string): T {
  return JSON.parse(text, (_k, v) => {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === "$num" && typeof v.$num === "string") {
        const n = Number(v.$num);
        if (Number.isNaN(n) && v.$num !== "NaN") return v;
        return n;
      }
    }
    return v;
  }) as T;
}

export function fromWire<T>(data: Uint8Array): T {
  return parseWire<T>(dec.decode(data));
}

/** The progress record that carries a lease's `start()` on the wire (not a metric record). */
export const START_RECORD = { event: "start" } as const;

export function isStartRecord(record: Record<string, unknown>): boolean {
  return record.event === "start" && Object.keys(record).length === 1;
}
