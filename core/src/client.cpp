// Client::open: picks the backend from the URL scheme. Each backend lives in its own folder.
#include "redkeeper/client.hpp"

#include "redis/redis_client_factory.hpp"
#include "store/memory_client.hpp"

namespace redkeeper {

std::shared_ptr<Client> Client::open(std::string_view url, ClientOptions options) {
  if (options.prefix.empty() || options.prefix.size() > 64) {
    throw invalid_argument("prefix", "must be 1 to 64 characters");
  }
  for (char c : options.prefix) {
    if (c == '{' || c == '}' || static_cast<unsigned char>(c) <= ' ') {
      throw invalid_argument("prefix", "must not contain braces, spaces or control characters");
    }
  }
  if (url == "memory://" || url.rfind("memory://", 0) == 0) {
    // Asking for a cluster and silently getting one process's store would hide a config mistake.
    if (options.cluster) throw invalid_argument("cluster", "applies to Redis URLs only, not memory://");
    return make_memory_client(url, std::move(options));
  }
  if (url.rfind("redis://", 0) == 0 || url.rfind("rediss://", 0) == 0 ||
      url.rfind("unix://", 0) == 0 || url.rfind("redis+cluster://", 0) == 0 ||
      url.rfind("rediss+cluster://", 0) == 0) {
    return make_redis_client(url, std::move(options));
  }
  throw invalid_argument("url", "unknown scheme in '" + std::string(url.substr(0, 64)) +
                                    "' (expected memory://, redis://, rediss://, unix://, redis+cluster:// or rediss+cluster://)");
}

}  // namespace redkeeper
