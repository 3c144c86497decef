package broker

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/antt-gateway/antt/uplink/wire"
)

// Identity is who a user is to the broker: a role and, for a gateway, the
// gateway id its topics are under.
type Identity struct {
	Role Role
	ID   string
}

// StationUser is the user name that is the station role when no access file
// says otherwise.
const StationUser = "station"

// DefaultIdentity is the identity of user when there is no access file: the
// user "station" is the station, any other user is the gateway whose id is
// the user name (a user name that is not a valid id can do nothing).
func DefaultIdentity(user string) Identity {
	if user == StationUser {
		return Identity{Role: RoleStation}
	}
	return Identity{Role: RoleGateway, ID: user}
}

// ParseAccess reads an access file. Each line is one of
//
//	gateway <username> [<gateway id>]   # the id defaults to the user name
//	station <username>
//
// Blank lines and lines starting with '#' are ignored; fields are separated
// by spaces or tabs. A user may appear once; users that do not appear
// cannot connect. Errors name the line.
func ParseAccess(data []byte) (map[string]Identity, error) {
	out := map[string]Identity{}
	lineOf := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		var user string
		var id Identity
		switch {
		case f[0] == string(RoleGateway) && (len(f) == 2 || len(f) == 3):
			user = f[1]
			id = Identity{Role: RoleGateway, ID: f[len(f)-1]}
			if !wire.ValidID(id.ID) {
				return nil, fmt.Errorf("line %d: gateway id %.70q: want [a-z0-9][a-z0-9-]{0,62}", n, id.ID)
			}
		case f[0] == string(RoleStation) && len(f) == 2:
			user = f[1]
			id = Identity{Role: RoleStation}
		default:
			return nil, fmt.Errorf("line %d: want \"gateway <username> [<id>]\" or \"station <username>\"", n)
		}
		if err := checkUser(user); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if first, dup := lineOf[user]; dup {
			return nil, fmt.Errorf("line %d: user %q already on line %d", n, user, first)
		}
		lineOf[user] = n
		out[user] = id
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return out, nil
}

// LoadAccess reads and parses the access file at path.
func LoadAccess(path string) (map[string]Identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read access file: %w", err)
	}
	a, err := ParseAccess(data)
	if err != nil {
		return nil, fmt.Errorf("access file %s: %w", path, err)
	}
	return a, nil
}

// Users is the broker's authentication and role table, read-only once
// built, so connection goroutines share it without locking (Reload swaps
// in a new one).
type Users struct {
	hashes map[string]Hash
	access map[string]Identity // nil: DefaultIdentity
	dummy  Hash                // verified for unknown users so timing does not reveal them
	// gateways holds the gateway id of every user with the gateway role.
	gateways map[string]bool
}

// NewUsers builds the table from parsed files; access may be nil.
func NewUsers(pw []PasswordEntry, access map[string]Identity) *Users {
	u := &Users{hashes: make(map[string]Hash, len(pw)), access: access}
	iter := MinIterations
	for _, e := range pw {
		u.hashes[e.User] = e.Hash
		iter = max(iter, e.Hash.Iter)
	}
	u.dummy = Hash{Iter: iter, Salt: make([]byte, saltLen), Key: make([]byte, keyLen)}
	u.gateways = map[string]bool{}
	for _, id := range access {
		if id.Role == RoleGateway {
			u.gateways[id.ID] = true
		}
	}
	if access == nil {
		for user := range u.hashes {
			if id := DefaultIdentity(user); id.Role == RoleGateway {
				u.gateways[id.ID] = true
			}
		}
	}
	return u
}

// IsGateway reports whether id is the gateway id of one of the users: a
// client id no station user may take.
func (u *Users) IsGateway(id string) bool { return u.gateways[id] }

// Identity returns who user is; ok is false when the user has no role.
func (u *Users) Identity(user string) (Identity, bool) {
	if u.access == nil {
		if _, ok := u.hashes[user]; !ok {
			return Identity{}, false
		}
		return DefaultIdentity(user), true
	}
	id, ok := u.access[user]
	return id, ok
}

// Authenticate checks user's password and returns the user's identity.
func (u *Users) Authenticate(user string, password []byte) (Identity, bool) {
	h, ok := u.hashes[user]
	if !ok {
		u.dummy.Verify(string(password))
		return Identity{}, false
	}
	if !h.Verify(string(password)) {
		return Identity{}, false
	}
	return u.Identity(user)
}

// SamePassword reports whether user has the same password hash in u and
// other (and exists in both).
func (u *Users) SamePassword(other *Users, user string) bool {
	a, ok := u.hashes[user]
	b, ok2 := other.hashes[user]
	return ok && ok2 && a.Iter == b.Iter && bytes.Equal(a.Salt, b.Salt) && bytes.Equal(a.Key, b.Key)
}
