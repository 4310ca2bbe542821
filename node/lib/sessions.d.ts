// Types for rk.sessions (lib/sessions.js).
import type { Client } from '../index';

export type UserId = string | number;
/** Milliseconds, or a duration string like '15m'. */
export type DurationMs = number | string;

export interface SessionsOptions {
  /** Namespace (part of the Redis hash tag). Default 'default'. */
  name?: string;
  /** Idle (sliding) timeout. Default one day. */
  idleTimeoutMs?: DurationMs;
  /** Absolute timeout from creation; 0 = none (default). */
  absoluteTimeoutMs?: DurationMs;
  /** get() refreshes the idle expiry. Default true. */
  touchOnGet?: boolean;
  /** Largest encoded session data. Default 1 MiB. */
  maxBytes?: number;
}

export interface SessionMeta {
  /** base64url(SHA-256(id)): the session's name in Redis and in listings. */
  handle: string;
  userId: string | null;
  device: unknown;
  /** Epoch ms. */
  created: number;
  lastSeen: number;
  expires: number;
  idleTimeoutMs: number;
  absoluteDeadline: number | null;
}

export interface SessionListing {
  handle: string;
  device: unknown;
  created: number;
  lastSeen: number;
  expires: number;
  /** True for the session passed as currentId. */
  current: boolean;
}

export type SessionData = Record<string, unknown>;

export interface SaveOptions {
  userId?: UserId;
  ttlMs?: DurationMs;
  device?: unknown;
}

export declare class Sessions {
  readonly name: string;
  withOptions(options: SessionsOptions): Sessions;
  create(data?: SessionData, options?: SaveOptions): Promise<string>;
  set(id: string, data: SessionData, options?: SaveOptions): Promise<boolean>;
  get(id: string, options?: { touch?: boolean; withMeta?: false }): Promise<SessionData | null>;
  get(id: string, options: { touch?: boolean; withMeta: true }): Promise<{ data: SessionData; meta: SessionMeta } | null>;
  info(id: string): Promise<SessionMeta | null>;
  update(id: string, patch: SessionData, options?: { touch?: boolean }): Promise<boolean>;
  touch(id: string, options?: { ttlMs?: DurationMs }): Promise<boolean>;
  destroy(id: string): Promise<boolean>;
  destroyHandle(userId: UserId, handle: string): Promise<boolean>;
  destroyUser(userId: UserId, options?: { exceptId?: string }): Promise<number>;
  listUser(userId: UserId, options?: { currentId?: string }): Promise<SessionListing[]>;
  rotate(id: string): Promise<string | null>;
  count(): Promise<number>;
  ids(): Promise<string[]>;
  all(): Promise<Array<{ handle: string; data: SessionData; meta: SessionMeta }>>;
  clear(): Promise<number>;
}

export declare function createSessions(client: Client, options?: SessionsOptions): Sessions;
