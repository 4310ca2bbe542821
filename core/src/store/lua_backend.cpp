// The memory backend's Lua host: Redis 7's scripting environment (redis.call/pcall, error_reply,
// status_reply, sha1hex, log, protected globals, the error-table format and both reply conversions)
// rebuilt on a stock Lua 5.1, so the primitives' scripts behave on memory:// as on Redis.
#include "store/lua_backend.hpp"

#include <algorithm>
#include <cctype>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

extern "C" {
#include <lua5.1/lauxlib.h>
#include <lua5.1/lua.h>
#include <lua5.1/lualib.h>
}

#include "common/factories.hpp"
#include "common/keys.hpp"
#include "store/lua_keyspace.hpp"

namespace redkeeper {

namespace {

using SteadyClock = std::chrono::steady_clock;

// Registry key under which the running Host is found by the count hook (hooks have no upvalues).
char kHostKey;

struct LuaStateDeleter {
  void operator()(lua_State* L) const { lua_close(L); }
};

}  // namespace

// Everything the backend owns; shared with the timer thread so a timer callback that drops the
// last reference to the backend cannot pull the state out from under the thread.
struct LuaBackend::State {
  explicit State(const ClientOptions& opts, LuaBackendLimits lim)
      : options(opts),
        limits(lim),
        clock(opts.clock ? opts.clock : std::make_shared<SystemClock>()),
        keyspace([this](const std::string& channel) { return listener_count(channel); }) {
    init_lua();
  }

  ClientOptions options;
  LuaBackendLimits limits;
  std::shared_ptr<Clock> clock;
  std::atomic<bool> is_closed{false};

  // ---- the "server": keyspace + Lua, under one mutex ----
  mutable std::mutex mu;
  LuaKeyspace keyspace;
  std::unique_ptr<lua_State, LuaStateDeleter> lua;
  std::unordered_map<std::string, int> script_refs;  // sha1 -> registry ref of the compiled chunk
  // Per running script (valid while mu is held inside run_script).
  int64_t script_now_ms = 0;
  std::vector<LuaKeyspace::Published>* published = nullptr;
  SteadyClock::time_point script_started;
  bool script_killed = false;
  bool in_redis_call = false;
  // The one cluster slot the running script may touch: that of its KEYS, else of the first key it
  // accesses (-1 until then). See check_slots().
  int script_slot = -1;
  // Set when the running script promises KEYS lists every key it touches (checked with the slots).
  bool script_declares_all_keys = false;
  std::vector<std::string> script_keys;

  // ---- listeners ----
  mutable std::mutex listen_mu;
  uint64_t next_listener_id = 1;
  struct Listener {
    std::string channel;
    std::shared_ptr<std::function<void(std::string_view)>> fn;
  };
  std::map<uint64_t, Listener> listeners;

  // ---- timers and the sweep, run by one thread ----
  std::mutex timer_mu;
  std::condition_variable timer_cv;
  bool stopping = false;
  uint64_t next_timer_id = 1;
  std::map<uint64_t, std::pair<SteadyClock::time_point, std::function<void()>>> timers;
  std::set<std::pair<SteadyClock::time_point, uint64_t>> timer_queue;
  SteadyClock::time_point next_sweep = SteadyClock::now();

  int64_t listener_count(const std::string& channel) const {
    std::lock_guard<std::mutex> lock(listen_mu);
    int64_t n = 0;
    for (const auto& kv : listeners) n += kv.second.channel == channel ? 1 : 0;
    return n;
  }

  void deliver(const std::vector<LuaKeyspace::Published>& messages) {
    for (const auto& m : messages) {
      std::vector<std::shared_ptr<std::function<void(std::string_view)>>> targets;
      {
        std::lock_guard<std::mutex> lock(listen_mu);
        for (const auto& kv : listeners) {
          if (kv.second.channel == m.channel) targets.push_back(kv.second.fn);
        }
      }
      for (const auto& fn : targets) {
        // A throwing listener must not keep the op's own callback from running.
        try {
          (*fn)(m.message);
        } catch (...) {
        }
      }
    }
  }

