// Unicode tables from Python (unicode_tables.cpp is generated): which code points repr()
// escapes and which str.isspace() accepts. Read-only data: any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rs::engine::jinja {

struct CodeRange {
  uint32_t first, last;
};
extern const CodeRange kNonPrintable[];  // sorted, disjoint
extern const size_t kNonPrintableCount;
extern const uint32_t kSpaces[];  // sorted
extern const size_t kSpacesCount;

}  // namespace rs::engine::jinja
