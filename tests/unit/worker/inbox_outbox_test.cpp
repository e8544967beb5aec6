// Inbox and Outbox: the two places where a worker's threads meet.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "rs/worker/inbox.h"
#include "rs/worker/outbox.h"

namespace rs::worker {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

TEST(InboxTest, TakeTimesOutWhenEmptyAndReturnsAtOnceWithZeroTimeout) {
  Inbox inbox;
  auto t0 = Clock::now();
  EXPECT_TRUE(inbox.take(milliseconds(0)).empty());
  EXPECT_LT(Clock::now() - t0, milliseconds(50));
  t0 = Clock::now();
  EXPECT_TRUE(inbox.take(milliseconds(20)).empty());
  EXPECT_GE(Clock::now() - t0, milliseconds(15));
}

TEST(InboxTest, PostWakesASleepingTakeAndKeepsOrder) {
  Inbox inbox;
  std::thread poster([&] {
    std::this_thread::sleep_for(milliseconds(10));
    inbox.post(CancelCommand{"a"});
    inbox.post(StopCommand{StopMode::kDrain});
  });
  const auto t0 = Clock::now();
  std::vector<Command> got;
  while (got.size() < 2 && Clock::now() - t0 < milliseconds(5000)) {
    for (Command& c : inbox.take(milliseconds(5000))) got.push_back(std::move(c));
  }
  poster.join();
  EXPECT_LT(Clock::now() - t0, milliseconds(4000));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(std::get<CancelCommand>(got[0]).job_id, "a");
  EXPECT_EQ(std::get<StopCommand>(got[1]).mode, StopMode::kDrain);
  EXPECT_EQ(inbox.size(), 0u);
}

TEST(OutboxTest, TakeAllSwapsEverythingFromManyProducersInOrder) {
  Outbox outbox;
  constexpr int kPerDevice = 200;
  std::vector<std::thread> producers;
  for (int d = 0; d < 2; ++d) {
    producers.emplace_back([&outbox, d] {
      for (int i = 1; i <= kPerDevice; ++i) {
        StepBatch b;
        b.device = d;
        b.number = static_cast<uint64_t>(i);
        outbox.push(std::move(b));
      }
    });
  }
  std::vector<uint64_t> last(2, 0);
  int n = 0;
  const auto t0 = Clock::now();
  while (n < 2 * kPerDevice && Clock::now() - t0 < milliseconds(5000)) {
    for (const StepBatch& b : outbox.take_all()) {
      EXPECT_EQ(b.number, last[b.device] + 1);
      last[b.device] = b.number;
      ++n;
    }
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(n, 2 * kPerDevice);
  EXPECT_EQ(outbox.size(), 0u);
  EXPECT_TRUE(outbox.take_all().empty());
}

}  // namespace
}  // namespace rs::worker
