/**
 * The unit search path: $BUNIT_UNIT_PATH (colon-separated; a trailing ":" appends the
 * defaults, as $SYSTEMD_UNIT_PATH does), otherwise /etc/bunit/units, /run/bunit/units,
 * /usr/lib/bunit/units.
 */
export const DEFAULT_UNIT_PATH = ["/etc/bunit/units", "/run/bunit/units", "/usr/lib/bunit/units"];

export function defaultUnitPath(env: Record<string, string | undefined> = process.env): string[] {
  const v = env.BUNIT_UNIT_PATH;
  if (!v) return [...DEFAULT_UNIT_PATH];
  const parts = v.split(":");
  const appendDefaults = v.endsWith(":");
  const dirs = parts.filter(Boolean);
  return appendDefaults ? [...dirs, ...DEFAULT_UNIT_PATH.filter((d) => !dirs.includes(d))] : dirs;
}
