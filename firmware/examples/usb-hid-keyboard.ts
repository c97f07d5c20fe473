/**
 * The service of units/examples/usb-hid-keyboard: a USB HID boot keyboard over FunctionFS.
 * LISTEN_FDS carries ep0 and ep1 (interrupt IN) of the FunctionFS socket, and a FIFO: text
 * written to the FIFO is typed on the host.
 *
 * ep0: GET_DESCRIPTOR(Report / HID) on the interface, and the HID class requests GET_REPORT,
 * GET_IDLE, SET_IDLE, GET_PROTOCOL, SET_PROTOCOL, SET_REPORT (the host's LED state, logged);
 * anything else is stalled.
 */
import { S_IFIFO, S_IFMT } from "../sys/constants.ts";
import * as n from "../native.ts";
import { listenFds } from "../lib/listen-fds.ts";
import { FunctionFs } from "../usb/functionfs.ts";
import { BOOT_KEYBOARD_REPORT_DESCRIPTOR, HID_REQUEST, hidDescriptor, textToReports } from "../usb/hid-keyboard.ts";

const fds = listenFds();
const f = FunctionFs.fromListenFds({ fds });
const keys = f.endpoint(1);
let protocol = 1; // report protocol (1) until the host asks for boot (0)
let idle = 0;
f.on("state", () => console.error(`hid-keyboard: ${f.state}`));

f.onSetup((s) => {
  const r = s.request;
  if (r.type === "standard" && r.recipient === "interface" && r.direction === "in" && r.bRequest === 6) {
    const kind = r.wValue >> 8;
    if (kind === 0x22) return s.reply(BOOT_KEYBOARD_REPORT_DESCRIPTOR);
    if (kind === 0x21) return s.reply(hidDescriptor(BOOT_KEYBOARD_REPORT_DESCRIPTOR.length));
    return s.stall();
  }
  if (r.type !== "class" || r.recipient !== "interface") return s.stall();
  switch (r.bRequest) {
    case HID_REQUEST.GET_REPORT:
      return r.direction === "in" ? s.reply(new Uint8Array(8)) : s.stall();
    case HID_REQUEST.GET_IDLE:
      return r.direction === "in" ? s.reply(new Uint8Array([idle])) : s.stall();
    case HID_REQUEST.GET_PROTOCOL:
      return r.direction === "in" ? s.reply(new Uint8Array([protocol])) : s.stall();
    case HID_REQUEST.SET_IDLE:
      idle = r.wValue >> 8;
      return s.ack();
    case HID_REQUEST.SET_PROTOCOL:
      protocol = r.wValue & 1;
      return s.ack();
    case HID_REQUEST.SET_REPORT: {
      const leds = s.receive();
      console.error(`hid-keyboard: leds=0x${(leds[0] ?? 0).toString(16).padStart(2, "0")}`);
      return;
    }
  }
  s.stall();
});

const fifo = fds.find((x) => (n.fstat(x.fd).mode & S_IFMT) === S_IFIFO);
if (!fifo) throw new Error("hid-keyboard: no FIFO in LISTEN_FDS (ListenFIFO= in the socket)");
console.error(`hid-keyboard: started (${f.state}), typing what ${fifo.name} receives`);
const dec = new TextDecoder();
for await (const chunk of Bun.file(fifo.fd).stream()) {
  const { reports, skipped } = textToReports(dec.decode(chunk, { stream: true }));
  if (skipped.length) console.error(`hid-keyboard: no key for ${JSON.stringify(skipped.join(""))}, skipped`);
  for (const report of reports) await keys.write(report);
  console.error(`hid-keyboard: typed ${reports.length / 2} keys`);
}
