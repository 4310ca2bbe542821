// Key layout and Redis Cluster slot function, checked against values Redis itself reports.
#include <gtest/gtest.h>

#include "common/keys.hpp"

namespace redkeeper {
namespace {

TEST(Keys, Crc16MatchesXmodemCheckValue) { EXPECT_EQ(crc16_xmodem("123456789"), 0x31C3); }

TEST(Keys, SlotsMatchRedisClusterKeyslot) {
  // CLUSTER KEYSLOT values from a real Redis.
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot("123456789"), 0x31C3 % 16384);
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
}

TEST(Keys, HashTagFollowsRedisRules) {
  EXPECT_EQ(hash_tag("{user1000}.following"), "user1000");
  EXPECT_EQ(hash_tag("foo{}{bar}"), "foo{}{bar}");  // empty first tag: whole key
  EXPECT_EQ(hash_tag("foo{{bar}}zap"), "{bar");
  EXPECT_EQ(hash_tag("foo{bar}{zap}"), "bar");
  EXPECT_EQ(hash_tag("nobraces"), "nobraces");
  EXPECT_EQ(hash_tag("open{only"), "open{only");
}

TEST(Keys, LimiterLayoutPutsIdInHashTag) {
  EXPECT_EQ(limiter_key("rk", "login", "1.2.3.4"), "rk:limiter:login:{1.2.3.4}");
  EXPECT_EQ(limiter_block_key("rk", "login", "1.2.3.4"), "rk:limiter:login:{1.2.3.4}:block");
  EXPECT_EQ(key_slot(limiter_key("rk", "login", "u")), key_slot(limiter_block_key("rk", "login", "u")));
  EXPECT_EQ(key_slot(limiter_key("rk", "login", "u")), key_slot("u"));
}

}  // namespace
}  // namespace redkeeper
