/**
 * CPU time of processes (Linux `/proc/<pid>/stat`: user + system, all threads), for the queue benches' "CPU
 * per job per process". Clock ticks are 1/100 s on Linux; over thousands of jobs that is fine-grained enough.
 */
const TICK_MS = 10;

/** CPU milliseconds used so far by `pid` ("self" for this process), or NaN where /proc is not readable. */
export function cpuMs(pid: number | "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name (which is in parentheses and may hold spaces): 14 utime, 15 stime.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) * TICK_MS;
  } catch {
    return NaN;
  }
}

/** Pids whose command line contains every one of `needles` (e.g. the nats-server on a given port). */
export function findPids(needles: string[]): number[] {
  const out: number[] = [];
  try {
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
        if (needles.every((n) => cmd.includes(n))) out.push(Number(e.name));
      } catch { /* gone */ }
    }
  } catch { /* no /proc */ }
  return out;
}

/** The 2-core machine is shared: the 1-minute load average next to every figure. */
export function loadAverage(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return NaN;
  }
}

/** The `p`-quantile (0..1) of sorted values (nearest rank). */
export function quantile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN;
}
