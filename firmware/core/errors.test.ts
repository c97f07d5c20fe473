import { expect, test } from "bun:test";
import { errorCode, errorText } from "./errors.ts";

test("errorText: an Error's message, a string as it is, anything else stringified", () => {
  expect(errorText(new Error("boom"))).toBe("boom");
  expect(errorText("plain")).toBe("plain");
  expect(errorText(42)).toBe("42");
  expect(errorText(null)).toBe("null");
  expect(
    errorText({
      toString: () => {
        throw new Error("x");
      },
    }),
  ).toBe("unknown error");
});

test("errorCode: the code of a system error, null otherwise", () => {
  expect(errorCode(Object.assign(new Error("x"), { code: "ENOENT" }))).toBe("ENOENT");
  expect(errorCode(new Error("x"))).toBeNull();
  expect(errorCode(undefined)).toBeNull();
});