  void init_lua();
  Result<Reply> run_script(const Script& script, ArgList keys, ArgList args);
  void timer_loop();
  void sweep_tick();
  size_t sweep_step(size_t max_keys) {
    std::lock_guard<std::mutex> lock(mu);
    return keyspace.sweep(clock->now_ms(), max_keys);
  }
};

namespace {

using State = LuaBackend::State;

State* host_of(lua_State* L) { return static_cast<State*>(lua_touserdata(L, lua_upvalueindex(1))); }

// Redis luaPushErrorBuff: "-CODE msg" keeps CODE, anything else gets "ERR"; pushes {err="CODE msg"}.
void push_error_buff(lua_State* L, const char* buf, size_t len) {
  std::string_view in(buf, len);
  std::string code = "ERR", msg;
  if (!in.empty() && in[0] == '-') {
    size_t space = in.find(' ');
    if (space == std::string_view::npos) {
      msg = std::string(in.substr(1));
    } else {
      code = std::string(in.substr(1, space - 1));
      msg = std::string(in.substr(space + 1));
    }
  } else {
    msg = std::string(in);
  }
  // sdstrim(msg, "\r\n"): both ends.
  size_t b = msg.find_first_not_of("\r\n");
  size_t e = msg.find_last_not_of("\r\n");
  msg = b == std::string::npos ? std::string() : msg.substr(b, e - b + 1);
  std::string final_msg = code + " " + msg;
  lua_newtable(L);
  lua_pushstring(L, "err");
  lua_pushlstring(L, final_msg.data(), final_msg.size());
  lua_settable(L, -3);
}

void push_error(lua_State* L, const char* text) { push_error_buff(L, text, std::strlen(text)); }

// Reply -> Lua, as Redis's redisProtocolToLuaType (RESP2).
void push_reply(lua_State* L, const Reply& r) {
  luaL_checkstack(L, 4, "reply too deep");
  switch (r.type()) {
    case Reply::Type::Integer:
      lua_pushnumber(L, static_cast<lua_Number>(r.as_integer()));
      break;
    case Reply::Type::String: {
      auto s = r.as_string();
      lua_pushlstring(L, s.data(), s.size());
      break;
    }
    case Reply::Type::Status: {
      auto s = r.as_string();
      lua_newtable(L);
      lua_pushstring(L, "ok");
      lua_pushlstring(L, s.data(), s.size());
      lua_settable(L, -3);
      break;
    }
    case Reply::Type::Error: {
      std::string s = "-" + std::string(r.as_string());
      push_error_buff(L, s.data(), s.size());
      lua_pushstring(L, "ignore_error_stats_update");
      lua_pushboolean(L, 1);
      lua_settable(L, -3);
      break;
    }
    case Reply::Type::Array: {
      lua_newtable(L);
      const auto& elems = r.as_array();
      for (size_t i = 0; i < elems.size(); i++) {
        lua_pushnumber(L, static_cast<lua_Number>(i + 1));
        push_reply(L, elems[i]);
        lua_settable(L, -3);
      }
      break;
    }
    case Reply::Type::Double:
      lua_newtable(L);
      lua_pushstring(L, "double");
      lua_pushnumber(L, r.as_double());
      lua_settable(L, -3);
      break;
    case Reply::Type::Nil:
      lua_pushboolean(L, 0);
      break;
  }
}

std::string map_crlf(std::string s) {
  for (char& c : s) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return s;
}

// (long long)lua_Number as Redis does it; out-of-range values become what x86-64 produces.
int64_t number_to_integer(lua_Number n) {
  if (!(n >= -9223372036854775808.0 && n < 9223372036854775808.0)) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(n);
}

// Lua -> Reply, as Redis's luaReplyToRedisReply (RESP2). Consumes the top of the stack.
Reply pop_reply(lua_State* L) {
  if (!lua_checkstack(L, 4)) {
    lua_pop(L, 1);
    return Reply::error("ERR reached lua stack limit");
  }
  Reply out;
  switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
      size_t len = 0;
      const char* s = lua_tolstring(L, -1, &len);
      out = Reply::string(std::string(s, len));
      break;
    }
    case LUA_TBOOLEAN:
      out = lua_toboolean(L, -1) ? Reply::integer(1) : Reply::nil();
      break;
    case LUA_TNUMBER:
      out = Reply::integer(number_to_integer(lua_tonumber(L, -1)));
      break;
    case LUA_TTABLE: {
      lua_getfield(L, -1, "err");
      if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len = 0;
        const char* s = lua_tolstring(L, -1, &len);
        // "-%s": the text is sent as is (no ERR added), newlines mapped to spaces.
        out = Reply::error(map_crlf(std::string(s, len)));
        lua_pop(L, 2);
        return out;
      }
      lua_pop(L, 1);
      lua_getfield(L, -1, "ok");
      if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len = 0;
        const char* s = lua_tolstring(L, -1, &len);
        out = Reply::status(map_crlf(std::string(s, len)));
        lua_pop(L, 2);
        return out;
      }
      lua_pop(L, 1);
      lua_getfield(L, -1, "double");
      if (lua_type(L, -1) == LUA_TNUMBER) {
        out = Reply::string(lua_format_score(lua_tonumber(L, -1)));
        lua_pop(L, 2);
        return out;
      }
      lua_pop(L, 1);
      std::vector<Reply> elems;
      for (int j = 1;; j++) {
        lua_pushnumber(L, j);
        lua_gettable(L, -2);
        if (lua_type(L, -1) == LUA_TNIL) {
          lua_pop(L, 1);
          break;
        }
        elems.push_back(pop_reply(L));
      }
      out = Reply::array(std::move(elems));
      break;
    }
    default:
      out = Reply::nil();
  }
  lua_pop(L, 1);
  return out;
}

