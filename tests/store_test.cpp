#include "sleeptime/store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "sleeptime/hash.h"

namespace sleeptime {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sleeptime_store_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/store.db";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<Store> OpenStore() {
    auto store = Store::Open(path_);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Runs one statement on a raw connection and returns the first column of its
  // first row ("" when none).
  std::string RawQuery(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    std::string out;
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }

  static LearnedContext MakeLearned(const Context& c, const std::string& text,
                                    const std::string& model = "m1") {
    LearnedContext lc;
    lc.context_id = c.id;
    lc.context_version = c.version;
    lc.text = text;
    lc.model = model;
    lc.sleep_prompt_tokens = 120;
    lc.sleep_completion_tokens = 340;
    lc.settings_json = R"({"budget":512,"k":4})";
    lc.kv_key = "kv-" + text;
    lc.kv_tokens = 77;
    lc.kv_bytes = 123456;
    return lc;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(StoreTest, ContextRoundTrip) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto put = store->PutContext("doc-1", "hello world");
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->version, 1);
  EXPECT_EQ(put->content_hash, Sha256Hex("hello world"));
  EXPECT_GT(put->created_at, 0);
  EXPECT_EQ(put->created_at, put->updated_at);

  auto got = store->GetContext("doc-1");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->id, "doc-1");
  EXPECT_EQ(got->text, "hello world");
  EXPECT_EQ(got->version, 1);
  EXPECT_EQ(got->content_hash, put->content_hash);
  EXPECT_EQ(got->created_at, put->created_at);

  ASSERT_TRUE(store->PutContext("a.b_c", std::string("nul\0inside", 10)).ok());
  auto all = store->ListContexts();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "a.b_c");
  EXPECT_EQ((*all)[0].text, std::string("nul\0inside", 10));
  EXPECT_EQ((*all)[1].id, "doc-1");

  auto missing = store->GetContext("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "context 'nope' not found");
}

TEST_F(StoreTest, PutContextVersioning) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto v1 = store->PutContext("c", "first");
  ASSERT_TRUE(v1.ok());
  auto same = store->PutContext("c", "first");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->version, 1);
  EXPECT_EQ(same->content_hash, v1->content_hash);

  auto v2 = store->PutContext("c", "second");
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->content_hash, Sha256Hex("second"));
  EXPECT_NE(v2->content_hash, v1->content_hash);
  EXPECT_EQ(v2->created_at, v1->created_at);

  auto got = store->GetContext("c");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->version, 2);
  EXPECT_EQ(got->text, "second");
}

TEST_F(StoreTest, LearnedContextRoundTrip) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto c = store->PutContext("c", "text");
  ASSERT_TRUE(c.ok());
  LearnedContext lc = MakeLearned(*c, "c-prime");
  auto id = store->PutLearnedContext(lc);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_GT(*id, 0);

  auto cur = store->CurrentLearnedContext("c", "m1");
  ASSERT_TRUE(cur.ok()) << cur.status().ToString();
  ASSERT_TRUE(cur->has_value());
  const LearnedContext& got = **cur;
  EXPECT_EQ(got.id, *id);
  EXPECT_EQ(got.context_id, "c");
  EXPECT_EQ(got.context_version, 1);
  EXPECT_EQ(got.text, "c-prime");
  EXPECT_EQ(got.model, "m1");
  EXPECT_EQ(got.sleep_prompt_tokens, 120);
  EXPECT_EQ(got.sleep_completion_tokens, 340);
  EXPECT_EQ(got.settings_json, lc.settings_json);
  EXPECT_EQ(got.kv_key, "kv-c-prime");
  EXPECT_EQ(got.kv_tokens, 77);
  EXPECT_EQ(got.kv_bytes, 123456);
  EXPECT_GT(got.created_at, 0);

  auto all = store->LearnedContexts("c");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].text, "c-prime");
}

