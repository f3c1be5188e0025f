import { describeValue } from './describe-value.js';
import { invalidInput } from './errors.js';
import { MAX_CLASS_NAME_BYTES, MAX_CLASS_NAME_CHARS } from './settings.js';

/** Device names Windows reserves in every folder, whatever the case and extension ("con.txt" too). */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[1-9¹²³]|lpt[1-9¹²³])\s*(\.|$)/i;
/** Characters a folder name cannot hold on Windows (and "/" nowhere, ":" not in macOS's Finder). */
const FORBIDDEN_CHAR = /[<>:"/\\|?*]/;
const CONTROL_CHAR = /[\u0000-\u001f\u007f]/;
const CONTROL_CHARS = new RegExp(CONTROL_CHAR.source, 'g');
const utf8 = new TextEncoder();

/**
 * Why a new class name cannot be used, in words; null when it can. A class may become a folder
 * ("Write labels to folders"), so the name must be one every system can hold and the library scan
 * reads back. The name is trimmed first, as checkClassName does. One rule for the engine, which
 * enforces it, and the UI, which says it as the person types.
 */
export function classNameProblem(raw: string): string | null {
  const name = raw.trim();
  if (name === '') return 'a class name cannot be empty';
  const problem = namedProblem(name);
  return problem === null ? null : `"${shown(name)}" cannot be a class name: ${problem}`;
}

/** A new class name as typed by a person: trimmed, or refused (400) naming the name and the reason. */
export function checkClassName(raw: unknown): string {
  if (typeof raw !== 'string') throw invalidInput(`a class name must be text (got ${describeValue(raw)})`);
  const problem = classNameProblem(raw);
  if (problem !== null) throw invalidInput(problem);
  return raw.trim();
}

function namedProblem(name: string): string | null {
  if (name.length > MAX_CLASS_NAME_CHARS) return `at most ${MAX_CLASS_NAME_CHARS} characters (this one has ${name.length})`;
  const bytes = utf8.encode(name).length;
  if (bytes > MAX_CLASS_NAME_BYTES) return `at most ${MAX_CLASS_NAME_BYTES} bytes in UTF-8, the longest folder name a disk holds (this one has ${bytes})`;
  if (CONTROL_CHAR.test(name)) return 'it has control characters';
  if (name.startsWith('.')) return 'it starts with a dot: its folder would be hidden, and the library scan skips hidden folders';
  if (name.endsWith('.')) return 'it ends with a dot, which Windows drops from folder names';
  const forbidden = FORBIDDEN_CHAR.exec(name);
  if (forbidden) return `it has ${forbidden[0]}, which folder names cannot hold (none of < > : " / \\ | ? *)`;
  const device = WINDOWS_DEVICE.exec(name);
  if (device) return `${device[1].toUpperCase()} is a device name Windows reserves, even with an extension`;
  return null;
}

/** The name as it can be shown in a message: control characters as "?", a long name cut. */
function shown(name: string): string {
  const printable = name.replace(CONTROL_CHARS, '?');
  return printable.length > 60 ? `${printable.slice(0, 60)}…` : printable;
}
