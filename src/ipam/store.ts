// The IPAM store, host-local's on-disk format: under <dataDir>/<network>/ one
// file per reserved address, named by the address and holding
// "<containerID>\r\n<ifname>", plus last_reserved_ip.<set> per range set.
// Creating a reservation with O_EXCL is what makes concurrent ADDs safe: two
// processes can race for an address but only one create succeeds.
import { files, O_CREAT, O_EXCL, O_WRONLY, parentDir } from '../linux/files.ts';
import { type Address, formatAddress, formatCidr, parseAddress } from '../net/address.ts';
import { messageOf } from '../text/error-message.ts';
import { IpamError } from './errors.ts';
import { candidates, type RangeSet } from './range.ts';

export type Reservation = { address: Address; file: string; containerId: string; ifname: string };

const LAST_RESERVED = 'last_reserved_ip.';

/**
 * `dataDir` is absolute and holds no empty, "." or ".." part (the network
 * config checks it; src/cni/names.ts), and a network name holds no "/": so
 * joining them needs no normalising, and nothing here loads node:path (whose
 * loading costs a Bun process about 0.4 ms).
 */
export function storeDir(dataDir: string, network: string): string {
  return `${dataDir.endsWith('/') ? dataDir.slice(0, -1) : dataDir}/${network}`;
}

const inStore = (dir: string, name: string): string => `${dir}/${name}`;

/**
 * Makes the store's directory; returns the topmost directory it had to
 * create, so a failed ADD can take back exactly what it made.
 */
export function makeStoreDir(dir: string): string | undefined {
  try {
    return files().makeDirs(dir);
  } catch (err) {
    throw ioError(`cannot create the IPAM store ${dir}`, err);
  }
}

/** Removes the directories a failed ADD created, from `dir` up to `top`, while they are empty. */
export function removeStoreDir(dir: string, top: string): void {
  for (let d = dir; d.startsWith(top); d = parentDir(d)) {
    try {
      files().removeDir(d);
    } catch {
      // Not empty: another ADD reserved meanwhile, and the rest stays too.
      return;
    }
    if (d === top) return;
  }
}

/**
 * Reserves the next free address of the set for the attachment, in a store
 * directory that exists. The round-robin marker moves only once the ADD has
 * succeeded (recordLastReserved), so a failed ADD leaves no file behind.
 */
export function reserve(dir: string, set: RangeSet, setIndex: number, containerId: string, ifname: string): Address {
  const last = readMarker(markerFile(dir, setIndex));
  // The names taken, read at the first collision. ADDs that arrive together
  // all start after the same marker (it moves when an ADD succeeds), so the
  // tenth would otherwise fail nine creates, each a syscall and an exception,
  // before its own; the create with O_EXCL still decides.
  let taken: Set<string> | undefined;
  for (const address of candidates(set, last)) {
    const text = formatAddress(address);
    if (taken?.has(text)) continue;
    const fs = files();
    let fd: number;
    try {
      fd = fs.open(inStore(dir, text), O_WRONLY | O_CREAT | O_EXCL, 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(`cannot create reservation ${inStore(dir, text)}`, err);
      taken ??= takenNames(dir);
      continue;
    }
    try {
      const content = Buffer.from(`${containerId}\r\n${ifname}`);
      fs.write(fd, content, 0, content.length);
    } finally {
      fs.close(fd);
    }
    return address;
  }
  const ranges = set.map((r) => formatCidr(r.subnet)).join(', ');
  throw new IpamError('exhausted', `no free address left in ${ranges} for network ${dir}`, 'remove pods from this node, or give the node a larger pod CIDR');
}

function takenNames(dir: string): Set<string> {
  try {
    return new Set(files().list(dir));
  } catch (err) {
    throw ioError(`cannot list reservations in ${dir}`, err);
  }
}

export function listReservations(dir: string): Reservation[] {
  let names: string[];
  try {
    names = files().list(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError(`cannot list reservations in ${dir}`, err);
  }
  const reservations: Reservation[] = [];
  for (const name of names) {
    const address = parseAddress(name);
    if (!address) continue;
    const file = inStore(dir, name);
    let content: string;
    try {
      content = files().readText(file);
    } catch (err) {
      // Released by a concurrent DEL between readdir and read.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw ioError(`cannot read reservation ${file}`, err);
    }
    const [containerId = '', ifname = ''] = content.split(/\r?\n/);
    reservations.push({ address, file, containerId: containerId.trim(), ifname: ifname.trim() });
  }
  return reservations;
}

export function release(reservation: Reservation): void {
  try {
    files().remove(reservation.file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot release ${reservation.file}`, err);
  }
}

function markerFile(dir: string, setIndex: number): string {
  return inStore(dir, `${LAST_RESERVED}${setIndex}`);
}

/** Moves set `setIndex`'s round-robin marker to `address`: the next ADD starts after it. */
export function recordLastReserved(dir: string, setIndex: number, address: Address): void {
  try {
    overwrite(markerFile(dir, setIndex), formatAddress(address));
  } catch (err) {
    throw ioError(`cannot write ${markerFile(dir, setIndex)}`, err);
  }
}

function readMarker(file: string): Address | undefined {
  try {
    return parseAddress(files().readText(file).trim());
  } catch {
    return undefined;
  }
}

/**
 * Writes `content` over the file's bytes, then cuts it to their length. The
 * marker only says where the next ADD starts looking (the exclusive create
 * decides who gets an address), so a reader that meets it half-written, or a
 * crash that leaves it so, only moves where one search starts. A temp file
 * renamed over it cost ten times the kernel's work of this (about 90 µs),
 * on every ADD; host-local too writes it in place.
 */
function overwrite(file: string, content: string): void {
  const fs = files();
  const fd = fs.open(file, O_WRONLY | O_CREAT, 0o644);
  try {
    const bytes = Buffer.from(content);
    fs.write(fd, bytes, 0, bytes.length, 0);
    fs.truncate(fd, bytes.length);
  } finally {
    fs.close(fd);
  }
}

function ioError(what: string, err: unknown): IpamError {
  return new IpamError('io', `${what}: ${messageOf(err)}`, 'check that the IPAM data dir is writable by root', err);
}

/** Releases one address this process reserved (the rollback of a failed ADD). */
export function releaseAddress(dir: string, address: Address): void {
  release({ address, file: inStore(dir, formatAddress(address)), containerId: '', ifname: '' });
}
