// Types for the redkeeper Node package (CommonJS entry node/index.js, ESM entry node/index.mjs).

import type { Tokens, TokenVersions } from './lib/tokens';
import type { Sessions } from './lib/sessions';
import type { Cache, CacheOptions } from './lib/cache';
import type { Lock, LockOptions } from './lib/lock';
import type { Idempotency } from './lib/idempotency';
import type { Otp } from './lib/otp';
export type * from './lib/tokens';
export type * from './lib/sessions';
export type * from './lib/cache';
export type * from './lib/lock';
export type * from './lib/idempotency';
export type * from './lib/otp';

export type ErrorCode =
  | 'ERR_RK_INVALID_ARGUMENT'
  | 'ERR_RK_CONNECTION'
  | 'ERR_RK_TIMEOUT'
  | 'ERR_RK_QUEUE_FULL'
  | 'ERR_RK_PROTOCOL'
  | 'ERR_RK_SCRIPT'
  | 'ERR_RK_CLOSED'
  | 'ERR_RK_INTERNAL'
  | 'ERR_RK_TOKEN_MALFORMED'
  | 'ERR_RK_TOKEN_INVALID'
  | 'ERR_RK_TOKEN_REVOKED'
  | 'ERR_RK_LOCK_NOT_ACQUIRED'
  | 'ERR_RK_LOCK_LOST'
  | 'ERR_RK_LOCK_NOT_OWNER'
  | 'ERR_RK_LOADER_FAILED';

export declare const ErrorCodes: Readonly<{
  INVALID_ARGUMENT: 'ERR_RK_INVALID_ARGUMENT';
  CONNECTION: 'ERR_RK_CONNECTION';
  TIMEOUT: 'ERR_RK_TIMEOUT';
  QUEUE_FULL: 'ERR_RK_QUEUE_FULL';
  PROTOCOL: 'ERR_RK_PROTOCOL';
  SCRIPT: 'ERR_RK_SCRIPT';
  CLOSED: 'ERR_RK_CLOSED';
  INTERNAL: 'ERR_RK_INTERNAL';
  TOKEN_MALFORMED: 'ERR_RK_TOKEN_MALFORMED';
  TOKEN_INVALID: 'ERR_RK_TOKEN_INVALID';
  TOKEN_REVOKED: 'ERR_RK_TOKEN_REVOKED';
  LOCK_NOT_ACQUIRED: 'ERR_RK_LOCK_NOT_ACQUIRED';
  LOCK_LOST: 'ERR_RK_LOCK_LOST';
  LOCK_NOT_OWNER: 'ERR_RK_LOCK_NOT_OWNER';
  LOADER_FAILED: 'ERR_RK_LOADER_FAILED';
}>;

/** Every error redkeeper raises or rejects with. `code` is stable; messages name the parameter. */
export declare class RedkeeperError extends Error {
  constructor(code: ErrorCode, message: string);
  readonly code: ErrorCode;
}

/** A clock tests move by hand; pass it as `connect('memory://', { clock })`. */
export declare class ManualClock {
  constructor(startMs?: number);
  advance(ms: number): this;
  set(ms: number): this;
  readonly nowMs: number;
}

export interface TlsOptions {
  /** CA bundle: a file path, PEM text or a Buffer. */
  ca?: string | Uint8Array;
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  servername?: string;
  /** Certificate verification; on unless set to false. */
  rejectUnauthorized?: boolean;
}

export interface ConnectOptions {
  /** Key prefix shared with the Python package (default 'rk'). */
  prefix?: string;
  clock?: ManualClock;
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  tls?: TlsOptions;
  /** Ops queued while disconnected before they fail with ERR_RK_QUEUE_FULL. */
  maxPending?: number;
  /**
   * Redis Cluster: the redis:// or rediss:// URL is a seed node of a cluster (the
   * redis+cluster:// and rediss+cluster:// schemes imply it).
   */
  cluster?: boolean;
  /** Milliseconds between cluster topology refreshes (default 10000); 0 = only on MOVED or errors. */
  clusterRefreshMs?: number;
}

export type Algorithm = 'fixed_window' | 'sliding_window' | 'sliding_log' | 'token_bucket' | 'gcra';

/** Seconds as a number (900, 1.5) or a duration string ('900', '15m', '1h', '500ms'). */
export type Duration = number | string;

export interface LimiterOptions {
  limit?: number;
  window?: Duration;
  /** The window in milliseconds, as express-rate-limit spells it. */
  windowMs?: number;
  /** Instead of limit + window: '10/minute', '5/15minutes', '100 per 15 minutes'. */
  rate?: string;
  algorithm?: Algorithm;
  /** After a rejected hit, reject the key for this long. */
  blockDuration?: Duration;
  blockDurationMs?: number;
  /** When the store cannot answer: 'open' allows (degraded: true, the default), 'raise' rejects. */
  onError?: 'open' | 'raise';
  /**
   * Answer hits on a key the store rejected in-process until its retry time has passed (no round
   * trip per attacking request): true (10000 keys) or the number of keys to remember.
   */
  localBlockCache?: boolean | number;
}

export type HeaderStandard = 'draft-6' | 'draft-7' | 'draft-8' | 'none';

export interface HeaderOptions {
  /** IETF RateLimit headers draft (default 'draft-7'); 'none' or false for none. */
  standard?: HeaderStandard | false;
  /** Also X-RateLimit-Limit / -Remaining / -Reset. */
  legacy?: boolean;
  /** The instant for X-RateLimit-Reset (epoch ms); defaults to the client's clock. */
  nowMs?: number;
}