// Redis Cluster rules, enforced on memory too so that a key-layout mistake fails every memory test
// rather than only the cluster ones: the keys of one command, and every key one script touches,
// must hash to one slot. Returns the error reply text, or nullptr. `slot` is the slot fixed so far
// (-1: none yet) and is updated. Keys are at argv[1] for the host's commands, except the multi-key
// ones (every argument) and the keyless ones.
// [first, last] argv positions of the keys of one of the host's commands (first > last: none).
std::pair<size_t, size_t> key_positions(const std::vector<std::string>& argv) {
  if (argv.size() < 2) return {1, 0};
  std::string name = argv[0];
  for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name == "PUBLISH" || name == "TIME" || name == "SCAN" || name == "PING" || name == "ECHO") return {1, 0};
  if (name == "DEL" || name == "UNLINK" || name == "EXISTS" || name == "MGET") return {1, argv.size() - 1};
  return {1, 1};
}

const char* check_slots(const std::vector<std::string>& argv, int& slot, const char* mismatch) {
  const auto [first, last] = key_positions(argv);
  for (size_t i = first; i <= last; ++i) {
    const int s = key_slot(argv[i]);
    if (slot < 0) {
      slot = s;
    } else if (s != slot) {
      return mismatch;
    }
  }
  return nullptr;
}

// A script built with Script::DeclaredKeys (the default) promises KEYS lists every key it touches:
// the cluster engine then lets it follow ASK during a slot migration, which is only safe when the
// promise holds. Redis cannot check it; the memory host does, so every memory test proves it.
// Returns the undeclared key, or nullptr.
const std::string* undeclared_key(const std::vector<std::string>& argv, const std::vector<std::string>& keys) {
  const auto [first, last] = key_positions(argv);
  for (size_t i = first; i <= last; ++i) {
    if (std::find(keys.begin(), keys.end(), argv[i]) == keys.end()) return &argv[i];
  }
  return nullptr;
}

constexpr const char* kCrossSlot = "CROSSSLOT Keys in request don't hash to the same slot";
constexpr const char* kScriptCrossSlot = "Script attempted to access keys that do not hash to the same slot";

