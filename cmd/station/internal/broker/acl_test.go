package broker

import "testing"

func TestAllowed(t *testing.T) {
	const (
		w = true
		r = false
	)
	type tc struct {
		role  Role
		id    string
		topic string
		write bool
		want  bool
	}
	gw := func(topic string, write, want bool) tc { return tc{RoleGateway, "cong-khu-3", topic, write, want} }
	st := func(topic string, write, want bool) tc { return tc{RoleStation, "", topic, write, want} }
	for _, c := range []tc{
		// A gateway publishes under its own id, except cmd/.
		gw("antt/cong-khu-3/event", w, true),
		gw("antt/cong-khu-3/status", w, true),
		gw("antt/cong-khu-3/telemetry", w, true),
		gw("antt/cong-khu-3/snapshot/17", w, true),
		gw("antt/cong-khu-3/reply/r-1", w, true),
		// Live view: the gateway's trickled candidates (docs/live.md).
		gw("antt/cong-khu-3/live/0123456789abcdef0123456789abcdef/candidate", w, true),
		gw("antt/cong-khu-4/live/0123456789abcdef0123456789abcdef/candidate", w, false),
		st("antt/cong-khu-3/live/0123456789abcdef0123456789abcdef/candidate", w, false),
		st("antt/+/live/+/candidate", r, true),
		gw("antt/cong-khu-3/cmd/ping", w, false),
		gw("antt/cong-khu-3/cmd", w, false),
		gw("antt/cong-khu-3", w, false),
		gw("antt/cong-khu-3/", w, false),
		gw("antt/cong-khu-4/event", w, false),
		gw("antt/cong-khu-30/event", w, false),
		gw("antt/cong-khu/event", w, false),
		gw("ANTT/cong-khu-3/event", w, false),
		gw("other/cong-khu-3/event", w, false),
		gw("antt/cong-khu-3/+", w, false),
		gw("antt/cong-khu-3/#", w, false),
		gw("$SYS/broker", w, false),
		gw("/antt/cong-khu-3/event", w, false),
		gw("", w, false),
		// A gateway subscribes only to its own cmd/# and narrower filters.
		gw("antt/cong-khu-3/cmd/#", r, true),
		gw("antt/cong-khu-3/cmd/+", r, true),
		gw("antt/cong-khu-3/cmd/ping", r, true),
		gw("antt/cong-khu-3/cmd", r, true),
		gw("antt/cong-khu-3/cmd/live.offer/+/#", r, true),
		gw("$share/g/antt/cong-khu-3/cmd/#", r, true),
		gw("$SHARE/g/antt/cong-khu-3/cmd/#", r, true),
		gw("antt/cong-khu-3/#", r, false),
		gw("antt/cong-khu-3/+/#", r, false),
		gw("antt/cong-khu-3/+", r, false),
		gw("antt/cong-khu-3/event", r, false),
		gw("antt/cong-khu-3/status", r, false),
		gw("antt/cong-khu-4/cmd/#", r, false),
		gw("antt/+/cmd/#", r, false),
		gw("antt/#", r, false),
		gw("+/cong-khu-3/cmd/#", r, false),
		gw("#", r, false),
		gw("+/+/+/+", r, false),
		gw("antt/cong-khu-3/cmd/a#", r, false),
		gw("antt/cong-khu-3/cmd/#/x", r, false),
		gw("antt/cong-khu-3/cmd/a+", r, false),
		gw("$share/g/antt/+/cmd/#", r, false),
		gw("$share/antt/cong-khu-3/cmd/#", r, false), // group "antt": filter is cong-khu-3/cmd/#
		gw("$share/+/antt/cong-khu-3/cmd/#", r, false),
		gw("$share//antt/cong-khu-3/cmd/#", r, false),
		gw("$share/g", r, false),
		gw("$SYS/#", r, false),
		// The station publishes commands to any gateway and nothing else.
		st("antt/cong-khu-3/cmd/ping", w, true),
		st("antt/cong-khu-4/cmd/live.offer", w, true),
		st("antt/cong-khu-3/cmd/a/b", w, true),
		st("antt/cong-khu-3/cmd/", w, false),
		st("antt/cong-khu-3/cmd", w, false),
		st("antt/cong-khu-3/event", w, false),
		st("antt/cong-khu-3/status", w, false),
		st("antt/cong-khu-3/reply/1", w, false),
		st("antt/Bad_ID/cmd/ping", w, false),
		st("antt/+/cmd/ping", w, false),
		st("antt/#", w, false),
		st("other/x/cmd/ping", w, false),
		// The station reads everything under the prefix.
		st("antt/#", r, true),
		st("antt/+/event", r, true),
		st("antt/+/status", r, true),
		st("antt/+/reply/#", r, true),
		st("antt/cong-khu-3/event", r, true),
		st("$share/station/antt/+/event", r, true),
		st("antt", r, false),
		st("#", r, false),
		st("+/#", r, false),
		st("+/cong-khu-3/event", r, false),
		st("other/#", r, false),
		st("$SYS/#", r, false),
		st("antt/#/x", r, false),
		// Unknown roles and bad gateway ids get nothing.
		{Role("admin"), "", "antt/#", r, false},
		{Role(""), "cong-khu-3", "antt/cong-khu-3/event", w, false},
		{RoleGateway, "", "antt//event", w, false},
		{RoleGateway, "+", "antt/+/event", w, false},
		{RoleGateway, "#", "antt/#", r, false},
		{RoleGateway, "Bad", "antt/Bad/event", w, false},
	} {
		if got := Allowed(c.role, c.id, "antt", c.topic, c.write); got != c.want {
			t.Errorf("Allowed(%s, %q, antt, %q, write=%v) = %v, want %v", c.role, c.id, c.topic, c.write, got, c.want)
		}
	}
}

func TestAllowedMultiLevelPrefix(t *testing.T) {
	for _, c := range []struct {
		role        Role
		topic       string
		write, want bool
	}{
		{RoleGateway, "vn/antt/g1/event", true, true},
		{RoleGateway, "vn/antt/g1/cmd/#", false, true},
		{RoleGateway, "vn/+/g1/cmd/#", false, false},
		{RoleGateway, "vn/antt/#", false, false},
		{RoleGateway, "antt/g1/event", true, false},
		{RoleStation, "vn/antt/#", false, true},
		{RoleStation, "vn/#", false, false},
		{RoleStation, "vn/antt/g1/cmd/ping", true, true},
	} {
		if got := Allowed(c.role, "g1", "vn/antt", c.topic, c.write); got != c.want {
			t.Errorf("Allowed(%s, g1, vn/antt, %q, %v) = %v, want %v", c.role, c.topic, c.write, got, c.want)
		}
	}
	for _, p := range []string{"", "a/", "/a", "a//b", "a/+", "#", "$SYS", "a\x00"} {
		if ValidPrefix(p) {
			t.Errorf("ValidPrefix(%q) = true", p)
		}
		if Allowed(RoleStation, "", p, p+"/#", false) {
			t.Errorf("Allowed with prefix %q", p)
		}
	}
}
