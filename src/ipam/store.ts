// The IPAM store, host-local's on-disk format: under <dataDir>/<network>/ one
// file per reserved address, named by the address and holding
// "<containerID>\r\n<ifname>", plus last_reserved_ip.<set> per range set.
// Creating a reservation with O_EXCL is what makes concurrent ADDs safe: two
// processes can race for an address but only one create succeeds.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Address, formatAddress, formatCidr, parseAddress } from '../net/address.ts';
import { messageOf } from '../text/error-message.ts';
import { IpamError } from './errors.ts';
import { candidates, type RangeSet } from './range.ts';

export type Reservation = { address: Address; file: string; containerId: string; ifname: string };

const LAST_RESERVED = 'last_reserved_ip.';

export function storeDir(dataDir: string, network: string): string {
  return join(dataDir, network);
}

/**
 * Makes the store's directory; returns the topmost directory it had to
 * create, so a failed ADD can take back exactly what it made.
 */
export function makeStoreDir(dir: string): string | undefined {
  try {
    return mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw ioError(`cannot create the IPAM store ${dir}`, err);
  }
}

/** Removes the directories a failed ADD created, from `dir` up to `top`, while they are empty. */
export function removeStoreDir(dir: string, top: string): void {
  for (let d = dir; d.startsWith(top); d = dirname(d)) {
    try {
      rmdirSync(d);
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
  for (const address of candidates(set, last)) {
    const text = formatAddress(address);
    let fd: number;
    try {
      fd = openSync(join(dir, text), 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw ioError(`cannot create reservation ${join(dir, text)}`, err);
    }
    try {
      writeSync(fd, `${containerId}\r\n${ifname}`);
    } finally {
      closeSync(fd);
    }
    return address;
  }
  const ranges = set.map((r) => formatCidr(r.subnet)).join(', ');
  throw new IpamError('exhausted', `no free address left in ${ranges} for network ${dir}`, 'remove pods from this node, or give the node a larger pod CIDR');
}

export function listReservations(dir: string): Reservation[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError(`cannot list reservations in ${dir}`, err);
  }
  const reservations: Reservation[] = [];
  for (const name of names) {
    const address = parseAddress(name);
    if (!address) continue;
    const file = join(dir, name);
    let content: string;
    try {
      content = readFileSync(file, 'utf8');
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
    unlinkSync(reservation.file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot release ${reservation.file}`, err);
  }
}

function markerFile(dir: string, setIndex: number): string {
  return join(dir, `${LAST_RESERVED}${setIndex}`);
}

/** Moves set `setIndex`'s round-robin marker to `address`: the next ADD starts after it. */
export function recordLastReserved(dir: string, setIndex: number, address: Address): void {
  try {
    writeAtomically(markerFile(dir, setIndex), formatAddress(address));
  } catch (err) {
    throw ioError(`cannot write ${markerFile(dir, setIndex)}`, err);
  }
}

function readMarker(file: string): Address | undefined {
  try {
    return parseAddress(readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
}

function writeAtomically(file: string, content: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, content);
  renameSync(temp, file);
}

function ioError(what: string, err: unknown): IpamError {
  return new IpamError('io', `${what}: ${messageOf(err)}`, 'check that the IPAM data dir is writable by root', err);
}

/** Releases one address this process reserved (the rollback of a failed ADD). */
export function releaseAddress(dir: string, address: Address): void {
  release({ address, file: join(dir, formatAddress(address)), containerId: '', ifname: '' });
}
