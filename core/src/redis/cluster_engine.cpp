// ClusterEngine: slot routing, redirections, topology refresh and SCAN fan-out over per-primary
// RedisEngines. Ops are shared_ptrs so a redirect can re-send the same bytes from whichever node
// thread received the redirection; the control thread only refreshes the slot map and wakes ops
// that wait (for a topology, an uncovered slot, or a TRYAGAIN/CLUSTERDOWN back-off).
#include "redis/cluster_engine.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "redis/resp.hpp"

namespace redkeeper {
namespace {
using std::chrono::milliseconds;

constexpr int64_t kTickMs = 10;
constexpr int64_t kMinRefreshGapMs = 100;
constexpr int64_t kTryAgainDelayMs = 25;
constexpr int64_t kClusterDownDelayMs = 100;

thread_local const void* tl_control_engine = nullptr;
thread_local std::vector<std::string_view> tl_argv;  // submit_eval's scratch: no allocation once warm

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// Commands with no key (or whose first argument is not a key): sent to any primary.
bool keyless(std::string_view name) {
  static constexpr std::string_view kKeyless[] = {
      "PING",   "TIME",  "PUBLISH", "INFO",   "DBSIZE", "ECHO",   "SCRIPT", "CLUSTER", "FLUSHALL",
      "FLUSHDB", "CONFIG", "DEBUG",  "CLIENT", "COMMAND", "HELLO", "LASTSAVE", "ROLE",  "WAIT"};
  for (std::string_view k : kKeyless) {
    if (iequals(name, k)) return true;
  }
  return false;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

int64_t remaining_ms(Engine::SteadyClock::time_point deadline, Engine::SteadyClock::time_point now) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - now).count();
  return left > 0 ? left : 0;
}
}  // namespace

ClusterEngine::ClusterEngine(RedisUrl url, ClientOptions options)
    : url_(std::move(url)), options_(std::move(options)), tick_timer_(io_) {
  if (!url_.cluster || url_.seeds.empty()) throw invalid_argument("url", "a cluster URL needs at least one seed");
  validate_connection_options(options_);  // checked here too: the node engines come later
  if (options_.cluster_refresh_ms < 0) throw invalid_argument("cluster_refresh_ms", "must be >= 0");
  if (options_.max_redirects < 0 || options_.max_redirects > 100) {
    throw invalid_argument("max_redirects", "must be from 0 to 100");
  }
  if (url_.transport == RedisTransport::Tls) (void)make_tls_context(options_.tls);  // bad TLS files fail open()
  slots_.assign(kClusterSlots, nullptr);
}

ClusterEngine::~ClusterEngine() {
  if (thread_.joinable()) {
    if (on_control_thread()) {
      thread_.detach();  // the control thread dropped the last reference after run() returned
    } else {
      close();
      if (thread_.joinable()) thread_.join();
    }
  }
}

bool ClusterEngine::on_control_thread() const { return tl_control_engine == this; }

void ClusterEngine::start() {
  work_.emplace(io_.get_executor());
  asio::post(io_, [this] {
    arm_tick();
    tick();
  });
  thread_ = std::thread([self = shared_from_this()]() mutable {
    tl_control_engine = self.get();
    for (;;) {
      try {
        self->io_.run();
        break;
      } catch (...) {
        // A handler threw: keep the control thread alive (ops waiting on it must still settle).
      }
    }
    self.reset();
  });
}

RedisUrl ClusterEngine::node_url(const ClusterNodeAddr& addr) const {
  RedisUrl u = url_;
  u.cluster = false;
  u.seeds.clear();
  u.db = 0;
  u.host = addr.host;
  u.port = addr.port;
  return u;
}

// ---------------------------------------------------------------- callers (any thread)

void ClusterEngine::reject(Callback<Reply>& done, Error error) {
  ops_.fetch_add(1, std::memory_order_relaxed);
  errors_.fetch_add(1, std::memory_order_relaxed);
  if (!done) return;
  try {
    done(std::move(error));
  } catch (...) {
  }
}

