/** The host side's CONNECT/OK handshake lines. */
import { describe, expect, test } from "bun:test";
import { hostListenerPath, MAX_LINE, parseConnectLine, parseOkLine } from "./uds-protocol.ts";

const b = (s: string) => new TextEncoder().encode(s);

describe("CONNECT lines", () => {
  test("a whole line gives the port and how much to consume; the data after it is not consumed", () => {
    expect(parseConnectLine(b("CONNECT 20000\nhello"))).toEqual({ port: 20000, consumed: 14 });
    expect(parseConnectLine(b("CONNECT 4294967295\r\n"))).toEqual({ port: 4294967295, consumed: 20 });
  });

  test("an incomplete line waits; one without a newline within MAX_LINE bytes is refused", () => {
    expect(parseConnectLine(b("CONNECT 20"))).toBeNull();
    expect(parseConnectLine(b("x".repeat(MAX_LINE)))).toEqual({ error: `no CONNECT line within ${MAX_LINE} bytes` });
  });

  test("garbage is refused with what was seen", () => {
    expect(parseConnectLine(b("GET / HTTP/1.0\r\n"))).toEqual({ error: 'expected "CONNECT <port>", got "GET / HTTP/1.0"' });
    expect(parseConnectLine(b("CONNECT\n"))).toHaveProperty("error");
    expect(parseConnectLine(b("CONNECT -1\n"))).toHaveProperty("error");
    expect(parseConnectLine(b("CONNECT 4294967296\n"))).toEqual({ error: "port 4294967296 is beyond 32 bits" });
  });
});

describe("OK lines", () => {
  test("OK, ERR and anything else", () => {
    expect(parseOkLine(b("OK 1073741824\nrest"))).toEqual({ hostPort: 1073741824, consumed: 14 });
    expect(parseOkLine(b("OK 12"))).toBeNull();
    expect(parseOkLine(b("ERR reset by the guest\n"))).toEqual({ error: "reset by the guest" });
    expect(parseOkLine(b("HELLO\n"))).toEqual({ error: 'unexpected answer "HELLO"' });
  });

  test("the guest's connections to host port P go to PATH_P", () => {
    expect(hostListenerPath("/run/vm/v.sock", 1234)).toBe("/run/vm/v.sock_1234");
  });
});
