// Types for rk.cache(namespace, options) (node/lib/cache.js).

/** What a cache stores: JSON values (null only inside objects/arrays) or a Buffer. */
export type CacheValue =
  | boolean | number | string | Buffer | Array<CacheJson> | { [key: string]: CacheJson };
export type CacheJson = null | boolean | number | string | Array<CacheJson> | { [key: string]: CacheJson };

/** A duration: milliseconds, or a string like '90s', '15m', '1h'. */
export type CacheDuration = number | string;

export interface CacheOptions {
  /** TTL of values and counters set without one. Default 1 h. Every key has a TTL. */
  ttlMs?: CacheDuration;
  /** How long a getOrSet fill marker lives, and how long other callers wait for it. Default 10 s. */
  lockTimeoutMs?: CacheDuration;
  /** Bound on one stored value (encoded bytes). Default 8 MiB, at most 512 MiB. */
  maxValueBytes?: number;
}

export interface CacheWriteOptions {
  ttlMs?: CacheDuration;
  /** Tags for invalidateTag(). */
  tags?: string[];
}

export interface CacheStats {
  hits: number;
  misses: number;
  /** hits / (hits + misses), 0 before any lookup. */
  hitRatio: number;
  sets: number;
  deletes: number;
}

export declare class Cache {
  readonly namespace: string;
  withOptions(options: CacheOptions): Cache;
  /** The value, or undefined on a miss. */
  get<T extends CacheValue = CacheValue>(key: string): Promise<T | undefined>;
  set(key: string, value: CacheValue, options?: CacheDuration | CacheWriteOptions): Promise<void>;
  /** Resolves true when the key existed. */
  delete(key: string): Promise<boolean>;
  /** Counter: adds `by` (default 1); a new counter expires after ttlMs. */
  incr(key: string, by?: number, options?: CacheDuration | { ttlMs?: CacheDuration }): Promise<number>;
  decr(key: string, by?: number, options?: CacheDuration | { ttlMs?: CacheDuration }): Promise<number>;
  /**
   * The cached value, or the loader's after storing it; the loader runs once per key in the fleet
   * (rejections reach every waiter and are never cached; other processes get ERR_RK_LOADER_FAILED).
   */
  getOrSet<T extends CacheValue>(
    key: string,
    loader: () => T | Promise<T>,
    options?: CacheDuration | CacheWriteOptions,
  ): Promise<T>;
  /** Deletes every key set with the tag; resolves with how many. */
  invalidateTag(tag: string): Promise<number>;
  /** Makes every key of the namespace unreachable at once (no scan). */
  clear(): Promise<void>;
  /** Deletes keys matching a glob via SCAN (never KEYS); resolves with how many. */
  deletePattern(pattern: string): Promise<number>;
  stats(): Promise<CacheStats>;
}

export declare function createCache(client: unknown, namespace?: string, options?: CacheOptions): Cache;
