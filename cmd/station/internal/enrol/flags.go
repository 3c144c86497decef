package enrol

import (
	"flag"
	"net"
	"os"
	"strings"
)

// Flags are the station's enrolment flags.
type Flags struct {
	BrokerURL  string
	CAFile     string
	ServerName string
}

// RegisterFlags adds -enrol-broker, -enrol-ca and -enrol-server-name to fs.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.BrokerURL, "enrol-broker", "", "enrolment: the broker URL written into a new gateway's gateway.yaml, as gateways reach the station (default: mqtts:// with -tls-cert, else mqtt://, this machine's name or the -listen host, and the broker's port)")
	fs.StringVar(&f.CAFile, "enrol-ca", "", "enrolment: the CA certificate (PEM) a new gateway verifies the broker with, copied into its download (default: the -tls-cert file, right for a self-signed certificate)")
	fs.StringVar(&f.ServerName, "enrol-server-name", "", "enrolment: the name in the broker's certificate when it is not the -enrol-broker host")
	return f
}

// Open makes the station's Enroller for broker b listening on addr (the
// bound address) with the given -tls-cert, -passwd and -access files.
func (f *Flags) Open(b Broker, addr, tlsCert, passwd, access, directory, prefix string) (*Enroller, error) {
	url := f.BrokerURL
	if url == "" {
		url = DefaultBrokerURL(addr, tlsCert != "")
	}
	ca := f.CAFile
	if ca == "" && strings.HasPrefix(url, "mqtts://") {
		ca = tlsCert
	}
	return New(Options{PasswdFile: passwd, AccessFile: access, DirectoryFile: directory, Broker: b,
		BrokerURL: url, CAFile: ca, ServerName: f.ServerName, Prefix: prefix})
}

// DefaultBrokerURL is the URL gateways are given for a broker bound to
// addr: the listen host, or this machine's name (with ".local", the name
// the image's default gateway.yaml expects) when it listens on every
// address.
func DefaultBrokerURL(addr string, tls bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = "", "1883"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "station.local"
		if name, err := os.Hostname(); err == nil && name != "" {
			host = name
			if !strings.Contains(name, ".") {
				host += ".local"
			}
		}
	}
	scheme := "mqtt://"
	if tls {
		scheme = "mqtts://"
	}
	return scheme + net.JoinHostPort(host, port)
}
