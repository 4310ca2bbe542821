// Script SHA1 through OpenSSL's EVP interface.
#include "redis/script.hpp"

#include <openssl/evp.h>

#include "redkeeper/error.hpp"

namespace redkeeper {

std::string sha1_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha1(), nullptr) != 1) {
    throw Error(ErrorCode::Internal, "redis: SHA1 of a script failed");
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

Script::Script(std::string source, Keys keys) {
  if (source.empty()) throw invalid_argument("script", "source is empty");
  std::string sha = sha1_hex(source);
  data_ = std::make_shared<const Data>(Data{std::move(source), std::move(sha), keys == DeclaredKeys});
}

}  // namespace redkeeper
