import { describe, expect, test } from "bun:test";
import { unitFromText } from "../../test/support/units.ts";
import { formatDiagnostic } from "./diagnostics.ts";
import type { LoadedUnit } from "./unit-file.ts";
import { type ReferenceProbe, verifyReferences, verifyService, verifySocket, verifySocketService } from "./unit-verify.ts";

const sock = (body: string, name = "s.socket") => unitFromText(name, `[Socket]\n${body}\n`);
const svc = (body: string, name = "s.service", unit = "") => unitFromText(name, `[Unit]\n${unit}\n[Service]\n${body}\n`);
const show = (ds: ReturnType<typeof verifySocket>) => ds.map(formatDiagnostic);

describe("verifySocket", () => {
  test("a socket needs a Listen setting", () => {
    expect(show(verifySocket(sock("Accept=no")))).toEqual([
      "/test/s.socket: error: Unit has no Listen setting (ListenStream=, ListenDatagram=, ListenFIFO=, ...). Refusing.",
    ]);
    expect(show(verifySocket(sock("ListenStream=80")))).toEqual([]);
  });

  test("Accept=yes: accepting ports only, no Service=, no DeferTrigger=", () => {
    expect(show(verifySocket(sock("ListenStream=80\nListenDatagram=81\nAccept=yes")))).toEqual([
      "/test/s.socket:4: error: Accept=: Unit configured for accepting sockets, but sockets are non-accepting (81). Refusing.",
    ]);
    expect(show(verifySocket(sock("ListenStream=80\nListenSequentialPacket=/run/q\nAccept=yes")))).toEqual([]);
    expect(show(verifySocket(sock("ListenStream=80\nAccept=yes\nService=x.service")))).toEqual([
      "/test/s.socket:4: error: Service=: Explicit service configuration for accepting socket units not supported. Refusing.",
    ]);
    expect(show(verifySocket(sock("ListenStream=80\nAccept=yes\nDeferTrigger=patient")))).toEqual([
      "/test/s.socket:4: error: DeferTrigger=: DeferTrigger= is not supported for Accept=yes sockets. Refusing.",
    ]);
    expect(show(verifySocket(sock("ListenStream=80\nService=x.service\nDeferTrigger=yes")))).toEqual([]);
    expect(show(verifySocket(sock("ListenDatagram=81\nAccept=no")))).toEqual([]);
  });

  test("MaxConnections= of at least 1", () => {
    expect(show(verifySocket(sock("ListenStream=80\nMaxConnections=0")))).toEqual([
      "/test/s.socket:3: error: MaxConnections=: MaxConnections= setting too small. Refusing.",
    ]);
    expect(show(verifySocket(sock("ListenStream=80\nMaxConnections=1")))).toEqual([]);
  });

  test("Symlinks= needs exactly one file-system node", () => {
    expect(show(verifySocket(sock("ListenStream=80\nSymlinks=/run/l")))).toEqual([
      "/test/s.socket:3: error: Symlinks=: Unit has symlinks set but none or more than one node in the file system. Refusing.",
    ]);
    expect(show(verifySocket(sock("ListenStream=/run/s\nSymlinks=/run/l")))).toEqual([]);
  });

  test("message queue attributes come in pairs", () => {
    expect(show(verifySocket(sock("ListenMessageQueue=/q\nMessageQueueMaxMessages=5")))).toEqual([
      "/test/s.socket:3: warning: MessageQueueMaxMessages=: MessageQueueMaxMessages= has no effect without MessageQueueMessageSize= (both or none); the queue gets the kernel's default attributes",
    ]);
    expect(show(verifySocket(sock("ListenMessageQueue=/q\nMessageQueueMessageSize=5")))).toEqual([
      "/test/s.socket:3: warning: MessageQueueMessageSize=: MessageQueueMessageSize= has no effect without MessageQueueMaxMessages= (both or none); the queue gets the kernel's default attributes",
    ]);
    expect(show(verifySocket(sock("ListenMessageQueue=/q\nMessageQueueMaxMessages=5\nMessageQueueMessageSize=5")))).toEqual([]);
    expect(show(verifySocket(sock("ListenStream=80\nMessageQueueMaxMessages=5")))).toEqual([]);
    expect(show(verifySocket(sock("ListenStream=80\nListenMessageQueue=/q\nMessageQueueMaxMessages=5")))).toHaveLength(1);
  });

  test("PassPIDFD= on AF_UNIX sockets only", () => {
    expect(show(verifySocket(sock("ListenStream=80\nPassPIDFD=yes")))).toEqual([
      "/test/s.socket:3: notice: PassPIDFD=: PassPIDFD= only applies to AF_UNIX sockets",
    ]);
    expect(show(verifySocket(sock("ListenFIFO=/run/f\nPassPIDFD=yes")))).toEqual([
      "/test/s.socket:3: notice: PassPIDFD=: PassPIDFD= only applies to AF_UNIX sockets",
    ]);
    expect(show(verifySocket(sock("ListenStream=80\nListenStream=/run/s\nPassPIDFD=yes")))).toEqual([]);
  });
});