void ClusterEngine::submit(ArgList args, Callback<Reply> done, int64_t timeout_ms) {
  if (args.empty()) return reject(done, invalid_argument("args", "a command needs at least its name"));
  if (closed()) return reject(done, Error(ErrorCode::Closed, "redis: client closed"));
  auto op = std::make_shared<Op>();
  std::string_view name = args.data()[0];
  if (iequals(name, "SCAN")) {
    if (args.size() < 2) return reject(done, invalid_argument("args", "SCAN needs a cursor"));
    std::string_view cursor = args.data()[1];
    op->scan = true;
    if (cursor == "0") {
      op->scan_node = 0;
      op->scan_cursor = "0";
    } else {
      // "<node>:<cursor>", as returned by an earlier page.
      size_t colon = cursor.find(':');
      unsigned node = 0;
      auto res = std::from_chars(cursor.data(), cursor.data() + (colon == std::string_view::npos ? 0 : colon), node);
      if (colon == std::string_view::npos || res.ec != std::errc() || res.ptr != cursor.data() + colon ||
          colon + 1 >= cursor.size()) {
        return reject(done, invalid_argument("cursor", "not a cursor returned by SCAN on this cluster client"));
      }
      op->scan_node = node;
      op->scan_cursor = std::string(cursor.substr(colon + 1));
    }
    for (size_t i = 2; i < args.size(); ++i) op->scan_rest.emplace_back(args.data()[i]);
  } else {
    if (iequals(name, "EVAL") || iequals(name, "EVALSHA") || iequals(name, "FCALL") || iequals(name, "EVAL_RO") ||
        iequals(name, "EVALSHA_RO") || iequals(name, "FCALL_RO")) {
      int64_t numkeys = 0;
      if (args.size() >= 3) {
        std::string_view nk = args.data()[2];
        std::from_chars(nk.data(), nk.data() + nk.size(), numkeys);
      }
      if (numkeys > 0 && args.size() >= 4) op->slot = key_slot(args.data()[3]);
    } else if (!keyless(name) && args.size() >= 2) {
      op->slot = key_slot(args.data()[1]);
    }
    append_command(op->cmd, args.data(), args.size());
  }
  op->done = std::move(done);
  op->timeout_ms = timeout_ms > 0 ? timeout_ms : options_.command_timeout_ms;
  start_op(std::move(op));
}

void ClusterEngine::submit_eval(const Script& script, ArgList keys, ArgList args, Callback<Reply> done,
                                int64_t timeout_ms) {
  if (!script.valid()) return reject(done, invalid_argument("script", "is empty"));
  if (closed()) return reject(done, Error(ErrorCode::Closed, "redis: client closed"));
  auto op = std::make_shared<Op>();
  char numkeys[24];
  auto res = std::to_chars(numkeys, numkeys + sizeof numkeys, keys.size());
  std::vector<std::string_view>& argv = tl_argv;
  argv.clear();
  argv.push_back("EVALSHA");
  argv.push_back(script.sha1());
  argv.emplace_back(numkeys, static_cast<size_t>(res.ptr - numkeys));
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  append_command(op->cmd, argv.data(), argv.size());
  op->script = script;
  op->slot = keys.empty() ? -1 : key_slot(keys.data()[0]);
  op->done = std::move(done);
  op->timeout_ms = timeout_ms > 0 ? timeout_ms : options_.command_timeout_ms;
  start_op(std::move(op));
}

void ClusterEngine::start_op(OpPtr op) {
  op->deadline = SteadyClock::now() + milliseconds(op->timeout_ms);
  ops_.fetch_add(1, std::memory_order_relaxed);
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  route(std::move(op), nullptr, false);
}

ClusterEngine::NodePtr ClusterEngine::pick_locked(const Op& op) const {
  if (op.scan) return op.scan_node < primaries_.size() ? primaries_[op.scan_node] : nullptr;
  if (op.slot >= 0) return slots_[static_cast<size_t>(op.slot)];
  for (const NodePtr& n : primaries_) {
    if (n->engine->connected()) return n;
  }
  return primaries_.empty() ? nullptr : primaries_.front();
}

void ClusterEngine::route(OpPtr op, NodePtr target, bool asking) {
  if (!target) {
    std::unique_lock<std::mutex> lock(mu_);
    if (shut_) {
      lock.unlock();
      return finish(op, Error(ErrorCode::Closed, "redis: client closed"));
    }
    auto now = SteadyClock::now();
    if (ready_ && op->not_before <= now) {
      if (op->scan && op->scan_node >= primaries_.size()) {
        // The topology shrank under a running SCAN: nothing is left to walk.
        lock.unlock();
        std::vector<Reply> page;
        page.push_back(Reply::string("0"));
        page.push_back(Reply::array({}));
        return finish(op, Reply::array(std::move(page)));
      }
      target = pick_locked(*op);
    }
    if (!target) {
      if (waiting_.size() >= options_.max_pending) {
        lock.unlock();
        return finish(op, Error(ErrorCode::QueueFull, "redis cluster: " + std::to_string(options_.max_pending) +
                                                          " commands already waiting for the cluster (max_pending)"));
      }
      if (ready_ && op->not_before <= now) refresh_requested_.store(true, std::memory_order_release);  // uncovered slot
      waiting_.push_back(std::move(op));
      return;  // the control thread's tick sends it (or times it out)
    }
  }
  send(op, target, asking);
}

