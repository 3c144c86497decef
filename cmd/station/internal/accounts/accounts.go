// Package accounts holds the station console's users and API tokens:
// their roles (admin, officer, viewer), their limits to chosen sites or
// gateways, and their password and token hashes.
//
// Everything lives in one JSON file (DATA/users.json, mode 0600), written
// whole and atomically (a temporary file, fsync, rename, fsync of the
// directory), so a power cut leaves either the old or the new file. A JSON
// file rather than a bbolt one because bbolt holds an exclusive lock for as
// long as the station runs, and "station user add" must work while it does:
// a change takes an exclusive flock on DATA/users.json.lock, reads the file
// again, applies the change and writes it; the running station notices the
// file changed (size, time, inode) at its next lookup and reads it again,
// so a removed user or a changed password takes effect at once. A few dozen
// accounts make a file of a few kilobytes: read whole, it costs nothing.
//
// Passwords are hashed with argon2id (RFC 9106) with DefaultParams, stored
// in the PHC string format with their parameters, so the parameters can be
// raised later without invalidating older hashes. API tokens are random
// 256-bit secrets shown once; only their SHA-256 is stored (a secret of that
// entropy needs no slow hash). There is no default account and no default
// password: the first admin is made with "station user add".
package accounts

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// FileName is the accounts file's name in the station's data directory.
const FileName = "users.json"

// Role is what an account may do. Each role may do everything the ones
// below it may.
type Role string

// Roles, highest first.
const (
	// Admin manages users, gateways and settings.
	Admin Role = "admin"
	// Officer (trực ban) acknowledges alarms, opens live views, arms and
	// disarms, and silences sirens.
	Officer Role = "officer"
	// Viewer sees, and does nothing.
	Viewer Role = "viewer"
)

func (r Role) rank() int {
	switch r {
	case Admin:
		return 3
	case Officer:
		return 2
	case Viewer:
		return 1
	}
	return 0
}

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// AtLeast reports whether r may do what o may.
func (r Role) AtLeast(o Role) bool { return r.Valid() && r.rank() >= o.rank() }

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		return "", fmt.Errorf("role %q: want admin, officer or viewer", s)
	}
	return r, nil
}

// Limits restrict an account to chosen sites and gateways. Empty limits
// mean everything; otherwise a gateway is allowed when it is listed or its
// site is. A gateway whose site is not known is allowed only by its id.
type Limits struct {
	Sites    []string `json:"sites,omitempty"`
	Gateways []string `json:"gateways,omitempty"`
}

// Unlimited reports whether l allows every gateway.
func (l Limits) Unlimited() bool { return len(l.Sites) == 0 && len(l.Gateways) == 0 }

// Allows reports whether l allows gateway gw of site site ("" if unknown).
func (l Limits) Allows(gw, site string) bool {
	return l.Unlimited() || slices.Contains(l.Gateways, gw) || (site != "" && slices.Contains(l.Sites, site))
}

// AllowsSite reports whether l allows the whole of site.
func (l Limits) AllowsSite(site string) bool {
	return l.Unlimited() || slices.Contains(l.Sites, site)
}

// String lists the limits for people ("" when unlimited).
func (l Limits) String() string {
	var parts []string
	if len(l.Sites) > 0 {
		parts = append(parts, "sites "+strings.Join(l.Sites, ","))
	}
	if len(l.Gateways) > 0 {
		parts = append(parts, "gateways "+strings.Join(l.Gateways, ","))
	}
	return strings.Join(parts, "; ")
}

var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)
	idRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// CheckName reports what is wrong with a user or token name: 1 to 32 of
// a-z, 0-9, '.', '_', '-', starting with a letter or digit.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("name %q: want 1 to 32 of a-z 0-9 . _ - starting with a letter or digit", name)
	}
	return nil
}

// CheckLimits reports a site or gateway name that cannot be one
// ([a-z0-9][a-z0-9-]{0,62}, as gateway ids).
func CheckLimits(l Limits) error {
	for _, s := range l.Sites {
		if !idRE.MatchString(s) {
			return fmt.Errorf("site %q: want [a-z0-9][a-z0-9-]{0,62}", s)
		}
	}
	for _, g := range l.Gateways {
		if !idRE.MatchString(g) {
			return fmt.Errorf("gateway %q: want [a-z0-9][a-z0-9-]{0,62}", g)
		}
	}
	return nil
}

// Password length bounds, in characters and bytes. Ten characters because
// the console may face the station LAN and phones; 256 bytes bounds the
// work an attacker can hand to argon2.
const (
	MinPassword      = 10
	MaxPasswordBytes = 256
)

