// weftd's own Node: it waits for kube-controller-manager to give it pod
// CIDRs, takes those of the cluster network's families (IPv4, IPv6 or both),
// and refuses one outside the cluster network (its pods would be unreachable
// from every other node).
import type { ApiClient } from '../k8s/api-client.ts';
import { readNode } from '../k8s/node-status.ts';
import { type Cidr, cidrWithin, formatCidr, parseCidr } from '../net/address.ts';
import { messageOf } from '../text/error-message.ts';
import { quote } from '../text/quote.ts';

const familiesOf = (cidrs: Cidr[]): string => [...new Set(cidrs.map((c) => `IPv${c.family}`))].join(' and ');

/** The node's pod CIDRs of the cluster's families, parsed, or the reason weftd cannot run with them. */
export function usablePodCidrs(nodeName: string, podCidrs: string[], cluster: Cidr[]): Cidr[] {
  const parsed = podCidrs.map((text) => {
    const c = parseCidr(text);
    if (!c) throw new Error(`node ${nodeName} has pod CIDR ${quote(text)}, which is not a CIDR: fix the Node's spec.podCIDRs`);
    return c;
  });
  const usable = parsed.filter((c) => cluster.some((k) => k.family === c.family));
  if (usable.length === 0) {
    throw new Error(
      `node ${nodeName} has only ${familiesOf(parsed)} pod CIDRs (${parsed.map(formatCidr).join(', ')}), and the cluster network (--cluster-cidr ${cluster.map(formatCidr).join(',')}) is ${familiesOf(cluster)}: weft needs a pod CIDR of a family the cluster network has; give kube-controller-manager and weft the same --cluster-cidr`,
    );
  }
  const outside = usable.find((c) => !cidrWithin(c, cluster));
  if (outside) {
    throw new Error(
      `node ${nodeName} has pod CIDR ${formatCidr(outside)} outside the cluster network (--cluster-cidr): make kube-controller-manager's --cluster-cidr and weft's agree`,
    );
  }
  return usable;
}

export async function waitForPodCidrs(
  api: ApiClient,
  nodeName: string,
  cluster: Cidr[],
  log: (m: string) => void,
  signal: AbortSignal,
  pollMs = 1000,
): Promise<Cidr[]> {
  let told = false;
  while (!signal.aborted) {
    let node: Awaited<ReturnType<typeof readNode>>;
    try {
      node = await readNode(api, nodeName);
    } catch (err) {
      log(`${messageOf(err)}; retrying`);
    }
    if (node && node.podCidrs.length > 0) return usablePodCidrs(nodeName, node.podCidrs, cluster);
    if (!told) {
      log(
        node
          ? `node ${nodeName} has no spec.podCIDR yet: waiting for kube-controller-manager (--allocate-node-cidrs) to assign one`
          : `node ${nodeName} does not exist yet: waiting for the kubelet to register it (is --node-name / NODE_NAME right?)`,
      );
      told = true;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error('stopped while waiting for the pod CIDR');
}
