// Redis Cluster routing pieces that need no server: key slots (the Redis spec's vectors), topology
// parsing from literal CLUSTER SHARDS / CLUSTER SLOTS replies, and MOVED/ASK parsing.
#include <gtest/gtest.h>

#include "redis/cluster_slots.hpp"
#include "redkeeper/error.hpp"

namespace redkeeper {
namespace {

Reply s(const char* v) { return Reply::string(v); }
Reply i(int64_t v) { return Reply::integer(v); }
Reply arr(std::vector<Reply> v) { return Reply::array(std::move(v)); }

TEST(ClusterSlots, KeySlotVectorsFromTheRedisSpec) {
  EXPECT_EQ(crc16_xmodem("123456789"), 0x31C3);
  EXPECT_EQ(key_slot("123456789"), 0x31C3 % 16384);
  EXPECT_EQ(key_slot("123456789"), 12739);
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("foo{}{bar}"), crc16_xmodem("foo{}{bar}") % 16384);  // empty tag: whole key
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));                // tag is "{bar"
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));                 // first tag only
  EXPECT_EQ(key_slot("no-close{abc"), crc16_xmodem("no-close{abc") % 16384);
  EXPECT_EQ(key_slot(""), 0);
  // Values redis-server itself reports (CLUSTER KEYSLOT).
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot("hello"), 866);
}

// One shard entry as Redis 7 sends it over RESP2.
Reply shard(std::vector<int64_t> bounds, std::vector<Reply> nodes) {
  std::vector<Reply> b;
  for (int64_t v : bounds) b.push_back(i(v));
  return arr({s("slots"), arr(std::move(b)), s("nodes"), arr(std::move(nodes))});
}
Reply node(const char* id, int64_t port, const char* ip, const char* endpoint, const char* role, const char* health,
           int64_t tls_port = 0) {
  std::vector<Reply> f = {s("id"), s(id), s("port"), i(port)};
  if (tls_port != 0) {
    f.push_back(s("tls-port"));
    f.push_back(i(tls_port));
  }
  for (Reply r : {s("ip"), s(ip), s("endpoint"), s(endpoint), s("role"), s(role), s("replication-offset"), i(42),
                  s("health"), s(health)}) {
    f.push_back(std::move(r));
  }
  return arr(std::move(f));
}

TEST(ClusterSlots, ParsesClusterShards) {
  Reply reply = arr({
      shard({10923, 16383}, {node("c", 7002, "10.0.0.3", "10.0.0.3", "master", "online"),
                             node("f", 7005, "10.0.0.6", "10.0.0.6", "replica", "online")}),
      shard({0, 5460}, {node("a", 7000, "10.0.0.1", "node-a.local", "master", "online"),
                        node("d", 7003, "10.0.0.4", "10.0.0.4", "replica", "loading")}),
      shard({5461, 10000, 10001, 10922}, {node("b", 7001, "10.0.0.2", "?", "master", "online")}),
  });
  ClusterTopology t = parse_cluster_shards(reply, "seed-host", false);
  ASSERT_EQ(t.primaries.size(), 3u);
  // Ordered by lowest slot, whatever order the shards came in.
  EXPECT_EQ(t.primaries[0].host, "node-a.local");  // endpoint wins over ip
  EXPECT_EQ(t.primaries[0].port, 7000);
  EXPECT_EQ(t.primaries[0].id, "a");
  EXPECT_EQ(t.primaries[1].host, "10.0.0.2");      // endpoint "?" falls back to ip
  EXPECT_EQ(t.primaries[2].port, 7002);
  EXPECT_EQ(t.slot_owner[0], 0);
  EXPECT_EQ(t.slot_owner[5460], 0);
  EXPECT_EQ(t.slot_owner[5461], 1);
  EXPECT_EQ(t.slot_owner[10922], 1);
  EXPECT_EQ(t.slot_owner[10923], 2);
  EXPECT_EQ(t.slot_owner[16383], 2);
  EXPECT_EQ(t.covered_slots(), 16384u);
  ASSERT_EQ(t.replicas.size(), 1u);  // the loading replica is left out
  EXPECT_EQ(t.replicas[0].port, 7005);
  EXPECT_EQ(t.primaries[0].key(), "node-a.local:7000");
}

