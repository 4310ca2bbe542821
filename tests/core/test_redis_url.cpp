// Redis URL parsing: every accepted form, every rejection (InvalidArgument naming `url`), and
// random garbage that must never crash or throw anything else.
#include <gtest/gtest.h>

#include <random>

#include "redis/url.hpp"
#include "redkeeper/client.hpp"

namespace redkeeper {
namespace {

// parse_redis_url(url) must throw InvalidArgument with a message starting "url:".
void expect_rejected(const char* url) {
  try {
    parse_redis_url(url);
    ADD_FAILURE() << "accepted: " << url;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << url;
    EXPECT_EQ(std::string(e.what()).rfind("url:", 0), 0u) << url << " -> " << e.what();
  }
}

TEST(RedisUrl, PlainHostPortDb) {
  RedisUrl u = parse_redis_url("redis://example.com:6380/3");
  EXPECT_EQ(u.transport, RedisTransport::Tcp);
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, 6380);
  EXPECT_EQ(u.db, 3);
  EXPECT_TRUE(u.user.empty());
  EXPECT_TRUE(u.password.empty());
}

TEST(RedisUrl, Defaults) {
  RedisUrl u = parse_redis_url("redis://127.0.0.1");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 6379);
  EXPECT_EQ(u.db, 0);
  EXPECT_EQ(parse_redis_url("redis://").host, "localhost");
  EXPECT_EQ(parse_redis_url("redis://h/").db, 0);
}

TEST(RedisUrl, PasswordOnlyAndAclUser) {
  RedisUrl a = parse_redis_url("redis://:s3cret@h:1");
  EXPECT_EQ(a.user, "");
  EXPECT_EQ(a.password, "s3cret");
  RedisUrl b = parse_redis_url("redis://alice:pw@h");
  EXPECT_EQ(b.user, "alice");
  EXPECT_EQ(b.password, "pw");
}

TEST(RedisUrl, PercentDecodingOfCredentials) {
  RedisUrl u = parse_redis_url("redis://us%40er:p%3Aa%2Fss%25@h:2");
  EXPECT_EQ(u.user, "us@er");
  EXPECT_EQ(u.password, "p:a/ss%");
  // '@' inside the password, unencoded: the last '@' separates credentials from the host.
  EXPECT_EQ(parse_redis_url("redis://:a@b@h").password, "a@b");
}

TEST(RedisUrl, Ipv6) {
  RedisUrl u = parse_redis_url("redis://[::1]:7000/2");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 7000);
  EXPECT_EQ(u.db, 2);
  EXPECT_EQ(parse_redis_url("rediss://[fe80::1]").port, 6379);
}

TEST(RedisUrl, Tls) {
  RedisUrl u = parse_redis_url("rediss://:pw@cache.internal:6380");
  EXPECT_EQ(u.transport, RedisTransport::Tls);
  EXPECT_EQ(u.host, "cache.internal");
}

TEST(RedisUrl, UnixSocketWithQuery) {
  RedisUrl u = parse_redis_url("unix:///run/redis/redis.sock?db=4&password=p%20w&user=bob");
  EXPECT_EQ(u.transport, RedisTransport::Unix);
  EXPECT_EQ(u.path, "/run/redis/redis.sock");
  EXPECT_EQ(u.db, 4);
  EXPECT_EQ(u.password, "p w");
  EXPECT_EQ(u.user, "bob");
}

TEST(RedisUrl, QueryOnTcp) {
  RedisUrl u = parse_redis_url("redis://h:1?db=5&password=x");
  EXPECT_EQ(u.db, 5);
  EXPECT_EQ(u.password, "x");
}

TEST(RedisUrl, RedactedUrlHidesPassword) {
  std::string r = redacted_url(parse_redis_url("redis://alice:topsecret@h:1/2"));
  EXPECT_EQ(r.find("topsecret"), std::string::npos);
  EXPECT_EQ(r, "redis://alice:***@h:1/2");
  EXPECT_EQ(redacted_url(parse_redis_url("redis://[::1]:5")), "redis://[::1]:5");
}

TEST(RedisUrl, RejectsBadInputNamingUrl) {
  const char* bad[] = {
      "http://h",             "redis//h",          "redis://h:0",          "redis://h:65536",
      "redis://h:-1",         "redis://h:12ab",    "redis://h:",           "redis://h/abc",
      "redis://h/-1",         "redis://h/1/2",     "redis://[::1",         "redis://[zz]:1",
      "redis://[::1]x",       "redis://h#frag",    "redis://user@h",       "redis://u:@h",
      "redis://h h",          "redis://h\n",       "redis://h?db",         "redis://h?foo=1",
      "redis://p%zz:x@h",     "redis://:pw%4@h",   "unix://",              "unix://relative.sock",
      "unix:///",             "redis://h?db=x",    "redis://ho$t",         "redis://h/99999999999",
      "unix:///s.sock?user=u",
  };
  for (const char* url : bad) expect_rejected(url);
}

TEST(RedisUrl, RejectsOverlongUnixPathAndUrl) {
  EXPECT_THROW(parse_redis_url("unix:///" + std::string(200, 'a')), Error);
  EXPECT_THROW(parse_redis_url("redis://" + std::string(5000, 'a')), Error);
}