describe("verifyService", () => {
  test("something to run", () => {
    expect(show(verifyService(svc("Type=simple")))).toEqual(["/test/s.service: error: Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing."]);
    expect(show(verifyService(svc("Type=oneshot\nExecStop=/bin/true")))).toEqual([]);
    expect(show(verifyService(svc("ExecStart=/bin/a\nExecStop=/bin/b")))).toEqual([]);
    expect(show(verifyService(svc("Type=oneshot", "s.service", "SuccessAction=none")))).toEqual([]);
    expect(show(verifyService(svc("Type=simple\nExecStop=/bin/true")))).toEqual([
      "/test/s.service: error: Service has no ExecStart= setting, which is only allowed for Type=oneshot services. Refusing.",
    ]);
    expect(show(verifyService(svc("Type=simple", "s.service", "SuccessAction=none")))).toEqual([
      "/test/s.service: error: Service has no ExecStart= setting, which is only allowed for Type=oneshot services. Refusing.",
    ]);
  });

  test("one ExecStart= unless oneshot", () => {
    expect(show(verifyService(svc("ExecStart=/bin/a\nExecStart=/bin/b")))).toEqual([
      "/test/s.service:5: error: ExecStart=: Service has more than one ExecStart= setting, which is only allowed for Type=oneshot services. Refusing.",
    ]);
    expect(show(verifyService(svc("Type=oneshot\nExecStart=/bin/a\nExecStart=/bin/b")))).toEqual([]);
  });

  test("oneshot services restart only on failure", () => {
    for (const r of ["always", "on-success"]) {
      expect(show(verifyService(svc(`Type=oneshot\nExecStart=/bin/a\nRestart=${r}`)))).toEqual([
        "/test/s.service:6: error: Restart=: Service has Restart= set to either always or on-success, which isn't allowed for Type=oneshot services. Refusing.",
      ]);
    }
    expect(show(verifyService(svc("Type=oneshot\nExecStart=/bin/a\nRestart=on-failure")))).toEqual([]);
    expect(show(verifyService(svc("ExecStart=/bin/a\nRestart=always")))).toEqual([]);
  });

  test("Type=dbus", () => {
    expect(show(verifyService(svc("Type=dbus\nExecStart=/bin/a")))).toEqual([
      "/test/s.service:4: error: Type=: Service is of type D-Bus but no D-Bus service name has been specified. Refusing.",
      "/test/s.service:4: notice: Type=: Type=dbus: bunit has no D-Bus; the service is treated as Type=simple",
    ]);
    expect(show(verifyService(svc("Type=dbus\nBusName=org.x\nExecStart=/bin/a")))).toEqual([
      "/test/s.service:4: notice: Type=: Type=dbus: bunit has no D-Bus; the service is treated as Type=simple",
    ]);
  });

  test("USB function files come in pairs, unless the description is TOML or JSON", () => {
    expect(show(verifyService(svc("ExecStart=/bin/a\nUSBFunctionDescriptors=/d.bin")))).toEqual([
      "/test/s.service:5: warning: USBFunctionDescriptors=: Service has USBFunctionDescriptors= setting, but no USBFunctionStrings=. Ignoring.",
    ]);
    for (const d of ["/d.toml", "/d.json"]) expect(show(verifyService(svc(`ExecStart=/bin/a\nUSBFunctionDescriptors=${d}`)))).toEqual([]);
    expect(show(verifyService(svc("ExecStart=/bin/a\nUSBFunctionDescriptors=/d.toml.bin")))).toHaveLength(1);
    expect(show(verifyService(svc("ExecStart=/bin/a\nUSBFunctionStrings=/s.bin")))).toEqual([
      "/test/s.service:5: warning: USBFunctionStrings=: Service has USBFunctionStrings= setting, but no USBFunctionDescriptors=. Ignoring.",
    ]);
    expect(show(verifyService(svc("ExecStart=/bin/a\nUSBFunctionDescriptors=/d.bin\nUSBFunctionStrings=/s.bin")))).toEqual([]);
  });

  test("RuntimeMaxSec= with oneshot", () => {
    expect(show(verifyService(svc("Type=oneshot\nExecStart=/bin/a\nRuntimeMaxSec=5")))).toEqual([
      "/test/s.service:6: warning: RuntimeMaxSec=: RuntimeMaxSec= has no effect in combination with Type=oneshot. Ignoring.",
    ]);
    expect(show(verifyService(svc("ExecStart=/bin/a\nRuntimeMaxSec=5")))).toEqual([]);
  });

  test("without a fragment the unit name stands for the file", () => {
    const u = { ...svc("Type=simple") } as LoadedUnit;
    delete u.fragmentPath;
    expect(show(verifyService(u))).toEqual(["s.service: error: Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing."]);
  });
});

