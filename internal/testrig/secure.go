package testrig

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Secure is the rig's secure endpoints (rig/secure.go): a SASL_SSL Kafka
// listener (SCRAM-SHA-512; the broker authorizes with ACLs, and the
// plaintext listener's anonymous user is a super user), a Redis TLS port
// with an ACL user restricted to keys under RedisPrefix, the CA that
// signed both servers' certificates, and an unrelated CA.
type Secure struct {
	KafkaBrokers      []string // SASL_SSL listener
	KafkaMechanism    string   // SCRAM-SHA-512
	KafkaMechanisms   []string // every mechanism the listener takes (the user's password is the same in each)
	KafkaUser         string
	KafkaPasswordFile string
	RedisAddr         string // TLS port
	RedisUser         string
	RedisPasswordFile string
	RedisPrefix       string // the ACL user may touch keys under it only
	CAFile            string
	OtherCAFile       string
	// Client certificates, one signed by CAFile's CA, one by
	// OtherCAFile's: the SASL_SSL listener requires one signed by the CA
	// (mutual TLS); Redis's TLS port checks one presented.
	ClientCertFile, ClientKeyFile           string
	OtherClientCertFile, OtherClientKeyFile string
}

// SecureRig returns the rig's secure endpoints from the variables `rig
// exec` and `rig up` export; without them the test is skipped (failed
// under CI=true): no container stands in for them.
func SecureRig(t testing.TB) Secure {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test needs the rig's secure endpoints: skipped in -short mode")
	}
	get := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			msg := "testrig: " + k + " is unset: run `make test` (the rig exports the secure endpoints)"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		return v
	}
	return Secure{
		KafkaBrokers:        strings.Split(get("JOURNEY_TEST_KAFKA_SASL_SSL_BROKERS"), ","),
		KafkaMechanism:      get("JOURNEY_TEST_KAFKA_SASL_MECHANISM"),
		KafkaMechanisms:     strings.Split(get("JOURNEY_TEST_KAFKA_SASL_MECHANISMS"), ","),
		KafkaUser:           get("JOURNEY_TEST_KAFKA_SASL_USERNAME"),
		KafkaPasswordFile:   get("JOURNEY_TEST_KAFKA_SASL_PASSWORD_FILE"),
		RedisAddr:           get("JOURNEY_TEST_REDIS_TLS_ADDR"),
		RedisUser:           get("JOURNEY_TEST_REDIS_USERNAME"),
		RedisPasswordFile:   get("JOURNEY_TEST_REDIS_PASSWORD_FILE"),
		RedisPrefix:         get("JOURNEY_TEST_REDIS_ACL_PREFIX"),
		CAFile:              get("JOURNEY_TEST_TLS_CA_FILE"),
		OtherCAFile:         get("JOURNEY_TEST_TLS_OTHER_CA_FILE"),
		ClientCertFile:      get("JOURNEY_TEST_TLS_CLIENT_CERT_FILE"),
		ClientKeyFile:       get("JOURNEY_TEST_TLS_CLIENT_KEY_FILE"),
		OtherClientCertFile: get("JOURNEY_TEST_TLS_OTHER_CLIENT_CERT_FILE"),
		OtherClientKeyFile:  get("JOURNEY_TEST_TLS_OTHER_CLIENT_KEY_FILE"),
	}
}

// Passwords returns the users' passwords, for a test to look for them
// where they must not be.
func (s Secure) Passwords(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, f := range []string{s.KafkaPasswordFile, s.RedisPasswordFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.TrimSpace(string(b)))
	}
	return out
}

// ACL is one Kafka ACL to grant the SASL user: allow Operation on the
// resource of type Resource named Name (literal).
type ACL struct {
	Resource  kafka.ResourceType
	Name      string
	Operation kafka.ACLOperationType
}

// GrantACLs creates acls for User:<user>, through the plaintext listener
// at brokers (whose anonymous user is a super user).
func GrantACLs(t testing.TB, brokers []string, user string, acls ...ACL) {
	t.Helper()
	entries := make([]kafka.ACLEntry, len(acls))
	for i, a := range acls {
		entries[i] = kafka.ACLEntry{
			ResourceType: a.Resource, ResourceName: a.Name, ResourcePatternType: kafka.PatternTypeLiteral,
			Principal: "User:" + user, Host: "*", Operation: a.Operation, PermissionType: kafka.ACLPermissionTypeAllow,
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	res, err := c.CreateACLs(ctx, &kafka.CreateACLsRequest{ACLs: entries})
	if err != nil {
		t.Fatalf("testrig: create ACLs: %v", err)
	}
	for i, e := range res.Errors {
		if e != nil {
			t.Fatalf("testrig: create ACL %+v: %v", acls[i], e)
		}
	}
}
