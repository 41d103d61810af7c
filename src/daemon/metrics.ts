// weftd's Prometheus metrics: what an operator needs to see that the overlay
// converges and stays converged.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'weftd_' });
  return {
    registry,
    peers: new Gauge({ name: 'weft_peers_programmed', help: 'Other nodes whose routes, neighbours and FDB entries are programmed', registers: [registry] }),
    podCidrs: new Gauge({
      name: 'weft_peer_pod_cidrs_programmed',
      help: "Other nodes' pod CIDRs routed through the overlay, by family (4, 6)",
      labelNames: ['family'],
      registers: [registry],
    }),
    skippedNodes: new Gauge({
      name: 'weft_nodes_skipped',
      help: 'Nodes left out of the overlay, by reason: not-ready, malformed, conflict, kernel-refused',
      labelNames: ['reason'],
      registers: [registry],
    }),
    reconcileSeconds: new Histogram({
      name: 'weft_reconcile_duration_seconds',
      help: 'Time of one reconcile pass (read kernel state, diff, apply)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    reconcileErrors: new Counter({ name: 'weft_reconcile_errors_total', help: 'Reconcile passes that failed (retried)', registers: [registry] }),
    entriesAdded: new Counter({ name: 'weft_entries_added_total', help: 'Kernel entries (route, neighbour, FDB) added or replaced', registers: [registry] }),
    entriesRemoved: new Counter({ name: 'weft_entries_removed_total', help: 'Kernel entries removed', registers: [registry] }),
    driftRepaired: new Counter({
      name: 'weft_drift_repaired_total',
      help: "Kernel entries repaired by a periodic resync (changed behind weftd's back)",
      registers: [registry],
    }),
    deviceRecreated: new Counter({
      name: 'weft_vxlan_device_changes_total',
      help: 'VXLAN device (weft.<vni> over IPv4, weft6.<vni> over IPv6) created, recreated or fixed',
      labelNames: ['action', 'device'],
      registers: [registry],
    }),
    watchRestarts: new Counter({ name: 'weft_watch_restarts_total', help: 'Node watch restarts, by reason', labelNames: ['reason'], registers: [registry] }),
    cniConfigShadowed: new Gauge({
      name: 'weft_cni_config_shadowed',
      help: "1 while another CNI config in the node's conf dir sorts before weft's, so the runtime gives new pods that network",
      registers: [registry],
    }),
    apiErrors: new Counter({ name: 'weft_api_errors_total', help: 'Errors talking to the API server', registers: [registry] }),
  };
}
