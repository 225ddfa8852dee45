import type { Command } from "commander";

export function register(program: Command): void {
  program.command("train").description("train one GFlowNet (engine in progress)");
}
