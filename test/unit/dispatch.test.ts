// The plugin's envelope without a process: every env and config error case
// answers one JSON error object with its code, a short message and exit 1,
// before any verb touches the kernel.
import test from 'ava';
import { runPlugin } from '../../src/cni/dispatch.ts';

const conf = { cniVersion: '1.0.0', name: 'unit', type: 'weft', ipam: { ranges: [[{ subnet: '10.0.0.0/24' }]] } };
const add = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/unit-none', CNI_IFNAME: 'eth0' };
const stdin = (value: unknown) => ({ text: typeof value === 'string' ? value : JSON.stringify(value), tooLarge: false });

function reply(env: Record<string, string>, input: { text: string; tooLarge: boolean }) {
  const out = runPlugin(env, input);
  const lines = out.stdout.trim().split('\n');
  return { out, lines, json: JSON.parse(lines[0]!) as { cniVersion: string; code?: number; msg?: string; supportedVersions?: string[] } };
}

test("VERSION answers in the request's version, or the newest for input it cannot read", (t) => {
  t.like(reply({ CNI_COMMAND: 'VERSION' }, stdin({ cniVersion: '0.4.0' })).json, { cniVersion: '0.4.0' });
  t.like(reply({ CNI_COMMAND: 'VERSION' }, stdin('not json')).json, { cniVersion: '1.1.0' });
  t.like(reply({ CNI_COMMAND: 'VERSION' }, { text: '', tooLarge: true }).json, { cniVersion: '1.1.0' });
});

const cases: [string, Record<string, string>, { text: string; tooLarge: boolean }, number, RegExp][] = [
  ['no CNI_COMMAND', {}, stdin(conf), 4, /CNI_COMMAND is not set/],
  ['a netns path with a newline', { ...add, CNI_NETNS: '/var/run/netns/a\nb' }, stdin(conf), 4, /CNI_NETNS "\/var\/run\/netns\/a\\nb" may only hold/],
  ['an ifname with a kernel template', { ...add, CNI_IFNAME: 'e%d' }, stdin(conf), 4, /CNI_IFNAME "e%d" may only hold/],
  ['a stdin past the cap', add, { text: '', tooLarge: true }, 6, /larger than 4 MiB/],
  ['a JSON null', add, stdin('null'), 6, /not a JSON object/],
  ['a name with a quote', add, stdin({ ...conf, name: 'a"b' }), 7, /name "a\\"b" is invalid/],
  ['an unknown version', add, stdin({ ...conf, cniVersion: '2.0.0' }), 1, /cniVersion "2\.0\.0" is not supported/],
  [
    'a route gw with a space',
    add,
    stdin({ ...conf, ipam: { ...conf.ipam, routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1 onlink' }] } }),
    7,
    /gw "10\.0\.0\.1 onlink" is not an IPv4 address/,
  ],
];

for (const [title, env, input, code, msg] of cases) {
  test(`${title} is error ${code} with one JSON object and exit 1`, (t) => {
    const { out, lines, json } = reply(env, input);
    t.is(out.exitCode, 1);
    t.is(lines.length, 1);
    t.is(json.code, code);
    t.regex(json.msg!, msg);
    t.regex(out.stderr, /^weft /);
    t.notRegex(out.stderr, /\n\s+at /, 'no stack trace');
  });
}
