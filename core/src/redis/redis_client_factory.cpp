// Placeholder until the Redis engine lands (issue 3): reports that the backend is unavailable.
#include "redis/redis_client_factory.hpp"

namespace redkeeper {
std::shared_ptr<Client> make_redis_client(std::string_view, ClientOptions) {
  throw Error(ErrorCode::Connection, "url: the Redis backend is not built yet");
}
}  // namespace redkeeper
