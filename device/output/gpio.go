package output

import (
	"fmt"

	"github.com/antt-gateway/antt/sensors"
	"periph.io/x/conn/v3/gpio"
)

// GPIO is the Line driver for a periph.io output pin.
type GPIO struct {
	pin       gpio.PinOut
	activeLow bool
}

// NewGPIO returns a line on pin; activeLow means the output is on when the
// pin is low (many relay boards).
func NewGPIO(pin gpio.PinOut, activeLow bool) *GPIO { return &GPIO{pin: pin, activeLow: activeLow} }

// OpenGPIO finds the pin called name through pins (sensors.HostPins on a
// board, sensorstest.Pins in tests) and returns its line, switched off.
func OpenGPIO(pins sensors.PinSource, name string, activeLow bool) (*GPIO, error) {
	if err := pins.Init(); err != nil {
		return nil, fmt.Errorf("output pin %s: %w", name, err)
	}
	p := pins.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("output pin %q: not found on this board (names look like GPIO27)", name)
	}
	g := NewGPIO(p, activeLow)
	if err := g.Set(false); err != nil {
		return nil, err
	}
	return g, nil
}

// Set implements Line.
func (g *GPIO) Set(on bool) error {
	l := gpio.Level(on != g.activeLow)
	if err := g.pin.Out(l); err != nil {
		return fmt.Errorf("set %s %s: %w", g.pin, l, err)
	}
	return nil
}

// String implements Line.
func (g *GPIO) String() string { return g.pin.Name() }
