/** bunit's version: the one source (package.json must say the same; version.test.ts checks). */
export const VERSION = "0.2.0";
