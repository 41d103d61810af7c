// The compact view of a Node that weftd keeps: its name, creation time, pod
// CIDRs and weft's own annotations. At 5000 nodes a whole Node object
// (status, images, managedFields) costs tens of kilobytes each; this costs a
// few hundred bytes.
import { ANNOTATION_PREFIX } from './annotations.ts';

export type NodeInfo = {
  name: string;
  podCidrs: string[];
  /** Only the keys starting with weft.dev/. */
  annotations: Record<string, string>;
  resourceVersion: string;
  /**
   * metadata.creationTimestamp in ms since the epoch: between two Nodes that
   * claim the same pod CIDR or VTEP MAC, the older keeps it. Absent only on
   * an object no API server wrote.
   */
  created?: number;
};

/** The fields read from a Node's JSON, as a list, a watch event or a GET gives it. */
export type NodeObject = {
  metadata?: { name?: string; annotations?: Record<string, string>; resourceVersion?: string; creationTimestamp?: string };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
};

/** The node's compact view; undefined for an object without a name, which no real Node is. */
export function toNodeInfo(node: NodeObject): NodeInfo | undefined {
  const name = node.metadata?.name;
  if (!name) return undefined;
  const info: NodeInfo = {
    name,
    podCidrs: podCidrsOf(node),
    annotations: weftAnnotations(node.metadata?.annotations),
    resourceVersion: node.metadata?.resourceVersion ?? '',
  };
  const created = creationTime(node.metadata?.creationTimestamp);
  if (created !== undefined) info.created = created;
  return info;
}

function creationTime(stamp: string | undefined): number | undefined {
  if (stamp === undefined) return undefined;
  const ms = Date.parse(stamp);
  return Number.isFinite(ms) ? ms : undefined;
}

// spec.podCIDRs is the dual-stack list; spec.podCIDR, its first entry, is all
// that Nodes written before dual-stack (or by hand) carry.
function podCidrsOf(node: NodeObject): string[] {
  const list = node.spec?.podCIDRs;
  if (list && list.length > 0) return [...list];
  const single = node.spec?.podCIDR;
  return single ? [single] : [];
}

function weftAnnotations(all: Record<string, string> | undefined): Record<string, string> {
  const ours: Record<string, string> = {};
  for (const [key, value] of Object.entries(all ?? {})) {
    if (key.startsWith(ANNOTATION_PREFIX)) ours[key] = value;
  }
  return ours;
}

/** Whether two views agree on everything weftd acts on (resourceVersion aside). */
export function sameNodeInfo(a: NodeInfo, b: NodeInfo): boolean {
  if (a.name !== b.name || a.created !== b.created || a.podCidrs.length !== b.podCidrs.length) return false;
  if (a.podCidrs.some((cidr, i) => cidr !== b.podCidrs[i])) return false;
  const keys = Object.keys(a.annotations);
  if (keys.length !== Object.keys(b.annotations).length) return false;
  return keys.every((key) => a.annotations[key] === b.annotations[key]);
}