export interface LimitResultFields {
  allowed: boolean;
  limit: number;
  /** Units left after this hit (unchanged when rejected). */
  remaining: number;
  /** Until the limiter is back to its full allowance. */
  resetAfterMs: number;
  /** 0 when allowed; else until a hit of the same cost can succeed. */
  retryAfterMs: number;
  /** True when the fail-open policy answered instead of the store. */
  degraded: boolean;
}

export declare class LimitResult implements LimitResultFields {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  readonly resetAfterMs: number;
  readonly retryAfterMs: number;
  readonly degraded: boolean;
  /** Header name -> value (Retry-After included when rejected). */
  headers(options?: HeaderOptions): Record<string, string>;
}

export declare class Limiter {
  readonly client: Client;
  readonly name: string;
  readonly algorithm: Algorithm;
  readonly limit: number;
  readonly windowMs: number;
  readonly blockDurationMs: number;
  readonly onError: 'open' | 'raise';
  /** Consumes `cost` units (default 1) when available; a rejected hit consumes nothing. */
  hit(key: string | Uint8Array, options?: { cost?: number } | number): Promise<LimitResult>;
  /** The state a hit of cost 1 would see, consuming nothing. */
  peek(key: string | Uint8Array): Promise<LimitResult>;
  /** Forgets the key's state and any block on it. */
  reset(key: string | Uint8Array): Promise<void>;
  /** Gives back up to `amount` (default 1) units consumed earlier. */
  refund(key: string | Uint8Array, amount?: number): Promise<LimitResult>;
  /** Rejects every hit on the key for `duration`. */
  block(key: string | Uint8Array, duration: Duration): Promise<LimitResult>;
}

export interface Health {
  backend: 'memory' | 'redis';
  connected: boolean;
  latencyMs: number;
}

export interface Stats {
  ops: number;
  errors: number;
  timeouts: number;
  reconnects: number;
  inFlight: number;
  keys: number;
  /** Redis Cluster: MOVED and ASK redirections followed. */
  redirects: number;
  /** Redis Cluster: topology (slot map) fetches that succeeded. */
  topologyRefreshes: number;
  /** Primaries known: the cluster's, 1 for a single server, 0 for memory. */
  nodes: number;
}

export interface LimitCheck {
  limiter: Limiter;
  key: string | Uint8Array;
  /** Default 1. */
  cost?: number;
}

export declare class MultiLimitResult {
  /** Every limit allowed, and each consumed; when false, none consumed. */
  readonly allowed: boolean;
  /** One per check, in order; `allowed` there says whether that limit alone would admit it. */
  readonly results: LimitResult[];
  /** The first rejecting result, else the one with the least remaining. */
  readonly deciding: LimitResult;
  readonly decidingIndex: number;
  /** True when any result was not answered by the store. */
  readonly degraded: boolean;
  /** The deciding result's headers. */
  headers(options?: HeaderOptions): Record<string, string>;
}

export declare class Client {
  /** The URL with any password masked. */
  readonly url: string;
  readonly closed: boolean;
  /** Throws RedkeeperError (ERR_RK_INVALID_ARGUMENT) on bad options. */
  limiter(name: string, options: LimiterOptions): Limiter;
  /** Several limits at one instant, all or nothing; one round trip on Redis. */
  hitMany(checks: LimitCheck[]): Promise<MultiLimitResult>;
  /** The JWT denylist. */
  readonly tokens: Tokens;
  /** Per-user token versions plus a global epoch. */
  readonly tokenVersions: TokenVersions;
  /** Server-side sessions with a per-user index. */
  readonly sessions: Sessions;
  /** A cache namespace (tenant). */
  cache(namespace?: string, options?: CacheOptions): Cache;
  /** A distributed lock with fencing tokens. */
  lock(name: string, options?: LockOptions): Lock;
  /** Idempotency keys and once() for webhooks. */
  readonly idempotency: Idempotency;
  /** One-time codes. */
  readonly otp: Otp;
  /** Round-trip latency in milliseconds. */
  ping(): Promise<number>;
  health(): Promise<Health>;
  stats(): Promise<Stats>;
  /** Settles every op in flight (ERR_RK_CLOSED) and stops background work. Idempotent. */
  close(): Promise<void>;
}

/** 'memory://', 'redis://[user:pass@]host:port/db', 'rediss://…', 'unix:///path.sock?db=N'. */
export declare function connect(url?: string, options?: ConnectOptions): Client;

/** Milliseconds in a duration string ('15m' -> 900000). */
export declare function parseDuration(text: string): number;
/** '100 per 15 minutes' -> { limit: 100, windowMs: 900000 }. */
export declare function parseRate(text: string): { limit: number; windowMs: number };
/** Headers for a result that no limiter object is at hand for (e.g. a stored one). */
export declare function renderHeaders(
  result: LimitResultFields,
  policy: { name: string; limit: number; windowMs: number },
  options?: HeaderOptions,
): Record<string, string>;

/**
 * The client's IP from the direct peer and X-Forwarded-For (a header value or several), walked
 * from the right through trusted hops only: CIDRs / IPs / 'loopback' / 'private' /
 * 'linklocal' / 'uniquelocal', or a hop count like Express's numeric 'trust proxy'.
 */
export declare function clientIp(
  remoteAddr: string,
  xForwardedFor?: string | string[] | null,
  trusted?: number | string | string[] | null,
): string;
/** IPv4 as is; IPv6 as its network ('2001:db8:1:200::/56' for the default 56); false = whole address. */
export declare function ipKey(ip: string, ipv6Subnet?: number | false): string;