void ClusterEngine::send(const OpPtr& op, const NodePtr& node, bool asking) {
  auto now = SteadyClock::now();
  int64_t left = remaining_ms(op->deadline, now);
  if (left <= 0) return finish(op, timeout_error(*op));
  if (op->scan) {
    std::vector<std::string_view> argv{"SCAN", op->scan_cursor};
    for (const auto& a : op->scan_rest) argv.emplace_back(a);
    op->cmd.clear();
    append_command(op->cmd, argv.data(), argv.size());
  }
  node->engine->submit_formatted(
      op->cmd, op->script.valid() ? &op->script : nullptr, asking,
      [self = shared_from_this(), op, node](Result<Reply> r) { self->on_reply(op, node, std::move(r)); }, left);
}

void ClusterEngine::on_reply(const OpPtr& op, const NodePtr& node, Result<Reply> r) {
  if (r.ok()) {
    if (!op->scan) return finish(op, std::move(r));
    // Rewrite the node's cursor into the composite one.
    const Reply& page = r.value();
    if (!page.is_array() || page.size() != 2 || !(page.at(0).is_string() || page.at(0).is_status())) {
      return finish(op, Error(ErrorCode::Protocol, "redis cluster: unexpected SCAN reply " + page.debug_string()));
    }
    std::string node_cursor(page.at(0).as_string());
    std::string next;
    size_t nodes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      nodes = primaries_.size();
    }
    if (node_cursor != "0") {
      next = std::to_string(op->scan_node) + ":" + node_cursor;
    } else if (op->scan_node + 1 < nodes) {
      next = std::to_string(op->scan_node + 1) + ":0";
    } else {
      next = "0";
    }
    std::vector<Reply> out;
    out.push_back(Reply::string(std::move(next)));
    out.push_back(page.at(1));
    return finish(op, Reply::array(std::move(out)));
  }
  const Error& e = r.error();
  if (closed()) return finish(op, std::move(r));
  switch (e.code()) {
    case ErrorCode::Script: {
      std::string_view msg = e.what();
      Redirect redirect;
      if (parse_redirect(msg, node->addr.host, redirect)) {
        if (redirect.ask && op->script.valid() && !op->script.declares_all_keys()) {
          // The script touches keys it does not declare: on the importing node (with ASKING)
          // those not yet migrated would read as missing and writes to them would be lost when
          // MIGRATE brings the old value. Wait on the source instead, until the migration ends
          // (MOVED, followed below) or the deadline passes (Timeout).
          op->last_error = std::string(msg);
          op->not_before = SteadyClock::now() + milliseconds(kTryAgainDelayMs);
          if (op->not_before >= op->deadline) return finish(op, timeout_error(*op));
          return route(op, nullptr, false);
        }
        if (++op->attempts > options_.max_redirects) return finish(op, std::move(r));
        redirects_.fetch_add(1, std::memory_order_relaxed);
        op->last_error = std::string(msg);
        NodePtr target = node_for(redirect.target);
        if (!target) return finish(op, Error(ErrorCode::Closed, "redis: client closed"));
        if (!redirect.ask) {
          // The slot has moved for good: route it there from now on, and learn the rest.
          {
            std::lock_guard<std::mutex> lock(mu_);
            slots_[redirect.slot] = target;
          }
          request_refresh();
          if (op->attempts >= 2) {
            // Nodes disagree for a moment while a resharding ends (the old owner already points
            // at the new one, which has not been told yet and points back): give them time
            // instead of spending every redirect in one burst.
            op->not_before = SteadyClock::now() + milliseconds(kTryAgainDelayMs * (op->attempts - 1));
            if (op->not_before >= op->deadline) return finish(op, std::move(r));
            return route(op, nullptr, false);
          }
        }
        return send(op, target, redirect.ask);
      }
      if (starts_with(msg, "TRYAGAIN")) {
        // A multi-key op whose keys are split by a migration in progress: it did not run. Wait
        // the migration out (bounded by the op's deadline, not max_redirects: migrating a slot
        // takes as long as it takes), then settle as Timeout.
        op->last_error = std::string(msg);
        ++op->try_agains;
        op->attempts = 0;  // the ASK that led here was right; the retry starts routing afresh
        op->not_before = SteadyClock::now() + milliseconds(kTryAgainDelayMs * std::min(op->try_agains, 4));
        if (op->not_before >= op->deadline) return finish(op, timeout_error(*op));
        return route(op, nullptr, false);
      }
      if (starts_with(msg, "CLUSTERDOWN")) {
        // The command did not run (the node refused it), so waiting and re-sending is safe.
        if (++op->attempts > options_.max_redirects) return finish(op, std::move(r));
        request_refresh();
        op->last_error = std::string(msg);
        op->not_before = SteadyClock::now() + milliseconds(kClusterDownDelayMs);
        if (op->not_before >= op->deadline) return finish(op, std::move(r));
        return route(op, nullptr, false);
      }
      return finish(op, std::move(r));
    }
    case ErrorCode::Connection:
      // Never re-sent (it may have run); the topology may have changed (failover).
      request_refresh();
      return finish(op, std::move(r));
    case ErrorCode::Closed:
      // The node was dropped from the topology while this op was on it.
      request_refresh();
      return finish(op, Error(ErrorCode::Connection, "redis cluster: " + node->addr.key() +
                                                         " left the cluster topology while a command was in flight"));
    default:
      return finish(op, std::move(r));
  }
}

