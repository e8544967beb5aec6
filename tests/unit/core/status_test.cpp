#include <gtest/gtest.h>

#include "rs/core/clock.h"
#include "rs/core/result.h"

namespace {

rs::Result<int> half(int x) {
  if (x % 2 != 0) return rs::invalid_argument("odd");
  return x / 2;
}

rs::Status quarter(int x, int* out) {
  RS_ASSIGN_OR_RETURN(int h, half(x));
  RS_ASSIGN_OR_RETURN(int q, half(h));
  *out = q;
  return {};
}

TEST(Status, OkAndError) {
  EXPECT_TRUE(rs::Status().ok());
  rs::Status s = rs::corrupt("bad offset");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.to_string(), "corrupt: bad offset");
}

TEST(Result, PropagatesErrors) {
  int out = 0;
  EXPECT_TRUE(quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  rs::Status s = quarter(6, &out);
  EXPECT_EQ(s.code(), rs::StatusCode::kInvalidArgument);
}

TEST(ManualClock, Advances) {
  rs::ManualClock clock;
  double t0 = clock.now_ms();
  clock.advance_ms(5);
  EXPECT_DOUBLE_EQ(clock.now_ms() - t0, 5.0);
}

}  // namespace
