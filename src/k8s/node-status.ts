// What weftd writes to (and reads from) its own Node: its VTEP as
// annotations, and the NetworkUnavailable condition the scheduler waits on.
import { CoreV1Api, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { type Vteps, vtepAnnotations } from './annotations.ts';
import { httpStatusOf, type NodeRequest, nodeRequestError } from './api-errors.ts';
import { type NodeInfo, toNodeInfo } from './node-info.ts';

// Shown in the Node's managedFields as the writer of what weftd sets.
const FIELD_MANAGER = 'weftd';

const PUBLISH_VTEP: NodeRequest = { verb: 'patch', resource: 'nodes/status', purpose: 'publish the VTEP on' };
const SET_NETWORK_AVAILABLE: NodeRequest = { verb: 'patch', resource: 'nodes/status', purpose: 'mark the network available on' };
const READ: NodeRequest = { verb: 'get', resource: 'nodes', purpose: 'read' };

/**
 * Sets weft's VTEP annotations on the node, one pair per underlay family it
 * has, and removes the pair of a family it no longer has (a stale address
 * there would draw its peers' traffic to nowhere); its other annotations stay
 * as they are. Through the status subresource, as flannel does: a patch to
 * nodes/status may change the Node's metadata but never its spec, so weft's
 * ClusterRole needs no patch on nodes at all.
 */
export async function publishVteps(kc: KubeConfig, nodeName: string, vteps: Vteps): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  try {
    await core.patchNodeStatus(
      { name: nodeName, body: { metadata: { annotations: vtepAnnotations(vteps) } }, fieldManager: FIELD_MANAGER },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  } catch (err) {
    throw nodeRequestError(err, PUBLISH_VTEP, nodeName);
  }
}

/**
 * Sets the node's NetworkUnavailable condition to False, as every network
 * plugin that runs on the node does once its network is up (cloud providers
 * set it True on a new node until then).
 */
export async function setNetworkAvailable(kc: KubeConfig, nodeName: string, message: string): Promise<void> {
  // metav1.Time has whole seconds.
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const condition = {
    type: 'NetworkUnavailable',
    status: 'False',
    reason: 'WeftIsUp',
    message,
    lastTransitionTime: now,
    lastHeartbeatTime: now,
  };
  const core = kc.makeApiClient(CoreV1Api);
  try {
    // A strategic merge patch merges status.conditions by type, so the
    // kubelet's Ready, MemoryPressure and the rest stay; a JSON merge patch
    // would replace the whole list.
    await core.patchNodeStatus(
      { name: nodeName, body: { status: { conditions: [condition] } }, fieldManager: FIELD_MANAGER },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
  } catch (err) {
    throw nodeRequestError(err, SET_NETWORK_AVAILABLE, nodeName);
  }
}

/** The node's compact view, or undefined when there is no such Node. */
export async function readNode(kc: KubeConfig, nodeName: string): Promise<NodeInfo | undefined> {
  const core = kc.makeApiClient(CoreV1Api);
  try {
    return toNodeInfo(await core.readNode({ name: nodeName }));
  } catch (err) {
    if (httpStatusOf(err) === 404) return undefined;
    throw nodeRequestError(err, READ, nodeName);
  }
}
