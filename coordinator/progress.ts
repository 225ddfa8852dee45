/**
 * Progress display for a running sweep: a cli-progress bar on a terminal, plain periodic lines otherwise
 * (CI logs), nothing when asked for silence.
 */
import cliProgress from "cli-progress";
import type { SweepProgress } from "./run.ts";

export type ProgressMode = "auto" | "bar" | "lines" | "none";

export interface ProgressDisplay {
  update(p: SweepProgress): void;
  stop(): void;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/** One plain status line, e.g. `[1m05s] 12/40 done, 2 running, 1 failed, 25 queued, ETA 3m10s`. */
export function progressLine(p: SweepProgress): string {
  const eta = p.etaMs !== undefined ? `, ETA ${formatDuration(p.etaMs)}` : "";
  return `[${
    formatDuration(p.elapsedMs)
  }] ${p.done}/${p.total} done, ${p.running} running, ${p.failed} failed, ` +
    `${p.queued} queued${eta}`;
}

export function createProgress(
  mode: ProgressMode,
  opts: { isTerminal?: boolean; intervalMs?: number; write?: (line: string) => void } = {},
): ProgressDisplay {
  const tty = opts.isTerminal ?? Deno.stderr.isTerminal();
  const resolved = mode === "auto" ? (tty ? "bar" : "lines") : mode;
  if (resolved === "none") return { update() {}, stop() {} };
  if (resolved === "lines") {
    const write = opts.write ?? ((l: string) => console.error(l));
    const interval = opts.intervalMs ?? 10_000;
    let last = -Infinity;
    let lastP: SweepProgress | null = null;
    return {
      update(p) {
        lastP = p;
        if (p.final || p.elapsedMs - last >= interval) {
          last = p.elapsedMs;
          write(progressLine(p));
        }
      },
      stop() {
        if (lastP && !lastP.final) write(progressLine(lastP));
      },
    };
  }
  const bar = new cliProgress.SingleBar({
    format: "{bar} {value}/{total} done | {running} running | {failed} failed | {queued} queued | " +
      "{elapsed} elapsed | ETA {eta_s}",
    barCompleteChar: "█",
    barIncompleteChar: "░",
    hideCursor: true,
    clearOnComplete: false,
    stopOnComplete: false,
    etaBuffer: 50,
  });
  let started = false;
  return {
    update(p) {
      const payload = {
        running: p.running,
        failed: p.failed,
        queued: p.queued,
        elapsed: formatDuration(p.elapsedMs),
        eta_s: p.etaMs !== undefined ? formatDuration(p.etaMs) : p.final ? "0s" : "…",
      };
      if (!started) {
        bar.start(p.total, p.done, payload);
        started = true;
      } else {
        bar.setTotal(p.total);
        bar.update(p.done, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
