/**
 * The service of units/examples/usb-loopback: a USB bulk loopback over FunctionFS, using
 * bunit's TypeScript library. Started by a ListenUSBFunction= socket with ep0, ep1 (bulk OUT)
 * and ep2 (bulk IN) in LISTEN_FDS.
 *
 * Control requests (vendor type, recipient interface or device):
 *   IN  0x01  identify: "bunit-loopback <pid>"
 *   OUT 0x02  store up to 64 bytes
 *   IN  0x03  read back what 0x02 stored
 *   IN  0x04  counters as JSON: {"bytes":N,"transfers":N,"enables":N}
 *   anything else is stalled.
 *
 * Data written to ep1 comes back on ep2, transfer by transfer. When the host disables the
 * function (unplug, unbind) the loop pauses and resumes at the next ENABLE.
 */
import { errorText } from "../core/errors.ts";
import { FunctionFs } from "../usb/functionfs.ts";

const f = FunctionFs.fromListenFds();
let stored: Uint8Array = new Uint8Array(0);
const counters = { bytes: 0, transfers: 0, enables: 0 };
f.on("enable", () => counters.enables++);
f.on("state", () => console.error(`usb-loopback: ${f.state}`));

f.onSetup((s) => {
  const r = s.request;
  if (r.type !== "vendor") return s.stall();
  if (r.direction === "in" && r.bRequest === 0x01) return s.reply(`bunit-loopback ${process.pid}`);
  if (r.direction === "out" && r.bRequest === 0x02 && r.wLength <= 64) {
    stored = s.receive();
    return;
  }
  if (r.direction === "in" && r.bRequest === 0x03) return s.reply(stored);
  if (r.direction === "in" && r.bRequest === 0x04) return s.reply(JSON.stringify(counters));
  s.stall();
});

const out = f.endpoint(1);
const back = f.endpoint(2);
console.error(`usb-loopback: started (${f.state}), ${f.endpointCount} endpoints`);
for await (const chunk of out.reader({ size: 16384, depth: 4 })) {
  counters.bytes += chunk.length;
  counters.transfers++;
  try {
    await back.write(chunk);
  } catch (e) {
    // Disabled while the host was not reading: the data of that transfer is dropped.
    console.error(`usb-loopback: ${errorText(e)}`);
  }
}
