// Socket helpers over real sockets: endpoints, ROUTER_MANDATORY, MAXMSGSIZE, HWM,
// handover, the poller, the wake-up pair and a throughput sanity check (no timing asserts).
#include "rs/wire/socket.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "rs/schemas/frames.h"
#include "rs/wire/framing.h"
#include "rs/wire/poller.h"
#include "rs/wire/wakeup.h"
#include "wire_test_util.h"

namespace rs::wire {
namespace {

using testing::recv_within;
using testing::router_limits;
using testing::RouterDealer;

TEST(SocketTest, BindsEphemeralPortAndReadsEndpointBack) {
  RouterDealer link;
  const std::string prefix = "tcp://127.0.0.1:";
  ASSERT_EQ(link.endpoint.rfind(prefix, 0), 0u) << link.endpoint;
  const std::string port = link.endpoint.substr(prefix.size());
  EXPECT_NE(port, "*");
  EXPECT_GT(std::stoi(port), 0);

  // Binding the same port again fails with a Status, not an exception.
  auto other = make_router(link.context);
  ASSERT_TRUE(other.ok());
  auto again = bind_endpoint(*other, link.endpoint);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kIoError) << again.status().to_string();
  auto bad = bind_endpoint(*other, "nonsense://x");
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(connect_endpoint(*other, "tcp://").ok());
}

TEST(SocketTest, UnknownPeerIsUnroutable) {
  RouterDealer link;
  const auto frames = schemas::make_frames(schemas::Ping{1});
  EXPECT_EQ(send_frames(link.router, RoutingIds{"nobody"}, frames), SendStatus::kUnroutable);
  EXPECT_EQ(send_frames(link.router, RoutingIds{"nobody"}, frames, IoMode::kBlock),
            SendStatus::kUnroutable);
  // A known peer (after it said something) is routable.
  ASSERT_EQ(send_frames(link.dealer, frames), SendStatus::kSent);
  Received in = recv_within(link.router, router_limits());
  ASSERT_EQ(in.status, RecvStatus::kMessage);
  EXPECT_EQ(send_frames(link.router, in.envelope.routing, frames), SendStatus::kSent);
}

TEST(SocketTest, MaxMsgSizeDropsOversizePeerAndRouterKeepsServing) {
  RouterOptions options;
  options.max_msg_bytes = 1024;
  RouterDealer link("too-big", "tcp://127.0.0.1:*", options);
  schemas::Frames big{schemas::header_frame(), "\x01", std::string(8192, 'z')};
  ASSERT_EQ(send_frames(link.dealer, big), SendStatus::kSent);
  EXPECT_EQ(recv_within(link.router, router_limits(), 300).status, RecvStatus::kWouldBlock);

  // A fresh peer is still served.
  DealerOptions dealer_options;
  dealer_options.routing_id = "small";
  auto small = make_dealer(link.context, dealer_options);
  ASSERT_TRUE(small.ok());
  ASSERT_TRUE(connect_endpoint(*small, link.endpoint).ok());
  ASSERT_EQ(send_frames(*small, schemas::make_frames(schemas::Ping{3})), SendStatus::kSent);
  Received in = recv_within(link.router, router_limits(), 1500);
  ASSERT_EQ(in.status, RecvStatus::kMessage);
  EXPECT_EQ(in.envelope.routing, RoutingIds{"small"});
}

TEST(SocketTest, DealerWithoutPeerWouldBlock) {
  zmq::context_t context;
  auto dealer = make_dealer(context);
  ASSERT_TRUE(dealer.ok());
  EXPECT_EQ(send_frames(*dealer, schemas::Frames{"x"}), SendStatus::kWouldBlock);
}

TEST(SocketTest, FullPipeWouldBlock) {
  RouterOptions router_options;
  router_options.rcvhwm = 1;
  zmq::context_t context;
  auto router = make_router(context, router_options);
  ASSERT_TRUE(router.ok());
  ASSERT_TRUE(bind_endpoint(*router, "inproc://full-pipe").ok());
  DealerOptions dealer_options;
  dealer_options.sndhwm = 1;
  auto dealer = make_dealer(context, dealer_options);
  ASSERT_TRUE(dealer.ok());
  ASSERT_TRUE(connect_endpoint(*dealer, "inproc://full-pipe").ok());
  int n_sent = 0;
  SendStatus status = SendStatus::kSent;
  for (int i = 0; i < 10000 && status == SendStatus::kSent; ++i) {
    status = send_frames(*dealer, schemas::Frames{"x", "y"});
    if (status == SendStatus::kSent) ++n_sent;
  }
  EXPECT_EQ(status, SendStatus::kWouldBlock);
  EXPECT_GT(n_sent, 0);
  // Draining the router makes room again; the caller waits for POLLOUT, then sends.
  while (recv_frames(*router, router_limits()).status == RecvStatus::kMessage) {
  }
  Poller poller;
  const size_t index = poller.add(*dealer, ZMQ_POLLOUT);
  ASSERT_TRUE(poller.poll(1000).ok());
  EXPECT_TRUE(poller.writable(index));
  EXPECT_EQ(send_frames(*dealer, schemas::Frames{"x"}), SendStatus::kSent);
}

TEST(SocketTest, HandoverGivesTheIdToTheNewestPeer) {
  RouterDealer link("same-id");
  ASSERT_EQ(send_frames(link.dealer, schemas::Frames{"old"}), SendStatus::kSent);
  ASSERT_EQ(recv_within(link.router, router_limits()).status, RecvStatus::kMessage);

  DealerOptions options;
  options.routing_id = "same-id";
  auto newer = make_dealer(link.context, options);
  ASSERT_TRUE(newer.ok());
  ASSERT_TRUE(connect_endpoint(*newer, link.endpoint).ok());
  ASSERT_EQ(send_frames(*newer, schemas::Frames{"new"}), SendStatus::kSent);
  Received in = recv_within(link.router, router_limits());
  ASSERT_EQ(in.status, RecvStatus::kMessage);
  EXPECT_EQ(in.envelope.frames, schemas::Frames{"new"});

  ASSERT_EQ(send_frames(link.router, RoutingIds{"same-id"}, schemas::Frames{"hi"}),
            SendStatus::kSent);
  Received got = recv_within(*newer, RecvLimits{});
  ASSERT_EQ(got.status, RecvStatus::kMessage);
  EXPECT_EQ(got.envelope.frames, schemas::Frames{"hi"});
  EXPECT_EQ(recv_within(link.dealer, RecvLimits{}, 50).status, RecvStatus::kWouldBlock);
}

TEST(SocketTest, PollerTimesOutAndReportsReadable) {
  RouterDealer link;
  Poller poller;
  const size_t router_index = poller.add(link.router);
  const size_t dealer_index = poller.add(link.dealer, ZMQ_POLLIN | ZMQ_POLLOUT);
  Result<int> ready = poller.poll(0);
  ASSERT_TRUE(ready.ok());
  EXPECT_FALSE(poller.readable(router_index));
  poller.set_events(dealer_index, ZMQ_POLLIN);
  ready = poller.poll(20);
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(*ready, 0);

  ASSERT_EQ(send_frames(link.dealer, schemas::Frames{"x"}), SendStatus::kSent);
  ready = poller.poll(1000);
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(*ready, 1);
  EXPECT_TRUE(poller.readable(router_index));
  EXPECT_FALSE(poller.readable(dealer_index));
  EXPECT_FALSE(poller.readable(99));
}

TEST(SocketTest, WakeupPairWakesThePoll) {
  zmq::context_t context;
  auto pair = make_wakeup_pair(context);
  ASSERT_TRUE(pair.ok()) << pair.status().to_string();
  WakeupReceiver receiver = std::move(pair->receiver);
  WakeupSender sender = std::move(pair->sender);
  Poller poller;
  const size_t index = poller.add(receiver.socket());
  ASSERT_TRUE(poller.poll(0).ok());
  EXPECT_FALSE(poller.readable(index));

  std::thread engine([&sender] {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(sender.wake());  // coalesces past the HWM
  });
  Result<int> ready = poller.poll(2000);
  engine.join();
  ASSERT_TRUE(ready.ok());
  EXPECT_TRUE(poller.readable(index));
  const int n = receiver.drain();
  EXPECT_GE(n, 1);
  EXPECT_LE(n, 100);
  ASSERT_TRUE(poller.poll(0).ok());
  EXPECT_FALSE(poller.readable(index));
  EXPECT_EQ(receiver.drain(), 0);

  // A second pair gets its own unique inproc name.
  EXPECT_TRUE(make_wakeup_pair(context).ok());
  auto named = make_wakeup_pair(context, "named");
  ASSERT_TRUE(named.ok());
  EXPECT_FALSE(make_wakeup_pair(context, "named").ok());  // name in use: a Status
}

TEST(SocketTest, ClosedContextIsReportedNotThrown) {
  zmq::context_t context;
  auto router = make_router(context);
  ASSERT_TRUE(router.ok());
  context.shutdown();
  Received in = recv_frames(*router, router_limits(), IoMode::kBlock);
  EXPECT_EQ(in.status, RecvStatus::kClosed);
  EXPECT_EQ(send_frames(*router, RoutingIds{"x"}, schemas::Frames{"y"}), SendStatus::kClosed);
  Poller poller;
  poller.add(*router);
  EXPECT_FALSE(poller.poll(10).ok());
  EXPECT_FALSE(make_dealer(context).ok());
}

TEST(SocketTest, ThroughputSanity) {
  RouterDealer link;
  constexpr int kMessages = 20000;
  const auto frames = schemas::make_frames(schemas::Ping{5});
  const auto start = std::chrono::steady_clock::now();
  int n_sent = 0;
  int n_received = 0;
  while (n_received < kMessages) {
    while (n_sent < kMessages && send_frames(link.dealer, frames) == SendStatus::kSent) ++n_sent;
    Received in = recv_within(link.router, router_limits(), 1000);
    ASSERT_EQ(in.status, RecvStatus::kMessage) << "after " << n_received;
    ++n_received;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("ROUTER<-DEALER tcp: %d messages in %.3f s (%.0f msg/s)\n", kMessages, seconds,
              kMessages / seconds);
}

}  // namespace
}  // namespace rs::wire
