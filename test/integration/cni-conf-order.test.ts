// weftd tells the operator when another CNI config on its node sorts before
// weft's (the runtime would give new pods that network): a log line, the
// weft_cni_config_shadowed metric and a Warning event on its own Node,
// against a real API server; and that it clears when the other file goes.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventsV1Api } from '@kubernetes/client-node';
import test from 'ava';
import { Cluster, type ClusterNode } from '../../testbed/cluster.ts';
import { eventually } from '../../testbed/eventually.ts';

const shadowed = async (c: Cluster, node: ClusterNode): Promise<string | undefined> =>
  /^weft_cni_config_shadowed (\d)$/m.exec((await c.weftdHttp(node, '/metrics')).body)?.[1];

test('another CNI config sorting first is logged, counted and posted as a Warning event on the Node, and cleared when it goes', async (t) => {
  const c = await Cluster.start(1);
  t.teardown(() => c.destroy());
  const node = c.nodes[0]!;
  const confDir = join(node.dir, 'conf');
  writeFileSync(join(confDir, '05-bridge.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'other', plugins: [{ type: 'bridge' }] }));
  await c.startWeftd(node, ['--cni-conf-dir', confDir, '--resync', '1']);

  const message = `CNI config 05-bridge.conflist in ${confDir} sorts before weft's 10-weft.conflist`;
  const events = c.kc.makeApiClient(EventsV1Api);
  const posted = await eventually('the Warning event about the node', async () => {
    const items = (await events.listNamespacedEvent({ namespace: 'default' })).items.filter((e) => e.reason === 'CNIConfigShadowed');
    return items.length > 0 ? items : undefined;
  });
  t.is(posted.length, 1, 'one event, not one per resync');
  const [event] = posted;
  t.like(event, { type: 'Warning', reportingController: 'weft.dev/weftd', regarding: { kind: 'Node', name: node.name } });
  t.true(event?.note?.startsWith(message), event?.note);
  t.regex(event?.note ?? '', /remove it from the node, or give install-cni a --conf-name that sorts before 05-bridge\.conflist$/);
  t.is(await eventually('the metric at 1', async () => ((await shadowed(c, node)) === '1' ? '1' : undefined)), '1');
  t.regex(readFileSync(node.weftdLog, 'utf8'), new RegExp(`warning: ${message.replaceAll('.', '\\.')}`));

  // Several resyncs later, still one event and one log line.
  await new Promise((r) => setTimeout(r, 3000));
  const again = (await events.listNamespacedEvent({ namespace: 'default' })).items.filter((e) => e.reason === 'CNIConfigShadowed');
  t.is(again.length, 1);
  t.is(
    readFileSync(node.weftdLog, 'utf8')
      .split('\n')
      .filter((l) => l.includes(message)).length,
    1,
  );

  rmSync(join(confDir, '05-bridge.conflist'));
  await eventually('the metric back at 0', async () => ((await shadowed(c, node)) === '0' ? true : undefined));
  t.regex(readFileSync(node.weftdLog, 'utf8'), /CNI config 10-weft\.conflist is the first in .* again/);
});

test('without --cni-conf-dir weftd does not look, and a bad --cni-conf-name is refused at start', async (t) => {
  const c = await Cluster.start(1);
  t.teardown(() => c.destroy());
  const node = c.nodes[0]!;
  writeFileSync(join(node.dir, 'conf', '05-bridge.conflist'), '{}');
  await c.startWeftd(node, ['--cni-conf-name', '../10-weft.conf']);
  await node.weftd?.ended;
  t.is(node.weftd?.exitStatus(), 'code 1');
  t.regex(readFileSync(node.weftdLog, 'utf8'), /CNI config name "\.\.\/10-weft\.conf" is not a file name ending in \.conflist: .*use e\.g\. 10-weft\.conflist/);

  await c.startWeftd(node);
  await eventually('weftd ready', async () => ((await c.weftdStatus(node)).readiness === 'ready' ? true : undefined));
  t.is(await shadowed(c, node), '0');
  t.notRegex(readFileSync(node.weftdLog, 'utf8'), /sorts before/);
});
