// Package statefile writes the gateway's small state files (an output's
// "on until" record, the alarm mode) so that a power cut leaves either the
// old or the new content, never a torn file.
//
// Write puts the data in a temporary file beside the target, fsyncs it,
// renames it over the target and fsyncs the directory: on return the new
// content is durable. Read bounds what it reads, so a damaged or wrong file
// cannot exhaust memory.
package statefile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// MaxSize bounds a state file; these records are a few hundred bytes.
const MaxSize = 64 << 10

// Write replaces path with data durably (see the package doc).
func Write(path string, data []byte) error {
	if len(data) > MaxSize {
		return fmt.Errorf("write %s: %d bytes is over the %d-byte limit", path, len(data), MaxSize)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write %s: open directory: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write %s: sync directory: %w", path, err)
	}
	return nil
}

// ErrNotExist is returned (wrapped) by Read when there is no file yet.
var ErrNotExist = os.ErrNotExist

// Read returns the content of path; a missing file is an error matching
// ErrNotExist, a file over MaxSize is an error naming the file.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("read %s: larger than %d bytes, not a state file", path, MaxSize)
	}
	return data, nil
}

// Missing reports whether err means the file does not exist yet.
func Missing(err error) bool { return errors.Is(err, os.ErrNotExist) }
