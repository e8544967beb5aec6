// Heartbeat timing and reconnect backoff, driven by a ManualClock.
#include "rs/wire/heartbeat.h"

#include <gtest/gtest.h>

namespace rs::wire {
namespace {

TEST(HeartbeatTest, FirstBeatDueAtOnceThenEveryInterval) {
  ManualClock clock;
  Heartbeat beat(clock);
  EXPECT_TRUE(beat.send_due());
  beat.on_sent();
  EXPECT_FALSE(beat.send_due());
  EXPECT_EQ(beat.ms_until_next_event(), 1000);
  clock.advance_ms(999);
  EXPECT_FALSE(beat.send_due());
  EXPECT_EQ(beat.ms_until_next_event(), 1);
  clock.advance_ms(1);
  EXPECT_TRUE(beat.send_due());
  EXPECT_EQ(beat.ms_until_next_event(), 0);
}

TEST(HeartbeatTest, PeerDeadAfterThreeMissedBeats) {
  ManualClock clock;
  Heartbeat beat(clock);
  EXPECT_FALSE(beat.peer_dead());
  clock.advance_ms(2999);
  EXPECT_EQ(beat.missed(), 2);
  EXPECT_FALSE(beat.peer_dead());
  clock.advance_ms(1);
  EXPECT_EQ(beat.missed(), 3);
  EXPECT_TRUE(beat.peer_dead());
}

TEST(HeartbeatTest, AnyInboundMessageResetsLiveness) {
  ManualClock clock;
  Heartbeat beat(clock, HeartbeatOptions{100, 2});
  clock.advance_ms(150);
  EXPECT_EQ(beat.missed(), 1);
  beat.on_received();
  EXPECT_EQ(beat.missed(), 0);
  clock.advance_ms(199);
  EXPECT_FALSE(beat.peer_dead());
  clock.advance_ms(1);
  EXPECT_TRUE(beat.peer_dead());
  beat.reset();
  EXPECT_FALSE(beat.peer_dead());
  EXPECT_TRUE(beat.send_due());
}

TEST(HeartbeatTest, PollTimeoutIsTheEarlierOfSendAndDeath) {
  ManualClock clock;
  Heartbeat beat(clock, HeartbeatOptions{1000, 3});
  beat.on_sent();
  clock.advance_ms(2500);  // peer silent for 2.5 s; dead at 3 s
  beat.on_sent();          // next send at 3.5 s
  EXPECT_EQ(beat.ms_until_next_event(), 500);
  clock.advance_ms(0.5);  // sub-millisecond remainders round up
  EXPECT_EQ(beat.ms_until_next_event(), 500);
}

TEST(HeartbeatTest, NonsenseOptionsAreClamped) {
  ManualClock clock;
  Heartbeat beat(clock, HeartbeatOptions{0, 0});
  EXPECT_EQ(beat.options().interval_ms, 1);
  EXPECT_EQ(beat.options().missed_beats, 1);
  clock.advance_ms(1);
  EXPECT_TRUE(beat.peer_dead());
}

TEST(BackoffTest, DoublesUpToMaxAndResets) {
  Backoff backoff(BackoffOptions{100, 1000});
  EXPECT_EQ(backoff.peek_delay_ms(), 100);
  EXPECT_EQ(backoff.next_delay_ms(), 100);
  EXPECT_EQ(backoff.next_delay_ms(), 200);
  EXPECT_EQ(backoff.next_delay_ms(), 400);
  EXPECT_EQ(backoff.next_delay_ms(), 800);
  EXPECT_EQ(backoff.next_delay_ms(), 1000);
  EXPECT_EQ(backoff.next_delay_ms(), 1000);
  EXPECT_EQ(backoff.attempts(), 6);
  backoff.reset();
  EXPECT_EQ(backoff.attempts(), 0);
  EXPECT_EQ(backoff.next_delay_ms(), 100);
}

TEST(BackoffTest, DefaultsAndClamping) {
  Backoff defaults;
  EXPECT_EQ(defaults.next_delay_ms(), 100);
  Backoff odd(BackoffOptions{0, -5});
  EXPECT_EQ(odd.next_delay_ms(), 1);
  EXPECT_EQ(odd.next_delay_ms(), 1);
}

}  // namespace
}  // namespace rs::wire
