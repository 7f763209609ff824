#include "common/parallel.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/reference.h"

namespace qb::cpu {
namespace {

class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  void resize(int n) {
    stop();
    n_ = std::max(1, n);
    quit_ = false;
    for (int i = 1; i < n_; ++i) workers_.emplace_back([this, i] { loop(i); });
  }
  int size() const { return n_; }

  void run(long n, const std::function<void(long, long)>& fn, int parts) {
    std::unique_lock<std::mutex> lk(m_);
    fn_ = &fn;
    total_ = n;
    parts_ = parts;
    pending_ = parts - 1;
    ++gen_;
    lk.unlock();
    cv_.notify_all();
    chunk(0, fn);
    lk.lock();
    done_cv_.wait(lk, [this] { return pending_ == 0; });
    fn_ = nullptr;
  }

 private:
  void chunk(int i, const std::function<void(long, long)>& fn) {
    long b = total_ * i / parts_, e = total_ * (i + 1) / parts_;
    if (b < e) fn(b, e);
  }
  void loop(int idx) {
    unsigned long seen = 0;
    for (;;) {
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [&] { return quit_ || gen_ != seen; });
      if (quit_) return;
      seen = gen_;
      if (idx >= parts_) continue;
      const auto* fn = fn_;
      lk.unlock();
      chunk(idx, *fn);
      lk.lock();
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lk(m_);
      quit_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  int n_ = 1;
  std::vector<std::thread> workers_;
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(long, long)>* fn_ = nullptr;
  long total_ = 0;
  int parts_ = 1;
  int pending_ = 0;
  unsigned long gen_ = 0;
  bool quit_ = false;
};

Pool& pool() {
  static Pool p(std::max(1u, std::thread::hardware_concurrency()));
  return p;
}
std::mutex run_mutex;  // one parallel region at a time (models on several JS threads stay safe)

}  // namespace

void set_num_threads(int n) {
  std::lock_guard<std::mutex> lk(run_mutex);
  if (n != pool().size()) pool().resize(n);
}
int num_threads() { return pool().size(); }

void parallel_for(long n, long min_per_thread, const std::function<void(long, long)>& fn) {
  if (n <= 0) return;
  int threads = pool().size();
  long parts = std::min<long>(threads, std::max<long>(1, n / std::max<long>(1, min_per_thread)));
  if (parts <= 1) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> lk(run_mutex);
  pool().run(n, fn, (int)parts);
}

}  // namespace qb::cpu
