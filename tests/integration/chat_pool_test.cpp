// Chat jobs through a real pool (redis-server, ringserve-broker, ringserve-worker): the worker
// renders chat_messages with the model's template, and the job's tokens equal a plain job of
// the rendered prompt (`ringserve-model chat`) with the same seed; a model without a template
// fails chat jobs invalid_argument (plain ones still run) and says why in WORKERS.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "model_versions.h"
#include "process_harness.h"

namespace rs::test {
namespace {

namespace sc = rs::schemas;

constexpr char kMessages[] =
    R"([{"role": "system", "content": "You tell short stories."},)"
    R"( {"role": "user", "content": "Tell me about a cat."},)"
    R"( {"role": "assistant", "content": "Once upon a time there was a cat."},)"
    R"( {"role": "user", "content": "And then?"}])";

std::string chatml() {
  return source_path("examples/chat/chatml.jinja");
}

PoolOptions stories_pool(bool with_template) {
  PoolOptions o;
  o.workers = 1;
  o.devices = 1;
  o.model_file = model_path("stories260K.gguf");
  o.model_name = "stories";
  if (with_template) o.worker_args = {"--chat-template", chatml()};
  return o;
}

sc::SubmitRequest chat_request(uint64_t seed) {
  sc::SubmitRequest r = make_request("stories", "", 24, 0.8f, seed);
  r.chat_messages = kMessages;
  return r;
}

TEST(ChatPoolTest, AChatJobEqualsAPlainJobOfTheRenderedPrompt) {
  RS_REQUIRE_FILE(model_path("stories260K.gguf"));
  Pool pool(stories_pool(true));
  RS_REQUIRE_POOL(pool);
  ASSERT_TRUE(pool.start());
  auto rendered = run_program({program("ringserve-model"), "chat", "--template", chatml(),
                               "--messages", kMessages, "--add-generation-prompt"},
                              "", 30000);
  ASSERT_TRUE(rendered.has_value());
  ASSERT_EQ(rendered->rfind("<|im_start|>system\nYou tell short stories.<|im_end|>\n", 0), 0u)
      << *rendered;
  auto client = pool.connect();
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  for (uint64_t seed : {7u, 8u}) {
    auto chat = (*client)->submit(chat_request(seed));
    ASSERT_TRUE(chat.ok()) << chat.status().to_string();
    FinishedJob c = wait_job(**client, chat->job_id);
    ASSERT_TRUE(c.status.ok()) << c.status.to_string();
    ASSERT_EQ(c.record.state, sc::JobState::kSucceeded) << c.record.error;
    auto plain = (*client)->submit(make_request("stories", *rendered, 24, 0.8f, seed));
    ASSERT_TRUE(plain.ok()) << plain.status().to_string();
    FinishedJob p = wait_job(**client, plain->job_id);
    ASSERT_EQ(p.record.state, sc::JobState::kSucceeded) << p.record.error;
    EXPECT_EQ(c.ids(), p.ids()) << "seed " << seed;
    EXPECT_FALSE(c.ids().empty());
    EXPECT_EQ(c.record.usage.prompt_tokens, p.record.usage.prompt_tokens);
  }
  // A template error (here: a message without a role, which ChatML adds to a string) ends the
  // job FAILED invalid_argument before any token; so does bad JSON; the pool serves on.
  sc::SubmitRequest bad = chat_request(1);
  bad.chat_messages =
      R"([{"content": "no role"}])";  // the template adds an undefined role: an error
  auto bad_job = (*client)->submit(bad);
  ASSERT_TRUE(bad_job.ok());
  FinishedJob b = wait_job(**client, bad_job->job_id);
  EXPECT_EQ(b.record.state, sc::JobState::kFailed);
  EXPECT_EQ(b.record.error_code, sc::ErrorCode::kInvalidArgument) << b.record.error;
  EXPECT_TRUE(b.tokens.empty());
  sc::SubmitRequest not_json = chat_request(1);
  not_json.chat_messages = "[{";
  auto not_json_job = (*client)->submit(not_json);
  ASSERT_TRUE(not_json_job.ok());
  EXPECT_EQ(wait_job(**client, not_json_job->job_id).record.error_code,
            sc::ErrorCode::kInvalidArgument);
  auto again = (*client)->submit(chat_request(7));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(wait_job(**client, again->job_id).record.state, sc::JobState::kSucceeded);
}

TEST(ChatPoolTest, AModelWithoutATemplateRefusesChatSaysWhyAndServesPlainJobs) {
  RS_REQUIRE_FILE(model_path("stories260K.gguf"));
  Pool pool(stories_pool(false));
  RS_REQUIRE_POOL(pool);
  ASSERT_TRUE(pool.start());
  auto client = pool.connect();
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  auto chat = (*client)->submit(chat_request(1));
  ASSERT_TRUE(chat.ok()) << chat.status().to_string();
  FinishedJob c = wait_job(**client, chat->job_id);
  EXPECT_EQ(c.record.state, sc::JobState::kFailed);
  EXPECT_EQ(c.record.error_code, sc::ErrorCode::kInvalidArgument);
  EXPECT_NE(c.record.error.find("chat template"), std::string::npos) << c.record.error;
  auto plain = (*client)->submit(make_request("stories", "Once upon a time", 8));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(wait_job(**client, plain->job_id).record.state, sc::JobState::kSucceeded);
  // WORKERS (after a heartbeat) names the model and the reason.
  bool said = Pool::poll_until(10000, [&] {
    auto devices = (*client)->workers();
    return devices.ok() && !devices->empty() && !devices->front().no_chat.empty();
  });
  ASSERT_TRUE(said);
  auto devices = (*client)->workers();
  ASSERT_TRUE(devices.ok());
  const std::string& why = devices->front().no_chat.front();
  EXPECT_EQ(why.rfind("stories: ", 0), 0u) << why;
  EXPECT_NE(why.find("tokenizer.chat_template"), std::string::npos) << why;
}

// Registry mode: a version added with --chat-template serves chat with that template (the
// GGUF has none); a later version without one refuses chat, and WORKERS names that key.
TEST(ChatPoolTest, RegistryVersionsCarryTheirOwnTemplate) {
  RS_REQUIRE_FILE(model_path("stories260K.gguf"));
  PoolOptions o;
  o.workers = 1;
  o.devices = 1;
  o.heartbeat_ms = 200;
  o.registry = true;
  o.serve = {"stories"};
  o.broker_args = {"--registry-poll-ms", "100"};
  o.worker_args = {"--registry-poll-ms", "200"};
  Pool pool(o);
  RS_REQUIRE_POOL(pool);
  ASSERT_TRUE(pool.start_redis());
  CliRun add = run_cli(pool, {"models", "add", "stories", model_path("stories260K.gguf"),
                              "--chat-template", chatml(), "--activate", "--json"});
  ASSERT_EQ(add.exit_code, 0) << add.out;
  EXPECT_EQ(nlohmann::json::parse(add.lines().back())["chat"], "file");
  ASSERT_TRUE(pool.start_broker() && pool.start_workers());
  ASSERT_TRUE(wait_device_keys(pool, 1, {"stories@1"}, 30000));
  auto client = pool.connect();
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  auto chat = (*client)->submit(chat_request(3));
  ASSERT_TRUE(chat.ok());
  FinishedJob c = wait_job(**client, chat->job_id);
  ASSERT_EQ(c.record.state, sc::JobState::kSucceeded) << c.record.error;
  EXPECT_EQ(c.record.model_version, 1u);

  ASSERT_EQ(cli_add_version(pool, "stories", model_path("stories260K.gguf"), true), 2u);
  ASSERT_TRUE(wait_device_keys(pool, 1, {"stories@2"}, 30000));
  auto refused = (*client)->submit(chat_request(3));
  ASSERT_TRUE(refused.ok());
  FinishedJob r = wait_job(**client, refused->job_id);
  EXPECT_EQ(r.record.state, sc::JobState::kFailed);
  EXPECT_EQ(r.record.error_code, sc::ErrorCode::kInvalidArgument) << r.record.error;
  ASSERT_TRUE(Pool::poll_until(10000, [&] {
    auto devices = (*client)->workers();
    return devices.ok() && devices->size() == 1 && devices->front().no_chat.size() == 1 &&
           devices->front().no_chat.front().rfind("stories@2: ", 0) == 0;
  }));
}

}  // namespace
}  // namespace rs::test
