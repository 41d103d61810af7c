// Decoded JSON is `unknown` until checked; this is the check every reader of
// a JSON object (network config, subnet file, net-conf.json) starts with.
export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
