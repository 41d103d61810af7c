// net-conf.json, from the weft ConfigMap: the cluster-wide settings every
// node's weftd shares. A flag given on the command line wins over the file,
// and the file over the built-in default.
import { readFileSync } from 'node:fs';
import { messageOf } from '../text/error-message.ts';

export type NetConfFile = {
  network?: string[];
  vni?: number;
  port?: number;
  mtu?: number;
  directRouting?: boolean;
  ipMasq?: boolean;
};

const FIELDS = ['network', 'vni', 'port', 'mtu', 'directRouting', 'ipMasq'];

export function parseNetConf(text: string, path: string): NetConfFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`--net-conf ${path} is not valid JSON (${messageOf(err)}): fix the weft ConfigMap's net-conf.json`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`--net-conf ${path} must hold a JSON object`);
  const obj = raw as Record<string, unknown>;
  const bad = (field: string, want: string) => new Error(`--net-conf ${path}: "${field}" must be ${want}, got ${JSON.stringify(obj[field])}`);
  const unknown = Object.keys(obj).filter((k) => !FIELDS.includes(k));
  if (unknown.length > 0) throw new Error(`--net-conf ${path}: unknown field(s) ${unknown.join(', ')}: the fields are ${FIELDS.join(', ')}`);
  const out: NetConfFile = {};
  if (obj.network !== undefined) {
    const list = typeof obj.network === 'string' ? [obj.network] : obj.network;
    if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string')) throw bad('network', 'a CIDR or a list of CIDRs');
    out.network = list as string[];
  }
  for (const field of ['vni', 'port', 'mtu'] as const) {
    const v = obj[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(field, 'an integer');
    out[field] = v;
  }
  for (const field of ['directRouting', 'ipMasq'] as const) {
    const v = obj[field];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') throw bad(field, 'true or false');
    out[field] = v;
  }
  return out;
}

export function readNetConf(path: string): NetConfFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read --net-conf ${path}: ${messageOf(err)}`, { cause: err });
  }
  return parseNetConf(text, path);
}
