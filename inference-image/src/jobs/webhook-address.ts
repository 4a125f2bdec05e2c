// Where a webhook may be POSTed: never to link-local (169.254/16, fe80::/10: the cloud metadata endpoints),
// unspecified or multicast addresses; to loopback and private ranges only when T2V_WEBHOOK_ALLOW_PRIVATE=true
// (a receiver inside the cluster). Checked on the URL at admission and on the resolved addresses at delivery.
// node:net's BlockList does the range matching (IPv4-mapped IPv6 included).
import { BlockList, isIP } from 'node:net';

function blockList(ranges: Array<[string, number, 'ipv4' | 'ipv6']>): BlockList {
  const list = new BlockList();
  for (const [net, prefix, type] of ranges) list.addSubnet(net, prefix, type);
  return list;
}

/** Never a webhook's destination. */
const FORBIDDEN = blockList([
  ['0.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
  ['fd00:ec2::254', 128, 'ipv6'],
]);

/** Loopback, private and shared ranges: allowed only with T2V_WEBHOOK_ALLOW_PRIVATE=true. */
const PRIVATE = blockList([
  ['127.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['::1', 128, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
]);

/** Why an address may not receive a webhook, or undefined when it may. */
export function refusedAddress(address: string, allowPrivate: boolean): string | undefined {
  const family = isIP(address);
  if (family === 0) return undefined;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (FORBIDDEN.check(address, type)) return `${address} is a link-local, unspecified or multicast address (cloud metadata lives there)`;
  if (!allowPrivate && PRIVATE.check(address, type)) return `${address} is a loopback or private address (allowed with T2V_WEBHOOK_ALLOW_PRIVATE=true)`;
  return undefined;
}

/** The URL's host as an address when it is an IP literal (`[fe80::1]` → `fe80::1`), else undefined (a name). */
export function literalHost(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) === 0 ? undefined : host;
}

/** A URL as logs may show it: no user, password or query (they may carry tokens). */
export function loggableUrl(raw: string): string {
  try {
    const url = new URL(raw);
    return `${url.origin}${url.pathname}`;
  } catch {
    return '(not a URL)';
  }
}
