import { describe, expect, test } from "bun:test";
import { parseConfigTxt, raspiQemuArgs } from "./raspi.ts";

describe("Raspberry Pi boot files", () => {
  test("config.txt: kernel, initramfs and device tree as the firmware reads them", () => {
    const c = parseConfigTxt(
      "# comment\narm_64bit=1\nenable_uart=1\nkernel=vmlinuz\ninitramfs initrd.img followkernel\ndevice_tree=bcm2837-rpi-zero-2-w.dtb # the board\n[pi4]\n",
    );
    expect(c).toEqual({ kernel: "vmlinuz", initramfs: "initrd.img", deviceTree: "bcm2837-rpi-zero-2-w.dtb", enableUart: true });
    expect(parseConfigTxt("")).toEqual({ kernel: "kernel8.img", enableUart: false });
    expect(parseConfigTxt("kernel=a\nkernel=b\n").kernel).toBe("b");
  });

  test("QEMU: raspi3ap, the mini UART as the second serial port, the card on the SD bus", () => {
    const args = raspiQemuArgs({ kernel: "k", dtb: "d", initrd: "i", cmdline: "console=ttyS1,115200", config: { kernel: "k", enableUart: true } }, "card.img");
    expect(args.slice(0, 3)).toEqual(["qemu-system-aarch64", "-M", "raspi3ap"]);
    expect(args.join(" ")).toContain(
      "-serial null -serial stdio -kernel k -dtb d -initrd i -append console=ttyS1,115200 -drive file=card.img,if=sd,format=raw",
    );
    expect(raspiQemuArgs({ kernel: "k", dtb: "d", cmdline: "", config: { kernel: "k", enableUart: true } }, null)).not.toContain("-drive");
  });
});
