package broker

import (
	"bufio"
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Password hashing parameters. DefaultIterations follows OWASP's 2023 advice
// for PBKDF2-HMAC-SHA256; verification runs on the station, not the boards.
const (
	DefaultIterations = 600_000
	MinIterations     = 1_000
	MaxIterations     = 10_000_000
	saltLen           = 16
	keyLen            = 32
	hashScheme        = "pbkdf2-sha256"
)

// Hash is one stored password: PBKDF2-HMAC-SHA256 with its salt and
// iteration count.
type Hash struct {
	Iter int
	Salt []byte
	Key  []byte
}

// NewHash hashes password with a fresh random salt.
func NewHash(password string, iter int) (Hash, error) {
	if iter < MinIterations || iter > MaxIterations {
		return Hash{}, fmt.Errorf("iterations %d outside [%d, %d]", iter, MinIterations, MaxIterations)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return Hash{}, fmt.Errorf("read salt: %w", err)
	}
	k, err := pbkdf2.Key(sha256.New, password, salt, iter, keyLen)
	if err != nil {
		return Hash{}, fmt.Errorf("derive key: %w", err)
	}
	return Hash{Iter: iter, Salt: salt, Key: k}, nil
}

// Verify reports whether password matches, in time independent of where
// the keys differ.
func (h Hash) Verify(password string) bool {
	k, err := pbkdf2.Key(sha256.New, password, h.Salt, h.Iter, len(h.Key))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(k, h.Key) == 1
}

// String is the stored form: pbkdf2-sha256$<iter>$<salt b64>$<key b64>.
func (h Hash) String() string {
	return fmt.Sprintf("%s$%d$%s$%s", hashScheme, h.Iter,
		base64.StdEncoding.EncodeToString(h.Salt), base64.StdEncoding.EncodeToString(h.Key))
}

// ParseHash reads the stored form written by Hash.String. Base64 with or
// without padding is accepted.
func ParseHash(s string) (Hash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != hashScheme {
		return Hash{}, fmt.Errorf("want %s$<iter>$<salt>$<hash>", hashScheme)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < MinIterations || iter > MaxIterations {
		return Hash{}, fmt.Errorf("iterations %q: want an integer in [%d, %d]", parts[1], MinIterations, MaxIterations)
	}
	salt, err := decodeB64(parts[2])
	if err != nil || len(salt) < 8 {
		return Hash{}, errors.New("salt: want base64 of at least 8 bytes")
	}
	key, err := decodeB64(parts[3])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return Hash{}, errors.New("hash: want base64 of 16 to 64 bytes")
	}
	return Hash{Iter: iter, Salt: salt, Key: key}, nil
}

func decodeB64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.Strict().DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.Strict().DecodeString(s)
}

// PasswordEntry is one line of a password file.
type PasswordEntry struct {
	User string
	Hash Hash
}

// ParsePasswords reads a password file: one `username:hash` a line, blank
// lines and lines starting with '#' ignored. A user may appear once.
// Errors name the line.
func ParsePasswords(data []byte) ([]PasswordEntry, error) {
	var out []PasswordEntry
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want username:hash", n)
		}
		if err := checkUser(user); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if first, dup := seen[user]; dup {
			return nil, fmt.Errorf("line %d: user %q already on line %d", n, user, first)
		}
		h, err := ParseHash(hash)
		if err != nil {
			return nil, fmt.Errorf("line %d: user %q: %w", n, user, err)
		}
		seen[user] = n
		out = append(out, PasswordEntry{User: user, Hash: h})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return out, nil
}

// checkUser keeps user names to what fits in both file formats and logs.
func checkUser(u string) error {
	if u == "" || len(u) > 128 {
		return fmt.Errorf("username %.20q: want 1 to 128 characters", u)
	}
	for _, r := range u {
		if r <= ' ' || r == ':' || r == '#' || r == 0x7f {
			return fmt.Errorf("username %.20q: no spaces, control characters, ':' or '#'", u)
		}
	}
	return nil
}

// LoadPasswords reads and parses the password file at path.
func LoadPasswords(path string) ([]PasswordEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read password file: %w", err)
	}
	e, err := ParsePasswords(data)
	if err != nil {
		return nil, fmt.Errorf("password file %s: %w", path, err)
	}
	return e, nil
}

// SetPassword adds user to the password file at path or replaces its
// entry, keeping the other lines (comments included) as they are. The file
// is replaced atomically and is readable by its owner only. A missing file
// is created.
func SetPassword(path, user, password string, iter int) error {
	if err := checkUser(user); err != nil {
		return err
	}
	if password == "" {
		return errors.New("empty password")
	}
	h, err := NewHash(password, iter)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read password file: %w", err)
	}
	if _, err := ParsePasswords(old); err != nil {
		return fmt.Errorf("password file %s: %w", path, err)
	}
	entry := user + ":" + h.String()
	var lines []string
	replaced := false
	for l := range strings.Lines(string(old)) {
		l = strings.TrimRight(l, "\r\n")
		if u, _, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && u == user && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			l, replaced = entry, true
		}
		lines = append(lines, l)
	}
	if !replaced {
		lines = append(lines, entry)
	}
	return writeFileAtomic(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
