// DISPATCH -> GenerationRequest: the job's priority reaches the engine (batch jobs yield to
// interactive ones in the scheduler).
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

}  // namespace
}  // namespace rs::worker::io::testing
