// StopMatcher: finds stop strings in a sequence's streamed output text. Text that could
// still be the beginning of a stop string is held back until decided. One per sequence.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rs::engine {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // Appends text and returns what can be emitted now. When a stop string is found,
  // *stopped is set and the result is the text before it (the stop string and anything
  // after it are dropped).
  std::string push(std::string_view text, bool* stopped);
  // The held-back text (generation ended without a stop string).
  std::string flush();

 private:
  size_t held_suffix_len() const;

  std::vector<std::string> stops_;
  std::string held_;
};

}  // namespace rs::engine
