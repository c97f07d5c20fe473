/**
 * Condition*= and Assert*= at the start of a unit: a failed condition skips the start (the
 * unit stays inactive, successfully), a failed assertion fails it. The outcome is logged as
 * systemd words it.
 */
import type { UnitLog } from "../core/log.ts";
import { evaluateConditions, type ConditionEnv } from "../unit/conditions.ts";
import type { UnitSection } from "../unit/unit-section.ts";

export function checkStartConditions(conditions: UnitSection["conditions"], env: ConditionEnv, unit: string, log: UnitLog): "ok" | "skip" | "assert-failed" {
  const cond = evaluateConditions(
    conditions.filter((c) => !c.assert),
    env,
  );
  for (const u of cond.unsupported) log.debug(`Condition${u.kind}= is not evaluated by bunit, treated as true`);
  if (!cond.ok) {
    const f = cond.failed!;
    log.info(`Condition check resulted in ${unit} being skipped (Condition${f.kind}=${f.negate ? "!" : ""}${f.value}).`);
    return "skip";
  }
  const asserts = evaluateConditions(
    conditions.filter((c) => c.assert),
    env,
  );
  if (!asserts.ok) {
    log.error(`Assertion failed (Assert${asserts.failed!.kind}=${asserts.failed!.value}).`);
    return "assert-failed";
  }
  return "ok";
}
