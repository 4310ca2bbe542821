// JWT decoding and signature verification: strict base64url, nlohmann JSON, OpenSSL EVP for
// SHA-256, HMAC, RSA PKCS#1 v1.5 and ECDSA. See jwt.hpp for the contract.
#include "tokens/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <array>
#include <cmath>

namespace redkeeper::jwt {
namespace {

Error malformed(const std::string& why) { return Error(ErrorCode::TokenMalformed, "token: " + why); }
Error invalid(const std::string& why) { return Error(ErrorCode::TokenInvalid, "token: " + why); }

// -1 for bytes outside the base64url alphabet.
constexpr std::array<int8_t, 256> make_decode_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 26; ++i) {
    t['A' + i] = static_cast<int8_t>(i);
    t['a' + i] = static_cast<int8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<int8_t>(52 + i);
  t['-'] = 62;
  t['_'] = 63;
  return t;
}
constexpr auto kDecode = make_decode_table();
constexpr char kEncode[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Nesting depth of a JSON text (brackets outside strings). nlohmann parses iteratively, but a
// claims object thousands of levels deep is never legitimate and is cheaper to refuse up front.
int json_depth(std::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') max_depth = std::max(max_depth, ++depth);
    else if (c == '}' || c == ']') --depth;
  }
  return max_depth;
}

Value parse_object(std::string_view part_b64, const char* what) {
  auto bytes = base64url_decode(part_b64);
  if (!bytes) throw malformed(std::string(what) + " is not valid base64url");
  if (json_depth(*bytes) > kMaxJsonDepth) throw malformed(std::string(what) + " is nested too deeply");
  Value v = Value::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded()) throw malformed(std::string(what) + " is not valid JSON");
  if (!v.is_object()) throw malformed(std::string(what) + " is not a JSON object");
  return v;
}

std::optional<int64_t> numeric_date_ms(const Value& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) throw malformed(std::string("claim '") + name + "' is not a number");
  const double seconds = it->get<double>();
  if (!std::isfinite(seconds) || seconds < 0 || seconds >= kMaxNumericDate) {
    throw malformed(std::string("claim '") + name + "' is out of range");
  }
  if (it->is_number_float()) return static_cast<int64_t>(std::floor(seconds * 1000.0));
  return it->get<int64_t>() * 1000;
}

std::optional<std::string> string_claim(const Value& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw malformed(std::string("claim '") + name + "' is not a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.empty()) return std::nullopt;
  return s;
}

const EVP_MD* digest_for(std::string_view alg) {
  if (alg.size() != 5) return nullptr;
  const std::string_view bits = alg.substr(2);
  if (bits == "256") return EVP_sha256();
  if (bits == "384") return EVP_sha384();
  if (bits == "512") return EVP_sha512();
  return nullptr;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

}  // namespace

struct VerifyKey::PKey {
  EVP_PKEY* pkey = nullptr;
  ~PKey() { EVP_PKEY_free(pkey); }
};

VerifyKey::~VerifyKey() = default;

std::optional<std::string> base64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : in) {
    const int v = kDecode[static_cast<unsigned char>(ch)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero: a canonical encoder never sets them, so two spellings of the same
  // bytes (which would hash to different denylist keys) cannot exist.
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : bytes) {
    acc = (acc << 8) | static_cast<unsigned char>(ch);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kEncode[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kEncode[(acc << (6 - bits)) & 0x3F]);
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorCode::Internal, "sha256: EVP_Digest failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 0xF];
  }
  return out;
}

Decoded decode(std::string_view token) {
  if (token.empty()) throw malformed("empty");
  if (token.size() > kMaxTokenBytes) {
    throw malformed("longer than " + std::to_string(kMaxTokenBytes) + " bytes");
  }
  const size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) throw malformed("expected 3 dot-separated parts, got 1");
  const size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) throw malformed("expected 3 dot-separated parts, got 2");
  if (token.find('.', dot2 + 1) != std::string_view::npos) throw malformed("expected 3 dot-separated parts, got more");
  if (dot1 == 0) throw malformed("empty header");
  if (dot2 == dot1 + 1) throw malformed("empty payload");

  Decoded d;
  d.header = parse_object(token.substr(0, dot1), "header");
  d.claims = parse_object(token.substr(dot1 + 1, dot2 - dot1 - 1), "payload");
  auto sig = base64url_decode(token.substr(dot2 + 1));
  if (!sig) throw malformed("signature is not valid base64url");
  d.signature = std::move(*sig);

  auto alg = d.header.find("alg");
  if (alg == d.header.end()) throw malformed("header has no 'alg'");
  if (!alg->is_string()) throw malformed("header 'alg' is not a string");
  d.alg = alg->get<std::string>();

  d.exp_ms = numeric_date_ms(d.claims, "exp");
  d.iat_ms = numeric_date_ms(d.claims, "iat");
  d.nbf_ms = numeric_date_ms(d.claims, "nbf");
  d.jti = string_claim(d.claims, "jti");
  d.sub = string_claim(d.claims, "sub");
  d.signing_input.assign(token.data(), dot2);
  return d;
}

