// Placeholder so the core links while this primitive is being built; replaced by its implementation.
#include "common/factories.hpp"

namespace redkeeper {
std::shared_ptr<Primitive> make_otp(std::shared_ptr<Backend>, const Value&) { throw Error(ErrorCode::Internal, "make_otp: not built yet"); }
}  // namespace redkeeper
