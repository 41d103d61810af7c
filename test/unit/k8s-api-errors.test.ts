import test from 'ava';
import { ApiError } from '../../src/k8s/api-client.ts';
import { describeApiError, httpStatusOf, type NodeRequest, nodeRequestError } from '../../src/k8s/api-errors.ts';

const patch: NodeRequest = { verb: 'patch', resource: 'nodes', purpose: 'publish the VTEP on' };
const forbidden = new ApiError(
  403,
  JSON.stringify({
    kind: 'Status',
    code: 403,
    message: 'nodes "n1" is forbidden: User "system:serviceaccount:kube-system:weftd" cannot patch resource "nodes"',
  }),
  'PATCH /api/v1/nodes/n1',
);
const refused = new Error('GET /api/v1/nodes: no answer from the API server at https://10.96.0.1', {
  cause: Object.assign(new Error('connect ECONNREFUSED 10.96.0.1:443'), { code: 'ECONNREFUSED' }),
});

test("the status comes from an ApiError or from a watch's ERROR event", (t) => {
  t.is(httpStatusOf(forbidden), 403);
  t.is(httpStatusOf(Object.assign(new Error('Gone'), { statusCode: 410 })), 410);
  t.is(httpStatusOf(refused), undefined);
  t.is(httpStatusOf(undefined), undefined);
});

test("a log line carries the server's message or the socket error, not headers", (t) => {
  t.is(describeApiError(forbidden), 'HTTP 403: nodes "n1" is forbidden: User "system:serviceaccount:kube-system:weftd" cannot patch resource "nodes"');
  t.is(describeApiError(new ApiError(401, '', 'GET /api/v1/nodes/n1')), 'HTTP 401');
  t.is(describeApiError(new ApiError(500, 'plain text\n', 'GET /x')), 'HTTP 500: plain text');
  t.is(describeApiError(refused), 'ECONNREFUSED: connect ECONNREFUSED 10.96.0.1:443');
  t.is(describeApiError(Object.assign(new Error('Gone'), { statusCode: 410 })), 'HTTP 410: Gone');
  t.is(describeApiError('odd'), 'odd');
});

test('a refused request names the node, the verb and the ClusterRole', (t) => {
  const err = nodeRequestError(forbidden, patch, 'n1');
  t.regex(
    err.message,
    /^weftd's service account may not patch node n1 \(HTTP 403: .*\): apply manifests\/weft\.yaml's ClusterRole, which grants patch on nodes$/,
  );
  t.is(err.cause, forbidden);
  const status = nodeRequestError(forbidden, { verb: 'patch', resource: 'nodes/status', purpose: 'mark the network available on' }, 'n1');
  t.regex(status.message, /^weftd's service account may not patch the status of node n1 .*grants patch on nodes\/status$/);
});

test("a refusal by weft's admission policy names the policy and what to check, not the ClusterRole", (t) => {
  const denied = new ApiError(
    403,
    JSON.stringify({
      kind: 'Status',
      code: 403,
      reason: 'Forbidden',
      message:
        "nodes \"n2\" is forbidden: ValidatingAdmissionPolicy 'weft-own-node-only' with binding 'weft-own-node-only' denied request: weft on node n1 may not update Node n2, only its own",
    }),
    'PATCH /api/v1/nodes/n2/status',
  );
  const err = nodeRequestError(denied, { verb: 'patch', resource: 'nodes/status', purpose: 'publish the VTEP on' }, 'n2');
  t.regex(err.message, /^cannot publish the VTEP on node n2: an admission policy refused it \(HTTP 403: .*may not update Node n2, only its own\); /);
  t.regex(err.message, /manifests\/weft-admission\.yaml .*check that --node-name \(NODE_NAME\) is the pod's spec\.nodeName/);
  t.notRegex(err.message, /ClusterRole/);
  t.is(err.cause, denied);
});

test('other failures name the node and what to check', (t) => {
  t.regex(
    nodeRequestError(new ApiError(404, '{"message":"nodes \\"n1\\" not found"}', 'PATCH /api/v1/nodes/n1'), patch, 'n1').message,
    /^cannot publish the VTEP on node n1: no such Node .*check weftd's --node-name/,
  );
  t.regex(
    nodeRequestError(new ApiError(401, '', 'GET /api/v1/nodes/n1'), patch, 'n1').message,
    /^cannot publish the VTEP on node n1: the API server does not accept weftd's credentials/,
  );
  t.regex(
    nodeRequestError(refused, patch, 'n1').message,
    /^cannot publish the VTEP on node n1: the API server did not answer \(ECONNREFUSED: .*\); check that kube-apiserver is up/,
  );
  t.is(
    nodeRequestError(new ApiError(500, '{"message":"etcdserver: timeout"}', 'PATCH /api/v1/nodes/n1'), patch, 'n1').message,
    'cannot publish the VTEP on node n1: HTTP 500: etcdserver: timeout',
  );
});
