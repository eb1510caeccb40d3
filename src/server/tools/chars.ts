/**
 * Character classes shared by the tool-call parsers.
 * @module
 */

/** Longest function or keyword name the parsers follow. */
export const MAX_NAME = 128;

export const isWs = (c: string): boolean => c === " " || c === "\n" || c === "\t" || c === "\r";
export const isIdentStart = (c: string): boolean => /^[A-Za-z_]$/.test(c);
/** Function names may also hold `-` (OpenAI's rule), keyword names follow suit. */
export const isNameChar = (c: string): boolean => /^[A-Za-z0-9_-]$/.test(c);
export const isWordChar = (c: string): boolean => /^[A-Za-z0-9_]$/.test(c);
