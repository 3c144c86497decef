package broker

import (
	"errors"
	"fmt"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Revoke takes user's credentials away at once: the password and access
// files, from which the caller has just removed user (enrolment's
// "remove gateway"), are read again, and every network client logged in
// as user is disconnected and its session discarded (its subscriptions
// and the messages queued for it), so nothing of it is resumed. It
// returns how many clients it disconnected.
//
// A login whose password was being checked against the old table when
// the files changed is refused once the check ends (authHook compares the
// user's entry in the two tables), so an old password cannot log in after
// a remove and a quick re-enrolment of the same id. One admitted in the
// moment between that comparison and its taking its place among the
// clients can neither publish nor subscribe after a revocation (every ACL
// check reads the new table), and a second sweep one ConnectTimeout
// later, by when every such login has finished or been cut off,
// disconnects it too. The user must be gone
// from the files: a revoked user still there is an error (nothing is
// disconnected then).
func (b *Broker) Revoke(user string) (int, error) {
	if b.users == nil {
		return 0, errors.New("revoke: the broker is open (no password file)")
	}
	u, err := loadUsers(b.opts.PasswdFile, b.opts.AccessFile)
	if err != nil {
		return 0, fmt.Errorf("revoke %s: %w (the previous users stay in force)", user, err)
	}
	if _, still := u.Identity(user); still {
		return 0, fmt.Errorf("revoke %s: the user is still in the password file %s (and the access file, if any): remove it first", user, b.opts.PasswdFile)
	}
	return b.cutOff(u, user, true), nil
}

// Rekey applies a new password of user (enrolment's "re-issue
// credentials") at once: the files are read again and every network
// client logged in as user with the old password is disconnected; its
// session is kept, so messages queued for the gateway reach it once it
// logs in with the new password. A login with the old password that was
// under way is cut off as in Revoke. It returns how many clients it
// disconnected.
func (b *Broker) Rekey(user string) (int, error) {
	if b.users == nil {
		return 0, errors.New("rekey: the broker is open (no password file)")
	}
	u, err := loadUsers(b.opts.PasswdFile, b.opts.AccessFile)
	if err != nil {
		return 0, fmt.Errorf("rekey %s: %w (the previous users stay in force)", user, err)
	}
	return b.cutOff(u, user, false), nil
}

// cutOff swaps in u, disconnects user's network clients (discarding their
// sessions when forget is set) and schedules the second sweep.
func (b *Broker) cutOff(u *Users, user string, forget bool) int {
	b.users.Swap(u)
	if b.srv == nil {
		return 0
	}
	b.guard.forget() // no login of user is recognised from the cache any more
	// Connections accepted from now on check their password against u.
	cut := time.Now()
	n := b.disconnectUser(user, forget, time.Time{})
	time.AfterFunc(b.opts.Limits.ConnectTimeout+time.Second, func() {
		if m := b.disconnectUser(user, forget, cut); m > 0 {
			b.log.Warn("disconnected a login that began before its credentials were revoked", "user", user, "clients", m)
		}
	})
	return n
}

// disconnectUser disconnects the network clients logged in as user (only
// those accepted before acceptedBefore unless it is zero).
func (b *Broker) disconnectUser(user string, forget bool, acceptedBefore time.Time) int {
	n := 0
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Listener != tcpListenerID || string(cl.Properties.Username) != user {
			continue
		}
		if !acceptedBefore.IsZero() {
			gc := guarded(cl)
			if gc == nil || !gc.deadline.Add(-b.opts.Limits.ConnectTimeout).Before(acceptedBefore) {
				continue
			}
		}
		if !cl.Closed() {
			b.log.Warn("disconnecting client: its credentials were revoked or re-issued", "client", cl.ID, "user", user)
			cl.Stop(packets.ErrNotAuthorized)
			n++
		}
		if forget {
			b.forgetSession(cl)
		}
	}
	return n
}

// forgetSession discards cl's subscriptions, queued messages and kept
// session, as authHook does for another user's session.
func (b *Broker) forgetSession(cl *mqtt.Client) {
	b.srv.UnsubscribeClient(cl)
	cl.ClearInflights()
	if cur, ok := b.srv.Clients.Get(cl.ID); ok && cur == cl && persistent(cl) {
		b.srv.Clients.Delete(cl.ID)
	}
}
