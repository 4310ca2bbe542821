// Builds a Client backed by a Redis server (redis://, rediss://, unix://).
#pragma once

#include <memory>
#include <string_view>

#include "redkeeper/client.hpp"

namespace redkeeper {
std::shared_ptr<Client> make_redis_client(std::string_view url, ClientOptions options);
}