TEST_F(StoreTest, QueryRoundTrip) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->PutContext("c", "text").ok());
  QueryRecord q;
  q.context_id = "c";
  q.context_version = 1;
  q.query = "what?";
  q.answer = "that.";
  q.model = "m1";
  q.prompt_tokens = 500;
  q.cached_tokens = 450;
  q.completion_tokens = 20;
  q.latency_ms = 12.5;
  q.used_learned_context = true;
  q.used_kv_state = false;
  auto id1 = store->LogQuery(q);
  ASSERT_TRUE(id1.ok()) << id1.status().ToString();
  q.query = "and?";
  q.used_kv_state = true;
  q.created_at = 1700000000;
  auto id2 = store->LogQuery(q);
  ASSERT_TRUE(id2.ok());
  EXPECT_GT(*id2, *id1);

  auto all = store->Queries("c");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  const QueryRecord& a = (*all)[0];
  EXPECT_EQ(a.id, *id1);
  EXPECT_EQ(a.context_id, "c");
  EXPECT_EQ(a.context_version, 1);
  EXPECT_EQ(a.query, "what?");
  EXPECT_EQ(a.answer, "that.");
  EXPECT_EQ(a.model, "m1");
  EXPECT_EQ(a.prompt_tokens, 500);
  EXPECT_EQ(a.cached_tokens, 450);
  EXPECT_EQ(a.completion_tokens, 20);
  EXPECT_DOUBLE_EQ(a.latency_ms, 12.5);
  EXPECT_TRUE(a.used_learned_context);
  EXPECT_FALSE(a.used_kv_state);
  EXPECT_GT(a.created_at, 0);
  EXPECT_EQ((*all)[1].query, "and?");
  EXPECT_TRUE((*all)[1].used_kv_state);
  EXPECT_EQ((*all)[1].created_at, 1700000000);

  q.context_id = "missing";
  auto bad = store->LogQuery(q);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kNotFound);
}

TEST_F(StoreTest, StaleLearnedContextIsNeverCurrent) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto v1 = store->PutContext("c", "old text");
  ASSERT_TRUE(v1.ok());
  ASSERT_TRUE(store->PutLearnedContext(MakeLearned(*v1, "old c-prime")).ok());
  auto v2 = store->PutContext("c", "new text");
  ASSERT_TRUE(v2.ok());

  auto cur = store->CurrentLearnedContext("c", "m1");
  ASSERT_TRUE(cur.ok());
  EXPECT_FALSE(cur->has_value());
  // The stale one is kept in the history.
  auto all = store->LearnedContexts("c");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].context_version, 1);
}

TEST_F(StoreTest, CurrentLearnedContextIsNewestForCurrentVersion) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto v1 = store->PutContext("c", "one");
  ASSERT_TRUE(v1.ok());
  ASSERT_TRUE(store->PutLearnedContext(MakeLearned(*v1, "v1-a")).ok());
  auto v2 = store->PutContext("c", "two");
  ASSERT_TRUE(v2.ok());
  ASSERT_TRUE(store->PutLearnedContext(MakeLearned(*v2, "v2-a")).ok());
  ASSERT_TRUE(store->PutLearnedContext(MakeLearned(*v2, "v2-b")).ok());
  auto newest = store->PutLearnedContext(MakeLearned(*v2, "v2-c"));
  ASSERT_TRUE(newest.ok());

  auto cur = store->CurrentLearnedContext("c", "m1");
  ASSERT_TRUE(cur.ok());
  ASSERT_TRUE(cur->has_value());
  EXPECT_EQ((*cur)->id, *newest);
  EXPECT_EQ((*cur)->text, "v2-c");

  auto all = store->LearnedContexts("c");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].text, "v1-a");
  EXPECT_EQ((*all)[3].text, "v2-c");
}