// redis.call / redis.pcall. Returns 1 with the result pushed, or -1 with an error table pushed
// that the caller raises. C++ objects live only in here: lua_error longjmps and must not skip
// their destructors.
int redis_generic_impl(lua_State* L, State* h) {
  int argc = lua_gettop(L);
  if (argc == 0) {
    push_error(L, "Please specify at least one argument for this redis lib call");
    return -1;
  }
  std::vector<std::string> argv;
  argv.reserve(static_cast<size_t>(argc));
  for (int j = 1; j <= argc; j++) {
    if (lua_type(L, j) == LUA_TNUMBER) {
      // Not lua_tolstring: Lua's %.14g loses precision; Redis formats numbers with %.17g.
      char buf[64];
      int n = std::snprintf(buf, sizeof buf, "%.17g", static_cast<double>(lua_tonumber(L, j)));
      argv.emplace_back(buf, static_cast<size_t>(n));
    } else if (lua_type(L, j) == LUA_TSTRING) {
      size_t len = 0;
      const char* s = lua_tolstring(L, j, &len);
      argv.emplace_back(s, len);
    } else {
      lua_settop(L, 0);
      push_error(L, "Lua redis lib command arguments must be strings or integers");
      return -1;
    }
  }
  lua_settop(L, 0);
  if (h->in_redis_call) {
    push_error(L, "luaRedisGenericCommand() recursive call detected. Are you doing funny stuff with Lua debug hooks?");
    return 1;
  }
  if (const char* bad = h->limits.cluster_slot_checks ? check_slots(argv, h->script_slot, kScriptCrossSlot) : nullptr) {
    push_error(L, bad);
    return -1;
  }
  if (h->script_declares_all_keys) {
    if (const std::string* key = undeclared_key(argv, h->script_keys)) {
      const std::string msg = "redkeeper: the script touched key '" + *key +
                              "' that KEYS does not list (declare it, or build the Script with Script::UndeclaredKeys)";
      push_error(L, msg.c_str());
      return -1;
    }
  }
  h->in_redis_call = true;
  Reply reply;
  try {
    reply = h->keyspace.execute(argv, h->script_now_ms, true, *h->published);
  } catch (const std::exception& e) {
    reply = Reply::error(std::string("ERR ") + e.what());
  }
  h->in_redis_call = false;
  push_reply(L, reply);
  return reply.is_error() ? -1 : 1;
}

int redis_call(lua_State* L) {
  int rc = redis_generic_impl(L, host_of(L));
  if (rc < 0) return lua_error(L);
  return rc;
}

int redis_pcall(lua_State* L) {
  int rc = redis_generic_impl(L, host_of(L));
  return rc < 0 ? 1 : rc;
}

// Redis's replacement of Lua's pcall: an error table raised inside is returned as its err string.
int lua_pcall_compat(lua_State* L) {
  int argc = lua_gettop(L);
  lua_pushboolean(L, 1);
  lua_insert(L, 1);
  if (lua_pcall(L, argc - 1, LUA_MULTRET, 0) != 0) {
    lua_remove(L, 1);
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "err");
      if (lua_isstring(L, -1)) {
        lua_replace(L, -2);
      } else {
        lua_pop(L, 1);
      }
    }
    lua_pushboolean(L, 0);
    lua_insert(L, 1);
  }
  return lua_gettop(L);
}

int redis_sha1hex(lua_State* L) {
  if (lua_gettop(L) != 1) {
    push_error(L, "wrong number of arguments");
    return lua_error(L);
  }
  size_t len = 0;
  const char* s = lua_tolstring(L, 1, &len);
  char digest[41];
  {
    std::string hex = sha1_hex(s != nullptr ? std::string(s, len) : std::string());
    std::snprintf(digest, sizeof digest, "%s", hex.c_str());
  }
  lua_pushstring(L, digest);
  return 1;
}

int redis_error_reply(lua_State* L) {
  if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
    push_error(L, "wrong number or type of arguments");
    return 1;
  }
  size_t len = 0;
  const char* s = lua_tolstring(L, -1, &len);
  if (len > 0 && s[0] == '-') {
    push_error_buff(L, s, len);
  } else {
    std::string buf = "-" + std::string(s, len);
    push_error_buff(L, buf.data(), buf.size());
  }
  return 1;
}

int redis_status_reply(lua_State* L) {
  if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
    push_error(L, "wrong number or type of arguments");
    return 1;
  }
  lua_newtable(L);
  lua_pushstring(L, "ok");
  lua_pushvalue(L, -3);
  lua_settable(L, -3);
  return 1;
}

// redis.log validates like Redis and writes nothing (the host has no server log).
int redis_log(lua_State* L) {
  int argc = lua_gettop(L);
  if (argc < 2) {
    push_error(L, "redis.log() requires two arguments or more.");
    return lua_error(L);
  }
  if (!lua_isnumber(L, -argc)) {
    push_error(L, "First argument must be a number (log level).");
    return lua_error(L);
  }
  int level = static_cast<int>(lua_tonumber(L, -argc));
  if (level < 0 || level > 3) {
    push_error(L, "Invalid debug level.");
    return lua_error(L);
  }
  return 0;
}

