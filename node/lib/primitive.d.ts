// Types of lib/primitive.js: the generic handle every script-based primitive wraps.
import type { Client } from '../index';

/** JSON values a primitive op takes (Buffer/Uint8Array for bytes) and returns (Buffer for bytes). */
export type PrimitiveValue =
  | null
  | boolean
  | number
  | string
  | Buffer
  | Uint8Array
  | PrimitiveValue[]
  | { [key: string]: PrimitiveValue | undefined };

export declare class PrimitiveHandle {
  constructor(client: Client, kind: string, config?: Record<string, PrimitiveValue | undefined>);
  readonly client: Client;
  readonly kind: string;
  readonly config: Record<string, PrimitiveValue | undefined>;
  /** Rejects with RedkeeperError (never throws synchronously). */
  call<T = any>(op: string, args?: Record<string, PrimitiveValue | undefined>): Promise<T>;
  /**
   * call(op, { [field]: value }) (plus { [flag]: true } when `flag` is given); a string value
   * crosses without a JSON round. Rejects like call().
   */
  callString<T = any>(op: string, field: string, value: PrimitiveValue, flag?: string): Promise<T>;
}
