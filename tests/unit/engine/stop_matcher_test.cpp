#include "../../../engine/src/runtime/stop_matcher.h"

#include <gtest/gtest.h>

namespace rs::engine {
namespace {

TEST(StopMatcherTest, NoStopsPassesThrough) {
  StopMatcher m({});
  bool stopped = true;
  EXPECT_EQ(m.push("hello", &stopped), "hello");
  EXPECT_FALSE(stopped);
}

TEST(StopMatcherTest, HoldsPossiblePrefixUntilDecided) {
  StopMatcher m({"END"});
  bool stopped = false;
  EXPECT_EQ(m.push("abc E", &stopped), "abc ");
  EXPECT_EQ(m.push("N", &stopped), "");
  EXPECT_EQ(m.push("x", &stopped), "ENx");  // not a stop after all
  EXPECT_FALSE(stopped);
  EXPECT_EQ(m.push("E", &stopped), "");
  EXPECT_EQ(m.flush(), "E");
}

TEST(StopMatcherTest, StopAcrossPiecesCutsBeforeIt) {
  StopMatcher m({"\n\n", "The end"});
  bool stopped = false;
  EXPECT_EQ(m.push("once. The e", &stopped), "once. ");
  EXPECT_EQ(m.push("nd of it", &stopped), "");
  EXPECT_TRUE(stopped);
}

TEST(StopMatcherTest, EarliestStopWins) {
  StopMatcher m({"cd", "b"});
  bool stopped = false;
  EXPECT_EQ(m.push("abcd", &stopped), "a");
  EXPECT_TRUE(stopped);
}

}  // namespace
}  // namespace rs::engine
