// RESP on the wire through hiredis: a streaming reply reader (redisReader) and the command
// formatter (redisFormatCommandArgv, the reference for our allocation-free encoder). The only
// files that include hiredis.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "redis/reply.hpp"

struct redisReader;

namespace redkeeper {

// Incremental parser: feed() whatever bytes arrived, then next() until it returns nullopt.
// A malformed stream throws Error(Protocol); the reader is unusable afterwards (reset the connection).
class RespReader {
 public:
  RespReader();
  void feed(const char* data, size_t len);
  std::optional<Reply> next();

 private:
  struct Free { void operator()(redisReader* r) const; };
  std::unique_ptr<redisReader, Free> reader_;
};

// Appends the RESP encoding of one command (argv) to `out`. Args are arbitrary bytes.
// Allocation-free once `out` has capacity; byte-identical to hiredis' redisFormatCommandArgv.
void append_command(std::string& out, const std::string_view* args, size_t count);
// The same through hiredis' formatter: the reference append_command is tested against.
void append_command_hiredis(std::string& out, const std::string_view* args, size_t count);

}  // namespace redkeeper
