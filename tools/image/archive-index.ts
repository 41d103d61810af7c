// What an OCI archive written by oci.ts holds, read back from its index.json:
// the image's name and manifest digest, for importing it by digest.
import { execFileSync } from 'node:child_process';

export type ArchiveImage = {
  /** NAME:TAG, from the io.containerd.image.name annotation. */
  name: string;
  /** NAME without the tag: the repository a digest reference is made in. */
  repository: string;
  /** sha256:… of the manifest: what the kubelet reports as the container's imageID. */
  digest: string;
};

export function archiveImage(archive: string): ArchiveImage {
  let index: { manifests?: { digest?: string; annotations?: Record<string, string> }[] };
  try {
    index = JSON.parse(execFileSync('tar', ['-xOf', archive, 'index.json'], { encoding: 'utf8', maxBuffer: 1 << 20 }));
  } catch (err) {
    throw new Error(`${archive}: no readable index.json (not an OCI archive?): rebuild it (make image)`, { cause: err });
  }
  const manifests = index.manifests ?? [];
  const digest = manifests[0]?.digest ?? '';
  const name = manifests[0]?.annotations?.['io.containerd.image.name'] ?? '';
  if (manifests.length !== 1 || !/^sha256:[0-9a-f]{64}$/.test(digest) || !name) {
    throw new Error(`${archive}: index.json should list exactly one manifest, with a sha256 digest and an io.containerd.image.name annotation`);
  }
  const tag = name.lastIndexOf(':');
  return { name, repository: tag > name.lastIndexOf('/') ? name.slice(0, tag) : name, digest };
}
