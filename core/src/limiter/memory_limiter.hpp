// The rate limiter on the memory store: one shard lock per op, state in a single int64 vector per
// key (the block marker lives in slot 0 of the same entry, so a hit touches one map node).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "limiter/multi_limiter.hpp"
#include "redkeeper/limiter.hpp"
#include "store/memory_store.hpp"

namespace redkeeper {

class MemoryLimiter final : public Limiter {
 public:
  // `config` must already be validated.
  MemoryLimiter(LimiterConfig config, std::shared_ptr<MemoryStore> store, std::string_view prefix);

  void hit(std::string_view key, int64_t cost, Callback<LimitResult> done) override;
  void peek(std::string_view key, Callback<LimitResult> done) override;
  void reset(std::string_view key, Callback<Unit> done) override;
  void refund(std::string_view key, int64_t amount, Callback<LimitResult> done) override;
  void block(std::string_view key, int64_t duration_ms, Callback<LimitResult> done) override;
  bool hit_inline(std::string_view key, int64_t cost, LimitResult& out) override;

  // Synchronous forms; throw Error (InvalidArgument, Closed).
  LimitResult hit_now(std::string_view key, int64_t cost);
  LimitResult peek_now(std::string_view key);
  void reset_now(std::string_view key);
  LimitResult refund_now(std::string_view key, int64_t amount);
  LimitResult block_now(std::string_view key, int64_t duration_ms);

  // Client::hit_many on memory: every check (all MemoryLimiters of `store`) under its shard lock
  // at once, at one instant; consumes from all only when all allow. Throws Error (Closed).
  static MultiLimitResult hit_many_now(MemoryStore& store, const std::vector<PreparedCheck>& checks);
  const std::shared_ptr<MemoryStore>& store() const { return store_; }

 private:
  // The id's key `{key_head_}{id}}`, hashed. Valid while `id` is and until the next key_for on
  // this thread (an id that is not its own hash tag is spelled out in a per-thread buffer).
  MemoryKey key_for(std::string_view id) const;
  void check_open() const;

  std::shared_ptr<MemoryStore> store_;
  std::string key_head_;     // "{prefix}:limiter:{name}:{"
  bool head_has_one_brace_;  // key_head_'s only '{' is its last byte (prefix and name have none)
  uint64_t rest_hash_;       // store_->rest_hash(key_head_, "}"): the key minus an id-as-tag
};

}  // namespace redkeeper
