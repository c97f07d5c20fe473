import { describe, expect, test } from "bun:test";
import { escapeUnitPath, escapeUnitString, instantiate, parseUnitName, templateOf, unescapeUnitPath, unescapeUnitString, withType } from "./unit-name.ts";

describe("unit names", () => {
  test("plain, template and instance names", () => {
    expect(parseUnitName("foo.socket")).toEqual({ name: "foo.socket", prefix: "foo", instance: null, type: "socket" });
    expect(parseUnitName("foo@.service")).toMatchObject({ prefix: "foo", instance: "" });
    expect(parseUnitName("sshd@0-127.0.0.1:22-127.0.0.1:4444.service")).toMatchObject({ prefix: "sshd", instance: "0-127.0.0.1:22-127.0.0.1:4444" });
    for (const bad of ["", "foo", "foo.bar", "@x.service", "a b.service", "x".repeat(250) + ".service"]) expect(parseUnitName(bad)).toBeNull();
  });

  test("templates and types", () => {
    expect(templateOf("getty@tty1.service")).toBe("getty@.service");
    expect(templateOf("foo.service")).toBeNull();
    expect(instantiate("getty@.service", "tty1")).toBe("getty@tty1.service");
    expect(withType("foo@bar.socket", "service")).toBe("foo@bar.service");
  });

  test("escaping as systemd-escape does", () => {
    expect(escapeUnitPath("/dev/sda")).toBe("dev-sda");
    expect(escapeUnitPath("/")).toBe("-");
    expect(escapeUnitString("a b/c-d")).toBe("a\\x20b-c\\x2dd");
    expect(unescapeUnitString("a\\x20b-c\\x2dd")).toBe("a b/c-d");
    expect(unescapeUnitPath("dev-sda")).toBe("/dev/sda");
  });
});
