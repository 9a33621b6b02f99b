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
  ['private', 'fec0::', 10], // site-local: deprecated (RFC 3879) but still routed inside some networks
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

/** The eight 16-bit groups of a valid IPv6 address (zone id dropped, a dotted-quad tail folded in). */
function ipv6Groups(ip: string): number[] {
  let text = ip.replace(/%.*$/, '');
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const parse = (part: string | undefined) => (part ? part.split(':').map((group) => parseInt(group, 16)) : []);
  const [head, tail] = text.split('::');
  if (tail === undefined) return parse(head);
  const left = parse(head);
  const right = parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/**
 * The IPv4 address an IPv6 form carries, for the forms a network may turn into IPv4 traffic: a NAT64 gateway
 * would forward 64:ff9b::7f00:1 to 127.0.0.1, a 6to4 relay 2002:7f00:1:: likewise.
 */
function embeddedIPv4(ip: string): string | undefined {
  const g = ipv6Groups(ip);
  const zeros = (from: number, to: number) => g.slice(from, to).every((group) => group === 0);
  const quad = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  if (g[0] === 0x64 && g[1] === 0xff9b && (zeros(2, 6) || g[2] === 1)) return quad(g[6], g[7]); // NAT64 /96, local-use /48
  if (zeros(0, 6)) return quad(g[6], g[7]); // IPv4-compatible ::a.b.c.d
  if (zeros(0, 5) && g[5] === 0xffff) return quad(g[6], g[7]); // IPv4-mapped ::ffff:a.b.c.d
  if (zeros(0, 4) && g[4] === 0xffff && g[5] === 0) return quad(g[6], g[7]); // IPv4-translated ::ffff:0:a.b.c.d
  if (g[0] === 0x2002) return quad(g[1], g[2]); // 6to4 2002:AABB:CCDD::/48
  return undefined;
}

function rangeClass(address: string, family: 'ipv4' | 'ipv6'): AddressClass | undefined {
  for (const [cls, list] of CLASSES) if (list.check(address, family)) return cls;
  return undefined;
}

/** The address whose class decides: an IPv6 form outside every range that embeds an IPv4 is judged by that IPv4. */
function decidingAddress(address: string): string {
  const family = familyOf(address);
  if (family === 'ipv4' || rangeClass(address, family)) return address;
  return embeddedIPv4(address) ?? address;
}

/** What kind of address an IP is; throws a TypeError for something that is not an IP. */
export function classifyAddress(ip: string): AddressClass {
  const address = decidingAddress(unbracket(ip));
  return rangeClass(address, familyOf(address)) ?? 'public';
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
    if (cls === 'public' || this.onAllowList(address) || this.onAllowList(decidingAddress(address))) return undefined;
    const target = name === address.toLowerCase() ? address : `${name} (${address})`;
    return `refused to call ${target}: ${LABELS[cls]} (set http.allowPrivateNetworks or add it to http.allowList)`;
  }

  private onAllowList(address: string): boolean {
    return this.ips.check(address, familyOf(address));
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
