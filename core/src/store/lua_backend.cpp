// Placeholder so the core links while this primitive is being built; replaced by its implementation.
#include "common/factories.hpp"

namespace redkeeper {
std::shared_ptr<Backend> make_lua_backend(const ClientOptions&) { throw Error(ErrorCode::Internal, "make_lua_backend: not built yet"); }
}  // namespace redkeeper
