/**
 * How a process ended, in systemd's words: status=N/NAME, clean or not, exit-code or signal.
 */
import type { ExitInfo } from "./spawn.ts";
import { signalName } from "../sys/constants.ts";
import { exitStatusName } from "../unit/values.ts";

export function describeExit(e: ExitInfo): string {
  if (e.signal !== null) return `status=${e.signal}/${signalName(e.signal).replace(/^SIG/, "")}`;
  const name = exitStatusName(e.code ?? 0);
  return `status=${e.code}${name ? `/${name}` : ""}`;
}

/** systemd's notion of a clean exit (code 0, or SIGHUP/SIGINT/SIGTERM/SIGPIPE). */
export function isCleanExit(e: ExitInfo, success?: { codes: number[]; signals: number[] }): boolean {
  if (e.code === 0) return true;
  if (e.signal !== null && [1, 2, 15, 13].includes(e.signal)) return true;
  if (success) {
    if (e.code !== null && success.codes.includes(e.code)) return true;
    if (e.signal !== null && success.signals.includes(e.signal)) return true;
  }
  return false;
}

export function exitResult(e: ExitInfo): "exit-code" | "signal" {
  return e.signal !== null ? "signal" : "exit-code";
}
