// Client IP for rate-limit keys, on the core's helpers (the same ones the Python package uses, so a
// client is keyed alike from both): clientIp believes X-Forwarded-For only from trusted hops, ipKey
// groups IPv6 by /56 as express-rate-limit 8 does. Here: Express-style option checking around them.
'use strict';

const native = require('../native');
const { RedkeeperError, ErrorCodes, invalidArgument } = require('../errors');
const opts = require('../options');

// A mapped address ('::ffff:1.2.3.4', what a dual-stack socket reports) is the IPv4 it carries.
function unmap(ip) {
  if (ip.length > 7 && ip.charCodeAt(0) === 58 && /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip)) return ip.slice(7);
  return ip;
}

function isInvalidArgument(err) {
  return err instanceof RedkeeperError && err.code === ErrorCodes.INVALID_ARGUMENT;
}

// trust: an IP, a CIDR, 'loopback' / 'linklocal' / 'uniquelocal' (Express's 'trust proxy' names;
// the core adds 'private'), or an array of those. Returns the list the core takes, checked now so a
// typo fails at start-up under the option's own name.
function checkTrust(trust, param = 'trust') {
  if (trust === undefined || trust === null || trust === false) return [];
  const list = Array.isArray(trust) ? trust : [trust];
  for (const entry of list) {
    if (typeof entry !== 'string') {
      throw invalidArgument(param, `must be an IP, a CIDR or a list of them, got ${opts.describe(entry)}`);
    }
  }
  try {
    native.clientIp('127.0.0.1', undefined, list);
  } catch (err) {
    if (!isInvalidArgument(err)) throw err;
    throw invalidArgument(param, err.message.replace(/^trusted: /, ''));
  }
  return list;
}

// The client's address: the peer, or the hop X-Forwarded-For names once the peer (and every hop
// after it) is trusted. A peer that is not an IP address is returned as it is.
function clientIp(remoteAddr, xff, trusted) {
  if (!xff || trusted.length === 0) return remoteAddr;
  try {
    return native.clientIp(remoteAddr, xff, trusted);
  } catch (err) {
    if (!isInvalidArgument(err)) throw err;
    return remoteAddr;
  }
}

function checkSubnet(subnet, param = 'ipv6Subnet') {
  if (subnet === false) return false;
  if (!Number.isInteger(subnet) || subnet < 1 || subnet > 128) {
    throw invalidArgument(param, `must be an integer from 1 to 128 or false, got ${opts.describe(subnet)}`);
  }
  return subnet;
}

// express-rate-limit 8's ipKeyGenerator(ip, ipv6Subnet = 56), computed by the core: IPv4 (and
// IPv4-mapped IPv6) as is, IPv6 as its /subnet network, or the whole address for `false`. Like
// ipKeyGenerator, a string that is not an IP comes back unchanged (keyGenerators pass req.ip,
// which may be anything a custom setup puts there).
function ipKey(ip, subnet = 56) {
  checkSubnet(subnet);
  try {
    return native.ipKey(ip, subnet);
  } catch (err) {
    if (!isInvalidArgument(err) || typeof ip !== 'string') throw err;
    return ip;
  }
}

module.exports = { checkTrust, clientIp, ipKey, checkSubnet, unmap };
