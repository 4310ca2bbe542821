// JWT decoding and signature verification (core/src/tokens/jwt.*), without any store: the shared
// decode/verify vectors, base64url edge cases, key parsing, and mutation fuzzing.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "tokens/jwt.hpp"
#include "vector_runner.hpp"

namespace redkeeper {
namespace {

const char* short_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::TokenMalformed: return "TokenMalformed";
    case ErrorCode::TokenInvalid: return "TokenInvalid";
    case ErrorCode::TokenRevoked: return "TokenRevoked";
    case ErrorCode::InvalidArgument: return "InvalidArgument";
    default: return error_code_name(code);
  }
}

TEST(Base64Url, RoundTripsEveryLength) {
  std::mt19937 rng(7);
  for (size_t len = 0; len < 70; ++len) {
    std::string bytes(len, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    const std::string enc = jwt::base64url_encode(bytes);
    EXPECT_EQ(enc.find_first_of("+/="), std::string::npos);
    auto dec = jwt::base64url_decode(enc);
    ASSERT_TRUE(dec.has_value()) << enc;
    EXPECT_EQ(*dec, bytes);
  }
}

TEST(Base64Url, RejectsNonCanonicalInput) {
  EXPECT_EQ(jwt::base64url_decode("YQ").value(), "a");
  EXPECT_FALSE(jwt::base64url_decode("YR").has_value());    // unused bits set
  EXPECT_FALSE(jwt::base64url_decode("YQ==").has_value());  // padding
  EXPECT_FALSE(jwt::base64url_decode("Y").has_value());     // length 1 mod 4
  EXPECT_FALSE(jwt::base64url_decode("Y+Q").has_value());   // standard alphabet
  EXPECT_FALSE(jwt::base64url_decode("Y Q").has_value());
  EXPECT_FALSE(jwt::base64url_decode(std::string("Y\0Q", 3)).has_value());
  EXPECT_EQ(jwt::base64url_decode("").value(), "");
}

TEST(Sha256, KnownAnswer) {
  EXPECT_EQ(jwt::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(JwtVectors, Decode) {
  const auto doc = vectors::load("tokens.json");
  size_t ran = 0;
  for (const auto& c : doc.at("decode")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const auto& expect = c.at("expect");
    if (!c.at("token").is_string()) continue;  // non-string input: the primitive's job (test_tokens.cpp)
    ++ran;
    try {
      const jwt::Decoded d = jwt::decode(c.at("token").get<std::string>());
      ASSERT_FALSE(expect.contains("error")) << "accepted";
      EXPECT_EQ(d.header, expect.at("header"));
      EXPECT_EQ(d.claims, expect.at("claims"));
    } catch (const Error& e) {
      ASSERT_TRUE(expect.contains("error")) << e.what();
      EXPECT_STREQ(short_name(e.code()), expect.at("error").get<std::string>().c_str()) << e.what();
    }
  }
  EXPECT_GE(ran, 25u);
}

TEST(JwtVectors, Verify) {
  const auto doc = vectors::load("tokens.json");
  size_t ran = 0;
  for (const auto& c : doc.at("verify")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    if (c.at("key").is_null()) continue;  // "no key" cases need check(): test_tokens.cpp
    ++ran;
    const auto key = jwt::VerifyKey::parse(doc.at("keys").at(c.at("key").get<std::string>()).get<std::string>());
    std::vector<std::string> allowed;
    if (c.contains("algorithms")) allowed = c.at("algorithms").get<std::vector<std::string>>();
    const std::string expect = c.at("expect").get<std::string>();
    try {
      const jwt::Decoded d = jwt::decode(c.at("token").get<std::string>());
      jwt::verify_signature(d, *key, allowed);
      EXPECT_EQ(expect, "ok");
    } catch (const Error& e) {
      EXPECT_EQ(expect, short_name(e.code())) << e.what();
    }
  }
  EXPECT_GE(ran, 18u);
}

TEST(JwtDecode, RegisteredClaims) {
  const Value header{{"alg", "HS256"}};
  auto d = jwt::decode(jwt::sign_hmac("HS256", header, Value{{"sub", "u"}, {"jti", "j"}, {"exp", 1700000000.25},
                                                              {"iat", 1699999999}, {"nbf", 0}}, "k"));
  EXPECT_EQ(*d.sub, "u");
  EXPECT_EQ(*d.jti, "j");
  EXPECT_EQ(*d.exp_ms, 1700000000250);
  EXPECT_EQ(*d.iat_ms, 1699999999000);
  EXPECT_EQ(*d.nbf_ms, 0);
  // Empty sub/jti identify nothing: treated as absent (the token is then keyed by its hash).
  d = jwt::decode(jwt::sign_hmac("HS256", header, Value{{"sub", ""}, {"jti", ""}, {"exp", nullptr}}, "k"));
  EXPECT_FALSE(d.sub.has_value());
  EXPECT_FALSE(d.jti.has_value());
  EXPECT_FALSE(d.exp_ms.has_value());
}

TEST(JwtDecode, SizeLimitIsExact) {
  const Value header{{"alg", "HS256"}};
  std::string pad;
  std::string token;
  // Grow a claim until the token is exactly at the limit, then one byte past it.
  for (size_t n = 11000; n < 13000; ++n) {
    pad.assign(n, 'x');
    token = jwt::sign_hmac("HS256", header, Value{{"p", pad}}, "k");
    if (token.size() >= jwt::kMaxTokenBytes) break;
  }
  ASSERT_GE(token.size(), jwt::kMaxTokenBytes);
  while (token.size() > jwt::kMaxTokenBytes) {
    pad.pop_back();
    token = jwt::sign_hmac("HS256", header, Value{{"p", pad}}, "k");
  }
  EXPECT_NO_THROW(jwt::decode(token)) << token.size();
  EXPECT_THROW(jwt::decode(token + "A"), Error);
}

TEST(VerifyKeyParse, RejectsWhatItCannotUse) {
  auto code_of = [](const std::string& pem) {
    try {
      jwt::VerifyKey::parse(pem);
      return std::string("accepted");
    } catch (const Error& e) {
      return std::string(short_name(e.code()));
    }
  };
  EXPECT_EQ(code_of(""), "InvalidArgument");
  EXPECT_EQ(code_of("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"), "InvalidArgument");
  // A private key is refused: configuring a signing key for verification is a deployment mistake.
  EXPECT_EQ(code_of("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIGp6f8t1b0Q1X7mIYJvjHqeKk2a8xuQ4VQwq+UpLz5mR\n-----END PRIVATE KEY-----\n"),
            "InvalidArgument");
  // Ed25519 public key: a key type the JWT algorithms here do not cover.
  EXPECT_EQ(code_of("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"),
            "InvalidArgument");
  const auto doc = vectors::load("tokens.json");
  const auto rsa = jwt::VerifyKey::parse(doc.at("keys").at("rsa").get<std::string>());
  EXPECT_EQ(rsa->family(), jwt::VerifyKey::Family::Rsa);
  const auto ec = jwt::VerifyKey::parse(doc.at("keys").at("ec").get<std::string>());
  EXPECT_EQ(ec->algorithms(), std::vector<std::string>{"ES256"});
  const auto hs = jwt::VerifyKey::parse("secret");
  EXPECT_EQ(hs->family(), jwt::VerifyKey::Family::Hmac);
}

// Random byte flips, truncations and splices of valid tokens: decode either succeeds or throws
// TokenMalformed, verification adds only TokenInvalid; nothing else, no crash (run under ASan too).
TEST(JwtFuzz, MutationsOnlyRaiseTypedErrors) {
  const auto doc = vectors::load("tokens.json");
  std::vector<std::string> seeds;
  for (const auto& c : doc.at("verify")) seeds.push_back(c.at("token").get<std::string>());
  const auto key = jwt::VerifyKey::parse(doc.at("keys").at("hs").get<std::string>());
  const auto rsa = jwt::VerifyKey::parse(doc.at("keys").at("rsa").get<std::string>());
  const auto ec = jwt::VerifyKey::parse(doc.at("keys").at("ec").get<std::string>());
  std::mt19937 rng(12345);
  size_t decoded = 0, rejected = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string t = seeds[rng() % seeds.size()];
    switch (rng() % 4) {
      case 0: t[rng() % t.size()] = static_cast<char>(rng()); break;
      case 1: t.resize(rng() % t.size()); break;
      case 2: t.insert(rng() % t.size(), 1, static_cast<char>(rng())); break;
      case 3: t = t.substr(0, rng() % t.size()) + seeds[rng() % seeds.size()].substr(rng() % 3); break;
    }
    try {
      const jwt::Decoded d = jwt::decode(t);
      ++decoded;
      for (const auto* k : {key.get(), rsa.get(), ec.get()}) {
        try {
          jwt::verify_signature(d, *k, {});
        } catch (const Error& e) {
          ASSERT_EQ(e.code(), ErrorCode::TokenInvalid) << e.what();
        }
      }
    } catch (const Error& e) {
      ++rejected;
      ASSERT_EQ(e.code(), ErrorCode::TokenMalformed) << e.what();
    }
  }
  EXPECT_GT(decoded, 100u);
  EXPECT_GT(rejected, 100u);
}

}  // namespace
}  // namespace redkeeper