Error ClusterEngine::timeout_error(const Op& op) {
  std::string why = "redis cluster: timed out after " + std::to_string(op.timeout_ms) + " ms";
  if (!op.last_error.empty()) why += " retrying (last error: " + op.last_error + ")";
  return Error(ErrorCode::Timeout, why);
}

void ClusterEngine::finish(const OpPtr& op, Result<Reply> r) {
  Callback<Reply> done = std::move(op->done);
  op->done = nullptr;
  if (!done) return;
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  if (!r.ok()) {
    if (r.error().code() == ErrorCode::Timeout) {
      timeouts_.fetch_add(1, std::memory_order_relaxed);
    } else {
      errors_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  try {
    done(std::move(r));
  } catch (...) {
    // Callbacks must not throw; one bad callback must not wedge the client.
  }
}

ClusterEngine::NodePtr ClusterEngine::node_for(const ClusterNodeAddr& addr) {
  std::string key = addr.key();
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_) return nullptr;
  auto it = nodes_.find(key);
  if (it != nodes_.end()) return it->second;
  auto node = std::make_shared<Node>();
  node->addr = addr;
  node->engine = std::make_shared<RedisEngine>(node_url(addr), options_);
  node->engine->start();
  for (int i = 0; i < corked_; ++i) node->engine->cork();
  nodes_.emplace(std::move(key), node);
  return node;
}

void ClusterEngine::cork() {
  std::vector<NodePtr> nodes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++corked_;
    for (const auto& kv : nodes_) nodes.push_back(kv.second);
  }
  for (const auto& n : nodes) n->engine->cork();
}

void ClusterEngine::uncork() {
  std::vector<NodePtr> nodes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (corked_ > 0) --corked_;
    for (const auto& kv : nodes_) nodes.push_back(kv.second);
  }
  for (const auto& n : nodes) n->engine->uncork();
}

void ClusterEngine::close() {
  if (closing_.exchange(true, std::memory_order_acq_rel)) return;
  std::vector<NodePtr> nodes;
  std::vector<OpPtr> waiting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shut_ = true;
    for (auto& kv : nodes_) nodes.push_back(kv.second);
    waiting.swap(waiting_);
  }
  // Node engines settle what they hold with Closed (on_reply passes it through: closed()).
  for (const auto& n : nodes) n->engine->close();
  for (const auto& op : waiting) finish(op, Error(ErrorCode::Closed, "redis: client closed"));
  asio::post(io_, [this] { shutdown(); });
  // Every op has settled by now (the control thread only refreshes the topology from here on).
  // Not joined from a node's I/O thread: the control thread may be closing that very node (a
  // dropped primary) and waiting for it; it holds its own reference and exits by itself.
  if (!on_control_thread() && !RedisEngine::on_any_io_thread() && thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  nodes_.clear();
  primaries_.clear();
  slots_.assign(kClusterSlots, nullptr);
}

