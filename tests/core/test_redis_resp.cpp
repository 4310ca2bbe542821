// RESP glue without a server: streaming reads in arbitrary fragments, protocol errors, binary-safe
// command formatting, and script SHA1s.
#include <gtest/gtest.h>

#include <random>

#include "redis/reply.hpp"
#include "redis/resp.hpp"
#include "redis/script.hpp"
#include "redkeeper/error.hpp"

namespace redkeeper {
namespace {

TEST(RespReader, ParsesEveryTypeFedByteByByte) {
  // Embedded NUL in a bulk string: binary-safe.
  const char raw[] = "+OK\r\n-ERR bad\r\n:42\r\n$5\r\nhe\0lo\r\n$-1\r\n*3\r\n:1\r\n*1\r\n$1\r\nx\r\n$-1\r\n*0\r\n";
  std::string bytes(raw, sizeof raw - 1);
  RespReader reader;
  std::vector<Reply> got;
  for (char c : bytes) {
    reader.feed(&c, 1);
    while (auto r = reader.next()) got.push_back(std::move(*r));
  }
  ASSERT_EQ(got.size(), 7u);
  EXPECT_TRUE(got[0].is_ok());
  EXPECT_TRUE(got[1].is_error());
  EXPECT_EQ(got[1].as_string(), "ERR bad");
  EXPECT_EQ(got[2].as_integer(), 42);
  EXPECT_EQ(got[3].as_string(), std::string("he\0lo", 5));
  EXPECT_TRUE(got[4].is_nil());
  ASSERT_TRUE(got[5].is_array());
  EXPECT_EQ(got[5].at(0).as_integer(), 1);
  EXPECT_EQ(got[5].at(1).at(0).as_string(), "x");
  EXPECT_TRUE(got[5].at(2).is_nil());
  EXPECT_EQ(got[6].size(), 0u);
  EXPECT_TRUE(got[6].is_array());
}

TEST(RespReader, GarbageIsAProtocolError) {
  RespReader reader;
  const char junk[] = "?what is this\r\n";
  try {
    reader.feed(junk, sizeof junk - 1);
    while (reader.next()) {
    }
    FAIL() << "garbage accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Protocol);
  }
}

TEST(RespReader, BadLengthIsAProtocolError) {
  RespReader reader;
  const char junk[] = "$abc\r\n";
  reader.feed(junk, sizeof junk - 1);
  try {
    reader.next();
    FAIL() << "bad length accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Protocol);
  }
}

TEST(Reply, TypedAccessorsThrowProtocolOnMismatch) {
  Reply r = Reply::string("x");
  try {
    r.as_integer();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Protocol);
  }
  Reply a = Reply::array({Reply::integer(1)});
  EXPECT_THROW(a.at(1), Error);
  EXPECT_EQ(a.debug_string(), "[(integer) 1]");
  EXPECT_EQ(Reply::integer(3), Reply::integer(3));
  EXPECT_NE(Reply::integer(3), Reply::string("3"));
}

TEST(AppendCommand, BinarySafeAndAppends) {
  std::string out = "prefix";
  std::string bin("a\0\r\nb", 5);
  std::string_view args[] = {"SET", "k", bin, ""};
  append_command(out, args, 4);
  const char want[] = "prefix*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\0\r\nb\r\n$0\r\n\r\n";
  EXPECT_EQ(out, std::string(want, sizeof want - 1));
}

TEST(AppendCommand, ManyArgs) {
  std::vector<std::string> storage(100, "v");
  std::vector<std::string_view> args(storage.begin(), storage.end());
  std::string out;
  append_command(out, args.data(), args.size());
  EXPECT_EQ(out.rfind("*100\r\n", 0), 0u);
  EXPECT_EQ(out.size(), 6u + 100u * 7u);
}

TEST(Script, Sha1MatchesRedis) {
  // SCRIPT LOAD "return 1" answers this SHA1.
  EXPECT_EQ(Script("return 1").sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  Script a("return 1");
  Script b = a;
  EXPECT_EQ(&a.source(), &b.source());  // copies share the source
  EXPECT_THROW(Script(""), Error);
  EXPECT_FALSE(Script().valid());
}

}  // namespace
}  // namespace redkeeper

namespace redkeeper {
namespace {

TEST(AppendCommand, ByteIdenticalToHiredisFormatter) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    size_t argc = 1 + rng() % 12;
    std::vector<std::string> storage(argc);
    for (auto& a : storage) {
      size_t len = rng() % 3 == 0 ? rng() % 2000 : rng() % 16;
      for (size_t i = 0; i < len; ++i) a.push_back(static_cast<char>(rng() & 0xff));
    }
    std::vector<std::string_view> args(storage.begin(), storage.end());
    std::string ours = "x", theirs = "x";
    append_command(ours, args.data(), args.size());
    append_command_hiredis(theirs, args.data(), args.size());
    ASSERT_EQ(ours, theirs) << "round " << round;
  }
}

}  // namespace
}  // namespace redkeeper