// Globals protection: reading a missing global and writing any global fail as in Redis 7.
int globals_index(lua_State* L) {
  const char* name = lua_tostring(L, 2);
  return luaL_error(L, "Script attempted to access nonexistent global variable '%s'", name != nullptr ? name : "?");
}

int globals_newindex(lua_State* L) { return luaL_error(L, "Attempt to modify a readonly table"); }

// Redis 7's __redis__err__handler: any error becomes {err=..., source=..., line=...}, a non-table
// one as "ERR " .. tostring(err); the position is the script line that raised it (the caller of
// a C function such as redis.call or error).
int error_handler(lua_State* L) {
  lua_Debug ar;
  bool have = false;
  if (lua_getstack(L, 1, &ar)) {
    lua_getinfo(L, "Sl", &ar);
    have = true;
    if (std::strcmp(ar.what, "C") == 0) {
      have = lua_getstack(L, 2, &ar) != 0;
      if (have) lua_getinfo(L, "Sl", &ar);
    }
  }
  if (!lua_istable(L, 1)) {
    lua_getglobal(L, "tostring");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    lua_newtable(L);
    lua_pushstring(L, "err");
    lua_pushstring(L, "ERR ");
    lua_pushvalue(L, -4);
    lua_concat(L, 2);
    lua_settable(L, -3);
    lua_replace(L, 1);
    lua_settop(L, 1);
  }
  if (have) {
    lua_pushstring(L, "source");
    lua_pushstring(L, ar.source);
    lua_settable(L, 1);
    lua_pushstring(L, "line");
    lua_pushnumber(L, ar.currentline);
    lua_settable(L, 1);
  }
  lua_settop(L, 1);
  return 1;
}

// Aborts a runaway script; once fired it fires on every line so pcall cannot swallow it for good.
void count_hook(lua_State* L, lua_Debug*) {
  lua_pushlightuserdata(L, &kHostKey);
  lua_rawget(L, LUA_REGISTRYINDEX);
  auto* h = static_cast<State*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  if (h == nullptr) return;
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - h->script_started).count();
  if (!h->script_killed && elapsed < h->limits.script_time_limit_ms) return;
  h->script_killed = true;
  lua_sethook(L, count_hook, LUA_MASKLINE, 0);
  char msg[160];
  std::snprintf(msg, sizeof msg, "Script killed: it ran longer than the %lld ms script time limit",
                static_cast<long long>(h->limits.script_time_limit_ms));
  push_error(L, msg);
  lua_error(L);
}

void set_fn(lua_State* L, const char* name, lua_CFunction fn, State* h) {
  lua_pushstring(L, name);
  lua_pushlightuserdata(L, h);
  lua_pushcclosure(L, fn, 1);
  lua_settable(L, -3);
}

void set_number(lua_State* L, const char* name, double v) {
  lua_pushstring(L, name);
  lua_pushnumber(L, v);
  lua_settable(L, -3);
}

// Fills a fresh array table from args and stores it as global `name` (raw: globals are protected).
void set_array_global(lua_State* L, const char* name, ArgList args) {
  lua_pushstring(L, name);
  lua_createtable(L, static_cast<int>(args.size()), 0);
  int i = 1;
  for (std::string_view a : args) {
    lua_pushlstring(L, a.data(), a.size());
    lua_rawseti(L, -2, i++);
  }
  lua_rawset(L, LUA_GLOBALSINDEX);
}

}  // namespace

