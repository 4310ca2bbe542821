// Placeholder so the core links while this primitive is being built; replaced by its implementation.
#include "common/factories.hpp"

namespace redkeeper {
std::shared_ptr<Primitive> make_sessions(std::shared_ptr<Backend>, const Value&) { throw Error(ErrorCode::Internal, "make_sessions: not built yet"); }
}  // namespace redkeeper
