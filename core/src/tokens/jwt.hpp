// JWT decoding (compact JWS: base64url header.payload.signature, JSON objects) and optional
// signature verification (HS*, RS*, ES* through OpenSSL). No store access: pure functions over bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redkeeper/primitive.hpp"

namespace redkeeper::jwt {

// Larger tokens are rejected before any decoding (TokenMalformed): real JWTs are well under 8 KiB,
// and the bound keeps a hostile header from costing more than a few microseconds.
constexpr size_t kMaxTokenBytes = 16 * 1024;
// Claims nested deeper than this are rejected (TokenMalformed).
constexpr int kMaxJsonDepth = 32;
// NumericDate claims must lie in [0, year 3000): anything else is garbage, and it keeps ms
// arithmetic far from int64/double precision limits.
constexpr double kMaxNumericDate = 32503680000.0;

// Strict RFC 4648 §5 base64url without padding: alphabet A-Z a-z 0-9 - _ only, no '=', no
// whitespace, a length that is not 1 mod 4, zero unused trailing bits. nullopt when not.
std::optional<std::string> base64url_decode(std::string_view in);
std::string base64url_encode(std::string_view bytes);

// SHA-256 of bytes as 64 lowercase hex digits.
std::string sha256_hex(std::string_view bytes);

struct Decoded {
  Value header;                // JSON object; "alg" is a string
  Value claims;                // JSON object
  std::string alg;
  std::string signing_input;   // "<header b64>.<payload b64>": what the signature covers
  std::string signature;       // raw signature bytes
  // Registered claims, validated: present only when the claim is present (and, for jti/sub,
  // non-empty: an empty string identifies nothing and is treated as absent).
  std::optional<std::string> jti, sub;
  std::optional<int64_t> exp_ms, iat_ms, nbf_ms;  // NumericDate seconds -> ms (floored)
};

// Decodes a token. Throws Error(TokenMalformed) naming what is wrong: size, parts, base64url,
// JSON, header/claims not objects, alg missing or not a string, exp/iat/nbf not numbers in range,
// jti/sub not strings. Never reads out of bounds, never trusts lengths from the input.
Decoded decode(std::string_view token);

// A verification key. HMAC secret (raw bytes) or a PEM public key (RSA or EC P-256/P-384/P-521),
// detected from the bytes ("-----BEGIN" = PEM). Throws InvalidArgument("verify_key", ...) on a
// PEM that does not parse or an unsupported key type.
class VerifyKey {
 public:
  enum class Family { Hmac, Rsa, Ec };

  static std::shared_ptr<const VerifyKey> parse(std::string_view key_bytes);
  ~VerifyKey();
  VerifyKey(const VerifyKey&) = delete;
  VerifyKey& operator=(const VerifyKey&) = delete;

  Family family() const { return family_; }
  // The algorithms this key can verify: HS256/384/512 for a secret, RS256/384/512 for RSA,
  // the one ES* that matches an EC key's curve.
  const std::vector<std::string>& algorithms() const { return algorithms_; }

  // True iff `signature` is a valid `alg` signature of `signing_input` with this key. The caller
  // has already checked that alg is one of algorithms(). HMAC compares in constant time; ES*
  // signatures are JOSE raw r||s (converted to DER for OpenSSL, exact length required).
  bool verify(std::string_view alg, std::string_view signing_input, std::string_view signature) const;

 private:
  VerifyKey() = default;
  struct PKey;
  Family family_ = Family::Hmac;
  std::string secret_;
  std::unique_ptr<PKey> pkey_;
  size_t ec_coord_bytes_ = 0;  // 32 / 48 / 66 for P-256 / P-384 / P-521
  std::vector<std::string> algorithms_;
};

// Signature check of a decoded token against a key and an allow-list (empty = every algorithm the
// key supports). Throws Error(TokenInvalid) for alg "none", an algorithm outside the allow-list or
// the key's family (algorithm confusion: an HS* token against an RSA/EC key and the other way
// round), or a bad signature.
void verify_signature(const Decoded& token, const VerifyKey& key, const std::vector<std::string>& allowed);

// Test/benchmark helper: signs header/claims with an HMAC secret (HS256/384/512) and returns the
// compact token. Used by tests to build vectors; never needed by the primitives themselves.
std::string sign_hmac(std::string_view alg, const Value& header, const Value& claims, std::string_view secret);

}  // namespace redkeeper::jwt
