/**
 * `doctor [--json]`: what each compute backend finds on this machine and why one is unavailable — the CPU GEMM
 * backends (backends/select.ts) and the device engine's backends (backends/device/select.ts: tensorflow-gpu,
 * webgpu with the adapter's name, vendor, limits and whether it is a software adapter, tfjs-cpu), and which one
 * `auto` would pick for each. Exit 0 (it reports; it does not judge).
 */
import type { Command } from "commander";

export function register(program: Command): void {
  program
    .command("doctor")
    .description(
      "print what each compute backend finds here (GEMM backends; device backends: tensorflow-gpu, webgpu adapter\n" +
        "name, vendor and limits, tfjs-cpu) and why one is unavailable; `auto` never picks a software adapter",
    )
    .option("--json", "print one JSON object instead of lines")
    .action(async (flags: { json?: boolean }) => {
      const { backendReport } = await import("../backends/select.ts");
      const { autoDevice, probeDevices } = await import("../backends/device/select.ts");
      const gemm = await backendReport();
      const devices = await probeDevices();
      const auto = autoDevice(devices);
      if (flags.json) {
        console.log(JSON.stringify({ gemm, device: devices, deviceAuto: auto?.name ?? null }));
        return;
      }
      console.log("GEMM backends (CPU engine, --backend):");
      for (const [name, line] of Object.entries(gemm)) console.log(`  ${name.padEnd(15)} ${line}`);
      console.log("device engine backends:");
      for (const p of devices) {
        console.log(`  ${p.name.padEnd(15)} ${p.ok ? "ok" : "unavailable"}: ${p.detail}`);
      }
      console.log(
        `  auto            ${auto ? auto.name : "none (no GPU found; software adapters are never chosen)"}`,
      );
    });
}
