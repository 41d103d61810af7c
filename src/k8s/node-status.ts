// What weftd writes to (and reads from) its own Node: its VTEP as
// annotations, and the NetworkUnavailable condition the scheduler waits on.

import { type Vteps, vtepAnnotations } from './annotations.ts';
import type { ApiClient } from './api-client.ts';
import { httpStatusOf, type NodeRequest, nodeRequestError } from './api-errors.ts';
import { type NodeInfo, type NodeObject, toNodeInfo } from './node-info.ts';

// Shown in the Node's managedFields as the writer of what weftd sets.
const FIELD_MANAGER = 'weftd';

const PUBLISH_VTEP: NodeRequest = { verb: 'patch', resource: 'nodes/status', purpose: 'publish the VTEP on' };
const SET_NETWORK_AVAILABLE: NodeRequest = { verb: 'patch', resource: 'nodes/status', purpose: 'mark the network available on' };
const READ: NodeRequest = { verb: 'get', resource: 'nodes', purpose: 'read' };

const MERGE_PATCH = 'application/merge-patch+json';
const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';

const nodePath = (nodeName: string): string => `/api/v1/nodes/${encodeURIComponent(nodeName)}`;

function patchStatus(api: ApiClient, nodeName: string, body: unknown, contentType: string): Promise<unknown> {
  return api.json('PATCH', `${nodePath(nodeName)}/status`, { body, contentType, query: { fieldManager: FIELD_MANAGER } });
}

/**
 * Sets weft's VTEP annotations on the node, one pair per underlay family it
 * has, and removes the pair of a family it no longer has (a stale address
 * there would draw its peers' traffic to nowhere); its other annotations stay
 * as they are. Through the status subresource, as flannel does: a patch to
 * nodes/status may change the Node's metadata but never its spec, so weft's
 * ClusterRole needs no patch on nodes at all.
 */
export async function publishVteps(api: ApiClient, nodeName: string, vteps: Vteps): Promise<void> {
  try {
    await patchStatus(api, nodeName, { metadata: { annotations: vtepAnnotations(vteps) } }, MERGE_PATCH);
  } catch (err) {
    throw nodeRequestError(err, PUBLISH_VTEP, nodeName);
  }
}

/**
 * Sets the node's NetworkUnavailable condition to False, as every network
 * plugin that runs on the node does once its network is up (cloud providers
 * set it True on a new node until then).
 */
export async function setNetworkAvailable(api: ApiClient, nodeName: string, message: string): Promise<void> {
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
  try {
    // A strategic merge patch merges status.conditions by type, so the
    // kubelet's Ready, MemoryPressure and the rest stay; a JSON merge patch
    // would replace the whole list.
    await patchStatus(api, nodeName, { status: { conditions: [condition] } }, STRATEGIC_MERGE_PATCH);
  } catch (err) {
    throw nodeRequestError(err, SET_NETWORK_AVAILABLE, nodeName);
  }
}

/** The node's compact view, or undefined when there is no such Node. */
export async function readNode(api: ApiClient, nodeName: string): Promise<NodeInfo | undefined> {
  try {
    return toNodeInfo(await api.json<NodeObject>('GET', nodePath(nodeName)));
  } catch (err) {
    if (httpStatusOf(err) === 404) return undefined;
    throw nodeRequestError(err, READ, nodeName);
  }
}
