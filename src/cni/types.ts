// Plain data shapes of the CNI 1.1.0 spec that weft produces and consumes.
// Results are built in the newest shape and converted down in version.ts.

export type Interface = {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
};

export type IpConfig = {
  address: string; // CIDR notation: the pod address with its subnet's prefix
  gateway?: string;
  interface?: number;
};

export type Route = {
  dst: string;
  gw?: string;
};

export type Dns = {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
};

export type Result = {
  cniVersion: string;
  interfaces: Interface[];
  ips: IpConfig[];
  routes: Route[];
  dns: Dns;
};

export type Attachment = {
  containerID: string;
  ifname: string;
};
