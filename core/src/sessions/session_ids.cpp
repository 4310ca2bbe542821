// CSPRNG session ids and SHA-256 handles (see session_ids.hpp).
#include "sessions/session_ids.hpp"

#include <openssl/evp.h>

#include "common/random.hpp"
#include "redkeeper/error.hpp"

namespace redkeeper::sessions {

std::string base64url_encode(const unsigned char* data, size_t size) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((size * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    uint32_t v = (uint32_t(data[i]) << 16) | (uint32_t(data[i + 1]) << 8) | data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (size - i == 1) {
    uint32_t v = uint32_t(data[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (size - i == 2) {
    uint32_t v = (uint32_t(data[i]) << 16) | (uint32_t(data[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::string random_session_id() {
  unsigned char bytes[32];
  random_bytes(bytes, sizeof bytes);
  return base64url_encode(bytes, sizeof bytes);
}

std::string session_handle(std::string_view id) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(id.data(), id.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorCode::Internal, "sessions: SHA-256 failure");
  }
  return base64url_encode(digest, len);
}

}  // namespace redkeeper::sessions