describe("verifySocketService", () => {
  const units =
    (map: Record<string, string | null>, masked: string[] = []) =>
    (name: string) => {
      const text = map[name];
      if (text === undefined || text === null) return { ...unitFromText(name, "[Unit]\n"), loadState: "not-found" as const };
      const u = unitFromText(name, text);
      return masked.includes(name) ? { ...u, loadState: "masked" as const } : u;
    };

  test("a missing service is a warning naming it", () => {
    expect(show(verifySocketService(sock("ListenStream=80"), units({})))).toEqual([
      "/test/s.socket: warning: The socket activates s.service, which was not found; activation will fail",
    ]);
    expect(show(verifySocketService(sock("ListenStream=80\nAccept=yes"), units({})))).toEqual([
      "/test/s.socket: warning: Accept=yes needs the template s@.service, which was not found; activation will fail",
    ]);
    expect(show(verifySocketService(sock("ListenStream=80\nService=x.service"), units({})))).toEqual([
      "/test/s.socket:3: warning: Service=: The socket activates x.service, which was not found; activation will fail",
    ]);
  });

  test("masked services, templates for Accept=no", () => {
    const ok = "[Service]\nExecStart=/bin/a\n";
    expect(show(verifySocketService(sock("ListenStream=80"), units({ "s.service": ok }, ["s.service"])))).toEqual([
      "/test/s.socket: warning: s.service is masked",
    ]);
    expect(show(verifySocketService(sock("ListenStream=80", "t@.socket"), units({ "t@.service": ok })))).toEqual([
      "/test/t@.socket: error: t@.service is a template; Accept=no needs a plain service",
    ]);
    expect(show(verifySocketService(sock("ListenStream=80\nAccept=yes"), units({ "s@.service": ok })))).toEqual([]);
  });

  test("StandardInput/Output/Error=socket needs exactly one socket unless Accept=yes", () => {
    for (const k of ["StandardInput", "StandardOutput", "StandardError"]) {
      const service = `[Service]\nExecStart=/bin/a\n${k}=socket\n`;
      expect(show(verifySocketService(sock("ListenStream=80\nListenStream=81"), units({ "s.service": service })))).toEqual([
        "/test/s.socket: error: s.service uses StandardInput=socket, which needs exactly one socket; this unit has 2",
      ]);
      expect(show(verifySocketService(sock("ListenStream=80"), units({ "s.service": service })))).toEqual([]);
    }
    const service = "[Service]\nExecStart=/bin/a\nStandardInput=socket\n";
    expect(show(verifySocketService(sock("ListenStream=80\nListenStream=81\nAccept=yes"), units({ "s@.service": service })))).toEqual([]);
    // A USB function counts twice (ep0 and the endpoints), also beside another port.
    expect(
      show(verifySocketService(sock("ListenStream=80\nListenUSBFunction=/run/ffs"), units({ "s.service": `${service}USBFunctionDescriptors=/d.toml\n` }))),
    ).toEqual(["/test/s.socket: error: s.service uses StandardInput=socket, which needs exactly one socket; this unit has 2"]);
    expect(show(verifySocketService(sock("ListenStream=80\nListenUSBFunction=/run/ffs"), units({ "s.service": service })))).toEqual([
      "/test/s.socket: error: s.service uses StandardInput=socket, which needs exactly one socket; this unit has 2",
      "/test/s.socket:3: warning: ListenUSBFunction=: ListenUSBFunction= needs USBFunctionDescriptors= and USBFunctionStrings= (or a .toml/.json description) in s.service; starting the socket will fail",
    ]);
    expect(show(verifySocketService(sock("ListenUSBFunction=/run/ffs"), units({ "s.service": `${service}USBFunctionDescriptors=/d.toml\n` })))).toEqual([
      "/test/s.socket: error: s.service uses StandardInput=socket, which needs exactly one socket; this unit has 1",
    ]);
  });

  test("USB functions: the service names its descriptors; checkUsb judges them", () => {
    const want =
      "/test/s.socket:2: warning: ListenUSBFunction=: ListenUSBFunction= needs USBFunctionDescriptors= and USBFunctionStrings= (or a .toml/.json description) in s.service; starting the socket will fail";
    const u = sock("ListenUSBFunction=/run/ffs");
    expect(show(verifySocketService(u, units({ "s.service": "[Service]\nExecStart=/bin/a\n" })))).toEqual([want]);
    expect(show(verifySocketService(u, units({ "s.service": "[Service]\nExecStart=/bin/a\nUSBFunctionDescriptors=/d.bin\n" })))).toEqual([want]);
    const calls: unknown[] = [];
    const check = (d: string, s: string | undefined, name: string) => {
      calls.push([d, s, name]);
      return d === "/bad.toml" ? { key: "USBFunctionDescriptors", message: "bad description" } : null;
    };
    expect(
      show(verifySocketService(u, units({ "s.service": "[Service]\nExecStart=/bin/a\nUSBFunctionDescriptors=/d.bin\nUSBFunctionStrings=/s.bin\n" }), check)),
    ).toEqual([]);
    expect(show(verifySocketService(u, units({ "s.service": "[Service]\nExecStart=/bin/a\nUSBFunctionDescriptors=/bad.toml\n" }), check))).toEqual([
      "/test/s.service:3: error: USBFunctionDescriptors=: bad description",
    ]);
    expect(calls).toEqual([
      ["/d.bin", "/s.bin", "s.service"],
      ["/bad.toml", undefined, "s.service"],
    ]);
    expect(show(verifySocketService(u, units({ "s.service": "[Service]\nExecStart=/bin/a\nUSBFunctionDescriptors=/bad.toml\n" })))).toEqual([]);
  });
});

