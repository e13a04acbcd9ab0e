// KV-state files and the cache that holds them.
//
// A saved state is the llama.cpp sequence state of a prompt prefix wrapped in
// a self-checking envelope: format version, model fingerprint, the exact prefix
// tokens, and a SHA-256 of everything. A restore is trusted only when all four
// match; anything else is refused with an error and the caller prefills
// instead. (llama.cpp's own slot restore has been seen to report success while
// silently re-prefilling, so we check what we restore.)
//
// KvStateCache keeps states in two tiers: a small in-memory LRU and one file
// per (model, prefix) under a directory, evicted least-recently-used under a
// byte cap. Files are read lazily, on first use. All methods are thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sleeptime/status.h"

namespace sleeptime {

inline constexpr uint32_t kKvStateFormatVersion = 1;

// Key of a prefix state: "<first 16 hex of fingerprint>-<first 32 hex of hash(tokens)>".
std::string KvStateKey(const std::string& model_fingerprint, const std::vector<int32_t>& tokens);

// Envelope around llama.cpp's state bytes.
std::string EncodeKvState(const std::string& model_fingerprint, const std::vector<int32_t>& tokens,
                          std::string_view payload);

// Checks the envelope against what the caller is about to restore and returns
// a view of the payload inside `blob`. Corruption for a damaged or truncated
// blob, FailedPrecondition for a valid state of another model or prefix.
// `verify_checksum` may be false only for a blob that was verified (or made)
// in this process and kept immutable since: hashing dominates a restore from
// memory.
Result<std::string_view> DecodeKvState(std::string_view blob, const std::string& model_fingerprint,
                                       const std::vector<int32_t>& tokens, bool verify_checksum = true);

struct KvStateCacheOptions {
  std::string dir;                         // empty: memory only
  int64_t disk_cap_bytes = 4LL << 30;      // evict LRU files above this
  int64_t memory_cap_bytes = 256LL << 20;  // evict LRU blobs above this
};

struct KvStateCacheStats {
  int64_t memory_entries = 0;
  int64_t memory_bytes = 0;
  int64_t disk_entries = 0;
  int64_t disk_bytes = 0;
  int64_t evictions = 0;
};

class KvStateCache {
 public:
  using Blob = std::shared_ptr<const std::string>;
  enum class Tier { kMemory, kDisk };
  struct Hit {
    Blob blob;
    Tier tier;
  };

  static Result<std::unique_ptr<KvStateCache>> Open(const KvStateCacheOptions& options);

  // Writes the file atomically (temp + rename) and keeps the blob in memory.
  Status Put(const std::string& key, Blob blob);
  // nullopt when neither tier has the key. A blob read from disk is not kept
  // in memory until the caller, having verified it, calls Remember.
  Result<std::optional<Hit>> Get(const std::string& key);
  // Keeps a verified blob in the memory tier.
  void Remember(const std::string& key, Blob blob);
  bool Contains(const std::string& key);
  // Drops a state from both tiers (a state that failed verification).
  void Remove(const std::string& key);
  // Forgets the in-memory tier only (benchmarks: force restores from disk).
  void DropMemoryTier();
  KvStateCacheStats Stats();
  std::string PathFor(const std::string& key) const;

 private:
  explicit KvStateCache(KvStateCacheOptions options) : options_(std::move(options)) {}
  Status ScanDirectory();
  void TouchMemory(const std::string& key);
  void InsertMemoryLocked(const std::string& key, Blob blob);
  void EvictMemoryLocked();
  void EvictDiskLocked();

  struct DiskEntry {
    int64_t bytes = 0;
    uint64_t last_used = 0;  // logical clock; lower = older
  };

  KvStateCacheOptions options_;
  std::mutex mu_;
  uint64_t clock_ = 0;
  // Memory tier: LRU list of keys (front = newest) + map to blob and position.
  std::list<std::string> memory_lru_;
  std::unordered_map<std::string, std::pair<Blob, std::list<std::string>::iterator>> memory_;
  int64_t memory_bytes_ = 0;
  std::unordered_map<std::string, DiskEntry> disk_;
  int64_t disk_bytes_ = 0;
  int64_t evictions_ = 0;
};

}  // namespace sleeptime
