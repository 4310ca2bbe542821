// Session ids and their handles: ids are 256-bit CSPRNG values (base64url, 43 chars); keys and
// indexes only ever hold the handle, SHA-256 of the id, so reading Redis never yields a usable id.
#pragma once

#include <string>
#include <string_view>

namespace redkeeper::sessions {

// 32 bytes from OpenSSL RAND_bytes, base64url without padding (43 chars). Throws Error(Internal)
// when the CSPRNG fails (never silently weaker).
std::string random_session_id();

// base64url(SHA-256(id)) without padding, 43 chars: the id's public name in keys and listings.
std::string session_handle(std::string_view id);

std::string base64url_encode(const unsigned char* data, size_t size);

}  // namespace redkeeper::sessions
