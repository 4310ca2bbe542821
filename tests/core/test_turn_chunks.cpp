// TurnChunks: the bindings' count of a corked turn's ops (a chunk is sent when the op after it begins).
#include <gtest/gtest.h>

#include "redkeeper/turn_chunks.hpp"

namespace redkeeper {
namespace {

TEST(TurnChunks, TheOpAfterEachFullChunkSendsIt) {
  TurnChunks chunks;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < TurnChunks::kOpsPerWrite; ++i) {
      // The first op of a turn finds nothing to send; later chunks begin with the op that sent the
      // previous one, so they too hold kOpsPerWrite ops.
      EXPECT_EQ(chunks.next(), round > 0 && i == 0) << "round " << round << " op " << i;
    }
  }
  chunks.reset();  // the turn ended: a new one starts counting from zero
  for (int i = 0; i < TurnChunks::kOpsPerWrite; ++i) EXPECT_FALSE(chunks.next()) << i;
  EXPECT_TRUE(chunks.next());
}

}  // namespace
}  // namespace redkeeper
