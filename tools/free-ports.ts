// Free TCP ports on 127.0.0.1 for the control planes this repository starts
// (the test API server in testbed/, the cluster of tools/cluster).
import { createServer, type Server } from 'node:net';

export async function freePorts(count: number): Promise<number[]> {
  // Held open together so the ports differ; closed before use, so another
  // process could take one in between, as with any free-port picker.
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((s) => {
      const address = s.address();
      if (address === null || typeof address === 'string') throw new Error('freePorts: no TCP address');
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}