TEST_F(StoreTest, CurrentLearnedContextFiltersByModel) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto c = store->PutContext("c", "text");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(store->PutLearnedContext(MakeLearned(*c, "from-m1", "m1")).ok());
  ASSERT_TRUE(store->PutLearnedContext(MakeLearned(*c, "from-m2", "m2")).ok());

  auto m1 = store->CurrentLearnedContext("c", "m1");
  ASSERT_TRUE(m1.ok());
  ASSERT_TRUE(m1->has_value());
  EXPECT_EQ((*m1)->text, "from-m1");
  auto m2 = store->CurrentLearnedContext("c", "m2");
  ASSERT_TRUE(m2.ok());
  ASSERT_TRUE(m2->has_value());
  EXPECT_EQ((*m2)->text, "from-m2");
  auto m3 = store->CurrentLearnedContext("c", "m3");
  ASSERT_TRUE(m3.ok());
  EXPECT_FALSE(m3->has_value());

  auto missing = store->CurrentLearnedContext("nope", "m1");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_F(StoreTest, PutLearnedContextRejectsStaleVersion) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto v1 = store->PutContext("c", "one");
  ASSERT_TRUE(v1.ok());
  ASSERT_TRUE(store->PutContext("c", "two").ok());

  auto stale = store->PutLearnedContext(MakeLearned(*v1, "late"));
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.status().message().find("'c'"), std::string::npos) << stale.status().message();
  EXPECT_EQ(stale.status().message().find('\n'), std::string::npos);
  auto all = store->LearnedContexts("c");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());

  LearnedContext orphan = MakeLearned(*v1, "orphan");
  orphan.context_id = "nope";
  auto missing = store->PutLearnedContext(orphan);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_F(StoreTest, RemoveContextCascades) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto c = store->PutContext("c", "text");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(store->PutContext("other", "keep me").ok());
  ASSERT_TRUE(store->PutLearnedContext(MakeLearned(*c, "c-prime")).ok());
  QueryRecord q;
  q.context_id = "c";
  q.context_version = 1;
  q.query = "q";
  ASSERT_TRUE(store->LogQuery(q).ok());

  ASSERT_TRUE(store->RemoveContext("c").ok());
  EXPECT_EQ(store->GetContext("c").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(RawQuery("SELECT count(*) FROM learned_contexts"), "0");
  EXPECT_EQ(RawQuery("SELECT count(*) FROM queries"), "0");
  EXPECT_TRUE(store->GetContext("other").ok());

  Status again = store->RemoveContext("c");
  EXPECT_EQ(again.code(), StatusCode::kNotFound);
  EXPECT_EQ(again.message(), "context 'c' not found");

  // A context re-created under the same id starts over, without the old c′.
  auto fresh = store->PutContext("c", "text");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->version, 1);
  auto cur = store->CurrentLearnedContext("c", "m1");
  ASSERT_TRUE(cur.ok());
  EXPECT_FALSE(cur->has_value());
}

TEST_F(StoreTest, InvalidIdsRejected) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  for (const std::string& id : {std::string(), std::string(129, 'a'), std::string("a b"), std::string("a/b"),
                                std::string("../x"), std::string("caf\xc3\xa9"), std::string("line\nbreak"),
                                std::string("x;DROP TABLE contexts"), std::string("a\0b", 3)}) {
    auto put = store->PutContext(id, "text");
    ASSERT_FALSE(put.ok()) << id;
    EXPECT_EQ(put.status().code(), StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(put.status().message().find('\n'), std::string::npos) << put.status().message();
    EXPECT_EQ(store->GetContext(id).status().code(), StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(store->RemoveContext(id).code(), StatusCode::kInvalidArgument) << id;
    EXPECT_EQ(store->CurrentLearnedContext(id, "m").status().code(), StatusCode::kInvalidArgument) << id;
  }
  EXPECT_TRUE(store->PutContext(std::string(128, 'a'), "text").ok());
  EXPECT_TRUE(store->PutContext("Az09._-", "text").ok());
  auto all = store->ListContexts();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
}

TEST_F(StoreTest, MigrationsAndReopen) {
  int version = 0;
  {
    auto store = OpenStore();
    ASSERT_TRUE(store);
    version = store->SchemaVersion();
    EXPECT_GT(version, 0);
    ASSERT_TRUE(store->PutContext("c", "persisted").ok());
  }
  EXPECT_EQ(RawQuery("PRAGMA user_version"), std::to_string(version));
  EXPECT_EQ(RawQuery("PRAGMA journal_mode"), "wal");
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->SchemaVersion(), version);
  auto c = store->GetContext("c");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->text, "persisted");
}

TEST_F(StoreTest, UpgradesDatabaseAtVersionZero) {
  // A database file that exists but predates every migration.
  EXPECT_EQ(RawQuery("CREATE TABLE unrelated (x)"), "");
  EXPECT_EQ(RawQuery("PRAGMA user_version"), "0");
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_GT(store->SchemaVersion(), 0);
  EXPECT_TRUE(store->PutContext("c", "text").ok());
}

TEST_F(StoreTest, RefusesNewerSchema) {
  int version = 0;
  {
    auto store = OpenStore();
    ASSERT_TRUE(store);
    version = store->SchemaVersion();
  }
  RawQuery("PRAGMA user_version = " + std::to_string(version + 1));
  auto store = Store::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("newer"), std::string::npos) << store.status().message();
  // Refusing leaves the file as it was.
  EXPECT_EQ(RawQuery("PRAGMA user_version"), std::to_string(version + 1));
}

