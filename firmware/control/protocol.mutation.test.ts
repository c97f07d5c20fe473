import { describe, expect, test } from "bun:test";
import { COMMANDS, DEFAULT_CONTROL_PATH, isCommand, MAX_REQUEST_BYTES, MUTATING, parseRequest } from "./protocol.ts";

describe("control protocol constants", () => {
  test("path, size and the mutating commands", () => {
    expect(DEFAULT_CONTROL_PATH).toBe("/run/bunit/control");
    expect(MAX_REQUEST_BYTES).toBe(65536);
    expect([...MUTATING].sort()).toEqual([
      "clean",
      "daemon-reexec",
      "reload",
      "reload-or-restart",
      "reload-or-try-restart",
      "reload-unit",
      "restart",
      "start",
      "stop",
    ]);
    expect(COMMANDS.length).toBe(18);
    for (const c of COMMANDS) expect(isCommand(c)).toBe(true);
    expect(isCommand("")).toBe(false);
    expect(isCommand("halt")).toBe(false);
  });
});

describe("parseRequest", () => {
  const bad = (line: string, msg: string) => expect(() => parseRequest(line)).toThrow(msg);

  test("rejects non-JSON, non-objects and unknown commands with exact messages", () => {
    bad("{", "request is not JSON");
    bad("null", "request is not an object");
    bad("3", "request is not an object");
    bad('"status"', "request is not an object");
    bad("{}", "unknown command undefined");
    bad('{"command":5}', "unknown command 5");
    bad('{"command":"halt"}', 'unknown command "halt"');
  });

  test("units, and the boolean flags only when present", () => {
    expect(parseRequest('{"command":"status"}')).toEqual({ command: "status", units: [] });
    expect(parseRequest('{"command":"start","units":["a.socket"],"all":true,"follow":true,"noBlock":true}')).toEqual({
      command: "start",
      units: ["a.socket"],
      all: true,
      follow: true,
      noBlock: true,
    });
    expect(parseRequest('{"command":"start","all":1,"follow":"yes","noBlock":false}')).toEqual({
      command: "start",
      units: [],
      all: false,
      follow: false,
      noBlock: false,
    });
    bad('{"command":"start","units":"a"}', "units must be a list of strings");
    bad('{"command":"start","units":["a",1]}', "units must be a list of strings");
  });

  test("what and types: lists of strings", () => {
    expect(parseRequest('{"command":"clean","what":["cache","logs"]}').what).toEqual(["cache", "logs"]);
    expect(parseRequest('{"command":"clean","what":[]}').what).toEqual([]);
    bad('{"command":"clean","what":"cache"}', "what must be a list of strings");
    bad('{"command":"clean","what":["cache",2]}', "what must be a list of strings");
    bad('{"command":"clean","what":[2,"cache"]}', "what must be a list of strings");
    expect(parseRequest('{"command":"list-dependencies","types":["socket","service"]}').types).toEqual(["socket", "service"]);
    expect(parseRequest('{"command":"list-dependencies","types":[]}').types).toEqual([]);
    expect("types" in parseRequest('{"command":"list-dependencies"}')).toBe(false);
    expect("what" in parseRequest('{"command":"clean"}')).toBe(false);
    bad('{"command":"list-dependencies","types":"socket"}', "types must be a list of strings");
    bad('{"command":"list-dependencies","types":["socket",null]}', "types must be a list of strings");
    bad('{"command":"list-dependencies","types":[null,"socket"]}', "types must be a list of strings");
  });

  test("lines: a non-negative integer", () => {
    expect(parseRequest('{"command":"logs","lines":0}').lines).toBe(0);
    expect(parseRequest('{"command":"logs","lines":25}').lines).toBe(25);
    expect("lines" in parseRequest('{"command":"logs"}')).toBe(false);
    bad('{"command":"logs","lines":"5"}', "lines must be a non-negative integer");
    bad('{"command":"logs","lines":1.5}', "lines must be a non-negative integer");
    bad('{"command":"logs","lines":-1}', "lines must be a non-negative integer");
  });
});
