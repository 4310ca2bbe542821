// Types for rk.tokens / rk.tokenVersions (lib/tokens.js) and the Express requireValidToken middleware.

/** A JWT: the compact string, or its bytes. */
export type Token = string | Uint8Array;
/** A user id / JWT `sub`: 42 and '42' are the same user (Node and Python alike). */
export type TokenUserId = string | number;
/** Milliseconds, or a duration string like '15m' / '7 days'. */
export type TokenDuration = number | string;

export interface TokensOptions {
  /** Lifetime assumed for tokens without `exp` (denylist entries and revoke-all records). Default 30 days. */
  maxLifetimeMs?: TokenDuration;
  /** Clock skew accepted on exp/nbf (check keeps accepting, and the entry lives, until exp + leeway). Default 0. */
  leewayMs?: TokenDuration;
  /** HMAC secret (HS256/384/512) or a PEM public key / certificate (RS256/384/512, ES256/384/512). */
  verifyKey?: string | Uint8Array;
  /** Allow-list of algorithms (needs verifyKey). Default: every algorithm of the key's family. */
  algorithms?: string[];
  /** Store unreachable: 'closed' (default: isRevoked true, check rejects TOKEN_REVOKED) or 'raise'. */
  onError?: 'closed' | 'raise';
  /** revokeUser reasons kept per user (default 20, 0 = none). */
  auditLimit?: number;
}

export interface UserRevocation {
  /** Tokens of the user with iat before this instant (ms since the epoch) are revoked. */
  revokedBeforeMs: number;
  /** When the record goes (every token it covers has expired by then). */
  expiresAtMs: number;
}

export interface UserAudit {
  revokedBeforeMs: number | null;
  /** Newest first, at most auditLimit. */
  entries: Array<{ atMs: number; reason: string }>;
}

export interface TokenStats {
  denylisted: number;
  usersRevoked: number;
}

export type JwtClaims = Record<string, unknown>;

export declare class Tokens {
  withOptions(options: TokensOptions): Tokens;
  /** Denylists the token until it expires; true when this call added it (false: already there, or expired). */
  revoke(token: Token): Promise<boolean>;
  revokeUser(sub: TokenUserId, reason?: string): Promise<UserRevocation>;
  /** Denylisted, revoked by revokeUser, or expired; true when the store is down (fail closed). */
  isRevoked(token: Token): Promise<boolean>;
  /** The claims; rejects with ERR_RK_TOKEN_REVOKED / ERR_RK_TOKEN_INVALID / ERR_RK_TOKEN_MALFORMED. */
  check(token: Token): Promise<JwtClaims>;
  stats(): Promise<TokenStats>;
  audit(sub: TokenUserId): Promise<UserAudit>;
  /** Decodes without checks or store access. */
  decode(token: Token): Promise<{ header: Record<string, unknown>; claims: JwtClaims }>;
}

export interface TokenVersionsOptions {
  /** Database fallback when the store has no counter for a user; its value is cached in the store. */
  loader?: (user: TokenUserId) => number | null | undefined | Promise<number | null | undefined>;
  /** How long a loaded value stays cached (default 1 h). Bumped values never expire. */
  cacheTtlMs?: TokenDuration;
  /** Store unreachable: 'closed' (default: verify resolves false) or 'raise'. */
  onError?: 'closed' | 'raise';
}

/** A version is epoch * 2^32 + the user's counter; verify is true iff it equals the current one. */
export declare class TokenVersions {
  withOptions(options: TokenVersionsOptions): TokenVersions;
  get(user: TokenUserId): Promise<number>;
  bump(user: TokenUserId): Promise<number>;
  /** Resolves with the new global epoch. */
  bumpAll(): Promise<number>;
  verify(user: TokenUserId, version: number): Promise<boolean>;
}

export interface RequireValidTokenOptions {
  /** A redkeeper client (its `tokens`) or a configured Tokens from `rk.tokens.withOptions(...)`. */
  client: { tokens: Tokens } | Tokens;
  /** Where the token comes from; default: the `Authorization: Bearer` header. */
  getToken?: (req: any) => string | undefined | null | Promise<string | undefined | null>;
}

/** Express middleware: 401 `{ error: 'token_missing' | 'token_malformed' | 'token_invalid' | 'token_revoked', message }`, else sets `req.tokenClaims`. */
export declare function requireValidToken(options: RequireValidTokenOptions): (req: any, res: any, next: (err?: unknown) => void) => Promise<void>;
