// The overlay `make cluster CLUSTER_CNI=weft` installs with `kubectl apply -k`:
// tools/cluster/weft (manifests/ with an explicit pull policy) plus the
// image pinned by the digest of the archive `make image` wrote. The digest
// changes whenever dist/ does, so this small overlay is written next to the
// cluster's state at install time rather than kept in git; a user pins the
// same way (`kustomize edit set image localhost/weft@sha256:…`). A
// dual-stack cluster also sets net-conf's `network` to both pod networks.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';

/** The committed overlay: manifests/ with imagePullPolicy Never (nodes here cannot pull). */
export const WEFT_OVERLAY = join(import.meta.dirname, 'weft');
/** The image name manifests/weft.yaml uses, which the overlays replace. */
export const WEFT_IMAGE_NAME = 'localhost/weft';

const MANIFEST = join(import.meta.dirname, '..', '..', 'manifests', 'weft.yaml');
const CONFIG_MAP = { name: 'weft-config', namespace: 'weft', key: 'net-conf.json' };

/** manifests/weft.yaml's net-conf.json with `network` set: every other field stays the shipped one. */
export function netConfWithNetwork(network: string[]): string {
  const docs = loadAllYaml(readFileSync(MANIFEST, 'utf8')) as { kind?: string; metadata?: { name?: string }; data?: Record<string, string> }[];
  const text = docs.find((d) => d?.kind === 'ConfigMap' && d.metadata?.name === CONFIG_MAP.name)?.data?.[CONFIG_MAP.key];
  if (!text)
    throw new Error(`${MANIFEST}: no ConfigMap ${CONFIG_MAP.name} with ${CONFIG_MAP.key}; update tools/cluster/weft-overlay.ts to where net-conf now lives`);
  return `${JSON.stringify({ ...(JSON.parse(text) as object), network }, null, 2)}\n`;
}

/**
 * Writes dir/kustomization.yaml: WEFT_OVERLAY with weft's image replaced by
 * `{ digest }` (pinned: NAME@DIGEST) or `{ newTag }` (NAME:TAG) and, given
 * `network`, net-conf.json's network set to it (kube-controller-manager's
 * --cluster-cidr list); returns dir.
 */
export function writeOverlay(dir: string, image: { digest: string } | { newTag: string }, network?: string[]): string {
  const [field, value] = 'digest' in image ? ['digest', image.digest] : ['newTag', image.newTag];
  mkdirSync(dir, { recursive: true });
  let netConf = '';
  if (network) {
    writeFileSync(join(dir, CONFIG_MAP.key), netConfWithNetwork(network));
    // merge: only this key of the shipped ConfigMap changes; no hash suffix, as the DaemonSet names it.
    netConf = `configMapGenerator:
  - name: ${CONFIG_MAP.name}
    namespace: ${CONFIG_MAP.namespace}
    behavior: merge
    files:
      - ${CONFIG_MAP.key}
    options:
      disableNameSuffixHash: true
`;
  }
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    `# Written by tools/cluster/weft-overlay.ts: ${relative(dir, WEFT_OVERLAY)} with weft's image's ${field} set${network ? ` and net-conf's network ${network.join(',')}` : ''}.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ${relative(dir, WEFT_OVERLAY)}
images:
  - name: ${WEFT_IMAGE_NAME}
    ${field}: ${value}
${netConf}`,
  );
  return dir;
}
