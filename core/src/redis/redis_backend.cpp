// Placeholder so the core links while this primitive is being built; replaced by its implementation.
#include "common/factories.hpp"

namespace redkeeper {
std::shared_ptr<Backend> make_redis_backend(const RedisUrl&, const ClientOptions&, std::shared_ptr<RedisEngine>) { throw Error(ErrorCode::Internal, "make_redis_backend: not built yet"); }
}  // namespace redkeeper
