package testenv

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// ClickHouseServer is a clickhouse-server of the test's own, on free ports
// in a temporary directory, that the test may stop and start again (an
// outage) without touching the shared server. It is stopped when the test
// ends.
type ClickHouseServer struct {
	Dir        string
	Port       int // native protocol
	HTTPPort   int
	SecurePort int    // native protocol over TLS, when started with TLS
	CAFile     string // the authority that signed the server's certificate (TLS)

	t   testing.TB
	cmd *exec.Cmd
	out *os.File
}

// ServerOptions tune StartClickHouseServer.
type ServerOptions struct {
	// TLS also listens on SecurePort with a certificate for 127.0.0.1 and
	// localhost signed by CAFile.
	TLS bool
	// Ports, when set, are the native, HTTP and interserver ports (a
	// cluster's servers must know each other's ports before they start).
	Ports []int
	// Extra is XML added to the configuration's root element (macros,
	// remote_servers, zookeeper).
	Extra string
	// Users, when set, rewrites Debian's users.xml.
	Users func([]byte) []byte
}

// StartClickHouseServer starts Debian's clickhouse-server (18.16 in CI)
// with a minimal configuration: zstd for merged parts, as .ci's config.
// Without clickhouse-server the test is skipped (fails under CI=true).
func StartClickHouseServer(t testing.TB, opts ServerOptions) *ClickHouseServer {
	t.Helper()
	s := newClickHouseServer(t, opts)
	s.Start()
	return s
}

// newClickHouseServer writes a server's configuration; start starts it.
func newClickHouseServer(t testing.TB, opts ServerOptions) *ClickHouseServer {
	t.Helper()
	bin, err := exec.LookPath("clickhouse-server")
	if err != nil {
		Missing(t, "clickhouse-server is not installed (apt-get install clickhouse-server)")
	}
	users, err := os.ReadFile("/etc/clickhouse-server/users.xml")
	if err != nil {
		Missing(t, "/etc/clickhouse-server/users.xml is missing")
	}
	dir := t.TempDir()
	s := &ClickHouseServer{Dir: dir, t: t}
	ports := freePorts(t, 4)
	if len(opts.Ports) == 3 {
		ports = append(slices.Clone(opts.Ports), ports[3])
	}
	s.Port, s.HTTPPort = ports[0], ports[1]
	tlsConf := ""
	if opts.TLS {
		s.SecurePort = ports[3]
		cert, key := s.writeCertificates()
		tlsConf = fmt.Sprintf(`<tcp_port_secure>%d</tcp_port_secure>
  <openSSL><server><certificateFile>%s</certificateFile><privateKeyFile>%s</privateKeyFile>
    <verificationMode>none</verificationMode><loadDefaultCAFile>false</loadDefaultCAFile>
    <cacheSessions>true</cacheSessions><disableProtocols>sslv2,sslv3</disableProtocols>
    <preferServerCiphers>true</preferServerCiphers></server></openSSL>`, s.SecurePort, cert, key)
	}
	config := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>%[1]s/log/server.log</log><errorlog>%[1]s/log/server.err.log</errorlog><size>100M</size><count>2</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>%[2]d</tcp_port>
  <http_port>%[3]d</http_port>
  <interserver_http_port>%[4]d</interserver_http_port>
  %[5]s
  %[6]s
  <max_connections>200</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <uncompressed_cache_size>0</uncompressed_cache_size>
  <mark_cache_size>268435456</mark_cache_size>
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/tmp/</tmp_path>
  <user_files_path>%[1]s/user_files/</user_files_path>
  <format_schema_path>%[1]s/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <compression><case><min_part_size>0</min_part_size><min_part_size_ratio>0</min_part_size_ratio><method>zstd</method></case></compression>
</yandex>
`, dir, s.Port, s.HTTPPort, ports[2], tlsConf, opts.Extra)
	for _, sub := range []string{"log", "data", "tmp", "user_files", "format_schemas"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if opts.Users != nil {
		users = opts.Users(users)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.xml"), users, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.xml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, "--config-file="+filepath.Join(dir, "config.xml"))
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's DSN, naming no database (tests give their own with
// --clickhouse-database or store.Config.Database).
func (s *ClickHouseServer) URL() string {
	return fmt.Sprintf("clickhouse://127.0.0.1:%d", s.Port)
}

// Start starts the server (again) and waits until it answers.
func (s *ClickHouseServer) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// start starts the server and waits until it answers; it may run on any
// goroutine.
func (s *ClickHouseServer) start() error {
	if s.cmd != nil && s.cmd.Process != nil && s.cmd.ProcessState == nil {
		return nil // running
	}
	out, err := os.OpenFile(filepath.Join(s.Dir, "stdout.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	s.out = out
	s.cmd = exec.Command(s.cmd.Path, s.cmd.Args[1:]...)
	s.cmd.Dir = s.Dir
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		return err
	}
	// A restarted server of a cluster loads and checks its replicated
	// tables before it listens: that takes more than 30 s on a busy
	// 2-core machine.
	deadline := time.Now().Add(120 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/ping", s.HTTPPort))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.Dir, "log", "server.err.log"))
			return fmt.Errorf("clickhouse-server did not start in %s:\n%s", s.Dir, tail(string(log), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 s) and waits for
// it to exit. Stopping a stopped server does nothing.
func (s *ClickHouseServer) Stop() {
	if s.cmd == nil || s.cmd.Process == nil || s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }() //nolint:errcheck
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill() //nolint:errcheck
		<-done
	}
	if s.out != nil {
		s.out.Close()
	}
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var out []int
	var lns []net.Listener
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// writeCertificates writes a CA and a server certificate signed by it, and
// returns the server's certificate and key files.
func (s *ClickHouseServer) writeCertificates() (certFile, keyFile string) {
	s.t.Helper()
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		s.t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "faultline test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		s.t.Fatal(err)
	}
	srvKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		s.t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		s.t.Fatal(err)
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		s.t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(s.Dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			s.t.Fatal(err)
		}
		return p
	}
	s.CAFile = write("ca.crt", "CERTIFICATE", caDER)
	return write("server.crt", "CERTIFICATE", srvDER), write("server.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(srvKey))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
