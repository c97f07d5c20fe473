/**
 * The validated form of a FunctionFS function description (descriptor-spec.ts reads it from
 * TOML/JSON, descriptor-rules.ts holds the USB rules it must follow, ffs-blobs.ts compiles it).
 */
export type Speed = "full" | "high" | "super";
export const SPEEDS: readonly Speed[] = ["full", "high", "super"];
export type EndpointType = "bulk" | "interrupt" | "isochronous";

export interface EndpointSpec {
  number: number;
  direction: "in" | "out";
  type: EndpointType;
  maxPacket: Record<Speed, number>;
  /** bInterval per speed (raw descriptor value). */
  interval: Record<Speed, number>;
  /** Isochronous: "none" | "async" | "adaptive" | "sync"; usage "data" | "feedback" | "implicit". */
  sync: number;
  usage: number;
  /** High-speed high-bandwidth transactions per microframe minus one (0..2). */
  mult: number;
  /** SuperSpeed companion. */
  burst: number;
  maxStreams: number;
  bytesPerInterval: number;
  /** Audio endpoints have 9-byte descriptors (bRefresh, bSynchAddress). */
  audio?: { refresh: number; synchAddress: number };
}

export interface ClassDescriptorSpec {
  type: number;
  data: Uint8Array;
}

export interface InterfaceSpec {
  number: number;
  alternate: number;
  class: number;
  subclass: number;
  protocol: number;
  name?: string;
  classDescriptors: ClassDescriptorSpec[];
  endpoints: EndpointSpec[];
}

export interface AssociationSpec {
  firstInterface: number;
  count: number;
  class: number;
  subclass: number;
  protocol: number;
  name?: string;
}

export interface ExtPropertySpec {
  name: string;
  /** Registry type: 1 sz, 2 expand-sz, 3 binary, 4 dword-le, 5 dword-be, 6 link, 7 multi-sz. */
  type: number;
  data: Uint8Array;
}

export interface MsOsSpec {
  interface: number;
  compatibleId: string;
  subCompatibleId: string;
  properties: ExtPropertySpec[];
}

export interface FunctionSpec {
  speeds: Speed[];
  flags: { virtualAddr: boolean; allCtrlRecip: boolean; config0Setup: boolean };
  associations: AssociationSpec[];
  interfaces: InterfaceSpec[];
  /** Language ids; strings[lang] lists the strings in index order (index 1 first). */
  languages: number[];
  /** Translations: language -> original (first language) string -> translated string. */
  translations: Record<number, Record<string, string>>;
  msOs: MsOsSpec[];
}
