// Builds the Redis backend from a URL: parse (InvalidArgument on a bad URL), then connect in the
// background.
#include "redis/redis_client_factory.hpp"

#include "redis/redis_client.hpp"
#include "redis/url.hpp"

namespace redkeeper {
std::shared_ptr<Client> make_redis_client(std::string_view url, ClientOptions options) {
  return std::make_shared<RedisClient>(parse_redis_url(url), std::move(options));
}
}  // namespace redkeeper
