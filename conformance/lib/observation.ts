// Everything a plugin could change for one attachment, the stand-in host's
// namespace, the pod's and the IPAM data, and what changed between two looks.
import { snapshotDirs } from './dir-snapshot.ts';
import { setChanges, snapshotNet } from './net-snapshot.ts';
import type { Netns } from './netns.ts';

export type Observation = { host: Set<string>; pod: Set<string>; data: Set<string> };

// Listing every change would make a FAIL line as long as a 100 000-route table.
const CHANGES_SHOWN = 4;

export async function observe(host: Netns, pod: Netns, dataDirs: readonly string[]): Promise<Observation> {
  return { host: await snapshotNet(host), pod: await snapshotNet(pod), data: snapshotDirs(dataDirs) };
}

export function changesSince(before: Observation, after: Observation): string[] {
  return [
    ...setChanges(before.host, after.host).map((change) => `host netns ${change}`),
    ...setChanges(before.pod, after.pod).map((change) => `pod netns ${change}`),
    ...setChanges(before.data, after.data).map((change) => `IPAM data ${change}`),
  ];
}

/** The first few changes, and how many more there are. */
export function listChanges(changes: readonly string[]): string {
  const shown = changes.slice(0, CHANGES_SHOWN).join(', ');
  return changes.length > CHANGES_SHOWN ? `${shown} and ${changes.length - CHANGES_SHOWN} more` : shown;
}