bool ClusterEngine::connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!ready_ || primaries_.empty() || shut_) return false;
  for (const auto& n : primaries_) {
    if (!n->engine->connected()) return false;
  }
  return true;
}

double ClusterEngine::latency_ms() const {
  int64_t us = latency_us_.load(std::memory_order_relaxed);
  if (us > 0) return static_cast<double>(us) / 1000.0;
  double worst = 0;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& n : primaries_) worst = std::max(worst, n->engine->latency_ms());
  return worst;
}

void ClusterEngine::record_latency(SteadyClock::duration d) {
  latency_us_.store(std::chrono::duration_cast<std::chrono::microseconds>(d).count(), std::memory_order_relaxed);
}

Stats ClusterEngine::stats() const {
  Stats s;
  s.ops = ops_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  s.timeouts = timeouts_.load(std::memory_order_relaxed);
  s.in_flight = in_flight_.load(std::memory_order_relaxed);
  s.redirects = redirects_.load(std::memory_order_relaxed);
  s.topology_refreshes = refreshes_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& kv : nodes_) s.reconnects += kv.second->engine->stats().reconnects;
  s.nodes = primaries_.size();
  return s;
}

uint64_t ClusterEngine::socket_writes() const {
  uint64_t n = 0;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& kv : nodes_) n += kv.second->engine->socket_writes();
  return n;
}

std::vector<RedisUrl> ClusterEngine::subscribe_urls() const {
  std::vector<RedisUrl> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& n : primaries_) out.push_back(node_url(n->addr));
  for (const auto& r : replicas_) out.push_back(node_url(r));
  if (out.empty()) {
    for (const auto& [host, port] : url_.seeds) out.push_back(node_url(ClusterNodeAddr{host, port, {}}));
  }
  return out;
}

// ---------------------------------------------------------------- control thread

void ClusterEngine::arm_tick() {
  tick_timer_.expires_after(milliseconds(kTickMs));
  tick_timer_.async_wait([this](const std::error_code& ec) {
    if (ec || closed()) return;
    tick();
    arm_tick();
  });
}

void ClusterEngine::tick() {
  if (closed()) return;
  auto now = SteadyClock::now();
  bool ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ready = ready_;
  }
  bool due = refresh_requested_.load(std::memory_order_acquire) || !ready ||
             (options_.cluster_refresh_ms > 0 && now >= next_periodic_refresh_);
  if (due && !refresh_in_flight_ && now - last_refresh_start_ >= milliseconds(kMinRefreshGapMs)) start_refresh();
  process_waiting();
}

void ClusterEngine::process_waiting() {
  auto now = SteadyClock::now();
  std::vector<OpPtr> retry, expired;
  std::string why;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (waiting_.empty()) return;
    std::vector<OpPtr> keep;
    for (OpPtr& op : waiting_) {
      if (op->deadline <= now) {
        expired.push_back(std::move(op));
      } else if (ready_ && op->not_before <= now) {
        retry.push_back(std::move(op));
      } else {
        keep.push_back(std::move(op));
      }
    }
    waiting_.swap(keep);
    why = last_refresh_error_;
  }
  for (OpPtr& op : retry) route(std::move(op), nullptr, false);
  for (OpPtr& op : expired) {
    if (!op->last_error.empty()) {
      finish(op, timeout_error(*op));
      continue;
    }
    std::string msg = "redis cluster: timed out after " + std::to_string(op->timeout_ms) +
                      " ms waiting for a node serving its slot";
    if (!why.empty()) msg += " (last topology error: " + why + ")";
    finish(op, Error(ErrorCode::Timeout, msg));
  }
}

void ClusterEngine::start_refresh() {
  refresh_in_flight_ = true;
  refresh_requested_.store(false, std::memory_order_release);
  last_refresh_start_ = SteadyClock::now();
  // Any reachable node will do: connected primaries first, then the other known nodes, then seeds.
  auto candidates = std::make_shared<std::vector<ClusterNodeAddr>>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& n : primaries_) {
      if (n->engine->connected()) candidates->push_back(n->addr);
    }
    for (const auto& kv : nodes_) {
      if (std::find(candidates->begin(), candidates->end(), kv.second->addr) == candidates->end()) {
        candidates->push_back(kv.second->addr);
      }
    }
    for (const auto& [host, port] : url_.seeds) {
      ClusterNodeAddr a{host, port, {}};
      if (std::find(candidates->begin(), candidates->end(), a) == candidates->end()) candidates->push_back(a);
    }
  }
  try_refresh(std::move(candidates), 0, false);
}

