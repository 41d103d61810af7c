// The overlay `make cluster CLUSTER_CNI=weft` installs with `kubectl apply -k`:
// tools/cluster/weft (manifests/ with an explicit pull policy) plus the
// image pinned by the digest of the archive `make image` wrote. The digest
// changes whenever dist/ does, so this small overlay is written next to the
// cluster's state at install time rather than kept in git; a user pins the
// same way (`kustomize edit set image localhost/weft@sha256:…`).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The committed overlay: manifests/ with imagePullPolicy Never (nodes here cannot pull). */
export const WEFT_OVERLAY = join(import.meta.dirname, 'weft');
/** The image name manifests/weft.yaml uses, which the overlays replace. */
export const WEFT_IMAGE_NAME = 'localhost/weft';

/**
 * Writes dir/kustomization.yaml: WEFT_OVERLAY with weft's image replaced by
 * `{ digest }` (pinned: NAME@DIGEST) or `{ newTag }` (NAME:TAG); returns dir.
 */
export function writeOverlay(dir: string, image: { digest: string } | { newTag: string }): string {
  const [field, value] = 'digest' in image ? ['digest', image.digest] : ['newTag', image.newTag];
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    `# Written by tools/cluster/weft-overlay.ts: ${relative(dir, WEFT_OVERLAY)} with weft's image's ${field} set.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ${relative(dir, WEFT_OVERLAY)}
images:
  - name: ${WEFT_IMAGE_NAME}
    ${field}: ${value}
`,
  );
  return dir;
}