// CheckPassword reports what is wrong with a new password.
func CheckPassword(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinPassword:
		return fmt.Errorf("password too short: at least %d characters", MinPassword)
	case len(pw) > MaxPasswordBytes:
		return fmt.Errorf("password too long: at most %d bytes", MaxPasswordBytes)
	case !utf8.ValidString(pw):
		return errors.New("password is not valid UTF-8")
	}
	return nil
}

// User is one console account. Hash is never shown outside this package's
// file; Users and Lookup return it empty.
type User struct {
	Name   string `json:"name"`
	Role   Role   `json:"role"`
	Limits Limits `json:"limits,omitzero"`
	Hash   string `json:"hash,omitempty"`
	// Gen changes with every change of password, role or limits: a
	// session made under another Gen is over.
	Gen     uint64    `json:"gen"`
	Created time.Time `json:"created"`
	Changed time.Time `json:"changed"`
}

// Token is an API token for a machine client. The secret is shown once, by
// AddToken; Hash is its SHA-256.
type Token struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	Limits    Limits     `json:"limits,omitzero"`
	Hash      string     `json:"hash,omitempty"`
	Created   time.Time  `json:"created"`
	CreatedBy string     `json:"created_by"`
	Revoked   *time.Time `json:"revoked,omitempty"`
}

type fileData struct {
	Version int     `json:"version"`
	Users   []User  `json:"users"`
	Tokens  []Token `json:"tokens"`
}

// Errors callers tell apart.
var (
	ErrNotFound = errors.New("no such account")
	ErrExists   = errors.New("account already exists")
	// ErrBadLogin is returned for an unknown user and a wrong password
	// alike, so a caller cannot tell which.
	ErrBadLogin  = errors.New("wrong user name or password")
	ErrBadToken  = errors.New("unknown or revoked token")
	ErrLastAdmin = errors.New("the last admin cannot be removed or demoted")
)

