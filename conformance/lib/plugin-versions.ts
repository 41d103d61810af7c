// Asks each plugin type in the conf which spec versions it supports (VERSION).
// The answers gate the checks that need a particular version.
import { readOneObject } from './json.ts';
import { type NetworkConfig, distinctPlugins } from './network-config.ts';
import { execPlugin } from './plugin-exec.ts';
import { type Completed, describeFailure } from './process.ts';
import { isVersion } from './versions.ts';

/** What a plugin declared; `supported` is empty when its answer was unusable, `reply` absent when it was not JSON. */
export type VersionAnswer = { supported: string[]; problems: string[]; reply?: Record<string, unknown> };

export async function askVersions(net: NetworkConfig, binaries: Map<string, string>): Promise<Map<string, VersionAnswer>> {
  const answers = new Map<string, VersionAnswer>();
  for (const { type } of distinctPlugins(net)) {
    const binary = binaries.get(type);
    if (!binary) throw new Error(`plugin ${type} was not located on the CNI path`);
    // SPEC.md: VERSION needs only CNI_COMMAND, and reads {"cniVersion"} on stdin.
    const completed = await execPlugin(binary, { CNI_COMMAND: 'VERSION' }, JSON.stringify({ cniVersion: net.cniVersion }));
    answers.set(type, readAnswer(completed, net.cniVersion));
  }
  return answers;
}

function readAnswer(completed: Completed, asked: string): VersionAnswer {
  if (completed.exitCode !== 0) {
    return { supported: [], problems: [describeFailure('VERSION', completed)] };
  }
  const parsed = readOneObject(completed.stdout);
  if ('problem' in parsed) return { supported: [], problems: [`VERSION succeeded but its ${parsed.problem}`] };
  const problems: string[] = [];
  const { supportedVersions } = parsed.value;
  const supported = Array.isArray(supportedVersions) ? supportedVersions.filter((v): v is string => typeof v === 'string' && isVersion(v)) : [];
  if (!Array.isArray(supportedVersions) || supportedVersions.length === 0) {
    problems.push('supportedVersions is missing or empty; list the spec versions the plugin implements');
  } else if (supported.length !== supportedVersions.length) {
    problems.push(`supportedVersions ${JSON.stringify(supportedVersions)} holds entries that are not versions like "1.1.0"`);
  }
  if (supported.length > 0 && !supported.includes(asked)) {
    problems.push(`supportedVersions [${supported.join(', ')}] lacks the conf's cniVersion ${asked}; use one the plugin supports`);
  }
  return { supported, problems, reply: parsed.value };
}
