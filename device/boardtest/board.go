package boardtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Assets are the parts of the board that come from Debian: the kernel, the
// gpio-sim module with what it needs, and a static busybox, all arm64.
type Assets struct {
	Kernel  string   // the kernel image as Debian ships it (arm64 Image)
	Modules []string // uncompressed modules, in load order (gpio-sim last)
	Busybox string   // static busybox
	Release string   // the kernel release, e.g. 7.2.13+deb14-arm64
}

// Fetch runs testdata/board/fetch.sh (script) to resolve the assets from
// Debian unstable into cacheDir, or to find them there from an earlier run.
func Fetch(ctx context.Context, script, cacheDir string) (Assets, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script, cacheDir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Assets{}, fmt.Errorf("fetch board assets with %s: %w\n%s", script, err, lastLines(stderr.String(), 20))
	}
	var a Assets
	var modDir string
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "KERNEL":
			a.Kernel = v
		case "MODULES":
			modDir = v
		case "BUSYBOX":
			a.Busybox = v
		case "KVER":
			a.Release = v
		}
	}
	if a.Kernel == "" || modDir == "" || a.Busybox == "" {
		return Assets{}, fmt.Errorf("fetch board assets: %s printed no KERNEL, MODULES and BUSYBOX:\n%s", script, out)
	}
	order, err := os.ReadFile(filepath.Join(modDir, "order"))
	if err != nil {
		return Assets{}, fmt.Errorf("fetch board assets: %w", err)
	}
	for _, m := range strings.Fields(string(order)) {
		a.Modules = append(a.Modules, filepath.Join(modDir, m))
	}
	return a, nil
}

// Image is what goes into the board's initramfs besides the assets.
type Image struct {
	Init     string            // the /init script (testdata/board/init)
	Gateways map[string]string // run name → gateway binary; run in name order
	Files    map[string][]byte // more files, by path inside the image
}

// WriteInitramfs writes the initramfs for img and assets to path.
func WriteInitramfs(path string, assets Assets, img Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create initramfs: %w", err)
	}
	a := NewInitramfs(f)
	for _, d := range []string{"dev", "proc", "sys", "tmp", "data", "board/gateways"} {
		a.Dir(d)
	}
	a.CopyFile("init", 0o755, img.Init)
	a.CopyFile("bin/busybox", 0o755, assets.Busybox)
	a.Symlink("bin/sh", "busybox")
	var order strings.Builder
	for _, m := range assets.Modules {
		a.CopyFile("lib/modules/"+filepath.Base(m), 0o644, m)
		order.WriteString(filepath.Base(m) + "\n")
	}
	a.File("lib/modules/order", 0o644, []byte(order.String()))
	for name, bin := range img.Gateways {
		a.CopyFile("board/gateways/"+name, 0o755, bin)
	}
	for name, data := range img.Files {
		a.File(name, 0o644, data)
	}
	err = a.Close()
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write initramfs: %w", cerr)
	}
	return err
}

// Machine is how the board is emulated.
type Machine struct {
	Kernel, Initrd string
	CPU            string // default cortex-a53: it runs 32-bit (compat) code too
	MemoryMiB      int    // default 512
	SMP            int    // default 2
	Append         string // extra kernel command line
}

// Boot runs the board until it powers itself off or ctx ends, copying the
// serial console to log as it comes (when log is not nil). It returns the
// console, and the time from qemu's start to each console line.
func Boot(ctx context.Context, m Machine, log io.Writer) (*Console, error) {
	if m.CPU == "" {
		m.CPU = "cortex-a53"
	}
	if m.MemoryMiB == 0 {
		m.MemoryMiB = 512
	}
	if m.SMP == 0 {
		m.SMP = 2
	}
	args := []string{
		"-M", "virt", "-cpu", m.CPU, "-smp", fmt.Sprint(m.SMP), "-m", fmt.Sprint(m.MemoryMiB),
		"-nographic", "-nic", "none", "-no-reboot",
		"-kernel", m.Kernel, "-initrd", m.Initrd,
		"-append", strings.TrimSpace("console=ttyAMA0 panic=-1 printk.time=1 " + m.Append),
	}
	cmd := exec.CommandContext(ctx, "qemu-system-aarch64", args...)
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("boot board: %w", err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start qemu-system-aarch64: %w", err)
	}
	// Read until qemu closes its end: it exits when the board powers off,
	// and the context kills it when the board hangs.
	c := &Console{}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		c.Lines = append(c.Lines, line)
		c.At = append(c.At, time.Since(start))
		if log != nil {
			fmt.Fprintln(log, line)
		}
	}
	err = cmd.Wait()
	if ctx.Err() != nil {
		return c, fmt.Errorf("board did not power off in time: %w", ctx.Err())
	}
	if err != nil {
		return c, fmt.Errorf("qemu-system-aarch64: %w\n%s", err, lastLines(stderr.String(), 20))
	}
	return c, nil
}

// Console is the board's serial output, line by line.
type Console struct {
	Lines []string
	At    []time.Duration // since qemu started, per line
}

// String is the whole console.
func (c *Console) String() string { return strings.Join(c.Lines, "\n") }

// ErrNoDone says the board stopped before printing BOARD-DONE.
var ErrNoDone = errors.New("board stopped before BOARD-DONE")

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
