/**
 * The native boundary: the system calls Bun lacks, through native/libbunit.so (built by
 * scripts/build-native.ts), as small typed functions that throw SysError. Only
 * firmware/native/lib.ts imports bun:ffi; the calls are grouped by domain in firmware/native/.
 */
export { nativeDir, strerror } from "./native/lib.ts";
export * from "./native/sockets.ts";
export * from "./native/files.ts";
export * from "./native/processes.ts";
export * from "./native/memory.ts";
export * from "./native/readiness.ts";
