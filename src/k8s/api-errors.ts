// Failed API calls in words an operator can act on. Errors come in three
// shapes: ApiError (an answer other than 2xx, the server's Status as .body),
// a watch's ERROR event as an Error with .statusCode, and an Error whose
// .cause holds the socket's error when the API server did not answer at all.
import { ApiError } from './api-client.ts';

/** The HTTP status of a failed call, or undefined when no response came. */
export function httpStatusOf(err: unknown): number | undefined {
  const statusCode = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof statusCode === 'number' ? statusCode : undefined;
}

/** One line for a log: the status and the server's message, or the network error. */
export function describeApiError(err: unknown): string {
  if (err instanceof ApiError) {
    const message = serverMessage(err.body);
    return message ? `HTTP ${err.statusCode}: ${message}` : `HTTP ${err.statusCode}`;
  }
  if (!(err instanceof Error)) return String(err);
  const status = httpStatusOf(err);
  if (status !== undefined) return `HTTP ${status}: ${err.message}`;
  const cause = err.cause as NodeJS.ErrnoException | undefined;
  if (cause instanceof Error) return cause.code ? `${cause.code}: ${cause.message}` : `${err.message}: ${cause.message}`;
  return err.message;
}

// RBAC's refusal says "cannot patch resource"; a ValidatingAdmissionPolicy's
// names the policy.
function deniedByAdmissionPolicy(err: unknown): boolean {
  return err instanceof ApiError && (serverMessage(err.body) ?? '').includes('ValidatingAdmissionPolicy');
}

// The Status the API server sends with an error, as JSON text.
function serverMessage(body: string): string | undefined {
  let status: unknown;
  try {
    status = JSON.parse(body);
  } catch {
    return body.trim() || undefined;
  }
  const message = (status as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : undefined;
}

/** What weftd asked of the API server about a node, as RBAC and people name it. */
export type NodeRequest = {
  verb: 'get' | 'patch';
  resource: 'nodes' | 'nodes/status';
  /** "publish its VTEP on", "read": fits "cannot ... node X". */
  purpose: string;
};

/** The error to rethrow when a request about a node failed: names the node and the fix. */
export function nodeRequestError(err: unknown, request: NodeRequest, nodeName: string): Error {
  const detail = describeApiError(err);
  const what = request.resource === 'nodes' ? `node ${nodeName}` : `the status of node ${nodeName}`;
  const message = ((): string => {
    switch (httpStatusOf(err)) {
      case undefined:
        return `cannot ${request.purpose} node ${nodeName}: the API server did not answer (${detail}); check that kube-apiserver is up and reachable from this node`;
      case 401:
        return `cannot ${request.purpose} node ${nodeName}: the API server does not accept weftd's credentials (${detail}); check the kubeconfig, or that the pod's service-account token is mounted and current`;
      case 403:
        if (deniedByAdmissionPolicy(err)) {
          return (
            `cannot ${request.purpose} node ${nodeName}: an admission policy refused it (${detail}); ` +
            `manifests/weft-admission.yaml lets weftd change only weft's fields of the Node its pod runs on: check that --node-name ` +
            `(NODE_NAME) is the pod's spec.nodeName and that weftd uses the pod's own projected token`
          );
        }
        return `weftd's service account may not ${request.verb} ${what} (${detail}): apply manifests/weft.yaml's ClusterRole, which grants ${request.verb} on ${request.resource}`;
      case 404:
        return `cannot ${request.purpose} node ${nodeName}: no such Node (${detail}); check weftd's --node-name (NODE_NAME, from the pod's spec.nodeName)`;
      default:
        return `cannot ${request.purpose} node ${nodeName}: ${detail}`;
    }
  })();
  return new Error(message, { cause: err });
}