void LuaBackend::State::init_lua() {
  lua.reset(luaL_newstate());
  if (!lua) throw Error(ErrorCode::Internal, "memory backend: cannot create a Lua state");
  lua_State* L = lua.get();
  const std::pair<const char*, lua_CFunction> libs[] = {
      {"", luaopen_base}, {LUA_TABLIBNAME, luaopen_table}, {LUA_STRLIBNAME, luaopen_string},
      {LUA_MATHLIBNAME, luaopen_math}};
  for (const auto& lib : libs) {
    lua_pushcfunction(L, lib.second);
    lua_pushstring(L, lib.first);
    lua_call(L, 1, 0);
  }
  // Redis's deny list: no file access, no print.
  for (const char* name : {"dofile", "loadfile", "print"}) {
    lua_pushnil(L);
    lua_setglobal(L, name);
  }
  lua_pushcfunction(L, lua_pcall_compat);
  lua_setglobal(L, "pcall");

  lua_newtable(L);
  set_fn(L, "call", redis_call, this);
  set_fn(L, "pcall", redis_pcall, this);
  set_fn(L, "sha1hex", redis_sha1hex, this);
  set_fn(L, "error_reply", redis_error_reply, this);
  set_fn(L, "status_reply", redis_status_reply, this);
  set_fn(L, "log", redis_log, this);
  set_number(L, "LOG_DEBUG", 0);
  set_number(L, "LOG_VERBOSE", 1);
  set_number(L, "LOG_NOTICE", 2);
  set_number(L, "LOG_WARNING", 3);
  lua_setglobal(L, "redis");

  lua_pushlightuserdata(L, &kHostKey);
  lua_pushlightuserdata(L, this);
  lua_rawset(L, LUA_REGISTRYINDEX);

  // Scripts run with a proxy environment: empty, reads fall through to the globals (missing ones
  // raise), every write raises. The globals table itself gets the same metatable so code built by
  // loadstring (which runs in the real globals) cannot create globals either.
  lua_newtable(L);  // proxy
  lua_newtable(L);  // its metatable
  lua_pushvalue(L, LUA_GLOBALSINDEX);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, globals_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_setmetatable(L, -2);
  lua_pushstring(L, "_G");
  lua_pushvalue(L, -2);
  lua_rawset(L, LUA_GLOBALSINDEX);  // _G is the proxy, so _G.x = 1 fails too
  lua_setfield(L, LUA_REGISTRYINDEX, "redkeeper_script_env");

  lua_newtable(L);
  lua_pushcfunction(L, globals_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, globals_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_setmetatable(L, LUA_GLOBALSINDEX);
}

Result<Reply> LuaBackend::State::run_script(const Script& script, ArgList keys, ArgList args) {
  lua_State* L = lua.get();
  int base = lua_gettop(L);
  lua_pushcfunction(L, error_handler);
  auto cached = script_refs.find(script.sha1());
  if (cached == script_refs.end()) {
    const std::string& src = script.source();
    if (luaL_loadbuffer(L, src.data(), src.size(), "@user_script") != 0) {
      std::string msg = lua_tostring(L, -1) != nullptr ? lua_tostring(L, -1) : "unknown error";
      lua_settop(L, base);
      return Error(ErrorCode::Script, map_crlf("ERR Error compiling script (new function): " + msg));
    }
    lua_getfield(L, LUA_REGISTRYINDEX, "redkeeper_script_env");
    lua_setfenv(L, -2);
    lua_pushvalue(L, -1);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    script_refs.emplace(script.sha1(), ref);
  } else {
    lua_rawgeti(L, LUA_REGISTRYINDEX, cached->second);
  }
  script_slot = -1;
  script_declares_all_keys = limits.cluster_slot_checks && script.declares_all_keys();
  script_keys.assign(keys.begin(), keys.end());
  for (const auto& k : keys) {
    if (!limits.cluster_slot_checks) break;
    const int s = key_slot(k);
    if (script_slot >= 0 && s != script_slot) {
      lua_settop(L, base);
      return Error(ErrorCode::Script, kCrossSlot);
    }
    script_slot = s;
  }
  set_array_global(L, "KEYS", keys);
  set_array_global(L, "ARGV", args);

  script_now_ms = clock->now_ms();
  script_started = SteadyClock::now();
  script_killed = false;
  lua_sethook(L, count_hook, LUA_MASKCOUNT, 100000);
  int rc = lua_pcall(L, 0, 1, base + 1);
  lua_sethook(L, nullptr, 0, 0);

  std::optional<Result<Reply>> result;
  if (rc != 0) {
    if (lua_istable(L, -1)) {
      std::string msg, source, line;
      lua_getfield(L, -1, "err");
      if (lua_isstring(L, -1)) msg = lua_tostring(L, -1);
      lua_pop(L, 1);
      lua_getfield(L, -1, "source");
      bool has_source = lua_isstring(L, -1) != 0;
      if (has_source) source = lua_tostring(L, -1);
      lua_pop(L, 1);
      lua_getfield(L, -1, "line");
      bool has_line = lua_isstring(L, -1) != 0;
      if (has_line) line = lua_tostring(L, -1);
      lua_pop(L, 1);
      // A table raised without an err string (error({})) crashes Redis 7.0; answer something usable.
      std::string text = msg.empty() ? "ERR script raised an error without a message" : msg;
      if (has_source && has_line) text += " script: " + script.sha1() + ", on " + source + ":" + line + ".";
      result = Error(ErrorCode::Script, text);
    } else {
      const char* m = lua_tostring(L, -1);
      result = Error(ErrorCode::Script, map_crlf("ERR Error running script " + script.sha1() + ", " +
                                                 std::string(m != nullptr ? m : "execution failure").substr(0, 100) +
                                                 "\n"));
    }
    lua_pop(L, 1);
  } else {
    Reply reply = pop_reply(L);
    if (reply.is_error()) {
      result = Error(ErrorCode::Script, std::string(reply.as_string()));
    } else {
      result = std::move(reply);
    }
  }
  lua_settop(L, base);
  return std::move(*result);
}

void LuaBackend::State::sweep_tick() {
  // Redis's active expiry repeats while a cycle keeps finding expired keys, within a time budget;
  // the lock is released between batches so ops interleave.
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(limits.sweep_budget_ms);
  while (!is_closed.load()) {
    size_t removed = sweep_step(limits.sweep_batch);
    if (removed < limits.sweep_batch || SteadyClock::now() >= deadline) break;
  }
}

void LuaBackend::State::timer_loop() {
  std::unique_lock<std::mutex> lock(timer_mu);
  while (!stopping) {
    auto now = SteadyClock::now();
    if (options.sweep_interval_ms > 0 && now >= next_sweep) {
      lock.unlock();
      sweep_tick();
      lock.lock();
      next_sweep = SteadyClock::now() + std::chrono::milliseconds(options.sweep_interval_ms);
      continue;
    }
    if (!timer_queue.empty() && timer_queue.begin()->first <= now) {
      uint64_t id = timer_queue.begin()->second;
      timer_queue.erase(timer_queue.begin());
      auto it = timers.find(id);
      std::function<void()> fn = std::move(it->second.second);
      timers.erase(it);
      lock.unlock();
      try {
        fn();
      } catch (...) {
        // A throwing timer must not take the timer thread (and every later timer) down with it.
      }
      fn = nullptr;  // captured state dies outside the lock too
      lock.lock();
      continue;
    }
    bool have_wake = false;
    SteadyClock::time_point wake;
    if (options.sweep_interval_ms > 0) {
      wake = next_sweep;
      have_wake = true;
    }
    if (!timer_queue.empty() && (!have_wake || timer_queue.begin()->first < wake)) {
      wake = timer_queue.begin()->first;
      have_wake = true;
    }
    if (have_wake) {
      timer_cv.wait_until(lock, wake);
    } else {
      timer_cv.wait(lock);
    }
  }
}

LuaBackend::LuaBackend(const ClientOptions& options, LuaBackendLimits limits)
    : state_(std::make_shared<State>(options, limits)) {
  auto state = state_;
  timer_thread_ = std::thread([state] { state->timer_loop(); });
}

LuaBackend::~LuaBackend() { close(); }

const std::string& LuaBackend::prefix() const { return state_->options.prefix; }
const ClientOptions& LuaBackend::options() const { return state_->options; }

void LuaBackend::eval(const Script& script, ArgList keys, ArgList args, Callback<Reply> done, int64_t) {
  std::optional<Result<Reply>> result;
  std::vector<LuaKeyspace::Published> published;
  if (!script.valid()) {
    result = Error(ErrorCode::InvalidArgument, "script: empty Script");
  } else {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->is_closed.load()) {
      result = Error(ErrorCode::Closed, "the client is closed");
    } else {
      state_->published = &published;
      try {
        result = state_->run_script(script, keys, args);
      } catch (const std::exception& e) {
        result = Error(ErrorCode::Internal, std::string("memory backend: ") + e.what());
      }
      state_->published = nullptr;
    }
  }
  state_->deliver(published);
  done(std::move(*result));
}

