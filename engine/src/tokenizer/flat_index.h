// Open-addressing hash indexes for the tokenizers' hot lookups: token text -> id (the texts
// live in the caller's token vector) and (left id, right id) -> merge rank. Contiguous slots
// keep a lookup to one or two cache misses. Built once, then read-only: any thread may read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rs::engine {

inline uint64_t hash_text(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, then a final mix
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

// Token text -> id. Texts are not copied: `texts` must outlive the index, unchanged.
class TokenIndex {
 public:
  void build(const std::vector<std::string>& texts) {
    texts_ = &texts;
    size_t cap = 16;
    while (cap < texts.size() * 2) cap *= 2;
    mask_ = cap - 1;
    slots_.assign(cap, Slot{0, -1});
    for (size_t i = 0; i < texts.size(); ++i) insert(texts[i], static_cast<int32_t>(i));
  }

  int32_t find(std::string_view s) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash_text(s);
    const auto tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.id < 0) return -1;
      if (slot.tag == tag && (*texts_)[static_cast<size_t>(slot.id)] == s) return slot.id;
    }
  }

 private:
  struct Slot {
    uint32_t tag;
    int32_t id;
  };

  void insert(std::string_view s, int32_t id) {  // a repeated text keeps the last id
    const uint64_t h = hash_text(s);
    const auto tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.id < 0 || (slot.tag == tag && (*texts_)[static_cast<size_t>(slot.id)] == s)) {
        slot = Slot{tag, id};
        return;
      }
    }
  }

  const std::vector<std::string>* texts_ = nullptr;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

// (left id, right id) -> merge rank; the first rank stored for a pair wins.
class PairRankIndex {
 public:
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap *= 2;
    mask_ = cap - 1;
    slots_.assign(cap, Slot{kEmpty, -1});
  }

  void insert_first(int32_t a, int32_t b, int32_t rank) {
    const uint64_t key = make_key(a, b);
    for (size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.key == key) return;
      if (slot.key == kEmpty) {
        slot = Slot{key, rank};
        return;
      }
    }
  }

  int32_t find(int32_t a, int32_t b) const {
    if (slots_.empty()) return -1;
    const uint64_t key = make_key(a, b);
    for (size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.key == key) return slot.rank;
      if (slot.key == kEmpty) return -1;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  struct Slot {
    uint64_t key;
    int32_t rank;
  };
  static uint64_t make_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  static uint64_t mix(uint64_t k) {
    k *= 0x9E3779B97F4A7C15ull;
    return k ^ (k >> 31);
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

}  // namespace rs::engine
