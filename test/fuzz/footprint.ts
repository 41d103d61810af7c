// What a case can leave behind, and what changed between two looks at it.
import { describeNetns, netnsState, type Sandbox, tree } from './sandbox.ts';

export type Footprint = { host: string[]; pod: string[]; files: string[] };

/** The netns pair and the case directory; `bridge`, which outlives its pods, left out if given. */
export async function footprint(sb: Sandbox, bridge?: string): Promise<Footprint> {
  const [host, pod] = await Promise.all([netnsState(sb.host), netnsState(sb.pod)]);
  return { host: describeNetns(host, bridge), pod: describeNetns(pod), files: tree(sb.dir) };
}

/**
 * What changed from `before` to `after`. With allowBookkeeping, new
 * directories and host-local's last_reserved_ip.N markers are not changes:
 * they are the store's, not an attachment's.
 */
export function changes(before: Footprint, after: Footprint, opts: { allowBookkeeping?: boolean } = {}): string[] {
  const bookkeeping = (f: string) => f.endsWith('/') || /(^|\/)last_reserved_ip\.\d+$/.test(f);
  const files = diff(before.files, after.files).filter((d) => !(opts.allowBookkeeping && d.startsWith('+ ') && bookkeeping(d.slice(2))));
  return [
    ...diff(before.host, after.host).map((d) => `host netns: ${d}`),
    ...diff(before.pod, after.pod).map((d) => `pod netns: ${d}`),
    ...files.map((d) => `files: ${d}`),
  ];
}

function diff(before: string[], after: string[]): string[] {
  const gone = before.filter((x) => !after.includes(x)).map((x) => `- ${x}`);
  const added = after.filter((x) => !before.includes(x)).map((x) => `+ ${x}`);
  return [...gone, ...added];
}