void LuaBackend::command(ArgList args, Callback<Reply> done, int64_t) {
  std::optional<Result<Reply>> result;
  std::vector<LuaKeyspace::Published> published;
  {
    std::vector<std::string> argv(args.begin(), args.end());
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->is_closed.load()) {
      result = Error(ErrorCode::Closed, "the client is closed");
    } else {
      int slot = -1;
      try {
        const char* bad = state_->limits.cluster_slot_checks ? check_slots(argv, slot, kCrossSlot) : nullptr;
        Reply reply = bad != nullptr ? Reply::error(bad)
                                     : state_->keyspace.execute(argv, state_->clock->now_ms(), false, published);
        if (reply.is_error()) {
          result = Error(ErrorCode::Script, std::string(reply.as_string()));
        } else {
          result = std::move(reply);
        }
      } catch (const std::exception& e) {
        result = Error(ErrorCode::Internal, std::string("memory backend: ") + e.what());
      }
    }
  }
  state_->deliver(published);
  done(std::move(*result));
}

uint64_t LuaBackend::listen(const std::string& channel, std::function<void(std::string_view)> on_message) {
  std::lock_guard<std::mutex> lock(state_->listen_mu);
  if (state_->is_closed.load()) return 0;
  uint64_t id = state_->next_listener_id++;
  state_->listeners.emplace(
      id, State::Listener{channel, std::make_shared<std::function<void(std::string_view)>>(std::move(on_message))});
  return id;
}