TEST(RedisUrl, GarbageNeverCrashes) {
  std::mt19937 rng(12345);
  const std::string prefixes[] = {"redis://", "rediss://", "unix://", "", "redis+cluster://", "rediss+cluster://"};
  const char alphabet[] = "abc:/@[]?=&%0123456789.-_#,\x01\xff ";
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string url = prefixes[rng() % 6];
    size_t len = rng() % 40;
    for (size_t j = 0; j < len; ++j) url.push_back(alphabet[rng() % (sizeof alphabet - 1)]);
    try {
      RedisUrl u = parse_redis_url(url);
      ++accepted;
      // Whatever was accepted is self-consistent.
      if (u.transport == RedisTransport::Unix) {
        EXPECT_EQ(u.path[0], '/');
      } else {
        EXPECT_FALSE(u.host.empty());
        EXPECT_GT(u.port, 0);
      }
      EXPECT_GE(u.db, 0);
      if (u.cluster) {
        EXPECT_EQ(u.db, 0);
        ASSERT_FALSE(u.seeds.empty());
        EXPECT_EQ(u.seeds[0].first, u.host);
      }
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::InvalidArgument) << url;
    }
  }
  EXPECT_GT(accepted, 0);
}

TEST(RedisUrl, ClusterSeeds) {
  RedisUrl u = parse_redis_url("redis+cluster://:pw@10.0.0.1:7000,node-b:7001,[::1]:7002,node-c");
  EXPECT_TRUE(u.cluster);
  EXPECT_EQ(u.transport, RedisTransport::Tcp);
  ASSERT_EQ(u.seeds.size(), 4u);
  EXPECT_EQ(u.seeds[0], (std::pair<std::string, uint16_t>{"10.0.0.1", 7000}));
  EXPECT_EQ(u.seeds[1], (std::pair<std::string, uint16_t>{"node-b", 7001}));
  EXPECT_EQ(u.seeds[2], (std::pair<std::string, uint16_t>{"::1", 7002}));
  EXPECT_EQ(u.seeds[3], (std::pair<std::string, uint16_t>{"node-c", 6379}));
  EXPECT_EQ(u.host, "10.0.0.1");
  EXPECT_EQ(u.port, 7000);
  EXPECT_EQ(u.password, "pw");
  EXPECT_EQ(u.db, 0);
  EXPECT_EQ(redacted_url(u), "redis+cluster://:***@10.0.0.1:7000,node-b:7001,[::1]:7002,node-c:6379");

  RedisUrl t = parse_redis_url("rediss+cluster://alice:pw@h1:1,h2:2/0?user=bob");
  EXPECT_TRUE(t.cluster);
  EXPECT_EQ(t.transport, RedisTransport::Tls);
  EXPECT_EQ(t.user, "bob");
  EXPECT_EQ(redacted_url(t), "rediss+cluster://bob:***@h1:1,h2:2");

  RedisUrl one = parse_redis_url("redis+cluster://h");
  ASSERT_EQ(one.seeds.size(), 1u);
  EXPECT_EQ(one.port, 6379);
  EXPECT_FALSE(parse_redis_url("redis://h:1").cluster);
  EXPECT_TRUE(parse_redis_url("redis://h:1").seeds.empty());
}

TEST(RedisUrl, ClusterRejectsDbAndBadSeeds) {
  const char* bad[] = {"redis+cluster://h:1/1",     "redis+cluster://h:1?db=2",  "rediss+cluster://h:1/3",
                       "redis+cluster://h:1,",      "redis+cluster://,h:1",      "redis+cluster://h:1,,h:2",
                       "redis+cluster://h:1,h:0",   "redis+cluster://h:1,h h:2", "redis+cluster//h",
                       "unix+cluster:///s.sock"};
  for (const char* url : bad) expect_rejected(url);
  try {
    parse_redis_url("redis+cluster://h:1/2");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("database 0"), std::string::npos) << e.what();
  }
}

TEST(RedisUrl, ClusterOptionMakesASeedList) {
  RedisUrl u = parse_redis_url("rediss://h:7000");
  make_cluster_url(u);
  EXPECT_TRUE(u.cluster);
  ASSERT_EQ(u.seeds.size(), 1u);
  EXPECT_EQ(u.seeds[0].second, 7000);
  EXPECT_EQ(redacted_url(u), "rediss+cluster://h:7000");
  RedisUrl db = parse_redis_url("redis://h:7000/2");
  EXPECT_THROW(make_cluster_url(db), Error);
  RedisUrl unix_url = parse_redis_url("unix:///tmp/r.sock");
  EXPECT_THROW(make_cluster_url(unix_url), Error);
  // Through Client::open: the `cluster` option with a unix:// URL or a db is an InvalidArgument.
  ClientOptions opts;
  opts.cluster = true;
  for (const char* url : {"unix:///tmp/r.sock", "redis://127.0.0.1:1/3"}) {
    try {
      Client::open(url, opts);
      ADD_FAILURE() << "accepted: " << url;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << url;
    }
  }
}

TEST(RedisUrl, ClientOpenRejectsBadRedisUrl) {
  try {
    Client::open("redis://h:99999");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  }
}

TEST(ClientOpen, MemoryWithTheClusterOptionIsRefusedNamingCluster) {
  ClientOptions options;
  options.cluster = true;
  try {
    Client::open("memory://", options);
    ADD_FAILURE() << "memory:// accepted cluster = true";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_EQ(std::string(e.what()).rfind("cluster:", 0), 0u) << e.what();
  }
  options.cluster = false;
  auto client = Client::open("memory://", options);
  ASSERT_TRUE(client);
  client->close();
}

}  // namespace
}  // namespace redkeeper
