/** The guest tier: filled in by the QEMU board (scripts/build-image.ts, scripts/run-qemu.ts). */
export async function runGuestTier(): Promise<void> {
  throw new Error("the guest tier needs the QEMU board (not built yet)");
}
