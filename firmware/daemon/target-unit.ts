/** A target: a synchronization point with no processes; active once started. */
import { UnitRuntime, type ActiveState } from "../core/unit-runtime.ts";

export class TargetUnit extends UnitRuntime {
  private active = false;

  activeState(): ActiveState {
    return this.active ? "active" : "inactive";
  }
  subState(): string {
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
