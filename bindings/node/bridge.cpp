// AsyncBridge: the only path from the core's I/O thread back into JS. One uv wake-up per batch.
#include "bridge.hpp"

namespace redkeeper_node {

std::shared_ptr<AsyncBridge> AsyncBridge::create(Napi::Env env, std::function<void()> cork,
                                                 std::function<void()> uncork) {
  auto bridge = std::make_shared<AsyncBridge>(Tag{}, env);
  if (cork && uncork) {
    Napi::Value immediate = env.Global().Get("setImmediate");
    if (immediate.IsFunction()) {
      bridge->cork_ = std::move(cork);
      bridge->uncork_ = std::move(uncork);
      bridge->set_immediate_ = Napi::Persistent(immediate.As<Napi::Function>());
      std::weak_ptr<AsyncBridge> weak = bridge;
      bridge->uncork_fn_ = Napi::Persistent(Napi::Function::New(env, [weak](const Napi::CallbackInfo&) {
        if (auto b = weak.lock()) b->uncork_now();
      }));
    }
  }
  // The finalizer's copy keeps the bridge alive until Node is done with the TSFN, so a wake-up that
  // is already queued never runs against a destroyed bridge.
  bridge->tsfn_ = Napi::ThreadSafeFunction::New(
      env, Napi::Function(), "redkeeper.completions", 0, 1, [bridge](Napi::Env) {
        std::lock_guard<std::mutex> lock(bridge->tsfn_mu_);
        bridge->tsfn_open_ = false;
      });
  bridge->tsfn_open_ = true;
  // An idle client must not keep the process (or jest) alive.
  bridge->tsfn_.Unref(env);
  return bridge;
}

AsyncBridge::AsyncBridge(Tag, Napi::Env env) : env_(env), queue_([this] { wake(); }) {}

void AsyncBridge::cork_for_turn() {
  if (corked_ || !cork_) return;
  // Uncork first if scheduling fails: a corked client with nobody to uncork it would stall.
  corked_ = true;
  cork_();
  try {
    set_immediate_.Call({uncork_fn_.Value()});
  } catch (...) {
    uncork_now();
  }
}

void AsyncBridge::uncork_now() {
  if (!corked_) return;
  corked_ = false;
  chunks_.reset();
  uncork_();
}

std::pair<uint64_t, Napi::Promise> AsyncBridge::begin() {
  cork_for_turn();
  // Sent in chunks as the turn goes, not all at its end (see redkeeper/turn_chunks.hpp).
  if (corked_ && chunks_.next()) {
    uncork_();
    cork_();
  }
  uint64_t id = next_id_++;
  auto deferred = Napi::Promise::Deferred::New(env_);
  pending_.emplace(id, deferred);
  update_ref();
  return {id, deferred.Promise()};
}

void AsyncBridge::abandon(uint64_t id) {
  pending_.erase(id);
  update_ref();
}

void AsyncBridge::complete(uint64_t id, Settle settle) {
  queue_.post([this, id, settle = std::move(settle)]() mutable { settle_now(id, settle); });
}

void AsyncBridge::wake() {
  std::lock_guard<std::mutex> lock(tsfn_mu_);
  if (!tsfn_open_) return;
  tsfn_.NonBlockingCall([this](Napi::Env, Napi::Function) { queue_.drain(); });
}

void AsyncBridge::settle_now(uint64_t id, Settle& fn) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Napi::Promise::Deferred deferred = it->second;
  pending_.erase(it);
  Napi::HandleScope scope(env_);
  try {
    fn(env_, deferred);
  } catch (const Napi::Error& e) {
    deferred.Reject(e.Value());
  }
  update_ref();
}

void AsyncBridge::update_ref() {
  bool want = !pending_.empty();
  if (want == referenced_) return;
  std::lock_guard<std::mutex> lock(tsfn_mu_);
  if (!tsfn_open_) return;
  if (want) {
    tsfn_.Ref(env_);
  } else {
    tsfn_.Unref(env_);
  }
  referenced_ = want;
}

void AsyncBridge::shutdown(const std::function<Napi::Value(Napi::Env)>& closed_error) {
  uncork_now();
  queue_.drain();
  Napi::HandleScope scope(env_);
  auto rest = std::move(pending_);
  pending_.clear();
  for (auto& entry : rest) entry.second.Reject(closed_error(env_));
  update_ref();
  std::lock_guard<std::mutex> lock(tsfn_mu_);
  if (tsfn_open_) {
    tsfn_open_ = false;
    tsfn_.Release();
  }
}

}  // namespace redkeeper_node
