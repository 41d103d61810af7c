// weftd's side of "another CNI config sorts before weft's": install-cni says
// it once in the init container's log, which nobody may read; weftd looks at
// the conf dir on every resync and, when the answer changes, logs it, sets
// weft_cni_config_shadowed and posts a Warning event on its Node, so
// `kubectl describe node` shows why new pods there are not on weft.
import type { NodeEvent } from '../k8s/node-events.ts';
import { messageOf } from '../text/error-message.ts';
import { configsBefore, shadowedMessage } from './cni-conf-order.ts';

export const SHADOWED_REASON = 'CNIConfigShadowed';

export type ConfOrderReportSetup = {
  confDir: string;
  confName: string;
  node: string;
  post: (event: NodeEvent) => Promise<void>;
  setShadowed: (shadowed: boolean) => void;
  log: (msg: string) => void;
};

export function createConfOrderReport({ confDir, confName, node, post, setShadowed, log }: ConfOrderReportSetup): { check(): Promise<void> } {
  // What was last logged and what last reached the API server: the earlier
  // configs' names, or a problem reading the dir; undefined before the first look.
  let logged: string | undefined;
  let posted: string | undefined;
  return {
    async check() {
      let earlier: string[];
      try {
        earlier = configsBefore(confDir, confName);
      } catch (err) {
        const problem = `cannot read the CNI conf dir ${confDir} (${messageOf(err)}): mount the node's /etc/cni/net.d there, or leave --cni-conf-dir unset`;
        if (logged !== problem) log(`warning: ${problem}`);
        logged = problem;
        return;
      }
      const key = earlier.join('\n');
      const message = shadowedMessage(confDir, confName, earlier);
      setShadowed(message !== undefined);
      if (key !== logged) {
        if (message !== undefined) log(`warning: ${message}`);
        else if (logged !== undefined) log(`CNI config ${confName} is the first in ${confDir} again`);
        logged = key;
      }
      if (message === undefined) {
        // Gone: should it come back, that is news again.
        posted = undefined;
        return;
      }
      if (key === posted) return;
      try {
        await post({ node, type: 'Warning', reason: SHADOWED_REASON, action: 'CheckCNIConfig', note: message });
        posted = key;
      } catch (err) {
        // Posted on the next look, when the API server may take it.
        log(messageOf(err));
      }
    },
  };
}