void LuaBackend::unlisten(uint64_t listener_id) {
  std::shared_ptr<std::function<void(std::string_view)>> dropped;  // destroyed outside the lock
  std::lock_guard<std::mutex> lock(state_->listen_mu);
  auto it = state_->listeners.find(listener_id);
  if (it == state_->listeners.end()) return;
  dropped = std::move(it->second.fn);
  state_->listeners.erase(it);
}

uint64_t LuaBackend::schedule(int64_t delay_ms, std::function<void()> fn) {
  auto when = SteadyClock::now() + std::chrono::milliseconds(std::max<int64_t>(0, delay_ms));
  uint64_t id = 0;
  bool earliest = false;
  {
    std::lock_guard<std::mutex> lock(state_->timer_mu);
    id = state_->next_timer_id++;
    if (state_->stopping) return id;  // closed: never runs
    state_->timers.emplace(id, std::make_pair(when, std::move(fn)));
    auto at = state_->timer_queue.emplace(when, id).first;  // before begin(): == does not order its operands
    earliest = at == state_->timer_queue.begin();
  }
  // Only a new earliest deadline changes when the thread must wake; notifying after unlocking
  // spares the woken thread a block on the mutex (lock-heavy callers schedule on every op).
  if (earliest) state_->timer_cv.notify_one();
  return id;
}

bool LuaBackend::cancel(uint64_t timer_id) {
  std::function<void()> dropped;
  std::lock_guard<std::mutex> lock(state_->timer_mu);
  auto it = state_->timers.find(timer_id);
  if (it == state_->timers.end()) return false;
  state_->timer_queue.erase({it->second.first, timer_id});
  dropped = std::move(it->second.second);
  state_->timers.erase(it);
  return true;
}

int64_t LuaBackend::now_ms() const { return state_->clock->now_ms(); }

bool LuaBackend::closed() const { return state_->is_closed.load(); }

void LuaBackend::close() {
  state_->is_closed.store(true);
  decltype(state_->timers) dropped_timers;
  decltype(state_->listeners) dropped_listeners;
  {
    std::lock_guard<std::mutex> lock(state_->timer_mu);
    state_->stopping = true;
    dropped_timers.swap(state_->timers);
    state_->timer_queue.clear();
    state_->timer_cv.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(state_->listen_mu);
    dropped_listeners.swap(state_->listeners);
  }
  if (timer_thread_.joinable()) {
    // A timer callback may close (or drop the last reference to) its own backend: the thread
    // then finishes on its own, holding the shared state.
    if (timer_thread_.get_id() == std::this_thread::get_id()) {
      timer_thread_.detach();
    } else {
      timer_thread_.join();
    }
  }
}

size_t LuaBackend::resident_keys() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->keyspace.resident_keys();
}

size_t LuaBackend::sweep_expired(size_t max_keys) { return state_->sweep_step(max_keys); }

size_t LuaBackend::cached_scripts() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->script_refs.size();
}

std::shared_ptr<Backend> make_lua_backend(const ClientOptions& options) {
  return std::make_shared<LuaBackend>(options);
}

}  // namespace redkeeper
