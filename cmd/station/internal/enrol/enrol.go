// Package enrol adds and removes gateways from the station's console: it
// gives a new gateway its broker credentials (a random password whose
// PBKDF2 hash goes into the embedded broker's password file, and a line in
// its access file), applies them without a restart, puts the gateway in
// the site directory (gateways.json, the names and sites the console
// shows), and builds the one download an installer copies onto the SD
// card's boot partition: a ready gateway.yaml and its secret files.
//
// Guarantees:
//   - the password is random (256 bits) and leaves the station only in the
//     Bundle returned by Add or Reissue; the station keeps only its hash, so
//     a lost download is replaced by re-issuing, which invalidates the old
//     password at once (Broker.Rekey disconnects the gateway using it);
//   - Remove takes the gateway's users out of both files and calls
//     Broker.Revoke: its live MQTT session is cut and discarded at once and
//     it cannot log in again. Its directory entry stays, marked Removed,
//     so its stored history keeps its name and site (and the site limits
//     of accounts) and the console knows not to alarm on it going offline;
//     enrolling the same id again replaces that entry;
//   - the files are replaced atomically; an error leaves them as they were
//     (or, if the broker refuses the new files, puts the old ones back).
//
// The files are also edited by hand and by `station passwd`; an Enroller
// serialises its own changes only, so do not run both at the same moment.
package enrol

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/broker"
	"github.com/antt-gateway/antt/uplink/wire"
)

// Kinds of site a gateway watches.
const (
	KindGate   = "gate"
	KindSchool = "school"
)

// Errors callers tell apart (errors.Is).
var (
	ErrExists   = errors.New("gateway already enrolled")
	ErrNotFound = errors.New("no such gateway")
)

// Gateway is one entry of the site directory (the JSON of gateways.json,
// the same fields as the console's web.DirEntry).
type Gateway struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Site     string `json:"site"`
	SiteName string `json:"site_name,omitempty"`
	Kind     string `json:"kind,omitempty"`
	// Enrolled is when Add enrolled it (zero for an entry written by hand).
	Enrolled time.Time `json:"enrolled,omitzero"`
	// Removed is when Remove revoked it; zero while it is enrolled. A
	// removed gateway has no credentials; its entry names its history.
	Removed time.Time `json:"removed,omitzero"`
}

// Listed is a gateway as the enrolment page lists it.
type Listed struct {
	Gateway
	// Credentials is true when the gateway has a password on the broker.
	Credentials bool `json:"credentials"`
	// InDirectory is false for a gateway that has a password but was never
	// put in the directory (a hand-made password file line).
	InDirectory bool `json:"in_directory"`
}

// Broker is what enrolment needs of the embedded broker (*broker.Broker).
type Broker interface {
	// Rekey applies a changed password file: clients of user logged in
	// with the old password are disconnected.
	Rekey(user string) (int, error)
	// Revoke applies the removal of user: its clients are disconnected and
	// their sessions discarded.
	Revoke(user string) (int, error)
}

var _ Broker = (*broker.Broker)(nil)

// Options configure an Enroller. PasswdFile, DirectoryFile, Broker and
// BrokerURL are required.
type Options struct {
	// PasswdFile and AccessFile are the embedded broker's (-passwd,
	// -access); without an access file the gateway's user name is its id.
	PasswdFile, AccessFile string
	// DirectoryFile is the console's site directory (DATA/gateways.json).
	DirectoryFile string
	Broker        Broker
	// BrokerURL is the broker as gateways reach it (mqtts://host:8883);
	// it goes into gateway.yaml.
	BrokerURL string
	// CAFile is the PEM certificate gateways verify an mqtts:// broker
	// with; required with mqtts, copied into the download as secrets/ca.pem.
	CAFile string
	// ServerName, if set, is the name the broker's certificate carries
	// when it differs from BrokerURL's host (uplink.tls.server_name).
	ServerName string
	// Prefix is the topic prefix (default wire.DefaultPrefix).
	Prefix string
	// Iterations of PBKDF2 (default broker.DefaultIterations).
	Iterations int
	// Now is the clock of Enrolled and Removed (default time.Now).
	Now func() time.Time
}

// Enroller adds, re-keys and removes gateways. Safe for concurrent use.
type Enroller struct {
	o  Options
	ca []byte

	mu  sync.Mutex
	dir []Gateway
}

