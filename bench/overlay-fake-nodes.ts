// The fake peers of the convergence benchmark: Node objects as weftd AND
// flannel (vxlan backend, kube subnet manager) on other nodes would leave them
// (pod CIDR, both sets of VTEP annotations, the same VTEP), numbered 1..32767.
// Peer i has pod CIDR 10.(128 + i/256).(i%256).0/24 inside FAKE_CLUSTER_CIDR,
// VTEP 172.(16 + i/65536).(i/256%256).(i%256) (never contacted: no packet is
// sent to a peer) and the VTEP MAC weftd derives from its name (a peer with
// any other MAC is skipped).
//
// Each also carries what a kubelet-registered Node does (labels, status with
// conditions, addresses, capacity, node info and a list of images), so that
// the list weftd reads at start-up is as large as a real cluster's. The
// measured node's own Node is made the same way, with pod CIDR 10.128.0.0/24
// (no peer's) and none of the overlay annotations, which each daemon adds.
import { VTEP_IP, VTEP_MAC } from '../src/k8s/annotations.ts';
import { macForName } from '../src/net/mac.ts';

export const FAKE_CLUSTER_CIDR = '10.128.0.0/9';
export const MAX_PEERS = 32767;
/** The VNI both daemons use: flannel's VTEP annotation names it. */
export const FAKE_VNI = 1;
const MEASURED_POD_CIDR = '10.128.0.0/24';

export type FakePeer = { index: number; name: string; podCidr: string; via: string; vtepIp: string; vtepMac: string };

const hex = (n: number) => n.toString(16).padStart(2, '0');

export function fakePeer(index: number): FakePeer {
  if (!Number.isInteger(index) || index < 1 || index > MAX_PEERS) throw new Error(`fake peer ${index}: only 1..${MAX_PEERS} fit ${FAKE_CLUSTER_CIDR} in /24s`);
  const via = `10.${128 + (index >> 8)}.${index & 255}.0`;
  const name = `peer-${String(index).padStart(5, '0')}`;
  return {
    index,
    name,
    podCidr: `${via}/24`,
    via,
    vtepIp: `172.${16 + (index >> 16)}.${(index >> 8) & 255}.${index & 255}`,
    vtepMac: macForName(name),
  };
}

const IMAGES = [
  'registry.k8s.io/kube-proxy:v1.34.0',
  'registry.k8s.io/pause:3.10',
  'docker.io/library/nginx:1.27.2',
  'quay.io/prometheus/node-exporter:v1.8.2',
  'registry.k8s.io/coredns/coredns:v1.11.3',
  'docker.io/weft/weftd:0.1.0',
  'docker.io/library/redis:7.4.1',
  'docker.io/library/postgres:17.0',
  'ghcr.io/fluxcd/source-controller:v1.4.1',
  'quay.io/jetstack/cert-manager-controller:v1.16.1',
  'docker.io/grafana/promtail:3.2.1',
  'registry.k8s.io/metrics-server/metrics-server:v0.7.2',
  'docker.io/library/busybox:1.37.0',
  'docker.io/library/alpine:3.20.3',
  'docker.io/bitnami/kubectl:1.31.2',
  'quay.io/cilium/hubble-relay:v1.16.3',
  'docker.io/library/python:3.13-slim',
  'docker.io/library/golang:1.23.2',
  'registry.k8s.io/ingress-nginx/controller:v1.11.3',
  'docker.io/library/memcached:1.6.32',
];

type Host = { index: number; name: string; internalIp: string };

function kubeletFields(p: Host) {
  const now = '2026-01-01T00:00:00Z';
  const condition = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  });
  return {
    labels: {
      'beta.kubernetes.io/arch': 'amd64',
      'beta.kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'kubernetes.io/os': 'linux',
      'kubernetes.io/hostname': p.name,
      'node.kubernetes.io/instance-type': 'm6i.2xlarge',
      'topology.kubernetes.io/region': 'eu-west-1',
      'topology.kubernetes.io/zone': `eu-west-1${'abc'[p.index % 3]}`,
    },
    status: {
      capacity: { cpu: '8', 'ephemeral-storage': '102350Mi', 'hugepages-1Gi': '0', 'hugepages-2Mi': '0', memory: '32399364Ki', pods: '110' },
      allocatable: { cpu: '7910m', 'ephemeral-storage': '94252Mi', 'hugepages-1Gi': '0', 'hugepages-2Mi': '0', memory: '31408132Ki', pods: '110' },
      conditions: [
        condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
        condition('NetworkUnavailable', 'False', 'WeftIsUp', 'weft VXLAN overlay on weft.1 is up'),
      ],
      addresses: [
        { type: 'InternalIP', address: p.internalIp },
        { type: 'Hostname', address: p.name },
        { type: 'InternalDNS', address: `${p.name}.eu-west-1.compute.internal` },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: `${hex(p.index & 255)}${'0'.repeat(30)}`,
        systemUUID: `ec2${'0'.repeat(5)}-0000-0000-0000-${String(p.index).padStart(12, '0')}`,
        bootID: `b00710d0-0000-0000-0000-${String(p.index).padStart(12, '0')}`,
        kernelVersion: '6.1.0-26-cloud-amd64',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        containerRuntimeVersion: 'containerd://1.7.22',
        kubeletVersion: 'v1.34.0',
        kubeProxyVersion: 'v1.34.0',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
      images: IMAGES.map((name, i) => ({ names: [`${name.split(':')[0]}@sha256:${hex(i).repeat(32)}`, name], sizeBytes: 10_000_000 + i * 7_654_321 })),
    },
  };
}

/** A kubelet-registered Node with these overlay annotations. */
function kubeletNode(h: Host, podCidr: string, overlay: Record<string, string>): Record<string, unknown> {
  const instance = `i-${String(h.index).padStart(17, '0')}`;
  const { labels, status } = kubeletFields(h);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: h.name,
      labels,
      annotations: {
        ...overlay,
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
        'csi.volume.kubernetes.io/nodeid': JSON.stringify({ 'ebs.csi.aws.com': instance }),
      },
    },
    spec: { podCIDR: podCidr, podCIDRs: [podCidr], providerID: `aws:///eu-west-1a/${instance}` },
    status,
  };
}

/** The Node object to POST for peer p. */
export function fakeNode(p: FakePeer): Record<string, unknown> {
  const internalIp = `192.168.${(p.index >> 8) & 255}.${p.index & 255}`;
  return kubeletNode({ index: p.index, name: p.name, internalIp }, p.podCidr, {
    [VTEP_IP]: p.vtepIp,
    [VTEP_MAC]: p.vtepMac,
    'weft.dev/backend': 'vxlan',
    'flannel.alpha.coreos.com/backend-data': JSON.stringify({ VNI: FAKE_VNI, VtepMAC: p.vtepMac }),
    'flannel.alpha.coreos.com/backend-type': 'vxlan',
    'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
    'flannel.alpha.coreos.com/public-ip': p.vtepIp,
  });
}

/**
 * The measured node's own Node, as its kubelet registered it: flannel
 * v0.28.10 crashes on a Node with no annotations at all.
 */
export function measuredNode(name: string, internalIp: string): Record<string, unknown> {
  return kubeletNode({ index: 0, name, internalIp }, MEASURED_POD_CIDR, {});
}
