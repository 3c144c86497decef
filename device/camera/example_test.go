package camera_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/camera/h264"
	"github.com/antt-gateway/antt/device/camera/rtsp"
)

// A hub-like consumer: open a camera, keep a copy of the last key frame as
// Annex-B, stop after ten seconds.
func ExampleOpen() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	src, err := camera.Open(ctx, "rtsp://viewer:secret@192.168.1.64:554/Streaming/Channels/102",
		camera.Options{Transport: rtsp.TCP})
	if err != nil {
		log.Print(err) // names the step and the status; never the password
		return
	}
	defer src.Close()
	var lastKey []byte
	err = src.Run(ctx, func(f *camera.Frame) {
		if f.Codec == camera.H264 && f.Key {
			lastKey = h264.AppendAnnexB(lastKey[:0], f.NALUs) // copy: f is reused
		}
	})
	fmt.Println(err, len(lastKey), src.Tracks()[0].Width)
}

// Probe is what `gateway probe URL` prints.
func ExampleProbe() {
	r, err := camera.Probe(context.Background(), "file:///usr/share/antt/demo.h264", 3*time.Second, camera.Options{})
	if err != nil {
		log.Print(err)
		return
	}
	fmt.Print(r)
}
