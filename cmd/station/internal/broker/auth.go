package broker

import (
	"context"
	"crypto/tls"
	"errors"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/antt-gateway/antt/cmd/station/internal/clips"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// authHook applies Users, Allowed, the client id rules and the login
// limits to every network connection, publish and subscription.
//
// Client ids: a gateway's client id must be its gateway id, so no other
// user can take it or squat it with a persistent session, and its owner
// can always take it over (a new connection replaces the old one). A
// station user may use any client id that is not a gateway's id, not
// held by another user's session and not the station's own in-process
// client's. A session left under an id by another user (a station user
// before the gateway was added, a user since given another gateway) is
// discarded, never inherited, when its owner comes.
type authHook struct {
	mqtt.HookBase
	users     *table // nil in open mode
	prefix    string
	requireCN bool
	srv       *mqtt.Server
	guard     *guard
}

func (h *authHook) ID() string { return "antt-auth" }

func (h *authHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSessionEstablish, mqtt.OnPacketSent:
		return true
	}
	return false
}

// guarded returns the guarded connection of a network client, or nil.
func guarded(cl *mqtt.Client) *guardedConn {
	gc, _ := cl.Net.Conn.(*guardedConn)
	return gc
}

// OnConnect runs once the CONNECT is read, before the password check: a
// full station refuses here, at no cost, and a keepalive of 0 (or above
// maxKeepalive) becomes maxKeepalive, so no logged-in socket idles forever.
func (h *authHook) OnConnect(cl *mqtt.Client, _ packets.Packet) error {
	gc := guarded(cl)
	if gc == nil {
		return nil
	}
	if cl.State.Keepalive == 0 || cl.State.Keepalive > maxKeepalive {
		cl.State.Keepalive = maxKeepalive
		cl.State.ServerKeepalive = true // told to MQTT 5 clients in the CONNACK
	}
	if h.guard.full() && !h.takesOverConnected(cl) {
		h.guard.refusals.refuse(gc.key, "station full: max clients reached", "remote", cl.Net.Remote, "client", short(cl.ID), "max_clients", h.guard.lim.MaxClients)
		_ = h.srv.SendConnack(cl, packets.ErrServerUnavailable, false, nil)
		return packets.ErrServerUnavailable
	}
	return nil
}

// takesOverConnected reports whether cl's id is that of a connected
// network client (whose owner may be reconnecting: allowed when full).
func (h *authHook) takesOverConnected(cl *mqtt.Client) bool {
	old, ok := h.srv.Clients.Get(cl.ID)
	return ok && !old.Closed() && old.Net.Listener == tcpListenerID
}

// OnPacketSent releases the connect deadline once the CONNACK is written.
func (h *authHook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type != packets.Connack {
		return
	}
	if gc := guarded(cl); gc != nil {
		gc.connacked()
	}
}

// OnSessionEstablish runs just before mochi hands a kept session to the
// reconnecting client and resends its queued messages (see keepOrder). A
// session of another user is discarded first: mochi would hand over its
// subscriptions and queued messages (which it resends without an access
// check).
func (h *authHook) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	old, ok := h.srv.Clients.Get(cl.ID)
	if !ok {
		return
	}
	if cl.Net.Listener == tcpListenerID && h.users != nil && string(old.Properties.Username) != string(cl.Properties.Username) {
		h.Log.Warn("discarding another user's session under this client id", "client", cl.ID,
			"user", short(string(cl.Properties.Username)), "session_user", short(string(old.Properties.Username)))
		old.Stop(packets.ErrSessionTakenOver)
		h.srv.UnsubscribeClient(old)
		old.ClearInflights()
		// Out of the table, so mochi starts a fresh session. Only a session
		// that outlives its connection: the goroutine of one that does not
		// deletes its id at its end, which would then be the new client's.
		if persistent(old) {
			h.srv.Clients.Delete(old.ID)
		}
		return
	}
	if pk.Connect.Clean {
		return
	}
	keepOrder(old.State.Inflight)
}

