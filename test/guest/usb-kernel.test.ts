/**
 * The kernel behaviour bunit's gadget code relies on, checked in-process on the QEMU board:
 * binding fails until the FunctionFS function has descriptors; closing the last ep0 unbinds a
 * bound gadget (ffs_closed(), which systemd's notes mark "verify on target"); and Gadget's
 * supervision binds it again once the descriptors are written anew.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { Logger } from "../../firmware/core/log.ts";
import * as n from "../../firmware/native.ts";
import { parseFunctionSpec } from "../../firmware/usb/descriptor-spec.ts";
import { compileFunction } from "../../firmware/usb/ffs-blobs.ts";
import { openUsbFunction } from "../../firmware/usb/ffs-port.ts";
import { FunctionReadiness } from "../../firmware/usb/function-readiness.ts";
import { Gadget } from "../../firmware/usb/gadget.ts";
import { validateGadgetConfig } from "../../firmware/usb/gadget-config.ts";
import { kernelGadgetIo } from "../../firmware/usb/gadget-kernel.ts";
import { waitFor } from "./support.ts";

const MOUNT = "/run/ffs-kernel-test";
const spec = compileFunction(parseFunctionSpec(readFileSync("/etc/bunit/units/usb-loopback.toml", "utf8"), "usb-loopback.toml"));

describe("FunctionFS and configfs on the real kernel", () => {
  test("bind waits for descriptors; closing ep0 unbinds; supervise binds again", async () => {
    const logger = new Logger("debug");
    const lines: string[] = [];
    logger.addSink((r) => lines.push(r.message));
    const readiness = new FunctionReadiness();
    const io = kernelGadgetIo(
      { debug: (m) => logger.debug(m), info: (m) => logger.info(m), warning: (m) => logger.warning(m), error: (m) => logger.error(m) },
      readiness,
    );
    const cfg = validateGadgetConfig(
      { name: "bunit-kt", vendor_id: 0x1d6b, product_id: 0x0106, functions: [{ kind: "ffs", instance: "kt", mount: MOUNT }] },
      "kernel-test",
    );
    const g = new Gadget(cfg, io);
    g.compose();
    try {
      // Without descriptors the kernel refuses the UDC (Linux 6.1 answers EBUSY).
      expect(() => writeFileSync(`${g.dir}/UDC`, "dummy_udc.0\n")).toThrow(/EBUSY|ENODEV/);
      const bound = g.bind(20_000);
      g.supervise();
      const blobs = { descriptors: spec.descriptors, strings: spec.strings, source: "test" };
      let port = openUsbFunction(MOUNT, blobs);
      readiness.mark(MOUNT, true);
      expect(await bound).toBe("dummy_udc.0");
      expect(port.endpointNames).toEqual(["ep1", "ep2"]);
      // The last ep0 closes: the kernel resets the function and unbinds the gadget.
      for (const fd of [port.ep0, ...port.endpoints]) n.close(fd);
      readiness.mark(MOUNT, false);
      await waitFor(() => g.boundUdc() === "", 5000, "the kernel to unbind the gadget");
      // Descriptors again: supervise() binds it again.
      port = openUsbFunction(MOUNT, blobs);
      readiness.mark(MOUNT, true);
      await waitFor(() => g.boundUdc() === "dummy_udc.0", 5000, "the gadget bound again");
      expect(lines.join("\n")).toContain("the kernel unbound it");
      g.unbind();
      for (const fd of [port.ep0, ...port.endpoints]) n.close(fd);
      readiness.mark(MOUNT, false);
    } finally {
      g.teardown();
    }
  });
});