// Options tune a DB; the zero value is the defaults.
type Options struct {
	// Params hash new passwords (DefaultParams when zero).
	Params Params
	// MaxChecks bounds password checks running at once (default 2): each
	// takes Params.Memory of RAM for its duration.
	MaxChecks int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// DB is the accounts file. Its methods are safe for concurrent use, also
// with other processes changing the same file.
type DB struct {
	path   string
	params Params
	now    func() time.Time
	checks chan struct{}

	mu    sync.Mutex
	data  fileData
	stamp os.FileInfo

	dummyOnce sync.Once
	dummy     string
}

// Open reads the accounts file at path; a missing file is an empty DB
// (created at the first change).
func Open(path string, o Options) (*DB, error) {
	if o.Params == (Params{}) {
		o.Params = DefaultParams
	}
	if err := o.Params.check(); err != nil {
		return nil, err
	}
	if o.MaxChecks <= 0 {
		o.MaxChecks = 2
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	db := &DB{path: path, params: o.Params, now: o.Now, checks: make(chan struct{}, o.MaxChecks)}
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.refreshLocked(true); err != nil {
		return nil, err
	}
	return db, nil
}

// Path is the accounts file's path.
func (db *DB) Path() string { return db.path }

// refreshLocked reads the file again when it changed since the last read
// (or always, with force).
func (db *DB) refreshLocked(force bool) error {
	st, err := os.Stat(db.path)
	if errors.Is(err, os.ErrNotExist) {
		db.data, db.stamp = fileData{Version: 1}, nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	if !force && db.stamp != nil && os.SameFile(st, db.stamp) && st.ModTime().Equal(db.stamp.ModTime()) && st.Size() == db.stamp.Size() {
		return nil
	}
	b, err := os.ReadFile(db.path)
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	var d fileData
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return fmt.Errorf("accounts: %s: %w", db.path, err)
	}
	if d.Version != 1 {
		return fmt.Errorf("accounts: %s: version %d, want 1", db.path, d.Version)
	}
	for _, u := range d.Users {
		if err := CheckName(u.Name); err != nil {
			return fmt.Errorf("accounts: %s: user %w", db.path, err)
		}
		if !u.Role.Valid() {
			return fmt.Errorf("accounts: %s: user %s: role %q: want admin, officer or viewer", db.path, u.Name, u.Role)
		}
	}
	db.data, db.stamp = d, st
	return nil
}

// change runs fn on the current content under the file lock and writes
// the result.
func (db *DB) change(fn func(d *fileData) error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(db.path), 0o700); err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	lock, err := os.OpenFile(db.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("accounts: lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("accounts: lock %s: %w", lock.Name(), err)
	}
	if err := db.refreshLocked(true); err != nil {
		return err
	}
	d := db.data
	d.Users, d.Tokens = slices.Clone(d.Users), slices.Clone(d.Tokens)
	if err := fn(&d); err != nil {
		return err
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("accounts: encode: %w", err)
	}
	if err := writeAtomic(db.path, append(b, '\n')); err != nil {
		return err
	}
	return db.refreshLocked(true)
}

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".users-*.tmp")
	if err != nil {
		return fmt.Errorf("accounts: write: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("accounts: write %s: %w", tmp, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("accounts: write: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("accounts: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("accounts: sync %s: %w", dir, err)
	}
	return nil
}

func admins(d *fileData) int {
	n := 0
	for _, u := range d.Users {
		if u.Role == Admin {
			n++
		}
	}
	return n
}

func sortedCopy(l Limits) Limits {
	l.Sites, l.Gateways = slices.Clone(l.Sites), slices.Clone(l.Gateways)
	slices.Sort(l.Sites)
	slices.Sort(l.Gateways)
	l.Sites, l.Gateways = slices.Compact(l.Sites), slices.Compact(l.Gateways)
	return l
}

// Add creates user name with a role, limits and password.
func (db *DB) Add(name string, role Role, lim Limits, password string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if !role.Valid() {
		return fmt.Errorf("role %q: want admin, officer or viewer", role)
	}
	if err := CheckLimits(lim); err != nil {
		return err
	}
	if err := CheckPassword(password); err != nil {
		return err
	}
	h, err := db.params.Hash(password)
	if err != nil {
		return err
	}
	return db.change(func(d *fileData) error {
		if slices.ContainsFunc(d.Users, func(u User) bool { return u.Name == name }) {
			return fmt.Errorf("user %s: %w", name, ErrExists)
		}
		now := db.now().UTC()
		d.Users = append(d.Users, User{Name: name, Role: role, Limits: sortedCopy(lim), Hash: h, Gen: 1, Created: now, Changed: now})
		slices.SortFunc(d.Users, func(a, b User) int { return cmp.Compare(a.Name, b.Name) })
		return nil
	})
}

func (db *DB) changeUser(name string, fn func(d *fileData, u *User) error) error {
	return db.change(func(d *fileData) error {
		i := slices.IndexFunc(d.Users, func(u User) bool { return u.Name == name })
		if i < 0 {
			return fmt.Errorf("user %s: %w", name, ErrNotFound)
		}
		if err := fn(d, &d.Users[i]); err != nil {
			return err
		}
		d.Users[i].Gen++
		d.Users[i].Changed = db.now().UTC()
		return nil
	})
}

// SetPassword replaces name's password; its sessions end.
func (db *DB) SetPassword(name, password string) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	h, err := db.params.Hash(password)
	if err != nil {
		return err
	}
	return db.changeUser(name, func(_ *fileData, u *User) error {
		u.Hash = h
		return nil
	})
}

// SetRole changes name's role and limits; its sessions end. The last admin
// cannot be demoted.
func (db *DB) SetRole(name string, role Role, lim Limits) error {
	if !role.Valid() {
		return fmt.Errorf("role %q: want admin, officer or viewer", role)
	}
	if err := CheckLimits(lim); err != nil {
		return err
	}
	return db.changeUser(name, func(d *fileData, u *User) error {
		if u.Role == Admin && role != Admin && admins(d) == 1 {
			return ErrLastAdmin
		}
		u.Role, u.Limits = role, sortedCopy(lim)
		return nil
	})
}

// Remove deletes user name; its sessions end. The last admin cannot be
// removed.
func (db *DB) Remove(name string) error {
	return db.change(func(d *fileData) error {
		i := slices.IndexFunc(d.Users, func(u User) bool { return u.Name == name })
		if i < 0 {
			return fmt.Errorf("user %s: %w", name, ErrNotFound)
		}
		if d.Users[i].Role == Admin && admins(d) == 1 {
			return ErrLastAdmin
		}
		d.Users = slices.Delete(d.Users, i, i+1)
		return nil
	})
}

func (db *DB) read() (fileData, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.refreshLocked(false); err != nil {
		return fileData{}, err
	}
	return db.data, nil
}

// Users lists the accounts by name, without their hashes.
func (db *DB) Users() ([]User, error) {
	d, err := db.read()
	if err != nil {
		return nil, err
	}
	out := slices.Clone(d.Users)
	for i := range out {
		out[i].Hash = ""
	}
	return out, nil
}

// Lookup returns user name without its hash, as the file holds it now.
func (db *DB) Lookup(name string) (User, bool, error) {
	d, err := db.read()
	if err != nil {
		return User{}, false, err
	}
	for _, u := range d.Users {
		if u.Name == name {
			u.Hash = ""
			return u, true, nil
		}
	}
	return User{}, false, nil
}

// Authenticate checks name's password. An unknown user costs the same
// argon2 work as a known one and gives the same ErrBadLogin. At most
// MaxChecks run at once; a caller waits for a slot until ctx ends.
func (db *DB) Authenticate(ctx context.Context, name, password string) (User, error) {
	d, err := db.read()
	if err != nil {
		return User{}, err
	}
	var found *User
	for i := range d.Users {
		if d.Users[i].Name == name {
			found = &d.Users[i]
		}
	}
	hash := ""
	if found != nil {
		hash = found.Hash
	} else {
		db.dummyOnce.Do(func() { db.dummy, _ = db.params.Hash("not a password, ever") })
		hash = db.dummy
	}
	select {
	case db.checks <- struct{}{}:
	case <-ctx.Done():
		return User{}, fmt.Errorf("wait for a password check: %w", ctx.Err())
	}
	ok, verr := verifyPassword(hash, password)
	<-db.checks
	if verr != nil && found != nil {
		return User{}, fmt.Errorf("user %s: %w", name, verr)
	}
	if found == nil || !ok || len(password) > MaxPasswordBytes {
		return User{}, ErrBadLogin
	}
	u := *found
	u.Hash = ""
	return u, nil
}

// tokenPrefix starts every token, so a leaked one is recognisable (secret
// scanners look for such prefixes).
const tokenPrefix = "antt_"

// AddToken creates an API token with a role (viewer or officer: a machine
// client does not manage users) and limits, made by user by. The returned
// secret is the only copy.
func (db *DB) AddToken(name string, role Role, lim Limits, by string) (secret string, tok Token, err error) {
	if err := CheckName(name); err != nil {
		return "", Token{}, err
	}
	if role != Viewer && role != Officer {
		return "", Token{}, fmt.Errorf("token role %q: want viewer or officer", role)
	}
	if err := CheckLimits(lim); err != nil {
		return "", Token{}, err
	}
	id := make([]byte, 8)
	key := make([]byte, 32)
	rand.Read(id)
	rand.Read(key)
	tok = Token{ID: hex.EncodeToString(id), Name: name, Role: role, Limits: sortedCopy(lim), CreatedBy: by}
	secret = tokenPrefix + tok.ID + "_" + base64.RawURLEncoding.EncodeToString(key)
	sum := sha256.Sum256([]byte(secret))
	tok.Hash = hex.EncodeToString(sum[:])
	err = db.change(func(d *fileData) error {
		tok.Created = db.now().UTC()
		d.Tokens = append(d.Tokens, tok)
		return nil
	})
	if err != nil {
		return "", Token{}, err
	}
	tok.Hash = ""
	return secret, tok, nil
}

// Tokens lists the tokens (revoked ones too), oldest first, without hashes.
func (db *DB) Tokens() ([]Token, error) {
	d, err := db.read()
	if err != nil {
		return nil, err
	}
	out := slices.Clone(d.Tokens)
	for i := range out {
		out[i].Hash = ""
	}
	return out, nil
}

// RevokeToken revokes token id at once; it stays listed as revoked.
func (db *DB) RevokeToken(id string) error {
	return db.change(func(d *fileData) error {
		i := slices.IndexFunc(d.Tokens, func(t Token) bool { return t.ID == id })
		if i < 0 {
			return fmt.Errorf("token %s: %w", id, ErrNotFound)
		}
		if d.Tokens[i].Revoked == nil {
			now := db.now().UTC()
			d.Tokens[i].Revoked = &now
		}
		return nil
	})
}

// TokenAuth returns the live token whose secret this is.
func (db *DB) TokenAuth(secret string) (Token, error) {
	rest, ok := strings.CutPrefix(secret, tokenPrefix)
	id, _, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(secret) > 128 {
		return Token{}, ErrBadToken
	}
	d, err := db.read()
	if err != nil {
		return Token{}, err
	}
	sum := sha256.Sum256([]byte(secret))
	want := hex.EncodeToString(sum[:])
	for _, t := range d.Tokens {
		if t.ID == id && subtle.ConstantTimeCompare([]byte(t.Hash), []byte(want)) == 1 {
			if t.Revoked != nil {
				return Token{}, ErrBadToken
			}
			t.Hash = ""
			return t, nil
		}
	}
	return Token{}, ErrBadToken
}
