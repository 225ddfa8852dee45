/**
 * The results store of one run directory: a SQLite database (`node:sqlite`) at `RUN_DIR/results.sqlite`.
 * It holds every job's resolved config, status, attempts, worker, metric history, final metrics and error,
 * plus the sweep's metadata (name, spec text, report layouts). Reports read it through `records()`.
 *
 * Writes are autocommitted one event at a time (WAL mode), so a killed coordinator loses nothing it already
 * acknowledged and `status` can read while a sweep runs.
 */
import { DatabaseSync } from "node:sqlite";
import type { Job, JobRecord, JobStatus, MetricRecord, ReportLayout } from "../core/sweep/job.ts";

export const STORE_FILE = "results.sqlite";

/** Counts as printed by `status --json`. */
export interface StatusCounts {
  total: number;
  done: number;
  failed: number;
  running: number;
  queued: number;
}

/** One row of the jobs table, with the bookkeeping the coordinator needs beyond `JobRecord`. */
export interface StoredJob extends JobRecord {
  inputs?: Record<string, string>;
  /** Ids of the jobs this one depends on (earlier stages). */
  deps: string[];
  seq: number;
  startedAt?: number;
  finishedAt?: number;
  /** Engine version (content hash, `workers/version.ts`) that computed the result. */
  code?: string;
  /** Where the result came from: `{ run }` computed by that run, or `{ reused: true, sweep, run, at }`. */
  origin?: Record<string, unknown>;
}

