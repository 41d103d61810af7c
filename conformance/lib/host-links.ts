// Host-side links a plugin creates for the suite's pods (a bridge, say) are
// the suite's leftovers too. Links present before the run are never touched,
// so a run against a node's real configuration leaves its bridge alone.
import { defer } from './cleanup.ts';
import { isObject, parseIproute2Json } from './json.ts';
import { describeFailure, run } from './process.ts';

const reported = new Set<string>();

/** Records the host's links now and registers removal of any new one a result names. */
export async function watchHostLinks(): Promise<void> {
  const before = new Set(await hostLinkNames());
  defer('remove host links the plugin created for the suite', async () => {
    const now = new Set(await hostLinkNames());
    const problems: string[] = [];
    for (const name of reported) {
      if (before.has(name) || !now.has(name)) continue;
      const completed = await run('ip', ['link', 'delete', name]);
      if (completed.exitCode !== 0) problems.push(describeFailure(`ip link delete ${name}`, completed));
    }
    if (problems.length > 0) throw new Error(`${problems.join('; ')}; delete these links by hand`);
  });
}

/** Remembers the host interfaces (those without a sandbox) an ADD result lists. */
export function noteHostInterfaces(result: unknown): void {
  if (!isObject(result) || !Array.isArray(result.interfaces)) return;
  for (const iface of result.interfaces) {
    if (isObject(iface) && typeof iface.name === 'string' && !iface.sandbox) reported.add(iface.name);
  }
}

async function hostLinkNames(): Promise<string[]> {
  const completed = await run('ip', ['-j', 'link', 'show']);
  if (completed.exitCode !== 0) throw new Error(`cannot list host links: ${describeFailure('ip -j link show', completed)}`);
  const links = parseIproute2Json(completed.stdout);
  return Array.isArray(links) ? links.filter(isObject).map((link) => String(link.ifname)) : [];
}
