// Redis Cluster topology: the slot -> primary map parsed from CLUSTER SHARDS (Redis 7+) or CLUSTER
// SLOTS (older servers). Pure functions on Reply values, unit-tested on literal replies; the key
// slot function itself is common/keys.hpp (shared with the memory backend's slot check).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/keys.hpp"
#include "redis/reply.hpp"

namespace redkeeper {

inline constexpr uint16_t kClusterSlots = 16384;

struct ClusterNodeAddr {
  std::string host;
  uint16_t port = 0;
  std::string id;  // node id when the reply carries one

  std::string key() const;  // "host:port" ("[v6]:port"), the identity used to share connections
  friend bool operator==(const ClusterNodeAddr& a, const ClusterNodeAddr& b) {
    return a.host == b.host && a.port == b.port;
  }
};

struct ClusterTopology {
  std::vector<ClusterNodeAddr> primaries;  // primaries that own slots, ordered by their lowest slot
  std::vector<ClusterNodeAddr> replicas;   // healthy replicas (candidates for the pub/sub connection)
  std::vector<int16_t> slot_owner;         // kClusterSlots entries: index into primaries, -1 = uncovered

  size_t covered_slots() const;
};

// CLUSTER SHARDS, RESP2 shape: an array of shards, each a flat name/value list with "slots" (flat
// start/end pairs) and "nodes" (each a flat name/value list: id, port, tls-port, ip, endpoint,
// hostname, role, health...). The address is "endpoint" (else "ip"; "?" or empty means the host we
// asked, `queried_host`), the port "tls-port" when `tls`, else "port". Primaries that are not
// healthy still own their slots here (the cluster has not failed them over yet); replicas are
// listed only when "online". Throws Error(Protocol) on a reply of another shape.
ClusterTopology parse_cluster_shards(const Reply& reply, std::string_view queried_host, bool tls);

// CLUSTER SLOTS: an array of [start, end, [host, port, id...], replica...]. Throws Error(Protocol).
ClusterTopology parse_cluster_slots(const Reply& reply, std::string_view queried_host);

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381": the slot and the target (an empty host
// means the node that answered: `replier_host`). False when `message` is neither.
struct Redirect {
  bool ask = false;
  uint16_t slot = 0;
  ClusterNodeAddr target;
};
bool parse_redirect(std::string_view message, std::string_view replier_host, Redirect& out);

}  // namespace redkeeper
