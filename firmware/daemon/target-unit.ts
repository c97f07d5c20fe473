/** A target: a synchronization point with no processes; active once started. */
import type { LoadedUnit } from "../unit/unit-file.ts";
import { UnitRuntime, type ActiveState, type UnitHost } from "../runtime/unit-runtime.ts";

export class TargetUnit extends UnitRuntime<"active" | "dead", "success"> {
  private active = false;

  constructor(config: LoadedUnit, host: UnitHost) {
    super(config, host, "success");
  }

  /** A built-in target without a file has nothing for daemon-reload to re-read. */
  override followsUnitFile(): boolean {
    return this.config.loadState !== "not-found";
  }

  activeState(): ActiveState {
    return this.active ? "active" : "inactive";
  }
  subState(): "active" | "dead" {
    return this.active ? "active" : "dead";
  }
  start(): void {
    if (this.active) return;
    this.active = true;
    this.host.stateChanged(this, "dead", "active");
  }
  stop(): void {
    if (!this.active) return;
    this.active = false;
    this.host.stateChanged(this, "active", "dead");
  }
}
