package main

// The rig's secure endpoints: a SASL_SSL Kafka listener (SCRAM-SHA-512,
// Kafka's StandardAuthorizer, so a SASL user can do only what ACLs let it)
// and a Redis TLS port with an ACL user restricted to what the README's
// "Redis ACL" lists. The CA and the certificates are generated here at
// each start (crypto/x509, ECDSA P-256, valid for a day), the passwords
// too; they are written under <dir>/secure, readable by the owner only.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// The users the rig creates: a SCRAM-SHA-512 Kafka user and a Redis ACL
// user, both named journey.
const (
	secureUser = "journey"
	// redisACLPrefix is the key prefix the Redis ACL user may touch.
	redisACLPrefix = "journey:"
)

// redisACL is the Redis ACL of the restricted user (the README's "Redis
// ACL"): PING, the connection handshake, the delivery script and what it
// calls, the context hash commands; keys under redisACLPrefix only.
const redisACL = "~" + redisACLPrefix + "* resetchannels -@all +ping +hello +auth " +
	"+script|load +evalsha +set +xadd +del +hset +expire +scan +xrange +xdel"

// secure is what the secure endpoints need: files and passwords.
type secure struct {
	dir                         string
	caFile, otherCAFile         string
	certFile, keyFile, keystore string // the servers' certificate, key, and both in one PEM (Kafka's keystore)
	// A client certificate signed by the CA, and one signed by the
	// unrelated CA: the SASL_SSL listener requires a client certificate
	// signed by the CA (mutual TLS); Redis's TLS port checks one
	// presented, and lets in a client without.
	clientCert, clientKey           string
	otherClientCert, otherClientKey string
	kafkaPasswordFile               string
	redisPasswordFile, redisACLs    string
	kafkaPassword, redisPassword    string
}

// newSecure generates a CA, a server certificate for 127.0.0.1 and
// localhost signed by it, an unrelated CA (for "wrong CA" tests), the
// users' passwords and Redis's ACL file, under dir.
func newSecure(dir string) (*secure, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &secure{
		dir: dir, caFile: filepath.Join(dir, "ca.pem"), otherCAFile: filepath.Join(dir, "other-ca.pem"),
		certFile: filepath.Join(dir, "server.pem"), keyFile: filepath.Join(dir, "server-key.pem"),
		keystore: filepath.Join(dir, "kafka-keystore.pem"), kafkaPasswordFile: filepath.Join(dir, "kafka-password"),
		redisPasswordFile: filepath.Join(dir, "redis-password"), redisACLs: filepath.Join(dir, "users.acl"),
		clientCert: filepath.Join(dir, "client.pem"), clientKey: filepath.Join(dir, "client-key.pem"),
		otherClientCert: filepath.Join(dir, "other-client.pem"), otherClientKey: filepath.Join(dir, "other-client-key.pem"),
		kafkaPassword: randomHex(16), redisPassword: randomHex(16),
	}
	caKey, caCert, caDER, err := newCA("journey rig CA")
	if err != nil {
		return nil, err
	}
	otherKey, otherCert, otherDER, err := newCA("journey rig unrelated CA")
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	clientPEM, clientKeyPEM, err := newClientCert(caCert, caKey)
	if err != nil {
		return nil, err
	}
	otherClientPEM, otherClientKeyPEM, err := newClientCert(otherCert, otherKey)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		s.clientCert:        clientPEM,
		s.clientKey:         clientKeyPEM,
		s.otherClientCert:   otherClientPEM,
		s.otherClientKey:    otherClientKeyPEM,
		s.caFile:            caPEM,
		s.otherCAFile:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: otherDER}),
		s.certFile:          certPEM,
		s.keyFile:           keyPEM,
		s.keystore:          append(append([]byte{}, keyPEM...), certPEM...),
		s.kafkaPasswordFile: []byte(s.kafkaPassword + "\n"),
		s.redisPasswordFile: []byte(s.redisPassword + "\n"),
		s.redisACLs: []byte("user default on nopass ~* &* +@all\n" +
			"user " + secureUser + " on #" + sha256Hex(s.redisPassword) + " " + redisACL + "\n"),
	}
	for path, b := range files {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// newClientCert is a client certificate for the user, signed by ca.
func newClientCert(ca *x509.Certificate, caKey *ecdsa.PrivateKey) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: secureUser},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), nil
}

func newCA(name string) (*ecdsa.PrivateKey, *x509.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, der, err
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// kafkaProps is the broker's configuration of the SASL_SSL listener on
// port, and the authorizer: the plaintext and controller listeners'
// ANONYMOUS principal is a super user, so every other test is unaffected.
func (s *secure) kafkaProps() string {
	return strings.Join([]string{
		"sasl.enabled.mechanisms=" + strings.Join(saslMechanisms, ","),
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
		"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
		// PLAIN's users are listed in its JAAS line: the file is the owner's only.
		"listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_" +
			secureUser + `="` + s.kafkaPassword + `";`,
		"listener.name.sasl_ssl.ssl.keystore.type=PEM",
		"listener.name.sasl_ssl.ssl.keystore.location=" + s.keystore,
		"listener.name.sasl_ssl.ssl.client.auth=required",
		"listener.name.sasl_ssl.ssl.truststore.type=PEM",
		"listener.name.sasl_ssl.ssl.truststore.location=" + s.caFile,
		"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users=User:ANONYMOUS",
	}, "\n") + "\n"
}

// saslMechanisms are the SASL_SSL listener's mechanisms, the first the
// one the tests use by default; the user has the same password in each.
var saslMechanisms = []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"}

// scramArgs are kafka-storage format's --add-scram arguments: the user's
// SCRAM-SHA-512 and SCRAM-SHA-256 credentials.
func (s *secure) scramArgs() []string {
	var args []string
	for _, m := range []string{"SCRAM-SHA-512", "SCRAM-SHA-256"} {
		args = append(args, "--add-scram", m+"=[name="+secureUser+",password="+s.kafkaPassword+"]")
	}
	return args
}

// redisArgs are redis-server's arguments for the TLS port and the ACL file.
func (s *secure) redisArgs(tlsPort string) []string {
	return []string{"--tls-port", tlsPort, "--tls-cert-file", s.certFile, "--tls-key-file", s.keyFile,
		"--tls-ca-cert-file", s.caFile, "--tls-auth-clients", "optional", "--aclfile", s.redisACLs}
}

// tlsConfig trusts the rig's CA.
func (s *secure) tlsConfig() (*tls.Config, error) {
	b, err := os.ReadFile(s.caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// kafkaSecureReady succeeds once the SASL_SSL listener at addr completes
// a TLS handshake and a SCRAM exchange as the user, and answers metadata.
func (s *secure) kafkaSecureReady(ctx context.Context, addr string) error {
	tc, err := s.tlsConfig()
	if err != nil {
		return err
	}
	m, err := scram.Mechanism(scram.SHA512, secureUser, s.kafkaPassword)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(s.clientCert, s.clientKey)
	if err != nil {
		return err
	}
	tc.Certificates = []tls.Certificate{cert}
	d := kafka.Dialer{Timeout: 2 * time.Second, TLS: tc, SASLMechanism: m}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	_, err = conn.Brokers()
	return err
}
