// The memory:// Client: owns a MemoryStore and hands out primitives bound to it. Ops complete
// inside the call (completes_inline() == true).
#pragma once

#include <memory>
#include <mutex>
#include <string_view>

#include "redkeeper/client.hpp"
#include "store/memory_store.hpp"

namespace redkeeper {

class MemoryClient final : public Client {
 public:
  MemoryClient(ClientOptions options, MemoryStore::Options store_options);
  ~MemoryClient() override;

  std::shared_ptr<Limiter> limiter(LimiterConfig config) override;
  void hit_many(std::vector<LimitCheck> checks, Callback<MultiLimitResult> done) override;
  std::shared_ptr<Backend> backend() override;
  bool completes_inline() const override { return true; }
  void ping(Callback<double> done) override;
  Health health() const override;
  Stats stats() const override;
  void close() override;
  bool closed() const override { return store_->closed(); }

  // For primitives and tests in the core.
  const std::shared_ptr<MemoryStore>& store() const { return store_; }

 private:
  std::shared_ptr<MemoryStore> store_;
  std::mutex backend_mu_;
  std::shared_ptr<Backend> backend_;  // the Lua host, created on first use
};

// Accepts "memory://" with an optional query: ?shards=N&sweep_interval_ms=N (both override the
// ClientOptions). Anything else throws InvalidArgument naming `url`.
std::shared_ptr<Client> make_memory_client(std::string_view url, ClientOptions options);

}  // namespace redkeeper
