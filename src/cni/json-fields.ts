// Typed reads of optional fields from decoded JSON, each failing with a
// config error that names the field and what it should be. Strings and
// arrays are bounded: the config is a runtime's input, and a megabyte-long
// name or a million-element list is an attack, not a network.
import { isObject, type JsonObject } from '../text/json.ts';
import { quote } from '../text/quote.ts';
import { configError } from './errors.ts';

/** Longer strings are refused in any field: no name, path or address comes near it. */
export const MAX_STRING = 1024;

function wrongType(where: string, expected: string, value: unknown): Error {
  return configError(`${where} must be ${expected}, got ${quote(value)}`);
}

export function optString(obj: JsonObject, key: string, where: string): string | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw wrongType(`${where}${key}`, 'a string', v);
  if (v.length > MAX_STRING) throw wrongType(`${where}${key}`, `at most ${MAX_STRING} characters`, v);
  return v;
}

export function optBoolean(obj: JsonObject, key: string, where: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw wrongType(`${where}${key}`, 'true or false', v);
  return v;
}

export function optInteger(obj: JsonObject, key: string, where: string, min: number, max: number): number | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw wrongType(`${where}${key}`, `an integer from ${min} to ${max}`, v);
  }
  return v;
}

export function optObject(obj: JsonObject, key: string, where: string): JsonObject | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (!isObject(v)) throw wrongType(`${where}${key}`, 'an object', v);
  return v;
}

export function optArray(obj: JsonObject, key: string, where: string, maxLength: number): unknown[] | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw wrongType(`${where}${key}`, 'an array', v);
  if (v.length > maxLength) throw configError(`${where}${key} has ${v.length} entries, at most ${maxLength} are allowed`);
  return v;
}

export function optStringArray(obj: JsonObject, key: string, where: string, maxLength: number): string[] | undefined {
  const arr = optArray(obj, key, where, maxLength);
  if (arr === undefined) return undefined;
  arr.forEach((v, i) => {
    if (typeof v !== 'string') throw wrongType(`${where}${key}[${i}]`, 'a string', v);
    if (v.length > MAX_STRING) throw wrongType(`${where}${key}[${i}]`, `at most ${MAX_STRING} characters`, v);
  });
  return arr as string[];
}
