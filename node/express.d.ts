// Types for require('redkeeper/express'): rateLimit(), RedkeeperStore, the key helpers, the
// express-session SessionStore, requireValidToken() and the idempotency() middleware.

import type { IncomingMessage, ServerResponse } from 'http';
import type { Algorithm, Client, Duration, Limiter, LimitResult } from './index';

/** Any Express-like request / response (Express' own types are structurally compatible). */
export type Request = IncomingMessage & { [key: string]: any };
export type Response = ServerResponse & { [key: string]: any };
export type NextFunction = (err?: unknown) => void;

export type Awaitable<T> = T | Promise<T>;
export type KeyGenerator = (req: Request, res: Response) => Awaitable<string>;
/**
 * Trusted proxies: IPs, CIDRs ('10.0.0.0/8'), or 'loopback' | 'linklocal' | 'uniquelocal' (Express's
 * names) | 'private' (all three but loopback); the core's clientIp walks X-Forwarded-For with them.
 */
export type Trust = string | string[];

export interface RateLimitInfo {
  limit: number;
  /** Units the window holds, this request included when it was allowed. */
  used: number;
  remaining: number;
  /** When the allowance is whole again. */
  resetTime: Date;
  key: string;
  /** With `limits`: every limit's info (this object is the deciding one). */
  readonly limits?: RateLimitInfo[];
  readonly name: string;
  readonly result: LimitResult;
}

export interface LimitSpec {
  limit?: number;
  /** express-rate-limit's older name for `limit`. */
  max?: number;
  windowMs?: number;
  /** Instead of limit + windowMs: '5/15minutes', '100 per 15 minutes'. */
  rate?: string;
  keyGenerator?: KeyGenerator;
  /** Limiter name (key space and draft-8 policy name); default like express-rate-limit's '5-in-15min'. */
  name?: string;
  /** Default 'fixed_window' (what express-rate-limit counts with). */
  algorithm?: Algorithm;
  /** Units a request takes (default 1). */
  cost?: number | ((req: Request, res: Response) => Awaitable<number>);
  /** After a rejection, reject the key for this long. */
  blockDuration?: Duration;
  /** Answer already-rejected keys in-process until their retry time: true (10000 entries) or a size. */
  localBlockCache?: boolean | number;
}

export type Message = string | object | Buffer | ((req: Request, res: Response) => Awaitable<any>);

export interface RateLimitOptions extends LimitSpec {
  /** Required: the backend (connect('memory://') or connect('redis://…')). */
  client: Client;
  /** Default 429. */
  statusCode?: number;
  /** Default 'Too many requests, please try again later.' */
  message?: Message;
  handler?: (req: Request, res: Response, next: NextFunction, options: Readonly<Record<string, any>>) => unknown;
  skip?: (req: Request, res: Response) => Awaitable<boolean>;
  /** Give back the request's units when the response is an error (>= 400) or the client went away. */
  skipFailedRequests?: boolean;
  /** Give back the request's units when the response succeeded (< 400). */
  skipSuccessfulRequests?: boolean;
  requestWasSuccessful?: (req: Request, res: Response) => Awaitable<boolean>;
  /** Where the info lands on the request (default 'rateLimit'). */
  requestPropertyName?: string;
  /** IETF RateLimit headers: true = 'draft-6'; default false. */
  standardHeaders?: boolean | 'draft-6' | 'draft-7' | 'draft-8';
  /** X-RateLimit-* headers; default true. */
  legacyHeaders?: boolean;
  /** When the store fails: true lets the request through unlimited, false (default) calls next(err). */
  passOnStoreError?: boolean;
  /** Default key generator: trusted proxies whose X-Forwarded-For is believed. */
  trust?: Trust;
  /** IPv6 grouping of the default key generator (default 56), false for none. */
  ipv6Subnet?: number | false;
  /** Accepted for express-rate-limit compatibility; has no effect. */
  validate?: unknown;
  logger?: { error: (...args: any[]) => void };
  /** Several limits checked together in one round trip; a rejected request consumes from none. */
  limits?: LimitSpec[];
}

export interface RateLimitMiddleware {
  (req: Request, res: Response, next: NextFunction): void;
  /** Forgets the key on every limit of this middleware. */
  resetKey(key: string): Promise<void>;
  /** The key's state in the first limit. */
  getKey(key: string): Promise<{ totalHits: number; resetTime: Date }>;
  readonly limiters: Limiter[];
}

