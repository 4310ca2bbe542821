// Types for rk.lock(name, options) (node/lib/lock.js).
import { EventEmitter } from 'events';
import type { Client, RedkeeperError } from '../index';

/** A duration: milliseconds, or a string like '500ms', '30s', '15m'. */
export type LockDuration = number | string;

export interface LockOptions {
  /** Lease length. Default 30 s. Renewed every ttl/3 while held when autoRenew is on. */
  ttlMs?: LockDuration;
  /** How long acquire() waits for the holder (woken by its release, no polling). Default 10 s; 0: try once; Infinity: no limit. */
  waitMs?: LockDuration;
  /** Keep extending the lease while held. Default true. */
  autoRenew?: boolean;
  /** Renewal period. Default ttlMs / 3; must be less than ttlMs. */
  renewIntervalMs?: LockDuration;
  /** Called when the lock is lost while held (after `signal` aborts and 'lost' is emitted). */
  onLost?: (lock: Lock, error: RedkeeperError) => void;
}

export interface LockAcquireOptions {
  waitMs?: LockDuration;
  ttlMs?: LockDuration;
}

export interface LockState {
  state: 'idle' | 'acquiring' | 'held' | 'releasing' | 'lost';
  held: boolean;
  lost: boolean;
  fencingToken?: number;
  owner?: string;
  /** How long this holder may still trust the lock without renewal. */
  validForMs?: number;
}

/**
 * One would-be holder of a named lock. Errors: ERR_RK_LOCK_NOT_ACQUIRED (wait ended, or the store
 * could not be asked), ERR_RK_LOCK_LOST (lost while held), ERR_RK_LOCK_NOT_OWNER (not the holder).
 */
export declare class Lock extends EventEmitter {
  readonly name: string;
  /** The fence of the last acquisition: strictly greater than every earlier fence of this name. */
  readonly fencingToken: number | undefined;
  /** The random owner token of the last acquisition. */
  readonly owner: string | undefined;
  readonly token: string | undefined;
  readonly held: boolean;
  readonly lost: boolean;
  /** Aborts (reason: the ERR_RK_LOCK_LOST error) when the current holding is lost. */
  readonly signal: AbortSignal;
  withOptions(options: LockOptions): Lock;
  /** Takes the lock; resolves to the fencing token. */
  acquire(options?: LockAcquireOptions): Promise<number>;
  /** Releases it; `{ owner }` releases by owner token (handed over from elsewhere). */
  release(options?: { owner?: string }): Promise<void>;
  /** Resets the lease to ttlMs from now (default: the current lease length). */
  extend(ttlMs?: LockDuration): Promise<void>;
  /** Whether anyone holds the lock now. */
  locked(): Promise<boolean>;
  state(): Promise<LockState>;
  /**
   * Acquire, run fn, release (also when fn throws). Rejects with ERR_RK_LOCK_LOST when the lock
   * was lost while fn ran (fn's error, if any, as `cause`).
   */
  using<T>(fn: (lock: Lock) => Promise<T> | T): Promise<T>;
  on(event: 'lost', listener: (error: RedkeeperError) => void): this;
  once(event: 'lost', listener: (error: RedkeeperError) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

export declare function createLock(client: Client, name: string, options?: LockOptions): Lock;
