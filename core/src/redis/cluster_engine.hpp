// The Redis Cluster engine: routes each command to the primary that owns its key's slot (one
// RedisEngine per primary, so pipelining is per node), follows MOVED/ASK, retries TRYAGAIN and
// CLUSTERDOWN, keeps the slot map fresh (at start, periodically, on errors) and fans SCAN out over
// every primary behind one composite cursor. Callers see the same Engine as for one server.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <asio.hpp>

#include "redis/cluster_slots.hpp"
#include "redis/engine.hpp"
#include "redis/redis_engine.hpp"

namespace redkeeper {

class ClusterEngine final : public Engine, public std::enable_shared_from_this<ClusterEngine> {
 public:
  // `url.cluster` must be set (seeds in url.seeds). Validates options like RedisEngine.
  ClusterEngine(RedisUrl url, ClientOptions options);
  ~ClusterEngine() override;
  ClusterEngine(const ClusterEngine&) = delete;
  ClusterEngine& operator=(const ClusterEngine&) = delete;

  // Spawns the control thread (topology refresh, retry delays, deadlines of ops waiting for a
  // topology); node engines have their own I/O threads.
  void start() override;
  // The key is args[1] (EVAL/EVALSHA/FCALL: the first key), except for keyless commands (PING,
  // TIME, PUBLISH, INFO, ...: any primary). SCAN walks every primary: cursor "0" starts at the
  // first, the returned cursor is an opaque "<node>:<cursor>" string, and "0" comes back only
  // after the last primary is done. Multi-key commands are sent as they are (the server checks
  // that their keys share a slot, and answers CROSSSLOT otherwise).
  void submit(ArgList args, Callback<Reply> done, int64_t timeout_ms) override;
  void submit_eval(const Script& script, ArgList keys, ArgList args, Callback<Reply> done,
                   int64_t timeout_ms) override;
  void cork() override;
  void uncork() override;
  void close() override;
  bool closed() const override { return closing_.load(std::memory_order_acquire); }

  bool connected() const override;  // a topology is known and every primary is connected
  double latency_ms() const override;
  void record_latency(SteadyClock::duration d) override;
  Stats stats() const override;
  uint64_t socket_writes() const override;
  std::vector<RedisUrl> subscribe_urls() const override;

  // Asks for a topology refresh (coalesced, at most one every 100 ms).
  void request_refresh() { refresh_requested_.store(true, std::memory_order_release); }

 private:
  struct Node {
    ClusterNodeAddr addr;
    std::shared_ptr<RedisEngine> engine;
  };
  using NodePtr = std::shared_ptr<Node>;

  struct Op {
    std::string cmd;  // RESP bytes, kept to re-send after a redirection (SCAN: rebuilt per node)
    Script script;
    Callback<Reply> done;
    SteadyClock::time_point deadline;
    SteadyClock::time_point not_before;  // TRYAGAIN / CLUSTERDOWN back-off
    int64_t timeout_ms = 0;
    int slot = -1;                       // -1: keyless (any primary)
    int attempts = 0;                    // redirections and CLUSTERDOWN retries (max_redirects)
    int try_agains = 0;                  // TRYAGAIN retries (bounded by the deadline only)
    std::string last_error;              // for the Timeout message when a retry runs out of time
    bool scan = false;
    size_t scan_node = 0;                // index into primaries_ (ordered by lowest slot)
    std::string scan_cursor;             // that node's own cursor
    std::vector<std::string> scan_rest;  // SCAN arguments after the cursor
  };
  using OpPtr = std::shared_ptr<Op>;

  // Any thread.
  void reject(Callback<Reply>& done, Error error);
  void start_op(OpPtr op);
  // Sends `op` to `target`, or (null) to the slot's owner; parks it while no node can take it.
  void route(OpPtr op, NodePtr target, bool asking);
  void send(const OpPtr& op, const NodePtr& node, bool asking);
  void on_reply(const OpPtr& op, const NodePtr& node, Result<Reply> r);
  void finish(const OpPtr& op, Result<Reply> r);
  static Error timeout_error(const Op& op);
  NodePtr node_for(const ClusterNodeAddr& addr);  // existing or new (started) node engine
  NodePtr pick_locked(const Op& op) const;
  RedisUrl node_url(const ClusterNodeAddr& addr) const;

  // Control thread.
  void arm_tick();
  void tick();
  void start_refresh();
  void try_refresh(std::shared_ptr<std::vector<ClusterNodeAddr>> candidates, size_t i, bool slots_fallback);
  void on_refresh_reply(std::shared_ptr<std::vector<ClusterNodeAddr>> candidates, size_t i, bool slots_fallback,
                        const NodePtr& node, Result<Reply> r);
  void apply(ClusterTopology topology);
  void process_waiting();
  void shutdown();
  bool on_control_thread() const;

  const RedisUrl url_;
  const ClientOptions options_;

  asio::io_context io_;  // first: destroyed last
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  asio::steady_timer tick_timer_;

  // Control thread only.
  bool refresh_in_flight_ = false;
  SteadyClock::time_point last_refresh_start_{};
  SteadyClock::time_point next_periodic_refresh_{};

  // Guarded by mu_.
  mutable std::mutex mu_;
  bool shut_ = false;                                 // close() ran: nothing new is routed
  bool ready_ = false;                                // a topology has been applied
  std::unordered_map<std::string, NodePtr> nodes_;    // by "host:port": primaries, seeds, ASK targets
  std::vector<NodePtr> primaries_;                    // ordered by lowest slot
  std::vector<NodePtr> slots_;                        // kClusterSlots entries (null: uncovered)
  std::vector<ClusterNodeAddr> replicas_;
  std::vector<OpPtr> waiting_;                        // no topology yet, slot uncovered, or backing off
  std::string last_refresh_error_;
  int corked_ = 0;

  std::atomic<bool> refresh_requested_{false};
  std::atomic<bool> closing_{false};
  std::atomic<int64_t> latency_us_{0};
  std::atomic<uint64_t> ops_{0}, errors_{0}, timeouts_{0}, in_flight_{0}, redirects_{0}, refreshes_{0};

  std::thread thread_;
};

}  // namespace redkeeper
