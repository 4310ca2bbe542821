// A Lua script for EVALSHA: its source and SHA1, computed once. Cheap to copy (shared source), so
// an in-flight op can keep it for the EVAL fallback on NOSCRIPT.
#pragma once

#include <memory>
#include <string>

namespace redkeeper {

class Script {
 public:
  // Whether KEYS lists every key the script touches. Redis Cluster decides where a script may run
  // (and whether a migrating slot's keys are all on one side) from KEYS only, so a script that
  // builds further keys inside (same hash tag) must not follow ASK: on the importing node it would
  // see those not-yet-migrated keys as missing. The cluster engine instead waits for the
  // migration to end on the source node (see core/src/redis/README.md).
  enum Keys { DeclaredKeys, UndeclaredKeys };

  Script() = default;  // empty; valid() == false
  explicit Script(std::string source, Keys keys = DeclaredKeys);

  bool valid() const noexcept { return static_cast<bool>(data_); }
  bool declares_all_keys() const noexcept { return !data_ || data_->declares_all_keys; }
  const std::string& source() const { return data_->source; }
  const std::string& sha1() const { return data_->sha1; }  // 40 lowercase hex digits

 private:
  struct Data {
    std::string source;
    std::string sha1;
    bool declares_all_keys = true;
  };
  std::shared_ptr<const Data> data_;
};

// SHA1 of bytes as 40 lowercase hex digits (what Redis uses to name scripts).
std::string sha1_hex(const std::string& bytes);

}  // namespace redkeeper
