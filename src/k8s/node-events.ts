// Events about weftd's own Node: what an operator sees in
// `kubectl describe node` and `kubectl get events`, for conditions weft
// cannot fix by itself. The API server takes an event about a cluster-scoped
// object only in the default namespace, where the kubelet posts its Node
// events too; weft's Role there allows creating events and nothing else.
import { randomBytes } from 'node:crypto';
import { EventsV1Api, type KubeConfig, V1MicroTime } from '@kubernetes/client-node';
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

export async function postNodeEvent(kc: KubeConfig, event: NodeEvent, namespace = NODE_EVENT_NAMESPACE): Promise<void> {
  const api = kc.makeApiClient(EventsV1Api);
  const note = event.note.length > NOTE_LIMIT ? `${event.note.slice(0, NOTE_LIMIT - 1)}…` : event.note;
  try {
    await api.createNamespacedEvent({
      namespace,
      body: {
        // As the kubelet names its Node events: the node, a dot, a unique suffix.
        metadata: { name: `${event.node}.${Date.now().toString(16)}${randomBytes(4).toString('hex')}` },
        // Microseconds, which the API server requires and a plain Date lacks.
        eventTime: new V1MicroTime(),
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
