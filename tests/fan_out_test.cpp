// FanOut: order, the thread cap, failures, and the caller's YieldScope on
// every worker thread.
#include "engine/fan_out.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "sleeptime/backend.h"

using namespace sleeptime;

namespace {

TEST(FanOut, ResultsComeInTaskOrderWhateverFinishesFirst) {
  auto r = FanOut(5, 5, [](int i) -> Result<std::string> {
    std::this_thread::sleep_for(std::chrono::milliseconds(10 * (5 - i)));  // later tasks finish first
    return std::to_string(i);
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
  EXPECT_TRUE(FanOut(0, 4, [](int) -> Result<std::string> { return std::string("x"); })->empty());
}

TEST(FanOut, NeverMoreThreadsThanAllowed) {
  for (int cap : {1, 2, 3}) {
    std::atomic<int> running{0}, peak{0};
    std::mutex mu;
    std::set<std::thread::id> threads;
    auto r = FanOut(6, cap, [&](int) -> Result<std::string> {
      const int now = ++running;
      for (int p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        threads.insert(std::this_thread::get_id());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      --running;
      return std::string();
    });
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->size(), 6u);
    EXPECT_LE(peak.load(), cap);
    EXPECT_LE(static_cast<int>(threads.size()), cap);
    if (cap == 1) {
      EXPECT_TRUE(threads.count(std::this_thread::get_id()));  // the caller works too
    }
  }
}

TEST(FanOut, TheFirstFailureInTaskOrderIsReturnedAndNoNewTaskStarts) {
  std::atomic<int> started{0};
  auto r = FanOut(10, 1, [&](int i) -> Result<std::string> {
    ++started;
    if (i == 2) return Status::Unavailable("task 2 failed");
    return std::string("ok");
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "task 2 failed");
  EXPECT_EQ(started.load(), 3);  // one thread: tasks 3..9 never started

  auto both = FanOut(4, 4, [](int i) -> Result<std::string> {
    if (i == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // fails last, but comes first
      return Status::Internal("one");
    }
    if (i == 3) return Status::Internal("three");
    return std::string("ok");
  });
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.status().message(), "one");
}

TEST(FanOut, WorkersYieldLikeTheCaller) {
  std::atomic<int> yields{0};
  YieldScope scope([&] { ++yields; });
  auto r = FanOut(4, 4, [](int) -> Result<std::string> {
    YieldScope::Point();  // what a backend does between decode batches
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return std::string();
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(yields.load(), 4);
  // Without a scope on the caller, workers have none either.
  std::atomic<int> outside{0};
  std::thread t([&] {
    auto plain = FanOut(3, 3, [&](int) -> Result<std::string> {
      if (YieldScope::Current()) ++outside;
      return std::string();
    });
    EXPECT_TRUE(plain.ok());
  });
  t.join();
  EXPECT_EQ(outside.load(), 0);
}

}  // namespace
