// Types for rk.idempotency (node/lib/idempotency.js) and the Express middleware options
// (require('redkeeper/express').idempotency, node/lib/express/idempotency.js).

import type { IncomingMessage, ServerResponse } from 'http';
import type { Client } from '../index';

/** JSON values as stored: Buffers come back as Buffers. */
export type IdempotencyValue =
  | null | boolean | number | string | Buffer | IdempotencyValue[] | { [key: string]: IdempotencyValue };

export interface IdempotencyOptions {
  /** Namespace, 1-64 bytes. Default 'default'. */
  name?: string;
  /** How long a completed response is kept: ms or '24h'. Default 24 h. */
  ttlMs?: number | string;
  /** How long an in-progress marker lives without complete/extend (a crashed request frees its key after it). Default 60 s. */
  lockTtlMs?: number | string;
  /** Bound on a stored response (encoded). Default 1 MiB. */
  maxResponseBytes?: number;
}

export type IdempotencyBegin =
  | { status: 'new'; token: string }
  | { status: 'inProgress'; retryAfterMs: number }
  | { status: 'completed'; response: IdempotencyValue }
  | { status: 'mismatch' };

export type OnceResult<T> =
  | { status: 'ran'; result: T }
  | { status: 'duplicate'; result: IdempotencyValue }
  | { status: 'inProgress'; retryAfterMs: number }
  | { status: 'mismatch' };

export declare class Idempotency {
  readonly name: string;
  withOptions(options: IdempotencyOptions): Idempotency;
  /** Claims `key` or reports its state; `fingerprint` (e.g. a hash of the request) detects reuse with another payload. */
  begin(key: string, fingerprint?: string | Buffer, options?: { lockTtlMs?: number | string }): Promise<IdempotencyBegin>;
  /** Stores `response` for retries. Rejects ERR_RK_LOCK_NOT_OWNER (another request owns the key) or ERR_RK_LOCK_LOST (the marker expired). */
  complete(key: string, token: string, response: IdempotencyValue, options?: { ttlMs?: number | string }): Promise<void>;
  /** Frees the key so a retry runs again; false when it had already expired or was completed. */
  abandon(key: string, token: string): Promise<boolean>;
  /** Pushes the in-progress marker's expiry out. */
  extend(key: string, token: string, options?: { lockTtlMs?: number | string }): Promise<boolean>;
  /** Runs `handler` at most once per event id; a handler that throws frees the event for a redelivery. */
  once<T>(eventId: string, handler: () => T | Promise<T>, options?: { fingerprint?: string | Buffer }): Promise<OnceResult<T>>;
}

export interface IdempotencyMiddlewareOptions extends IdempotencyOptions {
  /** The client (memory:// or Redis). Or pass `idempotency`. */
  client?: Client;
  idempotency?: Idempotency;
  /** Methods honouring the header. Default ['POST', 'PATCH']. */
  methods?: string[];
  /** Default 'Idempotency-Key'. */
  header?: string;
  /** Scopes keys (e.g. per user) so two callers' keys never meet. */
  scope?: (req: IncomingMessage & { [key: string]: any }) => string | undefined | Promise<string | undefined>;
  /** Custom request fingerprint. Default: SHA-256 of method, URL and body (req.body when a parser ran). */
  fingerprint?: (req: IncomingMessage & { [key: string]: any }) => string | Promise<string>;
  /** Default 255. */
  maxKeyLength?: number;
  /** Which statuses are stored for replay. Default: status < 500. */
  storeStatus?: (status: number) => boolean;
}

export type IdempotencyMiddleware = (
  req: IncomingMessage & { [key: string]: any },
  res: ServerResponse & { [key: string]: any },
  next: (err?: unknown) => void,
) => void;