/** Sweep-level metadata kept in the store. */
export interface SweepMeta {
  name: string;
  /** The spec file's path as given and its text. */
  specPath?: string;
  specText?: string;
  /** Report tables requested by the spec. */
  layouts: ReportLayout[];
  createdAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  sweep TEXT NOT NULL,
  stage TEXT NOT NULL,
  kind TEXT NOT NULL,
  config TEXT NOT NULL,
  inputs TEXT,
  deps TEXT NOT NULL DEFAULT '[]',
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  worker TEXT,
  error TEXT,
  final TEXT,
  started_at REAL,
  finished_at REAL,
  updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
  job_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  n INTEGER NOT NULL,
  record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_job ON history (job_id, attempt, n);
CREATE TABLE IF NOT EXISTS executions (
  job_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  worker TEXT,
  started_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS lock (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  token TEXT NOT NULL,
  holder TEXT NOT NULL,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  heartbeat REAL NOT NULL
);
`;

/** Columns every store must have (a file without them is not a flowsweep store, or a damaged one). */
const REQUIRED_COLUMNS: Record<string, string[]> = {
  meta: ["key", "value"],
  jobs: [
    "id",
    "seq",
    "sweep",
    "stage",
    "kind",
    "config",
    "inputs",
    "deps",
    "status",
    "attempts",
    "worker",
    "error",
    "final",
    "started_at",
    "finished_at",
    "updated_at",
  ],
  history: ["job_id", "attempt", "n", "record"],
  executions: ["job_id", "attempt", "worker", "started_at"],
};

/**
 * A results store that cannot be opened, read or written (not a database, truncated, wrong schema, disk
 * full, no permission): one line naming the file and SQLite's reason.
 */
export class StoreError extends Error {
  override name = "StoreError";
}

/** Another process holds the run directory (see `ResultStore.acquireLock`). */
export class LockError extends Error {
  override name = "LockError";
}

/** A lock whose heartbeat is older than this is stale and may be taken over (the holder beats every second). */
export const LOCK_STALE_MS = 30_000;

/** Who holds a run directory. */
export interface LockHolder {
  holder: string;
  host: string;
  pid: number;
  heartbeat: number;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function reason(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0];
}

interface JobRow {
  id: string;
  seq: number;
  sweep: string;
  stage: string;
  kind: string;
  config: string;
  inputs: string | null;
  deps: string;
  status: string;
  attempts: number;
  worker: string | null;
  error: string | null;
  final: string | null;
  started_at: number | null;
  finished_at: number | null;
  code?: string | null;
  origin?: string | null;
}

/** JSON that keeps non-finite numbers (NaN, ±Infinity) as strings so metrics survive a round trip. */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v));
}

function fromJsonMetrics(text: string): MetricRecord {
  const raw = JSON.parse(text) as Record<string, unknown>;
  const out: MetricRecord = {};
  for (const [k, v] of Object.entries(raw)) {
    out[k] = v === "NaN"
      ? NaN
      : v === "Infinity"
      ? Infinity
      : v === "-Infinity"
      ? -Infinity
      : v as MetricRecord[string];
  }
  return out;
}

export class ResultStore {
  readonly path: string;
  #db: DatabaseSync;
  #stmts: Record<string, ReturnType<DatabaseSync["prepare"]>> = {};

  constructor(path: string, opts: { readOnly?: boolean } = {}) {
    this.path = path;
    // SQLite creates the -wal and -shm files of a WAL database on open, even read-only: when the store turns
    // out to be unreadable, the ones this open created are removed again (bad input writes nothing).
    const sidecars = [`${path}-wal`, `${path}-shm`].filter((p) => !exists(p));
    try {
      this.#db = new DatabaseSync(path, { readOnly: opts.readOnly ?? false });
    } catch (err) {
      throw new StoreError(`cannot open results store ${path}: ${reason(err)}`);
    }
    try {
      this.#db.exec("PRAGMA busy_timeout = 5000");
      const existed = this.#tableColumns("jobs").length > 0;
      if (existed) this.#check();
      if (!opts.readOnly) {
        this.#db.exec("PRAGMA journal_mode = WAL");
        this.#db.exec("PRAGMA synchronous = NORMAL");
        this.#db.exec(SCHEMA);
        this.#migrate();
        if (!existed) this.#check();
      } else if (!existed) throw new Error("no jobs table (not a flowsweep results store)");
    } catch (err) {
      try {
        this.#db.close();
      } catch { /* already unusable */ }
      // Only for a damaged file: a store that is merely new (no tables yet) may be one a coordinator is
      // creating right now, and its -wal is not ours to remove.
      if (/not a database|malformed|wrong schema|lacks column|damaged/i.test(reason(err))) {
        for (const p of sidecars) {
          try {
            Deno.removeSync(p);
          } catch { /* not created */ }
        }
      }
      throw new StoreError(`results store ${path} is unreadable: ${reason(err)}`);
    }
  }

  /** Columns and indexes added after the first schema (older stores gain them when opened for writing). */
  #migrate(): void {
    const cols = new Set(this.#tableColumns("jobs"));
    // code: the engine version that produced the result; origin: where the result came from (JSON).
    if (!cols.has("code")) this.#db.exec("ALTER TABLE jobs ADD COLUMN code TEXT");
    if (!cols.has("origin")) this.#db.exec("ALTER TABLE jobs ADD COLUMN origin TEXT");
    this.#db.exec("CREATE INDEX IF NOT EXISTS executions_job ON executions (job_id, attempt)");
  }

  #tableColumns(table: string): string[] {
    return (this.#db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((r) => r.name);
  }

  /** The file is a SQLite database with every table and column a store needs, and its pages are intact. */
  #check(): void {
    for (const [table, cols] of Object.entries(REQUIRED_COLUMNS)) {
      const have = new Set(this.#tableColumns(table));
      if (have.size === 0) throw new Error(`no ${table} table (not a flowsweep results store)`);
      const missing = cols.filter((c) => !have.has(c));
      if (missing.length) {
        throw new Error(`table ${table} lacks column(s) ${missing.join(", ")} (wrong schema)`);
      }
    }
    const rows = this.#db.prepare("PRAGMA quick_check(1)").all() as Record<string, string>[];
    const verdict = rows.length ? Object.values(rows[0])[0] : "ok";
    if (verdict !== "ok") throw new Error(`damaged database (${verdict})`);
  }

  #stmt(sql: string) {
    return this.#stmts[sql] ??= this.#db.prepare(sql);
  }

  /** Runs `fn` in one transaction (inside another one, `fn` joins it). */
  transaction<T>(fn: () => T, mode: "DEFERRED" | "IMMEDIATE" = "DEFERRED"): T {
    if (this.#db.isTransaction) return fn(); // nested: part of the enclosing transaction
    this.#db.exec(`BEGIN ${mode}`);
    try {
      const out = fn();
      this.#db.exec("COMMIT");
      return out;
    } catch (err) {
      // SQLite may already have rolled back (disk full, I/O error): a second ROLLBACK would mask the cause.
      if (this.#db.isTransaction) {
        try {
          this.#db.exec("ROLLBACK");
        } catch { /* keep the original error */ }
      }
      throw err;
    }
  }

  // ---------------------------------------------------------------- run-directory lock

  /**
   * Takes the run directory's exclusive lock for `holder` (e.g. "sweep (pid 123 on host)"), or throws
   * LockError naming who holds it. A lock is stale, and taken over, when its heartbeat is older than
   * LOCK_STALE_MS or its process is gone (same host). Returns the token that `refreshLock`/`releaseLock` take.
   */
  acquireLock(holder: string, now = Date.now()): string {
    const token = crypto.randomUUID();
    const host = Deno.hostname();
    this.transaction(() => {
      const cur = this.lockHolder();
      if (cur && !lockIsStale(cur, now, host)) {
        throw new LockError(
          `${this.path.replace(/\/[^/]*$/, "")} is in use by ${cur.holder} (pid ${cur.pid} on ${cur.host}, ` +
            `heartbeat ${((now - cur.heartbeat) / 1000).toFixed(0)} s ago); wait for it or stop it`,
        );
      }
      this.#stmt(
        `INSERT INTO lock (id, token, holder, host, pid, heartbeat) VALUES (1, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET token = excluded.token, holder = excluded.holder, host = excluded.host,
         pid = excluded.pid, heartbeat = excluded.heartbeat`,
      ).run(token, holder, host, Deno.pid, now);
    }, "IMMEDIATE");
    return token;
  }

  /** Who holds the lock (possibly stale), or null. */
  lockHolder(): LockHolder | null {
    const r = this.#stmt("SELECT holder, host, pid, heartbeat FROM lock WHERE id = 1").get() as
      | LockHolder
      | undefined;
    return r ? { holder: r.holder, host: r.host, pid: Number(r.pid), heartbeat: Number(r.heartbeat) } : null;
  }

  /** Beats the lock; false when it is no longer ours (taken over after we stalled). */
  refreshLock(token: string, now = Date.now()): boolean {
    return Number(this.#stmt("UPDATE lock SET heartbeat = ? WHERE token = ?").run(now, token).changes) > 0;
  }

  releaseLock(token: string): void {
    this.#stmt("DELETE FROM lock WHERE token = ?").run(token);
  }

  // ---------------------------------------------------------------- metadata

  setMeta(meta: Partial<SweepMeta>): void {
    const put = this.#stmt(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    );
    for (const [k, v] of Object.entries(meta)) if (v !== undefined) put.run(k, JSON.stringify(v));
  }

  /** Sweep metadata, or null for an empty store. */
  meta(): SweepMeta | null {
    const rows = this.#stmt("SELECT key, value FROM meta").all() as { key: string; value: string }[];
    if (rows.length === 0) return null;
    const m: Record<string, unknown> = {};
    for (const r of rows) m[r.key] = JSON.parse(r.value);
    return {
      name: String(m.name ?? ""),
      specPath: m.specPath as string | undefined,
      specText: m.specText as string | undefined,
      layouts: (m.layouts as ReportLayout[] | undefined) ?? [],
      createdAt: Number(m.createdAt ?? 0),
    };
  }

  /** Report layouts requested by the sweep spec (empty when it asked for none). */
  layouts(): ReportLayout[] {
    return this.meta()?.layouts ?? [];
  }

  /** Free-form key for coordinator liveness etc. */
  setValue(key: string, value: unknown): void {
    this.setMeta({ [key]: value } as Partial<SweepMeta>);
  }

  value(key: string): unknown {
    const row = this.#stmt("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
    return row ? JSON.parse(row.value) : undefined;
  }

  // ---------------------------------------------------------------- jobs

  /**
   * Inserts jobs that are not stored yet (status `queued`); existing rows are left untouched.
   * Returns the number inserted.
   */
  addJobs(jobs: { job: Job; deps: string[]; seq: number }[]): number {
    const ins = this.#stmt(
      `INSERT OR IGNORE INTO jobs (id, seq, sweep, stage, kind, config, inputs, deps, status, attempts, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?)`,
    );
    const now = Date.now();
    let n = 0;
    this.transaction(() => {
      for (const { job, deps, seq } of jobs) {
        const r = ins.run(
          job.id,
          seq,
          job.sweep,
          job.stage,
          job.kind,
          toJson(job.config),
          job.inputs ? toJson(job.inputs) : null,
          JSON.stringify(deps),
          now,
        );
        n += Number(r.changes);
      }
    });
    return n;
  }

  /** A job moves to `running` on a worker; starts attempt `attempt` (history of older attempts is dropped). */
  markRunning(id: string, worker: string, attempt: number): void {
    const now = Date.now();
    this.#stmt(
      `UPDATE jobs SET status = 'running', worker = ?, attempts = MAX(attempts, ?), started_at = ?, updated_at = ?,
       error = NULL WHERE id = ? AND status != 'done'`,
    ).run(worker, attempt, now, now, id);
    this.#stmt("DELETE FROM history WHERE job_id = ? AND attempt < ?").run(id, attempt);
    // One row per execution start: a start record seen again (a replayed event log) adds none.
    this.#stmt(
      `INSERT INTO executions (job_id, attempt, worker, started_at) SELECT ?, ?, ?, ?
       WHERE NOT EXISTS (SELECT 1 FROM executions WHERE job_id = ? AND attempt = ?)`,
    ).run(id, attempt, worker, now, id, attempt);
  }

  /** Appends one metric record of attempt `attempt`. */
  appendHistory(id: string, attempt: number, record: MetricRecord): void {
    const row = this.#stmt("SELECT COUNT(*) AS n FROM history WHERE job_id = ? AND attempt = ?").get(
      id,
      attempt,
    ) as { n: number };
    this.#stmt("INSERT INTO history (job_id, attempt, n, record) VALUES (?, ?, ?, ?)").run(
      id,
      attempt,
      Number(row.n),
      toJson(record),
    );
  }

  /**
   * A job finished ok. `code`: the engine version that computed it; `origin`: where the result came from
   * (`{ run }` of the run that computed it, or `{ reused: true, sweep, run, at }` for a result taken from an
   * earlier run by `sweep --reuse`).
   */
  markDone(
    id: string,
    worker: string,
    attempt: number,
    final: MetricRecord | undefined,
    extra: { code?: string; origin?: Record<string, unknown> } = {},
  ): void {
    const now = Date.now();
    this.#stmt(
      `UPDATE jobs SET status = 'done', worker = ?, attempts = MAX(attempts, ?), final = ?, error = NULL,
       finished_at = ?, updated_at = ?, code = ?, origin = ? WHERE id = ?`,
    ).run(
      worker,
      attempt,
      toJson(final ?? {}),
      now,
      now,
      extra.code ?? null,
      extra.origin ? JSON.stringify(extra.origin) : null,
      id,
    );
  }

  markFailed(id: string, worker: string | null, attempt: number, error: string): void {
    const now = Date.now();
    this.#stmt(
      `UPDATE jobs SET status = 'failed', worker = COALESCE(?, worker), attempts = MAX(attempts, ?), error = ?,
       finished_at = ?, updated_at = ? WHERE id = ?`,
    ).run(worker, attempt, error, now, now, id);
  }

  /** Sets jobs back to `queued` (e.g. running jobs when a sweep is cancelled). Returns how many changed. */
  requeue(ids: string[], from: JobStatus[] = ["running"]): number {
    const now = Date.now();
    const placeholders = from.map(() => "?").join(",");
    const stmt = this.#stmt(
      `UPDATE jobs SET status = 'queued', updated_at = ? WHERE id = ? AND status IN (${placeholders})`,
    );
    let n = 0;
    this.transaction(() => {
      for (const id of ids) n += Number(stmt.run(now, id, ...from).changes);
    });
    return n;
  }

  /** Number of times a job was started (one row per execution start), across all coordinator sessions. */
  executions(id: string): number {
    const row = this.#stmt("SELECT COUNT(*) AS n FROM executions WHERE job_id = ?").get(id) as { n: number };
    return Number(row.n);
  }

  counts(): StatusCounts {
    const rows = this.#stmt("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status").all() as {
      status: string;
      n: number;
    }[];
    const c: StatusCounts = { total: 0, done: 0, failed: 0, running: 0, queued: 0 };
    for (const r of rows) {
      const n = Number(r.n);
      c.total += n;
      if (r.status === "done") c.done += n;
      else if (r.status === "failed") c.failed += n;
      else if (r.status === "running") c.running += n;
      else c.queued += n; // queued, cancelled
    }
    return c;
  }

  /** Jobs with their bookkeeping, in expansion order. History is left empty (see `records`). */
  jobs(): StoredJob[] {
    const rows = this.#stmt("SELECT * FROM jobs ORDER BY seq, id").all() as unknown as JobRow[];
    return rows.map((r) => this.#fromRow(r));
  }

  job(id: string): StoredJob | null {
    const r = this.#stmt("SELECT * FROM jobs WHERE id = ?").get(id) as unknown as JobRow | undefined;
    return r ? this.#fromRow(r) : null;
  }

  #fromRow(r: JobRow): StoredJob {
    const out: StoredJob = {
      id: r.id,
      sweep: r.sweep,
      stage: r.stage,
      kind: r.kind as Job["kind"],
      config: JSON.parse(r.config),
      status: r.status as JobStatus,
      attempts: Number(r.attempts),
      history: [],
      deps: JSON.parse(r.deps),
      seq: Number(r.seq),
    };
    if (r.inputs) out.inputs = JSON.parse(r.inputs);
    if (r.worker !== null) out.worker = r.worker;
    if (r.error !== null) out.error = r.error;
    if (r.final !== null) out.final = fromJsonMetrics(r.final);
    if (r.started_at !== null) out.startedAt = Number(r.started_at);
    if (r.finished_at !== null) out.finishedAt = Number(r.finished_at);
    if (r.code != null) out.code = r.code;
    if (r.origin != null) out.origin = JSON.parse(r.origin);
    return out;
  }

  /** History of a job's latest attempt, in arrival order. */
  history(id: string): MetricRecord[] {
    const rows = this.#stmt(
      `SELECT record FROM history WHERE job_id = ? AND attempt = (SELECT MAX(attempt) FROM history WHERE job_id = ?)
       ORDER BY n`,
    ).all(id, id) as { record: string }[];
    return rows.map((r) => fromJsonMetrics(r.record));
  }

  /** Everything stored about every job, in expansion order — what reports aggregate. */
  records(): JobRecord[] {
    const hist = new Map<string, MetricRecord[]>();
    const rows = this.#stmt(
      `SELECT h.job_id AS job_id, h.record AS record FROM history h
       JOIN (SELECT job_id, MAX(attempt) AS a FROM history GROUP BY job_id) m
         ON h.job_id = m.job_id AND h.attempt = m.a
       ORDER BY h.job_id, h.n`,
    ).all() as { job_id: string; record: string }[];
    for (const r of rows) {
      let list = hist.get(r.job_id);
      if (!list) hist.set(r.job_id, list = []);
      list.push(fromJsonMetrics(r.record));
    }
    return this.jobs().map((j) => {
      const rec: JobRecord = {
        id: j.id,
        sweep: j.sweep,
        stage: j.stage,
        kind: j.kind,
        config: j.config,
        status: j.status,
        attempts: j.attempts,
        history: hist.get(j.id) ?? [],
      };
      if (j.worker !== undefined) rec.worker = j.worker;
      if (j.error !== undefined) rec.error = j.error;
      if (j.final !== undefined) rec.final = j.final;
      return rec;
    });
  }

  close(): void {
    this.#db.close();
  }
}

/** A lock is stale when its heartbeat is old, or when its process no longer exists on this host (Linux). */
export function lockIsStale(l: LockHolder, now: number, host: string): boolean {
  if (now - l.heartbeat > LOCK_STALE_MS) return true;
  if (l.host === host && l.pid !== Deno.pid) {
    try {
      Deno.statSync(`/proc/${l.pid}`);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound && hasProc()) return true;
    }
  }
  return false;
}

function hasProc(): boolean {
  try {
    return Deno.statSync("/proc/self").isDirectory;
  } catch {
    return false;
  }
}

/** Path of the store inside a run directory. */
export function storePath(runDir: string): string {
  return `${runDir.replace(/\/+$/, "")}/${STORE_FILE}`;
}

/**
 * Opens (creating if needed) the results store of a run directory. The directory must exist.
 * `readOnly` opens an existing store without creating or migrating anything (status, reports).
 */
export function openStore(runDir: string, opts: { readOnly?: boolean } = {}): ResultStore {
  return new ResultStore(storePath(runDir), opts);
}
