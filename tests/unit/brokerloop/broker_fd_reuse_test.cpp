// Peers are told apart by their connection's descriptor (issue 14). When a client goes and
// a new one's connection gets the same descriptor before the old one's drop event is read,
// that drop is the old client's: the new client's streaming job must run on. The loop is
// driven by hand so the drop event and the new client's SUBMIT are read in one turn.
// Real BrokerLoop, Redis and DEALER peers over TCP.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "broker_fixture.h"

namespace rs::broker::testing {
namespace fd_reuse_test {

class BrokerFdReuseTest : public BrokerLoopTest {
 protected:
  // Turns the loop until `done` or about 2 s passed.
  template <class F>
  bool turn_until(F&& done) {
    for (int i = 0; i < 200; ++i) {
      if (!loop_->run_once(10).ok()) return false;
      if (done()) return true;
    }
    return false;
  }
};

TEST_F(BrokerFdReuseTest, ADropReadWithANewClientsFirstMessageIsNotThatClients) {
  start_broker_with(BrokerOptions{}, /*threaded=*/false);
  Peer w(ctx_, loop_->worker_endpoint(), "w1");
  w.set_skip_heartbeats(false);
  w.send(sc::WorkerReady{.worker_id = "w1",
                         .devices = {sc::DeviceInfo{.index = 0, .models = {"m"}, .max_slots = 4}}});
  ASSERT_TRUE(turn_until([&] { return w.recv(0).has_value(); }));
  w.set_skip_heartbeats(true);
  for (int round = 0; round < 8; ++round) {
    auto a = client("a" + std::to_string(round));
    a->send(sc::Ping{.request_id = 1});
    ASSERT_TRUE(turn_until([&] { return a->recv(0).has_value(); }));
    a.reset();  // its connection closes; the broker's drop event waits in the monitor
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto b = client("b" + std::to_string(round));
    auto request = submit(2);
    request.stream = true;
    b->send(request);  // likely on a's descriptor, read in the same turn as a's drop
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::optional<sc::Accepted> accepted;
    ASSERT_TRUE(turn_until([&] {
      auto m = b->recv(0);
      if (m && std::holds_alternative<sc::Accepted>(*m)) accepted = std::get<sc::Accepted>(*m);
      return accepted.has_value();
    }));
    std::optional<sc::Dispatch> dispatch;
    ASSERT_TRUE(turn_until([&] {
      auto m = w.recv(0);
      if (m && std::holds_alternative<sc::Dispatch>(*m)) dispatch = std::get<sc::Dispatch>(*m);
      return dispatch.has_value();
    }));
    w.send(sc::WorkerTokens{.entries = tokens(accepted->job_id, 1, 0, 2)});
    w.send(sc::WorkerDone{.job_id = accepted->job_id,
                          .attempt = 1,
                          .device = 0,
                          .usage = sc::Usage{.completion_tokens = 2},
                          .finish_reason = "length"});
    std::optional<sc::Done> done;
    ASSERT_TRUE(turn_until([&] {
      while (auto m = b->recv(0)) {
        if (auto* d = std::get_if<sc::Done>(&*m)) done = *d;
      }
      return done.has_value();
    }));
    EXPECT_EQ(done->record.state, sc::JobState::kSucceeded) << "round " << round;
  }
  EXPECT_EQ(loop_->counters().submitters_gone.load(), 0u)
      << "a new client's job was cancelled for an old client's drop";
}

}  // namespace fd_reuse_test
}  // namespace rs::broker::testing
