package config

import (
	"strings"
	"testing"
)

// TestAPIOffLoopbackNeedsAToken: the API shows every customer's journey,
// so journey refuses to serve it beyond loopback without a token.
func TestAPIOffLoopbackNeedsAToken(t *testing.T) {
	for _, tc := range []struct {
		addr, tokenFile string
		bad             string
	}{
		{"127.0.0.1:9465", "", ""},
		{"localhost:9465", "", ""},
		{"[::1]:9465", "", ""},
		{"", "", ""},
		{":9465", "", "api.token_file"},
		{"0.0.0.0:9465", "", "api.token_file"},
		{"10.1.2.3:9465", "", "api.token_file"},
		{"10.1.2.3:9465", "/run/secrets/api-token", ""},
		{"no-port", "", "api.addr"},
	} {
		c := Default()
		c.API.Addr, c.API.TokenFile = tc.addr, tc.tokenFile
		err := c.Validate()
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("api.addr %q token_file %q: %v", tc.addr, tc.tokenFile, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("api.addr %q token_file %q: error %v, want one naming %s", tc.addr, tc.tokenFile, err, tc.bad)
		}
	}
}