TEST_F(StoreTest, OpenFailsCleanlyOnBadPath) {
  auto store = Store::Open(dir_ + "/no/such/dir/store.db");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("cannot open database"), std::string::npos);
  EXPECT_EQ(Store::Open("").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, TwoStoresOnOneFileSeeEachOther) {
  auto a = OpenStore();
  auto b = OpenStore();
  ASSERT_TRUE(a && b);
  auto c = a->PutContext("c", "from a");
  ASSERT_TRUE(c.ok());
  auto seen = b->GetContext("c");
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  EXPECT_EQ(seen->text, "from a");

  ASSERT_TRUE(b->PutLearnedContext(MakeLearned(*seen, "from b")).ok());
  auto cur = a->CurrentLearnedContext("c", "m1");
  ASSERT_TRUE(cur.ok());
  ASSERT_TRUE(cur->has_value());
  EXPECT_EQ((*cur)->text, "from b");

  // A change made through b makes a's stale write fail.
  ASSERT_TRUE(b->PutContext("c", "changed by b").ok());
  auto stale = a->PutLearnedContext(MakeLearned(*c, "stale from a"));
  EXPECT_EQ(stale.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(StoreTest, ConcurrentWritersOnTwoConnections) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->PutContext("c", "v0").ok());
  }
  // Two connections racing on one context: the busy timeout makes them wait
  // for each other, and every put either lands or sees the version it lost to.
  constexpr int kRounds = 25;
  auto writer = [this](int who, int* stored, int* stale) {
    auto store = Store::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    for (int i = 0; i < kRounds; ++i) {
      auto c = (*store)->PutContext("c", "writer " + std::to_string(who) + " round " + std::to_string(i));
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      auto put = (*store)->PutLearnedContext(MakeLearned(*c, "learned"));
      if (put.ok()) {
        ++*stored;
      } else {
        ASSERT_EQ(put.status().code(), StatusCode::kFailedPrecondition) << put.status().ToString();
        ++*stale;
      }
    }
  };
  int stored[2] = {0, 0}, stale[2] = {0, 0};
  std::thread t0(writer, 0, &stored[0], &stale[0]);
  std::thread t1(writer, 1, &stored[1], &stale[1]);
  t0.join();
  t1.join();
  EXPECT_EQ(stored[0] + stale[0] + stored[1] + stale[1], 2 * kRounds);

  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto c = store->GetContext("c");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->version, 1 + 2 * kRounds);
  auto all = store->LearnedContexts("c");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(static_cast<int>(all->size()), stored[0] + stored[1]);
  EXPECT_EQ(RawQuery("PRAGMA integrity_check"), "ok");
}

TEST_F(StoreTest, CrashBeforeCommitKeepsPreviousLearnedContext) {
  std::string previous_text;
  for (int i = 0; i < 1000; ++i) previous_text += "previous c-prime line " + std::to_string(i) + "\n";
  int64_t previous_id = 0;
  {
    auto store = OpenStore();
    ASSERT_TRUE(store);
    auto c = store->PutContext("c", "text");
    ASSERT_TRUE(c.ok());
    auto id = store->PutLearnedContext(MakeLearned(*c, previous_text));
    ASSERT_TRUE(id.ok());
    previous_id = *id;
  }  // SQLite connections must not cross fork(), so none is open here.

  pid_t pid = fork();
  ASSERT_NE(pid, -1);
  if (pid == 0) {
    auto store = Store::Open(path_);
    if (!store.ok()) _exit(2);
    auto c = (*store)->GetContext("c");
    if (!c.ok()) _exit(3);
    (*store)->SetBeforeCommitHookForTesting([] { raise(SIGKILL); });
    (*store)->PutLearnedContext(MakeLearned(*c, std::string(1 << 20, 'x')));
    _exit(4);  // unreachable unless the hook did not run
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited with " << WEXITSTATUS(wstatus);
  EXPECT_EQ(WTERMSIG(wstatus), SIGKILL);

  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto cur = store->CurrentLearnedContext("c", "m1");
  ASSERT_TRUE(cur.ok()) << cur.status().ToString();
  ASSERT_TRUE(cur->has_value());
  EXPECT_EQ((*cur)->id, previous_id);
  EXPECT_TRUE((*cur)->text == previous_text);
  auto all = store->LearnedContexts("c");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
  EXPECT_EQ(RawQuery("PRAGMA integrity_check"), "ok");
}

}  // namespace
}  // namespace sleeptime
