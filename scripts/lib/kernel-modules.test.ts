import { expect, test } from "bun:test";
import { moduleClosure, moduleName, parseModulesDep } from "./kernel-modules.ts";

const DEP = `kernel/drivers/usb/gadget/function/usb_f_fs.ko: kernel/drivers/usb/gadget/libcomposite.ko kernel/fs/configfs/configfs.ko
kernel/drivers/usb/gadget/libcomposite.ko: kernel/fs/configfs/configfs.ko kernel/drivers/usb/gadget/udc/udc-core.ko
kernel/fs/configfs/configfs.ko:
kernel/drivers/usb/gadget/udc/udc-core.ko: kernel/drivers/usb/common/usb-common.ko
kernel/drivers/usb/common/usb-common.ko:
`;

test("the closure of requested modules follows modules.dep; names match with - or _", () => {
  const dep = parseModulesDep(DEP);
  expect(moduleName("kernel/drivers/usb/gadget/udc/udc-core.ko")).toBe("udc_core");
  const r = moduleClosure(dep, ["usb-f-fs", "nosuch"]);
  expect(r.missing).toEqual(["nosuch"]);
  expect(r.files).toEqual([
    "kernel/drivers/usb/common/usb-common.ko",
    "kernel/drivers/usb/gadget/function/usb_f_fs.ko",
    "kernel/drivers/usb/gadget/libcomposite.ko",
    "kernel/drivers/usb/gadget/udc/udc-core.ko",
    "kernel/fs/configfs/configfs.ko",
  ]);
});
