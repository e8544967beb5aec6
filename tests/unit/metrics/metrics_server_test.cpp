// The metrics HTTP endpoint: request parsing (pure) and a real socket round trip.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "rs/metrics/metrics_server.h"

namespace rs::metrics {
namespace {

std::optional<HttpAnswer> ask(std::string_view head, const Registry& r, const ReadinessFn& ready = {}) {
  return answer_request(head, r, ready);
}

TEST(MetricsServerRequest, RoutesMetricsHealthAndReadiness) {
  Registry r;
  r.counter("x_total", "X").with().inc();
  auto m = ask("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", r);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->status, 200);
  EXPECT_EQ(m->content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(m->body.find("x_total 1\n"), std::string::npos);
  auto h = ask("GET /healthz HTTP/1.0\r\n\r\n", r);
  EXPECT_EQ(h->status, 200);
  Readiness state{.ready = false, .reason = "redis_down", .detail = "no answer"};
  auto not_ready = ask("GET /readyz HTTP/1.1\r\n\r\n", r, [&] { return state; });
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_NE(not_ready->body.find("\"reason\":\"redis_down\""), std::string::npos);
  state.ready = true;
  EXPECT_EQ(ask("GET /readyz?verbose=1 HTTP/1.1\r\n\r\n", r, [&] { return state; })->status, 200);
}

TEST(MetricsServerRequest, RefusesBadInputWithTypedErrors) {
  Registry r;
  EXPECT_FALSE(ask("GET /metrics HTTP/1.1\r\nHost: a\r\n", r).has_value());  // incomplete
  EXPECT_EQ(ask("GET /nope HTTP/1.1\r\n\r\n", r)->status, 404);
  EXPECT_EQ(ask("POST /metrics HTTP/1.1\r\n\r\n", r)->status, 405);
  EXPECT_EQ(ask("GARBAGE\r\n\r\n", r)->status, 400);
  EXPECT_EQ(ask("GET /metrics SPDY/3\r\n\r\n", r)->status, 400);
  EXPECT_EQ(ask("GET metrics HTTP/1.1\r\n\r\n", r)->status, 400);
  EXPECT_EQ(ask(std::string(kMaxRequestHeadBytes, 'a'), r)->status, 431);
  auto head = ask("HEAD /healthz HTTP/1.1\r\n\r\n", r);
  EXPECT_TRUE(head->head_only);
  EXPECT_EQ(format_response(*head).find("ok"), std::string::npos);
}

std::string http_get(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);  // the request is whole (the server still answers)
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

TEST(MetricsServerSocket, ServesOverRealSockets) {
  Registry r;
  auto& c = r.counter("served_total", "S").with();
  c.inc(5);
  std::atomic<bool> ready{false};
  auto server = MetricsServer::start({}, r, [&] {
    return ready ? Readiness{} : Readiness{.ready = false, .reason = "no_devices"};
  });
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);
  const std::string m = http_get(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(m.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << m;
  EXPECT_NE(m.find("served_total 5\n"), std::string::npos);
  EXPECT_NE(http_get(port, "GET /readyz HTTP/1.1\r\n\r\n").find("503"), std::string::npos);
  ready = true;
  EXPECT_NE(http_get(port, "GET /readyz HTTP/1.1\r\n\r\n").find("200 OK"), std::string::npos);
  // Garbage, an oversized head and a client that sends nothing and leaves: answered or
  // dropped, and the server goes on.
  EXPECT_NE(http_get(port, "\x01\x02\x03\r\n\r\n").find("400"), std::string::npos);
  EXPECT_NE(http_get(port, std::string(20000, 'x')).find("431"), std::string::npos);
  EXPECT_EQ(http_get(port, ""), "");
  EXPECT_NE(http_get(port, "GET /healthz HTTP/1.1\r\n\r\n").find("200 OK"), std::string::npos);
  EXPECT_GE((*server)->requests(), 6u);
}

TEST(MetricsServerSocket, ABusyPortIsAClearError) {
  Registry r;
  auto first = MetricsServer::start({}, r, {});
  ASSERT_TRUE(first.ok());
  auto second = MetricsServer::start({.port = (*first)->port()}, r, {});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen"), std::string::npos);
  auto bad = MetricsServer::start({.host = "not-an-ip"}, r, {});
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace rs::metrics
