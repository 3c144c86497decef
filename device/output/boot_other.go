//go:build !linux

package output

import "time"

var processStart = time.Now()

// SystemBoot has no kernel boot id off Linux: records are read by the wall
// clock only, and Since counts from process start.
type SystemBoot struct{}

// ID implements Boot; always empty here.
func (SystemBoot) ID() string { return "" }

// Since implements Boot.
func (SystemBoot) Since() time.Duration { return time.Since(processStart) }
