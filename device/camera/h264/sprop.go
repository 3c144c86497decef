package h264

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// ParseSpropParameterSets decodes the SDP fmtp value sprop-parameter-sets
// (RFC 6184 §8.1): base64 NAL units separated by commas. It returns the first
// SPS and the first PPS found; either may be nil.
func ParseSpropParameterSets(v string) (sps, pps []byte, err error) {
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		nal, err := base64.StdEncoding.DecodeString(part)
		if err != nil {
			// Some cameras drop the padding.
			nal, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(part, "="))
			if err != nil {
				return nil, nil, fmt.Errorf("h264: sprop-parameter-sets: %w", err)
			}
		}
		if len(nal) == 0 {
			continue
		}
		switch nal[0] & 0x1f {
		case NALSPS:
			if sps == nil {
				sps = nal
			}
		case NALPPS:
			if pps == nil {
				pps = nal
			}
		}
	}
	return sps, pps, nil
}
