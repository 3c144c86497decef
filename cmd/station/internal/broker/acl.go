package broker

import (
	"strings"

	"github.com/antt-gateway/antt/uplink/wire"
)

// Role is what a connected client is to the station: a gateway or the
// station console itself.
type Role string

// Roles a user can have. The rules for each are in Allowed.
const (
	RoleGateway Role = "gateway"
	RoleStation Role = "station"
)

// Allowed reports whether a client with role and gateway id may publish to
// topic (write) or subscribe to / receive from the filter topic (!write),
// under the topic prefix. It is the embedded broker's whole access policy,
// the same one docs give as a Mosquitto ACL:
//
//   - a gateway publishes only below {prefix}/{id}/, never under cmd/;
//   - a gateway subscribes only to {prefix}/{id}/cmd/# or a narrower filter;
//   - the station publishes only {prefix}/{any gateway}/cmd/{name...};
//   - the station subscribes to anything below {prefix}/.
//
// A subscription filter is allowed only when every topic it can match is
// allowed, so a gateway asking for {prefix}/# or {prefix}/+/cmd/# is refused.
// Malformed topics and filters, '$' topics and shared subscriptions that
// would breach these rules are refused too.
func Allowed(role Role, id, prefix, topic string, write bool) bool {
	if !ValidPrefix(prefix) || topic == "" {
		return false
	}
	levels := strings.Split(topic, "/")
	if write {
		if strings.ContainsAny(topic, "+#") {
			return false
		}
	} else {
		if strings.EqualFold(levels[0], "$share") {
			// $share/{group}/{filter}: the broker delivers the filter's topics,
			// so the filter decides.
			if len(levels) < 3 || levels[1] == "" || strings.ContainsAny(levels[1], "+#") {
				return false
			}
			levels = levels[2:]
		}
		if !validFilter(levels) {
			return false
		}
	}
	pl := strings.Split(prefix, "/")
	if len(levels) <= len(pl) {
		return false
	}
	for i, p := range pl {
		if levels[i] != p {
			return false
		}
	}
	rest := levels[len(pl):] // {gateway}/{...}
	switch role {
	case RoleStation:
		if !write {
			return true
		}
		return len(rest) >= 3 && wire.ValidID(rest[0]) && rest[1] == wire.TopicCmd && rest[2] != ""
	case RoleGateway:
		if !wire.ValidID(id) || len(rest) < 2 || rest[0] != id {
			return false
		}
		if write {
			return rest[1] != wire.TopicCmd && rest[1] != ""
		}
		// Reading: the third level must be literally "cmd"; what follows it
		// (wildcards included) stays inside {prefix}/{id}/cmd/#.
		return rest[1] == wire.TopicCmd
	default:
		return false
	}
}

// validFilter checks the MQTT filter syntax: '#' only as the whole last
// level, '+' only as a whole level.
func validFilter(levels []string) bool {
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return false
		}
		if strings.Contains(l, "+") && l != "+" {
			return false
		}
	}
	return true
}

// ValidPrefix reports whether p can be the topic prefix: one or more
// non-empty levels, no wildcards, not a '$' system topic.
func ValidPrefix(p string) bool {
	if p == "" || strings.HasPrefix(p, "$") || strings.ContainsAny(p, "+#\x00") {
		return false
	}
	for l := range strings.SplitSeq(p, "/") {
		if l == "" {
			return false
		}
	}
	return true
}
