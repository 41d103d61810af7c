// White-box fallback for proving an address was released, for confs whose
// IPAM keeps host-local's on-disk format: under <ipam.dataDir>/<network>/ one
// file per reserved address, named by the address and starting with the
// holder's container ID.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isObject } from './json.ts';
import type { NetworkConfig } from './network-config.ts';

/** The reservation directory, when a plugin's ipam names a dataDir. */
export function reservationDir(net: NetworkConfig): string | undefined {
  for (const plugin of net.plugins) {
    if (isObject(plugin.ipam) && typeof plugin.ipam.dataDir === 'string') return join(plugin.ipam.dataDir, net.name);
  }
  return undefined;
}

/** Container ID holding `address` (bare IP), or undefined when it is not reserved. */
export function reservationHolder(dir: string, address: string): string | undefined {
  try {
    return readFileSync(join(dir, address), 'utf8').split(/\r?\n/)[0]?.trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Addresses still reserved for any of `containerIds`. */
export function addressesHeldBy(dir: string, containerIds: ReadonlySet<string>): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.filter((name) => {
    const holder = reservationHolder(dir, name);
    return holder !== undefined && containerIds.has(holder);
  });
}
