import test from 'ava';
import { type NodeInfo, sameNodeInfo, toNodeInfo } from '../../src/k8s/node-info.ts';

test('podCidrs come from spec.podCIDRs, else spec.podCIDR, else nothing', (t) => {
  const dual = { metadata: { name: 'a' }, spec: { podCIDR: '10.0.0.0/24', podCIDRs: ['10.0.0.0/24', 'fd00::/64'] } };
  t.deepEqual(toNodeInfo(dual)?.podCidrs, ['10.0.0.0/24', 'fd00::/64']);
  t.deepEqual(toNodeInfo({ metadata: { name: 'a' }, spec: { podCIDR: '10.0.0.0/24' } })?.podCidrs, ['10.0.0.0/24']);
  t.deepEqual(toNodeInfo({ metadata: { name: 'a' }, spec: { podCIDR: '10.0.0.0/24', podCIDRs: [] } })?.podCidrs, ['10.0.0.0/24']);
  t.deepEqual(toNodeInfo({ metadata: { name: 'a' }, spec: {} })?.podCidrs, []);
  t.deepEqual(toNodeInfo({ metadata: { name: 'a' } })?.podCidrs, []);
});

test('only weft.dev/ annotations are kept, and nothing else of the Node', (t) => {
  const node = {
    metadata: {
      name: 'a',
      resourceVersion: '42',
      annotations: { 'weft.dev/vtep-ip': '192.0.2.1', 'flannel.alpha.coreos.com/public-ip': '192.0.2.1', 'weft.devx/other': 'x' },
      labels: { zone: 'a' },
    },
    spec: { podCIDRs: ['10.0.0.0/24'], providerID: 'cloud://1' },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  };
  t.deepEqual(toNodeInfo(node), {
    name: 'a',
    podCidrs: ['10.0.0.0/24'],
    annotations: { 'weft.dev/vtep-ip': '192.0.2.1' },
    resourceVersion: '42',
  });
});

test('the view shares no arrays with the Node it came from', (t) => {
  const podCIDRs = ['10.0.0.0/24'];
  const info = toNodeInfo({ metadata: { name: 'a' }, spec: { podCIDRs } });
  podCIDRs.push('10.0.1.0/24');
  t.deepEqual(info?.podCidrs, ['10.0.0.0/24']);
});

test('an object without a name is no Node', (t) => {
  t.is(toNodeInfo({}), undefined);
  t.is(toNodeInfo({ metadata: { name: '' } }), undefined);
});

test('sameNodeInfo ignores resourceVersion and sees every other difference', (t) => {
  const base: NodeInfo = { name: 'a', podCidrs: ['10.0.0.0/24'], annotations: { 'weft.dev/vtep-ip': '192.0.2.1' }, resourceVersion: '1' };
  t.true(sameNodeInfo(base, { ...base, resourceVersion: '2' }));
  t.false(sameNodeInfo(base, { ...base, name: 'b' }));
  t.false(sameNodeInfo(base, { ...base, podCidrs: ['10.0.1.0/24'] }));
  t.false(sameNodeInfo(base, { ...base, podCidrs: ['10.0.0.0/24', 'fd00::/64'] }));
  t.false(sameNodeInfo(base, { ...base, annotations: { 'weft.dev/vtep-ip': '192.0.2.2' } }));
  t.false(sameNodeInfo(base, { ...base, annotations: {} }));
  t.false(sameNodeInfo({ ...base, annotations: {} }, base));
  t.false(sameNodeInfo(base, { ...base, annotations: { 'weft.dev/vtep-mac': '192.0.2.1' } }));
});

test('creationTimestamp becomes the claim age; a Node without one (or with garbage) has none', (t) => {
  t.is(toNodeInfo({ metadata: { name: 'a', creationTimestamp: '2026-01-02T03:04:05Z' } })?.created, Date.UTC(2026, 0, 2, 3, 4, 5));
  t.false('created' in toNodeInfo({ metadata: { name: 'a' } })!);
  t.false('created' in toNodeInfo({ metadata: { name: 'a', creationTimestamp: 'yesterday' } })!);
  const at = (created: string) => toNodeInfo({ metadata: { name: 'a', creationTimestamp: created } })!;
  t.false(sameNodeInfo(at('2026-01-02T03:04:05Z'), at('2026-01-02T03:04:06Z')), 'a recreated Node is a change');
});
