// KvCache: the paged key/value store of one engine. A fixed pool of blocks, each holding
// block_tokens positions of K and V for every layer; sequences own block tables (lists of
// block ids). Blocks are reference-counted so that sequences sharing a prompt prefix share
// its full blocks (prefix cache: full blocks are published under a hash of all tokens up
// to their end; a freed published block stays cached until its space is needed). K and V
// are stored as KvCacheType says: fp16 by default (llama.cpp's default cache type: half the
// memory and bandwidth of f32), or f32.
// Owned by one Engine; only the engine thread may call it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rs::engine {

using BlockId = int32_t;

// The element type of the K/V cache (llama.cpp's --cache-type-k/-v f16 | f32).
enum class KvCacheType { kF16, kF32 };
const char* kv_cache_type_name(KvCacheType type);  // "f16", "f32"
std::optional<KvCacheType> parse_kv_cache_type(std::string_view name);

struct KvCacheConfig {
  int n_layers = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int block_tokens = 16;
  int n_blocks = 0;
  KvCacheType type = KvCacheType::kF16;
};

class KvCache {
 public:
  explicit KvCache(const KvCacheConfig& config);

  const KvCacheConfig& config() const { return config_; }
  int n_blocks() const { return config_.n_blocks; }
  // Blocks that allocate() can hand out now (free plus cached-but-unreferenced).
  int n_free_blocks() const;
  // Blocks needed to hold n_tokens positions.
  int blocks_for(int64_t n_tokens) const;

  // A block with refcount 1, or nullopt when the pool is exhausted. May evict an
  // unreferenced cached block (least recently released first).
  std::optional<BlockId> allocate();
  void retain(BlockId block);
  void release(BlockId block);  // refcount-1; at 0 the block is free (or cached if published)
  int refcount(BlockId block) const;

  // Prefix cache. hash identifies the full token prefix ending with this block.
  void publish(BlockId block, uint64_t hash);
  // A published block for hash, retained for the caller, or nullopt.
  std::optional<BlockId> lookup(uint64_t hash);
  // Disabling also drops every cached unreferenced block back to the free list.
  void set_prefix_cache_enabled(bool enabled);
  // Chain hash of the tokens of one full block given the previous block's hash.
  static uint64_t chain_hash(uint64_t prev_hash, std::span<const int32_t> block_tokens);

  // Storage: for a block and layer, block_tokens rows of n_kv_heads*head_dim values of
  // config().type (uint16_t fp16 bits or float).
  void* k(BlockId block, int layer);
  void* v(BlockId block, int layer);
  const void* k(BlockId block, int layer) const;
  const void* v(BlockId block, int layer) const;
  int64_t row_elems() const { return static_cast<int64_t>(config_.n_kv_heads) * config_.head_dim; }
  size_t elem_bytes() const { return config_.type == KvCacheType::kF32 ? 4 : 2; }
  uint64_t bytes() const { return n_elems_ * elem_bytes(); }

 private:
  int64_t offset(BlockId block, int layer, int kv) const;
  bool valid(BlockId block) const { return block >= 0 && block < config_.n_blocks; }
  void evict(BlockId block);

  struct FreeDeleter {
    void operator()(uint8_t* p) const;
  };

  KvCacheConfig config_;
  // calloc'ed: the pages of a large pool are committed lazily, on first write.
  std::unique_ptr<uint8_t[], FreeDeleter> storage_;
  uint64_t n_elems_ = 0;
  std::vector<int> refcount_;
  std::vector<uint64_t> hash_of_;        // 0 = not published
  std::vector<uint8_t> published_;       // hash_of_ is meaningful
  std::vector<BlockId> free_;            // never-published free blocks (stack)
  std::vector<uint64_t> lru_stamp_;      // for cached (published, refcount 0) blocks
  std::map<uint64_t, BlockId> lru_;      // stamp -> cached unreferenced block, oldest first
  std::unordered_map<uint64_t, BlockId> cached_;  // hash -> published block
  uint64_t stamp_ = 0;
  bool prefix_cache_ = true;
};

}  // namespace rs::engine
