// Parsing of CLUSTER SHARDS / CLUSTER SLOTS replies and MOVED/ASK errors into plain structs.
#include "redis/cluster_slots.hpp"

#include <algorithm>
#include <charconv>

#include "redkeeper/error.hpp"

namespace redkeeper {
namespace {

[[noreturn]] void bad(const std::string& why) {
  throw Error(ErrorCode::Protocol, "redis cluster: unexpected topology reply: " + why);
}

// The whole of `text` as a decimal number, or false.
template <typename T>
bool parse_whole(std::string_view text, T& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

int64_t int_of(const Reply& r, const char* what) {
  if (r.is_integer()) return r.as_integer();
  int64_t v = 0;
  if ((r.is_string() || r.is_status()) && parse_whole(r.as_string(), v)) return v;
  bad(std::string(what) + " is not a number");
}

uint16_t port_of(const Reply& r, const char* what) {
  int64_t v = int_of(r, what);
  if (v < 0 || v > 65535) bad(std::string(what) + " out of range");
  return static_cast<uint16_t>(v);
}

std::string host_of(std::string_view reported, std::string_view queried_host) {
  if (reported.empty() || reported == "?") return std::string(queried_host);
  return std::string(reported);
}

// Finds `name` in a flat name/value array; null when absent.
const Reply* field(const Reply& flat, std::string_view name) {
  if (!flat.is_array()) bad("expected a name/value list");
  const auto& a = flat.as_array();
  for (size_t i = 0; i + 1 < a.size(); i += 2) {
    if ((a[i].is_string() || a[i].is_status()) && a[i].as_string() == name) return &a[i + 1];
  }
  return nullptr;
}

void assign_slots(ClusterTopology& t, size_t primary, int64_t start, int64_t end) {
  if (start < 0 || end >= kClusterSlots || start > end) bad("slot range out of bounds");
  for (int64_t s = start; s <= end; ++s) t.slot_owner[static_cast<size_t>(s)] = static_cast<int16_t>(primary);
}

// Orders primaries by their lowest slot (stable SCAN order) and renumbers slot_owner to match.
void order_primaries(ClusterTopology& t) {
  std::vector<int64_t> lowest(t.primaries.size(), kClusterSlots);
  for (size_t s = 0; s < t.slot_owner.size(); ++s) {
    int16_t o = t.slot_owner[s];
    if (o >= 0 && lowest[static_cast<size_t>(o)] == kClusterSlots) lowest[static_cast<size_t>(o)] = static_cast<int64_t>(s);
  }
  std::vector<size_t> order(t.primaries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lowest[a] < lowest[b]; });
  std::vector<int16_t> renumber(t.primaries.size(), -1);
  std::vector<ClusterNodeAddr> sorted;
  for (size_t i = 0; i < order.size(); ++i) {
    if (lowest[order[i]] == kClusterSlots) continue;  // owns nothing: not a node we route to
    renumber[order[i]] = static_cast<int16_t>(sorted.size());
    sorted.push_back(std::move(t.primaries[order[i]]));
  }
  for (auto& o : t.slot_owner) {
    if (o >= 0) o = renumber[static_cast<size_t>(o)];
  }
  t.primaries = std::move(sorted);
}

// Index of `addr` in primaries, appended when new (one node may serve several ranges).
size_t primary_index(ClusterTopology& t, ClusterNodeAddr addr) {
  for (size_t i = 0; i < t.primaries.size(); ++i) {
    if (t.primaries[i] == addr) return i;
  }
  t.primaries.push_back(std::move(addr));
  return t.primaries.size() - 1;
}

}  // namespace

std::string ClusterNodeAddr::key() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

size_t ClusterTopology::covered_slots() const {
  return static_cast<size_t>(std::count_if(slot_owner.begin(), slot_owner.end(), [](int16_t o) { return o >= 0; }));
}

ClusterTopology parse_cluster_shards(const Reply& reply, std::string_view queried_host, bool tls) {
  if (!reply.is_array()) bad("CLUSTER SHARDS did not return an array");
  ClusterTopology t;
  t.slot_owner.assign(kClusterSlots, -1);
  for (const Reply& shard : reply.as_array()) {
    const Reply* slots = field(shard, "slots");
    const Reply* nodes = field(shard, "nodes");
    if (slots == nullptr || nodes == nullptr || !slots->is_array() || !nodes->is_array()) {
      bad("a shard without slots or nodes");
    }
    if (slots->size() % 2 != 0) bad("odd number of slot bounds");
    // The shard's primary: role master; when a failover left two, the healthy one.
    const Reply* primary = nullptr;
    bool primary_online = false;
    for (const Reply& node : nodes->as_array()) {
      const Reply* role = field(node, "role");
      const Reply* health = field(node, "health");
      bool online = health == nullptr || health->as_string() == "online";
      if (role == nullptr) bad("a node without role");
      if (role->as_string() == "master") {
        if (primary == nullptr || (online && !primary_online)) {
          primary = &node;
          primary_online = online;
        }
      }
    }
    auto addr_of = [&](const Reply& node) {
      ClusterNodeAddr a;
      const Reply* endpoint = field(node, "endpoint");
      const Reply* ip = field(node, "ip");
      std::string_view reported = endpoint != nullptr ? endpoint->as_string() : std::string_view();
      if ((reported.empty() || reported == "?") && ip != nullptr) reported = ip->as_string();
      a.host = host_of(reported, queried_host);
      const Reply* port = tls ? field(node, "tls-port") : field(node, "port");
      if (port == nullptr) port = field(node, "port");
      if (port == nullptr) bad("a node without port");
      a.port = port_of(*port, "port");
      if (const Reply* id = field(node, "id")) a.id = std::string(id->as_string());
      return a;
    };
    for (const Reply& node : nodes->as_array()) {
      if (&node == primary) continue;
      const Reply* role = field(node, "role");
      const Reply* health = field(node, "health");
      if (role->as_string() != "master" && (health == nullptr || health->as_string() == "online")) {
        t.replicas.push_back(addr_of(node));
      }
    }
    if (primary == nullptr || slots->size() == 0) continue;
    size_t index = primary_index(t, addr_of(*primary));
    const auto& bounds = slots->as_array();
    for (size_t i = 0; i < bounds.size(); i += 2) {
      assign_slots(t, index, int_of(bounds[i], "slot"), int_of(bounds[i + 1], "slot"));
    }
  }
  order_primaries(t);
  return t;
}

ClusterTopology parse_cluster_slots(const Reply& reply, std::string_view queried_host) {
  if (!reply.is_array()) bad("CLUSTER SLOTS did not return an array");
  ClusterTopology t;
  t.slot_owner.assign(kClusterSlots, -1);
  auto addr_of = [&](const Reply& node) {
    if (!node.is_array() || node.size() < 2) bad("a node entry is not [host, port, ...]");
    ClusterNodeAddr a;
    a.host = host_of(node.at(0).is_nil() ? std::string_view() : node.at(0).as_string(), queried_host);
    a.port = port_of(node.at(1), "port");
    if (node.size() >= 3 && (node.at(2).is_string() || node.at(2).is_status())) a.id = std::string(node.at(2).as_string());
    return a;
  };
  for (const Reply& range : reply.as_array()) {
    if (!range.is_array() || range.size() < 3) bad("a slot range is not [start, end, primary, ...]");
    size_t index = primary_index(t, addr_of(range.at(2)));
    assign_slots(t, index, int_of(range.at(0), "slot"), int_of(range.at(1), "slot"));
    for (size_t i = 3; i < range.size(); ++i) {
      ClusterNodeAddr r = addr_of(range.at(i));
      if (std::find(t.replicas.begin(), t.replicas.end(), r) == t.replicas.end()) t.replicas.push_back(std::move(r));
    }
  }
  order_primaries(t);
  return t;
}

bool parse_redirect(std::string_view message, std::string_view replier_host, Redirect& out) {
  if (message.rfind("MOVED ", 0) == 0) {
    out.ask = false;
    message.remove_prefix(6);
  } else if (message.rfind("ASK ", 0) == 0) {
    out.ask = true;
    message.remove_prefix(4);
  } else {
    return false;
  }
  size_t space = message.find(' ');
  if (space == std::string_view::npos) return false;
  std::string_view slot = message.substr(0, space);
  std::string_view addr = message.substr(space + 1);
  unsigned s = 0;
  if (!parse_whole(slot, s) || s >= kClusterSlots) return false;
  size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = addr.substr(0, colon);
  std::string_view port = addr.substr(colon + 1);
  unsigned pn = 0;
  if (!parse_whole(port, pn) || pn == 0 || pn > 65535) return false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  out.slot = static_cast<uint16_t>(s);
  out.target.host = host_of(host, replier_host);
  out.target.port = static_cast<uint16_t>(pn);
  out.target.id.clear();
  return true;
}

}  // namespace redkeeper
