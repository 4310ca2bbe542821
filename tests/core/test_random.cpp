// The primitives' buffered CSPRNG: well-formed, never repeating, and never shared across a fork.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/random.hpp"

namespace redkeeper {
namespace {

TEST(Random, HexTokensHaveTheAskedLengthAndNeverRepeat) {
  std::set<std::string> seen;
  // Many times the per-thread buffer, so refills are crossed too.
  for (int i = 0; i < 20000; ++i) {
    const std::string token = random_hex(16);
    ASSERT_EQ(token.size(), 32u);
    ASSERT_EQ(token.find_first_not_of("0123456789abcdef"), std::string::npos) << token;
    ASSERT_TRUE(seen.insert(token).second) << "repeated " << token;
  }
  EXPECT_EQ(random_hex(100).size(), 200u);  // longer than one internal chunk
}

TEST(Random, LargeDrawsBypassingTheBufferAreRandomToo) {
  std::vector<unsigned char> a(4096), b(4096);
  random_bytes(a.data(), a.size());
  random_bytes(b.data(), b.size());
  EXPECT_NE(a, b);
}

TEST(Random, ThreadsDrawDifferentBytes) {
  std::vector<std::string> got(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&got, t] {
      for (int i = 0; i < 200; ++i) got[t] += random_hex(16);
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> tokens;
  for (const auto& all : got) {
    for (size_t i = 0; i < all.size(); i += 32) EXPECT_TRUE(tokens.insert(all.substr(i, 32)).second);
  }
}

// A forked child inherits the parent's buffer; drawing from it would hand both processes the same
// "random" token (two lock owners, two session ids alike).
TEST(Random, AForkedChildDoesNotReuseTheParentsBuffer) {
  (void)random_hex(16);  // the buffer is now filled, with bytes left
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string child = random_hex(16);
    const ssize_t n = ::write(fds[1], child.data(), child.size());
    ::_exit(n == static_cast<ssize_t>(child.size()) ? 0 : 1);
  }
  ::close(fds[1]);
  const std::string parent = random_hex(16);
  char buf[32];
  size_t got = 0;
  while (got < sizeof buf) {
    const ssize_t n = ::read(fds[0], buf + got, sizeof buf - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(got, sizeof buf);
  EXPECT_NE(std::string(buf, sizeof buf), parent);
}

}  // namespace
}  // namespace redkeeper
