// weftd's connection to the API server: a few JSON requests and one watch
// stream over node:https, with the server, TLS settings and credentials of a
// kubeconfig or of the pod's service account.
//
// Not @kubernetes/client-node, which the tests use: loaded the way weftd
// would use it, it costs every node about 28 MB of RSS (every generated API
// and model class, a second copy of undici, proxy agents) for four kinds of
// request, and its TLS agent does not take a cluster CA on Bun.
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { messageOf } from '../text/error-message.ts';

/** Where the API server is and how to talk to it; files are read when the client is made, except the token file. */
export type ApiTarget = {
  /** https://host:port, perhaps with a path prefix; http:// only for a local proxy in tests. */
  server: string;
  /** The CA that signed the server's certificate (PEM): data, or a file. Neither: the system's CAs. */
  caData?: Buffer;
  caFile?: string;
  /** Accept any server certificate: only for a kubeconfig that asks for it. */
  insecureSkipTlsVerify?: boolean;
  /** The name to check the server's certificate for, when it is not the server's host. */
  tlsServerName?: string;
  /** A client certificate and its key (PEM): data, or files. */
  certData?: Buffer;
  certFile?: string;
  keyData?: Buffer;
  keyFile?: string;
  token?: string;
  /** Read again for every request: the kubelet rotates a projected token in place. */
  tokenFile?: string;
  basicAuth?: { username: string; password: string };
};

/** An answer from the API server other than 2xx; body is its Status (JSON text) or whatever it sent. */
export class ApiError extends Error {
  readonly statusCode: number;
  readonly body: string;
  constructor(statusCode: number, body: string, what: string) {
    super(`${what}: HTTP ${statusCode}`);
    this.name = 'ApiError';
    this.statusCode = statusCode;
    this.body = body;
  }
}

export type ApiRequest = {
  query?: Record<string, string | number | boolean | undefined>;
  /** Sent as JSON. */
  body?: unknown;
  /** The body's type: application/json unless a patch says which kind it is. */
  contentType?: string;
  signal?: AbortSignal;
};

type Method = 'GET' | 'POST' | 'PATCH';

export class ApiClient {
  readonly server: URL;
  readonly #target: ApiTarget;
  readonly #agent: HttpAgent;

  constructor(target: ApiTarget) {
    let server: URL;
    try {
      server = new URL(target.server);
    } catch (err) {
      throw new Error(`the API server address ${JSON.stringify(target.server)} is not a URL: give it as https://host:port`, { cause: err });
    }
    if (server.protocol !== 'https:' && server.protocol !== 'http:') {
      throw new Error(`the API server address ${target.server} is not http(s): give it as https://host:port`);
    }
    this.server = server;
    this.#target = target;
    // Keep-alive: the list pages, patches and watches reuse connections.
    this.#agent =
      server.protocol === 'https:'
        ? new HttpsAgent({
            keepAlive: true,
            ca: pem(target.caData, target.caFile, 'certificate authority'),
            cert: pem(target.certData, target.certFile, 'client certificate'),
            key: pem(target.keyData, target.keyFile, 'client key'),
            rejectUnauthorized: !target.insecureSkipTlsVerify,
            servername: target.tlsServerName,
          })
        : new HttpAgent({ keepAlive: true });
  }

  /** A request whose 2xx answer is JSON; anything else rejects with ApiError, no answer with an Error whose cause is the socket's. */
  async json<T>(method: Method, path: string, req: ApiRequest = {}): Promise<T> {
    const response = await this.#send(method, path, req);
    const text = await bodyText(response);
    if (response.statusCode! < 200 || response.statusCode! > 299) throw new ApiError(response.statusCode!, text, `${method} ${path}`);
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new Error(`${method} ${path}: the API server answered ${response.statusCode} with a body that is not JSON`, { cause: err });
    }
  }

  /** A GET whose 200 answer is read as it comes (a watch); a non-200 answer rejects with ApiError. */
  async stream(path: string, req: ApiRequest = {}): Promise<IncomingMessage> {
    const response = await this.#send('GET', path, req);
    if (response.statusCode === 200) return response;
    throw new ApiError(response.statusCode!, await bodyText(response), `GET ${path}`);
  }

  /** Closes the idle kept-alive connections. */
  close(): void {
    this.#agent.destroy();
  }

  #send(method: Method, path: string, req: ApiRequest): Promise<IncomingMessage> {
    const url = new URL(this.server.pathname.replace(/\/+$/, '') + path, this.server);
    for (const [name, value] of Object.entries(req.query ?? {})) if (value !== undefined) url.searchParams.set(name, String(value));
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'weftd' };
    const authorization = this.#authorization();
    if (authorization) headers.Authorization = authorization;
    const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
    if (payload !== undefined) headers['Content-Type'] = req.contentType ?? 'application/json';
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const request = send(url, { method, headers, agent: this.#agent, signal: req.signal }, resolve);
      request.on('error', (err) => {
        reject(new Error(`${method} ${path}: no answer from the API server at ${this.server.origin}`, { cause: err }));
      });
      request.end(payload);
    });
  }

  #authorization(): string | undefined {
    const t = this.#target;
    if (t.tokenFile) {
      let token: string;
      try {
        token = readFileSync(t.tokenFile, 'utf8').trim();
      } catch (err) {
        throw new Error(`cannot read the API token file ${t.tokenFile}: ${messageOf(err)}; is the service-account token mounted?`, { cause: err });
      }
      return `Bearer ${token}`;
    }
    if (t.token) return `Bearer ${t.token}`;
    if (t.basicAuth) return `Basic ${Buffer.from(`${t.basicAuth.username}:${t.basicAuth.password}`).toString('base64')}`;
    return undefined;
  }
}

function pem(data: Buffer | undefined, file: string | undefined, what: string): Buffer | undefined {
  if (data) return data;
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read the ${what} file ${file}: ${messageOf(err)}`, { cause: err });
  }
}

// Decoded as it comes, not kept as Buffers and joined: a list page of
// Nodes joined into one Buffer and copied out lived outside V8's heap, in
// memory weftd kept after freeing it (10 MB of RSS at 1000 Nodes); a string
// lives in the heap, which gives it back.
function bodyText(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => (text += chunk));
    response.on('end', () => resolve(text));
    response.on('error', reject);
    response.on('close', () => {
      if (!response.complete) reject(new Error('the API server closed the connection in the middle of its answer'));
    });
  });
}
