// The KV-state envelope and the two-tier LRU cache, without a model.
#include "sleeptime/kv_state.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/test_model.h"

namespace fs = std::filesystem;
using namespace sleeptime;

namespace {

const std::string kModel(64, 'a');
const std::vector<int32_t> kTokens = {1, 42, 7, 300, 5};

TEST(KvStateEnvelope, RoundTrip) {
  std::string payload = "llama state bytes \x01\x02";
  std::string blob = EncodeKvState(kModel, kTokens, payload);
  auto got = DecodeKvState(blob, kModel, kTokens);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, payload);
}

TEST(KvStateEnvelope, EveryTruncationAndBitFlipIsCaught) {
  std::string blob = EncodeKvState(kModel, kTokens, std::string(300, 'p'));
  for (size_t len = 0; len < blob.size(); len += 7) {
    EXPECT_FALSE(DecodeKvState(blob.substr(0, len), kModel, kTokens).ok()) << "length " << len;
  }
  for (size_t i = 0; i < blob.size(); i += 5) {
    std::string damaged = blob;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x10);
    EXPECT_FALSE(DecodeKvState(damaged, kModel, kTokens).ok()) << "byte " << i;
  }
}

TEST(KvStateEnvelope, OtherModelOrPrefixIsRefused) {
  std::string blob = EncodeKvState(kModel, kTokens, "x");
  auto other_model = DecodeKvState(blob, std::string(64, 'b'), kTokens);
  EXPECT_EQ(other_model.status().code(), StatusCode::kFailedPrecondition);
  auto other_tokens = DecodeKvState(blob, kModel, {1, 42, 7, 300, 6});
  EXPECT_EQ(other_tokens.status().code(), StatusCode::kFailedPrecondition);
  auto shorter = DecodeKvState(blob, kModel, {1, 42, 7, 300});
  EXPECT_EQ(shorter.status().code(), StatusCode::kFailedPrecondition);
}

TEST(KvStateKey, DependsOnModelAndTokens) {
  EXPECT_EQ(KvStateKey(kModel, kTokens), KvStateKey(kModel, kTokens));
  EXPECT_NE(KvStateKey(kModel, kTokens), KvStateKey(std::string(64, 'b'), kTokens));
  EXPECT_NE(KvStateKey(kModel, kTokens), KvStateKey(kModel, {1, 42}));
}

KvStateCache::Blob MakeBlob(size_t n, char c) {
  return std::make_shared<const std::string>(n, c);
}

TEST(KvStateCacheTest, EvictsLeastRecentlyUsedFileUnderCap) {
  std::string dir = MakeTempDir("kvcache");
  auto cache = KvStateCache::Open({dir, /*disk cap*/ 2500, /*memory cap*/ 0});
  ASSERT_TRUE(cache.ok());
  auto& c = **cache;
  ASSERT_TRUE(c.Put("a", MakeBlob(1000, 'a')).ok());
  ASSERT_TRUE(c.Put("b", MakeBlob(1000, 'b')).ok());
  auto hit = c.Get("a");  // a is now newer than b
  ASSERT_TRUE(hit.ok() && hit->has_value());
  EXPECT_EQ((*hit)->tier, KvStateCache::Tier::kDisk);
  EXPECT_EQ(*(*hit)->blob, std::string(1000, 'a'));
  ASSERT_TRUE(c.Put("c", MakeBlob(1000, 'c')).ok());
  EXPECT_TRUE(c.Contains("a"));
  EXPECT_FALSE(c.Contains("b"));
  EXPECT_TRUE(c.Contains("c"));
  EXPECT_FALSE(fs::exists(c.PathFor("b")));
  auto stats = c.Stats();
  EXPECT_EQ(stats.disk_entries, 2);
  EXPECT_EQ(stats.disk_bytes, 2000);
  EXPECT_EQ(stats.evictions, 1);
  fs::remove_all(dir);
}

TEST(KvStateCacheTest, MemoryTierServesFirstAndIsCapped) {
  std::string dir = MakeTempDir("kvcache");
  auto cache = KvStateCache::Open({dir, 1 << 20, 1500});
  ASSERT_TRUE(cache.ok());
  auto& c = **cache;
  ASSERT_TRUE(c.Put("a", MakeBlob(1000, 'a')).ok());
  auto hit = c.Get("a");
  ASSERT_TRUE(hit.ok() && hit->has_value());
  EXPECT_EQ((*hit)->tier, KvStateCache::Tier::kMemory);
  ASSERT_TRUE(c.Put("b", MakeBlob(1000, 'b')).ok());  // pushes a out of memory, not off disk
  auto a = c.Get("a");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->tier, KvStateCache::Tier::kDisk);
  EXPECT_LE(c.Stats().memory_bytes, 1500);
  fs::remove_all(dir);
}

TEST(KvStateCacheTest, ReopenFindsFilesLazilyAndDropsTempFiles) {
  std::string dir = MakeTempDir("kvcache");
  {
    auto cache = KvStateCache::Open({dir, 1 << 20, 1 << 20});
    ASSERT_TRUE(cache.ok());
    ASSERT_TRUE((*cache)->Put("k1", MakeBlob(10, 'x')).ok());
  }
  std::ofstream(dir + "/k2.kvs.tmp.999") << "half";
  auto cache = KvStateCache::Open({dir, 1 << 20, 1 << 20});
  ASSERT_TRUE(cache.ok());
  EXPECT_EQ((*cache)->Stats().memory_entries, 0);
  EXPECT_EQ((*cache)->Stats().disk_entries, 1);
  EXPECT_FALSE(fs::exists(dir + "/k2.kvs.tmp.999"));
  auto hit = (*cache)->Get("k1");
  ASSERT_TRUE(hit.ok() && hit->has_value());
  EXPECT_EQ(*(*hit)->blob, std::string(10, 'x'));
  auto miss = (*cache)->Get("nope");
  ASSERT_TRUE(miss.ok());
  EXPECT_FALSE(miss->has_value());
  fs::remove_all(dir);
}

}  // namespace

namespace {

TEST(KvStateCacheTest, DiskBlobEntersMemoryOnlyWhenRemembered) {
  std::string dir = MakeTempDir("kvcache");
  auto cache = KvStateCache::Open({dir, 1 << 20, 1 << 20});
  ASSERT_TRUE(cache.ok());
  auto& c = **cache;
  ASSERT_TRUE(c.Put("k", MakeBlob(100, 'k')).ok());
  c.DropMemoryTier();
  auto first = c.Get("k");
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->tier, KvStateCache::Tier::kDisk);
  auto again = c.Get("k");  // not verified by anyone: still from disk
  EXPECT_EQ((*again)->tier, KvStateCache::Tier::kDisk);
  c.Remember("k", (*again)->blob);
  auto now = c.Get("k");
  EXPECT_EQ((*now)->tier, KvStateCache::Tier::kMemory);
  fs::remove_all(dir);
}

TEST(KvStateEnvelope, WithoutChecksumStillChecksModelAndPrefix) {
  std::string blob = EncodeKvState(kModel, kTokens, "payload");
  EXPECT_TRUE(DecodeKvState(blob, kModel, kTokens, false).ok());
  EXPECT_EQ(DecodeKvState(blob, std::string(64, 'b'), kTokens, false).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(DecodeKvState(blob, kModel, {1, 2}, false).status().code(), StatusCode::kFailedPrecondition);
  for (size_t len = 0; len < blob.size(); len += 3) {
    EXPECT_FALSE(DecodeKvState(blob.substr(0, len), kModel, kTokens, false).ok()) << len;
  }
}

}  // namespace
