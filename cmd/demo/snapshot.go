package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net"
	"net/http"
	"sync"
	"time"
)

// The demo's cameras loop a clip the gateway does not decode (it never
// decodes video), so their snapshots, as a real camera's snapshot CGI
// gives them, come from here: one loopback HTTP server answering
// GET /{camera}.jpg with a fresh 320×180 JPEG (a colour field per camera
// and a bar that moves with the clock, so two snapshots differ).

// startSnapshots serves the demo cameras' snapshots on a free loopback
// port until ctx ends; it returns the server's base URL.
func startSnapshots(ctx context.Context, wg *sync.WaitGroup) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("the cameras' snapshot server: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(serveSnapshot), ReadHeaderTimeout: 5 * time.Second}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("demo: the cameras' snapshot server:", err)
		}
	}()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		_ = srv.Close()
	}()
	return "http://" + ln.Addr().String(), nil
}

// serveSnapshot answers GET /{camera}.jpg.
func serveSnapshot(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	b, err := snapshotJPEG(r.URL.Path, time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	_, _ = w.Write(b)
}

// snapshotJPEG draws the picture of the camera at path at time now.
func snapshotJPEG(path string, now time.Time) ([]byte, error) {
	const width, height = 320, 180
	var h uint32
	for _, c := range path {
		h = h*31 + uint32(c)
	}
	base := color.RGBA{uint8(60 + h%120), uint8(60 + (h/7)%120), uint8(60 + (h/49)%120), 255}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	bar := int(now.UnixMilli()/40) % width
	for y := range height {
		for x := range width {
			c := base
			c.R += uint8(x / 8)
			c.G += uint8(y / 6)
			if x >= bar && x < bar+12 {
				c = color.RGBA{240, 240, 240, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	return b.Bytes(), nil
}
