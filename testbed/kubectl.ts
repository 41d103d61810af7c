// kubectl v1.34.10, built by tools/kube-tools.sh into .cache/bin, for the
// tests that install weft the way an operator does. Each test gets its own
// discovery cache, removed in teardown.
//
//   const admin = kubectlFor(t, { kubeconfig: cp.kubeconfig });
//   await admin.ok(['apply', '-f', 'manifests/']);
//   const asWeft = kubectlFor(t, { server: cp.server, caFile: cp.caFile, token });

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import type { ExecutionContext } from 'ava';
import { tempDir } from './fixtures.ts';
import { CACHE_BIN, REPO, requireBuilt } from './paths.ts';
import { sh } from './shell.ts';

export const KUBECTL = join(CACHE_BIN, 'kubectl');
export const MANIFESTS = join(REPO, 'manifests');

/** An admin kubeconfig, or a bearer token (a ServiceAccount's) for the API server at server. */
export type KubectlAuth = { kubeconfig: string } | { server: string; caFile: string; token: string };

export type KubectlResult = { exitCode: number; stdout: string; stderr: string };

export type Kubectl = {
  /** Runs kubectl with args (and stdin); any exit code. */
  run(args: string[], input?: string): Promise<KubectlResult>;
  /** Runs kubectl and returns stdout; a non-zero exit throws with stderr. */
  ok(args: string[], input?: string): Promise<string>;
};

/** kubectl as auth; without auth, for commands that need no API server (kustomize). */
export function kubectlFor(t: ExecutionContext, auth?: KubectlAuth): Kubectl {
  requireBuilt(KUBECTL, 'run tools/kube-tools.sh');
  const dir = tempDir(t);
  let kubeconfig: string | undefined;
  if (!auth || 'kubeconfig' in auth) {
    kubeconfig = auth?.kubeconfig;
  } else {
    // A kubeconfig of its own rather than --token on every command line.
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server: auth.server, 'certificate-authority': auth.caFile } }],
        users: [{ name: 'token', user: { token: auth.token } }],
        contexts: [{ name: 'test', context: { cluster: 'test', user: 'token' } }],
        'current-context': 'test',
      }),
      { mode: 0o600 },
    );
  }
  const global = [...(kubeconfig ? ['--kubeconfig', kubeconfig] : []), '--cache-dir', join(dir, 'cache')];
  const run = async (args: string[], input?: string): Promise<KubectlResult> => {
    const r = await sh(KUBECTL, [...global, ...args], input);
    return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout), stderr: String(r.stderr) };
  };
  return {
    run,
    async ok(args, input) {
      const r = await run(args, input);
      if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.exitCode}: ${r.stderr.trim()}`);
      return r.stdout;
    },
  };
}

/** A Kubernetes object as kubectl prints or kustomize renders it. */
export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
};

/** The objects `kubectl apply -k manifests/` would send, as kustomize renders them. */
export async function renderManifests(kubectl: Kubectl): Promise<KubeObject[]> {
  return loadAllYaml(await kubectl.ok(['kustomize', MANIFESTS])) as KubeObject[];
}

/** The one object of this kind and name among objects; throws when it is missing. */
export function findObject<T = KubeObject>(objects: KubeObject[], kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`the manifests have no ${kind} ${name}: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found as T;
}
