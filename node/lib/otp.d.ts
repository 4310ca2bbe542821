// Types for rk.otp (node/lib/otp.js): one-time codes stored as HMACs.

export interface OtpOptions {
  /** Namespace, 1-64 bytes ('login' and 'reset' codes never verify each other). Default 'default'. */
  name?: string;
  /** HMAC key, 16-1024 bytes. Required on Redis (same in every process); default from REDKEEPER_OTP_SECRET; memory:// defaults to a random per-client secret. */
  secret?: string | Buffer;
  /** Code lifetime: ms or '5m'. Default 5 min. */
  ttlMs?: number | string;
  /** Generated code length, 4-10. Default 6. */
  digits?: number;
  /** Wrong guesses before the subject is locked out until the code expires. Default 5. */
  maxAttempts?: number;
  /** Minimum time between two issues while a code is outstanding; 0 turns it off. Default 30 s. */
  cooldownMs?: number | string;
}

export interface OtpIssueResult {
  issued: boolean;
  reason: 'issued' | 'cooldown' | 'locked';
  /** The code to send (null when not issued). */
  code: string | null;
  ttlMs: number | null;
  retryAfterMs: number;
}

export interface OtpVerifyResult {
  ok: boolean;
  reason: 'ok' | 'invalid' | 'expired_or_missing' | 'locked';
  attemptsLeft: number;
  /** While locked: ms until the lockout ends. */
  retryAfterMs: number;
}

export declare class Otp {
  readonly name: string;
  withOptions(options: OtpOptions): Otp;
  issue(subject: string, options?: { ttlMs?: number | string; digits?: number; code?: string }): Promise<OtpIssueResult>;
  verify(subject: string, code: string): Promise<OtpVerifyResult>;
  revoke(subject: string): Promise<boolean>;
}
