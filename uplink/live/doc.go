// Package live serves a gateway's cameras to WebRTC viewers (pion): the
// station's officers through signaling over MQTT, an installer on site
// through WHEP on the local API.
//
// What it promises:
//   - Media is never transcoded. Each H.264 access unit from a camera's hub
//     is packetised once (FU-A; SPS and PPS as a STAP-A before every key
//     frame) and those payloads are written to every viewer with that
//     viewer's own SSRC, sequence numbers and timestamps. G.711 and H.265
//     go out in the camera's own payloads.
//   - One camera session feeds every viewer (the hub's promise); a camera
//     is pulled only while a viewer (or something else) needs it.
//   - Each viewer has its own goroutine and bounded queue. One that falls
//     behind skips to the next key frame; it never grows a queue or slows
//     the camera or the other viewers.
//   - The first picture comes at once: a new viewer starts from the cached
//     GOP, fast-forwarded (re-timed to a short spacing, paced by a byte
//     budget) so that it ends at the live edge; a GOP too old for that
//     shows its key frame as a still and goes live at the next one. Audio
//     starts at the live edge.
//   - RTCP is always read: NACKs are answered from a per-viewer buffer
//     (which shares the payloads, so it costs headers only), and a PLI or
//     FIR is answered, at most once per PLIInterval, by a replay from the
//     cached key frame (a camera cannot be made to send one).
//   - Limits: viewers per gateway and per camera, a maximum session length
//     unless renewed, a connect timeout; every session ends with the
//     gateway (Run's context). Bad offers, unknown cameras and codecs a
//     viewer cannot take are refused with an error that names the problem.
//   - ICE: full ICE (the board is the side behind NAT), one UDP port for
//     every session, mDNS and loopback candidates off unless asked for.
//   - Playback (playback.go): an offer with a start time plays the camera's
//     recordings (Options.Recordings) over the same path, from the key
//     frame at or before it, paced in real time (or 2×, 4×), with seek;
//     it closes by itself at the end of its range (docs/live.md).
package live
