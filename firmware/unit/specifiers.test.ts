import { describe, expect, test } from "bun:test";
import { expandSpecifiers, SpecifierError } from "./specifiers.ts";
import { TEST_HOST } from "../../test/support/host.ts";

const ctx = (unit: string) => ({ unit, fragmentPath: "/etc/bunit/units/foo-bar@.service", host: TEST_HOST });

describe("specifiers", () => {
  test("unit name parts", () => {
    const c = ctx("foo-bar@a\\x2db-c.service");
    expect(expandSpecifiers("%n|%N|%p|%P|%i|%I|%j|%J|%f", c)).toBe(
      "foo-bar@a\\x2db-c.service|foo-bar@a\\x2db-c|foo-bar|foo/bar|a\\x2db-c|a-b/c|bar|bar|/a-b/c",
    );
  });

  test("prefix name as %f for plain units", () => {
    expect(expandSpecifiers("%f", ctx("dev-sda.service"))).toBe("/dev/sda");
  });

  test("machine and directories", () => {
    const c = ctx("x.socket");
    expect(expandSpecifiers("%t/%N.sock %S %C %L %E %T %V %h %u %U %g %G %s", c)).toBe(
      "/run/x.sock /var/lib /var/cache /var/log /etc /tmp /var/tmp /root root 0 root 0 /bin/sh",
    );
    expect(expandSpecifiers("%H %l %m %b %v %a %o %w %W %B %M %A %y %Y %%", c)).toBe(
      "board.example board fedcba9876543210fedcba9876543210 0123456789abcdef0123456789abcdef 6.1.0-test x86-64 debian 12 gadget b1 bunit 7 /etc/bunit/units/foo-bar@.service /etc/bunit/units %",
    );
  });

  test("unknown and incomplete specifiers are errors", () => {
    expect(() => expandSpecifiers("%Z", ctx("x.service"))).toThrow(SpecifierError);
    expect(() => expandSpecifiers("50%", ctx("x.service"))).toThrow(/incomplete/);
  });
});
