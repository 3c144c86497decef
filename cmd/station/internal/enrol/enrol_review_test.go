package enrol

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// TestBundleNeverCarriesTheBrokerKey: the CA file defaults to the
// broker's -tls-cert, which may be one PEM file holding the certificate
// and its private key (the broker loads such a file). The download, copied
// onto every gateway's card, must carry the certificates only.
func TestBundleNeverCarriesTheBrokerKey(t *testing.T) {
	o := testOptions(t)
	key := "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
	ec := "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n"
	if err := os.WriteFile(o.CAFile, []byte(testCA+key+ec+testCA), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Add(Gateway{ID: "cong-khu-9", Site: "khu-9", Kind: KindGate})
	if err != nil {
		t.Fatal(err)
	}
	ca := string(b.Files[CAName])
	if strings.Contains(ca, "PRIVATE KEY") || strings.Contains(ca, "MIIE") || strings.Contains(ca, "MHcC") {
		t.Fatalf("the download's ca.pem carries a private key:\n%s", ca)
	}
	if ca != testCA+testCA {
		t.Errorf("ca.pem %q, want the two certificates", ca)
	}
	zr, err := zip.NewReader(bytes.NewReader(b.Zip), int64(len(b.Zip)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		rc, _ := f.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		if strings.Contains(string(data), "PRIVATE KEY") {
			t.Errorf("%s in the zip carries a private key", f.Name)
		}
	}
}
