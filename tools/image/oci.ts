// Writes an OCI image archive (image-spec 1.0 layout in a tar: oci-layout,
// index.json, blobs/sha256/...) that `ctr images import` loads: one or more
// layers, a config, a manifest, and an index naming the image. Reproducible:
// the same entries give the same bytes, so the same digests. Used by the pause
// image (tools/pause), the weft image and the test images (tools/image).
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { type TarEntry, tar } from './tar.ts';

export type ImageConfig = { Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; WorkingDir?: string; Labels?: Record<string, string> };

export type Image = {
  /** The full image reference the runtime will know it by, e.g. localhost/weft:0.1.0. */
  name: string;
  /** GOARCH-style architecture: amd64, arm64. */
  architecture: string;
  /** Lowest first; each a list of tar entries with paths relative to /. */
  layers: TarEntry[][];
  config: ImageConfig;
  /** gzip the layers (smaller archive; containerd unpacks either). */
  gzip?: boolean;
};

export type SingleBinaryImage = {
  name: string;
  /** File name at the root of the image, also its entrypoint. */
  file: string;
  executable: Buffer;
  architecture: string;
};

type Blob = { mediaType: string; digest: string; size: number; data: Buffer };

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
function blob(mediaType: string, data: Buffer): Blob {
  return { mediaType, digest: sha256(data), size: data.length, data };
}

const descriptor = ({ mediaType, digest, size }: Blob) => ({ mediaType, digest, size });
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

export function ociArchive(image: Image): Buffer {
  const diffIds: string[] = [];
  const layers = image.layers.map((entries) => {
    const plain = tar(entries);
    diffIds.push(sha256(plain));
    // gzip's header holds no name or time here (mtime 0), so this stays reproducible.
    return image.gzip
      ? blob('application/vnd.oci.image.layer.v1.tar+gzip', gzipSync(plain, { level: 6 }))
      : blob('application/vnd.oci.image.layer.v1.tar', plain);
  });
  const config = blob(
    'application/vnd.oci.image.config.v1+json',
    json({
      architecture: image.architecture,
      os: 'linux',
      config: image.config,
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const manifest = blob(
    'application/vnd.oci.image.manifest.v1+json',
    json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: descriptor(config),
      layers: layers.map(descriptor),
    }),
  );
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        ...descriptor(manifest),
        platform: { architecture: image.architecture, os: 'linux' },
        // containerd names the imported image from this annotation verbatim;
        // the OCI ref.name alone would be taken as a tag needing a base name.
        annotations: { 'io.containerd.image.name': image.name, 'org.opencontainers.image.ref.name': image.name.slice(image.name.lastIndexOf(':') + 1) },
      },
    ],
  };
  return tar([
    { name: 'oci-layout', data: json({ imageLayoutVersion: '1.0.0' }), mode: 0o644 },
    { name: 'index.json', data: json(index), mode: 0o644 },
    ...[...layers, config, manifest].map((b) => ({ name: `blobs/sha256/${b.digest.slice('sha256:'.length)}`, data: b.data, mode: 0o644 })),
  ]);
}

/** One static executable at /<file>, also the entrypoint, in one uncompressed layer (the pause image). */
export function singleBinaryArchive(image: SingleBinaryImage): Buffer {
  return ociArchive({
    name: image.name,
    architecture: image.architecture,
    layers: [[{ name: image.file, data: image.executable, mode: 0o755 }]],
    config: { Entrypoint: [`/${image.file}`] },
  });
}
