#!/usr/bin/python3
"""A real RTSP camera for tests: GStreamer's RTSP server serving H.264 + PCMA.

Usage: rtsp-server.py [--port 0] [--auth none|basic|digest] [--user U --password P]
                      [--width 320 --height 180 --fps 25 --key-int-max 10 --slices 4]
                      [--config-interval 0] [--session-timeout 60] [--path /cam]

Port 0 picks a free port. When the server listens, one line goes to stdout:
    READY rtsp://127.0.0.1:PORT/cam
The server stops when stdin closes, so a test that dies takes it along.
Needs Debian packages: python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly.
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--auth", choices=["none", "basic", "digest"], default="none")
    ap.add_argument("--user", default="viewer")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=180)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--key-int-max", type=int, default=10)
    ap.add_argument("--bitrate", type=int, default=400, help="x264 bitrate, kbit/s")
    ap.add_argument("--pattern", default="ball", help="videotestsrc pattern (snow: detail that fills the bitrate)")
    ap.add_argument("--slices", type=int, default=4)
    ap.add_argument("--config-interval", type=int, default=0,
                    help="rtph264pay config-interval: 0 = SPS/PPS only in the SDP, -1 = before every IDR")
    ap.add_argument("--session-timeout", type=int, default=60)
    ap.add_argument("--path", default="/cam")
    a = ap.parse_args()

    Gst.init(None)
    launch = (
        f"( videotestsrc is-live=true pattern={a.pattern} "
        f"! video/x-raw,width={a.width},height={a.height},framerate={a.fps}/1 "
        f"! x264enc tune=zerolatency sliced-threads=true threads={a.slices} "
        f"option-string=slices={a.slices} key-int-max={a.key_int_max} bitrate={a.bitrate} speed-preset=ultrafast "
        f"! rtph264pay name=pay0 pt=96 config-interval={a.config_interval} "
        "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=8000,channels=1 "
        "! alawenc ! rtppcmapay name=pay1 pt=8 )"
    )
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    server.get_mount_points().add_factory(a.path, factory)

    if a.auth != "none":
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        if a.auth == "basic":
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, a.password), token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        else:
            auth.add_digest(a.user, a.password, token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_permission_for_role("user", "media.factory.access", True)
        perms.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(perms)

    def new_session(_client, session):
        session.set_timeout(a.session_timeout)

    server.connect("client-connected", lambda _s, client: client.connect("new-session", new_session))

    # The server only expires sessions when someone runs the pool's cleanup;
    # run it every second so a client without keep-alives loses its session.
    pool = server.get_session_pool()
    GLib.timeout_add_seconds(1, lambda: (pool.cleanup(), True)[1])

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print("attach failed", file=sys.stderr)
        sys.exit(1)
    GLib.io_add_watch(GLib.IOChannel.unix_new(sys.stdin.fileno()), GLib.PRIORITY_DEFAULT,
                      GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
                      lambda *_: (loop.quit(), False)[1])
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}{a.path}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
