import dns from 'node:dns';
import net from 'node:net';

/**
 * Address safety for outgoing requests: a flow must not be able to reach the engine's own machine or its private
 * network (cloud metadata at 169.254.169.254, databases on 10.x, ...) unless the operator allows it.
 */

export type AddressClass = 'loopback' | 'unspecified' | 'link-local' | 'private' | 'cgnat' | 'public';

export interface AddressPolicy {
  allowPrivateNetworks: boolean;
  allowList: string[]; // exact host names, exact IPs, or CIDR ranges
}

const RANGES: [Exclude<AddressClass, 'public'>, string, number][] = [
  ['unspecified', '0.0.0.0', 8],
  ['unspecified', '::', 128],
  ['loopback', '127.0.0.0', 8],
  ['loopback', '::1', 128],
  ['link-local', '169.254.0.0', 16],
  ['link-local', 'fe80::', 10],
  ['private', '10.0.0.0', 8],
  ['private', '172.16.0.0', 12],
  ['private', '192.168.0.0', 16],
  ['private', 'fc00::', 7],
  ['cgnat', '100.64.0.0', 10],
];

// net.BlockList also matches IPv4-mapped IPv6 forms (::ffff:127.0.0.1, ::ffff:7f00:1) against IPv4 ranges.
const CLASSES = new Map<AddressClass, net.BlockList>();
for (const [cls, base, prefix] of RANGES) {
  if (!CLASSES.has(cls)) CLASSES.set(cls, new net.BlockList());
  CLASSES.get(cls)!.addSubnet(base, prefix, net.isIPv4(base) ? 'ipv4' : 'ipv6');
}

const LABELS: Record<AddressClass, string> = {
  loopback: 'loopback address',
  unspecified: 'unspecified address',
  'link-local': 'link-local address',
  private: 'private network address',
  cgnat: 'carrier-grade NAT address',
  public: 'public address',
};

function familyOf(ip: string): 'ipv4' | 'ipv6' {
  const family = net.isIP(ip);
  if (family === 0) throw new TypeError(`not an IP address: ${ip}`);
  return family === 4 ? 'ipv4' : 'ipv6';
}

const unbracket = (host: string) => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);

/** What kind of address an IP is; throws a TypeError for something that is not an IP. */
export function classifyAddress(ip: string): AddressClass {
  const address = unbracket(ip);
  const family = familyOf(address);
  for (const [cls, list] of CLASSES) if (list.check(address, family)) return cls;
  return 'public';
}

/** Thrown through undici's connect path so sendRequest can tell a refusal from a network failure. */
export class AddressRefusedError extends Error {
  readonly code = 'E_ADDRESS_REFUSED';
}

export class AddressGuard {
  private readonly hosts = new Set<string>();
  private readonly ips = new net.BlockList();

  /** Throws an Error naming the bad entry when the allow list holds an invalid CIDR range. */
  constructor(private readonly policy: AddressPolicy) {
    for (const raw of policy.allowList) {
      const entry = unbracket(raw.trim().toLowerCase());
      const slash = entry.indexOf('/');
      if (slash >= 0) {
        const base = entry.slice(0, slash);
        const prefix = Number(entry.slice(slash + 1));
        const family = net.isIP(base);
        if (!family || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) {
          throw new Error(`http.allowList entry "${raw}" is not a valid CIDR range`);
        }
        this.ips.addSubnet(base, prefix, family === 4 ? 'ipv4' : 'ipv6');
      } else if (net.isIP(entry)) {
        this.ips.addAddress(entry, familyOf(entry));
      } else {
        this.hosts.add(entry.replace(/\.$/, ''));
      }
    }
  }

  /**
   * Why a connection to `ip` (reached through the name `host`) is refused, or undefined when it is allowed.
   * With no `ip`, `host` must itself be an IP literal.
   */
  refusal(host: string, ip: string = host): string | undefined {
    if (this.policy.allowPrivateNetworks) return undefined;
    const name = unbracket(host).toLowerCase().replace(/\.$/, '');
    if (this.hosts.has(name)) return undefined;
    const address = unbracket(ip);
    const cls = classifyAddress(address);
    if (cls === 'public' || this.ips.check(address, familyOf(address))) return undefined;
    const target = name === address.toLowerCase() ? address : `${name} (${address})`;
    return `refused to call ${target}: ${LABELS[cls]} (set http.allowPrivateNetworks or add it to http.allowList)`;
  }

  /**
   * A drop-in for dns.lookup, for undici's `connect.lookup`: it checks every address the name resolves to, at the
   * moment of connecting, so a DNS answer that changes between a check and the connection cannot slip through.
   * (net.connect does not call lookup for IP literals; sendRequest checks those itself.)
   */
  readonly lookup: net.LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      for (const { address } of addresses) {
        const why = this.refusal(hostname, address);
        if (why) return callback(new AddressRefusedError(why), '');
      }
      if (options.all) return callback(null, addresses);
      if (addresses.length === 0) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}
