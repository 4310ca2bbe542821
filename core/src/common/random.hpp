// Random tokens for the primitives (cache claims, lock owners, session ids, idempotency claims,
// one-time codes): OpenSSL's CSPRNG, drawn through a per-thread buffer.
#pragma once

#include <cstddef>
#include <string>

namespace redkeeper {

// Fills out[0..n) with CSPRNG bytes. Served from a per-thread buffer of RAND_bytes output (one
// RAND_bytes call costs microseconds: locks, a DRBG step and, in OpenSSL 3, a getpid for its own
// fork check); a forked child drops the buffer it inherited, so parent and child never hand out
// the same bytes. Bytes handed out are wiped from the buffer. Throws Error(Internal) when the
// CSPRNG fails.
void random_bytes(unsigned char* out, size_t n);

// `n_bytes` random bytes as 2 * n_bytes lowercase hex digits.
std::string random_hex(size_t n_bytes);

}  // namespace redkeeper
