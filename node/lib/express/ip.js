// Client IP for rate-limit keys: the proxy-aware peer address (X-Forwarded-For is only believed when
// the hop that sent it is a trusted proxy) and the /56 grouping of IPv6 that express-rate-limit 8 uses.
'use strict';

const net = require('net');
const redkeeper = require('../..');
const { invalidArgument } = require('../errors');
const opts = require('../options');

// Express' names for the private ranges, so `trust: ['loopback', '10.0.0.0/8']` reads like its
// 'trust proxy' setting.
const PRESETS = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

// A mapped address ('::ffff:1.2.3.4', what a dual-stack socket reports) is the IPv4 it carries.
function unmap(ip) {
  if (ip.length > 7 && ip.charCodeAt(0) === 58 && /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip)) return ip.slice(7);
  return ip;
}

// trust: an IP, a CIDR, a preset name, or an array of those. Returns a matcher (ip) => boolean.
function trustMatcher(trust, param = 'trust') {
  if (trust === undefined || trust === null || trust === false) return () => false;
  const list = Array.isArray(trust) ? trust : [trust];
  const block = new net.BlockList();
  for (const entry of list) {
    if (typeof entry !== 'string') {
      throw invalidArgument(param, `must be an IP, a CIDR or a list of them, got ${opts.describe(entry)}`);
    }
    for (const item of PRESETS[entry] || [entry]) {
      const slash = item.indexOf('/');
      const addr = unmap(slash === -1 ? item : item.slice(0, slash));
      const family = net.isIP(addr);
      if (family === 0) throw invalidArgument(param, `'${entry}' is not an IP address or CIDR`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (slash === -1) {
        block.addAddress(addr, type);
        continue;
      }
      const bits = Number(item.slice(slash + 1));
      if (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128) || item.slice(slash + 1) === '') {
        throw invalidArgument(param, `'${entry}' has a bad prefix length`);
      }
      block.addSubnet(addr, bits, type);
    }
  }
  return (ip) => {
    const family = net.isIP(ip);
    return family !== 0 && block.check(ip, family === 4 ? 'ipv4' : 'ipv6');
  };
}

// Walks from the peer towards the client: every hop a trusted proxy vouches for is believed, the
// first untrusted one is the client. A spoofed X-Forwarded-For from an untrusted peer is ignored.
function clientIpJs(remoteAddr, xff, isTrusted) {
  let ip = unmap(remoteAddr || '');
  if (!xff || !isTrusted(ip)) return ip;
  const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = unmap(hops[i].trim());
    if (net.isIP(hop) === 0) return ip; // garbage from an untrusted writer: stop at the last trusted hop
    ip = hop;
    if (!isTrusted(ip)) return ip;
  }
  return ip;
}

function expandIpv6(ip) {
  // 8 groups of 16 bits; an embedded IPv4 tail counts as two groups.
  let text = ip;
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const hi = ((Number(v4[1]) << 8) | Number(v4[2])).toString(16);
    const lo = ((Number(v4[3]) << 8) | Number(v4[4])).toString(16);
    text = text.slice(0, v4.index) + hi + ':' + lo;
  }
  const halves = text.split('::');
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const fill = new Array(8 - head.length - tail.length).fill('0');
  return [...head, ...fill, ...tail].map((g) => parseInt(g, 16));
}

// RFC 5952 text (lowercase, longest run of two or more zero groups as '::'), as ip-address prints it.
function formatIpv6(groups) {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

// express-rate-limit 8's ipKeyGenerator: IPv4 (and IPv4-mapped IPv6) as is, IPv6 as its /subnet.
function ipKeyJs(ip, subnet) {
  if (net.isIPv6(ip) !== true) return ip;
  const groups = expandIpv6(ip);
  const mappedOrCompat = groups.slice(0, 5).every((g) => g === 0) && (groups[5] === 0xffff || (groups[5] === 0 && ip.includes('.')));
  if (mappedOrCompat) return `${groups[6] >> 8}.${groups[6] & 255}.${groups[7] >> 8}.${groups[7] & 255}`;
  if (!subnet) return ip;
  for (let g = 0; g < 8; g++) {
    const keep = Math.max(0, Math.min(16, subnet - g * 16));
    groups[g] &= keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff;
  }
  return `${formatIpv6(groups)}/${subnet}`;
}

function checkSubnet(subnet, param = 'ipv6Subnet') {
  if (subnet === false) return false;
  if (!Number.isInteger(subnet) || subnet < 1 || subnet > 128) {
    throw invalidArgument(param, `must be an integer from 1 to 128 or false, got ${opts.describe(subnet)}`);
  }
  return subnet;
}

// The core's versions (shared with the Python package, so both group addresses alike) when this
// build has them; the JS ones above otherwise.

const nativeIpKey = typeof redkeeper.ipKey === 'function' ? redkeeper.ipKey : undefined;

function ipKey(ip, subnet = 56) {
  if (nativeIpKey !== undefined && subnet !== false) return nativeIpKey(ip, subnet);
  return ipKeyJs(ip, subnet);
}

module.exports = { trustMatcher, clientIpJs, ipKey, ipKeyJs, checkSubnet, unmap };
