// Events about weftd's own Node: what an operator sees in
// `kubectl describe node` and `kubectl get events`, for conditions weft
// cannot fix by itself. The API server takes an event about a cluster-scoped
// object only in the default namespace, where the kubelet posts its Node
// events too; weft's Role there allows creating events and nothing else.
import { randomBytes } from 'node:crypto';
import type { ApiClient } from './api-client.ts';
import { describeApiError, httpStatusOf } from './api-errors.ts';

export const REPORTING_CONTROLLER = 'weft.dev/weftd';

export type NodeEvent = {
  node: string;
  type: 'Normal' | 'Warning';
  /** UpperCamelCase, what `kubectl get events` filters on. */
  reason: string;
  /** What weftd was doing, UpperCamelCase. */
  action: string;
  /** The message; the API server refuses more than 1 kB. */
  note: string;
};

const NOTE_LIMIT = 1024;

export const NODE_EVENT_NAMESPACE = 'default';

export async function postNodeEvent(api: ApiClient, event: NodeEvent, namespace = NODE_EVENT_NAMESPACE): Promise<void> {
  const note = event.note.length > NOTE_LIMIT ? `${event.note.slice(0, NOTE_LIMIT - 1)}…` : event.note;
  try {
    await api.json('POST', `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`, {
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        // As the kubelet names its Node events: the node, a dot, a unique suffix.
        metadata: { name: `${event.node}.${Date.now().toString(16)}${randomBytes(4).toString('hex')}` },
        eventTime: microTime(new Date()),
        reportingController: REPORTING_CONTROLLER,
        reportingInstance: `weftd-${event.node}`,
        action: event.action,
        reason: event.reason,
        type: event.type,
        note,
        // A Node's UID is its name, as the kubelet's own Node events say.
        regarding: { apiVersion: 'v1', kind: 'Node', name: event.node, uid: event.node },
      },
    });
  } catch (err) {
    const fix =
      httpStatusOf(err) === 403
        ? `; apply manifests/weft.yaml (its Role weft-events lets weftd create events in namespace ${NODE_EVENT_NAMESPACE}) and manifests/weft-admission.yaml`
        : '';
    throw new Error(`cannot post the ${event.reason} event about node ${event.node}: ${describeApiError(err)}${fix}`, { cause: err });
  }
}

/** A metav1.MicroTime: the API server wants six digits of fraction, a Date has three. */
export function microTime(at: Date): string {
  return at.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