/** Throws RedkeeperError (ERR_RK_INVALID_ARGUMENT, naming the option) on bad configuration. */
export declare function rateLimit(options: RateLimitOptions): RateLimitMiddleware;

export interface ClientRateLimitInfo {
  totalHits: number;
  resetTime: Date | undefined;
}

/** express-rate-limit's Store on a redkeeper client: `rateLimit({ store: new RedkeeperStore({ client }) })`. */
export declare class RedkeeperStore {
  constructor(options: { client: Client; prefix?: string; name?: string });
  readonly client: Client;
  readonly prefix: string;
  readonly localKeys: false;
  init(options: { windowMs: number }): void;
  get(key: string): Promise<ClientRateLimitInfo | undefined>;
  increment(key: string): Promise<ClientRateLimitInfo>;
  decrement(key: string): Promise<void>;
  resetKey(key: string): Promise<void>;
  shutdown(): Promise<void>;
}

export declare function byIp(options?: { trust?: Trust; ipv6Subnet?: number | false }): KeyGenerator;
/** 'user:<id>', or the fallback ('ip:<ip>' by default; null = error) for anonymous requests. */
export declare function byUser(
  getUser: (req: Request, res: Response) => Awaitable<string | number | null | undefined>,
  options?: { fallback?: KeyGenerator | null },
): KeyGenerator;
/** 'METHOD /path' (the route pattern when routed). Usable as byRoute or byRoute(). */
export declare function byRoute(): KeyGenerator;
export declare function byRoute(req: Request): string;
/** Joins the parts with '|'. */
export declare function combine(...generators: KeyGenerator[]): KeyGenerator;
/**
 * express-rate-limit 8's ipKeyGenerator, by the core's ipKey: IPv4 (and IPv4-mapped IPv6) as is, IPv6 as
 * its /subnet network (false: the whole address, canonical); a string that is not an IP is returned as is.
 */
export declare function ipKey(ip: string, subnet?: number | false): string;

export { requireValidToken } from './lib/tokens';
export type { RequireValidTokenOptions } from './lib/tokens';
export type { IdempotencyMiddlewareOptions, IdempotencyMiddleware } from './lib/idempotency';
/** Express middleware honouring the `Idempotency-Key` header: replay on retry, 409 while in flight, 422 on a different payload. */
export declare function idempotency(
  options: import('./lib/idempotency').IdempotencyMiddlewareOptions,
): import('./lib/idempotency').IdempotencyMiddleware;

export interface SessionStoreOptions {
  /** A redkeeper client (memory:// or Redis). */
  client: Client;
  /** Seconds, or a function of the session; used when the cookie has no expiry. Default 86400. */
  ttl?: number | ((sess: any) => number);
  /** Do not extend the TTL when express-session calls touch() (connect-redis' option). */
  disableTouch?: boolean;
  /** Sessions namespace. Default 'express'. */
  name?: string;
  /** Sessions never outlive created + this, however often touched. */
  absoluteTimeoutMs?: number;
  /** The user a session belongs to, for rk.sessions.destroyUser/listUser; default passport.user or userId; false disables. */
  userId?: false | ((sess: any) => string | number | undefined);
}

/**
 * express-session's Store on a redkeeper client: `session({ store: new SessionStore({ client }), ... })`.
 * Methods take express-session's callbacks; `ids()`/`all()` report id handles (SHA-256), never raw ids.
 */
export declare class SessionStore {
  constructor(options: SessionStoreOptions);
  get(sid: string, callback: (err: unknown, session?: any | null) => void): void;
  set(sid: string, session: any, callback?: (err?: unknown) => void): void;
  destroy(sid: string, callback?: (err?: unknown) => void): void;
  touch(sid: string, session: any, callback?: (err?: unknown) => void): void;
  all(callback: (err: unknown, sessions?: any[] | { [handle: string]: any } | null) => void): void;
  length(callback: (err: unknown, length?: number) => void): void;
  clear(callback?: (err?: unknown) => void): void;
  ids(callback: (err: unknown, ids?: string[]) => void): void;
  [key: string]: any;
}