TEST(ClusterSlots, ShardsAfterAFailoverPickTheHealthyPrimaryAndTlsPorts) {
  Reply reply = arr({shard({0, 16383}, {node("old", 7000, "10.0.0.1", "", "master", "fail", 8000),
                                        node("new", 7003, "", "", "master", "online", 8003)})});
  ClusterTopology plain = parse_cluster_shards(reply, "asked", false);
  ASSERT_EQ(plain.primaries.size(), 1u);
  EXPECT_EQ(plain.primaries[0].id, "new");
  EXPECT_EQ(plain.primaries[0].host, "asked");  // no ip/endpoint: the node we asked
  EXPECT_EQ(plain.primaries[0].port, 7003);
  ClusterTopology tls = parse_cluster_shards(reply, "asked", true);
  EXPECT_EQ(tls.primaries[0].port, 8003);
}

TEST(ClusterSlots, PartialCoverageLeavesSlotsUnowned) {
  Reply reply = arr({shard({100, 200}, {node("a", 7000, "h", "h", "master", "online")}),
                     shard({}, {node("e", 7009, "h", "h", "master", "online")})});  // no slots: not routed to
  ClusterTopology t = parse_cluster_shards(reply, "x", false);
  ASSERT_EQ(t.primaries.size(), 1u);
  EXPECT_EQ(t.slot_owner[99], -1);
  EXPECT_EQ(t.slot_owner[100], 0);
  EXPECT_EQ(t.slot_owner[201], -1);
  EXPECT_EQ(t.covered_slots(), 101u);
}

TEST(ClusterSlots, RejectsMalformedShards) {
  for (const Reply& bad : {s("nope"), arr({s("slots")}), arr({shard({0}, {node("a", 1, "h", "h", "master", "online")})}),
                           arr({shard({0, 20000}, {node("a", 1, "h", "h", "master", "online")})}),
                           arr({shard({0, 1}, {arr({s("id"), s("a"), s("role"), s("master")})})})}) {
    try {
      parse_cluster_shards(bad, "h", false);
      ADD_FAILURE() << "accepted " << bad.debug_string();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::Protocol) << e.what();
    }
  }
}

TEST(ClusterSlots, ParsesClusterSlots) {
  Reply reply = arr({
      arr({i(5461), i(10922), arr({s("10.0.0.2"), i(7001), s("b")}), arr({s("10.0.0.5"), i(7004), s("e")})}),
      arr({i(0), i(5460), arr({s(""), i(7000), s("a")})}),
      arr({i(10923), i(16383), arr({s("10.0.0.3"), i(7002)})}),
      arr({i(12000), i(12000), arr({s("10.0.0.2"), i(7001), s("b")})}),  // a node with two ranges
  });
  ClusterTopology t = parse_cluster_slots(reply, "seed");
  ASSERT_EQ(t.primaries.size(), 3u);
  EXPECT_EQ(t.primaries[0].host, "seed");
  EXPECT_EQ(t.primaries[1].port, 7001);
  EXPECT_EQ(t.slot_owner[12000], 1);
  EXPECT_EQ(t.slot_owner[12001], 2);
  ASSERT_EQ(t.replicas.size(), 1u);
  EXPECT_EQ(t.replicas[0].port, 7004);
  EXPECT_THROW(parse_cluster_slots(arr({arr({i(0), i(1)})}), "h"), Error);
}

TEST(ClusterSlots, ParsesRedirects) {
  Redirect r;
  ASSERT_TRUE(parse_redirect("MOVED 3999 127.0.0.1:6381", "x", r));
  EXPECT_FALSE(r.ask);
  EXPECT_EQ(r.slot, 3999);
  EXPECT_EQ(r.target.host, "127.0.0.1");
  EXPECT_EQ(r.target.port, 6381);
  ASSERT_TRUE(parse_redirect("ASK 0 :7000", "replier", r));
  EXPECT_TRUE(r.ask);
  EXPECT_EQ(r.target.host, "replier");
  ASSERT_TRUE(parse_redirect("MOVED 16383 ::1:7001", "x", r));
  EXPECT_EQ(r.target.host, "::1");
  EXPECT_EQ(r.target.key(), "[::1]:7001");
  for (const char* bad : {"ERR nope", "MOVED", "MOVED 16384 h:1", "MOVED x h:1", "ASK 1 h", "ASK 1 h:0", "MOVED 1 h:70000"}) {
    EXPECT_FALSE(parse_redirect(bad, "x", r)) << bad;
  }
}

}  // namespace
}  // namespace redkeeper
