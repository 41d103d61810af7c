// When weftd is ready (/readyz): its VTEP is on its Node, the Nodes are
// listed and programmed, the subnet file is in place for the plugin, and the
// Node says its network is available. The reason names what is missing.
export type Attempt = { succeeded: boolean; error?: string };

export type ReadinessFacts = {
  podCidr: boolean;
  vtep: Attempt;
  /** A reconcile pass over the first full list of Nodes has finished. */
  synced: boolean;
  subnetFile: { path: string; present: boolean };
  networkAvailable: Attempt;
};

export function readiness(f: ReadinessFacts): { ready: boolean; reason: string } {
  const waiting = (reason: string) => ({ ready: false, reason });
  if (!f.podCidr) return waiting("waiting for this node's pod CIDR");
  // An error names the request and the node already.
  if (!f.vtep.succeeded) return waiting(f.vtep.error ? `${f.vtep.error}; retrying` : "publishing this node's VTEP");
  if (!f.synced) return waiting('waiting for the first full sync of Nodes');
  if (!f.subnetFile.present) return waiting(`subnet file ${f.subnetFile.path} is missing; the next reconcile pass writes it again`);
  if (!f.networkAvailable.succeeded) {
    return waiting(f.networkAvailable.error ? `${f.networkAvailable.error}; retrying` : 'marking the network available on this node');
  }
  return { ready: true, reason: 'ready' };
}
