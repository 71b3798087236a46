import { BlockList, isIP } from 'node:net';

/** A parsed set of CIDR blocks; `contains` answers for an address as Node reports it (IPv4-mapped IPv6 included). */
export interface CidrSet {
  readonly cidrs: readonly string[];
  contains(address: string | undefined): boolean;
}

/** Throws a plain Error naming the first entry that is not `address/prefix` or a bare address. */
export function parseCidrs(cidrs: readonly string[]): CidrSet {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, prefixText, extra] = cidr.split('/');
    const family = isIP(address ?? '');
    if (extra !== undefined || family === 0) throw new Error(`"${cidr}" is not a CIDR block (e.g. 10.0.0.0/8)`);
    const max = family === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText ?? String(max)) || prefix > max) throw new Error(`"${cidr}" has an invalid prefix length`);
    list.addSubnet(address!, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  return {
    cidrs: [...cidrs],
    contains(source) {
      if (!source) return false;
      const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(source);
      const address = mapped ? mapped[1]! : source;
      const family = isIP(address);
      if (family === 0) return false;
      return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}
