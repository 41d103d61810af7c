// A kubeconfig file, read the way kubectl reads its current context: the
// cluster's server and TLS settings and the user's credentials. Paths in it
// are relative to the file's own folder, as kubectl takes them.
//
// weftd authenticates with what a node daemon is given: a token, a token
// file, a client certificate, or a user name and password. Exec plugins and
// auth providers run programs on the user's behalf, which a daemon cannot
// answer; such a kubeconfig is refused with a way out.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { load as parseYaml } from 'js-yaml';
import { messageOf } from '../text/error-message.ts';
import { isObject } from '../text/json.ts';
import type { ApiTarget } from './api-client.ts';

type Named<K extends string> = { name?: unknown } & { [key in K]?: Record<string, unknown> };

/** The current context's ApiTarget from a parsed kubeconfig; throws naming what is missing and how to fix it. */
function kubeconfigTarget(doc: unknown, baseDir: string): ApiTarget {
  if (!isObject(doc)) throw new Error('it is not a YAML or JSON mapping: give a kubeconfig as kubectl writes it');
  const contextName = doc['current-context'];
  if (typeof contextName !== 'string' || contextName === '') {
    throw new Error('it has no current context with a cluster: set its current-context (kubectl config use-context NAME)');
  }
  const context = entry<'context'>(doc.contexts, contextName, 'context', 'contexts');
  const clusterName = context.cluster;
  if (typeof clusterName !== 'string' || clusterName === '') throw new Error(`its context ${contextName} names no cluster: set contexts[].context.cluster`);
  const cluster = entry<'cluster'>(doc.clusters, clusterName, 'cluster', 'clusters');
  const userName = context.user;
  const user = typeof userName === 'string' && userName !== '' ? entry<'user'>(doc.users, userName, 'user', 'users') : {};

  const server = cluster.server;
  if (typeof server !== 'string' || server === '')
    throw new Error(`its cluster ${clusterName} has no server: set clusters[].cluster.server to https://host:port`);
  if (cluster['proxy-url'] !== undefined)
    throw new Error(`its cluster ${clusterName} sets proxy-url, which weftd does not support: reach the API server directly`);
  for (const [key, what] of [
    ['exec', 'an exec credential plugin'],
    ['auth-provider', 'an auth provider'],
  ] as const) {
    if (user[key] !== undefined) {
      throw new Error(
        `its user ${String(userName)} authenticates through ${what}, which weftd does not run: give weftd a kubeconfig with a token, tokenFile or client certificate`,
      );
    }
  }

  const path = (value: unknown, key: string): string | undefined => {
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') throw new Error(`its ${key} is not a path`);
    return isAbsolute(value) ? value : join(baseDir, value);
  };
  const base64 = (value: unknown, key: string): Buffer | undefined => {
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string' || !/^[A-Za-z0-9+/\s]*=*\s*$/.test(value)) throw new Error(`its ${key} is not base64`);
    return Buffer.from(value, 'base64');
  };
  const text = (value: unknown, key: string): string | undefined => {
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') throw new Error(`its ${key} is not text`);
    return value;
  };

  const target: ApiTarget = { server };
  const set = <K extends keyof ApiTarget>(key: K, value: ApiTarget[K] | undefined): void => {
    if (value !== undefined) target[key] = value;
  };
  set('caData', base64(cluster['certificate-authority-data'], 'certificate-authority-data'));
  set('caFile', path(cluster['certificate-authority'], 'certificate-authority'));
  if (cluster['insecure-skip-tls-verify'] === true) target.insecureSkipTlsVerify = true;
  set('tlsServerName', text(cluster['tls-server-name'], 'tls-server-name'));
  set('certData', base64(user['client-certificate-data'], 'client-certificate-data'));
  set('certFile', path(user['client-certificate'], 'client-certificate'));
  set('keyData', base64(user['client-key-data'], 'client-key-data'));
  set('keyFile', path(user['client-key'], 'client-key'));
  set('token', text(user.token, 'token'));
  set('tokenFile', path(user.tokenFile, 'tokenFile'));
  const username = text(user.username, 'username');
  if (username !== undefined) target.basicAuth = { username, password: text(user.password, 'password') ?? '' };
  return target;
}

/** Reads and checks the kubeconfig file at path; `source` says where the path came from, for the error. */
export function readKubeconfig(path: string, source: string): ApiTarget {
  try {
    return kubeconfigTarget(parseYaml(readFileSync(path, 'utf8')), dirname(path));
  } catch (err) {
    throw new Error(`cannot load the kubeconfig ${path} (from ${source}): ${messageOf(err)}`, { cause: err });
  }
}

function entry<K extends string>(list: unknown, name: string, key: K, listKey: string): Record<string, unknown> {
  const found = Array.isArray(list) ? (list as Named<K>[]).find((item) => isObject(item) && item.name === name) : undefined;
  if (!found) throw new Error(`it has no ${key} named ${name} in ${listKey}: add it or fix the name`);
  const body = found[key];
  return isObject(body) ? body : {};
}
