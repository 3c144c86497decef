package device

// The state every sensor was found in when the gateway started goes into
// the boot event, so a door opened or a box tampered while the power was off
// is not invisible (docs/decisions.md, "Start-up level").

// Values of the boot event's "sensors" attr.
const (
	bootActive   = "active"
	bootInactive = "inactive"
	// bootUnknown: the input could not be read; its Run fails the same way
	// and is reported, and "sensor_errors" says why.
	bootUnknown = "unknown"
)

// attrAtStart marks a sensor event raised for the state found at start
// rather than for a change.
const attrAtStart = "at_start"

// bootAttrs primes every input (configures it and reads its state, which
// its Run then starts from) and returns the boot event's attrs: version,
// and sensors (name → active, inactive or unknown) when any are configured.
// Inputs whose kind raises an event at start (every kind but motion) send
// that event themselves as their first edge once they run, after the boot
// event.
func (g *Gateway) bootAttrs() map[string]any {
	attrs := map[string]any{"version": Version}
	if len(g.inputs) == 0 {
		return attrs
	}
	states := make(map[string]string, len(g.inputs))
	var errs map[string]string
	for _, in := range g.inputs {
		active, err := in.Prime()
		switch {
		case err != nil:
			g.log.Error("sensor state at start unknown", "sensor", in.Name(), "err", err)
			states[in.Name()] = bootUnknown
			if errs == nil {
				errs = make(map[string]string)
			}
			errs[in.Name()] = err.Error()
		case active:
			g.log.Warn("sensor active at start", "sensor", in.Name(), "kind", g.kinds[in.Name()])
			states[in.Name()] = bootActive
		default:
			states[in.Name()] = bootInactive
		}
	}
	attrs["sensors"] = states
	if errs != nil {
		attrs["sensor_errors"] = errs
	}
	return attrs
}