// New checks the options and reads the directory.
func New(o Options) (*Enroller, error) {
	if o.PasswdFile == "" {
		return nil, errors.New("enrolment needs the broker's password file (-passwd): an open broker has no credentials to give")
	}
	if o.DirectoryFile == "" || o.Broker == nil {
		return nil, errors.New("enrolment needs the directory file and the broker")
	}
	if o.Prefix == "" {
		o.Prefix = wire.DefaultPrefix
	}
	if o.Iterations == 0 {
		o.Iterations = broker.DefaultIterations
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	u, err := url.Parse(o.BrokerURL)
	if err != nil || (u.Scheme != "mqtt" && u.Scheme != "mqtts") || u.Hostname() == "" || u.User != nil || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("enrolment: broker URL %q: want mqtt://HOST:PORT or mqtts://HOST:PORT as gateways reach the station", o.BrokerURL)
	}
	e := &Enroller{o: o}
	if u.Scheme == "mqtts" {
		if o.CAFile == "" {
			return nil, errors.New("enrolment: an mqtts:// broker needs the CA certificate gateways verify it with")
		}
		if e.ca, err = os.ReadFile(o.CAFile); err != nil {
			return nil, fmt.Errorf("enrolment: read CA certificate: %w", err)
		}
		// Certificates only: the file defaults to the broker's -tls-cert,
		// which may hold its private key too, and the download goes onto
		// every gateway's card.
		if e.ca = certificatesOnly(e.ca); e.ca == nil {
			return nil, fmt.Errorf("enrolment: CA certificate %s: no PEM certificate found", o.CAFile)
		}
	}
	if _, err := broker.LoadPasswords(o.PasswdFile); err != nil {
		return nil, fmt.Errorf("enrolment: %w", err)
	}
	if e.dir, err = loadDirectory(o.DirectoryFile); err != nil {
		return nil, fmt.Errorf("enrolment: %w", err)
	}
	return e, nil
}

// BrokerURL is where enrolled gateways are told to connect.
func (e *Enroller) BrokerURL() string { return e.o.BrokerURL }

// Directory returns the site directory as it is now, removed gateways
// included.
func (e *Enroller) Directory() []Gateway {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.dir)
}

