// Placeholder so the core links while this primitive is being built; replaced by its implementation.
#include "common/factories.hpp"

namespace redkeeper {
std::shared_ptr<Primitive> make_tokens(std::shared_ptr<Backend>, const Value&) { throw Error(ErrorCode::Internal, "make_tokens: not built yet"); }
std::shared_ptr<Primitive> make_token_versions(std::shared_ptr<Backend>, const Value&) { throw Error(ErrorCode::Internal, "make_token_versions: not built yet"); }
}  // namespace redkeeper
