// DISPATCH -> GenerationRequest: the job's priority reaches the engine (batch jobs yield to
// interactive ones in the scheduler); a chat job's fields and clock, resume tokens and
// prompt token ids reach it too.
#include <gtest/gtest.h>

#include "rs/worker/io/job_mapping.h"

namespace rs::worker::io::testing {
namespace {

TEST(JobMappingPriorityTest, PriorityReachesTheGenerationRequest) {
  schemas::SubmitRequest r;
  r.prompt = "p";
  EXPECT_EQ(to_generation_request(r).priority, engine::Priority::kInteractive);  // the default
  r.priority = schemas::Priority::kBatch;
  EXPECT_EQ(to_generation_request(r).priority, engine::Priority::kBatch);
  r.priority = schemas::Priority::kInteractive;
  EXPECT_EQ(to_generation_request(r).priority, engine::Priority::kInteractive);
  r.priority = static_cast<schemas::Priority>(9);  // unknown: interactive, as the codec reads it
  EXPECT_EQ(to_generation_request(r).priority, engine::Priority::kInteractive);
}

// A chat job reaches the engine as a ChatInput whose clock is the job's creation, so every
// attempt (a re-dispatch after a worker died) renders strftime_now the same.
TEST(JobMappingChatTest, ChatFieldsAndTheJobsCreationTimeReachTheEngine) {
  schemas::SubmitRequest r;
  r.chat_messages = R"([{"role": "user", "content": "hi"}])";
  r.chat_tools = R"([{"type": "function", "function": {"name": "f"}}])";
  r.chat_kwargs = R"({"enable_thinking": false})";
  r.add_generation_prompt = false;
  const engine::GenerationRequest first = to_generation_request(r, 1768435200000);
  ASSERT_TRUE(first.chat.has_value());
  EXPECT_EQ(first.chat->messages_json, r.chat_messages);
  EXPECT_EQ(first.chat->tools_json, r.chat_tools);
  EXPECT_EQ(first.chat->kwargs_json, r.chat_kwargs);
  EXPECT_FALSE(first.chat->add_generation_prompt);
  EXPECT_EQ(first.chat->now_unix_ms, 1768435200000);
  const engine::GenerationRequest retry = to_generation_request(r, 1768435200000);
  EXPECT_EQ(retry.chat->now_unix_ms, first.chat->now_unix_ms);
  r.chat_messages.clear();
  r.prompt = "plain";
  EXPECT_FALSE(to_generation_request(r, 5).chat.has_value());
}

// A re-dispatch resumes from the log: the tokens it already holds reach the engine.
TEST(JobMappingResumeTest, DispatchResumeTokensReachTheEngine) {
  schemas::Dispatch d;
  d.request.prompt = "p";
  d.request.max_tokens = 7;
  d.created_ms = 1768435200000;
  EXPECT_TRUE(to_generation_request(d).resume_tokens.empty());
  d.resume_tokens = {5, 0, 99};
  const engine::GenerationRequest g = to_generation_request(d);
  EXPECT_EQ(g.resume_tokens, d.resume_tokens);
  EXPECT_EQ(g.max_tokens, 7);  // the job's whole budget: the engine counts the resumed ones
  EXPECT_EQ(g.prompt, "p");
}

// A prompt of token ids reaches the engine as prompt_tokens (taken as they are, no BOS).
TEST(JobMappingPromptIdsTest, PromptIdsReachTheEngineAsPromptTokens) {
  schemas::SubmitRequest r;
  r.prompt = "p";
  EXPECT_TRUE(to_generation_request(r).prompt_tokens.empty());
  r.prompt.clear();
  r.prompt_ids = {1, 15043, 0};
  const engine::GenerationRequest g = to_generation_request(r);
  EXPECT_EQ(g.prompt_tokens, r.prompt_ids);
  EXPECT_TRUE(g.prompt.empty());
}

}  // namespace
}  // namespace rs::worker::io::testing
