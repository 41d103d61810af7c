// A throwaway PKI for the control planes this repository starts (the test
// API server in testbed/, the cluster of tools/cluster): a CA, one server
// certificate and any number of client certificates, all P-256 (generated
// in milliseconds, unlike RSA), and a service-account key pair. Our own
// openssl config keeps the system's default extensions, which would mark
// every certificate a CA, out of it; Go's x509 checks these usages.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type PkiRequest = {
  caSubject: string;
  days: number;
  /** The server certificate's file name (without .crt/.key), subject and subjectAltName entries (IP:…, DNS:…). */
  server: { name: string; subject: string; altNames: string[] };
  /** Client certificates: file name → subject (O= groups, CN= user). */
  clients: Record<string, string>;
};

function opensslConfig(altNames: string[]): string {
  return `
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = ${altNames.join(',')}
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
`;
}

async function openssl(...args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('openssl is not installed: apt-get install openssl', { cause: err });
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
}

/** Writes ca.{crt,key}, <server>.{crt,key}, <client>.{crt,key} and sa.{key,pub} into `dir`. */
export async function makePki(dir: string, req: PkiRequest): Promise<void> {
  await mkdir(dir, { recursive: true });
  const config = join(dir, 'openssl.cnf');
  await writeFile(config, opensslConfig(req.server.altNames));
  const file = (name: string): string => join(dir, name);
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const cert = (name: string, subject: string, extensions: string, signer: string[]): Promise<void> =>
    openssl(
      'req',
      '-x509',
      '-config',
      config,
      '-extensions',
      extensions,
      ...newKey,
      '-days',
      String(req.days),
      '-subj',
      subject,
      ...signer,
      '-keyout',
      file(`${name}.key`),
      '-out',
      file(`${name}.crt`),
    );
  await cert('ca', req.caSubject, 'ca', []);
  const byCa = ['-CA', file('ca.crt'), '-CAkey', file('ca.key')];
  await Promise.all([
    cert(req.server.name, req.server.subject, 'server', byCa),
    ...Object.entries(req.clients).map(([name, subject]) => cert(name, subject, 'client', byCa)),
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file('sa.key')).then(() =>
      openssl('pkey', '-in', file('sa.key'), '-pubout', '-out', file('sa.pub')),
    ),
  ]);
}
