import { describe, expect, test } from "bun:test";
import { FakeClock } from "../core/clock.ts";
import { ctruncReason, NotifyWarnings } from "./notify-socket.ts";

describe("notify socket warnings", () => {
  test("burst, then suppressed, then one summary when the window ends; a quiet window says nothing", () => {
    const out: string[] = [];
    const clock = new FakeClock();
    const w = new NotifyWarnings((m) => out.push(m), clock, 1_000_000, 3);
    for (let i = 0; i < 10; i++) w.warn(`w${i}`);
    expect(out).toEqual(["w0", "w1", "w2"]);
    clock.advance(2_000_000);
    expect(out.slice(3)).toEqual(["Suppressed 7 more warnings about notification messages in the last 1s (rate limit: 3 per 1s)."]);
    clock.advance(5_000_000);
    expect(out.length).toBe(4);
    w.warn("again");
    expect(out[4]).toBe("again");
  });

  test("a summary still pending is said before the next window's first warning, and on close", () => {
    const out: string[] = [];
    const w = new NotifyWarnings((m) => out.push(m), new FakeClock(), 1_000_000, 1);
    w.warn("a");
    w.warn("b");
    w.flush();
    expect(out).toEqual(["a", expect.stringContaining("Suppressed 1 more")]);
  });

  test("MSG_CTRUNC: the fd limit when the daemon is near it, else too many fds in one message", () => {
    expect(ctruncReason({ open: 1000, limit: 1024 }, 64)).toContain("at its file descriptor limit (1000 of 1024 open)");
    expect(ctruncReason({ open: 10, limit: 1024 }, 64)).toContain("more than 64 in one message");
    expect(ctruncReason({ open: 10, limit: null }, 64)).toContain("cut off");
  });
});
