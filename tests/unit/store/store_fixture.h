// A redis-server shared by the tests of one binary, and a unique key prefix per test.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "redis_server.h"
#include "rs/store/redis_connection.h"

namespace rs::store {

class StoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::RedisServer::available()) return;
    server_ = std::make_unique<test::RedisServer>();
    if (!server_->start()) server_.reset();
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    if (!server_) {
      if (std::getenv("CI") != nullptr && std::string(std::getenv("CI")) == "true") {
        FAIL() << "redis-server not available";
      }
      GTEST_SKIP() << "redis-server not available";
    }
    if (!server_->running()) {
      ASSERT_TRUE(server_->start());
    }
    RedisOptions o;
    o.port = server_->port();
    o.reconnect_interval_ms = 20;
    conn_ = std::make_unique<RedisConnection>(o);
    ASSERT_TRUE(conn_->connect().ok());
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    prefix_ = std::string("t:") + info->test_suite_name() + "." + info->name() + ":";
  }

  static inline std::unique_ptr<test::RedisServer> server_;
  std::unique_ptr<RedisConnection> conn_;
  std::string prefix_;
};

}  // namespace rs::store
