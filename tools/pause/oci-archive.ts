// Packs one static executable into an OCI image archive (image-spec 1.0
// layout in a tar: oci-layout, index.json, blobs/sha256/...) that
// `ctr images import` loads: a single uncompressed layer holding /<file>, a
// config that runs it, a manifest, and an index naming the image.
import { createHash } from 'node:crypto';
import { tar } from './tar.ts';

export type SingleBinaryImage = {
  /** The full image reference the runtime will know it by, e.g. localhost/weft/pause:1. */
  name: string;
  /** File name at the root of the image, also its entrypoint. */
  file: string;
  executable: Buffer;
  /** GOARCH-style architecture of the executable: amd64, arm64. */
  architecture: string;
};

type Blob = { mediaType: string; digest: string; size: number; data: Buffer };

function blob(mediaType: string, data: Buffer): Blob {
  return { mediaType, digest: `sha256:${createHash('sha256').update(data).digest('hex')}`, size: data.length, data };
}

const descriptor = ({ mediaType, digest, size }: Blob) => ({ mediaType, digest, size });
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

export function ociArchive(image: SingleBinaryImage): Buffer {
  // Uncompressed, so the layer digest is also its diff ID.
  const layer = blob('application/vnd.oci.image.layer.v1.tar', tar([{ name: image.file, data: image.executable, mode: 0o755 }]));
  const config = blob('application/vnd.oci.image.config.v1+json', json({
    architecture: image.architecture,
    os: 'linux',
    config: { Entrypoint: [`/${image.file}`] },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  }));
  const manifest = blob('application/vnd.oci.image.manifest.v1+json', json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: descriptor(config),
    layers: [descriptor(layer)],
  }));
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{
      ...descriptor(manifest),
      platform: { architecture: image.architecture, os: 'linux' },
      // containerd names the imported image from this annotation verbatim;
      // the OCI ref.name alone would be taken as a tag needing a base name.
      annotations: { 'io.containerd.image.name': image.name, 'org.opencontainers.image.ref.name': image.name.slice(image.name.lastIndexOf(':') + 1) },
    }],
  };
  return tar([
    { name: 'oci-layout', data: json({ imageLayoutVersion: '1.0.0' }), mode: 0o644 },
    { name: 'index.json', data: json(index), mode: 0o644 },
    ...[layer, config, manifest].map((b) => ({ name: `blobs/sha256/${b.digest.slice('sha256:'.length)}`, data: b.data, mode: 0o644 })),
  ]);
}
