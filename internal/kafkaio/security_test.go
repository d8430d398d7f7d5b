package kafkaio

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A SASL mechanism prints its name and user, never the password, and
// each mechanism the configuration offers is built.
func TestSASLMechanismHidesThePassword(t *testing.T) {
	const pw = "pa55-word-0b7"
	for _, name := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		m, err := SASL(name, "u", pw, "kafka.sasl.password_file")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.Name() != name {
			t.Errorf("mechanism %q, want %q", m.Name(), name)
		}
		for _, s := range []string{fmt.Sprintf("%v", m), fmt.Sprintf("%+v", m), fmt.Sprintf("%#v", m), fmt.Sprintf("%s", m)} {
			if strings.Contains(s, pw) {
				t.Errorf("%s prints its password: %s", name, s)
			}
		}
	}
	if _, err := SASL("GSSAPI", "u", pw, ""); err == nil || !strings.HasPrefix(err.Error(), "kafka.sasl.mechanism: ") {
		t.Errorf("GSSAPI: %v", err)
	}
}

// ClientTLS's errors name the setting and the file.
func TestClientTLSNamesTheSetting(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    TLSFiles
		want string
	}{
		{TLSFiles{Section: "kafka.tls", CAFile: filepath.Join(dir, "missing.pem")}, "kafka.tls.ca_file: "},
		{TLSFiles{Section: "redis.tls", CAFile: notPEM}, "redis.tls.ca_file " + notPEM + ": no PEM certificate in it"},
		{TLSFiles{Section: "kafka.tls", CertFile: notPEM, KeyFile: notPEM}, "kafka.tls.cert_file " + notPEM},
	} {
		if _, err := ClientTLS(tc.f); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q...", tc.f, err, tc.want)
		}
	}
	c, err := ClientTLS(TLSFiles{Section: "kafka.tls", ServerName: "broker.internal"})
	if err != nil || c.ServerName != "broker.internal" || c.RootCAs != nil {
		t.Errorf("system roots and a server name: %+v, %v", c, err)
	}
}
