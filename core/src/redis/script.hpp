// A Lua script for EVALSHA: its source and SHA1, computed once. Cheap to copy (shared source), so
// an in-flight op can keep it for the EVAL fallback on NOSCRIPT.
#pragma once

#include <memory>
#include <string>

namespace redkeeper {

class Script {
 public:
  Script() = default;  // empty; valid() == false
  explicit Script(std::string source);

  bool valid() const noexcept { return static_cast<bool>(data_); }
  const std::string& source() const { return data_->source; }
  const std::string& sha1() const { return data_->sha1; }  // 40 lowercase hex digits

 private:
  struct Data {
    std::string source;
    std::string sha1;
  };
  std::shared_ptr<const Data> data_;
};

// SHA1 of bytes as 40 lowercase hex digits (what Redis uses to name scripts).
std::string sha1_hex(const std::string& bytes);

}  // namespace redkeeper