// persistent reports whether cl's session outlives its connection.
func persistent(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion < 5 {
		return !cl.Properties.Clean
	}
	return cl.Properties.Props.SessionExpiryInterval > 0
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	gc := guarded(cl)
	if gc == nil {
		return true // the station's own in-process client
	}
	user := string(pk.Connect.Username)
	deny := func(why string, attrs ...any) bool {
		h.guard.refusals.refuse(gc.key, why, append([]any{"remote", cl.Net.Remote, "client", short(cl.ID), "user", short(user)}, attrs...)...)
		return false
	}
	if h.requireCN {
		tc, ok := gc.Conn.(*tls.Conn)
		if !ok {
			return deny("not a TLS connection")
		}
		certs := tc.ConnectionState().PeerCertificates
		if len(certs) == 0 || certs[0].Subject.CommonName != user {
			return deny("certificate name does not match user")
		}
	}
	// A will is published by the broker, not the gateway: on a stored topic
	// (event, snapshot) it would bypass the store and be fanned out or
	// retained unstored. Gateways' wills are on status only.
	if _, rest, ok := wire.Split(h.prefix, pk.Connect.WillTopic); pk.Connect.WillFlag && ok && (store.Claims(rest) || clips.Claims(rest)) {
		return deny("a will may not be an event or a snapshot", "topic", short(pk.Connect.WillTopic))
	}
	if h.users == nil {
		return h.admit(cl, gc, deny)
	}
	if !pk.Connect.UsernameFlag || !pk.Connect.PasswordFlag {
		h.guard.failed(gc.key)
		return deny("no user name or password")
	}
	users := h.users.Load()
	ident, ok := h.guard.recall(users, user, pk.Connect.Password)
	if !ok {
		if h.guard.cooling(gc.key) {
			return deny("too many failed logins from this address: password not checked", "cooldown", h.guard.lim.LoginCooldown.String())
		}
		ctx, cancel := context.WithDeadline(context.Background(), gc.deadline)
		var cooldown bool
		var err error
		ident, ok, cooldown, err = h.guard.check(ctx, gc.key, users, user, pk.Connect.Password)
		cancel()
		switch {
		case errors.Is(err, errCooling):
			return deny("too many failed logins from this address: password not checked", "cooldown", h.guard.lim.LoginCooldown.String())
		case err != nil:
			return deny("password checks busy until the connect deadline")
		case cooldown:
			deny("bad user name or password")
			return deny("address put on cooldown after failed logins", "failures", h.guard.lim.MaxLoginFailures, "cooldown", h.guard.lim.LoginCooldown.String())
		case !ok:
			return deny("bad user name or password")
		}
		h.guard.remember(users, user, pk.Connect.Password)
	}
	// The table may have been replaced while the password was checked (a
	// re-issue or a removal from the console, whose sweep has run): the
	// login stands only if the user's password and identity are unchanged.
	if cur := h.users.Load(); cur != users {
		if cid, ok := cur.Identity(user); !ok || cid != ident || !users.SamePassword(cur, user) {
			return deny("credentials changed during the login")
		}
		users = cur
	}
	if pk.Connect.WillFlag && !Allowed(ident.Role, ident.ID, h.prefix, pk.Connect.WillTopic, true) {
		return deny("will topic not allowed", "topic", short(pk.Connect.WillTopic))
	}
	other, held := h.srv.Clients.Get(cl.ID)
	if held && other.Net.Listener == internalListenerID {
		return deny("client id is the station's own client's")
	}
	switch ident.Role {
	case RoleGateway:
		if cl.ID != ident.ID {
			return deny("a gateway's client id must be its gateway id", "gateway", ident.ID)
		}
	case RoleStation:
		if users.IsGateway(cl.ID) {
			return deny("client id is a gateway's id")
		}
		if held && string(other.Properties.Username) != user {
			return deny("client id in use by another user")
		}
	}
	return h.admit(cl, gc, deny)
}

// admit takes one of the MaxClients slots for a client that may log in.
func (h *authHook) admit(cl *mqtt.Client, gc *guardedConn, deny func(string, ...any) bool) bool {
	takeover := false
	if old, ok := h.srv.Clients.Get(cl.ID); ok && !old.Closed() && old.Net.Listener == tcpListenerID &&
		string(old.Properties.Username) == string(cl.Properties.Username) {
		takeover = true
	}
	if !h.guard.reserve(takeover) {
		return deny("station full: max clients reached", "max_clients", h.guard.lim.MaxClients)
	}
	gc.count()
	return true
}

func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Listener == internalListenerID {
		return Allowed(RoleStation, "", h.prefix, topic, write)
	}
	if h.users == nil {
		return true
	}
	ident, ok := h.users.Load().Identity(string(cl.Properties.Username))
	if !ok {
		return false
	}
	ok = Allowed(ident.Role, ident.ID, h.prefix, topic, write)
	if !ok {
		h.Log.Warn("access denied", "client", cl.ID, "user", string(cl.Properties.Username), "topic", topic, "write", write)
	}
	return ok
}
