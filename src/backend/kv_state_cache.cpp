#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <vector>

#include "sleeptime/kv_state.h"

namespace fs = std::filesystem;

namespace sleeptime {
namespace {

constexpr const char* kSuffix = ".kvs";

Status WriteFileAtomically(const fs::path& path, std::string_view data) {
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IoError("cannot write " + tmp.string());
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.flush();
    if (!out) return Status::IoError("short write to " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Status::IoError("cannot rename into " + path.string());
  }
  return Status::Ok();
}

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot read " + path.string());
  std::string data;
  in.seekg(0, std::ios::end);
  data.resize(static_cast<size_t>(in.tellg()));
  in.seekg(0);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  if (!in) return Status::IoError("short read from " + path.string());
  return data;
}

}  // namespace

Result<std::unique_ptr<KvStateCache>> KvStateCache::Open(const KvStateCacheOptions& options) {
  std::unique_ptr<KvStateCache> cache(new KvStateCache(options));
  if (!options.dir.empty()) {
    std::error_code ec;
    fs::create_directories(options.dir, ec);
    if (ec) return Status::IoError("cannot create KV-state directory " + options.dir + ": " + ec.message());
    ST_RETURN_IF_ERROR(cache->ScanDirectory());
  }
  return cache;
}

Status KvStateCache::ScanDirectory() {
  // Recover LRU order across restarts from modification times; Get() bumps
  // the time of a file it reads so the order survives the process.
  std::vector<std::pair<fs::file_time_type, std::pair<std::string, int64_t>>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.dir, ec)) {
    if (!entry.is_regular_file()) continue;
    const auto& p = entry.path();
    if (p.extension() != kSuffix) {
      // A temporary file left by a crash mid-write.
      if (p.filename().string().find(std::string(kSuffix) + ".tmp.") != std::string::npos) fs::remove(p, ec);
      continue;
    }
    found.push_back({entry.last_write_time(), {p.stem().string(), static_cast<int64_t>(entry.file_size())}});
  }
  if (ec) return Status::IoError("cannot list " + options_.dir + ": " + ec.message());
  std::sort(found.begin(), found.end());
  for (auto& [time, entry] : found) {
    disk_[entry.first] = DiskEntry{entry.second, ++clock_};
    disk_bytes_ += entry.second;
  }
  EvictDiskLocked();
  return Status::Ok();
}

std::string KvStateCache::PathFor(const std::string& key) const {
  return (fs::path(options_.dir) / (key + kSuffix)).string();
}

Status KvStateCache::Put(const std::string& key, Blob blob) {
  int64_t bytes = static_cast<int64_t>(blob->size());
  if (!options_.dir.empty()) {
    // Write outside the lock: states can be hundreds of megabytes.
    ST_RETURN_IF_ERROR(WriteFileAtomically(PathFor(key), *blob));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!options_.dir.empty()) {
    auto it = disk_.find(key);
    if (it != disk_.end()) disk_bytes_ -= it->second.bytes;
    disk_[key] = DiskEntry{bytes, ++clock_};
    disk_bytes_ += bytes;
    EvictDiskLocked();
  }
  InsertMemoryLocked(key, std::move(blob));
  return Status::Ok();
}

void KvStateCache::InsertMemoryLocked(const std::string& key, Blob blob) {
  auto it = memory_.find(key);
  if (it != memory_.end()) {
    memory_bytes_ -= static_cast<int64_t>(it->second.first->size());
    memory_lru_.erase(it->second.second);
    memory_.erase(it);
  }
  auto bytes = static_cast<int64_t>(blob->size());
  if (bytes > options_.memory_cap_bytes) return;
  memory_lru_.push_front(key);
  memory_[key] = {std::move(blob), memory_lru_.begin()};
  memory_bytes_ += bytes;
  EvictMemoryLocked();
}

void KvStateCache::Remember(const std::string& key, Blob blob) {
  std::lock_guard<std::mutex> lock(mu_);
  InsertMemoryLocked(key, std::move(blob));
}

Result<std::optional<KvStateCache::Hit>> KvStateCache::Get(const std::string& key) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = memory_.find(key);
    if (it != memory_.end()) {
      memory_lru_.splice(memory_lru_.begin(), memory_lru_, it->second.second);
      auto d = disk_.find(key);
      if (d != disk_.end()) d->second.last_used = ++clock_;
      return std::optional<Hit>(Hit{it->second.first, Tier::kMemory});
    }
    if (disk_.find(key) == disk_.end()) return std::optional<Hit>();
  }
  auto data = ReadFile(PathFor(key));
  if (!data.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    auto d = disk_.find(key);
    if (d != disk_.end()) {
      disk_bytes_ -= d->second.bytes;
      disk_.erase(d);
    }
    return std::optional<Hit>();
  }
  std::error_code ec;
  fs::last_write_time(PathFor(key), fs::file_time_type::clock::now(), ec);
  auto blob = std::make_shared<const std::string>(std::move(data).value());
  std::lock_guard<std::mutex> lock(mu_);
  auto d = disk_.find(key);
  if (d != disk_.end()) d->second.last_used = ++clock_;
  return std::optional<Hit>(Hit{blob, Tier::kDisk});
}

bool KvStateCache::Contains(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  return memory_.count(key) > 0 || disk_.count(key) > 0;
}

void KvStateCache::Remove(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = memory_.find(key);
  if (it != memory_.end()) {
    memory_bytes_ -= static_cast<int64_t>(it->second.first->size());
    memory_lru_.erase(it->second.second);
    memory_.erase(it);
  }
  auto d = disk_.find(key);
  if (d != disk_.end()) {
    disk_bytes_ -= d->second.bytes;
    disk_.erase(d);
    std::error_code ec;
    fs::remove(PathFor(key), ec);
  }
}

void KvStateCache::DropMemoryTier() {
  std::lock_guard<std::mutex> lock(mu_);
  memory_.clear();
  memory_lru_.clear();
  memory_bytes_ = 0;
}

KvStateCacheStats KvStateCache::Stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return {static_cast<int64_t>(memory_.size()), memory_bytes_, static_cast<int64_t>(disk_.size()),
          disk_bytes_, evictions_};
}

void KvStateCache::EvictMemoryLocked() {
  while (memory_bytes_ > options_.memory_cap_bytes && !memory_lru_.empty()) {
    const std::string& oldest = memory_lru_.back();
    auto it = memory_.find(oldest);
    memory_bytes_ -= static_cast<int64_t>(it->second.first->size());
    memory_.erase(it);
    memory_lru_.pop_back();
  }
}

void KvStateCache::EvictDiskLocked() {
  while (disk_bytes_ > options_.disk_cap_bytes && !disk_.empty()) {
    auto oldest = disk_.begin();
    for (auto it = disk_.begin(); it != disk_.end(); ++it) {
      if (it->second.last_used < oldest->second.last_used) oldest = it;
    }
    std::error_code ec;
    fs::remove(PathFor(oldest->first), ec);
    if (ec) spdlog::warn("cannot evict KV state {}: {}", oldest->first, ec.message());
    disk_bytes_ -= oldest->second.bytes;
    disk_.erase(oldest);
    ++evictions_;
  }
}

}  // namespace sleeptime