void ClusterEngine::try_refresh(std::shared_ptr<std::vector<ClusterNodeAddr>> candidates, size_t i,
                                bool slots_fallback) {
  if (closed()) return;
  if (i >= candidates->size()) {
    refresh_in_flight_ = false;
    return;  // the next tick tries again (>= 100 ms later) while no topology is known
  }
  NodePtr node = node_for((*candidates)[i]);
  if (!node) return;
  std::weak_ptr<ClusterEngine> weak = weak_from_this();
  auto on_reply = [weak, candidates, i, slots_fallback, node](Result<Reply> r) {
    auto self = weak.lock();
    if (!self) return;
    asio::post(self->io_, [weak, candidates, i, slots_fallback, node, r = std::move(r)]() mutable {
      if (auto s = weak.lock()) s->on_refresh_reply(candidates, i, slots_fallback, node, std::move(r));
    });
  };
  int64_t timeout = options_.command_timeout_ms + (node->engine->connected() ? 0 : options_.connect_timeout_ms);
  if (slots_fallback) {
    node->engine->submit({"CLUSTER", "SLOTS"}, std::move(on_reply), timeout);
  } else {
    node->engine->submit({"CLUSTER", "SHARDS"}, std::move(on_reply), timeout);
  }
}

void ClusterEngine::on_refresh_reply(std::shared_ptr<std::vector<ClusterNodeAddr>> candidates, size_t i,
                                     bool slots_fallback, const NodePtr& node, Result<Reply> r) {
  if (closed()) return;
  if (!r.ok()) {
    std::string msg = r.error().what();
    // Servers before 7.0 know no CLUSTER SHARDS: ask the same node for CLUSTER SLOTS.
    if (!slots_fallback && r.error().code() == ErrorCode::Script &&
        (msg.find("nknown subcommand") != std::string::npos || msg.find("nknown command") != std::string::npos)) {
      return try_refresh(std::move(candidates), i, true);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_refresh_error_ = node->addr.key() + ": " + msg;
    }
    return try_refresh(std::move(candidates), i + 1, false);
  }
  ClusterTopology topology;
  try {
    topology = slots_fallback ? parse_cluster_slots(r.value(), node->addr.host)
                              : parse_cluster_shards(r.value(), node->addr.host, url_.transport == RedisTransport::Tls);
  } catch (const Error& e) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_refresh_error_ = node->addr.key() + ": " + e.what();
    }
    return try_refresh(std::move(candidates), i + 1, false);
  }
  if (topology.primaries.empty()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_refresh_error_ = node->addr.key() + ": the cluster reports no slots assigned";
    }
    return try_refresh(std::move(candidates), i + 1, false);
  }
  apply(std::move(topology));
}

void ClusterEngine::apply(ClusterTopology topology) {
  std::vector<NodePtr> primaries;
  for (const auto& addr : topology.primaries) {
    NodePtr n = node_for(addr);
    if (!n) return;  // closing
    primaries.push_back(std::move(n));
  }
  std::vector<NodePtr> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_) return;
    for (size_t s = 0; s < kClusterSlots; ++s) {
      int16_t o = topology.slot_owner[s];
      slots_[s] = o >= 0 ? primaries[static_cast<size_t>(o)] : nullptr;
    }
    primaries_ = primaries;
    replicas_ = std::move(topology.replicas);
    for (auto it = nodes_.begin(); it != nodes_.end();) {
      if (std::find(primaries.begin(), primaries.end(), it->second) == primaries.end()) {
        dropped.push_back(it->second);
        it = nodes_.erase(it);
      } else {
        ++it;
      }
    }
    ready_ = true;
    last_refresh_error_.clear();
  }
  refreshes_.fetch_add(1, std::memory_order_relaxed);
  refresh_in_flight_ = false;
  next_periodic_refresh_ = SteadyClock::now() + milliseconds(options_.cluster_refresh_ms);
  // Nodes that are no longer primaries (failed over, removed, or a seed that is a replica): their
  // in-flight ops settle with Connection (on_reply maps the engine's Closed), then they are gone.
  for (const auto& n : dropped) n->engine->close();
  process_waiting();
}

void ClusterEngine::shutdown() {
  tick_timer_.cancel();
  work_.reset();
  io_.stop();
}

}  // namespace redkeeper