std::shared_ptr<const VerifyKey> VerifyKey::parse(std::string_view key_bytes) {
  if (key_bytes.empty()) throw invalid_argument("verify_key", "must not be empty");
  std::shared_ptr<VerifyKey> key(new VerifyKey());  // private constructor: make_shared cannot reach it
  if (key_bytes.substr(0, 10) != "-----BEGIN") {
    key->family_ = Family::Hmac;
    key->secret_.assign(key_bytes.data(), key_bytes.size());
    key->algorithms_ = {"HS256", "HS384", "HS512"};
    return key;
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(key_bytes.data(), static_cast<int>(key_bytes.size())));
  if (!bio) throw Error(ErrorCode::Internal, "verify_key: BIO_new_mem_buf failed");
  key->pkey_ = std::make_unique<PKey>();
  if (key_bytes.find("-----BEGIN CERTIFICATE-----") != std::string_view::npos) {
    std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert) key->pkey_->pkey = X509_get_pubkey(cert.get());
  } else {
    key->pkey_->pkey = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  }
  if (key->pkey_->pkey == nullptr) {
    throw invalid_argument("verify_key", "not a PEM public key or certificate (private keys are not accepted)");
  }
  EVP_PKEY* pk = key->pkey_->pkey;
  const int id = EVP_PKEY_get_base_id(pk);
  if (id == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(pk) < 2048) throw invalid_argument("verify_key", "RSA keys shorter than 2048 bits are refused");
    key->family_ = Family::Rsa;
    key->algorithms_ = {"RS256", "RS384", "RS512"};
  } else if (id == EVP_PKEY_EC) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(pk, group, sizeof group, &len) != 1) {
      throw invalid_argument("verify_key", "EC key without a named curve");
    }
    const std::string_view g(group, len);
    key->family_ = Family::Ec;
    if (g == "prime256v1" || g == "P-256") {
      key->algorithms_ = {"ES256"};
      key->ec_coord_bytes_ = 32;
    } else if (g == "secp384r1" || g == "P-384") {
      key->algorithms_ = {"ES384"};
      key->ec_coord_bytes_ = 48;
    } else if (g == "secp521r1" || g == "P-521") {
      key->algorithms_ = {"ES512"};
      key->ec_coord_bytes_ = 66;
    } else {
      throw invalid_argument("verify_key", "unsupported EC curve " + std::string(g));
    }
  } else {
    throw invalid_argument("verify_key", "unsupported key type (RSA, EC P-256/384/521 or an HMAC secret)");
  }
  return key;
}

bool VerifyKey::verify(std::string_view alg, std::string_view signing_input, std::string_view signature) const {
  const EVP_MD* md = digest_for(alg);
  if (md == nullptr) return false;
  if (family_ == Family::Hmac) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (HMAC(md, secret_.data(), static_cast<int>(secret_.size()),
             reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac, &len) == nullptr) {
      return false;
    }
    return signature.size() == len && CRYPTO_memcmp(mac, signature.data(), len) == 0;
  }
  std::string der;
  std::string_view sig = signature;
  if (family_ == Family::Ec) {
    // JOSE carries ECDSA as fixed-width r||s; OpenSSL wants DER. A wrong length is simply invalid.
    if (signature.size() != 2 * ec_coord_bytes_) return false;
    std::unique_ptr<ECDSA_SIG, EcdsaSigFree> es(ECDSA_SIG_new());
    if (!es) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(signature.data());
    BIGNUM* r = BN_bin2bn(p, static_cast<int>(ec_coord_bytes_), nullptr);
    BIGNUM* s = BN_bin2bn(p + ec_coord_bytes_, static_cast<int>(ec_coord_bytes_), nullptr);
    if (r == nullptr || s == nullptr || ECDSA_SIG_set0(es.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return false;
    }
    unsigned char* out = nullptr;
    const int n = i2d_ECDSA_SIG(es.get(), &out);
    if (n <= 0) return false;
    der.assign(reinterpret_cast<char*>(out), static_cast<size_t>(n));
    OPENSSL_free(out);
    sig = der;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey_->pkey) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
}

void verify_signature(const Decoded& token, const VerifyKey& key, const std::vector<std::string>& allowed) {
  std::string lower = token.alg;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "none") throw invalid("alg 'none' is never accepted");
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), token.alg) == allowed.end()) {
    throw invalid("algorithm '" + token.alg.substr(0, 32) + "' is not allowed");
  }
  const auto& supported = key.algorithms();
  if (std::find(supported.begin(), supported.end(), token.alg) == supported.end()) {
    throw invalid("algorithm '" + token.alg.substr(0, 32) + "' does not match the configured key");
  }
  if (!key.verify(token.alg, token.signing_input, token.signature)) throw invalid("bad signature");
}

std::string sign_hmac(std::string_view alg, const Value& header, const Value& claims, std::string_view secret) {
  const EVP_MD* md = alg.substr(0, 2) == "HS" ? digest_for(alg) : nullptr;
  if (md == nullptr) throw invalid_argument("alg", "sign_hmac supports HS256/384/512 only");
  std::string input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &len);
  return input + "." + base64url_encode(std::string_view(reinterpret_cast<char*>(mac), len));
}

}  // namespace redkeeper::jwt