// List returns the directory's gateways (removed ones included) and those
// with a password, with whether each has credentials, sorted by site and
// id.
func (e *Enroller) List() ([]Listed, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	users, err := passwordUsers(e.o.PasswdFile)
	if err != nil {
		return nil, err
	}
	var out []Listed
	for _, g := range e.dir {
		out = append(out, Listed{Gateway: g, Credentials: users[g.ID], InDirectory: true})
		delete(users, g.ID)
	}
	for u := range users {
		if u != broker.StationUser && wire.ValidID(u) {
			out = append(out, Listed{Gateway: Gateway{ID: u}, Credentials: true})
		}
	}
	slices.SortFunc(out, func(a, b Listed) int {
		if a.Site != b.Site {
			if a.Site < b.Site {
				return -1
			}
			return 1
		}
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, nil
}

// find returns the directory index of id, and whether it is there and
// not removed.
func (e *Enroller) find(id string) (int, bool) {
	i := slices.IndexFunc(e.dir, func(g Gateway) bool { return g.ID == id })
	return i, i >= 0 && e.dir[i].Removed.IsZero()
}

// Add enrols g: its credentials and access rule, applied at once, and its
// directory entry (replacing that of a removed gateway of the same id),
// stamped Enrolled now. It returns the download holding the password,
// which the station does not keep.
func (e *Enroller) Add(g Gateway) (*Bundle, error) {
	if g.Kind == "" {
		return nil, fmt.Errorf("gateway %s: kind: want gate or school", g.ID)
	}
	if err := g.check(); err != nil {
		return nil, err
	}
	if g.ID == broker.StationUser {
		return nil, fmt.Errorf("id %q is the station's own user name", g.ID)
	}
	g.Enrolled, g.Removed = e.o.Now().UTC().Truncate(time.Second), time.Time{}
	e.mu.Lock()
	defer e.mu.Unlock()
	old, active := e.find(g.ID)
	if active {
		return nil, fmt.Errorf("gateway %s: %w (re-issue its credentials instead)", g.ID, ErrExists)
	}
	if has, err := hasPassword(e.o.PasswdFile, g.ID); err != nil {
		return nil, err
	} else if has {
		return nil, fmt.Errorf("gateway %s: %w: the password file already has this user (re-issue its credentials instead)", g.ID, ErrExists)
	}
	if e.o.AccessFile != "" {
		if users, err := accessUsers(e.o.AccessFile, g.ID); err != nil {
			return nil, err
		} else if len(users) > 0 {
			return nil, fmt.Errorf("gateway %s: %w: the access file already gives this id to user %s", g.ID, ErrExists, users[0])
		}
	}
	dir := slices.Clone(e.dir)
	if old >= 0 {
		dir[old] = g
	} else {
		dir = append(dir, g)
	}
	if err := saveDirectory(e.o.DirectoryFile, dir); err != nil {
		return nil, err
	}
	b, err := e.setCredentials(g)
	if err != nil {
		_ = saveDirectory(e.o.DirectoryFile, e.dir)
		return nil, err
	}
	e.dir = dir
	return b, nil
}

// Reissue gives gateway id a new password (the old one stops working at
// once and a gateway using it is disconnected) and returns the new
// download.
func (e *Enroller) Reissue(id string) (*Bundle, error) {
	if !wire.ValidID(id) {
		return nil, fmt.Errorf("id %.70q: not a gateway id", id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	g := Gateway{ID: id}
	if i, ok := e.find(id); ok {
		g = e.dir[i]
	} else if i >= 0 {
		return nil, fmt.Errorf("gateway %s was removed on %s: %w (enrol it again)", id, e.dir[i].Removed.Format(time.DateOnly), ErrNotFound)
	} else if has, err := hasPassword(e.o.PasswdFile, id); err != nil {
		return nil, err
	} else if !has {
		return nil, fmt.Errorf("gateway %s: %w", id, ErrNotFound)
	}
	return e.setCredentials(g)
}

// setCredentials writes a new password of g (and its access line) and
// applies it. On an error both files are put back as they were.
func (e *Enroller) setCredentials(g Gateway) (*Bundle, error) {
	pw, err := newPassword()
	if err != nil {
		return nil, err
	}
	oldPw, err := os.ReadFile(e.o.PasswdFile)
	if err != nil {
		return nil, fmt.Errorf("read password file: %w", err)
	}
	var oldAccess []byte
	if e.o.AccessFile != "" {
		if oldAccess, err = os.ReadFile(e.o.AccessFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read access file: %w", err)
		}
	}
	restore := func() {
		_ = writeFileAtomic(e.o.PasswdFile, oldPw, 0o600)
		if e.o.AccessFile != "" {
			_ = writeFileAtomic(e.o.AccessFile, oldAccess, 0o600)
		}
	}
	if err := broker.SetPassword(e.o.PasswdFile, g.ID, pw, e.o.Iterations); err != nil {
		return nil, err
	}
	if e.o.AccessFile != "" {
		if err := addAccess(e.o.AccessFile, g.ID); err != nil {
			restore()
			return nil, err
		}
	}
	if _, err := e.o.Broker.Rekey(g.ID); err != nil {
		restore()
		return nil, err
	}
	return e.bundle(g, pw)
}

// Remove revokes gateway id: its users leave the password and access
// files, its live session is cut and discarded, and its directory entry
// is marked Removed now. Its stored events stay in the store.
func (e *Enroller) Remove(id string) error {
	if !wire.ValidID(id) {
		return fmt.Errorf("id %.70q: not a gateway id", id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	users := []string{id}
	i, inDir := e.find(id)
	found := inDir
	if e.o.AccessFile != "" {
		more, err := accessUsers(e.o.AccessFile, id)
		if err != nil {
			return err
		}
		found = found || len(more) > 0
		for _, u := range more {
			if !slices.Contains(users, u) {
				users = append(users, u)
			}
		}
	}
	for _, u := range users {
		had, err := removePassword(e.o.PasswdFile, u)
		if err != nil {
			return err
		}
		found = found || had
	}
	if !found {
		return fmt.Errorf("gateway %s: %w", id, ErrNotFound)
	}
	if e.o.AccessFile != "" {
		if err := removeAccess(e.o.AccessFile, users); err != nil {
			return err
		}
	}
	var errs []error
	for _, u := range users {
		if _, err := e.o.Broker.Revoke(u); err != nil {
			errs = append(errs, err)
		}
	}
	if inDir {
		dir := slices.Clone(e.dir)
		dir[i].Removed = e.o.Now().UTC().Truncate(time.Second)
		if err := saveDirectory(e.o.DirectoryFile, dir); err != nil {
			errs = append(errs, err)
		} else {
			e.dir = dir
		}
	}
	return errors.Join(errs...)
}

// newPassword is 256 random bits, URL-safe base64 (43 characters).
func newPassword() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
