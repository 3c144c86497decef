package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a configuration. Line is 1-based and 0
// only when the problem has no place in the file (an empty file, an
// unreadable one). Key is the dotted path of the setting, with list
// indexes: "sensors[1].debounce".
type Problem struct {
	Line int    `json:"line,omitempty"`
	Key  string `json:"key,omitempty"`
	Msg  string `json:"msg"`
}

// String renders the problem as "line N: key.path: message", leaving out
// the parts that are not known.
func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Errors is every problem found in one configuration. Load and Parse return
// it (as error) so that an installer fixes the whole file in one round
// instead of one mistake per run.
type Errors struct {
	// File is the configuration file's path, empty for Parse without FileName.
	File     string
	Problems []Problem
}

// Error prints one problem per line, each prefixed with the file name when
// known, so the output reads like a compiler's.
func (e *Errors) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.File != "" {
			b.WriteString(e.File)
			b.WriteString(": ")
		}
		b.WriteString(p.String())
	}
	if len(e.Problems) == 0 {
		b.WriteString("invalid configuration")
	}
	return b.String()
}
