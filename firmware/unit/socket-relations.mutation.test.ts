import { describe, expect, test } from "bun:test";
import { socketFromText } from "../../test/support/units.ts";
import { acceptInstanceName, hasNonAcceptingPort, portAccepts, socketServiceName, symlinkTarget } from "./socket-relations.ts";

const socket = (body: string, name = "web.socket") => socketFromText(body, name);

describe("the service a socket activates", () => {
  test("Service= first, then the template for Accept=yes, else the same name", () => {
    expect(socketServiceName(socket("ListenStream=80\nService=other.service").unit)).toBe("other.service");
    expect(socketServiceName(socket("ListenStream=80\nAccept=yes").unit)).toBe("web@.service");
    expect(socketServiceName(socket("ListenStream=80").unit)).toBe("web.service");
    expect(socketServiceName(socket("ListenStream=80", "a@b.socket").unit)).toBe("a@b.service");
    expect(acceptInstanceName(socket("ListenStream=80\nAccept=yes").unit, "1-2")).toBe("web@1-2.service");
  });
});

describe("ports", () => {
  test("only stream and seqpacket sockets accept", () => {
    const c = socket(
      "ListenStream=/run/s\nListenSequentialPacket=/run/q\nListenDatagram=/run/d\nListenFIFO=/run/f\nListenNetlink=route\nListenSpecial=/dev/x\nListenMessageQueue=/m\nListenUSBFunction=/run/ffs",
    ).socket;
    expect(c.listen.map((p) => [p.kind, portAccepts(p)])).toEqual([
      ["stream", true],
      ["seqpacket", true],
      ["datagram", false],
      ["fifo", false],
      ["netlink", false],
      ["special", false],
      ["mqueue", false],
      ["usb-function", false],
    ]);
    expect(hasNonAcceptingPort(socket("ListenStream=/run/s\nListenSequentialPacket=/run/q").socket)).toBe(false);
    expect(hasNonAcceptingPort(socket("ListenStream=/run/s\nListenDatagram=/run/d").socket)).toBe(true);
  });

  test("Symlinks= points at the one path socket or FIFO", () => {
    const target = (body: string) => symlinkTarget(socket(body).socket);
    expect(target("ListenStream=/run/s")).toBe("/run/s");
    expect(target("ListenDatagram=/run/d\nListenStream=80\nListenStream=@abs")).toBe("/run/d");
    expect(target("ListenSequentialPacket=/run/q\nListenNetlink=route")).toBe("/run/q");
    expect(target("ListenFIFO=/run/f\nListenSpecial=/dev/x\nListenMessageQueue=/m\nListenUSBFunction=/run/ffs")).toBe("/run/f");
    expect(target("ListenStream=80\nListenStream=@abs\nListenSpecial=/dev/x")).toBeNull();
    expect(target("ListenStream=/run/a\nListenFIFO=/run/f")).toBeNull();
    expect(target("ListenStream=/run/a\nListenStream=/run/b")).toBeNull();
  });
});