describe("verifyReferences", () => {
  const probe = (missing: string[]): ReferenceProbe => ({
    executable: (p) => (missing.includes(p) ? "No such file or directory" : null),
    file: (p, kind) => (missing.includes(p) ? `missing ${kind}` : null),
  });

  test("every Exec*= of services and sockets, except '-' and '|' commands and run-time paths", () => {
    const keys = ["ExecCondition", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop", "ExecStopPost"];
    const s = svc(keys.map((k) => `${k}=/bin/${k}`).join("\n") + "\nExecStartPre=-/bin/opt\nExecStartPre=|/bin/shell\nExecStartPre=/run/x/y");
    const all = [...keys.map((k) => `/bin/${k}`), "/bin/opt", "/bin/shell", "/run/x/y"];
    // Without a line finder, a problem is placed at the directive's last assignment.
    const lines = [4, 13, 6, 7, 8, 9, 10];
    expect(show(verifyReferences(s, probe(all)))).toEqual(
      keys.map((k, i) => `/test/s.service:${lines[i]}: error: ${k}=: Command /bin/${k} is not executable: No such file or directory`),
    );
    const sk = sock(["ExecStartPre", "ExecStartPost", "ExecStopPre", "ExecStopPost"].map((k) => `${k}=/bin/${k}`).join("\n") + "\nListenStream=80");
    expect(show(verifyReferences(sk, probe(["/bin/ExecStartPre", "/bin/ExecStartPost", "/bin/ExecStopPre", "/bin/ExecStopPost"])))).toEqual(
      ["ExecStartPre", "ExecStartPost", "ExecStopPre", "ExecStopPost"].map(
        (k, i) => `/test/s.socket:${i + 2}: error: ${k}=: Command /bin/${k} is not executable: No such file or directory`,
      ),
    );
    for (const t of ["/proc/", "/sys/", "/dev/", "/tmp/", "/var/run/"]) expect(verifyReferences(svc(`ExecStart=${t}x`), probe([`${t}x`]))).toEqual([]);
  });

  test("environment files, working directory, USB function files", () => {
    const s = svc(
      "ExecStart=/bin/a\nEnvironmentFile=/e\nEnvironmentFile=-/opt\nEnvironmentFile=/run/e\nWorkingDirectory=/w\nUSBFunctionDescriptors=/d\nUSBFunctionStrings=/s",
    );
    expect(show(verifyReferences(s, probe(["/e", "/opt", "/run/e", "/w", "/d", "/s"])))).toEqual([
      "/test/s.service:7: error: EnvironmentFile=: /e: missing file",
      "/test/s.service:8: error: WorkingDirectory=: /w: missing directory",
      "/test/s.service:9: error: USBFunctionDescriptors=: /d: missing file",
      "/test/s.service:10: error: USBFunctionStrings=: /s: missing file",
    ]);
    for (const wd of ["-/w", "~", "/run/w"])
      expect(verifyReferences(svc(`ExecStart=/bin/a\nWorkingDirectory=${wd}`), probe(["/w", "~", "/run/w"]))).toEqual([]);
    expect(verifyReferences(svc("ExecStart=/bin/a\nUSBFunctionDescriptors=/run/d\nUSBFunctionStrings=/run/s"), probe(["/run/d", "/run/s"]))).toEqual([]);
    expect(show(verifyReferences(sock("ListenStream=80\nEnvironmentFile=/e"), probe(["/e"])))).toEqual([
      "/test/s.socket:3: error: EnvironmentFile=: /e: missing file",
    ]);
  });

  test("nothing to report: files present, or a unit without an execution context", () => {
    const s = svc("ExecStart=/bin/a\nEnvironmentFile=/e\nWorkingDirectory=/w\nUSBFunctionDescriptors=/d\nUSBFunctionStrings=/s");
    expect(verifyReferences(s, probe([]))).toEqual([]);
    expect(verifyReferences(unitFromText("t.target", "[Unit]\nDescription=t\n"), probe([]))).toEqual([]);
  });

  test("a line finder places each problem at the assignment that names the file", () => {
    const s = svc("ExecStart=/bin/a");
    const lineOf = (key: string, text: string) => (key === "ExecStart" && text === "/bin/a" ? { file: "/drop/in.conf", line: 9 } : undefined);
    expect(verifyReferences(s, probe(["/bin/a"]), lineOf)).toEqual([
      { level: "error", file: "/drop/in.conf", line: 9, key: "ExecStart", message: "Command /bin/a is not executable: No such file or directory" },
    ]);
    expect(show(verifyReferences(s, probe(["/bin/a"]), () => undefined))).toEqual([
      "/test/s.service:4: error: ExecStart=: Command /bin/a is not executable: No such file or directory",
    ]);
  });
});
