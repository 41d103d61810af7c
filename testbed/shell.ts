// Commands as root runs them on a node: the system's PATH only, so
// node_modules/.bin (which holds an unrelated `nft`) never shadows a tool.
import { execa } from 'execa';

export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function sh(cmd: string, args: string[], input?: string) {
  return execa(cmd, args, { input, reject: false, env: { PATH: SYSTEM_PATH } });
}

/** Like sh, for set-up steps: a failure stops the test instead of hiding. */
export async function must(cmd: string, args: string[]): Promise<string> {
  const r = await sh(cmd, args);
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
