// KvCache: block pool with refcounts, a prefix cache of published full blocks and LRU
// eviction of cached unreferenced blocks. Storage: for each block, for each layer, the K
// rows then the V rows (block_tokens x n_kv_heads*head_dim values each), contiguous.
#include "rs/engine/kv_cache.h"

#include <algorithm>
#include <cstdlib>

namespace rs::engine {

KvCache::KvCache(const KvCacheConfig& config) : config_(config) {
  config_.n_blocks = std::max(0, config_.n_blocks);
  config_.n_layers = std::max(0, config_.n_layers);
  config_.n_kv_heads = std::max(0, config_.n_kv_heads);
  config_.head_dim = std::max(0, config_.head_dim);
  config_.block_tokens = std::max(1, config_.block_tokens);
  const size_t per_block = 2u * static_cast<size_t>(config_.n_layers) * static_cast<size_t>(config_.block_tokens) *
                           static_cast<size_t>(row_elems());
  n_elems_ = static_cast<uint64_t>(config_.n_blocks) * per_block;
  if (n_elems_ > 0) storage_.reset(static_cast<uint8_t*>(std::calloc(n_elems_, elem_bytes())));
  if (!storage_ && n_elems_ > 0) {  // allocation refused: an empty pool (allocate() says exhausted)
    config_.n_blocks = 0;
    n_elems_ = 0;
  }
  const size_t n = static_cast<size_t>(config_.n_blocks);
  refcount_.assign(n, 0);
  hash_of_.assign(n, 0);
  published_.assign(n, 0);
  lru_stamp_.assign(n, 0);
  free_.reserve(n);
  // Stack: hand out low ids first.
  for (size_t i = n; i > 0; --i) free_.push_back(static_cast<BlockId>(i - 1));
}

void KvCache::FreeDeleter::operator()(uint8_t* p) const { std::free(p); }

const char* kv_cache_type_name(KvCacheType type) { return type == KvCacheType::kF32 ? "f32" : "f16"; }

std::optional<KvCacheType> parse_kv_cache_type(std::string_view name) {
  if (name == "f16") return KvCacheType::kF16;
  if (name == "f32") return KvCacheType::kF32;
  return std::nullopt;
}

int KvCache::n_free_blocks() const { return static_cast<int>(free_.size() + lru_.size()); }

int KvCache::blocks_for(int64_t n_tokens) const {
  if (n_tokens <= 0) return 0;
  return static_cast<int>((n_tokens + config_.block_tokens - 1) / config_.block_tokens);
}

void KvCache::evict(BlockId block) {
  auto it = cached_.find(hash_of_[static_cast<size_t>(block)]);
  if (it != cached_.end() && it->second == block) cached_.erase(it);
  published_[static_cast<size_t>(block)] = 0;
  hash_of_[static_cast<size_t>(block)] = 0;
}

std::optional<BlockId> KvCache::allocate() {
  BlockId block = -1;
  if (!free_.empty()) {
    block = free_.back();
    free_.pop_back();
  } else if (!lru_.empty()) {
    auto oldest = lru_.begin();
    block = oldest->second;
    lru_.erase(oldest);
    evict(block);
  } else {
    return std::nullopt;
  }
  refcount_[static_cast<size_t>(block)] = 1;
  return block;
}

void KvCache::retain(BlockId block) {
  if (!valid(block)) return;
  const size_t b = static_cast<size_t>(block);
  if (refcount_[b] == 0 && published_[b]) lru_.erase(lru_stamp_[b]);
  ++refcount_[b];
}

void KvCache::release(BlockId block) {
  if (!valid(block)) return;
  const size_t b = static_cast<size_t>(block);
  if (refcount_[b] <= 0) return;  // double release: ignore rather than corrupt the pool
  if (--refcount_[b] > 0) return;
  if (published_[b] && prefix_cache_) {
    lru_stamp_[b] = ++stamp_;
    lru_.emplace(lru_stamp_[b], block);
  } else {
    if (published_[b]) evict(block);
    free_.push_back(block);
  }
}

int KvCache::refcount(BlockId block) const {
  return valid(block) ? refcount_[static_cast<size_t>(block)] : 0;
}

void KvCache::publish(BlockId block, uint64_t hash) {
  if (!prefix_cache_ || !valid(block)) return;
  const size_t b = static_cast<size_t>(block);
  if (published_[b] || refcount_[b] <= 0) return;
  if (cached_.count(hash) != 0) return;  // an equal block is already cached: keep that one
  published_[b] = 1;
  hash_of_[b] = hash;
  cached_.emplace(hash, block);
}

std::optional<BlockId> KvCache::lookup(uint64_t hash) {
  if (!prefix_cache_) return std::nullopt;
  auto it = cached_.find(hash);
  if (it == cached_.end()) return std::nullopt;
  retain(it->second);
  return it->second;
}

void KvCache::set_prefix_cache_enabled(bool enabled) {
  prefix_cache_ = enabled;
  if (enabled) return;
  for (const auto& [stamp, block] : lru_) {
    evict(block);
    free_.push_back(block);
  }
  lru_.clear();
  // Blocks still referenced stay published until released (release() then frees them).
}

uint64_t KvCache::chain_hash(uint64_t prev_hash, std::span<const int32_t> block_tokens) {
  // splitmix64-style mixing: stable across runs and platforms.
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  uint64_t h = mix(prev_hash ^ 0x6a09e667f3bcc909ULL);
  h = mix(h ^ static_cast<uint64_t>(block_tokens.size()));
  for (int32_t t : block_tokens) h = mix(h ^ static_cast<uint32_t>(t));
  return h == 0 ? 1 : h;
}

int64_t KvCache::offset(BlockId block, int layer, int kv) const {
  const int64_t rows = static_cast<int64_t>(config_.block_tokens) * row_elems();
  return ((static_cast<int64_t>(block) * config_.n_layers + layer) * 2 + kv) * rows * static_cast<int64_t>(elem_bytes());
}

void* KvCache::k(BlockId block, int layer) { return storage_.get() + offset(block, layer, 0); }
void* KvCache::v(BlockId block, int layer) { return storage_.get() + offset(block, layer, 1); }
const void* KvCache::k(BlockId block, int layer) const { return storage_.get() + offset(block, layer, 0); }
const void* KvCache::v(BlockId block, int layer) const { return storage_.get() + offset(block, layer, 1); }

}  // namespace rs::engine
